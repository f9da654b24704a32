"""Basic blocks (`wizardpy.block_leaders` / `basic_blocks`) and the monitors built on them
(hotness, icount, opcodes, timeout, coverage's block coverage).

Independent facts: leaders enumerated by hand on a program written for it; on real programs,
every instruction reached other than by falling through (observed with a global probe) is a
leader; hotness's per-block derived counts equal a per-instruction tally made by a global
probe; icount's total equals a native global CountProbe."""
from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from wizardpy import (CountProbe, Engine, ExitStatus, FuncProbe, Instance, Linker, Module,
                      WasiConfig)
from wizardpy import opcodes as ops
from wizardpy.monitor import Session, basic_blocks, block_leaders, instructions, load_monitor
from spec_cache import wat2wasm

ROOT = Path(__file__).resolve().parent.parent
LINDBLAD = ROOT / "workloads" / "lindblad" / "lindblad.wasm"
HELLO = ROOT / "tests" / "data" / "wasi" / "hello.wasm"


wat = wat2wasm   # tests/spec_cache.py


# Flat code so that instruction k of each function is easy to name; the comments give k and,
# by hand, why an instruction is a leader.
BLOCKS = r"""
(module
  (func $leaf (param i32) (result i32)
    local.get 0)                 ;; 0 L entry
  (func $main (export "main") (param $x i32)
    (local $i i32)
    block                        ;; 0 L entry (a block no branch targets)
      i32.const 0                ;; 1
      local.set $i               ;; 2
    end                          ;; 3
    loop                         ;; 4   (a loop no branch targets: falls through only)
      local.get $i               ;; 5
      i32.const 1                ;; 6
      i32.add                    ;; 7
      local.set $i               ;; 8
    end                          ;; 9
    block $out                   ;; 10
      loop $again                ;; 11 L target of br $again
        local.get $i             ;; 12
        i32.const 1              ;; 13
        i32.add                  ;; 14
        local.tee $i             ;; 15
        i32.const 5              ;; 16
        i32.gt_s                 ;; 17
        br_if $out               ;; 18
        br $again                ;; 19 L after br_if
      end                        ;; 20 L after br
    end                          ;; 21
    local.get $x                 ;; 22 L after the end of $out (br_if $out)
    i32.eqz                      ;; 23
    if                           ;; 24
      i32.const 7                ;; 25 L after if
      local.set $i               ;; 26
    end                          ;; 27 L end of an if without else (false if)
    local.get $i                 ;; 28   (no branch targets the if's label)
    call $leaf                   ;; 29
    drop                         ;; 30 L after call
    local.get $x                 ;; 31
    if (result i32)              ;; 32
      i32.const 1                ;; 33 L after if
    else                         ;; 34
      i32.const 2                ;; 35 L after else (false if)
    end                          ;; 36 L end of an if with else (else jumps here)
    drop                         ;; 37
    block $b                     ;; 38
      local.get $x               ;; 39
      br_table $b 1              ;; 40   (targets $b and the function label)
    end                          ;; 41 L after br_table
    local.get $x                 ;; 42 L after the end of $b (br_table $b)
    drop                         ;; 43
    return                       ;; 44
  )                              ;; 45 L after return; also the function label's target
  (func $early (export "early") (param i32) (result i32)
    i32.const 1                  ;; 0 L entry
    local.get 0                  ;; 1
    br_if 0                      ;; 2   (the function label)
    drop                         ;; 3 L after br_if
    i32.const 2                  ;; 4
  )                              ;; 5 L target of br_if 0 (lands on the final end)
  (func $trap (export "trap") (param i32)
    local.get 0                  ;; 0 L entry
    if                           ;; 1
      unreachable                ;; 2 L after if
      nop                        ;; 3 L after unreachable
    end                          ;; 4 L end of an if
    nop                          ;; 5
  )
)
"""
HAND = {0: {0}, 1: {0, 11, 19, 20, 22, 25, 27, 30, 33, 35, 36, 41, 42, 45},
        2: {0, 3, 5}, 3: {0, 2, 3, 4}}


def test_block_leaders_by_hand():
    m = Module(Engine(), wat(BLOCKS))
    for f, want in HAND.items():
        pcs = [pc for pc, _, _ in instructions(m, f)]
        got = {pcs.index(pc) for pc in block_leaders(m, f)}
        assert got == want, (f, sorted(got), sorted(want))
        blocks = basic_blocks(m, f)
        assert [b.start for b in blocks] == sorted(pcs[k] for k in want)
        assert [pc for b in blocks for pc in b.pcs] == pcs         # a partition, in order
        assert all(b.end == b.pcs[-1] for b in blocks)


def _arrivals(module, run):
    """Run `run()` with a global probe; return the (func, pc) reached other than by falling
    through from the previous instruction of the same frame (jumps, entries, returns from
    calls), and the number of instructions seen."""
    nxt = {}
    for f in range(module.num_imported_funcs, module.num_funcs):
        pcs = [pc for pc, _, _ in instructions(module, f)]
        for a, b in zip(pcs, pcs[1:]):
            nxt[(f, a)] = b
    engine = module.engine
    arrived = set()
    last: list = []                  # (func, pc) of the last instruction seen at each depth
    seen = [0]

    def fire(loc):
        d = loc.frame.depth
        here = (loc.func, loc.pc)
        seen[0] += 1
        if d >= len(last):           # a new frame: function entry
            arrived.add(here)
            last.extend([None] * (d + 1 - len(last)))
        else:
            returned = len(last) > d + 1     # deeper frames ran since (a call returned)
            del last[d + 1:]
            prev = last[d]
            if returned or prev is None or prev[0] != here[0] or nxt.get(prev) != here[1]:
                arrived.add(here)    # a jump, a return from a call, or a new call at depth 0
        last[d] = here
        return None

    probe = FuncProbe(fire)
    engine.instrument.insert_global(probe)
    try:
        run()
    finally:
        engine.instrument.remove_global(probe)
    return arrived, seen[0]


def _after_call(module, f, pc):
    ins = list(instructions(module, f))
    k = [p for p, _, _ in ins].index(pc)
    return k > 0 and ins[k - 1][1] in (ops.CALL, ops.CALL_INDIRECT)


def test_every_jump_lands_on_a_leader_wat():
    e = Engine()
    m = Module(e, wat(BLOCKS))
    inst = Instance(e, m, [])

    def run():
        for x in (0, 1, 2, 5):
            inst.exports["main"](x)
        for x in (0, 1):
            inst.exports["early"](x)
        inst.exports["trap"](0)

    arrived, n = _arrivals(m, run)
    assert n > 100
    leaders = {(f, pc) for f in HAND for pc in block_leaders(m, f)}
    assert arrived <= leaders, sorted(arrived - leaders)
    # and every hand-listed leader that is a branch target was reached by a jump here
    pcs = {f: [pc for pc, _, _ in instructions(m, f)] for f in HAND}
    for f, k in [(1, 11), (1, 22), (1, 27), (1, 35), (1, 36), (1, 42), (1, 45), (2, 5)]:
        assert (f, pcs[f][k]) in arrived, (f, k)


def _run_wasi(path, argv, monitors=(), setup=None):
    e = Engine()
    m = Module.from_file(e, path)
    s = Session(e, list(monitors), "json")
    s.parse(m)
    lk = Linker(e)
    lk.define_wasi(WasiConfig(argv=argv))
    i = lk.instantiate(m)
    s.instantiate(i)
    run = lambda: i.exports["_start"]()          # noqa: E731
    out = io.StringIO()

    def go():
        with contextlib.redirect_stdout(out):
            try:
                run()
            except ExitStatus as x:
                assert x.code == 0
    result = setup(m, go) if setup else go()
    return e, m, s, result


def test_every_jump_lands_on_a_leader_c_program():
    """hello.wasm (wasi-libc: printf, exit through proc_exit): every non-fall-through arrival
    is a block leader; returns from calls land on leaders because blocks end after calls."""
    _, m, _, (arrived, n) = _run_wasi(HELLO, ["hello"], setup=_arrivals)
    assert n > 1000
    leaders = {(f, pc) for f in range(m.num_imported_funcs, m.num_funcs)
               for pc in block_leaders(m, f)}
    assert arrived <= leaders, sorted(arrived - leaders)[:10]
    assert any(_after_call(m, f, pc) for f, pc in arrived)


def _tally(module, go):
    counts: dict = {}

    def fire(loc):
        k = (loc.func, loc.pc)
        counts[k] = counts.get(k, 0) + 1

    p = FuncProbe(fire)
    module.engine.instrument.insert_global(p)
    try:
        go()
    finally:
        module.engine.instrument.remove_global(p)
    return counts


def test_hotness_block_counts_equal_per_instruction_tally():
    """hotness (one native counter per basic block, counts derived per instruction) equals a
    per-instruction tally by a global probe: exact also when the program ends in proc_exit
    (a call that never returns) in the middle of its caller's code."""
    hot, ic, op = load_monitor("hotness"), load_monitor("icount"), load_monitor("opcodes")
    _, m, s, tally = _run_wasi(HELLO, ["hello"], [hot, ic, op], setup=_tally)
    derived = {k: c for k, c in hot.lcov_counts().items() if c}
    assert derived == tally
    total = sum(tally.values())
    s.finish()
    assert s.reports[0].data["total"] == total
    assert s.reports[1].data["total"] == total                  # icount
    assert s.reports[2].data["dynamic_total"] == total          # opcodes
    # hotness probes: one per basic block, not one per instruction
    nblocks = sum(len(basic_blocks(m, f)) for f in range(m.num_imported_funcs, m.num_funcs))
    assert len({id(p) for *_, p in hot.sites}) == nblocks < len(hot.sites)


def test_icount_and_hotness_equal_global_count_lindblad():
    """On lindblad (~1e9 instructions): icount's total and hotness's total equal a native global
    CountProbe, which counts every dispatched instruction."""
    hot, ic = load_monitor("hotness"), load_monitor("icount")
    every = CountProbe()

    def setup(m, go):
        m.engine.instrument.insert_global(every)
        go()

    _, m, s, _ = _run_wasi(LINDBLAD, ["lindblad.wasm", "1"], [hot, ic], setup=setup)
    s.finish()
    assert every.count > 10 ** 8
    assert s.reports[0].data["total"] == s.reports[1].data["total"] == every.count


def test_coverage_blocks_are_basic_blocks():
    e = Engine()
    m = Module(e, wat(BLOCKS))
    cov = load_monitor("coverage")
    s = Session(e, [cov], "json")
    s.parse(m)
    inst = Instance(e, m, [])
    inst.exports["main"](0)
    s.finish()
    d = s.reports[0].data
    assert d["blocks"] == sum(len(v) for v in HAND.values())
    pcs = [pc for pc, _, _ in instructions(m, 1)]
    main = d["functions"]['"main"']
    assert main["block_starts"] == sorted(pcs[k] for k in HAND[1])
    # main(0): br_if $out leaves the loop, so the `end` after `br $again` (20) never runs; the
    # second if takes its false arm (35), not the then-arm (33); br_table 0 jumps past 41 to
    # $b's end (42); `return` (44) returns without running the final end (45)
    starts = set(main["block_starts"])
    covered = {pc for pc in main["covered_pcs"] if pc in starts}
    assert covered == {pcs[k] for k in HAND[1] - {20, 33, 41, 45}}
    assert main["blocks_covered"] == len(HAND[1]) - 4


# ------------------------------------------------------------------ memstats

MEM = r"""
(module
  (memory (export "mem") 3)
  (global $sp (mut i32) (i32.const 131072))
  (func $fill (export "fill") (param $p i32) (param $n i32)
    (loop $l
      (i32.store (local.get $p) (local.get $n))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1))))))
  (func $sum4 (export "sum4") (param $p i32) (result i32)
    (i32.add (i32.add (i32.load (local.get $p)) (i32.load offset=4 (local.get $p)))
             (i32.add (i32.load (i32.add (local.get $p) (i32.const 8)))
                      (i32.load (i32.sub (local.get $p) (i32.const 4))))))
  (func $chase (export "chase") (param $p i32) (param $q i32) (result i32)
    (i32.store (local.get $p) (local.get $q))
    (i32.store8 (i32.load (local.get $p)) (i32.const 7))
    (i32.load16_u (i32.load (local.get $p))))
  (func $const (export "const") (result i32)
    (i32.store (i32.const 65548) (i32.const 1))
    (i64.store (global.get $sp) (i64.const 2))
    (i32.load (i32.const 0)))
  (func $before (export "before") (param $p i32) (param $c i32)
    local.get $p
    local.get $c
    if
      nop
    end
    i32.const 9
    i32.store)
)
"""
# By hand: fill(65528, 4) stores at 65528 65532 | 65536 65540; sum4(65540) loads 65540 65544
# 65548 65536; sum4(65536) loads 65536 65540 65544 | 65532; chase(16, 131082) stores 4 bytes at
# 16, loads 16 twice, stores 1 byte and loads 2 at 131082; const stores 4 at 65548, 8 at 131072
# (the global), loads 4 at 0; before(200, 1) / before(70000, 0) store 4 bytes (the address was
# pushed before the `if`, in another block).
MEM_CALLS = [("fill", (65528, 4)), ("sum4", (65540,)), ("sum4", (65536,)),
             ("chase", (16, 131082)), ("const", ()), ("before", (200, 1)), ("before", (70000, 0))]
MEM_REGIONS = {"0": [4, 4, 16, 16], "1": [7, 4, 28, 16], "2": [1, 2, 2, 9]}


def _memstats(spec):
    e = Engine()
    m = Module(e, wat(MEM))
    mon = load_monitor(spec)
    s = Session(e, [mon], "json")
    s.parse(m)
    inst = Instance(e, m, [])
    for name, args in MEM_CALLS:
        inst.exports[name](*args)
    s.finish()
    d = s.reports[0].data
    return e, m, {k: [v["loads"], v["stores"], v["bytes_read"], v["bytes_written"]]
                  for k, v in d["regions"].items()}, d


@pytest.mark.parametrize("spec", ["memstats", "memstats:access"])
def test_memstats_by_hand(spec):
    e, m, regions, d = _memstats(spec)
    assert regions == MEM_REGIONS
    assert (d["loads"], d["stores"], d["bytes_read"], d["bytes_written"]) == (12, 10, 46, 41)


def test_memstats_block_plans_need_no_probe_per_access():
    """Accesses off one entry value of a block cost one OperandProbe for all of them (where the
    value is first on top of the stack); constant addresses a native counter. fill: one probe
    per iteration for its store; sum4: one for its 4 loads; const: a counter for its 2 constant
    accesses and one probe for the store through the global; chase: one for the 3 accesses at p,
    one for store8's loaded address, one for load16_u's; before: a frame probe (its store's
    address was pushed in another block)."""
    e, m, _, _ = _memstats("memstats")
    names = {"fill": 0, "sum4": 1, "chase": 2, "const": 3, "before": 4}
    kinds = {n: sorted(type(p).__name__ for pc, _, _ in instructions(m, f)
                       for p in e.instrument.probes_at(m, f, pc))
             for n, f in names.items()}
    assert kinds == {"fill": ["OperandProbe"], "sum4": ["OperandProbe"],
                     "const": ["CountProbe", "OperandProbe"], "chase": ["OperandProbe"] * 3,
                     "before": ["FuncProbe"]}


def test_memstats_equals_per_access_reference_c_program():
    """On C programs (wasi-libc) the block plans give exactly what one probe per access gives."""
    for path, argv in [(HELLO, ["hello"]), (ROOT / "tests" / "data" / "wasi" / "edge.wasm", ["edge"])]:
        a = _run_wasi(path, argv, [load_monitor("memstats")])[2]
        b = _run_wasi(path, argv, [load_monitor("memstats:access")])[2]
        ra, rb = a.finish(), b.finish()
        assert ra == rb and '"loads": 0' not in ra


# ------------------------------------------------------------------ Module.func_type & co

def test_module_func_type_names_and_index():
    from wizardpy import FuncType
    from wizardpy.types import I32, I64

    m = Module(Engine(), wat(r"""(module
      (type $t (func (param i64) (result i32)))
      (import "env" "h" (func $h (param i32 i32)))
      (func $f (export "eff") (param i32) (result i32) local.get 0)
      (func (export "anon") (type $t) i32.const 0)
      (func $g))"""))
    assert m.func_type(0) == FuncType((I32, I32), ())                 # the import
    assert m.func_type(1) == m.func_type("f") == m.func_type('"f"') == m.func_type("eff") \
        == FuncType((I32,), (I32,))
    assert m.func_type("anon") == FuncType((I64,), (I32,)) == m.types[0]
    assert m.func_type("g") == FuncType((), ())
    assert m.func_names() == {0: "h", 1: "f", 3: "g"}
    assert (m.func_index("eff"), m.func_index("anon"), m.func_index('"g"')) == (1, 2, 3)
    with pytest.raises(ValueError):
        m.func_index("nope")
    with pytest.raises(IndexError):
        m.func_type(4)


# ------------------------------------------------------------------ docs/monitors.md examples

def test_docs_monitors_examples():
    """The CSV rows docs/monitors.md shows come from its demo program, and agree with what is
    known about it: main(10) calls fib(0..9); fib(i) makes 2*F(i+1)-1 calls (276 in all), of
    which the F(i+1) leaves (143) take the `if`; one store per iteration, one load."""
    doc = (ROOT / "docs" / "monitors.md").read_text()
    src = doc.split("```wat\n", 1)[1].split("```", 1)[0]
    e = Engine()
    m = Module(e, wat(src))
    mons = [load_monitor(n) for n in ("coverage", "hotness", "branches", "loops", "icount",
                                      "calls", "memstats")]
    s = Session(e, mons, "csv")
    s.parse(m)
    inst = Instance(e, m, [])
    assert inst.exports["main"](10) == 34                   # fib(9), stored at 4*9 = 36
    out = s.finish().splitlines()
    fib = [0, 1]
    while len(fib) < 12:
        fib.append(fib[-1] + fib[-2])
    calls = sum(2 * fib[i + 1] - 1 for i in range(10))
    leaves = sum(fib[i + 1] for i in range(10))
    assert (calls, leaves) == (276, 143)
    rows = [f'branch,"fib",6,if,[{calls - leaves} {leaves}]', 'branch,"main",29,br_if,[1 9]',
            'loop,"main",3,31,10', 'icount,total,3293', f'calls,"fib",{calls}',
            'callsite,"main",12,call,"fib",10', "memregion,0,0x00000000,1,10,4,40",
            f'hotness,"fib",1,{calls}', "Block coverage:\t9 / 9 (100%)"]
    for r in rows:
        assert r in out, r
    for r in ['branch,"main",29,br_if,[1 9]', 'loop,"main",3,31,10', "memregion,0,0x00000000,1,10,4,40",
              'callsite,"main",12,call,"fib",10', 'hotness,"fib",1,276', "Block coverage:\t9 / 9 (100%)"]:
        assert r in doc, r                                  # what the page shows
