"""Disassembly: iterate over and print the instructions of a decoded module's functions.

`iter_instructions(m, funcidx)` yields `(pc, opcode, immediates)` for every instruction of a
defined function (pc as everywhere in wizardpy: byte offset from the body start; opcodes
numbered as in `opcodes`, typed `select` stays 0x1C). `disassemble` turns that into lines such as
`  +14  call 3 <"fib">`; `format_module_summary` is the text of `wizardpy inspect`.
"""
from __future__ import annotations

import struct
from collections.abc import Iterator

from . import opcodes as ops
from .binary import decode_instruction
from .errors import DecodeError
from .syntax import FUNC, GLOBAL, MEMORY, TABLE, ModuleDef
from .types import GlobalType, MemoryType, TableType, valtype_name


def _body(m: ModuleDef, funcidx: int):
    nimp = m.num_imported_funcs
    if funcidx < nimp:
        raise ValueError(f"function {funcidx} is imported; it has no body")
    if funcidx - nimp >= len(m.codes):
        raise ValueError(f"unknown function {funcidx}")
    return m.codes[funcidx - nimp]


def iter_instructions(m: ModuleDef, funcidx: int) -> Iterator[tuple[int, int, tuple]]:
    """Yield (pc, opcode, immediates) for each instruction of defined function `funcidx`.

    Immediates are as `binary.decode_instruction` returns them. Stops after the final `end`.
    """
    body = _body(m, funcidx)
    base = body.body_offset
    d = m.raw[base:base + body.size]
    pos = body.instr_offset
    depth = 0
    try:
        while pos < len(d):
            op, imm, npos = decode_instruction(d, pos, len(d))
            yield pos, op, imm
            pos = npos
            if op in (0x02, 0x03, 0x04):
                depth += 1
            elif op == 0x0B:
                if depth == 0:
                    return
                depth -= 1
    except DecodeError as e:
        raise DecodeError(e.message, base + (e.offset or 0)) from None


def _blocktype(m: ModuleDef, imm: tuple) -> str:
    kind, idx = imm
    if kind is None:
        return ""
    if kind == -1:
        return f" (type {idx})"
    return f" (result {valtype_name(kind)})"


def _float(bits: int, fmt: str, ifmt: str) -> str:
    v = struct.unpack(fmt, struct.pack(ifmt, bits))[0]
    if v != v:
        return f"nan:0x{bits:x}"
    return repr(v)


def format_instruction(m: ModuleDef, op: int, imm: tuple) -> str:
    """Mnemonic and immediates of one instruction, in a wat-like text."""
    name = ops.name(op)
    kind = ops.IMMEDIATES.get(op, ops.IMM_NONE)
    if kind == ops.IMM_NONE:
        return name
    if kind == ops.IMM_BLOCKTYPE:
        return name + _blocktype(m, imm)
    if kind == ops.IMM_BR_TABLE:
        labels, default = imm
        return " ".join([name, *map(str, labels), str(default)])
    if kind == ops.IMM_FUNC:
        return f"{name} {imm[0]} <{m.func_name(imm[0])}>"
    if kind == ops.IMM_CALL_INDIRECT:
        t = f" table {imm[1]}" if imm[1] else ""
        ft = f" <{m.types[imm[0]]}>" if imm[0] < len(m.types) else ""
        return f"{name} (type {imm[0]}){t}{ft}"
    if kind == ops.IMM_MEMARG:
        align, offset = imm
        parts = [name]
        if offset:
            parts.append(f"offset={offset}")
        if align < 32 and (1 << align) != ops.access_size(op):
            parts.append(f"align={1 << align}")
        return " ".join(parts)
    if kind == ops.IMM_F32:
        return f"{name} {_float(imm[0], '<f', '<I')}"
    if kind == ops.IMM_F64:
        return f"{name} {_float(imm[0], '<d', '<Q')}"
    if kind == ops.IMM_REFTYPE:
        return f"{name} {ops.ref_type_name(imm[0])}"
    if kind == ops.IMM_SELECT_T:
        return f"{name} (result {' '.join(valtype_name(t) for t in imm[0])})"
    if kind in (ops.IMM_MEM0, ops.IMM_MEM_MEM):
        return name
    if kind == ops.IMM_DATA_MEM:
        return f"{name} {imm[0]}"
    return " ".join([name, *map(str, imm)])


def disassemble(m: ModuleDef, funcidx: int) -> list[str]:
    """One line per instruction: `  +pc  mnemonic immediates`, indented by block depth."""
    lines = []
    depth = 0
    for pc, op, imm in iter_instructions(m, funcidx):
        if op in (0x0B, 0x05) and depth > 0:
            depth -= 1
        lines.append(f"  +{pc:<3} {'  ' * depth}{format_instruction(m, op, imm)}")
        if op in (0x02, 0x03, 0x04, 0x05):
            depth += 1
    return lines


def _limits(lim) -> str:
    return f"{lim.min}" + (f"..{lim.max}" if lim.max is not None else "..")


def _desc(m: ModuleDef, kind: str, desc: object) -> str:
    if kind == FUNC:
        t = m.types[desc] if isinstance(desc, int) and desc < len(m.types) else "?"
        return f"func (type {desc}) {t}"
    if isinstance(desc, TableType):
        return f"table {valtype_name(desc.elem_type)} {_limits(desc.limits)}"
    if isinstance(desc, MemoryType):
        return f"memory {_limits(desc.limits)} pages"
    if isinstance(desc, GlobalType):
        return f"global {'mut ' if desc.mutable else ''}{valtype_name(desc.valtype)}"
    return str(desc)


def format_module_summary(m: ModuleDef) -> str:
    """A human-readable overview: types, imports, exports, functions, memories, segments."""
    out: list[str] = []
    if m.names.module:
        out.append(f"module {m.names.module!r}")
    out.append(f"types: {len(m.types)}")
    for i, t in enumerate(m.types):
        out.append(f"  type {i}: {t}")
    out.append(f"imports: {len(m.imports)}")
    counters = {FUNC: 0, TABLE: 0, MEMORY: 0, GLOBAL: 0}
    for imp in m.imports:
        idx = counters[imp.kind]
        counters[imp.kind] += 1
        label = m.func_name(idx) if imp.kind == FUNC else f"#{idx}"
        out.append(f"  {imp.kind} {label} = {imp.module}.{imp.name}: {_desc(m, imp.kind, imp.desc)}")
    out.append(f"exports: {len(m.exports)}")
    for ex in m.exports:
        label = m.func_name(ex.index) if ex.kind == FUNC else f"#{ex.index}"
        out.append(f"  {ex.name!r}: {ex.kind} {label}")
    nimp = m.num_imported_funcs
    total = sum(c.size for c in m.codes)
    out.append(f"functions: {len(m.funcs)} defined, {nimp} imported, {total} code bytes")
    for i, (ti, body) in enumerate(zip(m.funcs, m.codes)):
        fi = nimp + i
        nloc = sum(c for c, _ in body.locals)
        t = m.types[ti] if ti < len(m.types) else "?"
        out.append(f"  func {m.func_name(fi)} (#{fi}): type {ti} {t}, {nloc} locals, "
                   f"{body.size} bytes")
    for i, t in enumerate(m.tables):
        out.append(f"table #{counters[TABLE] + i}: {_desc(m, TABLE, t)}")
    for i, mt in enumerate(m.memories):
        out.append(f"memory #{counters[MEMORY] + i}: {_desc(m, MEMORY, mt)}")
    if m.globals:
        out.append(f"globals: {len(m.globals)} defined")
    if m.start is not None:
        out.append(f"start: {m.func_name(m.start)}")
    if m.elems:
        out.append(f"elem segments: {len(m.elems)} "
                   f"({sum(len(e.init) for e in m.elems)} elements)")
    if m.datas:
        out.append(f"data segments: {len(m.datas)} ({sum(len(d.data) for d in m.datas)} bytes)")
    if m.customs:
        out.append("custom sections: " + ", ".join(f"{n!r} ({s} bytes)" for n, _, s in m.customs))
    return "\n".join(out)
