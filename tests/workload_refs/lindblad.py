"""Reference for workloads/lindblad: exact propagation of the Lindblad master equation.

Independent of the C code's RK4 loop: the Liouvillian is assembled as a d^2 x d^2
superoperator from Kronecker products (row-major vec: vec(A rho B) = (A kron B^T) vec rho),
augmented with the yield rates dY_k/dt = 2 Gamma_k rho_kk, and propagated to t_final with one
matrix exponential. The disorder draws use the same splitmix64 stream.

Checks
* site energies, and every yield / residual vs the exact solution (|diff| < 1e-7: RK4 at
  dt = 0.02 is accurate to ~1e-9 here);
* the paper's population balance eta + L_cavity + L_donors + Tr rho(t) = 1 (to 1e-12, from
  the printed numbers) and, from the exact steady-state solve -B L^-1 rho0, that the
  infinite-time yields sum to exactly 1 (eta_inf + sum_k L_k,inf = 1);
* the infinite-time efficiency bounds the finite-time one.
"""
from __future__ import annotations

import numpy as np

from _common import expm, floats, parse, uniform_stream

N = 8
D = N + 2
J_RING, G_PHOTON, G_ACC, E_ACC, W_DIS = -0.6, 0.15, 0.20, -1.2, 0.4
GAM_TRAP, GAM_CAV, GAM_REC, GPHI = 0.5, 0.05, 0.01, 0.1
SIZE = 3
PARITY_SIZE = 1
KERNEL_ARGS = {"kernel_transfer": (0.5, 40), "kernel_rk4_steps": (40,)}


def model(eps, detuning, gphi):
    h = np.zeros((D, D))
    ring = np.arange(1, N + 1)
    h[ring, ring] = eps
    h[ring, np.roll(ring, -1)] = J_RING
    h = h + np.triu(h, 1).T + np.tril(h, -1).T        # symmetrise the ring couplings
    h[0, ring] = h[ring, 0] = G_PHOTON
    h[D - 1, ring] = h[ring, D - 1] = G_ACC
    h[0, 0], h[D - 1, D - 1] = detuning, E_ACC
    gam = np.array([GAM_CAV] + [GAM_REC] * N + [GAM_TRAP])
    heff = h - 1j * np.diag(gam)
    eye = np.eye(D)
    liou = -1j * np.kron(heff, eye) + 1j * np.kron(eye, heff.conj())
    for k in range(1, D):                               # pure dephasing of donors + acceptor
        p = np.zeros((D, D)); p[k, k] = 1.0
        liou += gphi * (np.kron(p, p) - 0.5 * np.kron(p, eye) - 0.5 * np.kron(eye, p))
    yields = np.zeros((D, D * D))                       # dY_k/dt = 2 gam_k rho_kk
    yields[np.arange(D), np.arange(D) * (D + 1)] = 2.0 * gam
    return liou, yields


def exact(eps, detuning, gphi, t):
    liou, yields = model(eps, detuning, gphi)
    m = np.zeros((D * D + D, D * D + D), dtype=complex)
    m[:D * D, :D * D] = liou
    m[D * D:, :D * D] = yields
    x0 = np.zeros(D * D + D, dtype=complex); x0[0] = 1.0       # rho0 = |photon><photon|
    x = expm(m * t) @ x0
    rho = x[:D * D].reshape(D, D)
    y = x[D * D:].real
    y_inf = (-yields @ np.linalg.solve(liou, x0[:D * D])).real
    return rho, y, y_inf


def check(stdout: str, size: int) -> None:
    out = parse(stdout)
    seed = int(out["seed"][0])
    t_final = floats(out, "t_final")[0]
    assert int(out["n_donors"][0]) == N
    eps = W_DIS * (uniform_stream(seed, N) - 0.5)
    assert np.allclose(floats(out, "site_energies"), eps, rtol=0, atol=1e-10)
    det = floats(out, "detuning")
    assert len(det) == size
    assert np.allclose(det, np.linspace(-3, 3, size) if size > 1 else [0.0], atol=1e-9)
    assert np.allclose(floats(out, "dephasing"), [0.0, GPHI])
    for tag, gphi in (("coherent", 0.0), ("dephased", GPHI)):
        eta, lcav = floats(out, f"eta_{tag}"), floats(out, f"loss_cavity_{tag}")
        ldon, res = floats(out, f"loss_donors_{tag}"), floats(out, f"residual_{tag}")
        # population balance of the paper, from the printed numbers
        assert np.all(np.abs(eta + lcav + ldon + res - 1.0) < 1e-9), tag
        assert np.all((eta > 0) & (eta < 1) & (res >= 0))
        for i, d in enumerate(det):
            rho, y, y_inf = exact(eps, d, gphi, t_final)
            assert np.allclose(rho, rho.conj().T, atol=1e-12)          # stays Hermitian
            assert abs(eta[i] - y[-1]) < 1e-7, (tag, d, eta[i], y[-1])
            assert abs(lcav[i] - y[0]) < 1e-7, (tag, d)
            assert abs(ldon[i] - y[1:-1].sum()) < 1e-7, (tag, d)
            assert abs(res[i] - np.trace(rho).real) < 1e-7, (tag, d)
            assert abs(y_inf.sum() - 1.0) < 1e-9                       # eta + sum L_k = 1
            assert y_inf[-1] >= eta[i] - 1e-9
    assert float(out["balance_error"][0]) < 1e-9
    best = floats(out, "best_eta")
    assert np.isclose(best[0], floats(out, "eta_coherent").max())
    assert np.isclose(best[1], floats(out, "eta_dephased").max())
