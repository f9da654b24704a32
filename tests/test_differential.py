"""Differential testing: random valid modules run in wizardpy (every tier) and in wasmtime.

Modules come from `tests/wasm_strategies.py` (hypothesis, valid by construction). For each
module a few exported `run<i>` functions are called, in order, with random arguments, in
wasmtime (the reference) and in wizardpy for every tier `Engine(tier=...)` accepts. Required:
- identical results: integers bit-exact; float results (returned as bit patterns) bit-exact
  unless the spec allows NaN nondeterminism for that result (`GenModule.result_kinds`): then a
  NaN matches a NaN of the same kind (canonical / arithmetic / any, see wasm_strategies);
- or both trap, with corresponding reasons (wasmtime trap codes mapped to the spec messages
  wizardpy uses);
- after every call: identical memory size and contents and identical globals (via `dump`).

`make test` runs a fixed-seed bounded campaign (derandomized); `make test-all` adds a 2,000+
example campaign (marked slow). Discrepancies found so far are minimised into named regression
tests at the bottom of this file.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wasmtime  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from wasm_strategies import (ANY, C, E, F32, F64, Q, is_arithmetic_nan, is_canonical_nan,  # noqa: E402
                             is_nan_bits, module_and_calls)

from wizardpy import Engine, Module, Trap  # noqa: E402
from wizardpy.engine import TIERS  # noqa: E402


# Tier variants: every tier Engine(tier=...) accepts, plus configurations worth comparing too.
VARIANTS = {
    "int": dict(tier="int"),
    "jit": dict(tier="jit"),
    # low thresholds so that the campaign's few calls and short loops cross them
    # (interpreter, then JIT code; loops continue in compiled code by OSR)
    "tiered": dict(tier="tiered", jit_threshold=2, jit_osr_threshold=2),
    "jit-O0": dict(tier="jit", jit_opt_level=0),
    "int-nofuse": dict(tier="int", superinstructions=False),
}
FAST_VARIANTS = ("int", "jit", "tiered")


def available_tiers() -> list[str]:
    """Every variant the engine accepts at run time ("int" always: failing to build it is an
    error, never a skip). New tiers in wizardpy.engine.TIERS are picked up automatically."""
    out = []
    names = list(VARIANTS) + [t for t in TIERS if t not in VARIANTS]
    for name in names:
        try:
            make_engine(name)
        except Exception:
            if name == "int":
                raise
            continue
        out.append(name)
    return out


def make_engine(name: str) -> Engine:
    return Engine(**VARIANTS.get(name, dict(tier=name)))


TIER_LIST = available_tiers()
FAST_TIERS = [t for t in TIER_LIST if t in FAST_VARIANTS or t not in VARIANTS]


# wasmtime trap code -> the spec message wizardpy reports (tests only use call_indirect on
# tables, whose out-of-range index is "undefined element" in the spec)
_TC = wasmtime.TrapCode
WASMTIME_TRAPS = {
    _TC.STACK_OVERFLOW: "call stack exhausted",
    _TC.MEMORY_OUT_OF_BOUNDS: "out of bounds memory access",
    _TC.TABLE_OUT_OF_BOUNDS: "undefined element",
    _TC.INDIRECT_CALL_TO_NULL: "uninitialized element",
    _TC.BAD_SIGNATURE: "indirect call type mismatch",
    _TC.INTEGER_OVERFLOW: "integer overflow",
    _TC.INTEGER_DIVISION_BY_ZERO: "integer divide by zero",
    _TC.BAD_CONVERSION_TO_INTEGER: "invalid conversion to integer",
    _TC.UNREACHABLE: "unreachable",
}


@dataclass
class Outcome:
    results: list | None          # raw ints (run<i> only returns i32/i64)
    trap: str | None
    memory: bytes
    globals: list

    def __repr__(self):
        return (f"Outcome(results={self.results!r}, trap={self.trap!r}, "
                f"mem={len(self.memory)}B, globals={self.globals!r})")


def _mask(vals, types):
    return [v & ((1 << (32 if t == "i32" else 64)) - 1) for v, t in zip(vals, types)]


def run_wasmtime(wasm: bytes, gm, calls) -> list[Outcome]:
    store = wasmtime.Store()
    module = wasmtime.Module(store.engine, wasm)
    inst = wasmtime.Instance(store, module, [])
    ex = inst.exports(store)
    mem = ex["memory"]
    dump = ex["dump"]
    dump_types = [str(t) for t in dump.type(store).results]
    out = []
    for i, args in calls:
        f = ex[f"run{i}"]
        rtypes = [str(t) for t in f.type(store).results]
        try:
            r = f(store, *args)
            r = [] if r is None else list(r) if isinstance(r, (list, tuple)) else [r]
            res, trap = _mask(r, rtypes), None
        except wasmtime.Trap as e:
            res, trap = None, WASMTIME_TRAPS.get(e.trap_code, f"wasmtime {e.trap_code}: {e.message}")
        d = dump(store)
        d = [] if d is None else list(d) if isinstance(d, (list, tuple)) else [d]
        out.append(Outcome(res, trap, bytes(mem.read(store, 0, mem.data_len(store))),
                           _mask(d, dump_types)))
    return out


def run_wizard(wasm: bytes, gm, calls, tier: str) -> list[Outcome]:
    engine = make_engine(tier)
    module = Module(engine, wasm)
    inst = engine_instantiate(engine, module)
    mem = inst.exports["memory"]
    dump = inst.exports["dump"]
    out = []
    for i, args in calls:
        f = inst.exports[f"run{i}"]
        try:
            res, trap = list(f.call_raw(args)), None
            res = _mask(res, [str(t) for t in f.type.results])
        except Trap as e:
            res, trap = None, e.reason
        d = _mask(list(dump.call_raw([])), [str(t) for t in dump.type.results])
        out.append(Outcome(res, trap, bytes(mem.read(0, mem.size * 65536)), d))
    return out


def engine_instantiate(engine, module):
    from wizardpy import Linker
    return Linker(engine).instantiate(module)


def float_matches(ty: str, kind: str, ref: int, got: int) -> bool:
    if ref == got:
        return True
    if kind == E:
        return False
    if not (is_nan_bits(ty, ref) and is_nan_bits(ty, got)):
        return False
    if kind == C:
        return is_canonical_nan(ty, got)
    if kind == Q:
        return is_arithmetic_nan(ty, got)
    return kind == ANY


def compare(gm, calls, ref: list[Outcome], got: list[Outcome], tier: str) -> list[str]:
    """Descriptions of every difference (empty: equivalent)."""
    diffs = []
    for n, ((i, args), a, b) in enumerate(zip(calls, ref, got)):
        where = f"[{tier}] call #{n} run{i}({', '.join(hex(x) for x in args)})"
        if (a.trap is None) != (b.trap is None):
            diffs.append(f"{where}: wasmtime {a.trap or a.results}, wizardpy {b.trap or b.results}")
            return diffs
        if a.trap is not None and a.trap != b.trap:
            diffs.append(f"{where}: trap reason wasmtime {a.trap!r}, wizardpy {b.trap!r}")
        if a.trap is None:
            kinds = gm.result_kinds(i)
            for k, ((ty, kind), x, y) in enumerate(zip(kinds, a.results, b.results)):
                ok = float_matches(ty, kind, x, y) if ty in (F32, F64) else x == y
                if not ok:
                    diffs.append(f"{where}: result {k} ({ty}, NaN kind {kind}): "
                                 f"wasmtime {x:#x}, wizardpy {y:#x}")
        if len(a.memory) != len(b.memory):
            diffs.append(f"{where}: memory size wasmtime {len(a.memory)}, wizardpy {len(b.memory)}")
            return diffs
        if a.memory != b.memory:
            first = next(k for k in range(len(a.memory)) if a.memory[k] != b.memory[k])
            diffs.append(f"{where}: memory differs from byte {first:#x}: wasmtime "
                         f"{a.memory[first:first + 8].hex()}, wizardpy {b.memory[first:first + 8].hex()}")
            return diffs
        if a.globals != b.globals:
            diffs.append(f"{where}: globals wasmtime {[hex(x) for x in a.globals]}, "
                         f"wizardpy {[hex(x) for x in b.globals]}")
            return diffs
    return diffs


def check(gm, calls, tiers=None):
    wasm = wasmtime.wat2wasm(gm.wat)
    ref = run_wasmtime(wasm, gm, calls)
    problems = []
    for tier in tiers or TIER_LIST:
        got = run_wizard(wasm, gm, calls, tier)
        problems += compare(gm, calls, ref, got, tier)
    assert not problems, "\n".join(problems) + "\n" + gm.wat


def check_wat(wat: str, calls, kinds=None, tiers=None):
    """Regression helper: a hand-written (minimised) WAT module, compared bit-exactly unless
    `kinds` (per export index: [(type, kind), ...]) says otherwise."""
    class _GM:
        pass
    gm = _GM()
    gm.wat = wat
    gm.result_kinds = lambda i: (kinds or {}).get(i, [("i64", E)] * 8)
    check(gm, calls, tiers)


COMMON = dict(deadline=None, suppress_health_check=list(HealthCheck), print_blob=True)


@settings(max_examples=150, derandomize=True, **COMMON)
@given(module_and_calls())
def test_differential(mc):
    check(*mc, tiers=FAST_TIERS)


@pytest.mark.slow
@settings(max_examples=2000, **COMMON)
@given(module_and_calls(max_calls=6))
def test_differential_slow(mc):
    check(*mc)


def test_tiers_include_int():
    assert "int" in TIER_LIST


def test_strategies_cover_everything():
    """The generator really emits the instruction families the campaign is about."""
    from hypothesis import find  # noqa: F401
    from wasm_strategies import modules
    seen = set()

    # generation only (nothing runs): enough examples that every rare family shows up
    @settings(max_examples=600, derandomize=True, **COMMON)
    @given(modules())
    def collect(gm):
        for tok in gm.wat.split():
            seen.add(tok)
    collect()
    text = " ".join(seen)
    for needle in ["i32.div_s", "i64.rem_u", "i32.rotl", "i64.popcnt", "i32.trunc_f",
                   "i64.trunc_sat_f", "f32.nearest", "f64.copysign", "f32.min",
                   "i64.extend32_s", "f64.reinterpret_i64", "call_indirect", "br_table",
                   "br_if", "loop", "memory.grow", "memory.fill", "memory.copy", "i64.load32_s",
                   "f64.store", "select", "local.tee", "global.set", "return"]:
        assert needle in text, needle


def test_float_literals_and_matching():
    """The generator's float literals are bit-exact (NaN payloads included) in both engines,
    and the NaN-kind comparison accepts exactly what the spec allows."""
    from wasm_strategies import SPECIAL, wat_const
    body = []
    for ty in (F32, F64):
        it = "i32" if ty == F32 else "i64"
        for b in SPECIAL[ty]:
            body.append(f"(func (export \"c{ty}_{b:x}\") (result {it}) "
                        f"{wat_const(ty, b)} {it}.reinterpret_{ty})")
    wat = "(module (memory (export \"memory\") 0) (func (export \"dump\"))\n" + \
        "\n".join(body) + ")"
    wasm = wasmtime.wat2wasm(wat)
    for tier in TIER_LIST:
        engine = make_engine(tier)
        inst = engine_instantiate(engine, Module(engine, wasm))
        for ty in (F32, F64):
            mask = (1 << (32 if ty == F32 else 64)) - 1
            for b in SPECIAL[ty]:
                assert inst.exports[f"c{ty}_{b:x}"].call_raw([])[0] & mask == b, (tier, ty, hex(b))
    assert float_matches(F32, C, 0x7FC00000, 0xFFC00000)
    assert not float_matches(F32, C, 0x7FC00000, 0x7FC00001)
    assert float_matches(F32, Q, 0x7FC00000, 0x7FC00001)
    assert not float_matches(F32, Q, 0x7FC00000, 0x7FA00000)      # signalling
    assert float_matches(F64, ANY, 0x7FF8000000000000, 0x7FF4000000000000)
    assert not float_matches(F64, ANY, 0x7FF8000000000000, 0x3FF0000000000000)
    assert not float_matches(F64, E, 0x7FF8000000000000, 0xFFF8000000000000)
