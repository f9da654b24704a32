"""Batch insertion and removal (`Instrumentation.insert_many` / `remove_many`,
docs/instrumentation.md): the same result as one `insert`/`remove` per location, in every tier,
validated before anything changes; and coverage's use of it (units, lazy per-function insertion)
stays exact when the program traps or exits in the middle of a basic block."""
from __future__ import annotations

import io

import pytest
from spec_cache import wat2wasm
from test_probes import SUM_FUNC

from wizardpy import Engine, ExitStatus, Linker, Module, Trap, WasiConfig
from wizardpy.instrumentation import CountMoreProbe, CountProbe, FuncProbe, OperandProbe, Probe
from wizardpy.monitor import Session, basic_blocks, defined_functions, instructions, load_monitor

WAT = r"""
(module
  (memory (export "memory") 1)""" + SUM_FUNC + r"""
  (func $add (export "add") (param i32 i32) (result i32)
    local.get 0 local.get 1 i32.add)
  (func $twice (export "twice") (param i32) (result i32)
    local.get 0 local.get 0 call $add)
  (func $never (export "never") (result i32)
    i32.const 1 i32.const 2 i32.add)
)
"""

TIERS = {"int": dict(tier="int"), "jit": dict(tier="jit"),
         "tiered": dict(tier="tiered", jit_threshold=1, jit_osr=True, jit_osr_threshold=1)}


@pytest.fixture(params=list(TIERS))
def env(request):
    e = Engine(**TIERS[request.param])
    return e, Module(e, wat2wasm(WAT))


def all_locs(m):
    """(func, pc) of every instruction and entry of every defined function."""
    return [(f, pc) for f in defined_functions(m)
            for pc in [0] + [pc for pc, _, _ in instructions(m, f)]]


def words(m):
    return [m._code[i] for i in range(m._code_total)]


class Rec(Probe):
    def __init__(self, log, tag):
        self.log, self.tag = log, tag

    def fire(self, loc):
        self.log.append((self.tag, loc.func, loc.pc))


def run_all(e, m):
    inst = Linker(e).instantiate(m)
    return [inst.exports["sum"](5), inst.exports["twice"](21)]


def test_batch_equals_one_by_one(env):
    """Every probe kind at every location: insert_many fires exactly what insert does, in the
    same order, with the same counts; the program computes the same."""
    e, m = env
    ref_e = Engine(tier="int")
    ref_m = Module(ref_e, wat2wasm(WAT))
    logs = ([], [])
    made = []
    for k, (ee, mm) in enumerate(((e, m), (ref_e, ref_m))):
        trip = []
        counts = []
        for f, pc in all_locs(mm):
            c, cm = CountProbe(), CountMoreProbe(3)
            counts.append((c, cm))
            trip += [(f, pc, Rec(logs[k], "a")), (f, pc, c), (f, pc, Rec(logs[k], "b")),
                     (f, pc, cm)]
        if k == 0:
            assert e.instrument.insert_many(m, trip) == len(trip)
        else:
            for f, pc, p in trip:
                ref_e.instrument.insert(ref_m, f, pc, p)
        made.append((counts, run_all(ee, mm)))
    assert logs[0] == logs[1] and len(logs[0]) > 50
    assert made[0][1] == made[1][1] == [10, 42]
    assert [(c.count, cm.count) for c, cm in made[0][0]] == \
        [(c.count, cm.count) for c, cm in made[1][0]]
    for (f, pc), (c, cm) in zip(all_locs(m), made[0][0]):
        assert cm.count == 3 * c.count
        kinds = [type(p).__name__ for p in e.instrument.probes_at(m, f, pc)]
        assert kinds == ["Rec", "CountProbe", "Rec", "CountMoreProbe"]


def test_one_probe_object_at_many_locations_and_order_with_existing(env):
    e, m = env
    log = []
    f = 0
    instrs = [pc for pc, _, _ in instructions(m, f)]
    last = instrs[-1]                                   # the final end: runs once per call
    old = Rec(log, "old")
    e.instrument.insert(m, f, last, old)                # already there: fires first
    shared = CountProbe()
    assert e.instrument.insert_many(m, [(f, pc) for pc in instrs], shared) == len(instrs)
    e.instrument.insert_many(m, [(f, last)], Rec(log, "new"))
    every = CountProbe()
    e.instrument.insert_global(every)
    assert Linker(e).instantiate(m).exports["sum"](4) == 6
    e.instrument.remove_global(every)
    assert [t for t, *_ in log] == ["old", "new"]
    assert shared.count == every.count > 40            # one counter at every instruction
    assert e.instrument.probes_at(m, f, last)[0] is old


def test_validation_before_any_change():
    e = Engine(tier="int")
    m = Module(e, wat2wasm(WAT))
    before = words(m)
    good = [(0, pc) for pc, _, _ in instructions(m, 0)]
    with pytest.raises(ValueError):
        e.instrument.insert_many(m, good + [(0, 1)], CountProbe())      # pc 1: not an instruction
    with pytest.raises(ValueError):
        e.instrument.insert_many(m, good + [(99, 0)], CountProbe())     # no such function
    with pytest.raises(TypeError):
        e.instrument.insert_many(m, [(0, good[0][1], CountProbe()), (0, good[1][1], object())])
    assert words(m) == before
    assert not any(e.instrument.probes_at(m, f, pc) for f, pc in all_locs(m))
    assert e.instrument.insert_many(m, []) == 0


def test_remove_many_restores_the_code_exactly(env):
    """Probes at every instruction (superinstructions un-fused), removed in one call: the code
    words are those of a never-instrumented module again (superinstructions re-fused)."""
    e, m = env
    pristine = words(Module(Engine(tier="int"), wat2wasm(WAT)))
    p = FuncProbe(lambda loc: None)
    c = CountProbe()
    e.instrument.insert_many(m, all_locs(m), p)
    e.instrument.insert_many(m, all_locs(m), c)
    assert words(m) != pristine
    assert run_all(e, m) == [10, 42]
    assert e.instrument.remove_many(m, all_locs(m), p) == len(all_locs(m))
    assert e.instrument.remove_many(m, all_locs(m), p) == 0          # gone: skipped
    assert e.instrument.remove_many(m, [(f, pc, c) for f, pc in all_locs(m)]) == len(all_locs(m))
    assert words(m) == pristine
    frozen = c.count
    assert run_all(e, m) == [10, 42] and c.count == frozen              # detached: no counting
    assert not any(e.instrument.probes_at(m, f, pc) for f, pc in all_locs(m))


def test_batch_inserted_by_a_firing_probe_fires_in_the_running_frame(env):
    """Lazy instrumentation: an entry probe inserts probes at every instruction of its function
    (one batch); they fire from the next instruction on, in this invocation, in every tier."""
    e, m = env
    f = 0
    pcs_ = [pc for pc, _, _ in instructions(m, f)]
    seen = []
    hit = Rec(seen, "i")

    class Arm(Probe):
        def fire(self, loc):
            e.instrument.remove(m, loc.func, 0, self)
            e.instrument.insert_many(m, [(loc.func, pc) for pc in pcs_], hit)

    e.instrument.insert(m, f, 0, Arm())
    assert Linker(e).instantiate(m).exports["sum"](1) == 0
    assert [pc for _, _, pc in seen] == pcs_            # sum(1) runs every instruction once


def test_operand_probes_in_a_batch_get_their_values(env):
    e, m = env
    f = 0
    br_if = [pc for pc, op, _ in instructions(m, f) if op == 0x0D]
    adds = [pc for pc, op, _ in instructions(m, f) if op == 0x6A]
    got = {"c": [], "a": []}
    e.instrument.insert_many(m, [(f, br_if[0], OperandProbe(got["c"].append))] +
                             [(f, pc, OperandProbe(got["a"].append)) for pc in adds])
    assert Linker(e).instantiate(m).exports["sum"](3) == 3
    assert got["c"] == [1, 1, 0]
    assert got["a"] == [0, 1, 1, 1, 2, 1]      # s + i (top: i), then i + 1 (top: 1)


def test_listeners_told_once_per_function():
    e = Engine(tier="int")
    m = Module(e, wat2wasm(WAT))
    told = []
    e.instrument.add_listener(lambda mod, f, pc: told.append(f))
    e.instrument.insert_many(m, all_locs(m), CountProbe())
    assert sorted(told) == list(defined_functions(m))


# ------------------------------------------------------------------ coverage: units, traps, exits

TRAPS = r"""
(module
  (memory 1)
  (func $load (export "load") (param $a i32) (result i32)
    i32.const 1 drop
    local.get $a i32.load         ;; traps for a >= 65533: the rest of the block never runs
    i32.const 2 i32.add
    i32.const 3 i32.add)
  (func $div (export "div") (param $a i32) (result i32)
    i32.const 100 local.get $a i32.div_u   ;; traps for a = 0
    i32.const 1 i32.add)
  (func $loop (export "loop") (param $n i32) (result i32) (local $i i32)
    loop $l
      local.get $i i32.const 1 i32.add local.set $i
      i32.const 1000 local.get $n local.get $i i32.sub i32.div_s drop   ;; traps at i = n
      br $l
    end
    unreachable)
)
"""


def _tally_run(e, m, calls):
    """Run calls (name, arg) under coverage and a global tally; returns (covered, tallied)."""
    cov = load_monitor("coverage")
    s = Session(e, [cov], "text")
    s.parse(m)
    inst = Linker(e).instantiate(m)
    s.instantiate(inst)
    seen = set()
    tally = FuncProbe(lambda loc: seen.add((loc.func, loc.pc)))
    e.instrument.insert_global(tally)
    for name, arg in calls:
        try:
            inst.exports[name](arg)
        except Trap:
            pass
    e.instrument.remove_global(tally)
    s.finish()
    return cov.executed, seen, cov


@pytest.mark.parametrize("calls", [
    [("load", 70000)], [("load", 8), ("load", 70000)], [("load", 70000), ("load", 8)],
    [("div", 0)], [("div", 0), ("div", 3)], [("loop", 3)], [("loop", 1), ("div", 0)],
])
@pytest.mark.parametrize("tier", ["int", "tiered"])
def test_coverage_exact_when_the_program_traps_mid_block(tier, calls):
    """A trap in the middle of a basic block: the instructions after it are not reported (the
    trapping instruction is, as a per-instruction probe would have seen it), in any order of
    calls; the global tally (which sees every instruction about to execute) agrees exactly."""
    e = Engine(**TIERS[tier])
    m = Module(e, wat2wasm(TRAPS))
    covered, seen, cov = _tally_run(e, m, calls)
    assert covered == seen
    # and blocks were cut: a unit never continues past a load or a division
    for (f, first), pcs in cov.units.items():
        ops = dict((pc, op) for pc, op, _ in instructions(m, f))
        assert not any(ops[pc] in (0x28, 0x6E, 0x6D) for pc in pcs[:-1])


EXIT = r"""
(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func $work (param $x i32) (result i32)
    local.get $x i32.const 3 i32.gt_u
    if local.get $x call $exit end      ;; exits in the middle of the function
    local.get $x i32.const 1 i32.add)
  (func (export "_start") (local $i i32)
    loop $l
      local.get $i call $work local.set $i
      local.get $i i32.const 10 i32.lt_u br_if $l
    end
    i32.const 99 call $exit))
"""


def test_coverage_exact_when_the_program_exits_mid_function():
    """proc_exit (a call that never returns) in the middle of code: nothing after it counts."""
    e = Engine(tier="int")
    m = Module(e, wat2wasm(EXIT))
    cov = load_monitor("coverage")
    s = Session(e, [cov], "text")
    s.parse(m)
    lk = Linker(e)
    lk.define_wasi(WasiConfig(argv=["exit"], stdout=io.BytesIO()))
    inst = lk.instantiate(m)
    s.instantiate(inst)
    seen = set()
    tally = FuncProbe(lambda loc: seen.add((loc.func, loc.pc)))
    e.instrument.insert_global(tally)
    with pytest.raises(ExitStatus) as ei:
        inst.exports["_start"]()
    assert ei.value.code == 4
    e.instrument.remove_global(tally)
    assert cov.executed == seen
    start = [pc for pc, _, _ in instructions(m, 2)]
    assert (2, start[-3]) not in cov.executed        # i32.const 99 after the loop never ran


def test_coverage_is_lazy_per_function():
    """Only functions that ran got unit probes; the others hold one entry probe."""
    e = Engine(tier="int")
    m = Module(e, wat2wasm(WAT))
    cov = load_monitor("coverage")
    s = Session(e, [cov], "json")
    s.parse(m)
    inst = Linker(e).instantiate(m)
    assert inst.exports["twice"](2) == 4
    armed = {f for f, _ in cov.units}
    assert armed == {1, 2}                     # add, twice
    never = 3
    assert e.instrument.probes_at(m, never, 0) and \
        not any(e.instrument.probes_at(m, never, pc) for pc, _, _ in instructions(m, never))
    s.finish()
    d = s.reports[0].data
    assert d["covered"] == sum(len(list(instructions(m, f))) for f in (1, 2))
    assert d["blocks_covered"] == sum(len(basic_blocks(m, f)) for f in (1, 2))


@pytest.mark.parametrize("name", ["pomdp-fish", "deoxys", "lindblad"])
def test_native_superinstruction_map_equals_fusion_reference(name):
    """The membership map the instrumentation computes natively (wz_seq_map, for the whole module) names, for every
    instruction, the same sequence as fusion._seq_at (the reference)."""
    from pathlib import Path

    from wizardpy.fusion import _seq_at
    path = Path(__file__).resolve().parent.parent / "workloads" / name / f"{name}.wasm"
    e = Engine(tier="int")
    m = Module.from_file(e, path)
    ins = e.instrument
    n = 0
    for d, fc in enumerate(m.codes):
        off = m._code_offsets[d]
        for ip in fc.pc_of_ip:
            ref = _seq_at(m, d, ip)
            got = ins._seq_of(m, off + ip)
            assert got == (None if ref is None else (ref[0], ref[2][-1])), (d, ip)
            n += ref is not None
    assert n > 1000


def test_probes_in_superinstructions_in_any_order_restore_the_code(env):
    """Probes at every instruction of a module's fused sequences, inserted and removed in a
    shuffled order, one by one and in batches: the program computes the same meanwhile, and the
    code words (fused again) are those of a never-instrumented module at the end."""
    import random

    e, m = env
    pristine = words(Module(Engine(tier="int"), wat2wasm(WAT)))
    rng = random.Random(7)
    locs = all_locs(m)
    for rnd in range(4):
        rng.shuffle(locs)
        probes = {loc: CountProbe() for loc in locs}
        half = len(locs) // 2
        e.instrument.insert_many(m, [(f, pc, probes[(f, pc)]) for f, pc in locs[:half]])
        for f, pc in locs[half:]:
            e.instrument.insert(m, f, pc, probes[(f, pc)])
        assert run_all(e, m) == [10, 42]
        rng.shuffle(locs)
        for f, pc in locs[:half]:
            assert e.instrument.remove(m, f, pc, probes[(f, pc)])
        assert run_all(e, m) == [10, 42]
        assert e.instrument.remove_many(m, [(f, pc, probes[(f, pc)]) for f, pc in locs[half:]]) \
            == len(locs) - half
        assert words(m) == pristine
