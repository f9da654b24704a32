"""Tier "tiered" with monitors: a function holding more than EngineConfig.jit_max_generic_probes
generic probe sites (not counters/OperandProbes) stays in the interpreter; once its probes are
removed it is compiled at its next call, removals never back off, results are unchanged."""
from __future__ import annotations

from spec_cache import wat2wasm

from wizardpy import CountProbe, Engine, FuncProbe, Linker, Module

SUM = r"""
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


def _setup(**kw):
    e = Engine(tier="tiered", jit_threshold=3, jit_max_generic_probes=2, **kw)
    m = Module(e, wat2wasm(SUM))
    pcs = [pc for pc, _ in m.code_of(0).instrs]
    i = Linker(e).instantiate(m)
    return e, m, i, i.exports["sum"], pcs


def test_many_generic_probes_stay_interpreted_until_removed():
    e, m, i, f, pcs = _setup()
    null = e.ffi.NULL
    hits = []
    probes = []
    for pc in pcs[:4]:                          # 4 generic sites > jit_max_generic_probes = 2
        p = FuncProbe(lambda loc: hits.append(loc.pc))
        e.instrument.insert(m, 0, pc, p)
        probes.append((pc, p))
    assert e.instrument.generic_sites(m, 0) == 4
    results = [f(10) for _ in range(10)]        # far past the threshold: not compiled
    assert results == [55] * 10
    assert f._ptr.jit_entry == null
    assert e.jit.functions_compiled == 0 and e.jit.tier_ups == 0
    assert e.jit.counters()["held for probes"] >= 1
    assert hits                                  # probes fired in the interpreter
    changes = dict(e.jit._changes)
    for pc, p in probes[:2]:                    # 2 left <= jit_max_generic_probes: eligible
        e.instrument.remove(m, 0, pc, p)
    assert e.jit._changes == changes            # removals do not back off
    assert e.instrument.generic_sites(m, 0) == 2
    assert f._ptr.jit_entry == null
    assert f(10) == 55                          # the next call compiles it
    assert f._ptr.jit_entry != null
    assert e.jit.functions_compiled == 1 and e.jit.tier_ups == 1
    n = len(hits)
    assert f(10) == 55 and len(hits) > n        # remaining probes fire in compiled code
    for pc, p in probes[2:]:
        e.instrument.remove(m, 0, pc, p)
    assert e.instrument.generic_sites(m, 0) == 0
    assert f(10) == 55 and f(100) == 5050


def test_self_removing_probes_like_coverage():
    """Coverage: a probe at every instruction removes itself at its first firing."""
    e, m, i, f, pcs = _setup()
    seen = set()

    class FirstHit(FuncProbe):
        def __init__(self):
            super().__init__(self.cb)

        def cb(self, loc):
            seen.add(loc.pc)
            e.instrument.remove(m, loc.func, loc.pc, self)

    for pc in pcs:
        e.instrument.insert(m, 0, pc, FirstHit())
    changes = e.jit._changes.get((m, 0), 0)
    assert f(5) == 15                           # one call fires (and removes) every probe
    assert e.instrument.generic_sites(m, 0) <= 2
    assert e.jit._changes.get((m, 0), 0) == changes    # only the insertions counted
    for _ in range(5):
        assert f(7) == 28
    assert f._ptr.jit_entry != e.ffi.NULL and e.jit.functions_compiled == 1
    left = {pc for pc in pcs if e.instrument.probes_at(m, 0, pc)}
    assert seen | left == set(pcs) and not seen & left


def test_count_probes_do_not_hold():
    e, m, i, f, pcs = _setup()
    counts = [CountProbe() for _ in pcs]
    for pc, c in zip(pcs, counts):
        e.instrument.insert(m, 0, pc, c)
    assert e.instrument.generic_sites(m, 0) == 0
    for _ in range(4):
        assert f(3) == 6
    assert f._ptr.jit_entry != e.ffi.NULL and e.jit.counters()["held for probes"] == 0
    assert counts[0].count == 4


def test_no_limit_compiles_anyway():
    e, m, i, f, pcs = _setup()
    e2 = Engine(tier="tiered", jit_threshold=2, jit_max_generic_probes=None)
    m2 = Module(e2, wat2wasm(SUM))
    f2 = Linker(e2).instantiate(m2).exports["sum"]
    for pc in pcs:
        e2.instrument.insert(m2, 0, pc, FuncProbe(lambda loc: None))
    for _ in range(3):
        assert f2(4) == 10
    assert f2._ptr.jit_entry != e2.ffi.NULL
