"""Shared helpers for the workload references (tests/workload_refs/<name>.py).

* ``parse(stdout)`` -> ``{key: [token, ...]}`` for the ``key: v1 v2 ...`` output convention.
* ``floats(out, key)`` / ``ints(out, key)`` -> numpy arrays of one key's values.
* ``SplitMix64`` / ``splitmix64_stream``: the workloads' PRNG (see workloads/README.md, "PRNG"),
  re-implemented here so a reference can reproduce the exact random inputs the C code draws.
  Only the random *stream* is shared with the C code; the computation in each reference is
  written independently from the paper's math (vectorised numpy, linear algebra, ...).
"""
from __future__ import annotations

import math

import numpy as np

MASK = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15


def parse(stdout: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in stdout.splitlines():
        if not line.strip():
            continue
        key, sep, rest = line.partition(":")
        assert sep, f"malformed output line (expected 'key: values'): {line!r}"
        key = key.strip()
        assert key not in out, f"duplicate key {key!r}"
        out[key] = rest.split()
    return out


def floats(out: dict[str, list[str]], key: str) -> np.ndarray:
    assert key in out, f"missing output key {key!r}; have {sorted(out)}"
    return np.array([float(t) for t in out[key]], dtype=np.float64)


def ints(out: dict[str, list[str]], key: str) -> np.ndarray:
    assert key in out, f"missing output key {key!r}; have {sorted(out)}"
    return np.array([int(t) for t in out[key]], dtype=np.int64)


def _mix(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


class SplitMix64:
    """Scalar twin of the C ``rng_*`` functions (state += GAMMA; output = mix(state))."""

    def __init__(self, seed: int):
        self.s = seed & MASK

    def next(self) -> int:
        self.s = (self.s + GAMMA) & MASK
        return _mix(self.s)

    def uniform(self) -> float:           # [0, 1), 53 random bits
        return (self.next() >> 11) * (1.0 / 9007199254740992.0)

    def normal(self) -> float:            # Box-Muller, two uniforms per call, no caching
        u1 = self.uniform()
        u2 = self.uniform()
        return math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2.0 * math.pi * u2)

    def below(self, n: int) -> int:       # integer in [0, n) (tiny modulo bias is accepted)
        return self.next() % n


def splitmix64_stream(seed: int, n: int, start: int = 0) -> np.ndarray:
    """Outputs number start+1 .. start+n of ``SplitMix64(seed)`` as uint64 (vectorised)."""
    k = np.arange(start + 1, start + n + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = np.uint64(seed & MASK) + k * np.uint64(GAMMA)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def uniform_stream(seed: int, n: int, start: int = 0) -> np.ndarray:
    return (splitmix64_stream(seed, n, start) >> np.uint64(11)).astype(np.float64) * 2.0 ** -53


def normal_stream(seed: int, n: int, start: int = 0) -> np.ndarray:
    """n Box-Muller normals (consumes 2n uniforms starting after output ``start``)."""
    u = uniform_stream(seed, 2 * n, start).reshape(n, 2)
    return np.sqrt(-2.0 * np.log1p(-u[:, 0])) * np.cos(2.0 * np.pi * u[:, 1])


def expm(a: np.ndarray) -> np.ndarray:
    """Matrix exponential by scaling and squaring of a degree-20 Taylor polynomial (numpy only;
    relative accuracy ~1e-14 for the moderately sized generators the references use)."""
    a = np.asarray(a)
    norm = np.linalg.norm(a, 1)
    s = max(0, int(np.ceil(np.log2(norm / 0.5))) if norm > 0.5 else 0)
    b = a / (2.0 ** s)
    result = np.eye(a.shape[0], dtype=b.dtype)
    term = np.eye(a.shape[0], dtype=b.dtype)
    for k in range(1, 21):
        term = term @ b / k
        result = result + term
    for _ in range(s):
        result = result @ result
    return result
