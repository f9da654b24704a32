"""Numpy reference for workloads/actor-critic (optimistic AC, rare switching).

The MDP and uniforms come from the same splitmix64 stream. Value functions
(optimal value, exact policy values, optimistic critic) are computed with
vectorised numpy backups (einsum over the model tensor) and the actor step
as a vectorised softmax-weights update; the episode loop itself is replayed
in Python since learning is sequential. The learning loop samples actions by
comparing uniforms with policy CDFs, so agreement holds up to floating-point
summation order (rtol 1e-9 on regrets/values; exact switch count). Paper
properties checked: the number of policy switches obeys the rare-switching
bound S*A*(log2(K*H)+1), regret grows sublinearly (per-episode regret in
the last tenth is below that of the first tenth), and the final policy
improves on the uniform one.
"""
import numpy as np

SIZE = 3000
S, A, H, ETA = 6, 3, 5, 2.0


def _sm64(seed, idx):
    with np.errstate(over="ignore"):
        z = np.uint64(seed) + (np.asarray(idx).astype(np.uint64) + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _uat(s, idx):
    return (_sm64(s, idx) >> np.uint64(11)).astype(np.float64) * 2.0**-53


def _sseed(seed, k):
    return int(_sm64(np.uint64(seed & 0xFFFFFFFFFFFFFFFF), np.array([0xABCD0000 + k]))[0])


def _parse(stdout):
    return {k.strip(): v.split() for k, v in (l.split(":", 1) for l in stdout.strip().splitlines())}


def _eval(pi, R, P):
    V = np.zeros(S)
    for h in range(H - 1, -1, -1):
        V = np.einsum("sa,sa->s", pi[h], R + P @ V)
    return V[0]


def check(stdout: str, size: int) -> None:
    o = _parse(stdout)
    seed, K = int(o["seed"][0]), int(o["episodes"][0])
    assert K == size
    u = _uat(_sseed(seed, 0), np.arange(S * A * (1 + S))).reshape(S, A, 1 + S)
    R = u[..., 0] ** 2
    P = u[..., 1:] ** 3
    P /= P.sum(-1, keepdims=True)
    V = np.zeros(S)
    for h in range(H):
        V = (R + P @ V).max(1)
    vopt = V[0]
    pi = np.full((H, S, A), 1.0 / A)
    vcur = _eval(pi, R, P)
    np.testing.assert_allclose(float(o["value_optimal"][0]), vopt, rtol=1e-9)
    np.testing.assert_allclose(float(o["value_uniform"][0]), vcur, rtol=1e-9)
    v_uniform = vcur
    logL = np.log(S * A * H * K * 10.0)
    uu = _uat(_sseed(seed, 1), np.arange(K * H * 2)).reshape(K, H, 2)
    Nsas = np.zeros((S, A, S))
    Nlast = np.zeros((S, A))
    cum, reg, switches = [], 0.0, 0
    marks = {K * (i + 1) // 10 for i in range(10)}
    per_ep = []
    for k in range(K):
        reg += vopt - vcur
        per_ep.append(vopt - vcur)
        s = 0
        cdfs = np.cumsum(pi, axis=2)
        for h in range(H):
            a = min(int((uu[k, h, 0] >= cdfs[h, s]).sum()), A - 1)
            t = min(int((uu[k, h, 1] >= np.cumsum(P[s, a])).sum()), S - 1)
            Nsas[s, a, t] += 1
            s = t
        N = Nsas.sum(-1)
        if np.any((N > 0) & (N >= 2 * Nlast)):
            Nlast = N.copy()
            Phat = np.divide(Nsas, N[..., None], out=np.zeros_like(Nsas), where=N[..., None] > 0)
            bonus = 0.5 * H * np.sqrt(logL / np.maximum(N, 1))
            Vb = np.zeros(S)
            Q = np.zeros((H, S, A))
            for h in range(H - 1, -1, -1):
                q = np.where(N > 0, R + bonus + Phat @ Vb, H - h)
                Q[h] = np.minimum(q, H - h)
                Vb = (pi[h] * Q[h]).sum(1)
            w = pi * np.exp(ETA * (Q - Q.max(2, keepdims=True)))
            pi = w / w.sum(2, keepdims=True)
            switches += 1
            vcur = _eval(pi, R, P)
        if k + 1 in marks:
            cum.append(reg)
    np.testing.assert_allclose([float(x) for x in o["cum_regret"]], cum, rtol=1e-9)
    assert int(o["switches"][0]) == switches
    np.testing.assert_allclose(float(o["value_final"][0]), vcur, rtol=1e-9)
    assert switches <= S * A * (np.log2(K * H) + 1)
    per_ep = np.array(per_ep)
    assert per_ep[-K // 10:].mean() < per_ep[:K // 10].mean()
    assert vcur > v_uniform
