"""Lifecycle: 1,000 engine/module/instance create-run-teardown cycles do not grow the process's RSS.

Each cycle builds a fresh Engine, decodes+validates a module, instantiates it, runs it and drops
everything (a bench kernel every cycle; every 10th cycle also a module with tables, elements,
data, globals, a trap, probes and a fuel limit). RSS is read from /proc/self/status after a
warm-up and after the cycles (both after gc.collect(): engines hold reference cycles through their
cffi handle, which the cyclic GC frees) and must stay within a tolerance. Figures are printed
(`pytest -s`). Every measurement runs in a fresh child process.

The JIT tiers ("jit", and "tiered" compiling at the first call) run 1,000 cycles too (a cycle
compiles with LLVM: ~15 ms), measured after glibc's malloc_trim (LLVM's freed heap is otherwise
kept mapped), and the C heap in use (mallinfo2) is checked too: it is exact where RSS moves in
steps. What remains is inside llvmlite, per compilation, not per engine: every optimisation run
adds a callback (~45 bytes) to its PassBuilder that is never removed, and a PassBuilder leaks
~1.5 KiB when disposed; the JITs share builders and replace each after 32 runs (see
wizardpy/jit/codegen.py `_BuilderPool`), ~0.1 KiB per compilation in all (1.7 KiB per JIT engine
when each had its own). One Engine loading a fresh module per cycle is measured too: like a
wasmtime Store, an Engine keeps every instance it created (and so its module) until it is
dropped, so that grows on every tier (~17 KiB per cycle on "int"); the JIT may only add what the
code of those live modules needs.
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
TOLERANCE_KB = 6 * 1024          # per 1,000 cycles
JIT_CYCLES, JIT_WARMUP = 1000, 50
SHARED_CYCLES = 200               # one Engine: what grows is the live modules' (bounded per cycle)
HEAP_KB_PER_CYCLE = 0.5           # JIT, fresh engines: C heap left per cycle (llvmlite's ~0.1 KiB
                                  # per compilation, ~1.3 compilations per cycle; measured 0.11 on
                                  # "jit", 0.16-0.25 on "tiered"; 1.7 KiB before the shared pool)
LIVE_CODE_KB = 48                 # JIT, one Engine: RSS per cycle for the code of the modules it
LIVE_CODE_HEAP_KB = 12            # keeps (~1.3 compilations per cycle, each ~3 pages of code
                                  # and data + MCJIT's copy of the object file, ~5 KiB of heap)


def rss_kb() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def one_cycle(k: int, rich: bytes, tier: str = "int", knobs: dict | None = None) -> None:
    knobs = knobs or {}
    e = Engine(tier=tier, **knobs)
    m = Module(e, FIB)
    inst = Linker(e).instantiate(m)
    assert inst.exports["fib"](15) == 610
    if k % 10 == 0:
        e2 = Engine(EngineConfig(tier=tier, fuel=10**6, max_memory_pages=3, **knobs))
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


def shared_engine_cycles(tier: str, knobs: dict | None = None):
    """Cycles on ONE Engine: a fresh module per cycle, instantiated and run (every 10th cycle also
    the rich module with probes, which makes the JIT recompile, and a trap)."""
    e = Engine(tier=tier, **(knobs or {}))

    def cycle(k: int, rich: bytes, *_) -> None:
        inst = Linker(e).instantiate(Module(e, FIB))
        assert inst.exports["fib"](15) == 610
        if k % 10 == 0:
            m2 = Module(e, rich)
            counter = CountProbe()
            e.instrument.insert(m2, "run", 0, counter)
            i2 = Instance(e, m2, [])
            assert i2.exports["run"](5) == 33
            try:
                i2.exports["boom"]()
            except Trap:
                pass
            e.instrument.remove(m2, "run", 0, counter)
            assert i2.exports["run"](5) == 33 and counter.count == 1
    return cycle


def measure(n: int, warmup: int, tier: str = "int", trim: bool = False, knobs: dict | None = None,
            shared: bool = False) -> tuple[int, int, float, int, int]:
    """(RSS KiB after the warm-up, after n more cycles, seconds of the n cycles, malloc heap in
    use in KiB after the warm-up, after the cycles; heap figures -1 without glibc's mallinfo2).
    shared: one Engine for all cycles (`shared_engine_cycles`) instead of a fresh one per cycle."""
    rich = wat(RICH)
    cycle = shared_engine_cycles(tier, knobs) if shared else one_cycle
    for k in range(warmup):
        cycle(k, rich, tier, knobs)
    _collect(trim)
    r0, h0 = rss_kb(), heap_kb()
    t0 = time.monotonic()
    for k in range(n):
        cycle(k, rich, tier, knobs)
    dt = time.monotonic() - t0
    _collect(trim)
    return r0, rss_kb(), dt, h0, heap_kb()


def heap_kb() -> int:
    """Bytes the C heap has handed out and not got back (glibc mallinfo2: in-use chunks plus
    mmapped ones), in KiB: what native code (LLVM) leaks, without RSS's page-size steps
    (fragmentation, 1 MiB pymalloc arenas). -1 where unavailable."""
    import ctypes

    class MallInfo2(ctypes.Structure):
        _fields_ = [(f, ctypes.c_size_t) for f in ("arena", "ordblks", "smblks", "hblks",
                                                  "hblkhd", "usmblks", "fsmblks", "uordblks",
                                                  "fordblks", "keepcost")]
    try:
        fn = ctypes.CDLL("libc.so.6").mallinfo2
    except (OSError, AttributeError):
        return -1
    fn.restype = MallInfo2
    mi = fn()
    return (mi.uordblks + mi.hblkhd) // 1024


def _collect(trim: bool) -> None:
    """Free all garbage. Several collections: finalizers run by one (the JIT's LLVM objects) leave
    small garbage of their own, which can keep otherwise empty 1 MiB pymalloc arenas mapped (up
    to ~2 MiB measured) until the next."""
    for _ in range(3):
        gc.collect()
    if trim:
        _malloc_trim()


def _measure_in_fresh_process(n: int, warmup: int, **kw) -> tuple[int, int, float, int, int]:
    """Measure in a child process, so garbage of other tests sharing this worker doesn't count."""
    import json
    import subprocess
    code = (f"import sys, json; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
            f"import test_lifecycle as t; "
            f"print(json.dumps(t.measure({n}, warmup={warmup}, **json.loads({json.dumps(kw)!r}))))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    return tuple(json.loads(p.stdout.strip().splitlines()[-1]))


def test_1000_cycles_do_not_grow_rss():
    r0, r1, dt, _, _ = _measure_in_fresh_process(1000, warmup=100)
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
    """Each JIT Engine's LLVM execution engine (its machine code and target machine) is freed
    when the Engine is collected (wizardpy/jit/codegen.py: weakref.finalize); llvmlite itself
    frees none (~3 MiB per engine stayed before)."""
    import weakref

    from wizardpy.jit import codegen
    _jit_or_skip()
    freed = []
    orig = codegen._free_llvm
    codegen._free_llvm = lambda *a: (freed.append(1), orig(*a))
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


def test_jit_engines_share_pass_builders():
    """Pass builders (which llvmlite cannot free completely) are shared by the JIT engines of
    the process: ten engines compiling one after the other create at most one per optimisation
    level, and a builder is replaced only after `RUNS` runs."""
    from wizardpy.jit import codegen
    _jit_or_skip()
    made = []
    orig = codegen.llvm.create_pass_builder
    pool = codegen._BUILDERS
    codegen._BUILDERS = codegen._BuilderPool()
    codegen.llvm.create_pass_builder = lambda *a: (made.append(1), orig(*a))[1]
    try:
        for _ in range(10):
            e = Engine(tier="jit")
            assert Linker(e).instantiate(Module(e, FIB)).exports["fib"](15) == 610
        assert len(made) == 1
        for _ in range(codegen._BuilderPool.RUNS):
            e = Engine(tier="jit")
            assert Linker(e).instantiate(Module(e, FIB)).exports["fib"](10) == 55
        assert len(made) == 2          # the first was disposed after RUNS runs
    finally:
        codegen.llvm.create_pass_builder = orig
        codegen._BUILDERS = pool


def test_jit_engines_compile_in_threads():
    """Two threads compiling at once (llvmlite releases the GIL while LLVM runs) each take a
    builder of their own from the shared pool."""
    import threading

    _jit_or_skip()
    errors, results = [], []

    def work():
        try:
            for _ in range(8):
                e = Engine(tier="jit")
                results.append(Linker(e).instantiate(Module(e, FIB)).exports["fib"](20))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and results == [6765] * 16


JIT_TIERS = [pytest.param("jit", {}, id="jit"),
             pytest.param("tiered", {"jit_threshold": 1}, id="tiered-threshold-1")]


@pytest.mark.parametrize("tier,knobs", JIT_TIERS)
def test_jit_cycles_do_not_grow_rss(tier, knobs):
    """A fresh JIT Engine per cycle: everything LLVM allocated for it is freed (before: ~110-135
    KiB per cycle, mostly llvmlite's never-freed module pass managers). RSS moves in steps of up
    to ~2 MiB (1 MiB pymalloc arenas, heap fragmentation) whatever the number of cycles; the C
    heap in use is the precise figure: what stays is llvmlite's ~0.1 KiB per compilation."""
    _jit_or_skip()
    n = JIT_CYCLES
    r0, r1, dt, h0, h1 = _measure_in_fresh_process(n, JIT_WARMUP, tier=tier, knobs=knobs,
                                                   trim=True)
    print(f"\nlifecycle {tier}: RSS {r0} KiB -> {r1} KiB after {n} cycles ({r1 - r0:+d} KiB, "
          f"{(r1 - r0) / n:+.2f} KiB per cycle; C heap {(h1 - h0) / n:+.2f} KiB per cycle; "
          f"{dt:.1f} s)")
    assert r1 - r0 < TOLERANCE_KB, f"RSS grew by {r1 - r0} KiB over {n} cycles"
    if h0 >= 0:
        assert (h1 - h0) / n < HEAP_KB_PER_CYCLE, f"C heap grew by {h1 - h0} KiB over {n} cycles"


@pytest.mark.parametrize("tier,knobs", JIT_TIERS)
def test_jit_shared_engine_adds_only_live_code(tier, knobs):
    """ONE Engine loading a fresh module per cycle. The Engine keeps every instance (and module)
    it created until it is dropped, so this grows on every tier (~17 KiB RSS per cycle on "int");
    the JIT may only add what its compiled code of those live modules needs (before: ~147 KiB
    per cycle more than "int")."""
    _jit_or_skip()
    n = SHARED_CYCLES
    i0, i1, _, ih0, ih1 = _measure_in_fresh_process(n, JIT_WARMUP, tier="int", shared=True,
                                                     trim=True)
    r0, r1, dt, h0, h1 = _measure_in_fresh_process(n, JIT_WARMUP, tier=tier, knobs=knobs,
                                                   shared=True, trim=True)
    extra = ((r1 - r0) - (i1 - i0)) / n
    extra_heap = ((h1 - h0) - (ih1 - ih0)) / n
    print(f"\nlifecycle one engine: int {(i1 - i0) / n:+.2f} KiB per cycle, {tier} "
          f"{(r1 - r0) / n:+.2f} KiB per cycle: {extra:+.2f} KiB RSS, {extra_heap:+.2f} KiB "
          f"C heap for the JIT ({dt:.1f} s)")
    assert extra < LIVE_CODE_KB, f"the JIT kept {extra:.1f} KiB per module loaded"
    if h0 >= 0 and ih0 >= 0:
        assert extra_heap < LIVE_CODE_HEAP_KB, f"the JIT kept {extra_heap:.1f} KiB of C heap"


def test_jit_keeps_no_module_alive():
    """The JIT's per-module state, compile records and kept IR refer to modules weakly."""
    import weakref

    _jit_or_skip()
    e = Engine(tier="jit", jit_keep_ir=True)
    m = Module(e, FIB)
    inst = Linker(e).instantiate(m)
    assert inst.exports["fib"](15) == 610
    assert e.jit.last_ir[m] and e.jit.stats[-1].module is m
    ref = weakref.ref(m)
    e._instances.clear()     # what would let the Engine drop an instance (it keeps them all)
    e._funcs.clear()
    del m, inst
    gc.collect()
    assert ref() is None and len(e.jit.last_ir) == 0 and e.jit.stats[-1].module is None


def test_pass_builders_are_per_target():
    """The shared pass builders are tuned for a target (jit_cpu, its features): an engine
    compiling for a generic CPU gets builders of its own, and both engines' code runs right."""
    import platform

    from wizardpy.jit import codegen
    _jit_or_skip()
    pool = codegen._BUILDERS
    codegen._BUILDERS = fresh = codegen._BuilderPool()
    generic = "x86-64" if platform.machine() in ("x86_64", "AMD64") else "generic"
    try:
        for cpu in ("", generic):
            e = Engine(tier="jit", jit_cpu=cpu)
            assert Linker(e).instantiate(Module(e, FIB)).exports["fib"](15) == 610
            assert not e.jit.errors
        assert len(fresh._tms) == 2 and all(len(v) == 1 for v in fresh._idle.values())
    finally:
        codegen._BUILDERS = pool
