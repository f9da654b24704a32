"""Independent numpy reference for workloads/causal-minimax.

Regenerates the multi-environment linear-SCM data from the same splitmix64
stream and redoes the exhaustive subset search directly on the raw samples:
numpy.linalg.lstsq per subset on the pooled training data, per-environment
residual means, MSEs and residual/covariate correlations with numpy (the C
works only with per-environment Gram matrices and Cholesky). Tolerance rtol
1e-7 on risks/statistics, exact on the selected masks and the stable count.
Paper properties checked: the minimax-selected stable subset uses no mutable
child, and its worst-case risk on the held-out (more strongly shifted)
environments beats both the pooled-MSE-optimal subset (all features) and the
causal parents alone (stable descendants are worth transferring).
"""
import numpy as np

SIZE = 8
ETR, ETE, NE, TAU_M, TAU_C = 6, 2, 1000, 0.15, 0.15


def _sm64(seed, idx):
    with np.errstate(over="ignore"):
        z = np.uint64(seed) + (idx.astype(np.uint64) + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _normal(seed, k, n):
    s = int(_sm64(np.uint64(seed & 0xFFFFFFFFFFFFFFFF), np.array([0xABCD0000 + k]))[0])
    u = (_sm64(s, np.arange(2 * n)) >> np.uint64(11)).astype(np.float64) * 2.0**-53
    return np.sqrt(-2.0 * np.log(1.0 - u[0::2])) * np.cos(2 * np.pi * u[1::2])


def _parse(stdout):
    return {k.strip(): v.split() for k, v in (l.split(":", 1) for l in stdout.strip().splitlines())}


def _data(d, seed):
    dc = d // 2
    nch = d - dc
    nst = nch // 2
    p0 = _normal(seed, 0, d)
    beta, alpha = p0[:dc], 1.0 + 0.5 * p0[dc:]
    p1 = _normal(seed, 1, (ETR + ETE) * d).reshape(ETR + ETE, d)
    noise = _normal(seed, 2, (ETR + ETE) * NE * (d + 1)).reshape(ETR + ETE, NE, d + 1)
    Xs, Ys = [], []
    for e in range(ETR + ETE):
        shift = 1.0 if e < ETR else 3.0
        mu = p1[e, :dc]
        ae = alpha + np.where(np.arange(nch) >= nst, shift * p1[e, dc:], 0.0)
        C = mu + noise[e, :, :dc]
        y = C @ beta + noise[e, :, dc]
        K = y[:, None] * ae + 0.5 * noise[e, :, dc + 1:]
        Xs.append(np.hstack([C, K]))
        Ys.append(y)
    return np.array(Xs), np.array(Ys), dc, nst


def _stats(X, Y, mask, d):
    cols = [j for j in range(d) if mask >> j & 1]
    A = np.hstack([np.ones((ETR * NE, 1)), X[:ETR, :, cols].reshape(ETR * NE, len(cols))])
    coef, *_ = np.linalg.lstsq(A, Y[:ETR].reshape(-1), rcond=None)
    res = Y - (coef[0] + X[:, :, cols] @ coef[1:])  # [env, n]
    mse = (res**2).mean(1)
    mean_dev = np.abs(res[:ETR].mean(1)).max()
    corr = 0.0
    if cols:
        r = res[:ETR] - res[:ETR].mean(1, keepdims=True)
        xc = X[:ETR, :, cols] - X[:ETR, :, cols].mean(1, keepdims=True)
        c = np.einsum("en,enj->ej", r, xc) / np.sqrt((r**2).sum(1)[:, None] * (xc**2).sum(1))
        corr = np.abs(c).max()
    return dict(train_worst=mse[:ETR].max(), test_worst=mse[ETR:].max(), pooled_mse=mse[:ETR].mean(),
                mean_dev=mean_dev, max_corr=corr, var_ratio=mse[:ETR].max() / mse[:ETR].min())


def check(stdout: str, size: int) -> None:
    o = _parse(stdout)
    seed, d = int(o["seed"][0]), int(o["covariates"][0])
    assert d == size
    X, Y, dc, nst = _data(d, seed)
    allst = [_stats(X, Y, m, d) for m in range(1 << d)]
    stable = [m for m, s in enumerate(allst) if s["mean_dev"] < TAU_M and s["max_corr"] < TAU_C]
    assert int(o["stable_subsets"][0]) == len(stable)
    sel = min(stable, key=lambda m: allst[m]["train_worst"])
    pool = min(range(1 << d), key=lambda m: allst[m]["pooled_mse"])
    parents = (1 << dc) - 1
    want = {"selected": sel, "pooled_best": pool, "parents": parents,
            "parents_and_stable_children": parents | (((1 << nst) - 1) << dc), "full": (1 << d) - 1}
    for name, m in want.items():
        row = o[name]
        f = dict(zip(row[0::2], row[1::2]))
        assert int(f["mask"]) == m, (name, f["mask"], m)
        for k, v in allst[m].items():
            np.testing.assert_allclose(float(f[k]), v, rtol=1e-7, err_msg=f"{name} {k}")
    mutable = ((1 << d) - 1) & ~((1 << (dc + nst)) - 1)
    assert sel & mutable == 0
    assert allst[sel]["test_worst"] < allst[pool]["test_worst"]
    assert allst[sel]["test_worst"] < allst[parents]["test_worst"]
