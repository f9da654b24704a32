"""Tests of the native runtime and interpreter (native/*.c) with hand-assembled internal code
(docs/internal-code.md), driven through cffi without the Python runtime."""
from __future__ import annotations

import math
import struct

import pytest

from wizardpy.native import OP_PROBE, bind_thread, ffi, lib

# ---------------------------------------------------------------- opcodes (internal numbering)
OPS = {
    "unreachable": 0x00, "nop": 0x01, "block": 0x02, "loop": 0x03, "if": 0x04, "else": 0x05,
    "end": 0x0B, "br": 0x0C, "br_if": 0x0D, "br_table": 0x0E, "return": 0x0F, "call": 0x10,
    "call_indirect": 0x11, "drop": 0x1A, "select": 0x1B, "local.get": 0x20, "local.set": 0x21,
    "local.tee": 0x22, "global.get": 0x23, "global.set": 0x24, "table.get": 0x25,
    "table.set": 0x26, "memory.size": 0x3F, "memory.grow": 0x40, "i32.const": 0x41,
    "i64.const": 0x42, "f32.const": 0x43, "f64.const": 0x44, "ref.null": 0xD0,
    "ref.is_null": 0xD1, "ref.func": 0xD2, "memory.init": 0x108, "data.drop": 0x109,
    "memory.copy": 0x10A, "memory.fill": 0x10B, "table.init": 0x10C, "elem.drop": 0x10D,
    "table.copy": 0x10E, "table.grow": 0x10F, "table.size": 0x110, "table.fill": 0x111,
}
_MEM = ("i32.load i64.load f32.load f64.load i32.load8_s i32.load8_u i32.load16_s i32.load16_u "
        "i64.load8_s i64.load8_u i64.load16_s i64.load16_u i64.load32_s i64.load32_u i32.store "
        "i64.store f32.store f64.store i32.store8 i32.store16 i64.store8 i64.store16 i64.store32")
for _i, _n in enumerate(_MEM.split()):
    OPS[_n] = 0x28 + _i
_NUM = """i32.eqz i32.eq i32.ne i32.lt_s i32.lt_u i32.gt_s i32.gt_u i32.le_s i32.le_u i32.ge_s
i32.ge_u i64.eqz i64.eq i64.ne i64.lt_s i64.lt_u i64.gt_s i64.gt_u i64.le_s i64.le_u i64.ge_s
i64.ge_u f32.eq f32.ne f32.lt f32.gt f32.le f32.ge f64.eq f64.ne f64.lt f64.gt f64.le f64.ge
i32.clz i32.ctz i32.popcnt i32.add i32.sub i32.mul i32.div_s i32.div_u i32.rem_s i32.rem_u
i32.and i32.or i32.xor i32.shl i32.shr_s i32.shr_u i32.rotl i32.rotr i64.clz i64.ctz i64.popcnt
i64.add i64.sub i64.mul i64.div_s i64.div_u i64.rem_s i64.rem_u i64.and i64.or i64.xor i64.shl
i64.shr_s i64.shr_u i64.rotl i64.rotr f32.abs f32.neg f32.ceil f32.floor f32.trunc f32.nearest
f32.sqrt f32.add f32.sub f32.mul f32.div f32.min f32.max f32.copysign f64.abs f64.neg f64.ceil
f64.floor f64.trunc f64.nearest f64.sqrt f64.add f64.sub f64.mul f64.div f64.min f64.max
f64.copysign i32.wrap_i64 i32.trunc_f32_s i32.trunc_f32_u i32.trunc_f64_s i32.trunc_f64_u
i64.extend_i32_s i64.extend_i32_u i64.trunc_f32_s i64.trunc_f32_u i64.trunc_f64_s
i64.trunc_f64_u f32.convert_i32_s f32.convert_i32_u f32.convert_i64_s f32.convert_i64_u
f32.demote_f64 f64.convert_i32_s f64.convert_i32_u f64.convert_i64_s f64.convert_i64_u
f64.promote_f32 i32.reinterpret_f32 i64.reinterpret_f64 f32.reinterpret_i32
f64.reinterpret_i64 i32.extend8_s i32.extend16_s i64.extend8_s i64.extend16_s i64.extend32_s"""
for _i, _n in enumerate(_NUM.split()):
    OPS[_n] = 0x45 + _i
assert OPS["i64.extend32_s"] == 0xC4
for _i, _n in enumerate("i32.trunc_sat_f32_s i32.trunc_sat_f32_u i32.trunc_sat_f64_s "
                        "i32.trunc_sat_f64_u i64.trunc_sat_f32_s i64.trunc_sat_f32_u "
                        "i64.trunc_sat_f64_s i64.trunc_sat_f64_u".split()):
    OPS[_n] = 0x100 + _i

M32, M64 = (1 << 32) - 1, (1 << 64) - 1


def f32(x):
    return struct.unpack("<I", struct.pack("<f", x))[0]


def f64(x):
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def fromf32(b):
    return struct.unpack("<f", struct.pack("<I", b & M32))[0]


def fromf64(b):
    return struct.unpack("<d", struct.pack("<Q", b))[0]


def s32(x):
    x &= M32
    return x - (1 << 32) if x >> 31 else x


def s64(x):
    x &= M64
    return x - (1 << 64) if x >> 63 else x


# ---------------------------------------------------------------- a tiny assembler
class Fn:
    """Internal code of one function. Instructions: ("op", imm, ...); an immediate may be a label
    name (resolved to its ip). `label(name)` marks the ip of the next instruction."""

    def __init__(self, params=0, results=0, locals_=0, max_stack=16, sig=0):
        self.num_params, self.num_results = params, results
        self.num_locals = params + locals_
        self.max_stack, self.sig = max_stack, sig
        self.words, self.labels, self.ips = [], {}, []

    def label(self, name):
        self.labels[name] = len(self.words)
        return self

    def __call__(self, op, *imms):
        self.ips.append(len(self.words))
        self.words.append(OPS[op] if isinstance(op, str) else op)
        for x in imms:
            if isinstance(x, str):
                self.words.append(x)
            elif op == "i64.const" or op == "f64.const":
                self.words += [x & M32, (x >> 32) & M32]
            else:
                self.words.append(x & M32)
        return self

    def code(self):
        return [self.labels[w] if isinstance(w, str) else w for w in self.words]


class Host:
    """A host function: `fn(*args) -> list of results` (raw u64 values)."""

    def __init__(self, fn, params, results, sig=0):
        self.fn, self.num_params, self.num_results, self.sig = fn, params, results, sig


class Owner:
    """Receives the thread's callbacks (what the Python runtime's Engine does for real)."""

    def __init__(self):
        self.hosts = {}
        self.probe = None            # fn(t, global_) -> int
        self.pending_exception = None

    def host_call(self, t, f, base):
        fn = self.hosts[f.host_id]
        args = [t.stack[base + i] for i in range(f.num_params)]
        res = fn(*args) or []
        for i, v in enumerate(res):
            t.stack[base + i] = v & M64
        return 0

    def probe_fire(self, t, global_):
        return self.probe(t, global_) if self.probe else 0


class Env:
    """One instance (plus a thread) built by hand; keeps every cffi allocation alive."""

    def __init__(self, funcs, mem=None, tables=(), globals_=(), data=(), elems=(), sigs=(0, 1, 2, 3),
                 stack_slots=1 << 16, max_frames=1000):
        self.keep = []
        self.owner = Owner()
        self.t = ffi.gc(lib.wz_thread_new(stack_slots, max_frames), lib.wz_thread_free)
        bind_thread(self.t, self.owner)
        inst = self.inst = ffi.new("wz_instance *")
        n = len(funcs)
        self.funcs = ffi.new("wz_func *[]", max(n, 1))
        self.fobjs = []
        for i, fn in enumerate(funcs):
            f = ffi.new("wz_func *")
            f.sig, f.inst, f.index = fn.sig, inst, i
            f.num_params, f.num_results = fn.num_params, fn.num_results
            if isinstance(fn, Host):
                f.kind, f.host_id = lib.WZ_FUNC_HOST, i
                self.owner.hosts[i] = fn.fn
                f.num_locals = fn.num_params
            else:
                f.kind = lib.WZ_FUNC_WASM
                words = fn.code()
                code = ffi.new("uint32_t[]", words)
                probe_ops = ffi.new("uint32_t[]", len(words))
                self.keep += [code, probe_ops]
                f.code, f.code_len, f.probe_ops = code, len(words), probe_ops
                f.num_locals, f.max_stack = fn.num_locals, fn.max_stack
            self.funcs[i] = f
            self.fobjs.append(f)
        inst.funcs, inst.num_funcs = self.funcs, n
        self.sigs = ffi.new("uint32_t[]", list(sigs))
        inst.sigs, inst.num_types = self.sigs, len(sigs)
        if mem is not None:
            self.mem = ffi.gc(lib.wz_memory_new(*mem), lib.wz_memory_free)
            self.mems = ffi.new("wz_memory *[]", [self.mem])
            inst.mems, inst.num_mems = self.mems, 1
        self.tables = [ffi.gc(lib.wz_table_new(size, mx, 0x70, 0), lib.wz_table_free)
                       for size, mx in tables]
        self.tabarr = ffi.new("wz_table *[]", self.tables or [ffi.NULL])
        inst.tables, inst.num_tables = self.tabarr, len(self.tables)
        self.globals = [ffi.new("wz_global *", {"value": v, "type": 0x7F, "mutable_": 1})
                        for v in globals_]
        self.globarr = ffi.new("wz_global *[]", self.globals or [ffi.NULL])
        inst.globals, inst.num_globals = self.globarr, len(self.globals)
        self.data = [ffi.new("uint8_t[]", bytes(d) or b"\0") for d in data]
        self.dataarr = ffi.new("uint8_t *[]", self.data or [ffi.NULL])
        self.datalen = ffi.new("uint32_t[]", [len(d) for d in data] or [0])
        inst.data, inst.data_len, inst.num_data = self.dataarr, self.datalen, len(data)
        self.elems = [ffi.new("wz_val[]", [self.ref(x) for x in e] or [0]) for e in elems]
        self.elemarr = ffi.new("wz_val *[]", self.elems or [ffi.NULL])
        self.elemlen = ffi.new("uint32_t[]", [len(e) for e in elems] or [0])
        inst.elems, inst.elem_len, inst.num_elems = self.elemarr, self.elemlen, len(elems)

    def ref(self, fidx):
        """funcref value of function fidx (None -> null)."""
        return 0 if fidx is None else int(ffi.cast("uintptr_t", self.funcs[fidx]))

    def set_table(self, ti, vals):
        for i, x in enumerate(vals):
            self.tables[ti].elems[i] = self.ref(x)

    def invoke(self, fidx, *args):
        """-> (rc, results as raw u64 list)."""
        t, f = self.t, self.funcs[fidx]
        sp, nf = t.sp, t.nframes
        for i, a in enumerate(args):
            t.stack[sp + i] = a & M64
        rc = lib.wz_invoke(t, f)
        assert t.sp == sp and t.nframes == nf
        return rc, [t.stack[sp + i] for i in range(f.num_results)]

    def run(self, fidx, *args):
        rc, res = self.invoke(fidx, *args)
        assert rc == 0, f"trap {rc}"
        return res[0] if len(res) == 1 else res

    def trap(self, fidx, *args):
        return self.invoke(fidx, *args)[0]

    def membytes(self):
        return memoryview(ffi.buffer(self.mem.base, self.mem.size)).cast("B")


def unop(op, ret=1):
    return Fn(1, ret)("local.get", 0)(op)("return", ret)


def binop(op, ret=1):
    return Fn(2, ret)("local.get", 0)("local.get", 1)(op)("return", ret)


def op1(op, a, ret=1):
    return Env([unop(op, ret)]).invoke(0, a)


def op2(op, a, b):
    return Env([binop(op)]).invoke(0, a, b)


def val(op, *args):
    rc, res = (op1 if len(args) == 1 else op2)(op, *args)
    assert rc == 0, f"{op}{args} trapped with {rc}"
    return res[0]


# ---------------------------------------------------------------- integer arithmetic
@pytest.mark.parametrize("op,a,b,want", [
    ("i32.add", M32, 1, 0), ("i32.sub", 0, 1, M32), ("i32.mul", 0x10000, 0x10000, 0),
    ("i32.mul", 0x7FFFFFFF, 2, 0xFFFFFFFE),
    ("i32.div_s", -7, 2, -3 & M32), ("i32.div_u", -7, 2, 0x7FFFFFFC),
    ("i32.rem_s", -7, 2, -1 & M32), ("i32.rem_s", 0x80000000, -1, 0), ("i32.rem_u", -7, 2, 1),
    ("i32.shl", 1, 33, 2), ("i32.shr_s", 0x80000000, 63, M32), ("i32.shr_u", 0x80000000, 63, 1),
    ("i32.rotl", 0x80000001, 1, 3), ("i32.rotr", 3, 1, 0x80000001), ("i32.rotl", 0x12345678, 32, 0x12345678),
    ("i32.rotr", 0x12345678, 36, 0x81234567),
    ("i32.lt_s", -1, 1, 1), ("i32.lt_u", -1, 1, 0), ("i32.ge_s", -1, -1, 1), ("i32.gt_u", -1, 1, 1),
    ("i32.and", 0xF0F0, 0xFF00, 0xF000), ("i32.xor", M32, 1, M32 - 1), ("i32.eq", 5, 5, 1),
    ("i64.add", M64, 2, 1), ("i64.mul", 1 << 32, 1 << 32, 0), ("i64.div_s", -9, 2, -4 & M64),
    ("i64.rem_s", 1 << 63, -1, 0), ("i64.rem_u", -1, 10, 5), ("i64.div_u", -1, 1 << 32, M32),
    ("i64.shl", 1, 65, 2), ("i64.shr_s", 1 << 63, 127, M64), ("i64.shr_u", 1 << 63, 63, 1),
    ("i64.rotl", (1 << 63) | 1, 1, 3), ("i64.rotr", 3, 65, (1 << 63) | 1),
    ("i64.lt_s", -1, 0, 1), ("i64.lt_u", -1, 0, 0), ("i64.ne", 1, 1 << 32 | 1, 1),
])
def test_int_binops(op, a, b, want):
    assert val(op, a, b) == want


@pytest.mark.parametrize("op,a,want", [
    ("i32.clz", 0, 32), ("i32.clz", 1, 31), ("i32.ctz", 0, 32), ("i32.ctz", 0x80000000, 31),
    ("i32.popcnt", M32, 32), ("i32.eqz", 0, 1), ("i32.eqz", 1 << 33, 1),
    ("i64.clz", 0, 64), ("i64.ctz", 0, 64), ("i64.ctz", 1 << 63, 63), ("i64.popcnt", M64, 64),
    ("i64.eqz", 1 << 33, 0),
    ("i32.extend8_s", 0x80, 0xFFFFFF80), ("i32.extend8_s", 0x17F, 0x7F), ("i32.extend16_s", 0x8000, 0xFFFF8000),
    ("i64.extend8_s", 0x80, M64 - 0x7F), ("i64.extend16_s", 0x7FFF, 0x7FFF),
    ("i64.extend32_s", 0x80000000, M64 - 0x7FFFFFFF), ("i64.extend_i32_s", 0xFFFFFFFF, M64),
    ("i64.extend_i32_u", 0xFFFFFFFF, M32), ("i32.wrap_i64", (5 << 32) | 7, 7),
])
def test_int_unops(op, a, want):
    assert val(op, a) == want


@pytest.mark.parametrize("op,a,b,code", [
    ("i32.div_s", 1, 0, lib.WZ_TRAP_DIV_ZERO), ("i32.div_u", 1, 0, lib.WZ_TRAP_DIV_ZERO),
    ("i32.rem_s", 1, 0, lib.WZ_TRAP_DIV_ZERO), ("i32.rem_u", 1, 0, lib.WZ_TRAP_DIV_ZERO),
    ("i32.div_s", 0x80000000, -1, lib.WZ_TRAP_INT_OVERFLOW),
    ("i64.div_s", 1 << 63, -1, lib.WZ_TRAP_INT_OVERFLOW), ("i64.div_u", 1, 0, lib.WZ_TRAP_DIV_ZERO),
    ("i64.rem_s", 1, 0, lib.WZ_TRAP_DIV_ZERO), ("i64.rem_u", 1, 0, lib.WZ_TRAP_DIV_ZERO),
])
def test_int_traps(op, a, b, code):
    assert op2(op, a, b)[0] == code


# ---------------------------------------------------------------- floats
NAN32, NAN64 = 0x7FC00000, 0x7FF8000000000000


def is_nan32(b):
    return (b & 0x7F800000) == 0x7F800000 and (b & 0x7FFFFF)


def is_nan64(b):
    return (b & 0x7FF0000000000000) == 0x7FF0000000000000 and (b & 0xFFFFFFFFFFFFF)


def test_float_min_max_zeros_and_nan():
    assert val("f32.min", f32(-0.0), f32(0.0)) == f32(-0.0)
    assert val("f32.min", f32(0.0), f32(-0.0)) == f32(-0.0)
    assert val("f32.max", f32(-0.0), f32(0.0)) == f32(0.0)
    assert val("f32.max", f32(0.0), f32(-0.0)) == f32(0.0)
    assert val("f64.min", f64(0.0), f64(-0.0)) == f64(-0.0)
    assert val("f64.max", f64(-0.0), f64(0.0)) == f64(0.0)
    assert val("f32.min", f32(1.5), f32(-2.0)) == f32(-2.0)
    assert val("f64.max", f64(1.5), f64(-2.0)) == f64(1.5)
    for op in ("f32.min", "f32.max"):
        assert is_nan32(val(op, NAN32, f32(1.0))) and is_nan32(val(op, f32(1.0), NAN32))
        r = val(op, 0x7FA00000, f32(1.0))       # signalling NaN in: quiet (arithmetic) NaN out
        assert is_nan32(r) and r & 0x400000
    for op in ("f64.min", "f64.max"):
        assert is_nan64(val(op, NAN64, f64(-0.0))) and is_nan64(val(op, f64(3.0), NAN64))


@pytest.mark.parametrize("x,want", [(0.5, 0.0), (1.5, 2.0), (2.5, 2.0), (-0.5, -0.0), (-1.5, -2.0),
                                    (3.7, 4.0), (-0.0, -0.0), (4503599627370497.0, 4503599627370497.0)])
def test_nearest_half_even(x, want):
    assert val("f64.nearest", f64(x)) == f64(want)
    if abs(x) < 1e7:
        assert val("f32.nearest", f32(x)) == f32(want)


def test_float_bit_ops_keep_nan_payload():
    assert val("f32.neg", 0x7FA00001) == 0xFFA00001
    assert val("f32.abs", 0xFFA00001) == 0x7FA00001
    assert val("f64.neg", 0x7FF4000000000001) == 0xFFF4000000000001
    assert val("f32.copysign", f32(2.0), f32(-0.0)) == f32(-2.0)
    assert val("f64.copysign", f64(-2.0), f64(1.0)) == f64(2.0)
    assert val("f32.copysign", 0x7FA00001, f32(-1.0)) == 0xFFA00001
    # reinterpret is a no-op on the bits
    assert val("f32.reinterpret_i32", 0x7FA00001) == 0x7FA00001
    assert val("i64.reinterpret_f64", 0xFFF4000000000001) == 0xFFF4000000000001


def test_float_arith():
    assert fromf32(val("f32.add", f32(1.5), f32(2.25))) == 3.75
    assert fromf64(val("f64.div", f64(1.0), f64(3.0))) == 1.0 / 3.0
    assert fromf64(val("f64.sqrt", f64(2.0))) == math.sqrt(2.0)
    assert is_nan64(val("f64.sqrt", f64(-1.0)))
    assert fromf32(val("f32.ceil", f32(-0.5))) == 0.0 and math.copysign(1, fromf32(val("f32.ceil", f32(-0.5)))) < 0
    assert fromf32(val("f32.floor", f32(-0.5))) == -1.0
    assert fromf64(val("f64.trunc", f64(-2.7))) == -2.0
    assert val("f32.eq", NAN32, NAN32) == 0 and val("f32.ne", NAN32, NAN32) == 1
    assert val("f64.lt", f64(-0.0), f64(0.0)) == 0 and val("f64.le", f64(-0.0), f64(0.0)) == 1
    assert val("f32.div", f32(1.0), f32(0.0)) == f32(math.inf)
    # f32 results keep f32 rounding, not double
    assert val("f32.add", f32(16777216.0), f32(1.0)) == f32(16777216.0)


# ---------------------------------------------------------------- conversions
@pytest.mark.parametrize("op,x,want", [
    ("i32.trunc_f32_s", f32(-2147483648.0), 0x80000000),
    ("i32.trunc_f32_s", f32(2147483520.0), 2147483520),
    ("i32.trunc_f32_s", f32(2147483648.0), lib.WZ_TRAP_INT_OVERFLOW),
    ("i32.trunc_f32_s", f32(-2147483904.0), lib.WZ_TRAP_INT_OVERFLOW),
    ("i32.trunc_f32_s", NAN32, lib.WZ_TRAP_INVALID_CONV),
    ("i32.trunc_f32_u", f32(-0.9), 0), ("i32.trunc_f32_u", f32(-1.0), lib.WZ_TRAP_INT_OVERFLOW),
    ("i32.trunc_f32_u", f32(4294967040.0), 4294967040),
    ("i32.trunc_f32_u", f32(4294967296.0), lib.WZ_TRAP_INT_OVERFLOW),
    ("i32.trunc_f64_s", f64(-2147483648.9), 0x80000000),
    ("i32.trunc_f64_s", f64(-2147483649.0), lib.WZ_TRAP_INT_OVERFLOW),
    ("i32.trunc_f64_s", f64(2147483647.9), 0x7FFFFFFF),
    ("i32.trunc_f64_s", f64(2147483648.0), lib.WZ_TRAP_INT_OVERFLOW),
    ("i32.trunc_f64_u", f64(4294967295.9), M32),
    ("i32.trunc_f64_u", f64(4294967296.0), lib.WZ_TRAP_INT_OVERFLOW),
    ("i32.trunc_f64_u", f64(-0.99), 0), ("i32.trunc_f64_u", NAN64, lib.WZ_TRAP_INVALID_CONV),
    ("i64.trunc_f32_s", f32(-9223372036854775808.0), 1 << 63),
    ("i64.trunc_f32_s", f32(9223372036854775808.0), lib.WZ_TRAP_INT_OVERFLOW),
    ("i64.trunc_f64_s", f64(-9223372036854775808.0), 1 << 63),
    ("i64.trunc_f64_s", f64(9223372036854774784.0), 9223372036854774784),
    ("i64.trunc_f64_s", f64(9223372036854775808.0), lib.WZ_TRAP_INT_OVERFLOW),
    ("i64.trunc_f64_u", f64(18446744073709549568.0), 18446744073709549568),
    ("i64.trunc_f64_u", f64(18446744073709551616.0), lib.WZ_TRAP_INT_OVERFLOW),
    ("i64.trunc_f64_u", f64(-0.5), 0), ("i64.trunc_f32_u", f32(-1.0), lib.WZ_TRAP_INT_OVERFLOW),
    ("i64.trunc_f64_u", f64(math.inf), lib.WZ_TRAP_INT_OVERFLOW),
])
def test_trunc_traps_exact_boundaries(op, x, want):
    """`want` is the result, or (when it is a small trap code and the op traps) the trap code."""
    rc, res = op1(op, x)
    if rc:
        assert rc == want
    else:
        assert res[0] == want


@pytest.mark.parametrize("op,x,want", [
    ("i32.trunc_sat_f32_s", NAN32, 0), ("i32.trunc_sat_f32_s", f32(3e9), 0x7FFFFFFF),
    ("i32.trunc_sat_f32_s", f32(-3e9), 0x80000000), ("i32.trunc_sat_f32_u", f32(-5.0), 0),
    ("i32.trunc_sat_f64_u", f64(5e9), M32), ("i32.trunc_sat_f64_s", f64(-2147483648.5), 0x80000000),
    ("i64.trunc_sat_f64_s", f64(1e19), (1 << 63) - 1), ("i64.trunc_sat_f64_s", f64(-1e19), 1 << 63),
    ("i64.trunc_sat_f32_u", f32(2e19), M64), ("i64.trunc_sat_f64_u", f64(123.9), 123),
    ("i64.trunc_sat_f32_s", NAN32, 0), ("i64.trunc_sat_f64_u", f64(-math.inf), 0),
])
def test_trunc_sat(op, x, want):
    assert val(op, x) == want


def test_int_to_float_conversions():
    assert val("f32.convert_i64_u", M64) == f32(18446744073709551616.0)
    assert val("f64.convert_i64_u", M64) == f64(18446744073709551616.0)
    assert val("f32.convert_i32_u", M32) == f32(4294967296.0)
    assert val("f32.convert_i32_s", M32) == f32(-1.0)
    assert val("f64.convert_i32_s", 0x80000000) == f64(-2147483648.0)
    assert val("f64.convert_i64_s", 1 << 63) == f64(-9223372036854775808.0)
    # round-to-nearest-even on the way to f32 (spec test vectors)
    assert val("f32.convert_i64_s", 0x20000020000001) == f32(9007200328482816.0)
    assert val("f32.convert_i64_u", 0x8000008000000001) == 0x5F000001
    assert val("f32.demote_f64", f64(1e300)) == f32(math.inf)
    assert val("f64.promote_f32", f32(1.5)) == f64(1.5)
    assert is_nan32(val("f32.demote_f64", NAN64))


# ---------------------------------------------------------------- memory
def mem_env(pages=1, max_pages=2, data=()):
    load = Fn(1, 1)("local.get", 0)("i32.load", 0)("return", 1)
    load_off = Fn(1, 1)("local.get", 0)("i32.load", 0xFFFFFFFF)("return", 1)
    load8 = Fn(1, 1)("local.get", 0)("i32.load8_u", 0)("return", 1)
    store64 = Fn(2, 0)("local.get", 0)("local.get", 1)("i64.store", 8)("return", 0)
    grow = Fn(1, 1)("local.get", 0)("memory.grow")("return", 1)
    size = Fn(0, 1)("memory.size")("return", 1)
    fill = Fn(3, 0)("local.get", 0)("local.get", 1)("local.get", 2)("memory.fill")("return", 0)
    copy = Fn(3, 0)("local.get", 0)("local.get", 1)("local.get", 2)("memory.copy")("return", 0)
    init = Fn(3, 0)("local.get", 0)("local.get", 1)("local.get", 2)("memory.init", 0)("return", 0)
    drop = Fn(0, 0)("data.drop", 0)("return", 0)
    loads = Fn(1, 1)("local.get", 0)("i64.load8_s", 1)("local.get", 0)("i64.load16_s", 0)("i64.add")
    loads("local.get", 0)("i64.load32_u", 0)("i64.add")("return", 1)
    return Env([load, load_off, load8, store64, grow, size, fill, copy, init, drop, loads],
               mem=(pages, max_pages), data=data)


def test_memory_load_store_bounds():
    e = mem_env()
    m = e.membytes()
    m[65532:65536] = b"\x01\x02\x03\x04"
    assert e.run(0, 65532) == 0x04030201
    assert e.trap(0, 65533) == lib.WZ_TRAP_MEM_OOB
    assert e.trap(0, M32) == lib.WZ_TRAP_MEM_OOB
    assert e.trap(1, M32) == lib.WZ_TRAP_MEM_OOB         # 0xFFFFFFFF + 0xFFFFFFFF: no wraparound
    assert e.trap(1, 1) == lib.WZ_TRAP_MEM_OOB
    assert e.run(2, 65535) == 4 and e.trap(2, 65536) == lib.WZ_TRAP_MEM_OOB
    assert e.run(3, 65520, 0x1122334455667788) == [] and m[65528:65536] == bytes.fromhex("8877665544332211")
    assert e.trap(3, 65521, 7) == lib.WZ_TRAP_MEM_OOB
    assert m[65528:65536] == bytes.fromhex("8877665544332211")      # nothing written on the trap
    m[0:4] = b"\x80\xff\x00\x00"
    # load8_s at 1 (0xff -> -1) + load16_s at 0 (0xff80 -> -128) + load32_u (0xff80)
    assert s64(e.run(10, 0)) == -1 - 128 + 0xFF80


def test_memory_grow_size():
    e = mem_env(1, 3)
    base = e.mem.base
    assert e.run(5) == 1
    assert e.run(4, 1) == 1 and e.run(5) == 2
    assert e.mem.base == base                          # base never moves
    e.membytes()[131071] = 7
    assert e.run(2, 131071) == 7                        # the grown page is accessible
    assert e.run(4, 2) == M32                           # past the maximum: -1
    assert e.run(4, 0) == 2
    assert e.run(4, 1) == 2 and e.run(5) == 3
    assert e.trap(2, 3 * 65536) == lib.WZ_TRAP_MEM_OOB


def test_memory_fill_copy_init_drop():
    e = mem_env(data=[b"hello"])
    m = e.membytes()
    e.run(6, 10, 0xAB, 5)
    assert m[9:16] == b"\0" + b"\xab" * 5 + b"\0"
    assert e.trap(6, 65530, 1, 7) == lib.WZ_TRAP_MEM_OOB
    e.run(6, 65536, 1, 0)                               # n = 0 at the very end is fine
    assert e.trap(6, 65537, 1, 0) == lib.WZ_TRAP_MEM_OOB
    m[0:6] = b"abcdef"
    e.run(7, 1, 0, 5)                                   # overlapping copy
    assert m[0:6] == b"aabcde"
    assert e.trap(7, 0, 65535, 2) == lib.WZ_TRAP_MEM_OOB
    e.run(8, 100, 1, 4)
    assert m[100:104] == b"ello"
    assert e.trap(8, 100, 1, 5) == lib.WZ_TRAP_MEM_OOB
    e.run(9)                                            # data.drop
    e.run(8, 100, 0, 0)
    assert e.trap(8, 100, 0, 1) == lib.WZ_TRAP_MEM_OOB


def test_empty_memory():
    e = mem_env(0, 0)
    assert e.trap(2, 0) == lib.WZ_TRAP_MEM_OOB
    assert e.run(5) == 0 and e.run(4, 1) == M32


# ---------------------------------------------------------------- tables, call_indirect
def test_call_indirect_traps():
    callee = Fn(1, 1, sig=7)("local.get", 0)("i32.const", 1)("i32.add")("return", 1)
    other = Fn(0, 0, sig=8)("return", 0)
    ci = Fn(2, 1)("local.get", 0)("local.get", 1)("call_indirect", 0, 0)("return", 1)
    e = Env([callee, other, ci], tables=[(3, 10)], sigs=[7, 8])
    e.set_table(0, [0, None, 1])
    assert e.run(2, 41, 0) == 42
    assert e.trap(2, 0, 1) == lib.WZ_TRAP_UNINIT_ELEM
    assert e.trap(2, 0, 2) == lib.WZ_TRAP_INDIRECT_SIG
    assert e.trap(2, 0, 3) == lib.WZ_TRAP_UNDEF_ELEM
    assert e.trap(2, 0, M32) == lib.WZ_TRAP_UNDEF_ELEM
    assert e.t.trap_nframes == 1 and e.t.frames[0].ip == 4


def test_table_ops():
    f0 = Fn(0, 0)("return", 0)
    get = Fn(1, 1)("local.get", 0)("table.get", 0)("return", 1)
    set_ = Fn(2, 0)("local.get", 0)("local.get", 1)("table.set", 0)("return", 0)
    size = Fn(0, 1)("table.size", 0)("return", 1)
    grow = Fn(2, 1)("local.get", 0)("local.get", 1)("table.grow", 0)("return", 1)
    fill = Fn(3, 0)("local.get", 0)("local.get", 1)("local.get", 2)("table.fill", 0)("return", 0)
    copy = Fn(3, 0)("local.get", 0)("local.get", 1)("local.get", 2)("table.copy", 0, 0)("return", 0)
    init = Fn(3, 0)("local.get", 0)("local.get", 1)("local.get", 2)("table.init", 0, 0)("return", 0)
    edrop = Fn(0, 0)("elem.drop", 0)("return", 0)
    rf = Fn(0, 1)("ref.func", 0)("ref.is_null")("ref.null")("ref.is_null")("i32.add")("return", 1)
    e = Env([f0, get, set_, size, grow, fill, copy, init, edrop, rf], tables=[(2, 4)], elems=[[0, None, 0]])
    r0 = e.ref(0)
    assert e.run(3) == 2 and e.run(1, 0) == 0
    e.run(2, 1, r0)
    assert e.run(1, 1) == r0
    assert e.trap(1, 2) == lib.WZ_TRAP_TABLE_OOB and e.trap(2, 2, r0) == lib.WZ_TRAP_TABLE_OOB
    assert e.run(4, r0, 2) == 2 and e.run(3) == 4          # grow returns the old size
    assert e.run(4, 0, 1) == M32                           # past max: -1
    assert e.run(1, 3) == r0
    e.run(5, 0, 0, 4)
    assert [e.run(1, i) for i in range(4)] == [0] * 4
    assert e.trap(5, 3, r0, 2) == lib.WZ_TRAP_TABLE_OOB
    e.run(7, 1, 0, 3)                                      # table.init from [f0, null, f0]
    assert [e.run(1, i) for i in range(4)] == [0, r0, 0, r0]
    assert e.trap(7, 0, 1, 3) == lib.WZ_TRAP_TABLE_OOB
    e.run(6, 0, 1, 3)                                      # overlapping table.copy
    assert [e.run(1, i) for i in range(4)] == [r0, 0, r0, r0]
    assert e.trap(6, 2, 0, 3) == lib.WZ_TRAP_TABLE_OOB
    e.run(8)
    e.run(7, 0, 0, 0)
    assert e.trap(7, 0, 0, 1) == lib.WZ_TRAP_TABLE_OOB
    assert e.run(9) == 1


# ---------------------------------------------------------------- control flow
def test_block_br_arity_and_height():
    # 99; block (result i32) 1 2 br 0 end; add  => 101
    f = Fn(0, 1)
    f("i32.const", 99)("block")("i32.const", 1)("i32.const", 2)("br", "B", 1, 1)("end").label("B")
    f("i32.add")("return", 1)
    e = Env([f])
    assert e.run(0) == 101


def test_br_table_and_if_else():
    f = Fn(1, 1)
    f("block")("block")("block")("local.get", 0)("br_table", 2, "A", 0, 0, "B", 0, 0, "C", 0, 0)
    f("end").label("A")("i32.const", 100)("return", 1)
    f("end").label("B")("i32.const", 200)("return", 1)
    f("end").label("C")("i32.const", 300)("return", 1)
    g = Fn(1, 1)
    g("local.get", 0)("if", "ELSE")("i32.const", 1)("else", "END").label("ELSE")("i32.const", 2)
    g.label("END")("end")("return", 1)
    e = Env([f, g])
    assert [e.run(0, i) for i in (0, 1, 2, 3, M32)] == [100, 200, 300, 300, 300]
    assert e.run(1, 5) == 1 and e.run(1, 0) == 2


def test_br_keeps_exact_values():
    g = Fn(1, 2)
    g("i32.const", 7)("block")("i32.const", 10)("i32.const", 20)("i32.const", 30)
    g("local.get", 0)("br_if", "G", 2, 1)("drop")("drop")("drop")("i32.const", 1)("i32.const", 2)
    g("end").label("G")("i32.add")("i32.const", 5)("return", 2)
    e = Env([g])
    # taken: the kept values (20, 30) land on height 1: 7, 20, 30; add -> 7, 50; 5 -> return [50, 5]
    assert e.run(0, 1) == [50, 5]
    # not taken: 7 | 1 2 -> add -> 7 3 ; const 5 -> return [3, 5]
    assert e.run(0, 0) == [3, 5]


def test_loop_sum():
    # sum = 0; i = n; loop: sum += i; i -= 1; br_if loop (i != 0)
    f = Fn(1, 1, locals_=1)
    f.label("L")("loop")("local.get", 1)("local.get", 0)("i32.add")("local.set", 1)
    f("local.get", 0)("i32.const", 1)("i32.sub")("local.tee", 0)("br_if", "L", 0, 0)
    f("local.get", 1)("return", 1)
    e = Env([f])
    assert e.run(0, 100) == 5050
    assert e.run(0, 100000) == (100000 * 100001 // 2) & M32


def test_select_and_globals():
    f = Fn(3, 1)("local.get", 0)("local.get", 1)("local.get", 2)("select")("return", 1)
    g = Fn(1, 1)("global.get", 0)("local.get", 0)("i32.add")("global.set", 0)("global.get", 0)("return", 1)
    e = Env([f, g], globals_=[5])
    assert e.run(0, 1, 2, 1) == 1 and e.run(0, 1, 2, 0) == 2
    assert e.run(1, 10) == 15 and e.run(1, 1) == 16 and e.globals[0].value == 16


# ---------------------------------------------------------------- calls
def test_multi_value_call():
    two = Fn(1, 2)("local.get", 0)("i32.const", 1)("i32.add")("local.get", 0)("i32.const", 2)("i32.mul")("return", 2)
    caller = Fn(1, 1)("i32.const", 1000)("local.get", 0)("call", 0)("i32.sub")("i32.add")("return", 1)
    e = Env([two, caller])
    assert e.run(0, 5) == [6, 10]
    assert e.run(1, 5) == (1000 + 6 - 10) & M32


def fib_fn():
    f = Fn(1, 1)
    f("local.get", 0)("i32.const", 2)("i32.lt_u")("if", "ELSE")("local.get", 0)("return", 1)
    f.label("ELSE")("end")
    f("local.get", 0)("i32.const", 1)("i32.sub")("call", 0)
    f("local.get", 0)("i32.const", 2)("i32.sub")("call", 0)("i32.add")("return", 1)
    return f


def test_recursion_fib_fact():
    fact = Fn(1, 1)   # i64 factorial
    fact("local.get", 0)("i64.eqz")("if", "E")("i64.const", 1)("return", 1).label("E")("end")
    fact("local.get", 0)("local.get", 0)("i64.const", 1)("i64.sub")("call", 1)("i64.mul")("return", 1)
    e = Env([fib_fn(), fact])
    assert e.run(0, 20) == 6765
    assert e.fobjs[0].calls == 21891
    assert e.run(1, 20) == math.factorial(20)
    assert e.run(1, 25) == math.factorial(25) & M64


def test_declared_locals_zeroed():
    dirty = Fn(0, 0, locals_=3)("i32.const", 9)("local.set", 0)("i32.const", 9)("local.set", 1)("return", 0)
    clean = Fn(0, 1, locals_=2)("local.get", 0)("local.get", 1)("i32.or")("return", 1)
    caller = Fn(0, 1)("call", 0)("call", 1)("return", 1)
    e = Env([dirty, clean, caller])
    assert e.run(2) == 0


def test_stack_exhaustion_frames_and_values():
    inf = Fn(0, 0)("call", 0)("return", 0)
    e = Env([inf], max_frames=5000)
    assert e.trap(0) == lib.WZ_TRAP_STACK
    assert e.t.trap_nframes == 5000            # all 5000 frames in use: the next call trapped
    # value-stack exhaustion: big frames, small stack, many frames allowed
    big = Fn(1, 0, locals_=100, max_stack=50)("local.get", 0)("call", 0)("return", 0)
    e2 = Env([big], stack_slots=10000, max_frames=100000)
    assert e2.trap(0, 1) == lib.WZ_TRAP_STACK
    assert e2.t.trap_nframes < 100
    # the thread is fully usable afterwards
    e3 = Env([fib_fn(), inf], max_frames=200)
    assert e3.trap(1) == lib.WZ_TRAP_STACK
    assert e3.run(0, 15) == 610


def test_trap_frames():
    inner = Fn(1, 1)("local.get", 0)("i32.const", 0)("i32.div_u")("return", 1)
    outer = Fn(0, 1)("nop")("i32.const", 1)("call", 0)("return", 1)
    e = Env([inner, outer])
    assert e.trap(1) == lib.WZ_TRAP_DIV_ZERO
    t = e.t
    assert t.trap_nframes == 2
    assert t.frames[0].func == e.funcs[1] and t.frames[0].ip == 3     # the call
    assert t.frames[1].func == e.funcs[0] and t.frames[1].ip == 4     # the div
    assert t.frames[1].sp - t.frames[1].fp == 1 + 2                   # 1 local + 2 operands
    assert e.trap(1) == lib.WZ_TRAP_DIV_ZERO


# ---------------------------------------------------------------- host calls
def test_host_call_and_reentrancy():
    calls = []
    hadd = Host(lambda a, b: [a + b], 2, 1)
    f = Fn(2, 1)("local.get", 0)("local.get", 1)("call", 0)("i32.const", 1)("i32.add")("return", 1)
    e = Env([hadd, f])
    assert e.run(1, 40, 1) == 42
    assert e.run(0, 2, 3) == 5           # invoking a host function directly

    def boom(x):
        raise KeyError("boom")
    e2 = Env([Host(boom, 1, 0), Fn(0, 0)("i32.const", 1)("call", 0)("return", 0)])
    assert e2.trap(1) == lib.WZ_TRAP_HOST
    assert isinstance(e2.owner.pending_exception, KeyError)
    assert e2.t.trap_nframes == 1 and e2.t.frames[0].ip == 2

    # re-entrant: host calls back into wasm fib on the same thread
    holder = {}

    def reenter(n):
        calls.append(n)
        rc, res = holder["env"].invoke(2, n)
        assert rc == 0
        return [res[0] * 10]
    caller = Fn(1, 1)("i32.const", 5)("local.get", 0)("call", 0)("i32.add")("return", 1)
    # fib_fn calls function 0: make a copy calling itself at index 2
    fib2 = fib_fn()
    fib2.words = [2 if (w == 0 and i > 0 and fib2.words[i - 1] == 0x10) else w for i, w in enumerate(fib2.words)]
    e3 = Env([Host(reenter, 1, 1), caller, fib2])
    holder["env"] = e3
    assert e3.run(1, 10) == 5 + 550
    assert calls == [10]
    # reentrant trap inside the host function: the host sees it, the outer call reports WZ_TRAP_HOST
    deep = Fn(0, 0)("call", 2)("return", 0)

    def reenter_trap():
        rc, _ = holder["e4"].invoke(2)
        raise RuntimeError(rc)
    e4 = Env([Host(reenter_trap, 0, 0), Fn(0, 0)("call", 0)("return", 0), deep], max_frames=50)
    holder["e4"] = e4
    assert e4.trap(1) == lib.WZ_TRAP_HOST
    assert e4.owner.pending_exception.args == (lib.WZ_TRAP_STACK,)


def test_host_grows_memory_and_interp_sees_it():
    holder = {}

    def grow():
        lib.wz_memory_grow(holder["e"].mem, 1)
    f = Fn(0, 1)("call", 0)("i32.const", 65536)("i32.load", 0)("drop")("memory.size")("return", 1)
    e = Env([Host(grow, 0, 0), f], mem=(1, 4))
    holder["e"] = e
    assert e.run(1) == 2


# ---------------------------------------------------------------- probes
def insert_probe(env, fidx, ip):
    f = env.fobjs[fidx]
    f.probe_ops[ip] = f.code[ip]
    f.code[ip] = OP_PROBE


def remove_probe(env, fidx, ip):
    f = env.fobjs[fidx]
    f.code[ip] = f.probe_ops[ip]


def test_local_probe():
    e = Env([fib_fn()])
    f = e.fobjs[0]
    ip_add = fib_fn().ips[-2]            # the i32.add
    seen = []

    def probe(t, global_):
        fr = t.frames[t.nframes - 1]
        assert global_ == 0 and fr.ip == ip_add and fr.sp == t.sp
        seen.append((t.stack[fr.sp - 2], t.stack[fr.sp - 1]))
        return 0
    e.owner.probe = probe
    insert_probe(e, 0, ip_add)
    assert e.run(0, 10) == 55
    assert len(seen) == 88 and seen[-1] == (34, 21)
    remove_probe(e, 0, ip_add)
    seen.clear()
    assert e.run(0, 10) == 55 and seen == []
    assert f.code[ip_add] == OPS["i32.add"]


def test_probe_writes_operand_and_traps_and_self_removes():
    f = Fn(1, 1)("local.get", 0)("i32.const", 1)("i32.add")("return", 1)
    e = Env([f])
    state = {"n": 0}

    def probe(t, g):
        fr = t.frames[t.nframes - 1]
        state["n"] += 1
        if state["n"] == 1:
            t.stack[fr.sp - 1] = 100         # FrameWriter.set_operand(0, 100)
            return 0
        if state["n"] == 2:
            return lib.WZ_TRAP_UNREACHABLE
        remove_probe(e, 0, 4)                 # removing itself from inside the probe
        return 0
    e.owner.probe = probe
    insert_probe(e, 0, 4)
    assert e.run(0, 1) == 101
    assert e.trap(0, 1) == lib.WZ_TRAP_UNREACHABLE and e.t.trap_nframes == 1 and e.t.frames[0].ip == 4
    assert e.run(0, 1) == 2
    assert e.run(0, 1) == 2 and state["n"] == 3


def test_global_probe_counts_instructions():
    e = Env([fib_fn()])
    count = {"g": 0, "l": 0, "order": []}

    def probe(t, g):
        if g:
            count["g"] += 1
        else:
            count["l"] += 1
            count["order"].append(count["g"])
        return 0
    e.owner.probe = probe
    # executed instructions of fib(n): base case 6 (get, const, lt_u, if, get, return);
    # recursive case: 4 + the else-path end + 10 more
    def instrs(n):
        if n < 2:
            return 6
        return 4 + 1 + 10 + instrs(n - 1) + instrs(n - 2)
    e.t.global_probes = 1
    assert e.run(0, 10) == 55
    assert count["g"] == instrs(10)
    # local + global: global fires first, local still fires
    count["g"] = 0
    insert_probe(e, 0, 0)
    assert e.run(0, 3) == 2
    assert count["l"] == 5 and count["g"] == instrs(3)
    e.t.global_probes = 0
    count["g"] = 0
    assert e.run(0, 3) == 2 and count["g"] == 0 and count["l"] == 10


def test_probe_enables_global_probes():
    e = Env([Fn(0, 1)("nop")("nop")("i32.const", 3)("return", 1)])
    hits = []

    def probe(t, g):
        hits.append((g, t.frames[t.nframes - 1].ip))
        if not g:
            t.global_probes = 1
        return 0
    e.owner.probe = probe
    insert_probe(e, 0, 1)
    assert e.run(0) == 3
    assert hits == [(0, 1), (1, 2), (1, 4)]


# ---------------------------------------------------------------- resume
def test_resume_mid_function():
    f = Fn(1, 1, locals_=1)
    f.label("L")("loop")("local.get", 1)("local.get", 0)("i32.add")("local.set", 1)
    f("local.get", 0)("i32.const", 1)("i32.sub")("local.tee", 0)("br_if", "L", 0, 0)
    f("local.get", 1)("return", 1)
    e = Env([f])
    t = e.t
    # resume at the loop header with i = 10, sum = 1000
    locals_ = ffi.new("wz_val[]", [10, 1000])
    rc = lib.wz_resume(t, e.funcs[0], f.ips[0], locals_, ffi.NULL, 0)
    assert rc == 0 and t.stack[t.sp] == 1000 + 55 and t.nframes == 0
    # resume just before i32.add with two operands on the stack
    ops = ffi.new("wz_val[]", [7, 3])
    rc = lib.wz_resume(t, e.funcs[0], f.ips[3], ffi.new("wz_val[]", [1, 0]), ops, 2)
    assert rc == 0 and t.stack[t.sp] == 10
    # resume in a function that calls others, at the call instruction
    fe = Env([fib_fn(), Fn(1, 1)("local.get", 0)("call", 0)("i32.const", 1)("i32.add")("return", 1)])
    rc = lib.wz_resume(fe.t, fe.funcs[1], 2, ffi.new("wz_val[]", [99]), ffi.new("wz_val[]", [12]), 1)
    assert rc == 0 and fe.t.stack[fe.t.sp] == 145


def test_native_count_probes():
    e = Env([fib_fn()])
    f = e.fobjs[0]
    counts = ffi.new("uint64_t[]", f.code_len)
    python = ffi.new("uint8_t[]", f.code_len)
    f.probe_counts, f.probe_python = counts, python
    fired = []
    e.owner.probe = lambda t, g: fired.append(t.frames[t.nframes - 1].ip) or 0
    ip_add = fib_fn().ips[-2]
    insert_probe(e, 0, 0)          # entry: count only
    insert_probe(e, 0, ip_add)     # the add: count and call Python
    python[ip_add] = 1
    assert e.run(0, 10) == 55
    assert counts[0] == 177 and counts[ip_add] == 88
    assert fired == [ip_add] * 88
    f.probe_counts = f.probe_python = ffi.NULL


@pytest.mark.parametrize("op", ["ceil", "floor", "trunc", "nearest", "sqrt"])
def test_rounding_quiets_signalling_nan(op):
    r = val("f32." + op, 0x7FA00000)
    assert is_nan32(r) and r & 0x400000
    r = val("f64." + op, 0xFFF4000000000000)
    assert is_nan64(r) and r & 0x8000000000000
