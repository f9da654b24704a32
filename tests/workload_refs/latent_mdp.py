"""Independent numpy reference for workloads/latent-mdp.

Regenerates the latent MDP and belief points from the same splitmix64
stream; redoes point-based value iteration with one batched einsum per
(h, s) over all belief points, actions, next states and alpha vectors;
per-context DP and the averaged-MDP policy with vectorised backups; and
simulates all episodes in parallel (vectorised over episodes, same uniform
numbers: episode k uses stream-3 draws k*(H+1) ... k*(H+1)+H). Tolerances:
values rtol 1e-9, mean returns / cumulative regrets atol 1e-8. Paper-related
properties: horizon-free normalisation (returns in [0,1]); the context oracle
upper-bounds the belief-planning value, which beats the context-agnostic
averaged policy; the simulated PBVI policy's return matches its value within
Monte-Carlo error, its regret stays O(sqrt K), while the averaged policy's
regret grows linearly.
"""
import numpy as np

SIZE = 24
M, S, A, H, K = 4, 8, 4, 20, 4000


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


def _sample(cdf_rows, u):
    """first index with u < cumsum, else last (rows: [n, k])"""
    c = np.cumsum(cdf_rows, axis=1)
    return np.minimum((u[:, None] >= c).sum(1), cdf_rows.shape[1] - 1)


def check(stdout: str, size: int) -> None:
    o = _parse(stdout)
    seed, NB = int(o["seed"][0]), int(o["belief_points"][0])
    assert NB == size
    u0 = _unif(seed, 0, M + M * S * A * (1 + S))
    w = 0.5 + u0[:M]
    w /= w.sum()
    blk = u0[M:].reshape(M, S, A, 1 + S)
    R = blk[..., 0] ** 3 / H
    P = blk[..., 1:] ** 4
    P /= P.sum(-1, keepdims=True)
    B = np.full((NB, M), 0.0)
    B[:M] = 0.03 / (M - 1)
    B[np.arange(M), np.arange(M)] = 0.97
    B[M] = 1.0 / M
    g = -np.log(1.0 - _unif(seed, 1, (NB - M - 1) * M).reshape(NB - M - 1, M))
    B[M + 1:] = g / g.sum(1, keepdims=True)
    np.testing.assert_allclose([float(x) for x in o["weights"]], w, rtol=1e-9)
    # PBVI
    Gam = np.zeros((H + 1, S, NB, M))
    act = np.zeros((H, S, NB), dtype=int)
    nG = 1
    for h in range(H - 1, -1, -1):
        for s in range(S):
            Ps = P[:, s]  # [m, a, q]
            vals = np.einsum("im,maq,qjm->iaqj", B, Ps, Gam[h + 1][:, :nG])
            j = vals.argmax(-1)  # [i, a, q]
            chosen = Gam[h + 1][np.arange(S)[None, None, :], j]  # [i, a, q, m]
            al = R[:, s].T[None] + np.einsum("maq,iaqm->iam", Ps, chosen)
            a = np.einsum("im,iam->ia", B, al).argmax(1)
            Gam[h, s] = al[np.arange(NB), a]
            act[h, s] = a
        nG = NB
    vp = (Gam[0, 0] @ w).max()
    # per-context DP, averaged-MDP policy
    Vc = np.zeros((M, S))
    pic = np.zeros((H, M, S), dtype=int)
    Va = np.zeros(S)
    pia = np.zeros((H, S), dtype=int)
    Rbar = np.einsum("m,msa->sa", w, R)
    for h in range(H - 1, -1, -1):
        Q = R + np.einsum("msaq,mq->msa", P, Vc)
        pic[h] = Q.argmax(-1)
        Vc = Q.max(-1)
        Qa = Rbar + np.einsum("m,msaq,q->sa", w, P, Va)
        pia[h] = Qa.argmax(-1)
        Va = Qa.max(-1)
    vo = w @ Vc[:, 0]
    Vpi = np.zeros((M, S))
    for h in range(H - 1, -1, -1):
        a = pia[h]
        Vpi = R[:, np.arange(S), a] + np.einsum("msq,mq->ms", P[:, np.arange(S), a], Vpi)
    vavg = w @ Vpi[:, 0]
    for k, v in [("value_oracle", vo), ("value_pbvi", vp), ("value_avg_policy", vavg)]:
        np.testing.assert_allclose(float(o[k][0]), v, rtol=1e-9, err_msg=k)
    # simulation, vectorised over episodes
    u = _unif(seed, 3, K * (H + 1)).reshape(K, H + 1)
    ctx = _sample(np.broadcast_to(w, (K, M)), u[:, 0])
    ep = np.arange(K)
    for L, name in enumerate(["pbvi", "map_learner", "avg_policy"]):
        b = np.broadcast_to(w, (K, M)).copy()
        s = np.zeros(K, dtype=int)
        G = np.zeros(K)
        for h in range(H):
            if L == 0:
                a = act[h, s, np.einsum("km,kim->ki", b, Gam[h, s]).argmax(1)]
            elif L == 1:
                a = pic[h, b.argmax(1), s]
            else:
                a = pia[h, s]
            G += R[ctx, s, a]
            t = _sample(P[ctx, s, a], u[:, 1 + h])
            b = b * P[:, s, a, t].T
            b /= b.sum(1, keepdims=True)
            s = t
        assert np.all((G >= 0) & (G <= 1))
        np.testing.assert_allclose(float(o[f"{name}_mean_return"][0]), G.mean(), rtol=0, atol=1e-8)
        cum = np.cumsum(vp - G)[K // 10 - 1::K // 10]
        np.testing.assert_allclose([float(x) for x in o[f"{name}_cum_regret"]], cum, rtol=1e-9, atol=1e-8)
        if L == 0:
            assert abs(G.mean() - vp) < 4 * G.std() / np.sqrt(K) + 1e-3
        if L == 2:
            assert cum[-1] > 0.05 * K * 0.5 * (vp - vavg)
    assert vo >= vp - 1e-12 and vp > vavg
