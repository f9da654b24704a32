"""Reference for workloads/rpo: DPO vs RPO (DPO + eta * SFT) on a log-linear policy, numpy.

Independent of the C loops: log-probabilities for all prompts at once (log-softmax of the
(NX, K) logit matrix Phi theta + b), the DPO margin for all pairs vectorised, and the gradient
in the simplified closed form -- the E_pi[phi] terms of the winner and loser cancel in the DPO
part (same prompt), leaving beta (sigma(h) - 1)(phi_w - phi_l); the SFT part is
-(phi_w - E_pi phi). The data are regenerated from the same splitmix64 stream.

Checks: every printed series / parameter to rtol 1e-8; properties from the paper: at theta = 0
(pi = pi_ref) the DPO loss is log 2; and for long runs (>= 400 steps, checked when the test is
run at that size) the SFT term keeps the mass on uncovered responses below DPO's, DPO's gold
value has passed its peak and RPO's final gold value is higher -- overoptimization mitigated.
"""
from __future__ import annotations

import numpy as np

from _common import floats, parse, uniform_stream

NX, K, F, NCOV, NPAIR = 64, 16, 12, 4, 512
UNCOV_PENALTY, COV_GAP, BETA, ETA, LR = 4.0, 3.0, 0.5, 0.05, 0.5
SIZE = 400
PARITY_SIZE = 10


def data(seed):
    u = uniform_stream(seed, NX * K * F * 2 + NPAIR * 4)
    z = u[:NX * K * F * 2].reshape(NX, K, F, 2)
    phi = np.sqrt(-2.0 * np.log1p(-z[..., 0])) * np.cos(2.0 * np.pi * z[..., 1])
    wstar = np.cos(np.arange(F, dtype=float))
    covered = np.arange(K) < NCOV
    gold = phi @ wstar - np.where(covered, 0.0, UNCOV_PENALTY)[None, :]
    bias = np.broadcast_to(np.where(covered, 0.0, -COV_GAP), (NX, K))
    q = u[NX * K * F * 2:].reshape(NPAIR, 4)
    x = (q[:, 0] * NX).astype(int)
    a = (q[:, 1] * NCOV).astype(int)
    b = (a + 1 + (q[:, 2] * (NCOV - 1)).astype(int)) % NCOV
    a_wins = q[:, 3] < 1.0 / (1.0 + np.exp(-(gold[x, a] - gold[x, b])))
    return phi, bias, gold, x, np.where(a_wins, a, b), np.where(a_wins, b, a)


def log_softmax(logits):
    m = logits.max(axis=1, keepdims=True)
    return logits - m - np.log(np.exp(logits - m).sum(axis=1, keepdims=True))


def train(phi, bias, gold, x, w, l, eta, steps):
    theta = np.zeros(F)
    lref = log_softmax(bias)
    hist = {"dpo_loss": [], "sft_loss": [], "gold_value": [], "uncovered_mass": []}
    for _ in range(steps):
        lp = log_softmax(phi @ theta + bias)
        p = np.exp(lp)
        ephi = np.einsum("xk,xkf->xf", p, phi)
        h = BETA * ((lp[x, w] - lref[x, w]) - (lp[x, l] - lref[x, l]))
        sig = 1.0 / (1.0 + np.exp(-h))
        grad = (BETA * (sig - 1.0))[:, None] * (phi[x, w] - phi[x, l]) - eta * (phi[x, w] - ephi[x])
        theta = theta - LR * grad.mean(axis=0)
        p_new = np.exp(log_softmax(phi @ theta + bias))
        hist["dpo_loss"].append(-np.log(sig).mean())
        hist["sft_loss"].append(-lp[x, w].mean())
        hist["gold_value"].append((p_new * gold).sum(axis=1).mean())
        hist["uncovered_mass"].append(p_new[:, NCOV:].sum(axis=1).mean())
    return theta, {k: np.array(v) for k, v in hist.items()}


def check(stdout: str, size: int) -> None:
    out = parse(stdout)
    assert int(out["steps"][0]) == size
    phi, bias, gold, x, w, l = data(int(out["seed"][0]))
    stride = int(out["report_stride"][0])
    assert stride == (size // 50 if size > 50 else 1)
    idx = np.arange(stride - 1, size, stride)
    res = {}
    for tag, eta in (("dpo", 0.0), ("rpo", ETA)):
        theta, hist = train(phi, bias, gold, x, w, l, eta, size)
        res[tag] = hist
        assert np.allclose(floats(out, f"theta_{tag}"), theta, rtol=1e-8, atol=1e-11), tag
        for key, vals in hist.items():
            assert np.allclose(floats(out, f"{key}_{tag}"), vals[idx], rtol=1e-8, atol=1e-11), (tag, key)
        assert abs(hist["dpo_loss"][0] - np.log(2.0)) < 1e-12      # pi = pi_ref at theta = 0
    assert np.isclose(floats(out, "best_gold_covered")[0], gold[:, :NCOV].max(axis=1).mean(), rtol=1e-9)
    assert np.isclose(floats(out, "best_gold_all")[0], gold.max(axis=1).mean(), rtol=1e-9)
    if size >= 400:
        assert res["rpo"]["uncovered_mass"][-1] < res["dpo"]["uncovered_mass"][-1]
        gd = res["dpo"]["gold_value"]
        assert gd.argmax() < size - 1 and res["rpo"]["gold_value"][-1] > gd[-1]
