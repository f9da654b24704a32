"""probes/: the example probes (divzero, watchpoint, calllog, nanfinder, sampler) on small WAT
programs with known behaviour, from Python and as `--monitor probes/NAME.py` on the command line."""
from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

import wizardpy.instrumentation  # noqa: F401,E402

from wizardpy import Engine, Instance, Module, Trap  # noqa: E402
from wizardpy.monitor import instructions  # noqa: E402

from probes.calllog import CallLog  # noqa: E402
from probes.divzero import DivZeroGuard  # noqa: E402
from probes.nanfinder import NanFinder  # noqa: E402
from probes.sampler import Sampler  # noqa: E402
from probes.watchpoint import Watchpoint  # noqa: E402
from spec_cache import wat2wasm

ROOT = Path(__file__).resolve().parent.parent

PROG = r"""
(module
  (memory (export "memory") 1)
  (func $div (export "div") (param i32 i32) (result i32)
    (i32.div_s (local.get 0) (local.get 1)))
  (func $rem (export "rem") (param i64 i64) (result i64)
    (i64.rem_u (local.get 0) (local.get 1)))
  (func $outer (export "outer") (param i32) (result i32)
    (call $div (i32.const 100) (local.get 0)))
  (func $poke (export "poke") (param $a i32) (param $v i32)
    (i32.store (local.get $a) (local.get $v))
    (drop (i32.load offset=4 (local.get $a))))
  (func $fill (export "fill") (param $a i32) (param $n i32)
    (memory.fill (local.get $a) (i32.const 9) (local.get $n)))
  (func $fib (export "fib") (param i32) (result i32)
    (if (result i32) (i32.lt_s (local.get 0) (i32.const 2))
      (then (local.get 0))
      (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
                     (call $fib (i32.sub (local.get 0) (i32.const 2)))))))
  (func $nan (export "nan") (param f64) (result f64)
    (f64.add (f64.const 1) (f64.sqrt (local.get 0))))
  (func $spin (export "spin") (param $n i32)
    (loop $l
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $l (local.get $n))))
)
"""


wat = wat2wasm   # tests/spec_cache.py


def setup():
    e = Engine()
    return e, Module(e, wat(PROG))


def pc_of(m, f, mnemonic, k=0):
    from wizardpy import opcodes as ops

    return [pc for pc, op, _ in instructions(m, f) if ops.name(op) == mnemonic][k]


def test_divzero():
    e, m = setup()
    g = DivZeroGuard(e.instrument, m)
    assert g.sites == 2
    i = Instance(e, m, [])
    assert i.exports["div"](7, 2) == 3
    assert i.exports["div"](-(1 << 31) + 1, -1) == (1 << 31) - 1
    assert g.events == []
    with pytest.raises(Trap, match="divide by zero"):
        i.exports["outer"](0)
    with pytest.raises(Trap, match="overflow"):
        i.exports["div"](-(1 << 31), -1)
    with pytest.raises(Trap):
        i.exports["rem"](5, 0)
    ev = g.events
    assert [(x.func, x.pc, x.instruction, x.dividend, x.divisor, x.kind) for x in ev] == [
        ('"div"', pc_of(m, 0, "i32.div_s"), "i32.div_s", 100, 0, "divide by zero"),
        ('"div"', pc_of(m, 0, "i32.div_s"), "i32.div_s", -(1 << 31), -1, "overflow"),
        ('"rem"', pc_of(m, 1, "i64.rem_u"), "i64.rem_u", 5, 0, "divide by zero"),
    ]
    assert ev[0].stack == (f'"outer" +{pc_of(m, 2, "call")}',)


def test_divzero_fix_writes_the_divisor():
    e, m = setup()
    g = DivZeroGuard(e.instrument, m, fix=True)
    i = Instance(e, m, [])
    assert i.exports["div"](42, 0) == 42           # divisor rewritten to 1
    assert len(g.events) == 1


def test_watchpoint():
    e, m = setup()
    w = Watchpoint(e.instrument, m, 0x100, 0x104)
    i = Instance(e, m, [])
    i.exports["poke"](0x100, 42)     # store hits; its load at 0x104 does not
    i.exports["poke"](0xFC, 5)       # store at 0xFC..0xFF misses; load at 0x100 reads 42
    i.exports["poke"](0x200, 1)      # nothing
    i.exports["fill"](0xF0, 0x20)    # covers 0xF0..0x10F
    i.exports["fill"](0x200, 0x20)   # misses
    hits = [(h.kind, h.func, h.instruction, h.address, h.size, h.value) for h in w.hits]
    assert hits == [("store", '"poke"', "i32.store", 0x100, 4, 42),
                    ("load", '"poke"', "i32.load", 0x100, 4, 42),
                    ("memory.fill", '"fill"', "memory.fill", 0xF0, 0x20, None)]
    assert w.hits[0].pc == pc_of(m, 3, "i32.store")


def test_calllog():
    e, m = setup()
    log = CallLog(e.instrument, m, "fib")
    i = Instance(e, m, [])
    assert i.exports["fib"](3) == 2
    c1, c2 = pc_of(m, 5, "call", 0), pc_of(m, 5, "call", 1)
    assert log.lines == [
        "fib(3) from the host",
        f'  fib(2) from "fib" +{c1}',
        f'    fib(1) from "fib" +{c1}',
        "    fib -> 1",
        f'    fib(0) from "fib" +{c2}',
        "    fib -> 0",
        "  fib -> 1",
        f'  fib(1) from "fib" +{c2}',
        "  fib -> 1",
        "fib -> 2",
    ]
    assert log.calls == [[(3,), (2,)], [(2,), (1,)], [(1,), (1,)], [(0,), (0,)], [(1,), (1,)]]


def test_nanfinder():
    e, m = setup()
    nf = NanFinder(e.instrument, m)
    i = Instance(e, m, [])
    assert i.exports["nan"](4.0) == 3.0
    assert math.isnan(i.exports["nan"](-1.0))
    assert math.isnan(i.exports["nan"](-4.0))
    found = [(f, pc, s.instruction, s.count, s.executions) for f, pc, s in nf.found()]
    assert found == [(6, pc_of(m, 6, "f64.sqrt"), "f64.sqrt", 2, 3),
                     (6, pc_of(m, 6, "f64.add"), "f64.add", 2, 3)]


def test_sampler_counts_instructions():
    e, m = setup()
    s = Sampler(e.instrument, m, every=10)
    i = Instance(e, m, [])
    i.exports["spin"](100)
    # spin(n): per iteration loop local.get const sub local.set local.get br_if = 7, then the
    # loop's end and the function's end: 7 * 100 + 2 instructions, all in "spin"
    assert s.executed == 7 * 100 + 2
    assert s.samples == {("spin",): (7 * 100 + 2) // 10}
    i.exports["fib"](10)
    assert all(k[0] in ("spin", "fib") for k in s.samples)
    assert sum(s.samples.values()) == s.executed // 10


def cli(*args):
    return subprocess.run([sys.executable, "-m", "wizardpy", *map(str, args)], capture_output=True,
                          text=True, cwd=ROOT, timeout=300)


@pytest.mark.parametrize("spec,invoke,expect", [
    ("probes/divzero.py", ["outer", 0], "divide by zero: func \"div\""),
    ("probes/watchpoint.py:0x100-0x104", ["poke", 256, 7], "store func \"poke\""),
    ("probes/calllog.py:fib", ["fib", 3], "fib(3) from the host"),
    ("probes/nanfinder.py", ["nan", -1.0], "f64.sqrt: 1 NaNs in 1 executions"),
    ("probes/sampler.py:every=5", ["spin", 10], "spin 14"),
])
def test_cli(tmp_path, spec, invoke, expect):
    wasm = tmp_path / "p.wasm"
    wasm.write_bytes(wat(PROG))
    r = cli("run", "--monitor", spec, "--invoke", invoke[0], wasm, *invoke[1:])
    assert expect in r.stdout, (r.stdout, r.stderr)
