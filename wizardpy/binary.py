"""The Wasm 2.0 binary-format decoder: bytes -> `syntax.ModuleDef`.

`decode_module(data)` reads every section, checks the section ordering, the LEB128 and UTF-8
rules and the count/size consistency rules of the spec, and raises `DecodeError(message, offset)`
for malformed input (using the spec test suite's messages). Function bodies are not decoded into
instructions here: only their local declarations and offsets are recorded (`syntax.FuncBody`);
the validator decodes instructions in its single pass (and raises `DecodeError` for whatever the
spec calls malformed inside a body).

`decode_instruction` decodes one instruction with its immediates; it serves constant
expressions, the disassembler and monitors (it is not the validator's hot path).
"""
from __future__ import annotations

import struct

from . import opcodes as ops
from .errors import DecodeError
from .leb128 import read_s32, read_s33, read_s64, read_u32, read_u64
from .syntax import (FUNC, GLOBAL, MEMORY, TABLE, ConstExpr, DataSegment, ElemSegment, Export,
                     FuncBody, Global, Import, ModuleDef, Names)
from .types import (EXTERNREF, F32, F64, FUNCREF, I32, I64, FuncType, GlobalType, Limits,
                    MemoryType, TableType)

MAGIC = b"\x00asm"
VERSION = b"\x01\x00\x00\x00"
#: Most locals a function may declare (the spec allows 2^32-1; engines cap it like this).
MAX_LOCALS = 50000

VALTYPES = frozenset((I32, I64, F32, F64, FUNCREF, EXTERNREF))
REFTYPES = frozenset((FUNCREF, EXTERNREF))
_KINDS = (FUNC, TABLE, MEMORY, GLOBAL)
# section id -> position in the required order (custom sections, id 0, may appear anywhere)
_ORDER = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 7: 7, 8: 8, 9: 9, 12: 10, 10: 11, 11: 12}
_F32 = struct.Struct("<I")
_F64 = struct.Struct("<Q")


class _Reader:
    """A cursor over `data[pos:end]` (one section); raises DecodeError on every misstep."""

    __slots__ = ("data", "pos", "end")

    def __init__(self, data: bytes, pos: int, end: int):
        self.data = data
        self.pos = pos
        self.end = end

    def eof(self) -> DecodeError:
        if self.end < len(self.data):
            return DecodeError("unexpected end of section or function", self.pos)
        return DecodeError("unexpected end", self.pos)

    def byte(self) -> int:
        if self.pos >= self.end:
            raise self.eof()
        b = self.data[self.pos]
        self.pos += 1
        return b

    def bytes(self, n: int) -> bytes:
        if n > self.end - self.pos:
            if self.end < len(self.data):
                raise DecodeError("unexpected end of section or function", self.pos)
            raise DecodeError("unexpected end", self.pos)
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return bytes(b)

    def u32(self) -> int:
        # read to the end of the file (so an over-long LEB reports itself), then check bounds
        v, p = read_u32(self.data, self.pos, len(self.data))
        if p > self.end:
            raise self.eof()
        self.pos = p
        return v

    def count(self) -> int:
        """A vector length (the elements are read lazily, so a huge count fails on reading)."""
        return self.u32()

    def name(self) -> str:
        n = self.u32()
        at = self.pos
        if n > self.end - self.pos:
            raise DecodeError("length out of bounds", at)
        raw = self.bytes(n)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DecodeError("malformed UTF-8 encoding", at + e.start) from None

    def valtype(self) -> int:
        at = self.pos
        t = self.byte()
        if t not in VALTYPES:
            raise DecodeError("malformed value type", at)
        return t

    def reftype(self) -> int:
        at = self.pos
        t = self.byte()
        if t not in REFTYPES:
            raise DecodeError("malformed reference type", at)
        return t

    def limits(self, is_memory: bool) -> Limits:
        at = self.pos
        flag = self.byte()           # a one-byte LEB128: 0 (min) or 1 (min, max)
        if flag & 0x80:
            raise DecodeError("integer representation too long", at)
        if flag == 0:
            return Limits(self.u32())
        if flag == 1:
            lo = self.u32()
            return Limits(lo, self.u32())
        raise DecodeError("integer too large", at)

    def table_type(self) -> TableType:
        t = self.reftype()
        return TableType(t, self.limits(False))

    def global_type(self) -> GlobalType:
        t = self.valtype()
        at = self.pos
        m = self.byte()
        if m > 1:
            raise DecodeError("malformed mutability", at)
        return GlobalType(t, m == 1)

    def const_expr(self) -> ConstExpr:
        start = self.pos
        instrs: list[tuple[int, int]] = []
        depth = 0
        while True:
            op, imm, self.pos = decode_instruction(self.data, self.pos, self.end)
            if op == 0x0B:
                if depth == 0:
                    return ConstExpr(instrs, start)
                depth -= 1
            elif op in (0x02, 0x03, 0x04):
                depth += 1
            if op in (0x41, 0x42, 0x43, 0x44, 0xD0, 0xD2, 0x23):
                instrs.append((op, imm[0]))
            else:
                instrs.append((op, None))  # type: ignore[arg-type]  # rejected by validation


def _opcode(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """Read an opcode; returns (internal number, new pos)."""
    if pos >= end:
        raise DecodeError("unexpected end of section or function" if end < len(data)
                          else "unexpected end", pos)
    b = data[pos]
    if b == 0xFC:
        sub, npos = read_u32(data, pos + 1, end)
        op = 0x100 + sub
        if sub > 17:
            raise DecodeError("illegal opcode", pos)
        return op, npos
    if b == 0xFD:
        raise DecodeError("SIMD is not supported", pos)
    if b not in ops.VALID_OPCODES:
        raise DecodeError("illegal opcode", pos)
    return b, pos + 1


def _zero(data: bytes, pos: int, end: int) -> int:
    if pos >= end:
        raise DecodeError("unexpected end", pos)
    if data[pos] != 0:
        raise DecodeError("zero byte expected", pos)
    return pos + 1


def read_blocktype(data: bytes, pos: int, end: int) -> tuple[int | None, int, int]:
    """Block type: (valtype or None for empty, or -1 with type index, ...) -> (kind, value, pos).

    Returns (None, 0, pos) for the empty type, (valtype, 0, pos) for a single result, or
    (-1, typeidx, pos) for a type index.
    """
    if pos >= end:
        raise DecodeError("unexpected end", pos)
    b = data[pos]
    if b == 0x40:
        return None, 0, pos + 1
    if b in VALTYPES:
        return b, 0, pos + 1
    v, npos = read_s33(data, pos, end)
    if v < 0:
        raise DecodeError("malformed value type", pos)
    return -1, v, npos


def decode_instruction(data: bytes, pos: int, end: int) -> tuple[int, tuple, int]:
    """Decode the instruction at `pos`: returns (opcode, immediates, next pos).

    Immediates by kind: blocktype -> (None|valtype|-1, typeidx); br_table -> (labels tuple,
    default); memarg -> (align, offset); call_indirect -> (typeidx, tableidx); f32/f64 consts
    -> raw bits; typed select -> (valtypes tuple,); two-index kinds -> (a, b); others -> (x,).
    """
    op, pos = _opcode(data, pos, end)
    kind = ops.IMMEDIATES[op]
    if kind == ops.IMM_NONE:
        return op, (), pos
    if kind in (ops.IMM_LABEL, ops.IMM_FUNC, ops.IMM_LOCAL, ops.IMM_GLOBAL, ops.IMM_TABLE,
                ops.IMM_DATA, ops.IMM_ELEM):
        x, pos = read_u32(data, pos, end)
        return op, (x,), pos
    if kind == ops.IMM_MEMARG:
        a, pos = read_u32(data, pos, end)
        o, pos = read_u32(data, pos, end)
        return op, (a, o), pos
    if kind == ops.IMM_I32:
        v, pos = read_s32(data, pos, end)
        return op, (v,), pos
    if kind == ops.IMM_I64:
        v, pos = read_s64(data, pos, end)
        return op, (v,), pos
    if kind == ops.IMM_F32:
        if end - pos < 4:
            raise DecodeError("unexpected end", pos)
        return op, (_F32.unpack_from(data, pos)[0],), pos + 4
    if kind == ops.IMM_F64:
        if end - pos < 8:
            raise DecodeError("unexpected end", pos)
        return op, (_F64.unpack_from(data, pos)[0],), pos + 8
    if kind == ops.IMM_BLOCKTYPE:
        k, v, pos = read_blocktype(data, pos, end)
        return op, (k, v), pos
    if kind == ops.IMM_BR_TABLE:
        n, pos = read_u32(data, pos, end)
        if n > end - pos:
            raise DecodeError("unexpected end", pos)
        labels = []
        for _ in range(n):
            x, pos = read_u32(data, pos, end)
            labels.append(x)
        d, pos = read_u32(data, pos, end)
        return op, (tuple(labels), d), pos
    if kind == ops.IMM_CALL_INDIRECT or kind == ops.IMM_ELEM_TABLE or kind == ops.IMM_TABLE_TABLE:
        a, pos = read_u32(data, pos, end)
        b, pos = read_u32(data, pos, end)
        return op, (a, b), pos
    if kind == ops.IMM_REFTYPE:
        if pos >= end:
            raise DecodeError("unexpected end", pos)
        t = data[pos]
        if t not in REFTYPES:
            raise DecodeError("malformed reference type", pos)
        return op, (t,), pos + 1
    if kind == ops.IMM_SELECT_T:
        n, pos = read_u32(data, pos, end)
        if n > end - pos:
            raise DecodeError("unexpected end", pos)
        ts = []
        for _ in range(n):
            if pos >= end:
                raise DecodeError("unexpected end", pos)
            if data[pos] not in VALTYPES:
                raise DecodeError("malformed value type", pos)
            ts.append(data[pos])
            pos += 1
        return op, (tuple(ts),), pos
    if kind == ops.IMM_MEM0:
        return op, (0,), _zero(data, pos, end)
    if kind == ops.IMM_DATA_MEM:
        x, pos = read_u32(data, pos, end)
        return op, (x, 0), _zero(data, pos, end)
    if kind == ops.IMM_MEM_MEM:
        pos = _zero(data, pos, end)
        return op, (0, 0), _zero(data, pos, end)
    raise DecodeError("illegal opcode", pos)  # pragma: no cover


def decode_module(data: bytes) -> ModuleDef:
    """Decode a whole Wasm 2.0 binary module; raises DecodeError on malformed input."""
    data = bytes(data)
    n = len(data)
    if n < 4:
        if MAGIC.startswith(data):
            raise DecodeError("unexpected end", n)
        raise DecodeError("magic header not detected", 0)
    if data[:4] != MAGIC:
        raise DecodeError("magic header not detected", 0)
    if n < 8:
        raise DecodeError("unexpected end", n)
    if data[4:8] != VERSION:
        raise DecodeError("unknown binary version", 4)
    m = ModuleDef(raw=data)
    pos = 8
    last = 0
    num_funcs_declared: int | None = None
    name_section: tuple[int, int] | None = None
    while pos < n:
        sid_at = pos
        sid = data[pos]
        if sid > 12:
            raise DecodeError("malformed section id", pos)
        size, pos = read_u32(data, pos + 1, n)
        if size > n - pos:
            raise DecodeError("length out of bounds", pos)
        end = pos + size
        r = _Reader(data, pos, end)
        if sid == 0:
            cname = r.name()
            m.customs.append((cname, r.pos, end - r.pos))
            if cname == "name" and name_section is None:
                name_section = (r.pos, end)
            pos = end
            continue
        order = _ORDER[sid]
        if order <= last:
            raise DecodeError("unexpected content after last section", sid_at)
        last = order
        if sid == 1:
            for _ in range(r.count()):
                at = r.pos
                if r.byte() != 0x60:
                    raise DecodeError("integer representation too long", at)
                params = tuple(r.valtype() for _ in range(r.count()))
                results = tuple(r.valtype() for _ in range(r.count()))
                m.types.append(FuncType(params, results))
        elif sid == 2:
            for _ in range(r.count()):
                mod = r.name()
                nm = r.name()
                at = r.pos
                k = r.byte()
                if k > 3:
                    raise DecodeError("malformed import kind", at)
                if k == 0:
                    desc: object = r.u32()
                elif k == 1:
                    desc = r.table_type()
                elif k == 2:
                    desc = MemoryType(r.limits(True))
                else:
                    desc = r.global_type()
                m.imports.append(Import(mod, nm, _KINDS[k], desc))
        elif sid == 3:
            num_funcs_declared = r.count()
            m.funcs = [r.u32() for _ in range(num_funcs_declared)]
        elif sid == 4:
            m.tables = [r.table_type() for _ in range(r.count())]
        elif sid == 5:
            m.memories = [MemoryType(r.limits(True)) for _ in range(r.count())]
        elif sid == 6:
            for _ in range(r.count()):
                gt = r.global_type()
                m.globals.append(Global(gt, r.const_expr()))
        elif sid == 7:
            for _ in range(r.count()):
                nm = r.name()
                at = r.pos
                k = r.byte()
                if k > 3:
                    raise DecodeError("malformed export kind", at)
                m.exports.append(Export(nm, _KINDS[k], r.u32()))
        elif sid == 8:
            m.start = r.u32()
        elif sid == 9:
            m.elems = [_elem_segment(r) for _ in range(r.count())]
        elif sid == 12:
            m.data_count = r.u32()
        elif sid == 10:
            m.code_section_offset = pos
            cnt = r.count()
            if cnt != len(m.funcs):
                raise DecodeError("function and code section have inconsistent lengths", pos)
            for _ in range(cnt):
                m.codes.append(_func_body(r))
        elif sid == 11:
            cnt = r.count()
            if m.data_count is not None and cnt != m.data_count:
                raise DecodeError("data count and data section have inconsistent lengths", pos)
            m.datas = [_data_segment(r) for _ in range(cnt)]
        if r.pos != end:
            raise DecodeError("section size mismatch", r.pos)
        pos = end
    if len(m.codes) != len(m.funcs):
        raise DecodeError("function and code section have inconsistent lengths", n)
    if m.data_count is not None and m.data_count != len(m.datas):
        raise DecodeError("data count and data section have inconsistent lengths", n)
    if name_section is not None:
        m.names = _names(data, *name_section)
    return m


def _func_body(r: _Reader) -> FuncBody:
    size = r.u32()
    start = r.pos
    if size > r.end - start:
        raise DecodeError("unexpected end of section or function", start)
    body_end = start + size
    br = _Reader(r.data, start, body_end)
    locals_: list[tuple[int, int]] = []
    total = 0
    for _ in range(br.u32()):
        at = br.pos
        c = br.u32()
        total += c
        if total > MAX_LOCALS:
            raise DecodeError("too many locals", at)
        locals_.append((c, br.valtype()))
    r.pos = body_end
    return FuncBody(locals_, start, size, br.pos - start)


def _elem_segment(r: _Reader) -> ElemSegment:
    at = r.pos
    flags = r.u32()
    if flags > 7:
        raise DecodeError("malformed elements segment kind", at)
    table = 0
    offset = None
    if flags & 1:
        mode = "declarative" if flags & 2 else "passive"
    else:
        mode = "active"
        if flags & 2:
            table = r.u32()
        offset = r.const_expr()
    if flags & 4:                       # expressions
        et = FUNCREF if (flags & 3) == 0 else r.reftype()
        init = [r.const_expr() for _ in range(r.count())]
    else:                               # function indices
        if flags & 3:
            kat = r.pos
            if r.byte() != 0x00:
                raise DecodeError("malformed elements segment kind", kat)
        et = FUNCREF
        init = []
        for _ in range(r.count()):
            at = r.pos
            init.append(ConstExpr([(0xD2, r.u32())], at))
    return ElemSegment(mode, et, init, table, offset)


def _data_segment(r: _Reader) -> DataSegment:
    at = r.pos
    flags = r.u32()
    if flags > 2:
        raise DecodeError("malformed data segment kind", at)
    if flags == 1:
        return DataSegment("passive", r.bytes(r.u32()))
    mem = r.u32() if flags == 2 else 0
    off = r.const_expr()
    return DataSegment("active", r.bytes(r.u32()), mem, off)


def _names(data: bytes, pos: int, end: int) -> Names:
    """Decode the `name` custom section; a malformed one is ignored (as engines do)."""
    names = Names()
    try:
        r = _Reader(data, pos, end)
        last = -1
        while r.pos < end:
            sid = r.byte()
            size = r.u32()
            if size > end - r.pos or sid <= last:
                raise DecodeError("malformed name section", r.pos)
            last = sid
            sub = _Reader(data, r.pos, r.pos + size)
            if sid == 0:
                names.module = sub.name()
            elif sid == 1:
                for _ in range(sub.count()):
                    idx = sub.u32()
                    names.funcs[idx] = sub.name()
            elif sid == 2:
                for _ in range(sub.count()):
                    fidx = sub.u32()
                    d = names.locals.setdefault(fidx, {})
                    for _ in range(sub.count()):
                        li = sub.u32()
                        d[li] = sub.name()
            else:
                sub.pos = sub.end
            if sub.pos != sub.end:
                raise DecodeError("malformed name section", sub.pos)
            r.pos = sub.end
    except DecodeError:
        return Names()
    return names


def is_wasm(data: bytes) -> bool:
    return data[:4] == MAGIC


__all__ = ["decode_module", "decode_instruction", "read_blocktype", "read_u32", "read_u64",
           "MAX_LOCALS", "DecodeError"]
