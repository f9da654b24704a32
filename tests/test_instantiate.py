"""Tests of instantiation: import matching and LinkErrors, sharing memories/tables/globals between
instances, start functions, element and data segments (active, passive, declarative) in spec 2.0
order, and partial initialisation when a segment is out of range."""
from __future__ import annotations

import pytest

from wizardpy import (Engine, Func, FuncType, Global, GlobalType, Instance, Limits, LinkError,
                      Linker, Memory, MemoryType, Module, Table, TableType, Trap)
from wizardpy.types import FUNCREF, F32, I32, I64

from test_api import wat


@pytest.fixture
def engine():
    return Engine()


def mod(engine, text):
    return Module(engine, wat(text))


# ---------------------------------------------------------------------------- sharing between instances
PROVIDER = """
(module
  (memory (export "mem") 1 4)
  (table (export "tab") 4 funcref)
  (global (export "counter") (mut i32) (i32.const 100))
  (global (export "k") i64 (i64.const -9))
  (func $double (export "double") (param i32) (result i32) local.get 0 i32.const 2 i32.mul)
  (func (export "peek") (param i32) (result i32) local.get 0 i32.load8_u)
  (func (export "call_slot") (param i32 i32) (result i32)
    local.get 1 local.get 0 call_indirect (param i32) (result i32))
  (func (export "bump") (result i32)
    global.get 0 i32.const 1 i32.add global.set 0 global.get 0)
  (elem (i32.const 0) $double)
)
"""

CONSUMER = """
(module
  (import "p" "mem" (memory 1))
  (import "p" "tab" (table 2 funcref))
  (import "p" "counter" (global $c (mut i32)))
  (import "p" "k" (global $k i64))
  (import "p" "double" (func $double (param i32) (result i32)))
  (func $triple (param i32) (result i32) local.get 0 i32.const 3 i32.mul)
  (func (export "poke") (param i32 i32) local.get 0 local.get 1 i32.store8)
  (func (export "install") (param i32) local.get 0 ref.func $triple table.set 0)
  (func (export "via_import") (param i32) (result i32) local.get 0 call $double)
  (func (export "call_slot") (param i32 i32) (result i32)
    local.get 1 local.get 0 call_indirect (param i32) (result i32))
  (func (export "getc") (result i32) global.get $c)
  (func (export "setc") (param i32) local.get 0 global.set $c)
  (func (export "getk") (result i64) global.get $k)
  (elem declare func $triple)
)
"""


def test_sharing_memory_table_globals_funcs(engine):
    p = Instance(engine, mod(engine, PROVIDER), [])
    linker = Linker(engine)
    linker.define_instance("p", p)
    c = linker.instantiate(mod(engine, CONSUMER))
    pe, ce = p.exports, c.exports
    # memory shared
    ce["poke"](77, 0xAB)
    assert pe["peek"](77) == 0xAB
    assert pe["mem"].data[77] == 0xAB
    # function import: same Func object, callable cross-instance
    assert ce["via_import"](21) == 42
    # table written by the consumer, called through by the provider (and vice versa)
    assert pe["call_slot"](0, 5) == 10
    ce["install"](1)
    assert pe["call_slot"](1, 5) == 15
    assert ce["call_slot"](0, 7) == 14
    assert ce["call_slot"](1, 7) == 21
    tab_fn = pe["tab"].get(1)
    assert isinstance(tab_fn, Func) and tab_fn(2) == 6 and tab_fn.instance is c
    # globals shared
    assert ce["getc"]() == 100
    assert pe["bump"]() == 101
    assert ce["getc"]() == 101
    ce["setc"](-5)
    assert pe["counter"].value == -5
    assert ce["getk"]() == -9


def test_exports_mapping(engine):
    p = Instance(engine, mod(engine, PROVIDER), [])
    assert list(p.exports) == ["mem", "tab", "counter", "k", "double", "peek", "call_slot", "bump"]
    assert p.exports.get("nothing") is None
    assert isinstance(p.exports["mem"], Memory)
    assert isinstance(p.exports["tab"], Table)
    assert isinstance(p.exports["counter"], Global)
    with pytest.raises(KeyError):
        p.exports["nothing"]


# ---------------------------------------------------------------------------- link errors
def test_unknown_import(engine):
    m = mod(engine, '(module (import "env" "f" (func)))')
    with pytest.raises(LinkError, match="unknown import"):
        Linker(engine).instantiate(m)
    with pytest.raises(LinkError):
        Instance(engine, m, [])


def test_incompatible_imports(engine):
    f_ii = Func(engine, FuncType((I32,), (I32,)), lambda x: x)
    f_i64 = Func(engine, FuncType((I64,), (I32,)), lambda x: 0)
    m = mod(engine, '(module (import "env" "f" (func (param i32) (result i32))))')
    Instance(engine, m, [f_ii])
    with pytest.raises(LinkError, match="incompatible import type"):
        Instance(engine, m, [f_i64])
    mem = Memory(engine, MemoryType(Limits(1, 2)))
    with pytest.raises(LinkError, match="incompatible import type"):
        Instance(engine, m, [mem])                        # wrong kind

    # memory limits: imported min >= declared min, max must fit
    def mem_mod(lim):
        return mod(engine, f'(module (import "env" "m" (memory {lim})))')

    Instance(engine, mem_mod("1"), [mem])
    Instance(engine, mem_mod("1 2"), [mem])
    Instance(engine, mem_mod("0 3"), [mem])
    with pytest.raises(LinkError, match="incompatible import type"):
        Instance(engine, mem_mod("2"), [mem])
    with pytest.raises(LinkError, match="incompatible import type"):
        Instance(engine, mem_mod("1 1"), [mem])
    nomax = Memory(engine, MemoryType(Limits(1)))
    with pytest.raises(LinkError, match="incompatible import type"):
        Instance(engine, mem_mod("1 5"), [nomax])
    mem.grow(1)                                          # current size counts as the minimum
    Instance(engine, mem_mod("2 2"), [mem])

    # tables
    tab = Table(engine, TableType(FUNCREF, Limits(10, 20)))
    Instance(engine, mod(engine, '(module (import "env" "t" (table 5 30 funcref)))'), [tab])
    with pytest.raises(LinkError, match="incompatible import type"):
        Instance(engine, mod(engine, '(module (import "env" "t" (table 11 funcref)))'), [tab])
    with pytest.raises(LinkError, match="incompatible import type"):
        Instance(engine, mod(engine, '(module (import "env" "t" (table 5 15 funcref)))'), [tab])
    with pytest.raises(LinkError, match="incompatible import type"):
        Instance(engine, mod(engine, '(module (import "env" "t" (table 5 externref)))'), [tab])

    # globals: type and mutability must be equal
    g_const = Global(engine, GlobalType(I32, False), 1)
    g_mut = Global(engine, GlobalType(I32, True), 1)
    g_f32 = Global(engine, GlobalType(F32, False), 1.0)
    gm = mod(engine, '(module (import "env" "g" (global i32)))')
    Instance(engine, gm, [g_const])
    for bad in (g_mut, g_f32):
        with pytest.raises(LinkError, match="incompatible import type"):
            Instance(engine, gm, [bad])
    with pytest.raises(LinkError, match="incompatible import type"):
        Instance(engine, mod(engine, '(module (import "env" "g" (global (mut i32))))'), [g_const])


def test_linker_duplicate_definition(engine):
    linker = Linker(engine)
    linker.define_func("env", "f", FuncType((), ()), lambda: None)
    with pytest.raises(LinkError):
        linker.define_func("env", "f", FuncType((), ()), lambda: None)


# ---------------------------------------------------------------------------- start, segments
def test_start_function(engine):
    calls = []
    linker = Linker(engine)
    linker.define_func("env", "hit", FuncType((I32,), ()), calls.append)
    inst = linker.instantiate(mod(engine, """
      (module (import "env" "hit" (func $hit (param i32)))
        (global $g (export "g") (mut i32) (i32.const 0))
        (func $start i32.const 42 global.set $g i32.const 7 call $hit)
        (start $start))"""))
    assert calls == [7]
    assert inst.exports["g"].value == 42


def test_start_function_trap(engine):
    with pytest.raises(Trap, match="unreachable"):
        Instance(engine, mod(engine, "(module (func $s unreachable) (start $s))"), [])


def test_data_and_elem_segments(engine):
    inst = Instance(engine, mod(engine, """
      (module
        (import "env" "base" (global $base i32))
        (memory (export "mem") 1)
        (data (i32.const 0) "abc")
        (data (global.get $base) "xyz")
        (data $p "PASSIVE")
        (table (export "tab") 4 funcref)
        (type $r (func (result i32)))
        (func $one (result i32) i32.const 1)
        (func $two (result i32) i32.const 2)
        (elem (i32.const 1) $one $two)
        (elem $pe func $two $one)
        (func (export "init") (param i32 i32 i32) local.get 0 local.get 1 local.get 2 memory.init $p)
        (func (export "drop") data.drop $p)
        (func (export "tinit") (param i32 i32 i32) local.get 0 local.get 1 local.get 2 table.init $pe)
        (func (export "call") (param i32) (result i32) local.get 0 call_indirect (type $r)))"""),
        [Global(engine, GlobalType(I32, False), 8)])
    ex = inst.exports
    m = ex["mem"]
    assert m.read(0, 3) == b"abc" and m.read(8, 3) == b"xyz"
    assert m.read(100, 7) == bytes(7)
    ex["init"](100, 0, 7)                          # passive data, at run time
    assert m.read(100, 7) == b"PASSIVE"
    ex["init"](200, 2, 3)
    assert m.read(200, 3) == b"SSI"
    with pytest.raises(Trap, match="out of bounds memory access"):
        ex["init"](0, 5, 3)
    ex["drop"]()
    ex["init"](0, 0, 0)                            # zero length is fine after drop
    with pytest.raises(Trap, match="out of bounds memory access"):
        ex["init"](0, 0, 1)
    assert ex["call"](1) == 1 and ex["call"](2) == 2
    with pytest.raises(Trap, match="uninitialized element"):
        ex["call"](0)
    ex["tinit"](0, 0, 2)                           # passive elem segment at run time
    assert ex["call"](0) == 2 and ex["call"](1) == 1
    with pytest.raises(Trap, match="out of bounds table access"):
        ex["tinit"](3, 0, 2)


def test_active_segments_are_dropped(engine):
    inst = Instance(engine, mod(engine, """
      (module (memory 1) (data (i32.const 0) "hi")
        (table 2 funcref) (func $f) (elem (i32.const 0) $f)
        (func (export "mi") (param i32) i32.const 0 i32.const 0 local.get 0 memory.init 0)
        (func (export "ti") (param i32) i32.const 0 i32.const 0 local.get 0 table.init 0))"""), [])
    inst.exports["mi"](0)
    inst.exports["ti"](0)
    with pytest.raises(Trap, match="out of bounds memory access"):
        inst.exports["mi"](1)
    with pytest.raises(Trap, match="out of bounds table access"):
        inst.exports["ti"](1)


def test_out_of_bounds_segments_keep_earlier_writes(engine):
    mem = Memory(engine, MemoryType(Limits(1)))
    tab = Table(engine, TableType(FUNCREF, Limits(3)))
    with pytest.raises(Trap, match="out of bounds table access"):
        Instance(engine, mod(engine, """
          (module (import "env" "m" (memory 1)) (import "env" "t" (table 3 funcref))
            (func $f (result i32) i32.const 9)
            (elem (i32.const 0) $f)
            (elem (i32.const 2) $f $f)
            (data (i32.const 0) "never"))"""), [mem, tab])
    assert tab.get(0) is not None and tab.get(0)() == 9    # the first segment's write stays
    assert tab.get(1) is None and tab.get(2) is None
    assert mem.read(0, 5) == bytes(5)                      # data segments never ran
    with pytest.raises(Trap, match="out of bounds memory access"):
        Instance(engine, mod(engine, """
          (module (import "env" "m" (memory 1))
            (data (i32.const 0) "first")
            (data (i32.const 65534) "overflow")
            (data (i32.const 10) "third"))"""), [mem])
    assert mem.read(0, 5) == b"first"
    assert mem.read(10, 5) == bytes(5)


def test_instances_are_independent(engine):
    m = mod(engine, """
      (module (global $g (mut i32) (i32.const 0)) (memory (export "memory") 1)
        (func (export "inc") (result i32) global.get $g i32.const 1 i32.add global.set $g global.get $g))""")
    a, b = Instance(engine, m, []), Instance(engine, m, [])
    assert a.exports["inc"]() == 1 and a.exports["inc"]() == 2
    assert b.exports["inc"]() == 1
    a.exports["memory"].data[0] = 5
    assert b.exports["memory"].data[0] == 0


def test_global_init_from_import_and_ref_func(engine):
    g = Global(engine, GlobalType(I32, False), 41)
    inst = Instance(engine, mod(engine, """
      (module (import "env" "g" (global $g i32))
        (global $h (export "h") i32 (global.get $g))
        (global $r (export "r") funcref (ref.func $f))
        (func $f (export "f") (result i32) i32.const 5))"""), [g])
    assert inst.exports["h"].value == 41
    assert inst.exports["r"].value is inst.exports["f"]
