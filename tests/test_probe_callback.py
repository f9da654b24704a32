"""The native probe callback (wz_thread.py_probe/py_runs, native/build_native.py): native code calls
the instrumentation's (f, arg) itself; results, actions and exceptions behave as before."""
from __future__ import annotations

import pytest
from spec_cache import wat2wasm

from wizardpy import Engine, Linker, Module, Trap
from wizardpy.instrumentation import FuncProbe, Probe, ProbeAction

WAT = r"""
(module
  (func (export "loop") (param $n i32) (result i32) (local $s i32)
    loop $l
      local.get $s local.get $n i32.add local.set $s
      local.get $n i32.const 1 i32.sub local.tee $n
      br_if $l
    end
    local.get $s))
"""


def setup(superinstructions=True):
    e = Engine(tier="int", superinstructions=superinstructions)
    m = Module(e, wat2wasm(WAT))
    return e, m, Linker(e).instantiate(m).exports["loop"]


class Rec(Probe):
    def __init__(self):
        self.pcs = []

    def fire(self, loc):
        self.pcs.append(loc.pc)


def test_global_probe_sees_every_pc_in_order():
    e, m, f = setup()
    g = Rec()
    e.instrument.insert_global(g)
    assert f(2) == 3
    instrs = [pc for pc, _ in m.code_of(0).instrs]
    one_iter = instrs[:10]              # loop .. br_if
    assert g.pcs == one_iter * 2 + instrs[10:]   # br_if continues at the loop instruction
    e.instrument.remove_global(g)
    assert f(2) == 3 and len(g.pcs) == 2 * 10 + 3


@pytest.mark.parametrize("n_global", [1, 2])
def test_global_probe_trap_action(n_global):
    e, m, f = setup()
    probes = [FuncProbe(lambda loc: ProbeAction.trap("stop here") if loc.pc == m.code_of(0).instrs[3][0]
                        else None) for _ in range(n_global)]
    for p in probes:
        e.instrument.insert_global(p)
    with pytest.raises(Trap) as ei:
        f(3)
    assert ei.value.reason == "stop here"
    assert ei.value.frames[0][2] == m.code_of(0).instrs[3][0]


@pytest.mark.parametrize("where", ["local", "global", "global2"])
@pytest.mark.parametrize("exc", [ValueError, KeyboardInterrupt])
def test_probe_exception_is_parked_and_reraised(where, exc):
    e, m, f = setup()

    def boom(loc):
        raise exc("boom")
    p = FuncProbe(boom)
    if where == "local":
        e.instrument.insert(m, 0, m.code_of(0).instrs[2][0], p)
    else:
        e.instrument.insert_global(p)
        if where == "global2":
            e.instrument.insert_global(FuncProbe(lambda loc: None))
    with pytest.raises(exc) as ei:
        f(3)
    assert getattr(ei.value, "wizard_probe", None) is not None
    assert e.pending_exception is None
    e.instrument.remove(m, 0, m.code_of(0).instrs[2][0], p) if where == "local" else \
        e.instrument.remove_global(p)
    if where == "global2":
        for q in e.instrument.global_probes:
            e.instrument.remove_global(q)
    assert f(3) == 6                     # the engine is usable afterwards


def test_probe_fire_override_still_called():
    e, m, f = setup()
    rec = Rec()
    e.instrument.insert(m, 0, m.code_of(0).instrs[2][0], rec)
    calls = []
    orig = e.probe_fire

    def spy(t, g):
        calls.append(g)
        return orig(t, g)
    e.probe_fire = spy
    assert f(4) == 10
    assert calls == [0] * 4 and len(rec.pcs) == 4
    e.probe_fire = orig
    assert f(4) == 10 and calls == [0] * 4 and len(rec.pcs) == 8


def test_probe_removes_itself_while_firing():
    e, m, f = setup()
    pc = m.code_of(0).instrs[2][0]
    hits = []

    def once(loc):
        hits.append(loc.pc)
        e.instrument.remove(m, 0, pc, p)
    p = FuncProbe(once)
    e.instrument.insert(m, 0, pc, p)
    assert f(5) == 15 and hits == [pc]
