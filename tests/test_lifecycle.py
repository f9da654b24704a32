"""Lifecycle: 1,000 engine/module/instance create-run-teardown cycles do not grow the process's RSS.

Each cycle builds a fresh Engine, decodes+validates a module, instantiates it, runs it and drops
everything (a bench kernel every cycle; every 10th cycle also a module with tables, elements,
data, globals, a trap, probes and a fuel limit). RSS is read from /proc/self/status after a
warm-up and after the cycles (both after gc.collect(): engines hold reference cycles through their
cffi handle, which the cyclic GC frees) and must stay within a tolerance. Figures are printed
(`pytest -s`).
"""
from __future__ import annotations

import gc
import sys
import time
from pathlib import Path

import pytest

from wizardpy import (CountProbe, Engine, EngineConfig, FuncProbe, Instance, Linker, Module,
                      Trap)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
from test_api import wat  # noqa: E402

FIB = (ROOT / "bench" / "kernels" / "fib.wasm").read_bytes()
RICH = """
(module
  (type $t (func (param i32) (result i32)))
  (memory (export "memory") 2 4)
  (data (i32.const 16) "lifecycle data")
  (table (export "tab") 4 funcref)
  (elem (i32.const 0) $sq $inc)
  (global $g (mut i32) (i32.const 7))
  (func $sq (type $t) local.get 0 local.get 0 i32.mul)
  (func $inc (type $t) local.get 0 i32.const 1 i32.add)
  (func (export "run") (param i32) (result i32)
    local.get 0 i32.const 0 call_indirect (type $t)
    i32.const 1 call_indirect (type $t)
    global.get $g i32.add)
  (func (export "boom") (result i32) i32.const 1 i32.const 0 i32.div_s)
  (func (export "grow") (result i32) i32.const 1 memory.grow))
"""
TOLERANCE_KB = 6 * 1024


def rss_kb() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def one_cycle(k: int, rich: bytes, tier: str = "int") -> None:
    e = Engine(tier=tier)
    m = Module(e, FIB)
    inst = Linker(e).instantiate(m)
    assert inst.exports["fib"](15) == 610
    if k % 10 == 0:
        e2 = Engine(EngineConfig(tier=tier, fuel=10**6, max_memory_pages=3))
        m2 = Module(e2, rich)
        counter = CountProbe()
        e2.instrument.insert(m2, "run", 0, counter)
        e2.instrument.insert(m2, "run", 0, FuncProbe(lambda loc: loc.frame.get_local(0)))
        i2 = Instance(e2, m2, [])
        assert i2.exports["run"](5) == 33  # inc(sq(5)) + g
        try:
            i2.exports["boom"]()
        except Trap:
            pass
        assert i2.exports["grow"]() == 2 and i2.exports["grow"]() == -1
        assert counter.count == 1


def measure(n: int, warmup: int, tier: str = "int", trim: bool = False) -> tuple[int, int, float]:
    rich = wat(RICH)
    for k in range(warmup):
        one_cycle(k, rich, tier)
    gc.collect()
    if trim:
        _malloc_trim()
    r0 = rss_kb()
    t0 = time.monotonic()
    for k in range(n):
        one_cycle(k, rich, tier)
    gc.collect()
    if trim:
        _malloc_trim()
    return r0, rss_kb(), time.monotonic() - t0


def _measure_in_fresh_process(n: int, warmup: int) -> tuple[int, int, float]:
    """Measure in a child process, so garbage of other tests sharing this worker doesn't count."""
    import json
    import subprocess
    code = (f"import sys, json; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
            f"import test_lifecycle as t; print(json.dumps(t.measure({n}, warmup={warmup})))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    r0, r1, dt = json.loads(p.stdout.strip().splitlines()[-1])
    return r0, r1, dt


def test_1000_cycles_do_not_grow_rss():
    r0, r1, dt = _measure_in_fresh_process(1000, warmup=100)
    print(f"\nlifecycle int: RSS {r0} KiB after warm-up -> {r1} KiB after 1000 cycles "
          f"({r1 - r0:+d} KiB, {dt:.1f} s: {dt:.3f} ms per cycle)")
    assert r1 - r0 < TOLERANCE_KB, f"RSS grew by {r1 - r0} KiB over 1000 cycles"


def _malloc_trim() -> None:
    """Return freed heap memory to the OS (glibc). JIT engines are freed by the cyclic GC, so
    several engines' LLVM memory (~3 MiB each) is alive at once between collections; glibc keeps
    the freed heap mapped (high-water mark) unless trimmed. What is measured after the trim is
    what was not freed."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _jit_or_skip():
    Engine(tier="jit")  # the JIT tier is part of the engine: a failure here is a failure


def test_jit_engine_frees_llvm():
    """Each JIT Engine's LLVM execution engine (its modules and machine code) and target machine
    are freed when the Engine is collected (wizardpy/jit/codegen.py: weakref.finalize); llvmlite
    itself frees neither (~3 MiB per engine stayed before)."""
    import weakref

    from wizardpy.jit import codegen
    _jit_or_skip()
    freed = []
    orig = codegen._free_llvm
    codegen._free_llvm = lambda ee, tm: (freed.append(1), orig(ee, tm))
    try:
        refs = []
        for _ in range(5):
            e = Engine(tier="jit")
            assert Linker(e).instantiate(Module(e, FIB)).exports["fib"](15) == 610
            refs.append(weakref.ref(e.jit))
            del e
        gc.collect()
    finally:
        codegen._free_llvm = orig
    assert all(r() is None for r in refs) and len(freed) >= 5


@pytest.mark.xfail(strict=False, reason="JIT tier: LLVM engines are freed now, but llvmlite's "
                   "PassBuilder.getModulePassManager() leaks ~60 KiB per O2 compilation (not "
                   "freed by closing it); measured ~135 KiB RSS per engine cycle after malloc_trim "
                   "(was ~1.2 MiB)")
def test_jit_cycles_do_not_grow_rss():
    import weakref

    from wizardpy.jit import codegen
    with pytest.raises(Exception):
        Engine(tier="no-such-tier")
    Engine(tier="jit")
    freed = []
    orig = codegen._free_llvm
    codegen._free_llvm = lambda ee, tm: (freed.append(1), orig(ee, tm))
    try:
        jits = []
        e = Engine(tier="jit")
        Linker(e).instantiate(Module(e, FIB))
        jits.append(weakref.ref(e.jit))
        del e
        r0, r1, dt = measure(100, warmup=20, tier="jit", trim=True)
    finally:
        codegen._free_llvm = orig
    print(f"\nlifecycle jit: RSS {r0} KiB -> {r1} KiB after 100 cycles ({r1 - r0:+d} KiB, {dt:.1f} s, "
          f"{len(freed)} LLVM engines freed)")
    assert jits[0]() is None and len(freed) >= 100
    assert r1 - r0 < TOLERANCE_KB
