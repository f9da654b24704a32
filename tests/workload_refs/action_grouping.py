"""Independent numpy reference for workloads/action-grouping.

Recomputes the MDP from the same splitmix64 stream, the optimal values by
vectorised value iteration, k-means (farthest-point init, Lloyd) on the action
feature matrix, the grouped MDP, and the lifted policy's exact value with
numpy.linalg.solve. Tolerance: 1e-7 relative on all floats, exact on
iteration counts. Paper property checked: the grouping error obeys the
model-similarity bound ||V* - V_G|| <= (eps_R + gamma*eps_P*span(V*)/2)/(1-gamma),
and grouping into the true number of prototypes makes the error drop sharply.
"""
import numpy as np

SIZE = 60
S, K, GMAX, GAMMA = 16, 6, 12, 0.9
M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _sm64(seed, idx):
    with np.errstate(over="ignore"):
        z = np.uint64(seed) + (idx.astype(np.uint64) + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _stream_seed(seed, k):
    return int(_sm64(np.uint64(seed & 0xFFFFFFFFFFFFFFFF), np.array([0xABCD0000 + k]))[0])


def _unif(seed, k, n):
    return (_sm64(_stream_seed(seed, k), np.arange(n)) >> np.uint64(11)).astype(np.float64) * 2.0**-53


def _parse(stdout):
    out = {}
    for line in stdout.strip().splitlines():
        k, v = line.split(":", 1)
        out[k.strip()] = v.split()
    return out


def _vi(Rm, Pm):  # Rm [A,S], Pm [A,S,S]
    V = np.zeros(S)
    for _ in range(5000):
        Q = Rm + GAMMA * Pm @ V
        Vn = Q.max(axis=0)
        d = np.abs(Vn - V).max()
        V = Vn
        if d < 1e-13:
            break
    return V, Q.argmax(axis=0)


def _kmeans(X, G):
    C = [X[0]]
    mind = ((X - X[0]) ** 2).sum(1)
    for _ in range(1, G):
        far = int(np.argmax(mind))
        C.append(X[far])
        mind = np.minimum(mind, ((X - X[far]) ** 2).sum(1))
    C = np.array(C)
    lab = None
    for it in range(1, 201):
        d = ((X[:, None, :] - C[None]) ** 2).sum(-1)
        new = d.argmin(1)
        inertia = d[np.arange(len(X)), new].sum()
        if lab is not None and np.array_equal(new, lab):
            break
        lab = new
        for g in range(G):
            m = lab == g
            C[g] = X[m].mean(0) if m.any() else 0.0
    return lab, inertia, it


def check(stdout: str, size: int) -> None:
    o = _parse(stdout)
    seed = int(o["seed"][0])
    A = int(o["actions"][0])
    assert A == size
    u0 = _unif(seed, 0, K * S * (1 + S)).reshape(K, S, 1 + S)
    Rk = u0[..., 0]
    Pk = u0[..., 1:] ** 4
    Pk /= Pk.sum(-1, keepdims=True)
    u1 = _unif(seed, 1, A * S * (1 + S)).reshape(A, S, 1 + S)
    proto = np.arange(A) % K
    R = Rk[proto] + 0.1 * (u1[..., 0] - 0.5)
    P = Pk[proto] + 0.02 * u1[..., 1:]
    P /= P.sum(-1, keepdims=True)
    Vs, _ = _vi(R, P)
    np.testing.assert_allclose([float(x) for x in o["vstar"]], Vs, rtol=1e-9)
    X = np.concatenate([R, P.reshape(A, S * S)], axis=1)
    errs = []
    for G in range(1, GMAX + 1):
        row = o[f"G{G}"]
        f = dict(zip(row[0::2], row[1::2]))
        lab, inertia, it = _kmeans(X, G)
        assert int(f["iters"]) == it, (G, f["iters"], it)
        Rg = np.array([R[lab == g].mean(0) if (lab == g).any() else np.full(S, -1e9) for g in range(G)])
        Pg = np.array([P[lab == g].mean(0) if (lab == g).any() else np.full((S, S), 1.0 / S) for g in range(G)])
        epsR = np.abs(R - Rg[lab]).max()
        epsP = np.abs(P - Pg[lab]).sum(-1).max()
        VG, pol = _vi(Rg, Pg)
        err = np.abs(Vs - VG).max()
        # medoid of each group (closest member to the group mean)
        dd = ((X - np.concatenate([Rg, Pg.reshape(G, -1)], 1)[lab]) ** 2).sum(1)
        rep = {g: np.flatnonzero(lab == g)[np.argmin(dd[lab == g])] for g in range(G) if (lab == g).any()}
        acts = np.array([rep[g] for g in pol])
        Ppi = P[acts, np.arange(S)]
        Vpi = np.linalg.solve(np.eye(S) - GAMMA * Ppi, R[acts, np.arange(S)])
        bound = (epsR + GAMMA * epsP * 0.5 * (Vs.max() - Vs.min())) / (1 - GAMMA)
        want = dict(inertia=inertia, eps_r=epsR, eps_p=epsP, value_error=err, bound=bound,
                    policy_loss=max(0.0, (Vs - Vpi).max()))
        for k, v in want.items():
            np.testing.assert_allclose(float(f[k]), v, rtol=1e-7, atol=1e-9, err_msg=f"G{G} {k}")
        # paper property: error controlled by within-group model dissimilarity
        assert err <= bound + 1e-9
        assert (Vs - Vpi).min() >= -1e-9  # lifted policy can't beat optimal
        errs.append(err)
    assert errs[K - 1] < 0.5 * errs[0]
