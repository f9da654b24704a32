"""Reference for workloads/trajectory-diffuser: batched DDPM refinement in numpy.

Independent of the C code: the prior's noise-prediction matrix is computed as
A_t = sqrt(1 - abar_t) (abar_t Sigma + (1 - abar_t) I)^-1 with Sigma = SIGB^2 [min(i,j) - ij/H]
built explicitly and inverted with numpy.linalg (the C code uses the analytic sine
eigenbasis of the Brownian bridge), and all problems are processed at once as a batch (the C
code plans them one by one). The random stream is the same splitmix64 stream.

Checks: aggregates and the first trajectory to rtol 1e-8; properties: A_t is symmetric positive
definite, and cost guidance + diffusion lowers the mean obstacle cost and raises the
collision-free fraction relative to the autoregressive proposals (the paper's point: diffusion
refinement improves AR plans).
"""
from __future__ import annotations

import numpy as np

from _common import floats, parse, uniform_stream

H, T, KSTART, HID = 16, 50, 30, 32
NI = H - 1
DIM = 2 * NI
SIGB, AR_NOISE, OX, OY, RAD, GUIDE = 0.1, 0.03, 0.5, 0.5, 0.15, 1.0
BETA_MIN, BETA_MAX, MLP_SCALE = 1e-4, 0.05, 0.1
SIZE = 60
PARITY_SIZE = 5
PER = 4 + 2 * (2 * NI + DIM + (KSTART - 1) * DIM)


def bm(u):
    return np.sqrt(-2.0 * np.log1p(-u[..., 0])) * np.cos(2.0 * np.pi * u[..., 1])


def schedule():
    beta = np.concatenate([[0.0], np.linspace(BETA_MIN, BETA_MAX, T)])
    alpha = 1.0 - beta
    abar = np.concatenate([[1.0], np.cumprod(alpha[1:])])
    i = np.arange(1, H)
    sigma = SIGB ** 2 * (np.minimum.outer(i, i) - np.outer(i, i) / H)
    a = np.zeros((T + 1, NI, NI))
    for t in range(1, T + 1):
        a[t] = np.sqrt(1 - abar[t]) * np.linalg.inv(abar[t] * sigma + (1 - abar[t]) * np.eye(NI))
    return beta, alpha, abar, a


def mlp_weights():
    z = bm(uniform_stream(12345, 2 * (HID * (DIM + 1) + DIM * HID)).reshape(-1, 2))
    w1 = z[:HID * (DIM + 1)].reshape(HID, DIM + 1) * 3.0 / np.sqrt(DIM + 1.0)
    w2 = z[HID * (DIM + 1):].reshape(DIM, HID) * MLP_SCALE / np.sqrt(HID)
    return w1, w2


def points(x, s, g):            # x: (n, DIM) deviations -> (n, NI, 2) waypoints
    f = np.arange(1, H) / H
    line = s[:, None, :] + (g - s)[:, None, :] * f[None, :, None]
    return line + np.stack([x[:, :NI], x[:, NI:]], axis=-1)


def cost_grad(x, s, g):
    d = points(x, s, g) - np.array([OX, OY])
    e = np.exp(-(d ** 2).sum(-1) / (2 * RAD ** 2))
    grad = -e[..., None] * d / RAD ** 2
    return e.sum(-1), np.concatenate([grad[..., 0], grad[..., 1]], axis=1)


def metrics(x, s, g):
    c, _ = cost_grad(x, s, g)
    pad = np.zeros((len(x), 2, H + 1))
    pad[:, 0, 1:H], pad[:, 1, 1:H] = x[:, :NI], x[:, NI:]
    smooth = (np.diff(pad, 2, axis=2) ** 2).sum(axis=(1, 2))
    clear = (np.sqrt(((points(x, s, g) - np.array([OX, OY])) ** 2).sum(-1)) - RAD).min(axis=1)
    return c, smooth, clear


def run(seed, n):
    beta, alpha, abar, a = schedule()
    w1, w2 = mlp_weights()
    u = uniform_stream(seed * 1000003 + 1, n * PER).reshape(n, PER)
    s = np.stack([0.2 * u[:, 0], 0.2 * u[:, 1]], axis=1)
    g = np.stack([0.8 + 0.2 * u[:, 2], 0.8 + 0.2 * u[:, 3]], axis=1)
    noise = bm(u[:, 4:].reshape(n, -1, 2))
    ar, fwd, rev = noise[:, :2 * NI], noise[:, 2 * NI:2 * NI + DIM], noise[:, 2 * NI + DIM:]
    p = s.copy()
    x0 = np.zeros((n, DIM))
    for i in range(1, H):
        p = p + (g - p) / (H - i + 1) + AR_NOISE * ar[:, 2 * (i - 1):2 * i]
        dev = p - (s + (g - s) * i / H)
        x0[:, i - 1], x0[:, NI + i - 1] = dev[:, 0], dev[:, 1]
    x = np.sqrt(abar[KSTART]) * x0 + np.sqrt(1 - abar[KSTART]) * fwd
    for k, t in enumerate(range(KSTART, 0, -1)):
        hid = np.tanh(x @ w1[:, :DIM].T + w1[:, DIM] * (t / T))
        eps = np.concatenate([x[:, :NI] @ a[t].T, x[:, NI:] @ a[t].T], axis=1) + hid @ w2.T
        _, grad = cost_grad(x, s, g)
        x = (x - beta[t] / np.sqrt(1 - abar[t]) * eps) / np.sqrt(alpha[t]) - GUIDE * beta[t] * grad
        if t > 1:
            x = x + np.sqrt(beta[t]) * rev[:, k * DIM:(k + 1) * DIM]
    return abar, a, x0, x, s, g


def check(stdout: str, size: int) -> None:
    out = parse(stdout)
    assert int(out["problems"][0]) == size
    abar, a, x0, x, s, g = run(int(out["seed"][0]), size)
    assert np.isclose(floats(out, "alpha_bar_start")[0], abar[KSTART], rtol=1e-10)
    for t in (1, KSTART, T):
        assert np.allclose(a[t], a[t].T, atol=1e-12) and np.all(np.linalg.eigvalsh(a[t]) > 0)
    m0, m1 = metrics(x0, s, g), metrics(x, s, g)
    assert np.allclose(floats(out, "mean_cost"), [m0[0].mean(), m1[0].mean()], rtol=1e-8)
    assert np.allclose(floats(out, "mean_smoothness"), [m0[1].mean(), m1[1].mean()], rtol=1e-8)
    assert np.allclose(floats(out, "mean_clearance"), [m0[2].mean(), m1[2].mean()], rtol=1e-8, atol=1e-12)
    assert np.allclose(floats(out, "collision_free"), [(m0[2] > 0).mean(), (m1[2] > 0).mean()], atol=1e-12)
    assert np.allclose(floats(out, "first_proposal"), x0[0], rtol=1e-8, atol=1e-12)
    assert np.allclose(floats(out, "first_refined"), x[0], rtol=1e-8, atol=1e-12)
    if size >= 20:   # refinement improves the AR plans
        assert m1[0].mean() < m0[0].mean() and (m1[2] > 0).mean() > (m0[2] > 0).mean()
