"""Faulty probes and monitors: a probe that raises is reported with its name, its Wasm location
(func +pc) and its own Python traceback (`wizardpy.errors.ProbeError`); the engine stays
consistent (the next call works); the CLI still prints the other monitors' reports (exit 3)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from wizardpy import (Engine, FuncProbe, Instance, Module, OperandProbe, Probe, Trap)
from wizardpy.errors import ProbeError

sys.path.insert(0, str(Path(__file__).parent))
from test_api import wat  # noqa: E402

SRC = """
(module
  (func $add (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
  (func $inc (export "inc") (param i32) (result i32) local.get 0 i32.const 1 call $add)
  (func (export "_start") (local i32)
    (loop local.get 0 call $inc local.tee 0 i32.const 50 i32.ne br_if 0)))
"""
I32_ADD = 0x6A


@pytest.fixture
def env():
    e = Engine()
    m = Module(e, wat(SRC))
    return e, m


def fidx(m, name):
    return next(i for i, n in m.defn.names.funcs.items() if n == name)


def add_pc(m):
    f = fidx(m, "add")
    return f, next(pc for pc, op in m.code_of(f).instrs if op == I32_ADD)


def buggy_probe_function(loc):
    raise ValueError("probe bug")


def assert_consistent(e, inst):
    t = e.thread
    assert t.nframes == 0 and t.sp == 0 and e.pending_exception is None
    assert inst.exports["inc"](41) == 42


def test_local_probe_error_names_probe_location_traceback(env):
    e, m = env
    f, pc = add_pc(m)
    probe = FuncProbe(buggy_probe_function)
    e.instrument.insert(m, f, pc, probe)
    inst = Instance(e, m, [])
    with pytest.raises(ValueError, match="probe bug") as ei:
        inst.exports["inc"](1)
    pe = ProbeError.of(ei.value)
    assert isinstance(pe, ProbeError) and pe.original is ei.value
    assert pe.who is probe and pe.where == f'"add" +{pc}' and pe.kind == "probe"
    assert "buggy_probe_function" in str(pe) and f'"add" +{pc}' in str(pe)
    assert "ValueError: probe bug" in str(pe)
    tb = pe.traceback
    assert "Traceback" in tb and "buggy_probe_function" in tb and 'raise ValueError("probe bug")' in tb
    # the engine is consistent: remove the probe, the next call works
    e.instrument.remove(m, f, pc, probe)
    assert_consistent(e, inst)


def test_probe_keeps_raising_engine_stays_usable(env):
    e, m = env
    f, pc = add_pc(m)
    e.instrument.insert(m, f, pc, FuncProbe(buggy_probe_function))
    inst = Instance(e, m, [])
    for _ in range(50):
        with pytest.raises(ValueError):
            inst.exports["_start"]()
        assert e.thread.nframes == 0 and e.thread.sp == 0


def test_global_probe_error(env):
    e, m = env

    class Exploding(Probe):
        def __init__(self):
            self.n = 0

        def fire(self, loc):
            self.n += 1
            if self.n == 7:
                raise KeyError("seven")
    p = Exploding()
    e.instrument.insert_global(p)
    inst = Instance(e, m, [])
    with pytest.raises(KeyError) as ei:
        inst.exports["_start"]()
    pe = ProbeError.of(ei.value)
    assert pe.kind == "global probe" and pe.who is p and "+" in pe.where
    assert "Exploding.fire" in pe.traceback or "in fire" in pe.traceback
    e.instrument.remove_global(p)
    assert_consistent(e, inst)


def test_operand_probe_error(env):
    e, m = env
    f, pc = add_pc(m)

    seen = []

    def cb(v):                      # top of stack at add's i32.add: the constant 1 of inc
        seen.append(v)
        if len(seen) == 2:
            raise ZeroDivisionError("second firing")
    p = OperandProbe(cb)
    e.instrument.insert(m, f, pc, p)
    inst = Instance(e, m, [])
    assert inst.exports["inc"](5) == 6
    with pytest.raises(ZeroDivisionError) as ei:
        inst.exports["inc"](2)
    pe = ProbeError.of(ei.value)
    assert pe.where == f'"add" +{pc}' and "in cb" in pe.traceback
    e.instrument.remove(m, f, pc, p)
    assert_consistent(e, inst)


def test_nested_probe_error_reports_innermost(env):
    """A probe that calls Wasm whose probe raises: the inner probe is the one reported."""
    e, m = env
    f, pc = add_pc(m)
    inst = Instance(e, m, [])
    inner = FuncProbe(buggy_probe_function)
    e.instrument.insert(m, f, pc, inner)
    outer = FuncProbe(lambda loc: inst.exports["add"](1, 2))
    e.instrument.insert(m, fidx(m, "inc"), 0, outer)
    with pytest.raises(ValueError) as ei:
        inst.exports["inc"](1)
    assert ProbeError.of(ei.value).who is inner
    e.instrument.remove(m, f, pc, inner)
    e.instrument.remove(m, fidx(m, "inc"), 0, outer)
    assert_consistent(e, inst)


def test_probe_trap_action_is_not_a_probe_error(env):
    from wizardpy import ProbeAction
    e, m = env
    f, pc = add_pc(m)
    e.instrument.insert(m, f, pc, FuncProbe(lambda loc: ProbeAction.trap("stop")))
    inst = Instance(e, m, [])
    with pytest.raises(Trap, match="stop"):
        inst.exports["inc"](1)


# ------------------------------------------------------------------------------------ CLI
FAULTY_PROBE_MONITOR = '''
from wizardpy import Monitor, FuncProbe

def exploding_probe(loc):
    raise RuntimeError("monitor probe exploded")

class Faulty(Monitor):
    name = "faulty"
    def on_parse(self, module):
        f = next(i for i, n in module.defn.names.funcs.items() if n == "add")
        self.engine.instrument.insert(module, f, 0, FuncProbe(exploding_probe))
    def on_finish(self, report):
        report.text("faulty report")
'''

FAULTY_FINISH_MONITOR = '''
from wizardpy import Monitor

class BadFinish(Monitor):
    name = "badfinish"
    def on_finish(self, report):
        report.text("partial")
        raise ValueError("finish exploded")
'''

FAULTY_PARSE_MONITOR = '''
from wizardpy import Monitor

class BadParse(Monitor):
    name = "badparse"
    def on_parse(self, module):
        raise ValueError("parse exploded")
'''


def cli(*args):
    return subprocess.run([sys.executable, "-m", "wizardpy", *map(str, args)], capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def files(tmp_path):
    w = tmp_path / "app.wasm"
    w.write_bytes(wat(SRC))
    out = {"wasm": w}
    for name, text in (("probe", FAULTY_PROBE_MONITOR), ("finish", FAULTY_FINISH_MONITOR),
                       ("parse", FAULTY_PARSE_MONITOR)):
        p = tmp_path / f"{name}_mon.py"
        p.write_text(text)
        out[name] = p
    return out


def test_cli_faulty_probe_other_reports_printed(files):
    p = cli("run", "--monitor", "calls", "--monitor", files["probe"], files["wasm"])
    assert p.returncode == 3, (p.stdout, p.stderr)
    assert "wizardpy: probe error:" in p.stderr
    assert "exploding_probe" in p.stderr and '"add" +0' in p.stderr
    assert "RuntimeError: monitor probe exploded" in p.stderr
    assert "Traceback" in p.stderr and "raise RuntimeError" in p.stderr
    assert "internal error" not in p.stderr
    assert '"inc"' in p.stdout or "inc" in p.stdout          # the calls monitor's report
    assert "faulty report" in p.stdout


def test_cli_faulty_on_finish(files):
    p = cli("run", "--monitor", files["finish"], "--monitor", "calls", files["wasm"])
    assert p.returncode == 3, (p.stdout, p.stderr)
    assert "probe error: monitor 'badfinish' at on_finish raised ValueError: finish exploded" in p.stderr
    assert "raise ValueError" in p.stderr
    assert "inc" in p.stdout                                 # calls still reported


def test_cli_faulty_on_parse(files):
    """Before the program runs, a monitor's exception is an internal error (one line; the
    traceback with --debug), as tests/test_cli.py requires."""
    p = cli("run", "--monitor", files["parse"], "--monitor", "calls", files["wasm"])
    assert p.returncode == 70, (p.stdout, p.stderr)
    assert "ValueError: parse exploded" in p.stderr and "Traceback" not in p.stderr
