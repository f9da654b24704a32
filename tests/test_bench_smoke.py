"""Smoke test of the benchmark harness (bench/): tiny sizes, one repetition, wasmtime + wizardpy.

Not a timing test: it checks the result structure and that every engine's checksum equals the
value computed here in Python for the same kernel and size.
"""
from __future__ import annotations

import json
import math
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `bench` is a top-level directory, not an installed package
    sys.path.insert(0, str(ROOT))

from bench import interp  # noqa: E402

M64 = (1 << 64) - 1


def ref_fib(n: int) -> int:
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def ref_sieve(n: int) -> int:
    if n < 3:
        return 0
    comp = bytearray(n)
    count = 0
    for i in range(2, n):
        if not comp[i]:
            count += 1
            comp[i * i::i] = b"\1" * len(range(i * i, n, i))
    return count


def ref_matmul(n: int) -> float:
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    a = ((i * 7 + j * 3) % 13 - 6).astype(np.float64)
    b = ((i * 5 + j * 11) % 7 - 3).astype(np.float64)
    w = ((i * n + j) % 1009 + 1).astype(np.float64)
    # all values are small integers: every product and partial sum is exact in f64
    return float(((a @ b) * w).sum())


def ref_rk4(steps: int) -> float:
    sigma, rho, beta, h = 10.0, 28.0, 8.0 / 3.0, 0.001

    def deriv(s):
        return [sigma * (s[1] - s[0]), s[0] * (rho - s[2]) - s[1], s[0] * s[1] - beta * s[2]]

    s = [1.0, 1.0, 1.0]
    for _ in range(steps):
        k1 = deriv(s)
        k2 = deriv([s[i] + 0.5 * h * k1[i] for i in range(3)])
        k3 = deriv([s[i] + 0.5 * h * k2[i] for i in range(3)])
        k4 = deriv([s[i] + h * k3[i] for i in range(3)])
        s = [s[i] + (h / 6.0) * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]) for i in range(3)]
    return s[0] + s[1] + s[2]


def ref_mix64(n: int) -> int:
    state, acc = 0x0123456789ABCDEF, 0
    for _ in range(n):
        state = (state + 0x9E3779B97F4A7C15) & M64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        z ^= z >> 31
        acc = (((acc << 5) | (acc >> 59)) & M64) ^ z
    return acc - (1 << 64) if acc >> 63 else acc


REFS = {"fib": ref_fib, "sieve": ref_sieve, "matmul": ref_matmul, "rk4": ref_rk4, "mix64": ref_mix64}


def same(expected, got) -> bool:
    if isinstance(expected, float):
        return struct.pack("<d", expected) == struct.pack("<d", float(got))
    return expected == got


def test_python_references_sanity():
    assert ref_fib(20) == 6765
    assert ref_sieve(100) == 25 and ref_sieve(1000) == 168
    assert ref_mix64(0) == 0
    assert math.isfinite(ref_rk4(200))
    # matmul checksum against a naive triple loop
    n = 5
    a = [[(i * 7 + j * 3) % 13 - 6.0 for j in range(n)] for i in range(n)]
    b = [[(i * 5 + j * 11) % 7 - 3.0 for j in range(n)] for i in range(n)]
    want = sum(sum(a[i][k] * b[k][j] for k in range(n)) * ((i * n + j) % 1009 + 1)
               for i in range(n) for j in range(n))
    assert ref_matmul(n) == want


def test_bench_tiny(tmp_path):
    logs = []
    result = interp.run(mode="tiny", reps=1, engines=["wasmtime", "wizardpy"], load=False,
                        out_dir=tmp_path, log=logs.append)
    assert result["failures"] == [], "\n".join(result["failures"] + logs)

    # the JSON file is written and round-trips
    files = list(tmp_path.glob("interp-*.json"))
    assert len(files) == 1
    saved = json.loads(files[0].read_text())
    for key in ("machine", "config", "kernels", "failures", "date"):
        assert key in saved
    for key in ("cpu", "python", "versions"):
        assert key in saved["machine"]
    assert saved["config"]["engines"] == ["wizardpy", "wasmtime"]

    assert set(result["kernels"]) >= {"fib", "matmul", "sieve", "rk4"}
    for kname, kr in result["kernels"].items():
        size = interp.KERNELS[kname].sizes["tiny"]
        expected = REFS[kname](size)
        fuel_entry = kr["sizes"][str(size)]
        assert fuel_entry["fuel"] > 0
        assert same(expected, fuel_entry["checksum"]), (kname, expected, fuel_entry["checksum"])
        for engine in ("wasmtime", "wizardpy"):
            er = kr["engines"][engine]
            assert "error" not in er, (kname, engine, er)
            assert er["size"] == size
            assert same(expected, er["checksum"]), (kname, engine, expected, er["checksum"])
            assert len(er["times_s"]) == 1
            assert er["instr_per_s"]["median"] > 0
            assert er["instr_per_s"]["min"] <= er["instr_per_s"]["median"] <= er["instr_per_s"]["max"]

    table = interp.markdown(result)
    assert table.startswith("| kernel |")
    assert "fib(20)" in table


@pytest.mark.parametrize("kname", sorted(REFS))
def test_kernel_wasm_matches_python_at_slow_size(kname):
    """The committed .wasm kernels compute what the Python references compute (via wasmtime)."""
    from bench.engines import WasmtimeFuel, normalize
    k = interp.KERNELS[kname]
    size = k.sizes["slow"]
    fuel, got = WasmtimeFuel().count((interp.KERNEL_DIR / f"{kname}.wasm").read_bytes(), kname, [size])
    assert fuel > 0
    assert same(REFS[kname](size), normalize(got, k.rtype))
