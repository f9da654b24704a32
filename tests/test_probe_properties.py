"""Property tests of the instrumentation: random probes never change what a program computes,
and the native counters agree with independent counts.

Random plans (hypothesis) insert and remove counting, frame-reading and global probes at random
pcs and at random times — before instantiation, between calls and from inside firing probes —
in a few WAT programs with loops, calls, br_table, globals and memory, and in one small WASI
workload. Each instrumented run must give byte-identical results, output and memory to an
uninstrumented run; a CountProbe must equal a Python-counted FuncProbe inserted at the same
moment at the same pc; a global CountProbe must equal the sum of CountProbes at every pc.
"""
from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spec_cache import wat2wasm

from test_probes import TIER_CONFIGS, tier_engine
from wizardpy import Engine, ExitStatus, Linker, Module
from wizardpy.instrumentation import (CountMoreProbe, CountProbe, FuncProbe, HitProbe,
                                      OperandProbe, Probe, TallyProbe,
                                      StaleFrameError)

PROGRAMS = {
    "loops_calls_memory": (r"""
(module
  (memory (export "memory") 1)
  (global $acc (mut i64) (i64.const 0))
  (table 3 funcref)
  (elem (i32.const 0) $sq $tri $neg)
  (type $un (func (param i32) (result i32)))
  (func $sq (param i32) (result i32) local.get 0 local.get 0 i32.mul)
  (func $tri (param i32) (result i32) local.get 0 local.get 0 i32.const 1 i32.add i32.mul i32.const 1 i32.shr_u)
  (func $neg (param i32) (result i32) i32.const 0 local.get 0 i32.sub)
  (func $fill (param $n i32) (local $i i32)
    loop $l
      local.get $i i32.const 4 i32.mul
      local.get $i local.get $i i32.const 3 i32.rem_u call_indirect (type $un)
      i32.store
      local.get $i i32.const 1 i32.add local.tee $i
      local.get $n i32.lt_u br_if $l
    end)
  (func $fib (param i32) (result i32)
    local.get 0 i32.const 2 i32.lt_u
    if (result i32) local.get 0
    else local.get 0 i32.const 1 i32.sub call $fib local.get 0 i32.const 2 i32.sub call $fib i32.add
    end)
  (func $classify (param i32) (result i32)
    block $d block $c block $b block $a
      local.get 0 i32.const 3 i32.and br_table $a $b $c $d
    end i32.const 10 return
    end i32.const 20 return
    end local.get 0 call $fib return
    end local.get 0 i32.const 7 i32.mul)
  (func (export "run") (param $n i32) (result i32) (local $i i32) (local $s i32)
    local.get $n call $fill
    loop $l
      local.get $s
      local.get $i i32.const 4 i32.mul i32.load
      local.get $i call $classify i32.add i32.add local.set $s
      global.get $acc local.get $s i64.extend_i32_s i64.add global.set $acc
      local.get $i i32.const 1 i32.add local.tee $i
      local.get $n i32.lt_u br_if $l
    end
    local.get $s global.get $acc i32.wrap_i64 i32.xor)
)""", "run", [(12,), (17,), (3,)]),
    "floats_select": (r"""
(module
  (memory (export "memory") 1)
  (func $poly (param $x f64) (result f64)
    local.get $x local.get $x f64.mul f64.const 0.5 f64.mul local.get $x f64.sub f64.const 1.25 f64.add)
  (func (export "run") (param $n i32) (result f64) (local $i i32) (local $s f64) (local $v f64)
    block $out
      loop $l
        local.get $i local.get $n i32.ge_u br_if $out
        local.get $i f64.convert_i32_u f64.const 0.25 f64.mul call $poly local.set $v
        local.get $v local.get $s local.get $v local.get $s f64.gt select
        local.get $s f64.add local.set $s
        i32.const 64 local.get $i i32.const 7 i32.and i32.const 8 i32.mul i32.add local.get $s f64.store
        local.get $i i32.const 1 i32.add local.set $i
        br $l
      end
    end
    local.get $s)
)""", "run", [(25,), (9,)]),
}


# every property in every tier (the references are the uninstrumented int-tier runs)
TIERS = pytest.mark.parametrize("tier", list(TIER_CONFIGS))


def _mem_bytes(mem) -> bytes:
    return bytes(mem.data)


def run_program(name, plan=None, tier="int"):
    """Results, memory digest of the program; `plan(engine, module, phase)` instruments it."""
    wat, export, calls = PROGRAMS[name]
    e = tier_engine(tier)
    m = Module(e, _wasm(name))
    if plan:
        plan(e, m, "before")
    inst = Linker(e).instantiate(m)
    out = []
    for args in calls:
        if plan:
            plan(e, m, "between")
        out.append(inst.exports[export](*args))
    return out, hashlib.sha256(_mem_bytes(inst.exports["memory"])).hexdigest(), e, m


_WASM: dict = {}


def _wasm(name):
    if name not in _WASM:
        _WASM[name] = wat2wasm(PROGRAMS[name][0])
    return _WASM[name]


_REF: dict = {}


def reference(name):
    if name not in _REF:
        out, dig, _, _ = run_program(name)
        _REF[name] = (out, dig)
    return _REF[name]


class Counter(Probe):
    """An independent Python count, to compare with the native CountProbe."""

    def __init__(self):
        self.n = 0

    def fire(self, loc):
        self.n += 1


class Reader(Probe):
    """Reads everything the frame offers (and checks it is consistent); writes nothing."""

    def __init__(self, limit=None):
        self.limit = limit
        self.n = 0
        self.kept = None

    def fire(self, loc):
        self.n += 1
        fa = loc.frame
        assert fa.pc == loc.pc and fa.func == loc.func
        [fa.get_local(i) for i in range(fa.num_locals)]
        n = fa.num_operands
        assert len(fa.operand_types) == n
        [fa.get_operand(i) for i in range(n)]
        c = fa.caller()
        if c is not None:
            c.pc, c.num_operands, [c.get_local(i) for i in range(c.num_locals)]
        if self.kept is not None and self.kept is not fa:
            try:
                self.kept.get_local(0) if self.kept.num_locals else self.kept.pc
            except StaleFrameError:
                pass
        self.kept = fa


# A plan step: (kind, function choice, pc choice, time)
#   kind: count | countmore | reader | operand | pair (CountProbe + Counter, compared) |
#         hit (HitProbe + Counter: hit exactly when the Counter counted) |
#         tally (TallyProbe(k) + an OperandProbe counting the same, where the top is an i32) |
#         inserter (a probe that inserts a pair elsewhere on its k-th firing) |
#         remover (removes a random earlier probe on its k-th firing) | global_count |
#         global_reader (a global Python probe that removes itself after a few firings)
#   time: "before" | "between" (i-th boundary) | via an inserter
STEP = st.tuples(
    st.sampled_from(["count", "countmore", "reader", "operand", "pair", "pair", "hit", "hit",
                     "tally", "tally", "inserter", "remover", "global_count", "global_reader"]),
    st.integers(0, 1 << 30), st.integers(0, 1 << 30), st.integers(0, 3), st.integers(1, 40))


class Plan:
    def __init__(self, steps):
        self.steps = steps
        self.inserted = []           # (module, func, pc, probe) currently inserted locally
        self.pairs = []              # (CountProbe, Counter)
        self.hits = []               # (HitProbe, Counter, (func, pc))
        self.tallies = []            # (TallyProbe, OperandProbe, its counts)
        self.globals = []
        self.boundary = 0

    def loc(self, m, fchoice, pchoice):
        defined = [i for i in range(m.num_funcs) if m.code_of(i) is not None]
        f = defined[fchoice % len(defined)]
        pcs = [0] + [pc for pc, _ in m.code_of(f).instrs]
        return f, pcs[pchoice % len(pcs)]

    def ins(self, e, m, f, pc, p):
        e.instrument.insert(m, f, pc, p)
        self.inserted.append((m, f, pc, p))

    def apply(self, e, m, kind, fc, pcc, k):
        f, pc = self.loc(m, fc, pcc)
        if kind == "count":
            self.ins(e, m, f, pc, CountProbe())
        elif kind == "countmore":
            self.ins(e, m, f, pc, CountMoreProbe(k))
        elif kind == "reader":
            self.ins(e, m, f, pc, Reader())
        elif kind == "operand":
            self.ins(e, m, f, pc, OperandProbe(lambda v: None))
        elif kind == "pair":
            c, py = CountProbe(), Counter()
            self.ins(e, m, f, pc, c)
            self.ins(e, m, f, pc, py)
            self.pairs.append((c, py))
        elif kind == "hit":
            h, py = HitProbe(), Counter()
            self.ins(e, m, f, pc, h)
            self.ins(e, m, f, pc, py)
            self.hits.append((h, py, (f, pc)))
        elif kind == "tally":
            t = TallyProbe(k % 5 + 1)
            try:
                self.ins(e, m, f, pc, t)
            except ValueError:          # the top of the stack there is not an i32
                return
            counts = [0] * t.n

            def cb(v, counts=counts, n=t.n):
                counts[min(v & 0xFFFFFFFF, n - 1)] += 1
            op = OperandProbe(cb)
            self.ins(e, m, f, pc, op)
            self.tallies.append((t, op, counts))
        elif kind == "inserter":
            f2, pc2 = self.loc(m, fc >> 7, pcc >> 7)
            state = {"n": 0}

            def fire(loc, f2=f2, pc2=pc2, k=k):
                state["n"] += 1
                if state["n"] == k:
                    c, py = CountProbe(), Counter()
                    self.ins(e, m, f2, pc2, c)
                    self.ins(e, m, f2, pc2, py)
                    self.pairs.append((c, py))
            self.ins(e, m, f, pc, FuncProbe(fire))
        elif kind == "remover":
            state = {"n": 0}

            def fire(loc, k=k, pick=pcc):
                state["n"] += 1
                if state["n"] == k and self.inserted:
                    mm, ff, pp, pr = self.inserted.pop(pick % len(self.inserted))
                    e.instrument.remove(mm, ff, pp, pr)
                    self.pairs = [(c, py) for c, py in self.pairs if c is not pr and py is not pr]
                    self.hits = [x for x in self.hits if pr is not x[0] and pr is not x[1]]
                    self.tallies = [x for x in self.tallies
                                    if pr is not x[0] and pr is not x[1]]
            self.ins(e, m, f, pc, FuncProbe(fire))
        elif kind == "global_count":
            g = CountProbe()
            e.instrument.insert_global(g)
            self.globals.append(g)
        elif kind == "global_reader":
            r = Reader()

            def fire(loc, k=k * 5):
                r.fire(loc)
                if r.n >= k:
                    e.instrument.remove_global(gp)
            gp = FuncProbe(fire)
            e.instrument.insert_global(gp)

    def __call__(self, e, m, phase):
        for kind, fc, pcc, when, k in self.steps:
            if phase == "before" and when == 0:
                self.apply(e, m, kind, fc, pcc, k)
            elif phase == "between" and when == self.boundary + 1:
                self.apply(e, m, kind, fc, pcc, k)
        if phase == "between":
            self.boundary += 1

    def check_pairs(self):
        for c, py in self.pairs:
            assert c.count == py.n, (c, py.n)
        for h, py, loc in self.hits:
            assert h.hits == ({loc} if py.n else set()), (h.hits, py.n, loc)
        for t, _, counts in self.tallies:
            assert t.counts == counts, (t, counts)


@TIERS
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(PROGRAMS)), steps=st.lists(STEP, min_size=1, max_size=12))
def test_random_probes_are_non_intrusive(name, steps, tier):
    ref_out, ref_mem = reference(name)
    plan = Plan(steps)
    out, mem, e, m = run_program(name, plan, tier)
    assert out == ref_out
    assert mem == ref_mem
    plan.check_pairs()


@TIERS
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_global_count_equals_sum_of_local_counts(name, tier):
    counts = {}

    def plan(e, m, phase):
        if phase != "before":
            return
        for f in range(m.num_funcs):
            fc = m.code_of(f)
            if fc is None:
                continue
            for pc, _ in fc.instrs:
                counts[(f, pc)] = p = CountProbe()
                e.instrument.insert(m, f, pc, p)
        counts["global"] = g = CountProbe()
        e.instrument.insert_global(g)
    out, mem, e, m = run_program(name, plan, tier)
    g = counts.pop("global").count
    assert out == reference(name)[0] and mem == reference(name)[1]
    assert g == sum(p.count for p in counts.values()) > 0


@TIERS
@settings(max_examples=15, deadline=None)
@given(name=st.sampled_from(sorted(PROGRAMS)), start=st.integers(1, 60), stop=st.integers(1, 200))
def test_global_count_inserted_mid_run_matches_python_global_count(name, start, stop, tier):
    """A global CountProbe and a global Python counter inserted by the same local probe at the
    same moment, removed by a probe later, see exactly the same instructions."""
    box = {}

    def plan(e, m, phase):
        if phase != "before":
            return
        f = next(i for i in range(m.num_funcs) if m.code_of(i) is not None and i > 0)
        fc = m.code_of(f)
        pcs = [pc for pc, _ in fc.instrs]
        state = {"n": 0}
        g, py = CountProbe(), Counter()
        box["g"], box["py"] = g, py

        def toggler(loc):
            state["n"] += 1
            if state["n"] == start:
                e.instrument.insert_global(g)
                e.instrument.insert_global(py)
            if state["n"] == start + stop:
                e.instrument.remove_global(g)
                e.instrument.remove_global(py)
        e.instrument.insert(m, f, pcs[len(pcs) // 2], FuncProbe(toggler))
    out, mem, e, m = run_program(name, plan, tier)
    assert out == reference(name)[0] and mem == reference(name)[1]
    assert box["g"].count == box["py"].n


# ---- a WASI workload --------------------------------------------------------------------------

WORKLOAD = Path(__file__).resolve().parent.parent / "workloads" / "policy-cliff" / "policy-cliff.wasm"


def run_workload(plan=None, tier="int"):
    from wizardpy import WasiConfig

    e = tier_engine(tier)
    m = Module.from_file(e, WORKLOAD)
    if plan:
        plan(e, m, "before")
    ln = Linker(e)
    out = io.BytesIO()
    ln.define_wasi(WasiConfig(argv=["policy-cliff", "1"], stdout=out))
    inst = ln.instantiate(m)
    code = 0
    try:
        inst.exports["_start"]()
    except ExitStatus as x:
        code = getattr(x, "code", x.args[0] if x.args else 1)
    mem = inst.exports.get("memory")
    return out.getvalue(), code, hashlib.sha256(_mem_bytes(mem)).hexdigest() if mem else "", e, m


_WL_REF: list = []


@TIERS
@pytest.mark.skipif(not WORKLOAD.is_file(), reason="workload not present")
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(st.tuples(st.sampled_from(["count", "countmore", "reader", "pair",
                                                  "inserter", "remover", "global_count"]),
                                st.integers(0, 1 << 30), st.integers(0, 1 << 30),
                                st.just(0), st.integers(1, 40)), min_size=1, max_size=25))
def test_workload_non_intrusive(steps, tier):
    if not _WL_REF:
        _WL_REF.append(run_workload()[:3])
    ref = _WL_REF[0]

    # Python probes in a hot loop would take long: readers and counters stop after 30 firings
    class Bounded(Plan):
        def ins(self, e, m, f, pc, p):
            if isinstance(p, (Reader, Counter, FuncProbe)) and not isinstance(p, CountProbe):
                inner = p
                box = {"n": 0}

                def fire(loc, inner=inner):
                    box["n"] += 1
                    if box["n"] >= 30:
                        e.instrument.remove(m, f, pc, wrapper)
                    return inner.fire(loc)
                wrapper = FuncProbe(fire)
                e.instrument.insert(m, f, pc, wrapper)
                self.inserted.append((m, f, pc, wrapper))
                if isinstance(p, Counter):
                    # the pair's CountProbe keeps counting after the Counter stops: not comparable
                    self.pairs = [(c, q) for c, q in self.pairs if q is not p]
                return
            super().ins(e, m, f, pc, p)

    plan = Bounded(steps)
    out, code, mem, e, m = run_workload(plan, tier)
    assert (out, code, mem) == ref


@TIERS
def test_workload_global_count_equals_sum_of_local_counts(tier):
    if not WORKLOAD.is_file():
        pytest.skip("workload not present")
    counts = []
    box = {}

    def plan(e, m, phase):
        for f in range(m.num_funcs):
            fc = m.code_of(f)
            if fc is None:
                continue
            for pc, _ in fc.instrs:
                p = CountProbe()
                e.instrument.insert(m, f, pc, p)
                counts.append(p)
        box["g"] = CountProbe()
        e.instrument.insert_global(box["g"])
    out, code, mem, e, m = run_workload(plan, tier)
    if not _WL_REF:
        _WL_REF.append(run_workload()[:3])
    assert (out, code, mem) == _WL_REF[0]
    assert box["g"].count == sum(p.count for p in counts) > 1_000_000
