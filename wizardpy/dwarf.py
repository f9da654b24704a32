"""DWARF line information (`.debug_line`, versions 2-5) for Wasm modules: address -> file:line.

A from-scratch reader of the line-number program (DWARF 5 §6.2): the unit header (32- and 64-bit
DWARF, the v2-4 include_directories/file_names lists and the v5 entry-format-described directory
and file tables with DW_FORM_string / line_strp / strp / udata / data1-16 / block), then the state
machine with its standard, extended and special opcodes. The result is a sorted table of address
ranges, each mapped to (file, line, column).

In Wasm, DWARF addresses are byte offsets from the start of the Code section's payload, so a
module offset is `code_section_offset + address`, and the instruction at `pc` of a function is at
module offset `FuncBody.body_offset + pc`.

Lookup follows LLVM's symbolizer: the row that covers an address is the last row whose address is
<= it, within a sequence (up to its end_sequence); line 0 ("no source line", compiler-generated
code) reads as no source info. Sequences that start outside every function body (what linkers
leave behind for discarded functions: address 0 or a -1/-2 tombstone) are dropped.

Malformed DWARF raises `DwarfError`. `source_lines(module)` and `LineTable.from_module_def` are the
entry points the rest of the engine uses; `source_lines` swallows `DwarfError` and returns None so a
bad debug section can never break a run.

Relative file names are joined to their directory entry; directory 0 / a relative directory is
joined to the unit's compilation directory (DW_AT_comp_dir, read from `.debug_info` when present,
best effort).
"""
from __future__ import annotations

import bisect
import posixpath
import struct
from typing import NamedTuple

__all__ = ["DwarfError", "LineRow", "LineTable", "parse_debug_line", "source_lines"]


class DwarfError(ValueError):
    """Malformed or unsupported DWARF."""


class LineRow(NamedTuple):
    address: int
    file: str
    line: int
    column: int
    is_stmt: bool
    end_sequence: bool


# ---------------------------------------------------------------------------------- reader
class _Reader:
    __slots__ = ("data", "pos", "end", "what")

    def __init__(self, data: bytes, pos: int, end: int, what: str = ".debug_line"):
        self.data = data
        self.pos = pos
        self.end = end
        self.what = what

    def _need(self, n: int) -> None:
        if self.pos + n > self.end:
            raise DwarfError(f"{self.what}: truncated at offset {self.pos:#x} (need {n} bytes)")

    def u8(self) -> int:
        self._need(1)
        v = self.data[self.pos]
        self.pos += 1
        return v

    def s8(self) -> int:
        v = self.u8()
        return v - 256 if v >= 128 else v

    def uint(self, n: int) -> int:
        self._need(n)
        v = int.from_bytes(self.data[self.pos:self.pos + n], "little")
        self.pos += n
        return v

    def u16(self) -> int:
        return self.uint(2)

    def u32(self) -> int:
        return self.uint(4)

    def uleb(self) -> int:
        result = shift = 0
        while True:
            b = self.u8()
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return result
            if shift > 70:
                raise DwarfError(f"{self.what}: LEB128 too long at offset {self.pos:#x}")

    def sleb(self) -> int:
        result = shift = 0
        while True:
            b = self.u8()
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                if b & 0x40:
                    result -= 1 << shift
                return result
            if shift > 70:
                raise DwarfError(f"{self.what}: LEB128 too long at offset {self.pos:#x}")

    def cstr(self) -> str:
        i = self.data.find(b"\0", self.pos, self.end)
        if i < 0:
            raise DwarfError(f"{self.what}: unterminated string at offset {self.pos:#x}")
        s = self.data[self.pos:i].decode("utf-8", "replace")
        self.pos = i + 1
        return s

    def skip(self, n: int) -> None:
        self._need(n)
        self.pos += n


def _str_at(sec: bytes | None, off: int, name: str) -> str:
    if sec is None:
        raise DwarfError(f"string form refers to {name}, which the module lacks")
    if not 0 <= off < len(sec):
        raise DwarfError(f"{name} offset {off:#x} out of range ({len(sec)} bytes)")
    i = sec.find(b"\0", off)
    if i < 0:
        raise DwarfError(f"{name}: unterminated string at {off:#x}")
    return sec[off:i].decode("utf-8", "replace")


# DW_FORM_* constants used in line tables and compile-unit DIEs
_F_ADDR, _F_BLOCK2, _F_BLOCK4, _F_DATA2, _F_DATA4, _F_DATA8, _F_STRING = 0x01, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08
_F_BLOCK, _F_BLOCK1, _F_DATA1, _F_FLAG, _F_SDATA, _F_STRP, _F_UDATA = 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F
_F_REF_ADDR, _F_REF1, _F_REF2, _F_REF4, _F_REF8, _F_REF_UDATA, _F_INDIRECT = 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16
_F_SEC_OFFSET, _F_EXPRLOC, _F_FLAG_PRESENT, _F_STRX, _F_ADDRX, _F_REF_SUP4 = 0x17, 0x18, 0x19, 0x1A, 0x1B, 0x1C
_F_STRP_SUP, _F_DATA16, _F_LINE_STRP, _F_REF_SIG8, _F_IMPLICIT_CONST = 0x1D, 0x1E, 0x1F, 0x20, 0x21
_F_LOCLISTX, _F_RNGLISTX, _F_REF_SUP8 = 0x22, 0x23, 0x24
_F_STRX1, _F_STRX2, _F_STRX3, _F_STRX4, _F_ADDRX1, _F_ADDRX2, _F_ADDRX3, _F_ADDRX4 = range(0x25, 0x2D)

_FIXED = {_F_DATA1: 1, _F_REF1: 1, _F_FLAG: 1, _F_STRX1: 1, _F_ADDRX1: 1,
          _F_DATA2: 2, _F_REF2: 2, _F_STRX2: 2, _F_ADDRX2: 2, _F_STRX3: 3, _F_ADDRX3: 3,
          _F_DATA4: 4, _F_REF4: 4, _F_REF_SUP4: 4, _F_STRX4: 4, _F_ADDRX4: 4,
          _F_DATA8: 8, _F_REF8: 8, _F_REF_SIG8: 8, _F_REF_SUP8: 8, _F_DATA16: 16,
          _F_FLAG_PRESENT: 0, _F_IMPLICIT_CONST: 0}
_ULEB_FORMS = {_F_UDATA, _F_REF_UDATA, _F_STRX, _F_ADDRX, _F_LOCLISTX, _F_RNGLISTX}


def _read_form(r: _Reader, form: int, offset_size: int, addr_size: int, version: int,
               strs: dict[str, bytes | None]):
    """The value of one attribute: str for string forms, int for numbers, bytes for blocks."""
    if form == _F_STRING:
        return r.cstr()
    if form == _F_LINE_STRP:
        return _str_at(strs.get(".debug_line_str"), r.uint(offset_size), ".debug_line_str")
    if form == _F_STRP:
        return _str_at(strs.get(".debug_str"), r.uint(offset_size), ".debug_str")
    if form == _F_STRP_SUP:
        r.uint(offset_size)
        return None
    if form in (_F_SEC_OFFSET,):
        return r.uint(offset_size)
    if form == _F_REF_ADDR:
        return r.uint(addr_size if version == 2 else offset_size)
    if form == _F_ADDR:
        return r.uint(addr_size)
    if form in _FIXED:
        n = _FIXED[form]
        if form == _F_DATA16:
            r._need(16)
            v = bytes(r.data[r.pos:r.pos + 16])
            r.pos += 16
            return v
        return r.uint(n) if n else (1 if form == _F_FLAG_PRESENT else 0)
    if form in _ULEB_FORMS:
        return r.uleb()
    if form == _F_SDATA:
        return r.sleb()
    if form in (_F_BLOCK, _F_EXPRLOC):
        n = r.uleb()
    elif form == _F_BLOCK1:
        n = r.u8()
    elif form == _F_BLOCK2:
        n = r.u16()
    elif form == _F_BLOCK4:
        n = r.u32()
    elif form == _F_INDIRECT:
        return _read_form(r, r.uleb(), offset_size, addr_size, version, strs)
    else:
        raise DwarfError(f"{r.what}: unsupported attribute form {form:#x} at offset {r.pos:#x}")
    r._need(n)
    v = bytes(r.data[r.pos:r.pos + n])
    r.pos += n
    return v


def _unit_length(r: _Reader) -> tuple[int, int]:
    """(length, offset_size) of a unit header (32- or 64-bit DWARF)."""
    n = r.u32()
    if n == 0xFFFFFFFF:
        return r.uint(8), 8
    if n >= 0xFFFFFFF0:
        raise DwarfError(f"{r.what}: reserved unit length {n:#x}")
    return n, 4


# ---------------------------------------------------------------------------------- .debug_line
_DW_LNCT_PATH, _DW_LNCT_DIRECTORY_INDEX = 1, 2


def _join(d: str, name: str) -> str:
    if not d or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return name
    return posixpath.join(d, name)


def _entries(r: _Reader, offset_size: int, addr_size: int, version: int, strs) -> list[dict]:
    """v5 directory/file table: entry format list, then the entries."""
    nfmt = r.u8()
    fmts = [(r.uleb(), r.uleb()) for _ in range(nfmt)]
    out = []
    for _ in range(r.uleb()):
        e = {}
        for ct, form in fmts:
            e[ct] = _read_form(r, form, offset_size, addr_size, version, strs)
        out.append(e)
    return out


def parse_debug_line(data: bytes, *, line_str: bytes | None = None, debug_str: bytes | None = None,
                     comp_dirs: dict[int, str] | None = None) -> list[LineRow]:
    """All rows of every line-number program in `data` (a `.debug_line` payload), in program
    order. `comp_dirs` maps a unit's offset in `.debug_line` to its DW_AT_comp_dir."""
    strs = {".debug_line_str": line_str, ".debug_str": debug_str}
    comp_dirs = comp_dirs or {}
    rows: list[LineRow] = []
    data = bytes(data)
    top = _Reader(data, 0, len(data))
    while top.pos < len(data):
        unit_off = top.pos
        length, osz = _unit_length(top)
        unit_end = top.pos + length
        if unit_end > len(data):
            raise DwarfError(f".debug_line: unit at {unit_off:#x} runs past the section end")
        r = _Reader(data, top.pos, unit_end)
        version = r.u16()
        if not 2 <= version <= 5:
            raise DwarfError(f".debug_line: unit at {unit_off:#x} has unsupported version {version}")
        addr_size = 4
        if version >= 5:
            addr_size = r.u8()
            if r.u8():
                raise DwarfError(".debug_line: segment selectors are not supported")
        header_length = r.uint(osz)
        prog_start = r.pos + header_length
        if prog_start > unit_end:
            raise DwarfError(f".debug_line: unit at {unit_off:#x}: header runs past the unit")
        min_inst = r.u8()
        max_ops = r.u8() if version >= 4 else 1
        default_is_stmt = bool(r.u8())
        line_base = r.s8()
        line_range = r.u8()
        opcode_base = r.u8()
        if line_range == 0:
            raise DwarfError(f".debug_line: unit at {unit_off:#x} has line_range 0")
        if max_ops == 0:
            raise DwarfError(f".debug_line: unit at {unit_off:#x} has maximum_operations_per_instruction 0")
        std_lengths = [r.u8() for _ in range(max(opcode_base - 1, 0))]
        comp_dir = comp_dirs.get(unit_off, "")

        files: list[str] = []
        if version >= 5:
            dirs = [e.get(_DW_LNCT_PATH) or "" for e in _entries(r, osz, addr_size, version, strs)]
            if dirs and not comp_dir:
                comp_dir = dirs[0] if isinstance(dirs[0], str) else ""
            dirs = [_join(comp_dir, d) if isinstance(d, str) else "" for d in dirs]
            for e in _entries(r, osz, addr_size, version, strs):
                name = e.get(_DW_LNCT_PATH)
                if not isinstance(name, str):
                    raise DwarfError(f".debug_line: unit at {unit_off:#x}: file entry without a path")
                di = e.get(_DW_LNCT_DIRECTORY_INDEX, 0)
                d = dirs[di] if isinstance(di, int) and 0 <= di < len(dirs) else comp_dir
                files.append(_join(d, name))
            file_base = 0
        else:
            dirs = [comp_dir]
            while True:
                d = r.cstr()
                if not d:
                    break
                dirs.append(_join(comp_dir, d))
            files.append("")  # index 0 is unused before DWARF 5
            while True:
                name = r.cstr()
                if not name:
                    break
                di = r.uleb()
                r.uleb()
                r.uleb()
                files.append(_join(dirs[di] if di < len(dirs) else comp_dir, name))
            file_base = 1

        def fname(i: int) -> str:
            if 0 <= i < len(files) and (i >= file_base or version >= 5):
                return files[i]
            return f"<file {i}>"

        # ---- the state machine
        r.pos = prog_start

        def reset():
            return [0, 0, 1, 1, 0, default_is_stmt]  # address, op_index, file, line, column, is_stmt

        st = reset()

        def advance(op_adv: int) -> None:
            if max_ops == 1:
                st[0] += min_inst * op_adv
            else:
                st[0] += min_inst * ((st[1] + op_adv) // max_ops)
                st[1] = (st[1] + op_adv) % max_ops

        def emit(end: bool = False) -> None:
            rows.append(LineRow(st[0], fname(st[2]), st[3], st[4], bool(st[5]), end))

        while r.pos < unit_end:
            op = r.u8()
            if op >= opcode_base:
                adj = op - opcode_base
                advance(adj // line_range)
                st[3] += line_base + adj % line_range
                emit()
            elif op == 0:
                n = r.uleb()
                if n == 0:
                    raise DwarfError(f".debug_line: zero-length extended opcode at {r.pos:#x}")
                ext_end = r.pos + n
                if ext_end > unit_end:
                    raise DwarfError(f".debug_line: extended opcode at {r.pos:#x} runs past the unit")
                sub = r.u8()
                if sub == 1:      # DW_LNE_end_sequence
                    emit(True)
                    st = reset()
                elif sub == 2:    # DW_LNE_set_address
                    st[0] = r.uint(n - 1)
                    st[1] = 0
                elif sub == 3 and version <= 4:   # DW_LNE_define_file
                    name = r.cstr()
                    di = r.uleb()
                    files.append(_join(dirs[di] if di < len(dirs) else comp_dir, name))
                # DW_LNE_set_discriminator (4) and vendor opcodes: skipped by length
                r.pos = ext_end
            elif op == 1:         # DW_LNS_copy
                emit()
            elif op == 2:         # DW_LNS_advance_pc
                advance(r.uleb())
            elif op == 3:         # DW_LNS_advance_line
                st[3] += r.sleb()
            elif op == 4:         # DW_LNS_set_file
                st[2] = r.uleb()
            elif op == 5:         # DW_LNS_set_column
                st[4] = r.uleb()
            elif op == 6:         # DW_LNS_negate_stmt
                st[5] = not st[5]
            elif op == 7:         # DW_LNS_set_basic_block
                pass
            elif op == 8:         # DW_LNS_const_add_pc
                advance((255 - opcode_base) // line_range)
            elif op == 9:         # DW_LNS_fixed_advance_pc
                st[0] += r.u16()
                st[1] = 0
            elif op in (10, 11):  # DW_LNS_set_prologue_end / set_epilogue_begin
                pass
            elif op == 12:        # DW_LNS_set_isa
                r.uleb()
            else:                 # an opcode this reader does not know: skip its ULEB operands
                for _ in range(std_lengths[op - 1]):
                    r.uleb()
        top.pos = unit_end
    return rows


# ---------------------------------------------------------------------------------- .debug_info
def _comp_dirs(info: bytes, abbrev: bytes, debug_str: bytes | None,
               line_str: bytes | None) -> dict[int, str]:
    """{DW_AT_stmt_list: DW_AT_comp_dir} of every compile unit (first DIE of each unit)."""
    strs = {".debug_str": debug_str, ".debug_line_str": line_str}
    out: dict[int, str] = {}
    top = _Reader(info, 0, len(info), ".debug_info")
    while top.pos < len(info):
        length, osz = _unit_length(top)
        end = top.pos + length
        r = _Reader(info, top.pos, min(end, len(info)), ".debug_info")
        version = r.u16()
        if version >= 5:
            unit_type = r.u8()
            addr_size = r.u8()
            abbr_off = r.uint(osz)
            if unit_type in (2, 6):      # type / split_type units
                r.skip(8 + osz)
            elif unit_type in (4, 5):    # skeleton / split_compile
                r.skip(8)
        elif version >= 2:
            abbr_off = r.uint(osz)
            addr_size = r.u8()
        else:
            raise DwarfError(f".debug_info: unsupported version {version}")
        code = r.uleb()
        if code:
            attrs = _abbrev_attrs(abbrev, abbr_off, code)
            stmt = cdir = None
            for at, form, implicit in attrs:
                v = implicit if form == _F_IMPLICIT_CONST else \
                    _read_form(r, form, osz, addr_size, version, strs)
                if at == 0x10:
                    stmt = v
                elif at == 0x1B:
                    cdir = v
            if isinstance(stmt, int) and isinstance(cdir, str):
                out[stmt] = cdir
        top.pos = end
    return out


def _abbrev_attrs(abbrev: bytes, off: int, code: int) -> list[tuple[int, int, int]]:
    r = _Reader(abbrev, off, len(abbrev), ".debug_abbrev")
    while True:
        c = r.uleb()
        if c == 0:
            raise DwarfError(f".debug_abbrev: code {code} not found")
        r.uleb()  # tag
        r.u8()    # has_children
        attrs = []
        while True:
            at, form = r.uleb(), r.uleb()
            implicit = r.sleb() if form == _F_IMPLICIT_CONST else 0
            if at == 0 and form == 0:
                break
            attrs.append((at, form, implicit))
        if c == code:
            return attrs


# ---------------------------------------------------------------------------------- table
class LineTable:
    """Sorted address ranges -> (file, line, column); addresses are Code-section relative."""

    def __init__(self, rows: list[LineRow], code_base: int = 0,
                 valid: list[tuple[int, int]] | None = None):
        """`rows` in program order; `code_base` = module offset of the Code payload; `valid`
        = sorted (start, end) Code-relative address ranges of the function bodies (sequences
        starting outside them are dropped)."""
        self.code_base = code_base
        entries: list[tuple[int, int, str, int, int]] = []   # (start, end, file, line, column)
        seq: list[LineRow] = []
        vstarts = [v[0] for v in valid] if valid else None

        def in_body(a: int) -> bool:
            if valid is None:
                return True
            i = bisect.bisect_right(vstarts, a) - 1
            return i >= 0 and a < valid[i][1]

        seqs = []
        for row in rows:
            seq.append(row)
            if row.end_sequence:
                if in_body(seq[0].address):
                    seqs.append(seq)
                seq = []
        seqs.sort(key=lambda s: s[0].address)
        for s in seqs:
            for a, b in zip(s, s[1:]):
                if b.address > a.address:    # several rows at one address: the last one wins
                    entries.append((a.address, b.address, a.file, a.line, a.column))
        entries.sort(key=lambda e: e[0])
        self._entries = entries
        self._starts = [e[0] for e in entries]

    def __len__(self) -> int:
        return len(self._entries)

    def rows(self) -> list[tuple[int, int, str, int, int]]:
        """The (start, end, file, line, column) ranges, Code-relative, sorted."""
        return list(self._entries)

    def lookup_address(self, address: int) -> tuple[str, int, int] | None:
        """(file, line, column) of a Code-relative address, None without (or line 0) info."""
        i = bisect.bisect_right(self._starts, address) - 1
        if i < 0:
            return None
        s, e, f, line, col = self._entries[i]
        if address >= e or line == 0:
            return None
        return f, line, col

    def lookup(self, module_offset: int) -> tuple[str, int] | None:
        """(file, line) of the instruction at a module byte offset, or None."""
        r = self.lookup_address(module_offset - self.code_base)
        return (r[0], r[1]) if r else None

    def for_function(self, module_def, funcidx: int) -> dict[int, tuple[str, int]]:
        """{pc: (file, line)} for every instruction of defined function `funcidx` that has
        source info."""
        from .binary import decode_instruction

        body = module_def.codes[funcidx - module_def.num_imported_funcs]
        raw = module_def.raw
        base = body.body_offset
        end = base + body.size
        pos = base + body.instr_offset
        out = {}
        while pos < end:
            loc = self.lookup(pos)
            if loc is not None:
                out[pos - base] = loc
            _, _, pos = decode_instruction(raw, pos, end)
        return out

    @classmethod
    def from_module_def(cls, defn) -> "LineTable | None":
        """The table of a decoded module, None when it has no `.debug_line`.
        Raises DwarfError on malformed DWARF."""
        secs = {}
        for name, off, size in defn.customs:
            if name.startswith(".debug_") and name not in secs:
                secs[name] = defn.raw[off:off + size]
        if ".debug_line" not in secs:
            return None
        line_str, dstr = secs.get(".debug_line_str"), secs.get(".debug_str")
        comp_dirs = {}
        if ".debug_info" in secs and ".debug_abbrev" in secs:
            try:
                comp_dirs = _comp_dirs(secs[".debug_info"], secs[".debug_abbrev"], dstr, line_str)
            except (DwarfError, IndexError, struct.error):
                comp_dirs = {}   # the directory is a nicety; the line table stands without it
        rows = parse_debug_line(secs[".debug_line"], line_str=line_str, debug_str=dstr,
                                comp_dirs=comp_dirs)
        cb = defn.code_section_offset
        valid = sorted((b.body_offset - cb, b.body_offset - cb + b.size) for b in defn.codes)
        return cls(rows, cb, valid)


def _module_def(module):
    return getattr(module, "defn", module)


def line_table(module) -> LineTable | None:
    """The LineTable of a Module (cached on it), None without usable DWARF line info."""
    cache = getattr(module, "_dwarf_line_table", False)
    if cache is not False:
        return cache
    try:
        t = LineTable.from_module_def(_module_def(module))
    except (DwarfError, IndexError, ValueError, struct.error):
        t = None
    if t is not None and not len(t):
        t = None
    try:
        module._dwarf_line_table = t
    except AttributeError:
        pass
    return t


def source_lines(module) -> dict[tuple[int, int], tuple[str, int]] | None:
    """{(funcidx, pc): (file, line)} for every instruction with line info, or None when the
    module has no (usable) `.debug_line`. Never raises on bad DWARF."""
    t = line_table(module)
    if t is None:
        return None
    defn = _module_def(module)
    out = {}
    try:
        for f in range(defn.num_imported_funcs, defn.num_funcs):
            for pc, loc in t.for_function(defn, f).items():
                out[(f, pc)] = loc
    except Exception:   # a body the decoder rejects cannot happen after validation; be safe
        return None
    return out
