"""The instrumentation rules (ARCHITECTURE.md §3, docs/instrumentation.md), one test per rule."""
from __future__ import annotations

import pytest
from spec_cache import wat2wasm

from wizardpy import Engine, Linker, Module, Trap
from wizardpy.instrumentation import (CountMoreProbe, CountProbe, DynamicLoc, FrameAccessor,
                                      FuncProbe, OperandProbe, Probe, ProbeAction,
                                      StaleFrameError)

# sum(n) = 0 + 1 + ... + n-1 in a loop that starts the function (shared by the probe tests)
SUM_FUNC = r"""
  (func $sum (export "sum") (param $n i32) (result i32) (local $i i32) (local $s i32)
    loop $l                                  ;; the first instruction is a loop
      local.get $s local.get $i i32.add local.set $s
      local.get $i i32.const 1 i32.add local.tee $i
      local.get $n i32.lt_s br_if $l
    end
    local.get $s)
"""

WAT = r"""
(module
  (memory (export "memory") 1)""" + SUM_FUNC + r"""
  (func $exits (export "exits") (param i32) (result i32)
    block
      local.get 0 i32.eqz br_if 0
      local.get 0 i32.const 1 i32.eq
      if i32.const 10 return end
      local.get 0 i32.const 2 i32.eq
      if i32.const 20 br 2 end              ;; br to the function label
    end
    i32.const 30)
  (func $add (export "add") (param i32 i32) (result i32)
    local.get 0 local.get 1 i32.add)
  (func $inc (export "inc") (param i32) (result i32)
    local.get 0 i32.const 1 call $add)
  (func $store (export "store") (param i32 i32)
    local.get 0 local.get 1 i32.store)
  (func $f64 (export "f64") (param f64 i64) (result f64)
    local.get 0 local.get 1 f64.convert_i64_s f64.add)
  (func $straight (export "straight") (result i32)
    i32.const 1 i32.const 2 i32.add i32.const 3 i32.add nop nop)
)
"""

I32_ADD, CALL, LOOP, LOCAL_SET, BR_IF, RETURN, NOP = 0x6A, 0x10, 0x03, 0x21, 0x0D, 0x0F, 0x01


# Every rule holds in every tier: "tiered" with thresholds 1 compiles each function at its first
# call and continues interpreted loops in compiled code at once (OSR), so probes change while
# compiled frames run and those frames deoptimize.
TIER_CONFIGS = {"int": dict(tier="int"), "jit": dict(tier="jit"),
                "tiered": dict(tier="tiered", jit_threshold=1, jit_osr=True,
                               jit_osr_threshold=1)}


def tier_engine(tier: str) -> Engine:
    return Engine(**TIER_CONFIGS[tier])


@pytest.fixture(params=list(TIER_CONFIGS))
def env(request):
    e = tier_engine(request.param)
    m = Module(e, wat2wasm(WAT))
    return e, m


def inst_of(e, m):
    return Linker(e).instantiate(m)


def pcs(m, func, op):
    """pcs of the instructions of `func` (index) with opcode `op`."""
    return [pc for pc, o in m.code_of(func).instrs if o == op]


def fidx(m, name):
    return next(i for i in range(m.num_funcs) if m.func_name(i) == f'"{name}"')


def spy(e):
    """Count the native → Python probe callbacks."""
    calls = [0]
    e.instrument                     # created on first use; it routes the callbacks to itself
    orig = e.probe_fire

    def fire(t, g):
        calls[0] += 1
        return orig(t, g)
    e.probe_fire = fire
    return calls


# ---- ordering ------------------------------------------------------------------------------

def test_probes_at_one_location_fire_in_insertion_order(env):
    e, m = env
    f = fidx(m, "sum")
    pc = pcs(m, f, I32_ADD)[0]
    seen = []
    ps = [FuncProbe(lambda loc, k=k: seen.append(k)) for k in range(4)]
    for p in ps:
        e.instrument.insert(m, f, pc, p)
    assert e.instrument.probes_at(m, f, pc) == tuple(ps)
    inst_of(e, m).exports["sum"](2)
    assert seen == [0, 1, 2, 3] * 2


def test_global_probes_fire_before_local_probes(env):
    e, m = env
    f = fidx(m, "add")
    pc = pcs(m, f, I32_ADD)[0]
    seen = []
    e.instrument.insert(m, f, pc, FuncProbe(lambda loc: seen.append(("local", loc.pc))))
    e.instrument.insert_global(FuncProbe(lambda loc: seen.append(("global", loc.pc))))
    assert inst_of(e, m).exports["add"](2, 3) == 5
    instrs = [p for p, _ in m.code_of(f).instrs]
    k = seen.index(("local", pc))
    assert seen[k - 1] == ("global", pc)
    assert [p for kind, p in seen if kind == "global"] == instrs


# ---- consistency: changes while running ------------------------------------------------------

def test_insert_at_firing_location_takes_effect_next_visit(env):
    e, m = env
    f = fidx(m, "sum")
    pc = pcs(m, f, I32_ADD)[0]
    b = CountProbe()
    b_py = []

    def a(loc):
        if not a.done:
            a.done = True
            e.instrument.insert(m, f, pc, b)
            e.instrument.insert(m, f, pc, FuncProbe(lambda loc: b_py.append(1)))
    a.done = False
    e.instrument.insert(m, f, pc, FuncProbe(a))
    inst_of(e, m).exports["sum"](10)           # the add runs 10 times
    assert b.count == 9 and len(b_py) == 9


def test_remove_at_firing_location_takes_effect_next_visit(env):
    e, m = env
    f = fidx(m, "sum")
    pc = pcs(m, f, I32_ADD)[0]
    b_hits, c = [], CountProbe()
    b = FuncProbe(lambda loc: b_hits.append(1))

    def a(loc):
        a.n += 1
        e.instrument.remove(m, f, pc, b)      # b comes after a: still fires in this round
        e.instrument.remove(m, f, pc, c)
        e.instrument.remove(m, f, pc, pa)     # a removes itself
    a.n = 0
    pa = FuncProbe(a)
    for p in (pa, b, c):
        e.instrument.insert(m, f, pc, p)
    inst = inst_of(e, m)
    assert inst.exports["sum"](10) == 45
    assert a.n == 1 and b_hits == [1] and c.count == 1
    assert e.instrument.probes_at(m, f, pc) == ()
    assert m._code[m._code_offsets[f] + m.code_of(f).ip_of_pc[pc]] == I32_ADD   # word restored


def test_probe_inserted_later_in_running_function_fires_in_same_invocation(env):
    e, m = env
    f = fidx(m, "sum")
    later = pcs(m, f, LOCAL_SET)[0]
    c = CountProbe()
    hits = []
    e.instrument.insert(m, f, 0, FuncProbe(
        lambda loc: (e.instrument.insert(m, f, later, c),
                     e.instrument.insert(m, f, later, FuncProbe(lambda l2: hits.append(l2.pc))))))
    inst_of(e, m).exports["sum"](7)
    assert c.count == 7 and hits == [later] * 7


def test_removal_elsewhere_is_immediate(env):
    e, m = env
    f = fidx(m, "sum")
    add_pc, set_pc = pcs(m, f, I32_ADD)[0], pcs(m, f, LOCAL_SET)[0]
    c = CountProbe()
    e.instrument.insert(m, f, set_pc, c)
    e.instrument.insert(m, f, add_pc, FuncProbe(lambda loc: e.instrument.remove(m, f, set_pc, c)))
    inst_of(e, m).exports["sum"](5)
    assert c.count == 0


def test_global_probe_inserted_by_local_probe_counts_from_next_instruction(env):
    e, m = env
    f = fidx(m, "straight")
    instrs = [p for p, _ in m.code_of(f).instrs]  # const const add const add nop nop end
    g = CountProbe()
    gseen = []
    e.instrument.insert(m, f, instrs[2], FuncProbe(
        lambda loc: (e.instrument.insert_global(g),
                     e.instrument.insert_global(FuncProbe(lambda l2: gseen.append(l2.pc))))))
    assert inst_of(e, m).exports["straight"]() == 6
    assert g.count == len(instrs) - 3            # from the instruction after the add
    assert gseen == instrs[3:]


def test_global_probe_removed_by_itself(env):
    e, m = env
    f = fidx(m, "straight")
    seen = []

    def once(loc):
        seen.append(loc.pc)
        e.instrument.remove_global(p)
    p = FuncProbe(once)
    e.instrument.insert_global(p)
    inst_of(e, m).exports["straight"]()
    assert seen == [m.code_of(f).instrs[0][0]]
    assert e.thread.global_probes == 0


# ---- FrameAccessor / FrameWriter -----------------------------------------------------------------

def test_frame_accessor_reads_frame(env):
    e, m = env
    f_add, f_inc = fidx(m, "add"), fidx(m, "inc")
    pc = pcs(m, f_add, I32_ADD)[0]
    got = {}

    def probe(loc):
        fa = loc.frame
        assert isinstance(loc, DynamicLoc) and isinstance(fa, FrameAccessor)
        got.update(func=fa.func, name=fa.func_name, pc=fa.pc, depth=fa.depth,
                   locals=[fa.get_local(i) for i in range(fa.num_locals)],
                   ops=[fa.get_operand(i) for i in range(fa.num_operands)],
                   otypes=fa.operand_types, ltypes=fa.local_types, mem=fa.memory,
                   loc=(loc.func, loc.pc, loc.func_name))
        c = fa.caller()
        got.update(cfunc=c.func, cpc=c.pc, cdepth=c.depth, cops=c.num_operands,
                   cloc=[c.get_local(0)], ccaller=c.caller())
    e.instrument.insert(m, f_add, pc, FuncProbe(probe))
    inst = inst_of(e, m)
    assert inst.exports["inc"](-5) == -4
    assert got["func"] == f_add and got["name"] == '"add"' and got["pc"] == pc
    assert got["depth"] == 1 and got["locals"] == [-5, 1] and got["ops"] == [1, -5]
    assert got["otypes"] == (0x7F, 0x7F) and got["ltypes"] == (0x7F, 0x7F)
    assert got["mem"] is not None and got["loc"] == (f_add, pc, '"add"')
    assert got["cfunc"] == f_inc and got["cpc"] == pcs(m, f_inc, CALL)[0] and got["cdepth"] == 0
    assert got["cops"] == 0 and got["cloc"] == [-5] and got["ccaller"] is None


def test_frame_accessor_typed_values(env):
    e, m = env
    f = fidx(m, "f64")
    pc = [p for p, o in m.code_of(f).instrs][2]          # f64.convert_i64_s: [f64, i64]
    got = []
    e.instrument.insert(m, f, pc, FuncProbe(
        lambda loc: got.append((loc.frame.get_operand(0), loc.frame.get_operand(1),
                                loc.frame.operand_types))))
    assert inst_of(e, m).exports["f64"](1.5, -3) == -1.5
    assert got == [(-3, 1.5, (0x7C, 0x7E))]


def test_stale_frame_accessor_raises(env):
    e, m = env
    f = fidx(m, "add")
    kept = []

    def probe(loc):
        if kept:                                  # second call: a new frame at the same depth
            with pytest.raises(StaleFrameError):
                kept[0].get_local(0)
            assert kept[0].is_live() is False and loc.frame.get_local(0) == 3
        kept.append(loc.frame)
    e.instrument.insert(m, f, pcs(m, f, I32_ADD)[0], FuncProbe(probe))
    inst = inst_of(e, m)
    inst.exports["add"](1, 2)
    with pytest.raises(StaleFrameError):          # after the frame returned
        kept[0].get_local(0)
    with pytest.raises(StaleFrameError):
        kept[0].pc
    inst.exports["add"](3, 4)
    assert len(kept) == 2


def test_frame_writer_set_local_changes_result(env):
    e, m = env
    f = fidx(m, "add")
    e.instrument.insert(m, f, pcs(m, f, I32_ADD)[0] - 2,   # the second local.get
                        FuncProbe(lambda loc: loc.frame.writer().set_local(1, 100)))
    assert inst_of(e, m).exports["add"](1, 2) == 101


def test_frame_writer_set_operand_changes_result(env):
    e, m = env
    f = fidx(m, "add")
    e.instrument.insert(m, f, pcs(m, f, I32_ADD)[0],
                        FuncProbe(lambda loc: loc.frame.writer().set_operand(1, -50)))
    assert inst_of(e, m).exports["add"](1, 2) == -48


def test_frame_writer_on_caller_frame(env):
    e, m = env
    f_add, f_inc = fidx(m, "add"), fidx(m, "inc")
    e.instrument.insert(m, f_add, 0, FuncProbe(
        lambda loc: loc.frame.caller().writer().set_local(0, 1000)))
    # inc(x) = add(x, 1): the caller's local changes but its pushed args were already copied
    assert inst_of(e, m).exports["inc"](1) == 2


# ---- actions and errors --------------------------------------------------------------------------

def test_probe_action_trap(env):
    e, m = env
    f_add, f_inc = fidx(m, "add"), fidx(m, "inc")
    pc = pcs(m, f_add, I32_ADD)[0]
    e.instrument.insert(m, f_add, pc, FuncProbe(
        lambda loc: ProbeAction.trap("too big") if loc.frame.get_operand(1) > 10 else None))
    inst = inst_of(e, m)
    assert inst.exports["inc"](5) == 6
    with pytest.raises(Trap) as ei:
        inst.exports["inc"](50)
    assert ei.value.reason == "too big"
    assert ei.value.frames[0] == (f_add, '"add"', pc)
    assert ei.value.frames[1] == (f_inc, '"inc"', pcs(m, f_inc, CALL)[0])
    assert inst.exports["inc"](5) == 6          # the engine is usable afterwards


def test_probe_exception_propagates_with_location(env):
    e, m = env
    f = fidx(m, "add")
    pc = pcs(m, f, I32_ADD)[0]

    def bad(loc):
        raise ValueError("probe bug")
    e.instrument.insert(m, f, pc, FuncProbe(bad))
    with pytest.raises(ValueError, match="probe bug") as ei:
        inst_of(e, m).exports["inc"](1)
    assert any(f'"add" +{pc}' in n for n in getattr(ei.value, "__notes__", []))


# ---- entry and exit ------------------------------------------------------------------------------

def test_entry_probe_fires_once_per_call_with_loop_first(env):
    e, m = env
    f = fidx(m, "sum")
    assert m.code_of(f).instrs[0][1] == LOOP
    entries, loops = CountProbe(), CountProbe()
    pcs_seen = []
    e.instrument.insert(m, f, 0, entries)
    e.instrument.insert(m, f, 0, FuncProbe(lambda loc: pcs_seen.append((loc.pc, loc.frame.pc))))
    e.instrument.insert(m, f, m.code_of(f).instrs[0][0], loops)
    inst = inst_of(e, m)
    for n in (1, 5, 20):
        inst.exports["sum"](n)
    assert entries.count == 3 and loops.count == 1 + 5 + 20
    assert pcs_seen == [(0, 0)] * 3


def test_entry_probe_is_not_a_global_instruction(env):
    e, m = env
    f = fidx(m, "straight")
    g = CountProbe()
    e.instrument.insert_global(g)
    e.instrument.insert(m, f, 0, CountProbe())
    inst_of(e, m).exports["straight"]()
    assert g.count == len(m.code_of(f).instrs)


def test_on_exit_return_end_and_br_to_function_label(env):
    e, m = env
    f = fidx(m, "exits")
    seen = []
    h = e.instrument.on_exit(m, f, lambda loc: seen.append((loc.pc, loc.frame.get_operand(0))))
    inst = inst_of(e, m)
    fc = m.code_of(f)
    ret_pc = pcs(m, f, RETURN)[0]
    assert [inst.exports["exits"](x) for x in (0, 1, 2, 3)] == [30, 10, 20, 30]
    assert seen == [(fc.end_pc, 30), (ret_pc, 10), (fc.end_pc, 20), (fc.end_pc, 30)]
    h.remove()
    seen.clear()
    inst.exports["exits"](1)
    assert seen == []


# ---- native fast probes ---------------------------------------------------------------------------

def test_count_probes_are_native_and_exact(env):
    e, m = env
    f = fidx(m, "sum")
    calls = spy(e)
    c_add = CountProbe()
    c_more = CountMoreProbe(7)
    e.instrument.insert(m, f, pcs(m, f, I32_ADD)[0], c_add)
    e.instrument.insert(m, f, pcs(m, f, BR_IF)[0], c_more)
    e.instrument.insert(m, f, 0, CountProbe())
    inst = inst_of(e, m)
    assert inst.exports["sum"](1000) == 499500
    assert c_add.count == 1000 and c_more.count == 7 * 1000
    assert calls[0] == 0                                 # no Python call per firing
    assert inst.exports["sum"](10) == 45 and c_add.count == 1010


def test_operand_probe_values_one_callback_per_firing(env):
    e, m = env
    f = fidx(m, "sum")
    calls = spy(e)
    vals = []
    e.instrument.insert(m, f, pcs(m, f, BR_IF)[0], OperandProbe(vals.append))
    inst_of(e, m).exports["sum"](4)
    assert vals == [1, 1, 1, 0]                          # the br_if conditions
    assert calls[0] == 4                                 # one callback per firing, no frame
    fl = []
    f64 = fidx(m, "f64")
    e.instrument.insert(m, f64, [p for p, _ in m.code_of(f64).instrs][-2], OperandProbe(fl.append))
    e.instrument.insert(m, f64, [p for p, _ in m.code_of(f64).instrs][0], OperandProbe(fl.append))
    inst_of(e, m).exports["f64"](0.25, 2)
    assert fl == [None, 2.0]                             # empty stack -> None; f64 typed


def test_mixed_probe_list_counts_and_calls(env):
    e, m = env
    f = fidx(m, "sum")
    pc = pcs(m, f, I32_ADD)[0]
    calls = spy(e)
    c, hits = CountProbe(), []
    e.instrument.insert(m, f, pc, c)
    e.instrument.insert(m, f, pc, FuncProbe(lambda loc: hits.append(c.count)))
    inst_of(e, m).exports["sum"](5)
    assert c.count == 5 and hits == [1, 2, 3, 4, 5] and calls[0] == 5
    assert e.instrument.remove(m, f, pc, e.instrument.probes_at(m, f, pc)[1])
    calls[0] = 0
    inst_of(e, m).exports["sum"](5)
    assert c.count == 10 and calls[0] == 0               # back to native-only


def test_global_count_probe_is_native(env):
    e, m = env
    calls = spy(e)
    g = CountProbe()
    e.instrument.insert_global(g)
    f = fidx(m, "straight")
    inst_of(e, m).exports["straight"]()
    assert g.count == len(m.code_of(f).instrs) and calls[0] == 0
    e.instrument.remove_global(g)
    inst_of(e, m).exports["straight"]()
    assert g.count == len(m.code_of(f).instrs)          # frozen after removal


# ---- when probes may be inserted -----------------------------------------------------------------

def test_insert_before_instantiation_between_calls_and_all_instances(env):
    e, m = env
    f = fidx(m, "add")
    pc = pcs(m, f, I32_ADD)[0]
    before = CountProbe()
    e.instrument.insert(m, f, pc, before)                # before any instance exists
    i1 = inst_of(e, m)
    i1.exports["add"](1, 1)
    between = CountProbe()
    e.instrument.insert(m, "add", pc, between)           # by name, between calls
    i1.exports["add"](1, 1)
    i2 = inst_of(e, m)                                   # probes are per module: all instances
    i2.exports["add"](1, 1)
    assert before.count == 3 and between.count == 2
    assert e.instrument.remove(m, f, pc, between) is True
    assert e.instrument.remove(m, f, pc, between) is False
    i2.exports["add"](1, 1)
    assert before.count == 4 and between.count == 2


def test_bad_locations_are_rejected(env):
    e, m = env
    f = fidx(m, "add")
    with pytest.raises(ValueError):
        e.instrument.insert(m, f, 9999, CountProbe())
    with pytest.raises(ValueError):
        e.instrument.insert(m, "nosuchfunc", 0, CountProbe())
    with pytest.raises(TypeError):
        e.instrument.insert(m, f, 0, object())


def test_non_intrusive_memory_and_results(env):
    e, m = env
    inst = inst_of(e, m)
    for f in range(m.num_funcs):
        for pc, _ in m.code_of(f).instrs:
            e.instrument.insert(m, f, pc, FuncProbe(lambda loc: loc.frame.num_operands))
    e.instrument.insert_global(Probe())
    inst.exports["store"](16, 0x12345678)
    assert bytes(inst.exports["memory"].read(16, 4)) == bytes.fromhex("78563412")
    assert inst.exports["sum"](100) == 4950 and inst.exports["exits"](2) == 20


def test_probe_may_call_wasm_reentrantly(env):
    e, m = env
    f_add, f_str = fidx(m, "add"), fidx(m, "straight")
    inst = inst_of(e, m)
    got, inner = [], CountProbe()
    e.instrument.insert(m, f_str, 0, inner)
    e.instrument.insert(m, f_add, pcs(m, f_add, I32_ADD)[0], FuncProbe(
        lambda loc: got.append((inst.exports["straight"](), loc.frame.get_operand(0),
                                loc.frame.depth))))
    assert inst.exports["inc"](4) == 5
    assert got == [(6, 1, 1)] and inner.count == 1

    def bad(loc):
        raise KeyError("inner")
    e.instrument.insert(m, f_str, pcs(m, f_str, NOP)[0], FuncProbe(bad))
    with pytest.raises(KeyError) as ei:
        inst.exports["inc"](4)
    notes = getattr(ei.value, "__notes__", [])
    assert len(notes) == 1 and '"straight"' in notes[0]          # the innermost probe
    e.instrument.remove(m, f_str, pcs(m, f_str, NOP)[0], e.instrument.probes_at(
        m, f_str, pcs(m, f_str, NOP)[0])[0])
    assert inst.exports["inc"](4) == 5                           # usable afterwards
