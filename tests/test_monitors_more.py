"""analyses/ calls, icount, opcodes, memstats, trace, profile, timeout: exact counts on WAT
programs whose behaviour is known by construction, and on a C program (compiled with zig at test
time) that counts its own calls in C variables and prints them; the instrumented run prints
exactly what the plain run prints."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import wizardpy.instrumentation  # noqa: F401,E402

from wizardpy import Engine, Func, FuncType, Instance, Module, Trap  # noqa: E402
from wizardpy import opcodes as ops  # noqa: E402
from wizardpy import CountProbe  # noqa: E402
from wizardpy.monitor import Session, basic_blocks, instructions, load_monitor  # noqa: E402
from wizardpy.types import I32  # noqa: E402
from spec_cache import wat2wasm

ROOT = Path(__file__).resolve().parent.parent


wat = wat2wasm   # tests/spec_cache.py


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "wizardpy", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


# fib: plain recursion (fib(n) enters fib F(n) = 2*fib(n+1)-1 times: 2 call sites);
# twice/thrice through call_indirect on a table [twice, thrice, twice];
# host: an imported function called 3 times from main
PROG = r"""
(module
  (import "env" "host" (func $host (param i32)))
  (type $un (func (param i32) (result i32)))
  (table 3 funcref)
  (elem (i32.const 0) $twice $thrice $twice)
  (func $fib (export "fib") (param i32) (result i32)
    (if (result i32) (i32.lt_s (local.get 0) (i32.const 2))
      (then (local.get 0))
      (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
                     (call $fib (i32.sub (local.get 0) (i32.const 2)))))))
  (func $twice (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2)))
  (func $thrice (param i32) (result i32) (i32.mul (local.get 0) (i32.const 3)))
  (func $apply (export "apply") (param $k i32) (param $x i32) (result i32)
    (call_indirect (type $un) (local.get $x) (local.get $k)))
  (func $main (export "main") (result i32)
    (local $i i32) (local $s i32)
    (call $host (i32.const 1))
    (loop $l
      (local.set $s (i32.add (local.get $s)
                             (call $apply (i32.rem_u (local.get $i) (i32.const 3)) (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 10))))
    (call $host (i32.const 2))
    (call $host (i32.const 3))
    (i32.add (local.get $s) (call $fib (i32.const 6))))
)
"""


def fib_calls(n: int) -> int:
    return 1 if n < 2 else 1 + fib_calls(n - 1) + fib_calls(n - 2)


def run_prog(specs, fmt="text"):
    engine = Engine()
    module = Module(engine, wat(PROG))
    mons = [load_monitor(s) if isinstance(s, str) else s for s in specs]
    session = Session(engine, mons, fmt)
    session.parse(module)
    seen = []
    host = Func(engine, FuncType((I32,), ()), seen.append)
    inst = Instance(engine, module, [host])
    session.instantiate(inst)
    # i = 0..9, k = i % 3: twice for k in {0, 2} (7 times), thrice for k = 1 (3 times)
    expect = sum(i * (3 if i % 3 == 1 else 2) for i in range(10)) + 8
    assert inst.exports["main"]() == expect
    assert seen == [1, 2, 3]
    return module, session, session.finish()


def pc_of(module, func, mnemonic, k=0):
    return [pc for pc, op, _ in instructions(module, func) if ops.name(op) == mnemonic][k]


# ------------------------------------------------------------------ calls

def test_calls_exact():
    m, s, out = run_prog(["calls"], "csv")
    rows = out.splitlines()
    fib, apply_, main = 1, 4, 5
    n = fib_calls(6)
    assert [r for r in rows if r.startswith("calls,")] == [
        f'calls,"fib",{n}', 'calls,"apply",10', 'calls,"twice",7', 'calls,"thrice",3',
        'calls,"main",1']
    sites = {tuple(r.split(",")[1:5]): int(r.split(",")[5]) for r in rows if r.startswith("callsite,")}
    assert sites == {
        ('"fib"', str(pc_of(m, fib, "call", 0)), "call", '"fib"'): (n - 1) // 2,
        ('"fib"', str(pc_of(m, fib, "call", 1)), "call", '"fib"'): (n - 1) // 2,
        ('"apply"', str(pc_of(m, apply_, "call_indirect")), "call_indirect", '"twice"'): 7,
        ('"apply"', str(pc_of(m, apply_, "call_indirect")), "call_indirect", '"thrice"'): 3,
        ('"main"', str(pc_of(m, main, "call", 0)), "call", '"host"'): 1,
        ('"main"', str(pc_of(m, main, "call", 1)), "call", '"apply"'): 10,
        ('"main"', str(pc_of(m, main, "call", 2)), "call", '"host"'): 1,
        ('"main"', str(pc_of(m, main, "call", 3)), "call", '"host"'): 1,
        ('"main"', str(pc_of(m, main, "call", 4)), "call", '"fib"'): 1,
    }


def test_calls_text_json_and_dot(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a default `calls.dot` must never land in the checkout
    _, s, out = run_prog(["calls"], "json")
    data = json.loads(out)["calls"]
    assert data["direct_calls"] == fib_calls(6) - 1 + 1 + 10 + 3
    assert data["indirect_calls"] == 10
    assert ['"apply"', '"thrice"', 3] in data["edges"]
    dot = tmp_path / "g.dot"
    _, s, out = run_prog([f"calls:dot={dot}"], "text")
    text = dot.read_text()
    assert text.startswith("digraph calls {") and text.rstrip().endswith("}")
    assert '"\\"apply\\"" -> "\\"twice\\"" [label="7"];' in text
    assert '"\\"main\\"" -> "\\"host\\"" [label="3"];' in text
    assert f"call graph written to {dot}" in out
    # a runner that writes the report to a file (--output) says so: the report is the graph
    mon = load_monitor("calls:dot")
    mon.output = str(tmp_path / "report.dot")
    _, s, out = run_prog([mon], "text")
    assert out == text.rstrip("\n")


# ------------------------------------------------------------------ icount / opcodes

def test_icount_equals_hotness_and_hand_count():
    m, s, _ = run_prog(["icount", "hotness"], "json")
    ic, hot = s.reports[0].data, s.reports[1].data
    assert ic["total"] == hot["total"]
    per = {}
    for f, _, _, c in hot["counts"]:
        per[f] = per.get(f, 0) + c
    assert ic["functions"] == per
    # by hand: twice/thrice = local.get, i32.const, i32.mul, end: 4 instructions per call
    assert per['"twice"'] == 4 * 7 and per['"thrice"'] == 4 * 3
    # apply: local.get local.get call_indirect end
    assert per['"apply"'] == 4 * 10


def test_opcodes_mix_matches_hotness():
    m, s, _ = run_prog(["opcodes", "hotness"], "json")
    op, hot = s.reports[0].data, s.reports[1].data
    dyn: dict[str, int] = {}
    for f, pc, text, c in hot["counts"]:
        name = text.split()[0]
        dyn[name] = dyn.get(name, 0) + c
    assert op["dynamic"] == dyn
    static: dict[str, int] = {}
    for f in range(1, m.num_funcs):
        for _, o, _ in instructions(m, f):
            static[ops.name(o)] = static.get(ops.name(o), 0) + 1
    assert op["static"] == static
    assert op["dynamic"]["call_indirect"] == 10


# ------------------------------------------------------------------ memstats

MEM = r"""
(module
  (memory (export "memory") 2 4)
  (data $d "0123456789")
  (func (export "run")
    (local $i i32)
    ;; 5 x (i32.store at 0x10 + 4*i, i64.load at 0x10 + 4*i in region 0)
    (loop $l
      (i32.store offset=16 (i32.mul (local.get $i) (i32.const 4)) (local.get $i))
      (drop (i64.load offset=16 (i32.mul (local.get $i) (i32.const 4))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 5))))
    ;; region 1: address operand 0x10000 - 8 + offset 8 = 0x10000, one byte store and load
    (i32.store8 offset=8 (i32.const 0xfff8) (i32.const 7))
    (drop (i32.load8_u offset=8 (i32.const 0xfff8)))
    (memory.fill (i32.const 0x100) (i32.const 1) (i32.const 300))
    (memory.copy (i32.const 0x400) (i32.const 0x100) (i32.const 300))
    (memory.copy (i32.const 0x800) (i32.const 0x100) (i32.const 12))
    (memory.init $d (i32.const 0x900) (i32.const 2) (i32.const 5))
    (drop (memory.grow (i32.const 1)))
    (drop (memory.grow (i32.const 5))))   ;; fails (max 4): still counted as requested
)
"""


def test_memstats_exact():
    engine = Engine()
    module = Module(engine, wat(MEM))
    s = Session(engine, [load_monitor("memstats")], "json")
    s.parse(module)
    inst = Instance(engine, module, [])
    inst.exports["run"]()
    d = json.loads(s.finish())["memstats"]
    assert d["loads"] == 6 and d["stores"] == 6
    assert d["bytes_read"] == 5 * 8 + 1 and d["bytes_written"] == 5 * 4 + 1
    assert d["regions"]["0"] == {"start": 0, "loads": 5, "stores": 5, "bytes_read": 40,
                                 "bytes_written": 20}
    assert d["regions"]["1"] == {"start": 65536, "loads": 1, "stores": 1, "bytes_read": 1,
                                 "bytes_written": 1}
    assert d["bulk"]["memory.fill"] == {"count": 1, "bytes": 300, "sizes": {"300": 1}}
    assert d["bulk"]["memory.copy"] == {"count": 2, "bytes": 312, "sizes": {"12": 1, "300": 1}}
    assert d["bulk"]["memory.init"] == {"count": 1, "bytes": 5, "sizes": {"5": 1}}
    assert d["grow"] == {"count": 2, "pages": 6}
    assert bytes(inst.exports["memory"].read(0x900, 5)) == b"23456"


# ------------------------------------------------------------------ trace

def test_trace_exact_lines():
    m, s, out = run_prog(["trace:func=tw*|thr*,pc=0-100,limit=9"], "text")
    lines = out.splitlines()
    # twice(0) runs first: k = 0 % 3 = 0 -> twice
    assert lines[:4] == ['func "twice" +1  local.get 0', 'func "twice" +3  i32.const 2',
                         'func "twice" +5  i32.mul  0 2', 'func "twice" +6  end']
    # i = 1: k = 1 -> thrice(1)
    assert lines[4:8] == ['func "thrice" +1  local.get 0', 'func "thrice" +3  i32.const 3',
                          'func "thrice" +5  i32.mul  1 3', 'func "thrice" +6  end']
    assert lines[8] == 'func "twice" +1  local.get 0'
    assert lines[9].startswith("trace: stopped after 9")
    assert len(lines) == 10
    # pc range and call operands
    _, _, out = run_prog([f"trace:func=main,pc={pc_of(Module(Engine(), wat(PROG)), 5, 'call', 1)}"], "csv")
    rows = out.splitlines()
    assert len(rows) == 10
    assert rows[3].startswith('trace,"main",') and rows[3].endswith(",0 3")   # apply(i % 3, i)
    assert rows[4].endswith(",1 4")


# ------------------------------------------------------------------ profile

def test_profile_cct_counts():
    m, s, out = run_prog(["profile"], "json")
    tree = json.loads(out)["profile"]["tree"]
    main = next(t for t in tree if t["func"] == '"main"')
    kids = {c["func"]: c for c in main["children"]}
    assert kids['"apply"']["calls"] == 10
    assert {c["func"]: c["calls"] for c in kids['"apply"']["children"]} == {'"twice"': 7, '"thrice"': 3}
    # fib(6): the context at depth d below main is entered by every call at that depth
    node, depth_calls = kids['"fib"'], []
    while node:
        depth_calls.append(node["calls"])
        node = next(iter(node["children"]), None)
    assert sum(depth_calls) == fib_calls(6) and depth_calls[:3] == [1, 2, 4]
    for n in (main, kids['"apply"']):
        assert n["total_ns"] >= sum(c["total_ns"] for c in n["children"]) and n["self_ns"] >= 0
    _, _, out = run_prog(["profile:folded,weight=calls"], "text")
    folded = dict(line.rsplit(" ", 1) for line in out.splitlines())
    assert folded["main;apply;twice"] == "7" and folded["main;apply;thrice"] == "3"
    assert folded["main"] == "1" and folded["main;fib;fib"] == "2"


# ------------------------------------------------------------------ timeout

def _icount():
    _, s, _ = run_prog(["icount"], "json")
    return s.reports[0].data["total"]


def test_timeout_exact_boundary():
    total = _icount()
    _, s, out = run_prog([f"timeout:{total}"], "text")
    assert out == f"timeout: {total} instructions executed (limit {total})"
    for limit in (total - 1, 37, 0):
        engine = Engine()
        module = Module(engine, wat(PROG))
        tm = load_monitor(f"timeout:{limit}")
        hot = load_monitor("hotness")
        sess = Session(engine, [tm, hot], "json")
        sess.parse(module)
        every = CountProbe()                 # independent: counts every dispatched instruction
        engine.instrument.insert_global(every)
        inst = Instance(engine, module, [Func(engine, FuncType((I32,), ()), lambda x: None)])
        with pytest.raises(Trap) as e:
            inst.exports["main"]()
        assert "instruction limit exceeded" in e.value.reason
        sess.finish()
        # `limit` instructions ran; the global probe also fired at the (limit+1)-th, where the
        # timeout probe then trapped
        assert every.count == limit + 1
        assert tm.exceeded
        # hotness counts per basic block: the instructions after the trap in its block are
        # counted too (the documented inexactness of a trap in the middle of a block)
        f, pc = tm.where
        block = next(b for b in basic_blocks(module, f) if pc in b.pcs)
        assert sess.reports[1].data["total"] == limit + 1 + len(block.pcs) - 1 - block.pcs.index(pc)


def test_timeout_options():
    from analyses.timeout import _parse_limit

    assert _parse_limit("5M") == 5_000_000 and _parse_limit("limit=12") == 12
    with pytest.raises(ValueError):
        load_monitor("timeout")
    with pytest.raises(Exception):
        load_monitor("timeout:abc")


# ------------------------------------------------------------------ a C program

CPROG = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile unsigned long fib_sum;
static unsigned long n_fib, n_sq, n_cube, n_apply, n_loop;

__attribute__((noinline)) int fib(int n) {
    n_fib++;
    if (n < 2) return n;
    int r = fib(n - 1) + fib(n - 2);
    fib_sum += r;   /* a side effect after the calls: no tail-recursion elimination */
    return r;
}
__attribute__((noinline)) int sq(int x) { n_sq++; return x * x; }
__attribute__((noinline)) int cube(int x) { n_cube++; return x * x * x; }
typedef int (*op_t)(int);
op_t ops[2] = {sq, cube};
__attribute__((noinline)) int apply(int k, int x) { n_apply++; return ops[k](x); }

static char src[3000], dst[3000];

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 12;
    int r = fib(n);
    int s = 0;
    for (int i = 0; i < 50; i++) {
        n_loop++;
        s += apply(i % 3 == 0, i);
    }
    volatile int len = 1234;
    memset(src, 7, len);
    memcpy(dst, src, len);
    printf("fib=%d s=%d dst=%d\n", r, s, dst[len - 1]);
    printf("fib %lu\nsq %lu\ncube %lu\napply %lu\nloop %lu\n", n_fib, n_sq, n_cube, n_apply, n_loop);
    return 0;
}
"""


@pytest.fixture(scope="module")
def cprog(tmp_path_factory):
    d = tmp_path_factory.mktemp("cprog")
    (d / "prog.c").write_text(CPROG)
    p = subprocess.run([sys.executable, "-m", "ziglang", "cc", "--target=wasm32-wasi", "-O1", "-g0",
                        str(d / "prog.c"), "-o", str(d / "prog.wasm")], capture_output=True,
                       text=True, timeout=600)
    if p.returncode != 0:
        pytest.fail(f"zig cc failed: {p.stderr[:500]}")
    return d / "prog.wasm"


def _c_counters(stdout: str) -> dict[str, int]:
    out = {}
    for line in stdout.splitlines():
        k, _, v = line.partition(" ")
        if v.isdigit():
            out[k] = int(v)
    return out


def test_c_program_calls_match_its_own_counters(cprog, tmp_path):
    plain = cli("run", cprog, 11)
    assert plain.returncode == 0, plain.stderr
    c = _c_counters(plain.stdout)
    assert c["fib"] == fib_calls(11) and c["apply"] == 50 and c["sq"] + c["cube"] == 50
    rep = tmp_path / "calls.csv"
    mon = cli("run", "--monitor", "calls", "--monitor", "memstats", "--csv", "--output", rep, cprog, 11)
    assert (mon.returncode, mon.stdout) == (0, plain.stdout)
    rows = rep.read_text().splitlines()
    calls = {r.split(",")[1]: int(r.split(",")[2]) for r in rows if r.startswith("calls,")}
    for f in ("fib", "sq", "cube", "apply"):
        assert calls[f'"{f}"'] == c[f], f
    ind = {r.split(",")[4]: int(r.split(",")[5]) for r in rows
           if r.startswith('callsite,"apply"') and ",call_indirect," in r}
    assert ind == {'"sq"': c["sq"], '"cube"': c["cube"]}
    bulk = {r.split(",")[1]: r for r in rows if r.startswith("membulk,")}
    assert "memory.fill" in bulk and int(bulk["memory.fill"].split(",")[3]) >= 1234


def test_c_program_icount_timeout_profile(cprog, tmp_path):
    plain = cli("run", cprog, 9)
    c = _c_counters(plain.stdout)
    r = cli("run", "--monitor", "icount", "--monitor", "hotness", "--json", cprog, 9)
    assert r.returncode == 0 and r.stdout.startswith(plain.stdout)
    d = json.loads(r.stdout[len(plain.stdout):])
    total = d["icount"]["total"]
    assert total == d["hotness"]["total"]
    ok = cli("run", "--monitor", f"timeout:{total}", "--output", os.devnull, cprog, 9)
    assert (ok.returncode, ok.stdout) == (0, plain.stdout)
    bad = cli("run", "--monitor", f"timeout:{total - 1}", "--output", os.devnull, cprog, 9)
    assert bad.returncode == 134 and "instruction limit exceeded" in bad.stderr
    pr = cli("run", "--monitor", "profile:folded,weight=calls", cprog, 9)
    assert pr.stdout.startswith(plain.stdout)
    folded = pr.stdout[len(plain.stdout):].splitlines()
    fib_total = sum(int(line.rsplit(" ", 1)[1]) for line in folded
                    if line.rsplit(" ", 1)[0].split(";")[-1] == "fib")
    assert fib_total == c["fib"]
    sq = sum(int(line.rsplit(" ", 1)[1]) for line in folded if line.rsplit(" ", 1)[0].endswith(";apply;sq"))
    assert sq == c["sq"]


def test_c_program_calls_dot_default_file(cprog, tmp_path):
    plain = cli("run", cprog, 5)
    r = cli("run", "--monitor", "calls:dot", cprog, 5, cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.startswith(plain.stdout)
    text = (tmp_path / "calls.dot").read_text()
    assert '"\\"apply\\"" -> "\\"sq\\""' in text and '"\\"fib\\"" -> "\\"fib\\""' in text


@pytest.mark.parametrize("spec", ["calls", "icount", "opcodes", "memstats", "profile",
                                  "trace:func=fib,limit=50", "timeout:100000000"])
def test_non_intrusive(cprog, spec):
    plain = cli("run", cprog, 7)
    mon = cli("run", "--monitor", spec, "--output", os.devnull, cprog, 7)
    assert (mon.returncode, mon.stdout, mon.stderr) == (plain.returncode, plain.stdout, plain.stderr)


def test_c_program_calls_dot_to_output_file(cprog, tmp_path):
    """`--monitor calls:dot --output FILE`: the CLI hands --output to the monitor (Session sets
    `monitor.output`), so FILE is the DOT graph and no `calls.dot` is written; the edge counts
    are the program's own call counters."""
    plain = cli("run", cprog, 5)
    c = _c_counters(plain.stdout)
    out = tmp_path / "graph.dot"
    r = cli("run", "--monitor", "calls:dot", "--output", out, cprog, 5, cwd=tmp_path)
    assert r.returncode == 0 and r.stdout == plain.stdout
    assert not (tmp_path / "calls.dot").exists()
    text = out.read_text()
    assert text.startswith("digraph calls {") and text.rstrip().endswith("}")
    assert f'"\\"apply\\"" -> "\\"sq\\"" [label="{c["sq"]}"];' in text
    assert f'"\\"apply\\"" -> "\\"cube\\"" [label="{c["cube"]}"];' in text


@pytest.mark.parametrize("variant", ["static", "exported", "written"])
def test_calls_indirect_counts_the_same_through_any_table(variant):
    """A table nothing can change is tallied natively and resolved at report time; an exported
    table or one a table.set writes is resolved at every call. Same counts either way, and a
    second instance switches the tallied sites to resolving at once without losing counts."""
    from analyses.calls import _IndirectSite, _TalliedSite
    src = PROG
    if variant == "exported":
        src = src.replace("(table 3 funcref)", '(table (export "tab") 3 funcref)')
    elif variant == "written":
        src = src.replace("(func $main", "(func $poke (table.set (i32.const 1) (ref.func $thrice)))\n"
                          "  (func $main")
    engine = Engine()
    module = Module(engine, wat(src))
    mon = load_monitor("calls")
    session = Session(engine, [mon], "csv")
    session.parse(module)
    kinds = {type(p) for *_, p in mon.sites} - {CountProbe}
    assert kinds == ({_TalliedSite} if variant == "static" else {_IndirectSite})
    host = Func(engine, FuncType((I32,), ()), lambda v: None)
    insts = []
    for _ in range(2):
        inst = Instance(engine, module, [host])
        session.instantiate(inst)
        insts.append(inst)
        inst.exports["main"]()
    assert {type(p) for *_, p in mon.sites} - {CountProbe} == {_IndirectSite}
    rows = session.finish().splitlines()
    ind = {r.split(",")[4]: int(r.split(",")[5]) for r in rows
           if r.startswith('callsite,"apply"') and ",call_indirect," in r}
    assert ind == {'"twice"': 14, '"thrice"': 6}
