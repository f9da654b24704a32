"""The JIT tier (wizardpy/jit): compiled code against the interpreter, mixed stacks, traps.

The spec suite under `--tier jit` is in test_spec.py (parametrized over tiers); the workloads'
stdout under the JIT is compared with wasmtime's at the end of this file.
"""
from __future__ import annotations

import math
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from spec_cache import wat2wasm

from wizardpy import Engine, EngineConfig, FuncType, Linker, Module, Trap
from wizardpy.types import I32

ROOT = Path(__file__).resolve().parent.parent

# One function per instruction family; each takes raw inputs and returns a value (or traps).
FAMILIES = r"""
(module
  (memory (export "memory") 1 4)
  (table $t 4 funcref)
  (global $g (mut i64) (i64.const 7))
  (global $gf (mut f64) (f64.const 1.5))
  (type $ii (func (param i32) (result i32)))
  (elem (table $t) (i32.const 0) func $sq $neg)
  (data (i32.const 100) "\01\02\03\04\05\06\07\08\ff\fe")
  (func $sq (type $ii) local.get 0 local.get 0 i32.mul)
  (func $neg (type $ii) i32.const 0 local.get 0 i32.sub)
  (func (export "i32ops") (param i32 i32) (result i32)
    local.get 0 local.get 1 i32.add local.get 0 local.get 1 i32.sub i32.xor
    local.get 0 local.get 1 i32.mul i32.add local.get 0 local.get 1 i32.rotl i32.xor
    local.get 0 local.get 1 i32.rotr i32.add local.get 0 local.get 1 i32.shl i32.xor
    local.get 0 local.get 1 i32.shr_s i32.add local.get 0 local.get 1 i32.shr_u i32.xor
    local.get 0 i32.clz i32.add local.get 1 i32.ctz i32.add local.get 0 i32.popcnt i32.add
    local.get 0 local.get 1 i32.lt_s i32.add local.get 0 local.get 1 i32.lt_u i32.add
    local.get 0 local.get 1 i32.ge_s i32.add local.get 0 local.get 1 i32.ge_u i32.add
    local.get 0 i32.eqz i32.add local.get 0 i32.extend8_s i32.xor local.get 1 i32.extend16_s i32.add)
  (func (export "i64ops") (param i64 i64) (result i64)
    local.get 0 local.get 1 i64.add local.get 0 local.get 1 i64.sub i64.xor
    local.get 0 local.get 1 i64.mul i64.add local.get 0 local.get 1 i64.rotl i64.xor
    local.get 0 local.get 1 i64.rotr i64.add local.get 0 local.get 1 i64.shl i64.xor
    local.get 0 local.get 1 i64.shr_s i64.add local.get 0 local.get 1 i64.shr_u i64.xor
    local.get 0 i64.clz i64.add local.get 1 i64.ctz i64.add local.get 0 i64.popcnt i64.add
    local.get 0 local.get 1 i64.lt_s i64.extend_i32_u i64.add
    local.get 0 local.get 1 i64.gt_u i64.extend_i32_u i64.add
    local.get 0 i64.extend32_s i64.xor local.get 1 i64.extend8_s i64.add
    local.get 0 i32.wrap_i64 i64.extend_i32_s i64.add)
  (func (export "div_s") (param i32 i32) (result i32) local.get 0 local.get 1 i32.div_s)
  (func (export "div_u") (param i32 i32) (result i32) local.get 0 local.get 1 i32.div_u)
  (func (export "rem_s") (param i32 i32) (result i32) local.get 0 local.get 1 i32.rem_s)
  (func (export "rem_u") (param i32 i32) (result i32) local.get 0 local.get 1 i32.rem_u)
  (func (export "div64_s") (param i64 i64) (result i64) local.get 0 local.get 1 i64.div_s)
  (func (export "rem64_s") (param i64 i64) (result i64) local.get 0 local.get 1 i64.rem_s)
  (func (export "f64ops") (param f64 f64) (result f64)
    local.get 0 local.get 1 f64.add local.get 0 local.get 1 f64.mul f64.sub
    local.get 0 local.get 1 f64.div f64.add local.get 0 local.get 1 f64.min f64.add
    local.get 0 local.get 1 f64.max f64.add local.get 0 f64.abs f64.sqrt f64.add
    local.get 0 f64.floor f64.add local.get 0 f64.ceil f64.add local.get 0 f64.trunc f64.add
    local.get 0 f64.nearest f64.add local.get 1 f64.neg local.get 0 f64.copysign f64.add)
  (func (export "f32ops") (param f32 f32) (result f32)
    local.get 0 local.get 1 f32.add local.get 0 local.get 1 f32.mul f32.sub
    local.get 0 local.get 1 f32.div f32.add local.get 0 local.get 1 f32.min f32.add
    local.get 0 local.get 1 f32.max f32.add local.get 0 f32.abs f32.sqrt f32.add
    local.get 0 f32.nearest f32.add local.get 1 f32.neg local.get 0 f32.copysign f32.add)
  (func (export "fmin") (param f32 f32) (result f32) local.get 0 local.get 1 f32.min)
  (func (export "fmax64") (param f64 f64) (result f64) local.get 0 local.get 1 f64.max)
  (func (export "fsub0") (param f32) (result f32) local.get 0 f32.const 0 f32.sub)
  (func (export "fnearest") (param f64) (result f64) local.get 0 f64.nearest)
  (func (export "fcmp") (param f64 f64) (result i32)
    local.get 0 local.get 1 f64.eq local.get 0 local.get 1 f64.ne i32.const 1 i32.shl i32.or
    local.get 0 local.get 1 f64.lt i32.const 2 i32.shl i32.or
    local.get 0 local.get 1 f64.ge i32.const 3 i32.shl i32.or)
  (func (export "trunc_s") (param f64) (result i32) local.get 0 i32.trunc_f64_s)
  (func (export "trunc_u") (param f32) (result i32) local.get 0 i32.trunc_f32_u)
  (func (export "trunc64_s") (param f64) (result i64) local.get 0 i64.trunc_f64_s)
  (func (export "trunc64_u") (param f64) (result i64) local.get 0 i64.trunc_f64_u)
  (func (export "sat_s") (param f64) (result i32) local.get 0 i32.trunc_sat_f64_s)
  (func (export "sat_u64") (param f32) (result i64) local.get 0 i64.trunc_sat_f32_u)
  (func (export "convs") (param i64) (result f64)
    local.get 0 f64.convert_i64_u local.get 0 f64.convert_i64_s f64.add
    local.get 0 f32.convert_i64_u f64.promote_f32 f64.add
    local.get 0 i32.wrap_i64 f32.convert_i32_s f64.promote_f32 f64.add
    local.get 0 f64.reinterpret_i64 f32.demote_f64 i32.reinterpret_f32 f64.convert_i32_u f64.add)
  (func (export "mem") (param i32) (result i64)
    local.get 0 i64.load local.get 0 i32.load8_s i64.extend_i32_s i64.add
    local.get 0 i64.load16_u i64.add local.get 0 i64.load32_s i64.add
    local.get 0 i32.load offset=1 i64.extend_i32_u i64.add)
  (func (export "store") (param i32 i64) (result i64)
    local.get 0 local.get 1 i64.store offset=3 local.get 0 local.get 1 i32.wrap_i64 i32.store8
    local.get 0 local.get 1 i64.store16 offset=9 local.get 0 i64.load offset=3
    local.get 0 i64.load offset=8 i64.add)
  (func (export "grow") (param i32) (result i32) local.get 0 memory.grow memory.size i32.add)
  (func (export "bulk") (param i32 i32 i32) (result i32)
    local.get 0 local.get 1 local.get 2 memory.copy
    local.get 0 i32.const 0x5a i32.const 3 memory.fill
    local.get 0 i32.load local.get 1 i32.load i32.add)
  (func (export "globals") (param i64) (result i64)
    global.get $g local.get 0 i64.add global.set $g global.get $g
    global.get $gf f64.const 2 f64.mul global.set $gf global.get $gf i64.trunc_f64_s i64.add)
  (func (export "indirect") (param i32 i32) (result i32) local.get 1 local.get 0 call_indirect (type $ii))
  (func (export "tables") (param i32) (result i32)
    i32.const 2 local.get 0 table.get $t table.set $t
    ref.null func i32.const 1 table.grow $t table.size $t i32.add
    i32.const 7 i32.const 2 call_indirect (type $ii) i32.add)
  (func (export "control") (param i32) (result i32) (local i32 i32)
    block $out
      loop $l
        local.get 1 local.get 0 i32.ge_u br_if $out
        block $a block $b block $c
          local.get 1 i32.const 3 i32.rem_u br_table $a $b $c
        end local.get 2 i32.const 1 i32.add local.set 2
        end local.get 2 i32.const 10 i32.add local.set 2
        end local.get 2 i32.const 100 i32.add local.set 2
        local.get 1 i32.const 1 i32.add local.set 1
        local.get 1 i32.const 1 i32.and if (result i32) i32.const 1000 else i32.const 0 end
        local.get 2 i32.add local.set 2
        br $l
      end
    end
    local.get 2)
  (func (export "multi") (param i32 i32) (result i32 i32)
    local.get 0 local.get 1
    block (param i32 i32) (result i32 i32) local.get 0 br_if 0 drop drop i32.const 5 i32.const 6 end)
  (func (export "select") (param i32 i64 i64) (result i64)
    local.get 1 local.get 2 local.get 0 select)
  (func (export "unreach") (param i32) (result i32) local.get 0 if unreachable end local.get 0)
)
"""

I32S = [0, 1, 2, 7, 31, 32, 33, -1, -2, 0x7FFFFFFF, -0x80000000, 12345, -98765]
I64S = [0, 1, 3, 63, 64, -1, 0x7FFFFFFFFFFFFFFF, -0x8000000000000000, 1 << 40, -(1 << 33) + 5]
F64S = [0.0, -0.0, 1.0, -1.5, 2.5, 3.5, -2.5, 0.49999999999999994, 1e300, -1e-300,
        math.inf, -math.inf, math.nan, 4294967295.9, 4294967296.0, -2147483648.9, 2147483647.5,
        9.3e18, 1.9e19, -9.3e18]
F32S = [0.0, -0.0, 1.0, -1.5, 2.5, 0.5, 3.4e38, -3.4e38, math.inf, math.nan, 4294967040.0, -0.9]
F32_SNAN = 0x7FA00000
F64_SNAN = 0x7FF4000000000000

CASES = {
    "i32ops": [(a, b) for a in I32S for b in I32S],
    "i64ops": [(a, b) for a in I64S for b in I64S],
    "div_s": [(a, b) for a in I32S for b in I32S], "div_u": [(a, b) for a in I32S for b in I32S],
    "rem_s": [(a, b) for a in I32S for b in I32S], "rem_u": [(a, b) for a in I32S for b in I32S],
    "div64_s": [(a, b) for a in I64S for b in I64S], "rem64_s": [(a, b) for a in I64S for b in I64S],
    "f64ops": [(a, b) for a in F64S for b in F64S], "f32ops": [(a, b) for a in F32S for b in F32S],
    "fcmp": [(a, b) for a in F64S for b in F64S],
    "trunc_s": [(a,) for a in F64S], "trunc_u": [(a,) for a in F32S],
    "trunc64_s": [(a,) for a in F64S], "trunc64_u": [(a,) for a in F64S],
    "sat_s": [(a,) for a in F64S], "sat_u64": [(a,) for a in F32S],
    "convs": [(a,) for a in I64S],
    "mem": [(a,) for a in (0, 96, 100, 101, 65528, 65529, 65535, 65536, -1)],
    "store": [(a, b) for a in (0, 50, 65520, 65521, 70000) for b in I64S[:5]],
    "bulk": [(100, 200, 8), (200, 100, 4), (65530, 0, 6), (65531, 0, 6), (0, 65536, 1), (5, 5, 0)],
    "globals": [(a,) for a in I64S[:4]],
    "indirect": [(0, 9), (1, 9), (2, 9), (3, 9), (4, 9), (-1, 9)],
    "tables": [(0,), (1,)],
    "control": [(a,) for a in (0, 1, 2, 3, 10, 57)],
    "multi": [(0, 1), (1, 2), (0, 0)],
    "select": [(c, a, b) for c in (0, 1, 5) for a in I64S[:3] for b in I64S[3:5]],
    "unreach": [(0,), (1,)],
}


def _raw(ty, v) -> int:
    if isinstance(v, float):
        if ty == 0x7D:
            return struct.unpack("<I", struct.pack("<f", v))[0]
        return struct.unpack("<Q", struct.pack("<d", v))[0]
    return v & (0xFFFFFFFF if ty in (0x7F, 0x7D) else 0xFFFFFFFFFFFFFFFF)


def _run_all(tier: str) -> dict:
    """{(name, args): ("ok", raw results) | ("trap", reason)}: every case in one fresh
    instance per function (memory/table/global state evolves across a function's cases)."""
    e = Engine(tier=tier)
    m = Module(e, wat2wasm(FAMILIES))
    out = {}
    for name, cases in CASES.items():
        inst = Linker(e).instantiate(m)
        f = inst.exports[name]
        for args in cases:
            raw = [_raw(t, a) for t, a in zip(f.type.params, args)]
            try:
                out[(name, args)] = ("ok", tuple(f.call_raw(raw)))
            except Trap as t:
                out[(name, args)] = ("trap", t.reason if hasattr(t, "reason") else str(t).split("\n")[0])
    return out


def _nan_class(bits: int, width: int) -> str | None:
    if width == 32:
        exp, frac, quiet = (bits >> 23) & 0xFF, bits & 0x7FFFFF, 1 << 22
        if exp == 0xFF and frac:
            return "arith" if frac & quiet else "snan"
    else:
        exp, frac, quiet = (bits >> 52) & 0x7FF, bits & ((1 << 52) - 1), 1 << 51
        if exp == 0x7FF and frac:
            return "arith" if frac & quiet else "snan"
    return None


def test_families_match_interpreter():
    ref = _run_all("int")
    got = _run_all("jit")
    assert ref.keys() == got.keys()
    bad = []
    for k in ref:
        r, g = ref[k], got[k]
        if r == g:
            continue
        # NaN results: the spec allows any arithmetic NaN; both must be quiet NaNs
        if r[0] == g[0] == "ok" and len(r[1]) == len(g[1]):
            if all(a == b or (_nan_class(a, 64) == _nan_class(b, 64) == "arith") or
                   (_nan_class(a, 32) == _nan_class(b, 32) == "arith") for a, b in zip(r[1], g[1])):
                continue
        bad.append((k, r, g))
    assert not bad, f"{len(bad)} differences, first: {bad[:5]}"
    # the cases really exercise traps
    reasons = {v[1] for v in got.values() if v[0] == "trap"}
    assert {"integer divide by zero", "integer overflow", "invalid conversion to integer",
            "out of bounds memory access", "undefined element", "uninitialized element",
            "unreachable"} <= reasons, reasons


@pytest.mark.parametrize("tier", ["int", "jit"])
def test_signalling_nan_is_quieted(tier):
    e = Engine(tier=tier)
    i = Linker(e).instantiate(Module(e, wat2wasm(FAMILIES)))
    (r,) = i.exports["fsub0"].call_raw([F32_SNAN])
    assert _nan_class(r, 32) == "arith"
    (r,) = i.exports["fmin"].call_raw([F32_SNAN, 0x3F800000])
    assert _nan_class(r, 32) == "arith"
    (r,) = i.exports["fmax64"].call_raw([0, F64_SNAN])
    assert _nan_class(r, 64) == "arith"
    (r,) = i.exports["fnearest"].call_raw([F64_SNAN])
    assert _nan_class(r, 64) == "arith"


def test_every_function_is_compiled():
    e = Engine(tier="jit")
    m = Module(e, wat2wasm(FAMILIES))
    inst = Linker(e).instantiate(m)
    nimp = m.num_imported_funcs
    assert all(f._ptr.jit_entry != e.ffi.NULL for f in inst.funcs[nimp:])
    s = e.jit.stats[-1]
    assert s.funcs == len(m.codes) and s.seconds > 0 and s.ir_instrs > 0
    assert "ms/function" in e.jit.compile_report()


def test_unknown_tier_rejected():
    with pytest.raises(ValueError, match="unknown tier 'fast'"):
        Engine(tier="fast")
    with pytest.raises(ValueError, match="jit_opt_level"):
        Engine(tier="jit", jit_opt_level=7)


@pytest.mark.parametrize("level", [0, 1, 3])
def test_opt_levels(level):
    e = Engine(tier="jit", jit_opt_level=level)
    i = Linker(e).instantiate(Module(e, wat2wasm(FAMILIES)))
    assert i.exports["control"](57) == Engine_ref_control(57)


def Engine_ref_control(n):
    e = Engine(tier="int")
    return Linker(e).instantiate(Module(e, wat2wasm(FAMILIES))).exports["control"](n)


# ---- recursion, mixed stacks, traps ---------------------------------------------------------

REC = r"""
(module
  (import "env" "host" (func $host (param i32) (result i32)))
  (func $inf (export "inf") (param i32) (result i32) local.get 0 i32.const 1 i32.add call $inf)
  (func $fib (export "fib") (param i32) (result i32)
    local.get 0 i32.const 2 i32.lt_u if (result i32) local.get 0 else
    local.get 0 i32.const 1 i32.sub call $fib local.get 0 i32.const 2 i32.sub call $fib i32.add end)
  (func $a (export "a") (param i32) (result i32) local.get 0 call $b i32.const 1 i32.add)
  (func $b (export "b") (param i32) (result i32) local.get 0 call $host i32.const 2 i32.add)
  (func $c (export "c") (param i32) (result i32) local.get 0 call $d)
  (func $d (export "d") (param i32) (result i32) i32.const 100 local.get 0 i32.div_u)
)
"""


def _rec(tier="jit", host=None, **kw):
    e = Engine(tier=tier, **kw)
    m = Module(e, wat2wasm(REC))
    lk = Linker(e)
    lk.define_func("env", "host", FuncType((I32,), (I32,)), host or (lambda x: x * 10))
    return e, m, lk.instantiate(m)


def test_infinite_recursion_traps_and_engine_survives():
    e, m, i = _rec()
    with pytest.raises(Trap) as ex:
        i.exports["inf"](0)
    assert "call stack exhausted" in str(ex.value)
    assert all(f[1] == '"inf"' for f in ex.value.frames[:5])
    assert i.exports["fib"](20) == 6765          # still usable
    assert e.thread.nframes == 0 and e.thread.sp == 0


def test_infinite_recursion_hits_the_c_stack_limit():
    # a frame limit far above what the C stack holds: the native stack check must trap
    e, m, i = _rec(max_call_depth=5_000_000, value_stack_slots=1 << 25)
    with pytest.raises(Trap) as ex:
        i.exports["inf"](0)
    assert "call stack exhausted" in str(ex.value)
    assert len(ex.value.frames) < 5_000_000
    assert i.exports["fib"](15) == 610


def test_recursion_in_subprocess_process_alive():
    code = ("from tests.test_jit import _rec\nfrom wizardpy import Trap\n"
            "e, m, i = _rec(max_call_depth=10**7, value_stack_slots=1 << 26)\n"
            "try:\n    i.exports['inf'](0)\nexcept Trap as t:\n    print('trap', str(t).split(chr(10))[0])\n")
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       timeout=300, env={"PYTHONPATH": f"{ROOT}:{ROOT / 'tests'}"})
    assert p.returncode == 0, p.stderr[-2000:]
    assert "trap call stack exhausted" in p.stdout


def _names(frames):
    return [f[1] for f in frames]


def test_backtrace_crosses_jit_interp_host():
    """jit $a -> interpreted $b (invalidated) -> host -> jit $c -> jit $d traps."""
    holder = {}

    def host(x):
        return holder["c"](0)         # re-enters Wasm: $c -> $d divides by zero

    e, m, i = _rec(host=host)
    holder["c"] = i.exports["c"]
    b_idx = next(k for k in range(m.num_funcs) if m.func_name(k) == '"b"')
    e.jit.invalidate(m, b_idx)
    assert i.exports["b"]._ptr.jit_entry == e.ffi.NULL
    assert i.exports["a"]._ptr.jit_entry != e.ffi.NULL
    with pytest.raises(Trap) as ex:
        i.exports["a"](1)
    assert "integer divide by zero" in str(ex.value)
    # innermost first: the nested invocation's frames, then the outer ones (through the host)
    assert _names(ex.value.frames)[:2] == ['"d"', '"c"']
    # a normal result across all three kinds of frames
    e2, m2, i2 = _rec(host=lambda x: x * 10)
    e2.jit.invalidate(m2, b_idx)
    assert i2.exports["a"](4) == 43


def test_host_sees_backtrace_of_compiled_frames():
    seen = {}

    def host(x):
        seen["bt"] = e.current_backtrace()
        return x

    e, m, i = _rec(host=host)
    assert i.exports["a"](3) == 6
    names = _names(seen["bt"])
    assert names == ['"b"', '"a"']
    pcs = [f[2] for f in seen["bt"]]
    assert all(pc > 0 for pc in pcs)


def test_trap_location_pc_matches_interpreter():
    res = {}
    for tier in ("int", "jit"):
        e, m, i = _rec(tier=tier)
        with pytest.raises(Trap) as ex:
            i.exports["c"](0)
        res[tier] = ex.value.frames
    assert res["int"] == res["jit"]


def test_tiered_compiles_after_threshold():
    e, m, i = _rec(tier="tiered", jit_threshold=5)
    fib = i.exports["fib"]
    assert fib._ptr.jit_entry == e.ffi.NULL
    for _ in range(4):
        fib(1)                    # 4 calls in the interpreter
    assert fib._ptr.jit_entry == e.ffi.NULL and e.jit.tier_ups == 0
    fib(1)                        # the 5th call compiles fib (only fib: per function)
    assert fib._ptr.jit_entry != e.ffi.NULL and e.jit.tier_ups == 1
    assert e.jit.stats[-1].funcs == 1
    assert fib(20) == 6765


def test_tiered_tiers_up_inside_the_interpreter():
    """Calls counted by the interpreter (not only calls from Python) trigger the compilation."""
    e, m, i = _rec(tier="tiered", jit_threshold=5)
    fib = i.exports["fib"]
    assert fib(10) == 55          # 177 calls: compiled during the first invocation
    assert fib._ptr.jit_entry != e.ffi.NULL and e.jit.tier_ups == 1


# ---- probes in compiled code ---------------------------------------------------------------

PROBED = r"""
(module
  (func $sum (export "sum") (param i32) (result i32) (local i32)
    block loop
      local.get 0 i32.eqz br_if 1
      local.get 1 local.get 0 i32.add local.set 1
      local.get 0 i32.const 1 i32.sub local.set 0
      br 0
    end end
    local.get 1)
)
"""


def test_probes_compiled_in_and_invalidated_on_change():
    from wizardpy import CountProbe, FuncProbe

    e = Engine(tier="jit")
    m = Module(e, wat2wasm(PROBED))
    fc = m.code_of(0)
    add_pc = next(pc for pc, op in fc.instrs if op == 0x6A)
    seen = []

    def cb(loc):
        fr = loc.frame
        seen.append((fr.get_local(0), fr.get_local(1), fr.get_operand(0), fr.get_operand(1)))

    count = CountProbe()
    fp = FuncProbe(cb)
    e.instrument.insert(m, 0, add_pc, fp)
    e.instrument.insert(m, 0, 0, count)            # entry probe
    i = Linker(e).instantiate(m)
    assert i.exports["sum"]._ptr.jit_entry != e.ffi.NULL
    assert i.exports["sum"](3) == 6
    assert seen == [(3, 0, 3, 0), (2, 3, 2, 3), (1, 5, 1, 5)]
    assert count.count == 1
    n = len(e.jit.stats)
    e.instrument.remove(m, 0, add_pc, fp)          # invalidates; recompiled on the next call
    assert i.exports["sum"]._ptr.jit_entry == e.ffi.NULL
    assert i.exports["sum"](4) == 10
    assert len(e.jit.stats) == n + 1 and i.exports["sum"]._ptr.jit_entry != e.ffi.NULL
    assert len(seen) == 3 and count.count == 2


def test_probe_writer_changes_compiled_local():
    from wizardpy import FuncProbe

    e = Engine(tier="jit")
    m = Module(e, wat2wasm(PROBED))
    fc = m.code_of(0)
    add_pc = next(pc for pc, op in fc.instrs if op == 0x6A)

    def cb(loc):
        loc.frame.writer().set_operand(0, 100)      # the addend becomes 100

    e.instrument.insert(m, 0, add_pc, FuncProbe(cb))
    i = Linker(e).instantiate(m)
    assert i.exports["sum"](3) == 300


# ---- workloads: identical stdout under the JIT ----------------------------------------------

sys.path.insert(0, str(Path(__file__).resolve().parent))
import test_workloads as tw  # noqa: E402

_JIT_RUNNER = tw._WIZARDPY_RUNNER.replace("engine = Engine()", "engine = Engine(tier='jit')")


@pytest.mark.parametrize("name", tw.NAMES)
def test_workload_parity_jit(name):
    ref = tw.load_ref(name)
    size = getattr(ref, "PARITY_SIZE", ref.SIZE)
    path = tw.wasm_path(name)
    argv = tw.workload_argv(name, size)
    expected = tw.run_wasmtime(str(path), tuple(argv))
    proc = subprocess.run([sys.executable, "-c", _JIT_RUNNER, str(path), *argv],
                          capture_output=True, timeout=900, cwd=str(ROOT))
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-4000:]
    assert proc.stdout.decode("utf-8") == expected


# ---- dynamic changes in running compiled frames: deoptimization; OSR ------------------------

DEOPT = r"""
(module
  (func $tick (param i32) (result i32) local.get 0)
  (func $run (export "run") (param $n i32) (result i32) (local $i i32) (local $s i32)
    loop $l
      local.get $i call $tick drop
      local.get $s local.get $i i32.add local.set $s
      local.get $i i32.const 1 i32.add local.tee $i
      local.get $n i32.lt_s br_if $l
    end
    local.get $s)
  (func $g (result i32) i32.const 7)
  (func $caller (export "caller") (result i32) (local $x i32)
    i32.const 5 local.set $x
    call $g
    local.get $x i32.add)
)
"""


def _deopt_env(**kw):
    e = Engine(**({"tier": "jit"} | kw))
    m = Module(e, wat2wasm(DEOPT))
    e.instrument                                   # frame state at calls (FrameAccessor)
    i = Linker(e).instantiate(m)
    return e, m, i


@pytest.mark.parametrize("kw", [{}, {"tier": "tiered", "jit_threshold": 1}])
def test_probe_inserted_into_running_compiled_function_fires(kw):
    from wizardpy import FuncProbe

    e, m, i = _deopt_env(**kw)
    run = i.exports["run"]
    assert run(3) == 3                             # compiled now (both configurations)
    assert run._ptr.jit_entry != e.ffi.NULL
    fc = m.code_of(1)
    add_pc = next(pc for pc, op in fc.instrs if op == 0x6A)   # s + i
    fired = []
    state = {"n": 0}

    def in_tick(loc):                              # a probe in the callee $tick ...
        state["n"] += 1
        if state["n"] == 4:                        # ... inserts one into the running $run
            e.instrument.insert(m, 1, add_pc, FuncProbe(lambda l: fired.append(l.frame.get_local(1))))
    e.instrument.insert(m, 0, 0, FuncProbe(in_tick))
    d0 = e.thread.jit_deopts
    assert run(10) == 45
    assert fired == [3, 4, 5, 6, 7, 8, 9]          # from the same iteration on, same invocation
    assert e.thread.jit_deopts > d0                # the compiled frame left its stale code


def test_probe_removed_from_running_compiled_frame_stops_firing():
    from wizardpy import CountProbe, FuncProbe

    e, m, i = _deopt_env()
    fc = m.code_of(1)
    add_pc = next(pc for pc, op in fc.instrs if op == 0x6A)
    seen = []
    p = FuncProbe(lambda l: seen.append(l.frame.get_local(1)))
    e.instrument.insert(m, 1, add_pc, p)
    state = {"n": 0}

    def in_tick(loc):
        state["n"] += 1
        if state["n"] == 3:
            e.instrument.remove(m, 1, add_pc, p)
    e.instrument.insert(m, 0, 0, FuncProbe(in_tick))
    run = i.exports["run"]
    assert run(8) == 28
    assert seen == [0, 1]                           # iteration 2's tick removed it
    d0 = e.thread.jit_deopts
    assert run(8) == 28 and seen == [0, 1]
    assert e.jit.counters()["deoptimizations"] >= d0


def test_frame_writer_on_compiled_caller_frame_changes_result():
    from wizardpy import FuncProbe

    e, m, i = _deopt_env()
    caller = i.exports["caller"]
    assert caller() == 12 and caller._ptr.jit_entry != e.ffi.NULL

    def in_g(loc):                                  # $caller (compiled) is the caller frame
        c = loc.frame.caller()
        assert c.get_local(0) == 5
        c.writer().set_local(0, 100)
    e.instrument.insert(m, 2, 0, FuncProbe(in_g))
    d0 = e.thread.jit_deopts
    assert caller() == 107
    assert e.thread.jit_deopts == d0 + 1


LONG_LOOP = r"""
(module
  (func $main (export "main") (param $n i32) (result i64) (local $i i32) (local $s i64) (local $x i64)
    loop $l
      local.get $x i64.const 6364136223846793005 i64.mul i64.const 1442695040888963407 i64.add
      local.tee $x i64.const 33 i64.shr_u local.get $s i64.xor local.set $s
      local.get $i i32.const 1 i32.add local.tee $i
      local.get $n i32.lt_u br_if $l
    end
    local.get $s)
)
"""


def test_osr_in_long_loop_called_once():
    res = {}
    for tier in ("int", "tiered"):
        e = Engine(tier=tier, jit_osr=True)         # default thresholds
        i = Linker(e).instantiate(Module(e, wat2wasm(LONG_LOOP)))
        res[tier] = i.exports["main"](2_000_000)
        if tier == "tiered":
            c = e.jit.counters()
            assert c["OSR entries"] == 1 and c["OSR variants compiled"] == 1, c
    assert res["int"] == res["tiered"]


def test_tiered_faster_than_int_on_a_1s_workload(capsys):
    """A report, not a timed assertion (shared machines are noisy)."""
    import time

    n = 40_000_000                                  # ~1 s in the interpreter
    times = {}
    res = {}
    for tier in ("int", "tiered"):
        e = Engine(tier=tier, jit_osr=True)
        i = Linker(e).instantiate(Module(e, wat2wasm(LONG_LOOP)))
        t0 = time.perf_counter()
        res[tier] = i.exports["main"](n)
        times[tier] = time.perf_counter() - t0
    assert res["int"] == res["tiered"]
    with capsys.disabled():
        print(f"\nlong loop n={n}: int {times['int']:.3f} s, tiered {times['tiered']:.3f} s "
              f"({times['int'] / times['tiered']:.1f}x)")


def test_probe_aware_compilation_and_removal_restores_uninstrumented_ir():
    """Counters compile to an inline increment (no helper call), OperandProbes to a direct call
    with the top of stack (values as the interpreter gives them), removed probes to nothing: the
    recompiled IR is the uninstrumented IR (ARCHITECTURE §3)."""
    import re

    from wizardpy import CountMoreProbe, CountProbe, OperandProbe

    def ir(e, m):
        return re.sub(r"wasm\d+", "M", e.jit.last_ir[m])

    e = Engine(EngineConfig(tier="jit", jit_keep_ir=True))
    m = Module(e, wat2wasm(PROBED))
    i = Linker(e).instantiate(m)
    assert i.exports["sum"](3) == 6
    base = ir(e, m)
    fc = m.code_of(0)
    pcs = [pc for pc, _ in fc.instrs]
    brif = next(pc for pc, op in fc.instrs if op == 0x0D)
    counts = [CountProbe() for _ in pcs]
    more = CountMoreProbe(5)
    for pc, p in zip(pcs, counts):
        e.instrument.insert(m, 0, pc, p)
    e.instrument.insert(m, 0, 0, more)
    i.exports["sum"](1)                               # recompiled with the counters
    assert "wz_jit_probe" not in e.jit.last_ir[m].split("define", 1)[1]
    assert i.exports["sum"](3) == 6
    assert counts[0].count == 2 and more.count == 10      # two calls
    assert counts[2].count == (1 + 1) + (3 + 1)             # loop body: n + 1 per call
    seen = []
    op = OperandProbe(seen.append)
    e.instrument.insert(m, 0, brif, op)
    assert i.exports["sum"](2) == 3
    assert seen == [0, 0, 1]                          # i32.eqz of 2, 1, 0
    assert "ret" in e.jit.last_ir[m]
    for pc, p in zip(pcs, counts):
        e.instrument.remove(m, 0, pc, p)
    e.instrument.remove(m, 0, 0, more)
    e.instrument.remove(m, 0, brif, op)
    assert i.exports["sum"](4) == 10                  # recompiled without any probe
    assert ir(e, m) == base


MIXED = r"""
(module
  (memory 1)
  (func $h (param f64) (result f64) local.get 0 f64.const 2 f64.mul)
  (func $mix (export "mix") (param $n i32) (param $x f32) (result f64)
    (local $i i32) (local $a i64) (local $d f64) (local $f f32)
    loop $l
      local.get $a local.get $i i64.extend_i32_u i64.add local.set $a
      local.get $f local.get $x f32.add local.set $f
      local.get $d local.get $i f64.convert_i32_s call $h f64.add local.set $d
      local.get $i i32.const 8 i32.mul local.get $a i64.store
      local.get $i i32.const 1 i32.add local.tee $i
      local.get $n i32.lt_s br_if $l
    end
    local.get $d local.get $f f64.promote_f32 f64.add local.get $a f64.convert_i64_s f64.add
    i32.const 8 i64.load f64.convert_i64_s f64.add)
)
"""


@pytest.mark.parametrize("cfg", [{"tier": "jit"}, {"tier": "jit", "jit_max_generic_probes": 0},
                                 {"tier": "tiered", "jit_threshold": 1,
                                  "jit_max_generic_probes": None}])
def test_function_full_of_generic_probes_matches_interpreter(cfg):
    """A function with more generic probe sites than jit_max_generic_probes deoptimizes to fire
    them: every probe sees the interpreter's frames (locals of every type, operands), FrameWriter
    changes take effect, self-removing probes fire once, and the results are the
    interpreter's."""
    from wizardpy import FuncProbe

    def run(config):
        e = Engine(EngineConfig(**config))
        m = Module(e, wat2wasm(MIXED))
        seen = []
        visits = {}

        def record(loc):
            fr = loc.frame
            seen.append((loc.func, loc.pc, [fr.get_local(k) for k in range(fr.num_locals)],
                         [fr.get_operand(k) for k in range(fr.num_operands)]))

        fc = m.code_of(1)
        tee = next(pc for pc, op in fc.instrs if op == 0x22)       # local.tee $i

        def write(loc):
            visits[loc.pc] = visits.get(loc.pc, 0) + 1
            if visits[loc.pc] == 3:
                w = loc.frame.writer()
                w.set_local(4, 100.0)
                w.set_local(5, 0.5)
                w.set_operand(0, 5)                                  # i becomes 5

        once = []

        class Once(FuncProbe):
            def fire(self, loc):
                once.append(loc.pc)
                e.instrument.remove(m, loc.func, loc.pc, self)

        for f in (0, 1):
            for pc, _ in m.code_of(f).instrs:
                e.instrument.insert(m, f, pc, FuncProbe(record))
                e.instrument.insert(m, f, pc, Once(lambda loc: None))
        e.instrument.insert(m, 1, tee, FuncProbe(write))
        i = Linker(e).instantiate(m)
        r1 = i.exports["mix"](9, 0.25)
        r2 = i.exports["mix"](4, 1.5)
        return r1, r2, seen, sorted(once)

    ref = run({"tier": "int"})
    got = run(cfg)
    assert got[:2] == ref[:2]
    assert got[3] == ref[3]
    assert len(got[2]) == len(ref[2]) and got[2] == ref[2]


@pytest.mark.parametrize("cold_probes", [True, False])
def test_caller_locals_from_callee_probe(cold_probes):
    """A probe in a callee reads the compiled caller's locals of every type through caller()
    (each call writes only the locals changed since the last write) and writes them (the
    compiled frame deoptimizes), as in the interpreter; also in a function with many (never
    firing) generic probe sites."""
    from wizardpy import FuncProbe

    src = MIXED.replace("    loop $l\n", "    local.get $n i32.const 0 i32.lt_s if\n"
                        + "      local.get $i i32.const 1 i32.add local.set $i\n" * 6
                        + "    end\n    loop $l\n", 1)

    def run(config):
        e = Engine(EngineConfig(**config))
        m = Module(e, wat2wasm(src))
        seen = []
        n = {"calls": 0}

        def in_h(loc):
            c = loc.frame.caller()
            seen.append([c.get_local(k) for k in range(c.num_locals)])
            n["calls"] += 1
            if n["calls"] == 3:
                c.writer().set_local(4, 100.0)
                c.writer().set_local(5, 0.5)

        fc = m.code_of(1)
        k = next(k for k, (pc, op) in enumerate(fc.instrs) if op == 0x04)
        cold = [pc for pc, op in fc.instrs[k + 1:k + 25]]   # inside the never-taken `if`
        for pc in cold if cold_probes else ():
            e.instrument.insert(m, 1, pc, FuncProbe(lambda loc: seen.append("cold")))
        e.instrument.insert(m, 0, 0, FuncProbe(in_h))
        i = Linker(e).instantiate(m)
        d0 = e.thread.jit_deopts
        rs = [i.exports["mix"](7, 0.25), i.exports["mix"](3, 1.5)]
        return rs, seen, e.thread.jit_deopts - d0

    ref = run({"tier": "int"})
    got = run({"tier": "jit"})
    assert "cold" not in ref[1]
    assert got[0] == ref[0] and got[1] == ref[1]
    assert got[2] == 1                       # only the FrameWriter's


DIRTY = r"""
(module
  (func $g (param i32) (result i32) local.get 0)
  (func $f (export "f") (param $n i32) (result i32)
    (local $i i32) (local $a i32) (local $b i32) (local $c i64)
    i32.const 7 local.set $a
    i64.const 9 local.set $c
    i32.const 0 call $g drop
    loop $l
      local.get $i call $g drop
      local.get $i i32.const 1 i32.add local.set $i
      local.get $i i32.const 3 i32.eq if
        i32.const 5 local.set $b
      end
      local.get $b call $g drop
      local.get $a i32.const 2 i32.add local.set $a
      local.get $i local.get $n i32.lt_s br_if $l
    end
    local.get $a local.set $b
    local.get $c i64.const 1 i64.add local.set $c
    i32.const 0 call $g drop
    local.get $b)
)
"""


def test_caller_locals_written_only_when_changed():
    """Compiled frames write a local out before a call only if it changed since the last write
    on some path (labels merge, loop headers count the loop's sets): every probe still sees the
    interpreter's values, at calls and at a probe in the frame itself."""
    from wizardpy import FuncProbe

    def run(tier):
        e = Engine(tier=tier)
        m = Module(e, wat2wasm(DIRTY))
        seen = []

        def caller_locals(loc):
            c = loc.frame.caller()
            seen.append(("g", [c.get_local(k) for k in range(c.num_locals)]))

        def own_locals(loc):
            fr = loc.frame
            seen.append((loc.pc, [fr.get_local(k) for k in range(fr.num_locals)]))

        e.instrument.insert(m, 0, 0, FuncProbe(caller_locals))
        fc = m.code_of(1)
        adds = [pc for pc, op in fc.instrs if op == 0x6A]
        e.instrument.insert(m, 1, adds[0], FuncProbe(own_locals))
        i = Linker(e).instantiate(m)
        return i.exports["f"](6), seen

    ref = run("int")
    assert run("jit") == ref
    assert len(ref[1]) == 6 * 3 + 2


CALLS = r"""
(module
  (func $div (export "div") (param i32 i32) (result i32)
    local.get 0 local.get 1 i32.div_s)
  (func $loop (export "loop") (param $n i32) (param $d i32) (result i32)
    (local $i i32) (local $s i32)
    loop $l
      local.get $s local.get $i local.get $d call $div i32.add local.set $s
      local.get $i i32.const 1 i32.add local.tee $i
      local.get $n i32.lt_s br_if $l
    end
    local.get $s))
"""


def test_a_callee_recompiled_alone_keeps_its_callers_code_valid():
    """Tier jit compiles a module whole (calls between its functions are direct). A callee
    recompiled alone later (its probes changed, and changed back) is reached from the callers'
    existing code through the dispatcher. The callers are not recompiled; results and the
    trap's backtrace (through the recompiled callee) equal the interpreter's."""
    from test_probes import fidx, inst_of

    from wizardpy.instrumentation import CountProbe
    out = {}
    for tier in ("int", "jit"):
        e = Engine(tier=tier)
        m = Module(e, wat2wasm(CALLS))
        inst = inst_of(e, m)
        assert inst.exports["loop"](50, 3) == sum(i // 3 for i in range(50))
        f = fidx(m, "div")
        c = CountProbe()
        e.instrument.insert(m, f, 0, c)                   # the callee changes: recompiled
        assert inst.exports["loop"](10, 2) == sum(i // 2 for i in range(10))
        assert c.count == 10
        e.instrument.remove(m, f, 0, c)                   # and back: recompiled again
        n = e.jit.functions_compiled if e.jit else 0
        assert inst.exports["loop"](20, 4) == sum(i // 4 for i in range(20))
        if e.jit:
            assert e.jit.functions_compiled == n + 1      # only the callee
            assert not e.jit.errors
        with pytest.raises(Trap) as ti:
            inst.exports["loop"](5, 0)
        out[tier] = (ti.value.args[0], [(fr[0], fr[2]) for fr in ti.value.frames])
    assert out["jit"] == out["int"]
    assert [fi for fi, _ in out["int"][1]] == [fidx(m, "div"), fidx(m, "loop")]


# ---- lean code (compiler.py lean_set): no wz_frame, arguments and results in registers -------

LEAN = r"""
(module
  (import "env" "host" (func $host (param i32) (result i32)))
  (memory 1)
  ;; $top (not lean: it calls the host) -> $mid (lean, a loop) -> $leaf (lean): $leaf traps
  ;; when its argument is the trap value, in the way chosen by `kind`
  (func $leaf (param $x i32) (param $kind i32) (result i32 i64)
    local.get $x i32.const 0 i32.lt_s if
      local.get $kind
      br_table 0 1 2 3
    end
    local.get $x i32.const 3 i32.mul
    local.get $x i64.extend_i32_u i64.const 7 i64.mul)
  (func $mid (param $n i32) (param $trap_at i32) (param $kind i32) (result i32)
    (local $i i32) (local $s i32)
    loop $l
      local.get $i local.get $trap_at i32.eq if (result i32) i32.const -1 else local.get $i end
      local.get $kind call $leaf
      i32.wrap_i64 i32.add local.get $s i32.add local.set $s
      local.get $i i32.const 1 i32.add local.tee $i
      local.get $n i32.lt_u br_if $l
    end
    local.get $s)
  (func $trap_kinds (param $k i32)
    block block block block
      local.get $k br_table 0 1 2 3
    end unreachable end
      i32.const 1 i32.const 0 i32.div_u drop return end
      i32.const 70000 i32.load drop return end
    i32.const 1 drop)
  (func $top (export "top") (param $n i32) (param $trap_at i32) (param $kind i32) (result i32)
    local.get $n call $host drop
    local.get $n local.get $trap_at local.get $kind call $mid)
  (func $rec (export "rec") (param $n i32) (result i32)
    local.get $n i32.eqz if (result i32) i32.const 1 i32.const 0 i32.div_u else
      local.get $n i32.const 1 i32.sub call $rec i32.const 1 i32.add end)
  (func $inf (export "inf") (param i64 f64 f32) (result f64)
    local.get 0 i64.const 1 i64.add local.get 1 local.get 2 call $inf)
)
"""


def _lean(tier, host=None, before=None, **kw):
    e = Engine(tier=tier, **({"jit_threshold": 1} if tier == "tiered" else {}), **kw)
    m = Module(e, wat2wasm(LEAN.replace("br_table 0 1 2 3\n    end\n    local.get $x",
                                        "call $trap_kinds\n    end\n    local.get $x")))
    if before is not None:
        before(e, m)
    lk = Linker(e)
    lk.define_func("env", "host", FuncType((I32,), (I32,)), host or (lambda x: x))
    return e, m, lk.instantiate(m)


@pytest.mark.parametrize("kind", [0, 1, 2, 3], ids=["unreachable", "div", "oob", "none"])
def test_lean_code_traps_with_the_interpreters_backtrace(kind):
    """Traps inside lean code (three lean frames deep, in a loop, and in a recursion 50 deep):
    message, backtrace (functions and pcs) and the results after it equal the interpreter's;
    lean code wrote its frames only on the way out."""
    def run(tier):
        e, m, i = _lean(tier)
        out = []
        for f, args in (("top", (10, 4, kind)), ("top", (10, 0, kind)), ("top", (6, 99, kind)),
                        ("rec", (50,))):
            try:
                out.append(i.exports[f](*args))
            except Trap as t:
                out.append((str(t).split("\n")[0], t.frames))
        assert e.thread.nframes == 0
        if e.jit is not None:
            assert not e.jit.errors
            # tier jit: $leaf $mid $trap_kinds $rec $inf (one LLVM module); tiered: each
            # function alone, so only $rec (it calls nothing but itself)
            assert e.jit.lean_compiled >= (5 if tier == "jit" else 1)
        return out
    want = run("int")
    if kind < 3:
        assert _names(want[0][1]) == ['"trap_kinds"', '"leaf"', '"mid"', '"top"']
        assert len(want[3][1]) == 51
    else:
        # $leaf(x) = (3x, 7x as i64): each iteration adds 10x; x = -1 at trap_at
        assert want[:3] == [10 * (45 - 4) - 10, 10 * 45 - 10, 10 * 15]
    assert run("jit") == want
    assert run("tiered") == want


@pytest.mark.parametrize("limit", [{"max_call_depth": 300}, {"value_stack_slots": 3000}])
def test_lean_recursion_exhausts_the_stack_where_the_interpreter_does(limit):
    """An endless lean recursion (arguments i64, f64, f32) traps "call stack exhausted" at the
    same depth as in the interpreter, with the same backtrace; the engine stays usable."""
    res = {}
    for tier in ("int", "jit", "tiered"):
        e, m, i = _lean(tier, **limit)
        with pytest.raises(Trap) as ex:
            i.exports["inf"](0, 1.5, 2.5)
        assert "call stack exhausted" in str(ex.value)
        res[tier] = ex.value.frames
        assert i.exports["top"](5, 99, 0) == 100
    assert len(res["int"]) > 100
    assert res["jit"] == res["int"] and res["tiered"] == res["int"]


@pytest.mark.parametrize("kind", ["operand", "func"])
def test_probe_inserted_into_lean_callee_fires_from_then_on(kind):
    """A probe inserted (by a host function, while Wasm runs) into a function that compiled lean
    code calls two levels down fires at that function's next activation in the same run: the
    lean code calling it is invalid from then on (its callers take the dispatcher). Then the
    same between runs, after a removal, and the results equal the interpreter's. (An
    OperandProbe; a FuncProbe while another one already inspects frames: neither makes the JIT
    recompile everything.)"""
    from wizardpy import FuncProbe, OperandProbe

    def run(tier):
        state = {}
        fired = []

        def host(x):
            if x == 7:
                leaf = state["m"].func_index("leaf")
                if kind == "operand":
                    pc = state["m"].code_of(leaf).instrs[1][0]      # top: $x
                    state["p"] = OperandProbe(fired.append)
                else:
                    pc = 0
                    state["p"] = FuncProbe(lambda loc: fired.append(loc.frame.get_local(0)))
                state["pc"] = pc
                state["e"].instrument.insert(state["m"], leaf, pc, state["p"])
            return x
        def before(e, m):            # (compiled with it: the whole module at once)
            if kind == "func":
                e.instrument.insert(m, m.func_index("top"), 0, FuncProbe(lambda loc: None))
        e, m, i = _lean(tier, host=host, before=before)
        state.update(e=e, m=m)
        assert tier != "jit" or e.jit.lean_compiled >= 5     # compiled at instantiation
        out = [i.exports["top"](4, 99, 0), i.exports["top"](3, 99, 0)]
        assert fired == []
        out.append(i.exports["top"](7, 99, 0))         # the host inserts it, $mid calls $leaf
        out.append(list(fired))
        out.append(i.exports["top"](3, 99, 0))
        out.append(list(fired))
        e.instrument.remove(m, m.func_index("leaf"), state["pc"], state["p"])
        out.append(i.exports["top"](3, 99, 0))
        out.append(list(fired))
        assert e.jit is None or not e.jit.errors
        return out
    want = run("int")
    assert want[3] == list(range(7))
    assert run("jit") == want
    assert run("tiered") == want


GROWING = r"""
(module
  (memory (export "memory") 1 16)
  (func $g (result i32) i32.const 1 memory.grow)
  (func (export "walk") (param $base i32) (param $d i32) (result i64)
    (local $i i32) (local $a i32) (local $acc i64)
    local.get $base i64.load local.set $acc
    loop $l
      ;; a bounds check against the memory size at this point (the address is not a constant)
      local.get $base i64.load local.get $acc i64.add local.set $acc
      GROW
      ;; the last 8 bytes of the grown memory, shifted by $d
      local.get $i i32.const 2 i32.add i32.const 16 i32.shl i32.const 8 i32.sub
      local.get $d i32.add local.tee $a
      local.get $a i64.load local.get $i i64.extend_i32_u i64.add i64.store
      local.get $a i64.load offset=0 local.get $acc i64.add local.set $acc
      local.get $i i32.const 1 i32.add local.tee $i
      i32.const 6 i32.lt_u br_if $l
    end
    local.get $acc)
  (func (export "far") (param $a i32) (result i64)
    local.get $a i64.load offset=4294967288)
)
"""
# how the memory grows between the two accesses of an iteration (no label in between)
GROWS = {"memory.grow": "i32.const 1 memory.grow drop", "call": "call $g drop",
         "probe": "nop"}        # a probe at the nop grows it from Python


@pytest.mark.parametrize("mode", ["memory.grow", "call", "probe"])
def test_bounds_checks_follow_memory_growth(mode):
    """Compiled bounds checks compare each address against `memory size - access end`,
    computed once per memory size: after memory.grow, a call that grows, or a Python probe
    that grows (each between two checks of one loop iteration), the checks use the new size
    (an access just inside the grown memory runs, one byte further traps), in every tier
    alike; so do offsets larger than the memory and addresses near 2^32."""
    from wizardpy import FuncProbe
    from test_probes import TIER_CONFIGS

    def fresh(cfg):
        e = Engine(**cfg)
        m = Module(e, wat2wasm(GROWING.replace("GROW", GROWS[mode])))
        i = Linker(e).instantiate(m)
        if mode == "probe":
            f = next(x.index for x in m.defn.exports if x.name == "walk")
            nop = next(pc for pc, op in m.code_of(f).instrs if op == 0x01)
            mem = i.exports["memory"]
            e.instrument.insert(m, f, nop, FuncProbe(lambda loc: mem.grow(1)))
        return i

    def outcome(fn, *args):
        try:
            return fn(*args)
        except Trap as t:
            return str(t).split("\n")[0]

    want = None
    for tier, cfg in TIER_CONFIGS.items():
        got = []
        for d in (0, -3, 1):        # a fresh memory of 1 page each time
            i = fresh(cfg)
            got.append(outcome(i.exports["walk"], 65528, d))
            got.append(i.exports["memory"].size)
        for a in (0, 7, 8, 0xFFFFFFFF):
            got.append(outcome(i.exports["far"], a))
        if want is None:
            want = got
            assert isinstance(got[0], int) and isinstance(got[2], int)   # inside: runs
            assert got[1] == got[3] == 7
            assert "out of bounds" in got[4] and got[5] == 2             # 1 byte over: traps
            assert all("out of bounds" in g for g in got[6:])
        assert got == want, tier
