"""HitProbe: a native one-shot probe (no Python call) that records the first execution of each
of its locations and removes itself there, in every tier."""
from __future__ import annotations

import pytest
from spec_cache import wat2wasm
from test_probes import SUM_FUNC, TIER_CONFIGS, fidx, inst_of, pcs, spy, tier_engine

from wizardpy import Module
from wizardpy.instrumentation import CountProbe, FuncProbe, HitProbe

WAT = r"""
(module""" + SUM_FUNC + r"""
  (func $pick (export "pick") (param i32) (result i32)
    local.get 0
    if (result i32) i32.const 10 else i32.const 20 end)
  (memory 1)
  (func $loads (export "loads") (param i32 i32) (result i32)
    local.get 0 i32.load
    local.get 1 i32.load
    i32.add
    i32.const 1 i32.add)
)
"""
I32_ADD, LOOP, IF, ELSE, I32_CONST = 0x6A, 0x03, 0x04, 0x05, 0x41


@pytest.fixture(params=list(TIER_CONFIGS))
def env(request):
    e = tier_engine(request.param)
    # compiled code with these probes must compile (a failed compilation would silently leave
    # the function to the interpreter, and the tier would not be tested)
    request.addfinalizer(lambda: e.jit is None or not e.jit.errors
                         or pytest.fail(f"JIT compile errors: {e.jit.errors[:1]}"))
    return e, Module(e, wat2wasm(WAT)), request.param


def test_records_first_hit_natively_and_removes_itself(env):
    e, m, _ = env
    f = fidx(m, "sum")
    pc = pcs(m, f, I32_ADD)[0]
    h = HitProbe()
    e.instrument.insert(m, f, pc, h)
    calls = spy(e)
    inst = inst_of(e, m)
    assert not h.hit and h.hits == set()
    assert inst.exports["sum"](100) == 4950
    assert h.hit and h.hits == {(f, pc)}
    assert calls[0] == 0                      # never a Python call
    assert e.instrument.probes_at(m, f, pc) == ()        # it removed itself
    assert e.instrument.remove(m, f, pc, h) is False
    assert inst.exports["sum"](10) == 45 and h.hits == {(f, pc)}


def test_one_probe_at_many_locations_reports_exactly_those_that_ran(env):
    e, m, _ = env
    f = fidx(m, "pick")
    instrs = m.code_of(f).instrs
    then_pc = next(pc for (pc, op), (_, nxt) in zip(instrs, instrs[1:]) if op == IF)
    else_pc = next(pc for (pc, op), (_, nxt) in zip(instrs, instrs[1:]) if op == ELSE)
    then_pc = instrs[[p for p, _ in instrs].index(then_pc) + 1][0]    # i32.const 10
    else_pc = instrs[[p for p, _ in instrs].index(else_pc) + 1][0]    # i32.const 20
    h = HitProbe()
    assert e.instrument.insert_many(m, [(f, 0), (f, then_pc), (f, else_pc)], h) == 3
    inst = inst_of(e, m)
    assert inst.exports["pick"](1) == 10
    assert h.hits == {(f, 0), (f, then_pc)}
    assert e.instrument.probes_at(m, f, else_pc) == (h,)           # not run: still there
    assert inst.exports["pick"](0) == 20
    assert h.hits == {(f, 0), (f, then_pc), (f, else_pc)}


def test_other_probes_at_the_location_keep_firing(env):
    e, m, _ = env
    f = fidx(m, "sum")
    pc = pcs(m, f, I32_ADD)[0]
    h, c, seen = HitProbe(), CountProbe(), []
    e.instrument.insert(m, f, pc, h)
    e.instrument.insert(m, f, pc, c)
    py = FuncProbe(lambda loc: seen.append(loc.pc))
    e.instrument.insert(m, f, pc, py)
    assert inst_of(e, m).exports["sum"](7) == 21
    assert h.hits == {(f, pc)} and c.count == 7 and seen == [pc] * 7
    assert e.instrument.probes_at(m, f, pc) == (c, py)


def test_a_new_hit_probe_at_a_fired_location_fires_again(env):
    e, m, _ = env
    f = fidx(m, "sum")
    pc = pcs(m, f, I32_ADD)[1]
    inst = inst_of(e, m)
    first = HitProbe()
    e.instrument.insert(m, f, pc, first)
    inst.exports["sum"](3)
    second = HitProbe()
    e.instrument.insert(m, f, pc, second)
    assert not second.hit                    # the first one's hit does not count for it
    inst.exports["sum"](3)
    assert first.hits == second.hits == {(f, pc)}


def test_removed_before_it_ran_records_nothing(env):
    e, m, _ = env
    f = fidx(m, "sum")
    pc = pcs(m, f, I32_ADD)[0]
    h = HitProbe()
    e.instrument.insert(m, f, pc, h)
    assert e.instrument.remove(m, f, pc, h) is True
    inst = inst_of(e, m)
    assert inst.exports["sum"](5) == 10 and not h.hit


def test_inserted_by_a_probe_fires_on_the_next_visit(env):
    """Inserted at a loop header from a probe in the running function: the next iteration
    fires it (consistency rule: a probe inserted later in the same function fires there)."""
    e, m, _ = env
    f = fidx(m, "sum")
    loop_pc = pcs(m, f, LOOP)[0]
    add_pc = pcs(m, f, I32_ADD)[0]
    h = HitProbe()

    def arm(loc):
        e.instrument.insert(m, f, add_pc, h)
        e.instrument.remove(m, f, loc.pc, armer)
    armer = FuncProbe(arm)
    e.instrument.insert(m, f, loop_pc, armer)
    assert inst_of(e, m).exports["sum"](4) == 6
    assert h.hits == {(f, add_pc)}


def test_hit_probe_is_not_a_global_probe(env):
    e, _, _ = env
    with pytest.raises(ValueError, match="local probe"):
        e.instrument.insert_global(HitProbe())


def test_a_trap_inside_a_straight_run_records_exactly_the_locations_it_passed(env):
    """HitProbes after each load of a straight run (compiled code stores one byte where the run
    ends, and the locations passed one by one on a trap's way out): the second load trapping on
    the first run leaves the location after it unrecorded, until a run gets there."""
    from wizardpy import Trap
    e, m, _ = env
    f = fidx(m, "loads")
    instrs = m.code_of(f).instrs
    after = [instrs[k + 1][0] for k, (_, op) in enumerate(instrs) if op == 0x28]
    first = instrs[0][0]
    h = HitProbe()
    e.instrument.insert_many(m, [(f, first), *[(f, pc) for pc in after]], h)
    inst = inst_of(e, m)
    with pytest.raises(Trap):
        inst.exports["loads"](0, 70000)           # the second load is out of bounds
    assert h.hits == {(f, first), (f, after[0])}
    assert inst.exports["loads"](0, 4) == 1
    assert h.hits == {(f, first), (f, after[0]), (f, after[1])}


LOOPS = r"""
(module
  (import "env" "seen" (func $seen (param i32)))
  (memory 1)
  ;; a loop without calls: exits by br_if, br to an outer block, br_table, return, a trap
  ;; (load out of bounds at i == $trap_at) or falling out after its last back-edge; an inner
  ;; loop nested in it
  (func $walk (export "walk") (param $n i32) (param $mode i32) (param $trap_at i32) (result i32)
    (local $i i32) (local $s i32) (local $j i32)
    block $out
      loop $l
        local.get $i local.get $trap_at i32.eq
        if
          i32.const 70000 i32.load drop                 ;; out of bounds: traps
        end
        local.get $i i32.const 3 i32.rem_u
        if (result i32)
          local.get $s i32.const 1 i32.add
        else
          local.get $s i32.const 2 i32.add
        end
        local.set $s
        i32.const 0 local.set $j
        loop $inner
          local.get $j i32.const 1 i32.add local.tee $j
          i32.const 2 i32.lt_u br_if $inner
        end
        local.get $mode i32.const 1 i32.eq local.get $i i32.const 5 i32.eq i32.and
        br_if $out                                       ;; mode 1: leave by br_if
        local.get $mode i32.const 2 i32.eq local.get $i i32.const 6 i32.eq i32.and
        if local.get $s return end                       ;; mode 2: return from inside
        local.get $mode i32.const 3 i32.eq local.get $i i32.const 4 i32.eq i32.and
        if
          local.get $mode i32.const 3 i32.sub            ;; mode 3: br_table index 0: $out
          br_table $out $l
        end
        local.get $i i32.const 1 i32.add local.tee $i
        local.get $n i32.lt_u br_if $l
      end
      local.get $s i32.const 1000 i32.add local.set $s   ;; fell out after the last back-edge
    end
    local.get $s
    call $seen
    local.get $s)
  ;; an outer loop with a call around a loop without calls: the inner loop is entered and left
  ;; again and again in one activation
  (func $nest (export "nest") (param $n i32) (result i32) (local $i i32) (local $j i32)
    (local $s i32)
    loop $outer
      i32.const 0 local.set $j
      loop $inner
        local.get $s local.get $j i32.add local.set $s
        local.get $j i32.const 1 i32.add local.tee $j
        i32.const 3 i32.lt_u br_if $inner
      end
      local.get $s call $seen
      local.get $i i32.const 1 i32.add local.tee $i
      local.get $n i32.lt_u br_if $outer
    end
    local.get $s))
"""


# $walk without its inner loop: $l is an innermost loop, left in every way
LOOPS_FLAT = LOOPS.replace('''        i32.const 0 local.set $j
        loop $inner
          local.get $j i32.const 1 i32.add local.tee $j
          i32.const 2 i32.lt_u br_if $inner
        end
''', "        i32.const 2 local.set $j\n")


def _loops_run(tier, calls, hits=True):
    """HitProbes (hits) and CountProbes at every instruction of $walk, TallyProbes at its
    br_ifs; each call of `calls` runs; after each (and from inside the host function $seen,
    called after the loop) the recorded locations, counts and tallies. Without HitProbes the
    module is LOOPS_FLAT (its loop with every kind of exit is an innermost one)."""
    from wizardpy import FuncType, Linker
    from wizardpy.types import I32
    from wizardpy.instrumentation import TallyProbe
    e = tier_engine(tier)
    m = Module(e, wat2wasm(LOOPS if hits else LOOPS_FLAT))
    fname = "nest" if calls and len(calls[0]) == 1 else "walk"
    f = fidx(m, fname)
    h = HitProbe()
    instrs = m.code_of(f).instrs
    if hits:
        e.instrument.insert_many(m, [(f, pc) for pc, _ in instrs], h)
    counts = {pc: CountProbe() for pc, _ in instrs}
    for pc, c in counts.items():
        e.instrument.insert(m, f, pc, c)
    tallies = {pc: TallyProbe(2) for pc, op in instrs if op == 0x0D}       # br_if
    for pc, t in tallies.items():
        e.instrument.insert(m, f, pc, t)

    def state():
        return (frozenset(h.hits), tuple(c.count for c in counts.values()),
                tuple(tuple(t.counts) for t in tallies.values()))
    log = []
    linker = Linker(e)
    linker.define_func("env", "seen", FuncType((I32,), ()),
                       lambda s: log.append(("seen", s, state())))
    inst = linker.instantiate(m)
    _log_calls(log, inst, fname, calls, state)
    assert e.jit is None or not e.jit.errors, e.jit.errors[:1]
    return log


def _log_calls(log, inst, fname, calls, state):
    """Call export `fname` with each of `calls`; log its result (or trap message) and state()."""
    from wizardpy import Trap
    for args in calls:
        try:
            log.append(("ret", inst.exports[fname](*args), state()))
        except Trap as t:
            log.append(("trap", t.args[0], state()))


@pytest.mark.parametrize("calls", [
    [(10, 0, 99)],                      # falls out after the last back-edge
    [(10, 1, 99)],                      # br_if out
    [(10, 2, 99)],                      # return from inside the loop
    [(10, 3, 99)],                      # br_table out
    [(10, 0, 7)],                       # traps in the 8th iteration
    [(10, 0, 0)],                       # traps in the first
    [(2, 0, 99), (10, 1, 99), (10, 0, 3), (20, 0, 99)],
    [(4,), (3,)],                       # $nest: the loop without calls entered again and again
], ids=["fall", "br_if", "return", "br_table", "trap7", "trap0", "mixed", "reentered"])
@pytest.mark.parametrize("hits", [True, False], ids=["hits", "counts-only"])
def test_loops_without_calls_record_exactly_in_every_tier(calls, hits):
    """Compiled loops without calls keep their runs' region bytes in flags and masks, and (in a
    function without HitProbes) innermost loops add their counts and 2-way tallies up in
    registers; all are stored where the loop is left: every exit, the trap path, the
    fall-through. The locations, counts and tallies after each call, and what a host function
    called after the loop sees, equal the interpreter's; also for such a loop entered again and
    again inside a loop with a call."""
    want = _loops_run("int", calls, hits)
    assert _loops_run("jit", calls, hits) == want
    assert _loops_run("tiered", calls, hits) == want


LEAN_LOOPS = r"""
(module
  (import "env" "seen" (func $seen (param i32)))
  (memory 1)
  ;; lean (compiler.py lean_set): no call out, no Python probe
  (func $leaf (param $x i32) (result i32)
    local.get $x i32.const 1000 i32.eq if i32.const 70000 i32.load drop end   ;; traps
    local.get $x i32.const 5 i32.gt_u
    if (result i32) local.get $x i32.const 2 i32.mul else local.get $x i32.const 1 i32.add end)
  ;; a loop calling lean code: its HitProbe runs stay in flags across the call
  (func $walk (export "walk") (param $n i32) (param $trap_at i32) (result i32)
    (local $i i32) (local $s i32)
    loop $l
      local.get $i local.get $trap_at i32.eq if (result i32) i32.const 1000 else local.get $i end
      call $leaf local.get $s i32.add local.set $s
      local.get $i i32.const 3 i32.rem_u if local.get $s i32.const 1 i32.add local.set $s end
      local.get $i i32.const 1 i32.add local.tee $i
      local.get $n i32.lt_u br_if $l
    end
    local.get $s call $seen
    local.get $s)
  ;; the same loop in lean code (lean: compiled code calls it)
  (func (export "lwalk") (param i32 i32) (result i32) local.get 0 local.get 1 call $lwalk)
  (func $lwalk (param $n i32) (param $trap_at i32) (result i32)
    (local $i i32) (local $s i32)
    loop $l
      local.get $i local.get $trap_at i32.eq if (result i32) i32.const 1000 else local.get $i end
      call $leaf local.get $s i32.add local.set $s
      local.get $i i32.const 1 i32.add local.tee $i
      local.get $n i32.lt_u br_if $l
    end
    local.get $s)
  ;; lean code with an innermost loop inside its body (not its first instruction): the loop's
  ;; flags are folded into the body's mask bits where it is left inside the body (falling out,
  ;; a branch out), and stored with the masks where the body is left (a return or a trap
  ;; inside the loop)
  (func (export "lnest") (param i32 i32) (result i32) local.get 0 local.get 1 call $lnest)
  (func $lnest (param $n i32) (param $trap_at i32) (result i32)
    (local $i i32) (local $j i32) (local $s i32)
    local.get $n i32.const 1 i32.add local.set $s
    loop $outer
      i32.const 0 local.set $i
      block $brk
        loop $l
          local.get $i local.get $trap_at i32.eq if i32.const 70000 i32.load drop end
          local.get $i i32.const 2 i32.rem_u if local.get $s i32.const 3 i32.add local.set $s end
          local.get $i i32.const 5 i32.eq local.get $j i32.const 2 i32.eq i32.and
          if local.get $s return end
          local.get $i i32.const 4 i32.eq local.get $j i32.const 1 i32.eq i32.and br_if $brk
          local.get $i i32.const 1 i32.add local.tee $i
          local.get $n i32.lt_u br_if $l
        end
        local.get $s i32.const 7 i32.add local.set $s
      end
      local.get $j i32.const 1 i32.add local.tee $j
      i32.const 3 i32.lt_u br_if $outer
    end
    local.get $s)
  (func $other (export "other") nop))
"""


def _lean_loops_run(tier, probe_in_leaf):
    """HitProbes and CountProbes at every instruction of $leaf, $walk and $lwalk; runs that
    return and that trap in $leaf (first, 8th iteration); after each (and from $seen) the
    recorded state. probe_in_leaf: a FuncProbe in $leaf, inserted after instantiation, records
    the state at each of its calls (compiled callers then reach $leaf through the dispatcher,
    a FuncProbe in $other made the code inspect frames from the start)."""
    from wizardpy import FuncType, Linker
    from wizardpy.types import I32
    e = tier_engine(tier)
    m = Module(e, wat2wasm(LEAN_LOOPS))
    h = HitProbe()
    counts = {}
    for name in ("leaf", "walk", "lwalk", "lnest"):    # (their exported callers have none)
        f = fidx(m, name)
        instrs = m.code_of(f).instrs
        e.instrument.insert_many(m, [(f, pc) for pc, _ in instrs], h)
        for pc, _ in instrs:
            c = counts[(f, pc)] = CountProbe()
            e.instrument.insert(m, f, pc, c)
    e.instrument.insert(m, fidx(m, "other"), 0, FuncProbe(lambda loc: None))

    def state():
        return frozenset(h.hits), tuple(c.count for c in counts.values())
    log = []
    linker = Linker(e)
    linker.define_func("env", "seen", FuncType((I32,), ()),
                       lambda s: log.append(("seen", s, state())))
    inst = linker.instantiate(m)
    if e.jit is not None and tier == "jit":
        assert e.jit.lean_compiled >= 2
    if probe_in_leaf:
        e.instrument.insert(m, fidx(m, "leaf"), 0, FuncProbe(lambda loc: log.append(state())))
    for fname in ("walk", "lwalk"):
        _log_calls(log, inst, fname, ((10, 99), (10, 7), (10, 0), (3, 99)), state)
    # $lnest: falling out of the loop first (3 times), then a trap in it, a branch out and a
    # return from it
    _log_calls(log, inst, "lnest", ((3, 99), (10, 7), (6, 99), (10, 0)), state)
    assert e.jit is None or not e.jit.errors, e.jit.errors[:1]
    return log


@pytest.mark.parametrize("flag_sites", [None, 10 ** 6], ids=["default", "flags"])
@pytest.mark.parametrize("probe_in_leaf", [False, True], ids=["lean", "dispatcher"])
def test_loops_calling_lean_code_record_exactly_in_every_tier(probe_in_leaf, flag_sites,
                                                               monkeypatch):
    """A loop whose calls all go to lean code keeps its HitProbe runs in flags: they are stored
    when it is left, when the callee traps, and before a call that goes through the dispatcher
    (where Python may look). Locations and counts equal the interpreter's after every call,
    from the host function after the loop and from a probe in the callee. Also an innermost
    loop inside a lean body, left by falling out, a branch out, a return and a trap; with
    flag_sites, loops with many HitProbes keep them in flags too (compiler.FLAG_LOOP_SITES:
    $lnest's loop then folds flags into its body's masks)."""
    if flag_sites is not None:
        import wizardpy.jit.compiler as jc
        monkeypatch.setattr(jc, "FLAG_LOOP_SITES", flag_sites)
    want = _lean_loops_run("int", probe_in_leaf)
    assert _lean_loops_run("jit", probe_in_leaf) == want
    assert _lean_loops_run("tiered", probe_in_leaf) == want


def test_region_bytes_and_words_imply_their_locations():
    """_HitWords: a region byte set implies each of its words; bit k of a region word implies
    the words of run k only (little-endian uint64_t, 8-aligned, fresh and zero); more than 64
    runs in a word is refused; a reset word forgets what regions implied."""
    from wizardpy import Engine
    from wizardpy.instrumentation import _HitWords
    e = Engine(tier="int")
    ffi = e.ffi
    hw = _HitWords(ffi, e.lib, ffi.new("uint8_t[]", 200))
    rb = hw.region([1, 2])
    runs = [[10 + k] for k in range(64)]
    addr = hw.region_bits(runs)
    assert addr % 8 == 0
    word = ffi.cast("uint64_t *", addr)
    assert word[0] == 0 and not any(hw.hit(w) for w in (1, 2, 10, 73))
    ffi.cast("uint8_t *", rb)[0] = 1
    word[0] = (1 << 0) | (1 << 9) | (1 << 63)            # as compiled code ORs a mask in
    assert [w for w in range(200) if hw.hit(w)] == [1, 2, 10, 19, 73]
    read = hw.reader()
    assert [w for w in range(200) if read(w)] == [1, 2, 10, 19, 73]
    hw.reset(19)
    assert not hw.hit(19) and hw.hit(10)
    read = hw.reader()          # (reads its flat copy of the implications, rebuilt after reset)
    assert [w for w in range(200) if read(w)] == [1, 2, 10, 73]
    with pytest.raises(ValueError):
        hw.region_bits([[1]] * 65)
    many = [hw.region_bits([[100 + k % 100]]) for k in range(600)]     # across 4096-byte chunks
    assert len(set(many)) == 600 and all(a % 8 == 0 for a in many)
    assert all(ffi.cast("uint64_t *", a)[0] == 0 for a in many)
    ffi.cast("uint64_t *", many[-1])[0] = 1              # a region word in a later chunk
    read = hw.reader()
    assert [w for w in range(200) if read(w)] == [1, 2, 10, 73, 199]
    assert hw.hit(199)
