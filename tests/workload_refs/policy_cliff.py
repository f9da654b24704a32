"""Independent numpy reference for workloads/policy-cliff.

Rebuilds the mirrored MDP from the same splitmix64 stream as a dense
transition tensor, runs vectorised hard and soft (log-sum-exp) value
iteration, and recomputes every reported policy distance. Tolerances: values
rtol 1e-9; TV distances rtol 1e-5 / atol 1e-9 (both sides stop VI at a 1e-12
sup-norm change). Paper properties checked: (1) the policy cliff — the greedy
policy keeps changing on a fixed fraction of states however small the reward
perturbation; (2) entropy regularisation makes the map Lipschitz:
TV(pi_tau(r), pi_tau(r+eps*delta)) <= eps*max|delta| / (tau*(1-gamma)) per state,
and the soft TV shrinks linearly with eps.
"""
import numpy as np

SIZE = 40
NA, NB, GAMMA, TIE = 4, 4, 0.9, 1e-9


def _sm64(seed, idx):
    with np.errstate(over="ignore"):
        z = np.uint64(seed) + (idx.astype(np.uint64) + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _unif(seed, k, n):
    s = int(_sm64(np.uint64(seed & 0xFFFFFFFFFFFFFFFF), np.array([0xABCD0000 + k]))[0])
    return (_sm64(s, np.arange(n)) >> np.uint64(11)).astype(np.float64) * 2.0**-53


def _parse(stdout):
    return {k.strip(): v.split() for k, v in (l.split(":", 1) for l in stdout.strip().splitlines())}


def _build(n, seed):
    u = _unif(seed, 0, n * NA * (1 + 2 * NB)).reshape(n, NA, 1 + 2 * NB)
    rr = u[..., 0]
    loc = np.minimum((u[..., 1:1 + NB] * n).astype(int), n - 1)
    w = 0.1 + u[..., 1 + NB:]
    w /= w.sum(-1, keepdims=True)
    S = 2 * n
    P = np.zeros((S, NA, S))
    R = np.zeros((S, NA))
    for c in range(2):
        for a in range(NA):
            src = 0 if a == 1 else a
            off = (1 - c if a == 1 else c) * n
            rows = np.arange(n) + c * n
            R[rows, a] = rr[:, src]
            for b in range(NB):
                np.add.at(P, (rows, a, off + loc[:, src, b]), w[:, src, b])
    delta = 2 * _unif(seed, 1, S * NA).reshape(S, NA) - 1
    return P, R, delta


def _vi(P, r, tau):
    V = np.zeros(P.shape[0])
    for _ in range(100000):
        Q = r + GAMMA * P @ V
        if tau == 0:
            Vn = Q.max(1)
        else:
            m = Q.max(1)
            Vn = m + tau * np.log(np.exp((Q - m[:, None]) / tau).sum(1))
        d = np.abs(Vn - V).max()
        V = Vn
        if d < 1e-12:
            break
    Q = r + GAMMA * P @ V
    if tau == 0:
        opt = Q >= Q.max(1, keepdims=True) - TIE
        pi = np.zeros_like(Q)
        pi[np.arange(len(Q)), opt.argmax(1)] = 1.0
        return V, pi, int((opt.sum(1) > 1).sum())
    z = np.exp((Q - Q.max(1, keepdims=True)) / tau)
    return V, z / z.sum(1, keepdims=True), None


def check(stdout: str, size: int) -> None:
    o = _parse(stdout)
    seed = int(o["seed"][0])
    S = int(o["states"][0])
    assert S == 2 * size
    P, R, delta = _build(size, seed)
    eps = np.array([float(x) for x in o["eps"]])
    taus = [float(x) for x in o["taus"]]
    V0, pi0, ties = _vi(P, R, 0)
    assert int(o["degenerate_states"][0]) == ties
    np.testing.assert_allclose(float(o["hard_value_sum"][0]), V0.sum(), rtol=1e-9)
    hard = np.array([0.5 * np.abs(_vi(P, R + e * delta, 0)[1] - pi0).sum(1).mean() for e in eps])
    np.testing.assert_allclose([float(x) for x in o["hard_tv"]], hard, rtol=1e-9, atol=0)
    # policy cliff: tiny perturbations still flip the greedy choice on many states
    assert ties > 0 and hard[-1] >= 0.25 * ties / S
    for t, tau in enumerate(taus):
        Vt, pit, _ = _vi(P, R, tau)
        np.testing.assert_allclose(float(o[f"soft{t}_value_sum"][0]), Vt.sum(), rtol=1e-9)
        tv = []
        for e in eps:
            pe = _vi(P, R + e * delta, tau)[1]
            tv.append(0.5 * np.abs(pe - pit).sum(1))
        tv = np.array(tv)
        np.testing.assert_allclose([float(x) for x in o[f"soft{t}_tv"]], tv.mean(1), rtol=1e-5, atol=1e-9)
        np.testing.assert_allclose([float(x) for x in o[f"soft{t}_max_tv"]], tv.max(1), rtol=1e-5, atol=1e-9)
        # Lipschitz continuity of the entropy-regularised reward->policy map
        lip = eps * np.abs(delta).max() / (tau * (1 - GAMMA))
        assert np.all(tv.max(1) <= lip + 1e-9)
        ratio = tv.mean(1)[-1] / tv.mean(1)[-2]
        assert abs(ratio - 0.1) < 0.01, ratio
