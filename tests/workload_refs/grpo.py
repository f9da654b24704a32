"""Reference for workloads/grpo: GRPO-lambda on the synthetic reasoning task, vectorised.

The run is deterministic given the splitmix64 stream; the reference draws the whole stream for
an iteration at once (B prompts x (1 difficulty + G x (type, correctness)) uniforms) and does
everything batched: categorical draws by comparing uniforms with the softmax CDFs, group
statistics along the group axis, the correctness-ratio switch as a mask, and the clipped
surrogate gradient with einsum. Reproduction is exact up to rounding (rtol 1e-8).

Paper properties checked: the penalty is active exactly in the groups whose correctness ratio
is >= 0.5; group-relative advantages have zero mean and unit std (or are all ~0) per group.
"""
from __future__ import annotations

import numpy as np

from _common import floats, parse, uniform_stream

K, B, G, EPOCHS = 16, 32, 16, 2
LSW, ALPHA, CLIP, LR = 0.5, 0.5, 0.2, 0.5
SIZE = 5
LENGTH = 64.0 * (np.arange(K) + 1)


def policy(theta, beta, d):
    logits = theta[None, :] + beta[None, :] * d[:, None] / K
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def advantages(types, correct):
    """types, correct: (n, G). Returns rewards, advantages, penalty mask (n,)."""
    ln = LENGTH[types]
    lmin, lmax = ln.min(axis=1, keepdims=True), ln.max(axis=1, keepdims=True)
    pen = correct.mean(axis=1) >= LSW
    span = np.where(lmax > lmin, lmax - lmin, 1.0)
    shaped = correct * (1.0 - ALPHA * (ln - lmin) / span)
    r = np.where((pen[:, None]) & (lmax > lmin), shaped, correct.astype(float))
    a = (r - r.mean(axis=1, keepdims=True)) / (r.std(axis=1, keepdims=True) + 1e-6)
    return r, a, pen


def train(seed, iters):
    theta, beta = np.zeros(K), np.zeros(K)
    per = B * (1 + 2 * G)
    hist = {"accuracy": [], "mean_length": [], "penalty_active": []}
    for it in range(iters):
        u = uniform_stream(seed, per, start=it * per).reshape(B, 1 + 2 * G)
        d = u[:, 0] * K
        pold = policy(theta, beta, d)
        cdf = np.cumsum(pold, axis=1)
        types = np.minimum((u[:, 1::2, None] >= cdf[:, None, :]).sum(axis=2), K - 1)
        pc = 1.0 / (1.0 + np.exp(-2.0 * (types - d[:, None])))
        correct = (u[:, 2::2] < pc).astype(float)
        r, a, pen = advantages(types, correct)
        assert np.all(np.abs(a.mean(axis=1)) < 1e-9)
        hist["accuracy"].append(correct.mean())
        hist["mean_length"].append(LENGTH[types].mean())
        hist["penalty_active"].append(pen.mean())
        onehot = np.eye(K)[types]                                  # (B, G, K)
        for _ in range(EPOCHS):
            p = policy(theta, beta, d)
            ratio = np.take_along_axis(p, types, axis=1) / np.take_along_axis(pold, types, axis=1)
            active = np.where(a >= 0, ratio < 1 + CLIP, ratio > 1 - CLIP)
            w = np.where(active, a * ratio, 0.0)
            grad = np.einsum("bg,bgk->bk", w, onehot - p[:, None, :])
            theta = theta + LR * grad.sum(axis=0) / (B * G)
            beta = beta + LR * (grad * (d / K)[:, None]).sum(axis=0) / (B * G)
    return hist, theta, beta


def check(stdout: str, size: int) -> None:
    out = parse(stdout)
    assert int(out["iterations"][0]) == size
    hist, theta, beta = train(int(out["seed"][0]), size)
    for key, vals in hist.items():
        assert np.allclose(floats(out, key), vals, rtol=1e-12), key
    assert np.allclose(floats(out, "theta"), theta, rtol=1e-8, atol=1e-12)
    assert np.allclose(floats(out, "beta"), beta, rtol=1e-8, atol=1e-12)
    d = floats(out, "eval_difficulty")
    p = policy(theta, beta, d)
    acc = (p / (1.0 + np.exp(-2.0 * (np.arange(K)[None, :] - d[:, None])))).sum(axis=1)
    assert np.allclose(floats(out, "eval_accuracy"), acc, rtol=1e-8)
    assert np.allclose(floats(out, "eval_length"), p @ LENGTH, rtol=1e-8)
    # group advantages on a hand-made group: all-correct group with the penalty switched on
    r, a, pen = advantages(np.array([[0, 3] * 8]), np.ones((1, G)))
    assert pen[0] and np.isclose(r.min(), 0.5) and np.isclose(a.std(), 1.0, atol=1e-5)
