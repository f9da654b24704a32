"""Resource limits: fuel, timeout, interrupt, memory cap, call depth — from the API and the CLI.

Each limit traps with a clear reason (or memory.grow returns -1), the CLI exits with its
documented code, and the engine stays usable afterwards.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from wizardpy import Engine, EngineConfig, Func, FuncType, Instance, Linker, Module, Trap
from wizardpy.types import I32

sys.path.insert(0, str(Path(__file__).parent))
from test_api import wat  # noqa: E402

SRC = """
(module
  (memory (export "memory") 1)
  (func (export "spin") (loop br 0))
  (func (export "count") (param i32) (result i32) (local i32)
    (block (loop
      local.get 0 i32.eqz br_if 1
      local.get 0 i32.const 1 i32.sub local.set 0
      local.get 1 i32.const 1 i32.add local.set 1
      br 0))
    local.get 1)
  (func (export "grow") (param i32) (result i32) local.get 0 memory.grow)
  (func $rec (export "rec") (param i32) (result i32)
    local.get 0 i32.const 1 i32.add call $rec)
  (func (export "_start") (local i32)
    (loop local.get 0 i32.const 1 i32.add local.tee 0 i32.const 100000 i32.ne br_if 0)))
"""
# instructions of count(n): entry block+loop (2) + per iteration 13 (loop, local.get, i32.eqz,
# br_if, 4 + 4 arithmetic, br... measured below) -- the test derives it from two runs instead.


@pytest.fixture(scope="module")
def wasm() -> bytes:
    return wat(SRC)


def inst(engine, wasm):
    return Instance(engine, Module(engine, wasm), [])


# ------------------------------------------------------------------------------------ fuel
def test_fuel_counts_instructions_exactly(wasm):
    e = Engine(EngineConfig(fuel=10**9))
    ex = inst(e, wasm).exports
    assert ex["count"](0) == 0
    c0 = e.fuel_consumed
    e.set_fuel(10**9)
    ex["count"](10)
    c10 = e.fuel_consumed
    e.set_fuel(10**9)
    ex["count"](20)
    c20 = e.fuel_consumed
    per = (c20 - c10) // 10
    assert c20 - c10 == c10 - c0 == per * 10 and per == 13, (c0, c10, c20)
    # a budget of exactly the needed instructions suffices; one fewer traps
    e.set_fuel(c10)
    assert ex["count"](10) == 10 and e.fuel_remaining == 0
    e.set_fuel(c10 - 1)
    with pytest.raises(Trap, match="fuel exhausted") as ti:
        ex["count"](10)
    assert ti.value.reason == "fuel exhausted" and ti.value.frames
    assert e.fuel_consumed == c10 - 1


def test_fuel_exhausted_then_engine_usable(wasm):
    e = Engine(fuel=1000)
    ex = inst(e, wasm).exports
    with pytest.raises(Trap, match="fuel exhausted"):
        ex["spin"]()
    assert e.fuel_consumed == 1000 and e.fuel_remaining == 0
    with pytest.raises(Trap, match="fuel exhausted"):   # still empty: traps at once
        ex["count"](5)
    e.set_fuel(10**6)
    assert ex["count"](1000) == 1000
    e.set_fuel(None)
    assert not e.limits_active and e.fuel_consumed == 0
    assert ex["count"](100000) == 100000
    # a fresh instance on the same engine works too
    assert inst(e, wasm).exports["count"](7) == 7


def test_fuel_shared_with_nested_calls(wasm):
    """Wasm -> host -> Wasm: one budget for the whole thread."""
    e = Engine()
    m = Module(e, wat("""(module (import "h" "f" (func $f (param i32) (result i32)))
        (func (export "outer") (param i32) (result i32) local.get 0 call $f)
        (func (export "spin") (loop br 0)))"""))
    holder = {}
    lk = Linker(e)
    lk.define_func("h", "f", FuncType((I32,), (I32,)), lambda x: holder["spin"]() or x)
    i = lk.instantiate(m)
    holder["spin"] = i.exports["spin"]
    e.set_fuel(5000)
    with pytest.raises(Trap, match="fuel exhausted"):
        i.exports["outer"](3)
    assert e.fuel_remaining == 0
    e.set_fuel(None)
    holder["spin"] = lambda: None
    assert i.exports["outer"](3) == 3


def test_no_limits_means_no_limits_mode(wasm):
    e = Engine()
    assert not e.limits_active and e.thread.limits == 0
    e.set_fuel(10)
    assert e.limits_active
    e.set_fuel(None)
    assert not e.limits_active


def test_spec_semantics_unchanged_in_limits_mode(wasm):
    """Limits mode changes nothing a program computes (same results with and without)."""
    a, b = Engine(), Engine(fuel=10**12, timeout=60)
    ia, ib = inst(a, wasm).exports, inst(b, wasm).exports
    for n in (0, 1, 17, 1000):
        assert ia["count"](n) == ib["count"](n)
    for x in (0, 1, 5):
        assert ia["grow"](x) == ib["grow"](x)


# ------------------------------------------------------------------------------------ timeout
def test_timeout_traps_and_engine_usable(wasm):
    e = Engine(EngineConfig(timeout=0.3))
    ex = inst(e, wasm).exports
    t0 = time.monotonic()
    with pytest.raises(Trap, match="timeout") as ti:
        ex["spin"]()
    dt = time.monotonic() - t0
    assert 0.25 <= dt < 5, dt
    assert ti.value.reason == "timeout"
    assert ex["count"](10000) == 10000      # each outermost call gets a fresh deadline
    with pytest.raises(Trap, match="timeout"):
        ex["spin"]()
    e.set_timeout(None)
    assert not e.limits_active
    assert ex["count"](3) == 3


def test_interrupt_from_another_thread(wasm):
    e = Engine(interruptible=True)
    ex = inst(e, wasm).exports
    threading.Timer(0.2, e.interrupt).start()
    with pytest.raises(Trap, match="interrupted"):
        ex["spin"]()
    assert ex["count"](10) == 10             # the flag was cleared by the trap


# ------------------------------------------------------------------------------------ memory, depth
def test_memory_cap(wasm):
    e = Engine(EngineConfig(max_memory_pages=3))
    ex = inst(e, wasm).exports
    assert ex["grow"](2) == 1
    assert ex["grow"](1) == -1               # would be 4 pages > cap
    assert ex["memory"].size == 3
    assert ex["grow"](0) == 3
    e0 = Engine(EngineConfig(max_memory_pages=0))
    with pytest.raises(Exception, match="exceeds the engine limit"):
        inst(e0, wasm)
    assert inst(e0, wat("(module (func (export \"f\") (result i32) i32.const 1))")).exports["f"]() == 1


def test_call_depth_limit(wasm):
    e = Engine(EngineConfig(max_call_depth=200))
    ex = inst(e, wasm).exports
    with pytest.raises(Trap, match="call stack exhausted") as ti:
        ex["rec"](0)
    assert len(ti.value.frames) == 200
    assert ex["count"](5) == 5


def test_max_nested_invokes_config(wasm):
    """Python -> Wasm -> host -> Wasm re-entry is bounded by EngineConfig.max_nested_invokes."""
    e = Engine(EngineConfig(max_nested_invokes=20))
    m = Module(e, wat("""(module (import "h" "f" (func $f (param i32) (result i32)))
        (func (export "g") (param i32) (result i32) local.get 0 call $f))"""))
    lk = Linker(e)
    holder = {}
    lk.define_func("h", "f", FuncType((I32,), (I32,)), lambda x: holder["g"](x + 1))
    i = lk.instantiate(m)
    holder["g"] = i.exports["g"]
    with pytest.raises(Trap, match="call stack exhausted"):
        i.exports["g"](0)
    holder["g"] = lambda x: x
    assert i.exports["g"](4) == 5


# ------------------------------------------------------------------------------------ CLI
def cli(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "wizardpy", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def wasm_file(tmp_path_factory, wasm) -> Path:
    p = tmp_path_factory.mktemp("limits") / "loop.wasm"
    p.write_bytes(wasm)
    return p


def test_cli_fuel(wasm_file):
    p = cli("run", "--fuel", 1000, wasm_file)
    assert p.returncode == 123 and "trap: fuel exhausted" in p.stderr, p.stderr
    assert "Traceback" not in p.stderr
    assert cli("run", "--fuel", 10**7, wasm_file).returncode == 0


def test_cli_timeout(wasm_file):
    t0 = time.monotonic()
    p = cli("run", "--timeout", "0.5", "--invoke", "spin", wasm_file)
    assert p.returncode == 124 and "trap: timeout" in p.stderr, p.stderr
    assert time.monotonic() - t0 < 30


def test_cli_max_memory(wasm_file):
    for size, arg, want in (("2p", 1, "1"), ("2p", 2, "-1"), ("1MiB", 15, "1"), ("1MiB", 16, "-1"),
                            ("131072", 1, "1"), ("131072", 2, "-1")):
        p = cli("run", "--max-memory", size, "--invoke", "grow", wasm_file, arg)
        assert p.returncode == 0 and p.stdout.strip() == want, (size, arg, p.stdout, p.stderr)
    p = cli("run", "--max-memory", "1000", "--invoke", "grow", wasm_file, 0)
    assert p.returncode == 1 and "cannot instantiate" in p.stderr and "Traceback" not in p.stderr
    p = cli("run", "--max-memory", "lots", "--invoke", "grow", wasm_file, 0)
    assert p.returncode == 2


def test_cli_max_call_depth(wasm_file):
    p = cli("run", "--max-call-depth", 100, "--invoke", "rec", wasm_file, 0)
    assert p.returncode == 134 and "trap: call stack exhausted" in p.stderr
    assert "more frames" in p.stderr
    assert cli("run", "--max-call-depth", 0, wasm_file).returncode == 2


@pytest.mark.parametrize("limit", [["--timeout", "100"], ["--fuel", str(10**15)]])
def test_cli_ctrl_c_interrupts_cleanly(wasm_file, limit):
    """With limits active, SIGINT sets the interrupt flag: trap "interrupted", monitor reports
    still printed, exit 130."""
    proc = subprocess.Popen([sys.executable, "-m", "wizardpy", "run", *limit, "--monitor", "calls",
                             "--invoke", "spin", str(wasm_file)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2.0)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, (out, err)
    assert "trap: interrupted" in err and "Traceback" not in err
    assert out.strip(), "the monitor's report is printed"


def test_cli_ctrl_c_without_limits_still_stops(wasm_file):
    proc = subprocess.Popen([sys.executable, "-m", "wizardpy", "run", "--invoke", "spin",
                             str(wasm_file)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    assert proc.returncode in (130, -signal.SIGINT)
