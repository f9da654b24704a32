"""TallyProbe: native counts of the i32 on top of the stack, `counts[min(v, n - 1)]` (v unsigned),
with no Python call per firing, in every tier; compared with an OperandProbe counting the same."""
from __future__ import annotations

import pytest
from spec_cache import wat2wasm
from test_probes import SUM_FUNC, TIER_CONFIGS, fidx, inst_of, pcs, spy, tier_engine

from wizardpy import Module
from wizardpy.instrumentation import FuncProbe, OperandProbe, TallyProbe

WAT = r"""
(module""" + SUM_FUNC + r"""
  (func $pick (export "pick") (param i32) (result i32)
    block block block
      local.get 0 br_table 0 1 2
    end i32.const 10 return
    end i32.const 20 return
    end i32.const 30)
  (func $fl (export "fl") (param f64) (result f64)
    local.get 0 local.get 0 f64.add)
)
"""
BR_IF, BR_TABLE, F64_ADD = 0x0D, 0x0E, 0xA0


@pytest.fixture(params=list(TIER_CONFIGS))
def env(request):
    e = tier_engine(request.param)
    # compiled code with these probes must compile (a failed compilation would silently leave
    # the function to the interpreter, and the tier would not be tested)
    request.addfinalizer(lambda: e.jit is None or not e.jit.errors
                         or pytest.fail(f"JIT compile errors: {e.jit.errors[:1]}"))
    return e, Module(e, wat2wasm(WAT))


def oracle(n):
    """An OperandProbe computing the same counts in Python."""
    counts = [0] * n

    def cb(v):
        v &= 0xFFFFFFFF
        counts[min(v, n - 1)] += 1
    return OperandProbe(cb), counts


def test_br_if_condition_counts_natively(env):
    e, m = env
    f = fidx(m, "sum")
    pc = pcs(m, f, BR_IF)[0]
    t = TallyProbe(2)
    e.instrument.insert(m, f, pc, t)
    calls = spy(e)
    inst = inst_of(e, m)
    assert inst.exports["sum"](10) == 45
    assert t.counts == [1, 9]                 # [not taken, taken]
    assert calls[0] == 0                      # no Python call
    inst.exports["sum"](3)
    assert t.counts == [2, 11]


def test_br_table_index_counts_with_default_last(env):
    e, m = env
    f = fidx(m, "pick")
    pc = pcs(m, f, BR_TABLE)[0]
    t, (op, want) = TallyProbe(3), oracle(3)
    e.instrument.insert_many(m, [(f, pc, t), (f, pc, op)])
    inst = inst_of(e, m)
    got = [inst.exports["pick"](i) for i in (0, 1, 2, 7, 1, -1)]
    assert got == [10, 20, 30, 30, 20, 30]
    assert t.counts == want == [1, 2, 3]      # -1 is 0xFFFFFFFF unsigned: the default


def test_probes_of_different_n_at_one_location_fold_their_counts(env):
    """A larger n inserted later (the native counts grow) while a smaller one stays exact."""
    e, m = env
    f = fidx(m, "pick")
    pc = pcs(m, f, BR_TABLE)[0]
    small, big = TallyProbe(2), TallyProbe(5)
    inst = inst_of(e, m)
    e.instrument.insert(m, f, pc, small)
    for i in (0, 1, 2, 3):
        inst.exports["pick"](i)
    e.instrument.insert(m, f, pc, big)
    for i in (0, 3, 4, 9):
        inst.exports["pick"](i)
    assert small.counts == [2, 6]
    assert big.counts == [1, 0, 0, 1, 2]
    e.instrument.remove(m, f, pc, small)
    inst.exports["pick"](1)
    assert small.counts == [2, 6] and big.counts == [1, 1, 0, 1, 2]


def test_inserted_by_a_probe_mid_run_counts_from_the_next_visit(env):
    e, m = env
    f = fidx(m, "sum")
    pc = pcs(m, f, BR_IF)[0]
    t = TallyProbe(2)
    seen = [0]

    def arm(loc):
        seen[0] += 1
        if seen[0] == 4:
            e.instrument.insert(m, f, pc, t)
    e.instrument.insert(m, f, pcs(m, f, 0x03)[0], FuncProbe(arm))    # at the loop header
    assert inst_of(e, m).exports["sum"](10) == 45
    assert t.counts == [1, 6]                 # iterations 4..10 reached the br_if


def test_rejected_where_the_top_is_not_an_i32(env):
    e, m = env
    with pytest.raises(ValueError, match="i32 on top"):
        e.instrument.insert(m, fidx(m, "fl"), pcs(m, fidx(m, "fl"), F64_ADD)[0], TallyProbe(2))
    with pytest.raises(ValueError, match="i32 on top"):
        e.instrument.insert(m, fidx(m, "sum"), 0, TallyProbe(2))       # entry: empty stack
    with pytest.raises(ValueError, match="i32 on top"):
        e.instrument.insert_many(m, [(fidx(m, "fl"), 0, TallyProbe(2))])
    assert e.instrument.probes_at(m, fidx(m, "fl"), 0) == ()
    with pytest.raises(ValueError, match="local probe"):
        e.instrument.insert_global(TallyProbe(2))
    with pytest.raises(ValueError):
        TallyProbe(0)
