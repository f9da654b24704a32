"""Numpy reference for workloads/sso (target-based surrogate vs projected SGD).

Regenerates the logistic-regression data from the same splitmix64 stream
(Box-Muller normals), the per-epoch Fisher-Yates permutations, and reruns both
optimisers with batch-level numpy linear algebra (matrix-vector products,
numpy norms) instead of the C per-coordinate loops; the training losses are
evaluated in vectorised form with numpy.logaddexp. The optimisation is a
deterministic, non-chaotic (contractive, projected) iteration, so exact
agreement is expected: tolerance rtol 1e-8 on losses and parameters, exact on
test accuracy. Properties checked: iterates stay in the projection ball, both
methods approach the loss of the generating parameters, and the SSO inner loop
(which uses no additional loss gradients) decreases its surrogate.
"""
import numpy as np

SIZE = 1600
D, BATCH, EPOCHS, INNER = 32, 64, 20, 10
ETA_SGD, ETA_T, BETA, RADIUS = 0.5, 0.5, 0.25, 10.0


def _sm64(seed, idx):
    with np.errstate(over="ignore"):
        z = np.uint64(seed) + (idx.astype(np.uint64) + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _unif(seed, k, n):
    s = int(_sm64(np.uint64(seed & 0xFFFFFFFFFFFFFFFF), np.array([0xABCD0000 + k]))[0])
    return (_sm64(s, np.arange(n)) >> np.uint64(11)).astype(np.float64) * 2.0**-53


def _normal(seed, k, n):
    u = _unif(seed, k, 2 * n)
    return np.sqrt(-2.0 * np.log(1.0 - u[0::2])) * np.cos(2 * np.pi * u[1::2])


def _parse(stdout):
    return {k.strip(): v.split() for k, v in (l.split(":", 1) for l in stdout.strip().splitlines())}


def _proj(t):
    n = np.linalg.norm(t)
    return t * (RADIUS / n) if n > RADIUS else t


def _loss(X, y, t):
    z = X @ t
    return np.mean(np.logaddexp(0.0, z) - y * z)


def check(stdout: str, size: int) -> None:
    o = _parse(stdout)
    seed = int(o["seed"][0])
    N, NTR = int(o["samples"][0]), int(o["train"][0])
    assert N == size and NTR == int(0.8 * size)
    wstar = 3.0 * _normal(seed, 0, D) / np.sqrt(D)
    X = _normal(seed, 1, N * D).reshape(N, D)
    y = (_unif(seed, 2, N) < 1 / (1 + np.exp(-X @ wstar))).astype(float)
    Xtr, ytr = X[:NTR], y[:NTR]
    np.testing.assert_allclose(float(o["loss_wstar"][0]), _loss(Xtr, ytr, wstar), rtol=1e-8)
    up = _unif(seed, 3, EPOCHS * (NTR - 1)).reshape(EPOCHS, NTR - 1)
    sig = lambda z: 1 / (1 + np.exp(-z))
    ts, to = np.zeros(D), np.zeros(D)
    Ls, Lo = [], []
    for e in range(EPOCHS):
        perm = np.arange(NTR)
        for c, i in enumerate(range(NTR - 1, 0, -1)):
            j = min(int(up[e, c] * (i + 1)), i)
            perm[i], perm[j] = perm[j], perm[i]
        for b in range(NTR // BATCH):
            Xb, yb = Xtr[perm[b * BATCH:(b + 1) * BATCH]], ytr[perm[b * BATCH:(b + 1) * BATCH]]
            ts = _proj(ts - ETA_SGD * Xb.T @ (sig(Xb @ ts) - yb) / BATCH)
            z = Xb @ to
            zt = z - ETA_T * (sig(z) - yb)
            s0 = 0.5 * np.sum((z - zt) ** 2)
            for _ in range(INNER):
                to = _proj(to - BETA * Xb.T @ (Xb @ to - zt) / BATCH)
            assert 0.5 * np.sum((Xb @ to - zt) ** 2) <= s0 + 1e-12  # surrogate decreased
        Ls.append(_loss(Xtr, ytr, ts))
        Lo.append(_loss(Xtr, ytr, to))
    np.testing.assert_allclose([float(v) for v in o["sgd_loss"]], Ls, rtol=1e-8)
    np.testing.assert_allclose([float(v) for v in o["sso_loss"]], Lo, rtol=1e-8)
    np.testing.assert_allclose([float(v) for v in o["sgd_theta"]], ts, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose([float(v) for v in o["sso_theta"]], to, rtol=1e-7, atol=1e-9)
    Xte, yte = X[NTR:], y[NTR:]
    assert float(o["sgd_test_acc"][0]) == np.mean((Xte @ ts > 0) == (yte > 0.5))
    assert float(o["sso_test_acc"][0]) == np.mean((Xte @ to > 0) == (yte > 0.5))
    assert np.linalg.norm(ts) <= RADIUS + 1e-9 and np.linalg.norm(to) <= RADIUS + 1e-9
    lw = _loss(Xtr, ytr, wstar)
    assert Ls[-1] < lw + 0.1 and Lo[-1] < lw + 0.1
