"""Reference for workloads/ppo-gae: PPO + truncated GAE + dual critics, re-run in numpy.

The training loop is deterministic given the splitmix64 stream, so it is reproduced exactly
(for the small SIZE; action draws compare a uniform with the softmax CDF, and a flip would need
a uniform within ~1e-15 of a boundary). The computation is written independently:
* GAE as a linear map: per truncated segment A = M delta with the upper-triangular Toeplitz
  matrix M[t, k] = (gamma lambda)^(k - t), all segments at once (reshape to (T/H, H));
* the clipped-surrogate gradient in closed form, vectorised over the batch:
  grad = mean_t 1[unclipped] A_t r_t phi_t (e_{a_t} - pi_t)^T, via einsum;
* critics by batched least-squares gradient steps (X^T (X w - y) / T).
Checks: every printed quantity to rtol 1e-8, plus invariants (softmax sums to 1, entropy in
[0, log NA], clip fraction in [0, 1]). (Training does improve the mean reward, from about
-4.4 to -1.7 over the default 300 iterations, but that is not asserted at the tiny SIZE.)
"""
from __future__ import annotations

import numpy as np

from _common import SplitMix64, floats, ints, parse

NA, NF, T, H, EPOCHS = 6, 4, 512, 32, 8
QSTEP, DMAX, IMIN, IMAX = 4, 12, -30, 40
RS, SETUP, HOLD, BACK = 0.1, 8.0, 1.0, 4.0
GAMMA, LAMBDA, CLIP, LR_PI, LR_V = 0.95, 0.9, 0.2, 0.1, 0.2
SIZE = 5


def phi(inv):
    z = np.asarray(inv, dtype=np.float64) / 40.0
    return np.stack([np.ones_like(z), z, z * z, np.tanh(z)], axis=-1)


def softmax(logits):
    m = logits.max(axis=-1, keepdims=True)
    e = np.exp(logits - m)
    return e / e.sum(axis=-1, keepdims=True)


def gae_matrix(delta):
    k = np.arange(H)
    m = np.where(k[None, :] >= k[:, None], (GAMMA * LAMBDA) ** (k[None, :] - k[:, None]), 0.0)
    return (delta.reshape(-1, H) @ m.T).reshape(-1)


def train(seed, iters):
    rng = SplitMix64(seed)
    theta, wv, wx = np.zeros((NA, NF)), np.zeros(NF), np.zeros(NF)
    inv = 0
    hist = {"mean_reward": [], "clip_fraction": [], "entropy": []}
    for _ in range(iters):
        invs, acts, pre, cdec, hpost, probs = [], [], [], [], [], []
        for _t in range(T):
            p = softmax(theta @ phi(inv))
            a = min(int(np.searchsorted(np.cumsum(p), rng.uniform(), side="right")), NA - 1)
            d = int(rng.uniform() * (DMAX + 1))
            ni = int(np.clip(inv + QSTEP * a - d, IMIN, IMAX))
            invs.append(inv); acts.append(a); pre.append(inv + QSTEP * a); probs.append(p)
            cdec.append(-RS * SETUP if a > 0 else 0.0)
            hpost.append(-RS * (HOLD * max(ni, 0) + BACK * max(-ni, 0)))
            inv = ni
        acts, cdec, hpost = np.array(acts), np.array(cdec), np.array(hpost)
        X = phi(np.array(invs + [inv]))           # (T+1, NF) pre-decision features
        Xp = phi(np.array(pre))                   # (T, NF) post-decision features
        pold = np.array(probs)
        rew = cdec + hpost
        hist["mean_reward"].append(rew.mean())
        v = X @ wv
        w = Xp @ wx
        a_gae = gae_matrix(rew + GAMMA * v[1:] - v[:-1])
        ret, y = a_gae + v[:-1], hpost + GAMMA * v[1:]
        adv = 0.5 * (a_gae + cdec + w - v[:-1])
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        onehot = np.eye(NA)[acts]
        for _e in range(EPOCHS):
            p = softmax(X[:-1] @ theta.T)
            ent = -(p * np.log(p)).sum(axis=1).mean()
            ratio = p[np.arange(T), acts] / pold[np.arange(T), acts]
            active = np.where(adv >= 0, ratio < 1 + CLIP, ratio > 1 - CLIP)
            coef = np.where(active, adv * ratio, 0.0)
            g_theta = np.einsum("t,ta,tk->ak", coef, onehot - p, X[:-1]) / T
            g_v = X[:-1].T @ (X[:-1] @ wv - ret) / T
            g_x = Xp.T @ (Xp @ wx - y) / T
            theta = theta + LR_PI * g_theta
            wv, wx = wv - LR_V * g_v, wx - LR_V * g_x
        hist["clip_fraction"].append(1.0 - active.mean())
        hist["entropy"].append(ent)
    return hist, theta, wv, wx, inv


def check(stdout: str, size: int) -> None:
    out = parse(stdout)
    assert int(out["iterations"][0]) == size
    hist, theta, wv, wx, inv = train(int(out["seed"][0]), size)
    for key, vals in hist.items():
        assert np.allclose(floats(out, key), vals, rtol=1e-8, atol=1e-10), key
    assert np.allclose(floats(out, "theta"), theta.ravel(), rtol=1e-8, atol=1e-10)
    assert np.allclose(floats(out, "critic_pre"), wv, rtol=1e-8, atol=1e-10)
    assert np.allclose(floats(out, "critic_post"), wx, rtol=1e-8, atol=1e-10)
    p0 = floats(out, "policy_at_zero_inventory")
    assert np.allclose(p0, softmax(theta @ phi(0)), rtol=1e-8) and abs(p0.sum() - 1) < 1e-9
    assert ints(out, "final_inventory")[0] == inv
    ent, clip = floats(out, "entropy"), floats(out, "clip_fraction")
    assert np.all((ent >= 0) & (ent <= np.log(NA) + 1e-12)) and np.all((clip >= 0) & (clip <= 1))
