"""Reference for workloads/reward-ensemble: Bradley-Terry ensembles + best-of-n, vectorised.

Independent of the C loops: each member's logistic regression is a batched gradient
X^T (sigmoid(X w) - y) / P on the (P, D) matrix of pair differences; best-of-n scores all
(trial, candidate, member) at once, aggregates (mean / min / mean - var) along the member axis,
and selects with a running argmax (np.maximum.accumulate over candidates + prefix-argmax).
Random inputs come from the same splitmix64 streams (Box-Muller normals).

Checks: weights to 1e-8, accuracies exactly, best-of-n curves to 1e-9; properties: the proxy
score of the single-RM selection is non-decreasing in n (nested maximisation), WCO <= mean
proxy pointwise, and at the default scale the single-RM gold curve is not monotone
(overoptimization) -- checked only when size >= 500 trials.
"""
from __future__ import annotations

import numpy as np

from _common import floats, parse, uniform_stream

D, E, P, NMAX, NLEV = 8, 5, 512, 256, 9
C_QUAD, FLIP, LR, RIDGE, LAMBDA, GD_ITERS = 0.3, 0.2, 0.5, 1e-3, 1.0, 300
SIZE = 40
W_STAR = 1.0 / (np.arange(D) + 1)


def box_muller(u):                                   # u[..., 2] -> normals
    return np.sqrt(-2.0 * np.log1p(-u[..., 0])) * np.cos(2.0 * np.pi * u[..., 1])


def gold(x):
    return x @ W_STAR - C_QUAD * (x * x).sum(axis=-1)


def train(seed):
    ws, accs = [], []
    for e in range(E):
        u = uniform_stream(seed * 1000003 + e, P * (4 * D + 1)).reshape(P, 4 * D + 1)
        ab = box_muller(u[:, :4 * D].reshape(P, 2 * D, 2))
        a, b = ab[:, :D], ab[:, D:]
        clean = gold(a) > gold(b)
        y = np.where(u[:, 4 * D] < FLIP, ~clean, clean).astype(float)
        x = a - b
        w = np.zeros(D)
        for _ in range(GD_ITERS):
            w = w - LR * (x.T @ (1.0 / (1.0 + np.exp(-(x @ w))) - y) / P + RIDGE * w)
        ws.append(w)
        accs.append(np.mean((x @ w > 0) == clean))
    return np.array(ws), np.array(accs)


def best_of_n(ws, seed, trials):
    u = uniform_stream(seed * 1000003 + 999, trials * NMAX * D * 2)
    cand = box_muller(u.reshape(trials, NMAX, D, 2))
    r = cand @ ws.T                                          # (trials, NMAX, E)
    scores = np.stack([r[..., 0], r.mean(-1), r.min(-1), r.mean(-1) - LAMBDA * r.var(-1)])
    g = gold(cand)                                           # (trials, NMAX)
    levels = 2 ** np.arange(NLEV)
    out = np.zeros((4, NLEV))
    proxy = np.zeros(NLEV)
    for a in range(4):
        for li, n in enumerate(levels):
            pick = scores[a][:, :n].argmax(axis=1)
            out[a, li] = g[np.arange(trials), pick].mean()
            if a == 0:
                proxy[li] = scores[0][np.arange(trials), pick].mean()
    return out, proxy, scores


def check(stdout: str, size: int) -> None:
    out = parse(stdout)
    assert int(out["trials"][0]) == size
    seed = int(out["seed"][0])
    ws, accs = train(seed)
    for e in range(E):
        assert np.allclose(floats(out, f"rm_weights_{e}"), ws[e], rtol=1e-8, atol=1e-11), e
    assert np.allclose(floats(out, "rm_clean_accuracy"), accs, atol=1e-12)
    assert np.all(accs > 0.6)                    # the proxies learned the gold direction
    gold_curves, proxy, scores = best_of_n(ws, seed, size)
    for a, name in enumerate(("single", "mean", "wco", "uwo")):
        assert np.allclose(floats(out, f"gold_{name}"), gold_curves[a], rtol=1e-9, atol=1e-11), name
    p = floats(out, "proxy_single")
    assert np.allclose(p, proxy, rtol=1e-9, atol=1e-11)
    assert np.all(np.diff(p) >= -1e-12)          # nested best-of-n is monotone in the proxy
    assert np.all(scores[2] <= scores[1] + 1e-12)
    if size >= 500:                              # overoptimization: gold peaks before n = 256
        gs = floats(out, "gold_single")
        assert gs.argmax() < NLEV - 1
