"""On-stack replacement (tier "tiered", EngineConfig.jit_osr): interpreted frames continuing in
compiled code at a loop header give the interpreter's results.

- regressions: loops enclosing the OSR loop; deoptimization of a frame entered by OSR;
- a differential stress: workloads (tests/workload_refs sizes) under many OSR thresholds, stdout
  compared with the interpreter (a bounded set here, all of them with the `slow` marker).
"""
from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from spec_cache import wat2wasm

from wizardpy import (CountProbe, Engine, EngineConfig, ExitStatus, FuncType, Linker, Module,
                      WasiConfig)
from wizardpy.types import I32

ROOT = Path(__file__).resolve().parent.parent

# Minimized from tests/data/wasi/edge.wasm (printf_core's `while (*s && *s != '%') s++` inside
# the loop over the format): the OSR loop sits inside an outer loop. The OSR variant starts
# at the inner loop, so the walk over the code passed the outer loop's header before any edge
# reached it; its code was left out (label block `unreachable`) and the outer back-edge was
# undefined behaviour (LLVM made it a deoptimization, or a wrong result).
NESTED = """
(module
  (func (export "main") (param $n i32) (result i32)
    (local $i i32) (local $j i32) (local $s i32)
    loop $outer
      i32.const 0 local.set $j
      block $done
        loop $inner
          local.get $s local.get $j i32.add local.get $i i32.xor local.set $s
          local.get $j i32.const 1 i32.add local.tee $j
          i32.const 10 i32.eq br_if $done
          br $inner
        end
      end
      local.get $i i32.const 1 i32.add local.tee $i
      local.get $n i32.lt_u br_if $outer
    end
    local.get $s)
  ;; the OSR loop two loops deep, an operand (loop param style) live across it
  (func (export "deep") (param $n i32) (result i32)
    (local $i i32) (local $j i32) (local $k i32) (local $s i32)
    i32.const 7
    loop $a (param i32) (result i32)
      i32.const 0 local.set $j
      loop $b
        i32.const 0 local.set $k
        loop $c
          local.get $s i32.const 31 i32.mul local.get $k i32.add local.get $j i32.xor
          local.set $s
          local.get $k i32.const 1 i32.add local.tee $k i32.const 5 i32.lt_u br_if $c
        end
        local.get $j i32.const 1 i32.add local.tee $j i32.const 4 i32.lt_u br_if $b
      end
      i32.const 1 i32.add
      local.get $i i32.const 1 i32.add local.tee $i local.get $n i32.lt_u br_if $a
    end
    local.get $s i32.add)
)
"""


@pytest.mark.parametrize("threshold", [1, 2, 3, 7, 23])
def test_osr_inside_enclosing_loops(threshold):
    wasm = wat2wasm(NESTED)
    res = {}
    for tier in ("int", "tiered"):
        e = Engine(tier=tier, jit_osr=True, jit_osr_threshold=threshold, jit_threshold=10**9)
        i = Linker(e).instantiate(Module(e, wasm))
        res[tier] = (i.exports["main"](5), i.exports["deep"](6))
        if tier == "tiered":
            c = e.jit.counters()
            assert c["OSR entries"] >= 1 and c["deoptimizations"] == 0, c
    assert res["tiered"] == res["int"]


@pytest.mark.parametrize("threshold", [1, 3, 23])
def test_osr_variant_with_counters_compiles(threshold):
    """Counters at every instruction (the loops/hotness monitors' shape) in a function entered
    by OSR inside an enclosing loop: the OSR variant must compile (values cached on the path
    into the OSR loop header do not dominate its back-edges, which come from code entered at
    the OSR point: the compile failed with "Instruction does not dominate all uses" and the
    function silently stayed interpreted) and count exactly what the interpreter counts."""
    from wizardpy import defined_functions, instructions
    wasm = wat2wasm(NESTED)
    res = {}
    for tier in ("int", "tiered"):
        e = Engine(tier=tier, jit_osr=True, jit_osr_threshold=threshold, jit_threshold=10**9)
        m = Module(e, wasm)
        counters = {}
        for f in defined_functions(m):
            for pc, _, _ in instructions(m, f, immediates=False):
                counters[(f, pc)] = c = CountProbe()
                e.instrument.insert(m, f, pc, c)
        i = Linker(e).instantiate(m)
        out = (i.exports["main"](5), i.exports["deep"](6))
        res[tier] = (out, {k: c.count for k, c in counters.items()})
        if tier == "tiered":
            assert e.jit.errors == []
            assert e.jit.counters()["OSR entries"] >= 1, e.jit.counters()
    assert res["tiered"] == res["int"]


# A frame entered by OSR deoptimizes (a global probe is inserted from a host call in its loop)
# and then returns to its interpreted caller: the caller must continue after its call
# (wz_jit_deopt used to reset the frame record's ret_ip, the interpreter loop that replaced
# the frame read 0 and re-ran the caller from its entry).
DEOPT = """
(module
  (import "env" "tick" (func $tick (param i32)))
  (global $g (mut i32) (i32.const 0))
  (func $loop (param $n i32) (result i32) (local $i i32) (local $s i32)
    loop $l
      local.get $i call $tick
      local.get $s local.get $i i32.add local.set $s
      local.get $i i32.const 1 i32.add local.tee $i local.get $n i32.lt_u br_if $l
    end
    local.get $s)
  (func (export "main") (param $n i32) (result i32)
    global.get $g i32.const 1000 i32.add global.set $g
    local.get $n call $loop
    global.get $g i32.add)
)
"""


def test_deopt_of_an_osr_frame_returns_to_its_caller():
    wasm = wat2wasm(DEOPT)
    res = {}
    for tier in ("int", "tiered"):
        e = Engine(tier=tier, jit_osr=True, jit_osr_threshold=3, jit_threshold=10**9)
        lk = Linker(e)

        def tick(i, e=e):
            if i == 20:
                e.instrument.insert_global(CountProbe())

        lk.define_func("env", "tick", FuncType((I32,), ()), tick)
        i = lk.instantiate(Module(e, wasm))
        res[tier] = i.exports["main"](50)
        if tier == "tiered":
            c = e.jit.counters()
            assert c["OSR entries"] >= 1 and c["deoptimizations"] >= 1, c
    assert res["int"] == res["tiered"] == sum(range(50)) + 1000


# --------------------------------------------------------------------- differential stress
def _size(name: str) -> int:
    src = (ROOT / "tests" / "workload_refs" / (name.replace("-", "_") + ".py")).read_text()
    sizes = dict(re.findall(r"^(SIZE|PARITY_SIZE) = (\d+)", src, re.M))
    return int(sizes.get("PARITY_SIZE", sizes["SIZE"]))


def _run(name: str, **cfg):
    e = Engine(EngineConfig(**cfg))
    m = Module.from_file(e, str(ROOT / "workloads" / name / f"{name}.wasm"))
    lk = Linker(e)
    out = io.BytesIO()
    lk.define_wasi(WasiConfig(argv=[f"{name}.wasm", str(_size(name))], stdout=out,
                              stderr=io.BytesIO()))
    inst = lk.instantiate(m)
    code = 0
    try:
        inst.exports["_start"]()
    except ExitStatus as x:
        code = x.code
    return code, out.getvalue(), e.jit.counters() if e.jit is not None else None


def _stress(name, thresholds, jit_thresholds, opt_level):
    want = _run(name, tier="int")[:2]
    assert want[1].strip()
    entries = 0
    for jt in jit_thresholds:
        for thr in thresholds:
            code, out, counters = _run(name, tier="tiered", jit_osr=True, jit_threshold=jt,
                                       jit_osr_threshold=thr, jit_opt_level=opt_level)
            assert (code, out) == want, (name, jt, thr, counters)
            entries += counters["OSR entries"]
    # jit_threshold=1 compiles every function at its first call (no frame is interpreted long
    # enough to be replaced); the large jit_threshold runs exercise OSR
    assert entries > 0


ALL = sorted(p.name for p in (ROOT / "workloads").iterdir() if (p / f"{p.name}.wasm").is_file())


@pytest.mark.parametrize("name", ["bapo", "grpo"])
def test_osr_stress_quick(name):
    _stress(name, thresholds=[1, 5, 50], jit_thresholds=[10**9], opt_level=0)


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL)
def test_osr_stress_all_workloads(name):
    _stress(name, thresholds=[1, 2, 3, 5, 7, 13, 50], jit_thresholds=[1, 3, 10**9],
            opt_level=2)


def test_no_osr_variant_for_a_function_that_fires_its_probes_by_deoptimizing():
    """Tier jit: a function with more generic (Python) probes than jit_max_generic_probes fires
    them by deoptimizing to the interpreter, which then runs the rest of the activation. Its
    loop counters used to ask for an OSR variant there, compiled at the cost of the whole
    function and leaving again at the next probe (deoxys with a Python probe at every branch:
    13 variants, 6 s per run). Now none is compiled, and every probe still fires."""
    from wizardpy import FuncProbe
    e = Engine(EngineConfig(tier="jit", jit_osr=True, jit_osr_threshold=1))
    m = Module(e, wat2wasm(NESTED))
    f = m.func_index("main")
    pcs = [pc for pc, _ in m.code_of(f).instrs][:12]
    fired = [0]
    e.instrument.insert_many(m, [(f, pc, FuncProbe(lambda loc: fired.__setitem__(0, fired[0] + 1)))
                                 for pc in pcs])
    assert e.instrument.generic_sites(m, f - m.num_imported_funcs) > 8
    ei = Engine(tier="int")
    ref = Linker(ei).instantiate(Module(ei, wat2wasm(NESTED)))
    inst = Linker(e).instantiate(m)
    assert inst.exports["main"](50) == ref.exports["main"](50)
    assert e.jit.counters()["OSR variants compiled"] == 0
    assert fired[0] > 50 * 10 and not e.jit.errors
