"""Reference for workloads/pomdp-fish: fisheries POMDP, vectorised.

Independent of the C loops: transition/observation tensors are built with broadcasting, MDP
value iteration is a batched max over an (action, state) Q-table, and each PBVI backup is done
for all actions, observations, alpha vectors and belief points at once with einsum
(g_{a,o}^m = (T_a * O[:,o]) alpha_m; argmax over m per (a,o,point)). The simulation re-runs
both policies from the same splitmix64 streams (categorical draws by searchsorted on the
cumulative distribution) and must reproduce the printed catches exactly.

Checks: values/policies to 1e-9, simulated catches exactly (ints) / 1e-9, and the properties
that full observability bounds the POMDP value (V_pbvi(b) <= b . V_mdp: measurement uncertainty
can only lose value) and that PBVI values are monotone in the number of backups (lower bound
iteration from alpha = 0 with non-negative rewards).
"""
from __future__ import annotations

import numpy as np

from _common import SplitMix64, floats, ints, parse

NS, NA, NB, NREP, NYEARS = 30, 10, 32, 8, 25
R_GROW, QMAX, SG, SO, GAMMA = 1.0, 0.45, 0.08, 0.15, 0.95
SIZE = 5
KERNEL_ARGS = {"kernel_simulate": (8,), "kernel_pbvi": (2,)}


def model():
    x = np.linspace(0.0, 1.0, NS)
    q = QMAX * np.arange(NA) / (NA - 1)
    catch = np.minimum(q[:, None], x[None, :])                    # (a, i)
    s = x[None, :] - catch
    f = s + R_GROW * s * (1 - s)
    t = np.exp(-(x[None, None, :] - f[:, :, None]) ** 2 / (2 * SG ** 2))
    t /= t.sum(axis=2, keepdims=True)                              # (a, i, j)
    o = np.exp(-(x[None, :] - x[:, None]) ** 2 / (2 * SO ** 2))
    o /= o.sum(axis=1, keepdims=True)                              # (i, o)
    mu = np.tile(np.arange(16) / 15.0, 2)
    w = np.repeat([0.05, 0.2], 16)
    b = np.exp(-(x[None, :] - mu[:, None]) ** 2 / (2 * w[:, None] ** 2))
    b /= b.sum(axis=1, keepdims=True)                              # (k, i)
    return x, q, catch, t, o, b


def mdp(catch, t, sweeps=200):
    v = np.zeros(NS)
    for _ in range(sweeps):
        qtab = catch + GAMMA * t @ v                               # (a, i)
        v, pol = qtab.max(axis=0), qtab.argmax(axis=0)
    return v, pol


def pbvi(catch, t, o, b, iters):
    to = t[:, None, :, :] * o.T[None, :, None, :]                  # (a, o, i, j)
    alpha = np.zeros((1, NS))
    history = []
    for _ in range(iters):
        g = np.einsum("aoij,mj->aomi", to, alpha)
        score = np.einsum("ki,aomi->aokm", b, g)
        best = score.argmax(axis=3)                                # (a, o, k)
        a_idx, o_idx = np.meshgrid(np.arange(NA), np.arange(NS), indexing="ij")
        chosen = g[a_idx[:, :, None], o_idx[:, :, None], best]     # (a, o, k, i)
        cand = catch[:, None, :] + GAMMA * chosen.sum(axis=1)      # (a, k, i)
        val = np.einsum("ki,aki->ak", b, cand)
        act = val.argmax(axis=0)
        alpha = cand[act, np.arange(NB)]
        history.append(val.max(axis=0))
    return alpha, act, history


def simulate(policy, stream, catch, t, o, alpha, act, pol):
    rng = SplitMix64(stream)

    def draw(p):
        return min(int(np.searchsorted(np.cumsum(p), rng.uniform(), side="right")), len(p) - 1)

    x, pred = NS // 2, np.full(NS, 1.0 / NS)
    tot = disc = 0.0
    for y in range(NYEARS):
        obs = draw(o[x])
        if policy == 0:
            belief = o[:, obs] * pred
            belief /= belief.sum()
            a = act[int(np.argmax(alpha @ belief))]
        else:
            a = pol[obs]
        tot += catch[a, x]
        disc += GAMMA ** y * catch[a, x]
        if policy == 0:
            pred = belief @ t[a]
        x = draw(t[a, x])
    return tot, disc, x


def check(stdout: str, size: int) -> None:
    out = parse(stdout)
    assert int(out["pbvi_iterations"][0]) == size
    seed = int(out["seed"][0])
    x, q, catch, t, o, b = model()
    assert np.allclose(floats(out, "quotas"), q, atol=1e-12)
    v, pol = mdp(catch, t)
    assert np.allclose(floats(out, "mdp_value"), v, rtol=1e-9)
    assert np.array_equal(ints(out, "mdp_policy"), pol)
    alpha, act, hist = pbvi(catch, t, o, b, size)
    vpb = (b @ alpha.T).max(axis=1)
    assert np.allclose(floats(out, "pbvi_value"), vpb, rtol=1e-9)
    assert np.allclose(hist[-1], vpb, rtol=1e-12)
    assert np.array_equal(ints(out, "pbvi_action"), act)
    assert np.allclose(floats(out, "mdp_value_at_beliefs"), b @ v, rtol=1e-9)
    # properties: value of perfect information >= 0; PBVI lower-bound iteration is monotone
    assert np.all(vpb <= b @ v + 1e-12)
    for h0, h1 in zip(hist, hist[1:]):
        assert np.all(h1 >= h0 - 1e-12)
    for p, tag in ((0, "pomdp"), (1, "ce")):
        sims = [simulate(p, seed * 1000003 + r, catch, t, o, alpha, act, pol) for r in range(NREP)]
        assert np.allclose(floats(out, f"catch_{tag}"), [s[0] for s in sims], atol=1e-9), tag
        assert np.allclose(floats(out, f"discounted_{tag}"), [s[1] for s in sims], atol=1e-9), tag
        assert np.array_equal(ints(out, f"final_state_{tag}"), [s[2] for s in sims]), tag
    mean = floats(out, "mean_catch")
    assert np.allclose(mean, [floats(out, "catch_pomdp").mean(), floats(out, "catch_ce").mean()])
