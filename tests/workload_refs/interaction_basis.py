"""Independent numpy reference for workloads/interaction-basis.

Regenerates the network and inputs from the same splitmix64 stream, runs the
forward pass for all samples at once, forms the output Jacobians of every
layer with batched einsum (ReLU masks), the Gram matrices as matrix products,
and the interaction basis with numpy.linalg.eigh (the C uses cyclic Jacobi).
Tolerances: eigenvalues atol 1e-8 * largest eigenvalue of that spectrum;
ranks exact. Paper properties checked: the planted degeneracies are found
(3 dead + 1 duplicated neuron remove 4 activation directions in layer 1;
the last hidden layer interacts with the 4-dim output through at most 4
directions), and in the interaction basis the activation Gram is diagonal
and the Jacobian Gram is the identity (residuals ~ machine precision).
"""
import numpy as np

SIZE = 2000
NI, NH, NO = 8, 24, 4


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


def _basis(G, Mr):
    d, U = np.linalg.eigh(G)
    d, U = d[::-1], U[:, ::-1]
    k = int((d > 1e-10 * d[0]).sum())
    Dh = np.sqrt(d[:k])
    M = (U[:, :k] * Dh).T @ Mr @ (U[:, :k] * Dh)
    lam, V = np.linalg.eigh(M)
    lam, V = lam[::-1], V[:, ::-1]
    r = int((lam > 1e-10 * lam[0]).sum())
    C = (np.sqrt(lam[:r])[:, None] * V[:, :r].T) @ (U[:, :k] / Dh).T
    Cp = (U[:, :k] * Dh) @ V[:, :r] / np.sqrt(lam[:r])
    return d, k, lam, r, C, Cp


def check(stdout: str, size: int) -> None:
    o = _parse(stdout)
    seed = int(o["seed"][0])
    assert int(o["samples"][0]) == size
    sizes = [NH * NI, NH, NH * NH, NH, NO * NH, NO]
    p = _normal(seed, 0, sum(sizes))
    parts = np.split(p, np.cumsum(sizes)[:-1])
    W1 = parts[0].reshape(NH, NI) * np.sqrt(2 / NI)
    b1 = 0.1 * parts[1]
    W2 = parts[2].reshape(NH, NH) * np.sqrt(2 / NH)
    b2 = 0.1 * parts[3]
    W3 = parts[4].reshape(NO, NH) * np.sqrt(1 / NH)
    b3 = 0.1 * parts[5]
    b1[:3] = -10.0
    W1[3], b1[3] = W1[4], b1[4]
    W3[:, -4:] = 0.0
    X = _normal(seed, 1, size * NI).reshape(size, NI)
    H1 = np.maximum(X @ W1.T + b1, 0)
    H2 = np.maximum(H1 @ W2.T + b2, 0)
    Y = H2 @ W3.T + b3
    np.testing.assert_allclose(float(o["mean_sq_output"][0]), (Y**2).sum(1).mean(), rtol=1e-9)
    J2 = np.broadcast_to(W3, (size, NO, NH))
    J1 = np.einsum("oi,ni,ij->noj", W3, (H2 > 0).astype(float), W2)
    J0 = np.einsum("noi,ni,ij->noj", J1, (H1 > 0).astype(float), W1)
    for l, (F, J) in enumerate([(X, J0), (H1, J1), (H2, J2)]):
        G = F.T @ F / size
        Mr = np.einsum("noi,noj->ij", J, J) / size
        d, k, lam, r, C, Cp = _basis(G, Mr)
        n = F.shape[1]
        assert int(o[f"layer{l}_gram_rank"][0]) == k
        assert int(o[f"layer{l}_interaction_rank"][0]) == r
        np.testing.assert_allclose([float(x) for x in o[f"layer{l}_gram_eigs"]], np.maximum(d, 0), atol=1e-8 * d[0], rtol=0)
        lam_full = np.zeros(n)
        lam_full[:r] = lam[:r]
        np.testing.assert_allclose([float(x) for x in o[f"layer{l}_interaction_eigs"]], lam_full, atol=1e-8 * lam[0], rtol=0)
        # interaction basis: diagonal activation Gram, identity Jacobian Gram
        assert np.linalg.norm(C @ G @ C.T - np.diag(lam[:r])) <= 1e-9 * np.linalg.norm(lam[:r])
        assert np.linalg.norm(Cp.T @ Mr @ Cp - np.eye(r)) <= 1e-6 * np.sqrt(r)
        assert float(o[f"layer{l}_residual_gram"][0]) < 1e-9
        assert float(o[f"layer{l}_residual_jacobian"][0]) < 1e-6
    assert int(o["layer1_gram_rank"][0]) == NH - 4
    assert int(o["layer2_interaction_rank"][0]) <= NO
    assert int(o["layer0_gram_rank"][0]) == NI
