"""Reference for workloads/neural-collapse: gradient flow of the perturbed unconstrained-features
model and NC1, in numpy.

Independent of the C code: NC1 uses numpy.linalg.pinv (SVD-based, same relative cutoff 1e-10)
instead of the C code's cyclic Jacobi eigen-decomposition, covariances are formed as centred
matrix products, and the flow is written in matrix form (R = W H - Y, W -= dt (R H^T/N + lw W),
H -= dt (W^T R + lh H + beta (H - H0))). Inputs come from the same splitmix64 stream.

Checks: all printed series to rtol 1e-7 (NC1 spans many decades, atol 1e-13); paper
properties: with beta = 0 the features collapse (NC1 decreases by > 10x over the run, checked
when long enough), and at the end NC1 is ordered by the perturbation strength beta.
"""
from __future__ import annotations

import numpy as np

from _common import floats, normal_stream, parse

D, C, NPC = 16, 4, 16
N = C * NPC
LW, LH, DT, NOISE = 5e-3, 5e-3, 0.1, 0.5
BETAS = (0.0, 0.02, 0.1)
SIZE = 2000
PARITY_SIZE = 40


def problem(seed):
    z = normal_stream(seed * 1000003 + 1, D * C + D * N + C * D)
    means = z[:D * C].reshape(D, C)
    labels = np.repeat(np.arange(C), NPC)
    h0 = means[:, labels] + NOISE * z[D * C:D * C + D * N].reshape(D, N)
    w0 = 0.1 * z[D * C + D * N:].reshape(C, D)
    return h0, w0, labels


def nc1(h, labels):
    mu = np.stack([h[:, labels == c].mean(axis=1) for c in range(C)], axis=1)
    within = h - mu[:, labels]
    sw = within @ within.T / N
    centred = mu - mu.mean(axis=1, keepdims=True)
    sb = centred @ centred.T / C
    return np.trace(sw @ np.linalg.pinv(sb, rcond=1e-10, hermitian=True)) / C, mu, centred


def flow(h0, w0, labels, beta, steps, every):
    y = np.eye(C)[:, labels]
    h, w = h0.copy(), w0.copy()
    nc, losses = [nc1(h, labels)[0]], [0.0]
    for s in range(1, steps + 1):
        r = w @ h - y
        loss = (r ** 2).sum() / (2 * N)
        w, h = w - DT * (r @ h.T / N + LW * w), h - DT * (w.T @ r + LH * h + beta * (h - h0))
        if s % every == 0 and len(nc) < 201:
            nc.append(nc1(h, labels)[0])
            losses.append(loss)
    _, mu, centred = nc1(h, labels)
    nc3 = ((w.T / np.linalg.norm(w) - centred / np.linalg.norm(centred)) ** 2).sum()
    return np.array(nc), np.array(losses), np.linalg.norm(w), np.sqrt((h ** 2).sum() / N), nc3


def check(stdout: str, size: int) -> None:
    out = parse(stdout)
    assert int(out["steps"][0]) == size
    h0, w0, labels = problem(int(out["seed"][0]))
    every = size // 40 if size >= 40 else 1
    assert np.allclose(floats(out, "betas"), BETAS)
    fin = {"final_weight_norm": [], "final_feature_rms": [], "final_nc3": []}
    finals = []
    for b, beta in enumerate(BETAS):
        nc, losses, wn, hr, nc3 = flow(h0, w0, labels, beta, size, every)
        assert len(floats(out, "time")) == len(nc)
        assert np.allclose(floats(out, f"nc1_beta{b}"), nc, rtol=1e-7, atol=1e-13), b
        assert np.allclose(floats(out, f"loss_beta{b}"), losses, rtol=1e-7, atol=1e-14), b
        fin["final_weight_norm"].append(wn)
        fin["final_feature_rms"].append(hr)
        fin["final_nc3"].append(nc3)
        finals.append(nc[-1])
        if beta == 0.0 and size >= 2000:
            assert nc[-1] < nc[0] / 10                       # collapse without perturbation
    for key, vals in fin.items():
        assert np.allclose(floats(out, key), vals, rtol=1e-8), key
    assert finals[0] < finals[1] < finals[2]                 # NC1 grows with the perturbation
