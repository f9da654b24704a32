"""Numpy reference for workloads/iterresearch (EAPO rewards + downsampling).

Re-simulates every iteration with all Q*G rollouts advanced in parallel
(vectorised over rollouts, loop over rounds), using the same counter-indexed
splitmix64 uniforms; discounted per-round rewards, group statistics via
numpy.bincount, the partial Fisher-Yates downsampling, and the REINFORCE
gradient via bincount. The training loop is a stochastic simulation whose
decisions compare uniforms with sigmoid(theta); agreement is exact up to
floating-point summation order (rtol 1e-9 on theta and rates, exact counts).
Paper properties checked: the kept sample count is the largest multiple of
the DP size, rewards are gamma^(T-t) R, and after training the discounted
(EAPO) policy does research in fewer rounds than the undiscounted one.
"""
import numpy as np

SIZE = 48
G, TMAX, EN, ITERS, DP, LR = 8, 32, 4, 30, 16, 2.0
QMAX = 2048
NSMAX = QMAX * G * TMAX


def _sm64(seed, idx):
    with np.errstate(over="ignore"):
        z = np.uint64(seed) + (np.asarray(idx).astype(np.uint64) + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _sseed(seed, k):
    return int(_sm64(np.uint64(seed & 0xFFFFFFFFFFFFFFFF), np.array([0xABCD0000 + k]))[0])


def _uat(s, idx):
    return (_sm64(s, idx) >> np.uint64(11)).astype(np.float64) * 2.0**-53


def _parse(stdout):
    return {k.strip(): v.split() for k, v in (l.split(":", 1) for l in stdout.strip().splitlines())}


def _run(Q, seed, c):
    gamma = 1.0 if c else 0.9
    th = np.zeros(EN + 1)
    sq, sr, sd = _sseed(seed, 1), _sseed(seed, 10 + c), _sseed(seed, 20 + c)
    sig = lambda x: 1 / (1 + np.exp(-x))
    stats = []
    n_roll = Q * G
    for it in range(ITERS):
        pq = 0.2 + 0.6 * _uat(sq, it * Q + np.arange(Q))
        roll = np.arange(n_roll)
        base = ((it * Q) * G + roll) * TMAX * 2
        u = _uat(sr, base[:, None] + np.arange(2 * TMAX)[None, :])  # [rollout, 2*TMAX]
        e = np.zeros(n_roll, dtype=int)
        alive = np.ones(n_roll, bool)
        T = np.zeros(n_roll, dtype=int)
        R = np.zeros(n_roll)
        E_hist = np.zeros((n_roll, TMAX), dtype=int)
        stop_hist = np.zeros((n_roll, TMAX), bool)
        for t in range(TMAX):
            u1, u2 = u[:, 2 * t], u[:, 2 * t + 1]
            stop = alive & ((t == TMAX - 1) | (u1 < sig(th[e])))
            E_hist[:, t] = e
            stop_hist[:, t] = stop
            R = np.where(stop, (u2 < 0.2 + 0.75 * e / EN).astype(float), R)
            T = np.where(alive, t + 1, T)
            grow = alive & ~stop & (u2 < pq[roll // G]) & (e < EN)
            e = e + grow
            alive = alive & ~stop
        # samples in (rollout, round) order
        mask = np.arange(TMAX)[None, :] < T[:, None]
        rr, tt = np.nonzero(mask)
        s_e, s_stop = E_hist[rr, tt], stop_hist[rr, tt]
        s_r = R[rr] * gamma ** (T[rr] - 1 - tt).astype(float)
        q = rr // G
        cnt = np.bincount(q, minlength=Q)
        m = np.bincount(q, s_r, Q) / cnt
        sdv = np.sqrt(np.bincount(q, (s_r - m[q]) ** 2, Q) / cnt)
        adv = (s_r - m[q]) / (sdv[q] + 1e-6)
        n = len(s_r)
        keep = n // DP * DP
        ud = _uat(sd, it * NSMAX + np.arange(keep))
        idx = np.arange(n)
        for i in range(keep):
            j = min(i + int(ud[i] * (n - i)), n - 1)
            idx[i], idx[j] = idx[j], idx[i]
        k = idx[:keep]
        p = sig(th[s_e[k]])
        grad = np.bincount(s_e[k], adv[k] * np.where(s_stop[k], 1 - p, -p), EN + 1)
        if keep:
            th = th + LR * grad / keep
        stats.append((T.mean(), (R > 0).mean(), n, keep))
    return th, np.array(stats)


def check(stdout: str, size: int) -> None:
    o = _parse(stdout)
    seed = int(o["seed"][0])
    assert int(o["questions"][0]) == size
    lens = {}
    for c, nm in enumerate(["eapo", "undiscounted"]):
        th, st = _run(size, seed, c)
        np.testing.assert_allclose([float(x) for x in o[f"{nm}_mean_rounds"]], st[:, 0], rtol=1e-9)
        np.testing.assert_allclose([float(x) for x in o[f"{nm}_accuracy"]], st[:, 1], rtol=1e-9)
        assert [int(x) for x in o[f"{nm}_samples"]] == list(st[:, 2].astype(int))
        kept = [int(x) for x in o[f"{nm}_kept"]]
        assert kept == list(st[:, 3].astype(int))
        assert all(k % DP == 0 and 0 <= n - k < DP for k, n in zip(kept, st[:, 2]))
        np.testing.assert_allclose([float(x) for x in o[f"{nm}_theta"]], th, rtol=1e-9, atol=1e-12)
        lens[nm] = st[-5:, 0].mean()
    assert lens["eapo"] < lens["undiscounted"]
