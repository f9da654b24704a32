"""Reference for workloads/bapo: BAPO adaptive clipping vs fixed clipping, batched numpy.

The run is deterministic given the splitmix64 stream (V uniforms for the token success
probabilities, then per step N (token, reward) uniform pairs; the fixed-clip run re-uses the
same stream). The reference draws the stream at once and does each step batched: categorical
draws by comparing uniforms with the behaviour policy's CDF, clipped terms with np.clip, the
positive share with masked sums, the gradient of the clipped surrogate with bincount
(grad_v = sum_i w_i (1[a_i = v] - pi_v)). The bound search is the paper's loop. Exact
reproduction at the small SIZE (rtol 1e-8).

Properties checked: BAPO's bounds are the smallest step on the (lo, hi) ladder whose positive
share reaches rho0 (or the ladder's end), the fixed run keeps (0.8, 1.2), entropy is within
[0, log V].
"""
from __future__ import annotations

import numpy as np

from _common import floats, parse, uniform_stream

V, N, STALE = 32, 256, 4
LO0, HI0, LO_MAX, HI_MAX, D_LO, D_HI = 0.6, 1.2, 0.9, 3.0, 0.05, 0.1
RHO0, LR, BASELINE = 0.4, 10.0, 0.5
SIZE = 20


def softmax(t):
    e = np.exp(t - t.max())
    return e / e.sum()


def terms(ratio, adv, lo, hi):
    return np.minimum(ratio * adv, np.clip(ratio, lo, hi) * adv)


def share(ratio, adv, lo, hi):
    t = np.abs(terms(ratio, adv, lo, hi))
    return t[adv > 0].sum() / t.sum() if t.sum() > 0 else 1.0


def bounds(ratio, adv):
    lo, hi = LO0, HI0
    rho = share(ratio, adv, lo, hi)
    while rho < RHO0 and lo + D_LO <= LO_MAX + 1e-12 and hi + D_HI <= HI_MAX + 1e-12:
        lo, hi = lo + D_LO, hi + D_HI
        rho = share(ratio, adv, lo, hi)
    return lo, hi, rho


def run(seed, steps, adaptive):
    u = uniform_stream(seed, V + 2 * N * steps)
    p_ok = u[:V] ** 3
    draws = u[V:].reshape(steps, N, 2)
    theta = np.zeros(V)
    starts = [theta]                             # starts[j] = theta at the start of step j
    hist = {k: [] for k in ("entropy", "expected_reward", "positive_share", "lo", "hi")}
    for k in range(steps):
        mu = softmax(starts[max(k - STALE, 0)])    # behaviour policy: STALE steps old
        pi = softmax(theta)
        tok = np.minimum((draws[k, :, 0, None] >= np.cumsum(mu)[None, :]).sum(axis=1), V - 1)
        adv = (draws[k, :, 1] < p_ok[tok]).astype(float) - BASELINE
        ratio = pi[tok] / mu[tok]
        lo, hi, rho = bounds(ratio, adv) if adaptive else (0.8, 1.2, share(ratio, adv, 0.8, 1.2))
        active = np.where(adv >= 0, ratio < hi, ratio > lo)
        w = np.where(active, adv * ratio, 0.0)
        grad = np.bincount(tok, weights=w, minlength=V) - w.sum() * pi
        theta = theta + LR * grad / N
        starts.append(theta)
        pi = softmax(theta)
        for key, val in (("entropy", -(pi * np.log(pi)).sum()), ("expected_reward", pi @ p_ok),
                         ("positive_share", rho), ("lo", lo), ("hi", hi)):
            hist[key].append(val)
    return p_ok, theta, {k: np.array(v) for k, v in hist.items()}


def check(stdout: str, size: int) -> None:
    out = parse(stdout)
    assert int(out["steps"][0]) == size
    seed = int(out["seed"][0])
    idx = floats(out, "report_step").astype(int) - 1
    stride = size // 100 if size > 100 else 1
    assert np.array_equal(idx, np.arange(stride - 1, size, stride)[:101])
    for tag, adaptive in (("bapo", True), ("clip", False)):
        p_ok, theta, hist = run(seed, size, adaptive)
        assert np.allclose(floats(out, "reward"), p_ok, rtol=1e-9)
        assert np.allclose(floats(out, f"theta_{tag}"), theta, rtol=1e-8, atol=1e-10), tag
        for key in ("entropy", "expected_reward", "positive_share"):
            assert np.allclose(floats(out, f"{key}_{tag}"), hist[key][idx], rtol=1e-8, atol=1e-12), (tag, key)
        assert np.all((hist["entropy"] >= 0) & (hist["entropy"] <= np.log(V) + 1e-12))
        if adaptive:
            assert np.allclose(floats(out, "clip_low_bapo"), hist["lo"][idx], atol=1e-12)
            assert np.allclose(floats(out, "clip_high_bapo"), hist["hi"][idx], atol=1e-12)
            # ladder property: every chosen bound pair is on the ladder (lo - LO0)/D_LO = (hi - HI0)/D_HI
            assert np.allclose((hist["lo"] - LO0) / D_LO, (hist["hi"] - HI0) / D_HI, atol=1e-6)
        else:
            assert np.all(hist["lo"] == 0.8) and np.all(hist["hi"] == 1.2)
