"""Superinstructions (wizardpy/fusion.py, native/fusion.h): invisible to results, probes and traps."""
from __future__ import annotations

import pytest
from spec_cache import wat2wasm
from test_probes import SUM_FUNC

from wizardpy import Engine, Linker, Module, Trap
from wizardpy.fusion import OP_FUSED_BASE, plan, supported
from wizardpy.instrumentation import CountProbe, FuncProbe, OperandProbe

WAT = r"""
(module
  (memory (export "memory") 1)""" + SUM_FUNC + r"""
  (func $mix (export "mix") (param $n i32) (result i64) (local $x i64) (local $y i64)
    i64.const 7 local.set $y
    loop $l
      local.get $x i64.const 5 i64.rotl local.get $y i64.xor
      i64.const 0x9E3779B97F4A7C15 i64.mul local.tee $x
      local.get $y i64.add local.set $y
      local.get $n i32.const -1 i32.add local.tee $n br_if $l
    end
    local.get $x local.get $y i64.xor)
  (func $mem (export "mem") (param $p i32) (param $n i32) (result i32) (local $s i32)
    block $b
      loop $l
        local.get $n i32.eqz br_if $b
        local.get $p i32.const 7 i32.store8
        local.get $s local.get $p i32.load8_u i32.add local.set $s
        local.get $p i32.const 1 i32.add local.set $p
        local.get $n i32.const 1 i32.sub local.set $n
        br $l
      end
    end
    local.get $s)
  (func $fl (export "fl") (param $a f64) (param $n i32) (result f64) (local $s f64)
    loop $l
      local.get $s local.get $a f64.mul f64.const 0.5 f64.add local.set $s
      local.get $n i32.const 1 i32.sub local.tee $n
      i32.const 0 i32.gt_s br_if $l
    end
    local.get $s)
)
"""


def build(fuse=True):
    e = Engine(tier="int", superinstructions=fuse)
    m = Module(e, wat2wasm(WAT))
    return e, m, Linker(e).instantiate(m)


def fidx(m, name):
    return next(i for i in range(m.num_funcs) if m.func_name(i) == f'"{name}"')


def fused_seqs(m, name):
    """[(first pc, [pcs of the sequence])] of function `name`, as fused in the module."""
    fc = m.code_of(fidx(m, name))
    return [(fc.pc_of_ip[ip], [fc.pc_of_ip[i] for i in members]) for ip, _, members in plan(fc)]


CALLS = [("sum", (100,)), ("mix", (50,)), ("mem", (16, 40)), ("fl", (1.25, 30))]


def run_all(inst):
    return [inst.exports[n](*a) for n, a in CALLS]


def test_fusion_happens_and_results_equal():
    _, m, inst = build(True)
    _, m0, inst0 = build(False)
    assert supported() and min(supported()) >= OP_FUSED_BASE
    for name, _ in CALLS:
        assert fused_seqs(m, name), name
    assert m0._fused_count == 0 and m._fused_count > 10
    assert run_all(inst) == run_all(inst0)


def every_pc(m, name):
    return [pc for pc, _ in m.code_of(fidx(m, name)).instrs]


@pytest.mark.parametrize("name,args", CALLS)
def test_probe_inside_fused_sequence_counts_exact(name, args):
    """A CountProbe/FuncProbe at each instruction (first, middle, last of sequences) fires exactly
    as often as without fusion, results unchanged, and removing it re-fuses."""
    e, m, inst = build(True)
    e0, m0, inst0 = build(False)
    want = inst0.exports[name](*args)
    code = m._code
    words = [code[i] for i in range(m._code_total)]
    seq_pcs = {pc for _, pcs in fused_seqs(m, name) for pc in pcs}
    assert seq_pcs
    f, f0 = fidx(m, name), fidx(m0, name)
    for pc in every_pc(m, name):
        c, c0 = CountProbe(), CountProbe()
        hits = []
        fp = FuncProbe(lambda loc: hits.append(loc.pc))
        e.instrument.insert(m, f, pc, c)
        e.instrument.insert(m, f, pc, fp)
        e0.instrument.insert(m0, f0, pc, c0)
        assert inst.exports[name](*args) == want
        inst0.exports[name](*args)
        assert c.count == c0.count == len(hits), (pc, c.count, c0.count)
        assert set(hits) <= {pc}
        if pc in seq_pcs:
            assert c.count > 0 or pc not in seq_pcs
        e.instrument.remove(m, f, pc, c)
        e.instrument.remove(m, f, pc, fp)
        e0.instrument.remove(m0, f0, pc, c0)
        assert [code[i] for i in range(m._code_total)] == words, pc   # re-fused exactly
    assert inst.exports[name](*args) == want


def test_two_probes_in_one_sequence():
    """Un-fused while any probe is in the sequence; re-fused only when the last one goes."""
    e, m, inst = build(True)
    f = fidx(m, "sum")
    first, pcs = next((s, p) for s, p in fused_seqs(m, "sum") if len(p) >= 3)
    fc = m.code_of(f)
    w = m._code_offsets[f - m.num_imported_funcs] + fc.ip_of_pc[first]
    fused = m._code[w]
    assert fused >= OP_FUSED_BASE
    a, b = CountProbe(), CountProbe()
    e.instrument.insert(m, f, pcs[1], a)
    e.instrument.insert(m, f, pcs[2], b)
    assert m._code[w] < OP_FUSED_BASE
    assert inst.exports["sum"](10) == 45 and a.count == b.count == 10
    e.instrument.remove(m, f, pcs[1], a)
    assert m._code[w] < OP_FUSED_BASE            # b still in the sequence
    assert inst.exports["sum"](10) == 45 and b.count == 20
    e.instrument.remove(m, f, pcs[2], b)
    assert m._code[w] == fused


def test_probe_inserted_mid_sequence_from_a_probe():
    """A probe inserted (by a probe) inside a fused sequence of a running frame fires at once."""
    e, m, inst = build(True)
    f = fidx(m, "sum")
    first, pcs = next((s, p) for s, p in fused_seqs(m, "sum") if len(p) >= 3)
    seen = []
    inner = FuncProbe(lambda loc: seen.append(loc.pc))
    entry = FuncProbe(lambda loc: e.instrument.insert(m, f, pcs[2], inner) if not seen else None)
    e.instrument.insert(m, f, 0, entry)
    assert inst.exports["sum"](5) == 10
    assert seen == [pcs[2]] * 5


def test_operand_probe_in_sequence_sees_operands():
    e, m, inst = build(True)
    f = fidx(m, "sum")
    _, pcs = next((s, p) for s, p in fused_seqs(m, "sum") if len(p) >= 3)
    vals = []
    e.instrument.insert(m, f, pcs[2], OperandProbe(vals.append))   # before i32.add: top = $i
    assert inst.exports["sum"](4) == 6
    assert vals == [0, 1, 2, 3]


def test_global_probe_counts_every_instruction():
    e, m, inst = build(True)
    e0, m0, inst0 = build(False)
    n, n0 = [0], [0]
    from wizardpy.instrumentation import Probe

    class G(Probe):
        def __init__(self, box):
            self.box = box

        def fire(self, loc):
            self.box[0] += 1
    e.instrument.insert_global(G(n))
    e0.instrument.insert_global(G(n0))
    c, c0 = CountProbe(), CountProbe()
    e.instrument.insert_global(c)
    e0.instrument.insert_global(c0)
    assert run_all(inst) == run_all(inst0)
    assert n[0] == n0[0] == c.count == c0.count > 0


def test_fuel_counts_every_instruction():
    outs = []
    for fuse in (True, False):
        e = Engine(tier="int", superinstructions=fuse, fuel=10**9)
        inst = Linker(e).instantiate(Module(e, wat2wasm(WAT)))
        outs.append((run_all(inst), e.fuel_consumed))
    assert outs[0] == outs[1] and outs[0][1] > 0


def test_trap_pc_inside_fused_sequence():
    """local.get p; i32.const 7; i32.store8 and local.get p; i32.load8_u are fused: an out of
    bounds access reports the pc of the store / load itself."""
    for fuse in (True, False):
        e, m, inst = build(fuse)
        f = fidx(m, "mem")
        instrs = m.code_of(f).instrs
        store_pc = next(pc for pc, op in instrs if op == 0x3A)
        with pytest.raises(Trap) as ei:
            inst.exports["mem"](65536 - 2, 5)
        assert ei.value.reason == "out of bounds memory access"
        assert ei.value.frames[0][2] == store_pc, (fuse, ei.value.frames)


def test_trap_pc_of_fused_load():
    wat = r"""(module (memory 1)
      (func (export "ld") (param $p i32) (result i32)
        local.get $p i32.load offset=4))"""
    for fuse in (True, False):
        e = Engine(tier="int", superinstructions=fuse)
        m = Module(e, wat2wasm(wat))
        assert bool(m._fused_count) == fuse
        inst = Linker(e).instantiate(m)
        load_pc = next(pc for pc, op in m.code_of(0).instrs if op == 0x28)
        assert inst.exports["ld"](8) == 0
        with pytest.raises(Trap) as ei:
            inst.exports["ld"](65534)
        assert ei.value.frames[0][2] == load_pc


def test_no_branch_target_inside_a_sequence():
    """The instruction after `end` may be a branch target: never fused as a sequence's 2nd."""
    wat = r"""(module
      (func (export "f") (param i32) (result i32)
        local.get 0
        block (result i32) local.get 0 local.get 0 br_if 0 drop i32.const 5 end
        i32.add))"""
    e = Engine(tier="int")
    m = Module(e, wat2wasm(wat))
    fc = m.code_of(0)
    from wizardpy.fusion import branch_targets
    targets = branch_targets(fc.code, sorted(fc.pc_of_ip))
    for ip, _, members in plan(fc):
        assert not set(members[1:]) & targets
    inst = Linker(e).instantiate(m)
    assert inst.exports["f"](3) == 6 and inst.exports["f"](0) == 5


def _native_vs_plan(m):
    code, ops = m._code, m._probe_ops
    n = 0
    for fc, off in zip(m.codes, m._code_offsets):
        want = {ip: fused for ip, fused, _ in plan(fc)}
        got = {ip: code[off + ip] for ip in fc.pc_of_ip if code[off + ip] >= OP_FUSED_BASE}
        assert got == want, fc.index
        for ip in got:
            assert ops[off + ip] == fc.code[ip]          # the original word kept
        n += len(got)
    assert n == m._fused_count


def test_native_pass_equals_reference_plan():
    """native/fusion.c fuses exactly what wizardpy/fusion.py's `plan` says (kernels, graphviz)."""
    from pathlib import Path
    e = Engine(tier="int")
    _native_vs_plan(Module(e, wat2wasm(WAT)))
    kdir = Path(__file__).resolve().parent.parent / "bench" / "kernels"
    for p in sorted(kdir.glob("*.wasm")):
        _native_vs_plan(Module(e, p.read_bytes()))
    try:
        from bench.interp import graphviz_path
        g = graphviz_path()
    except Exception:
        g = None
    if g is not None:
        _native_vs_plan(Module(e, g.read_bytes()))
