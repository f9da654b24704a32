"""Module: a decoded and validated Wasm module, ready to be instantiated any number of times.

`Module(engine, wasm_bytes)` decodes (`binary.decode_module`) and validates
(`validation.validate_module`) the binary. The internal code of every defined function is copied
once into a single cffi `uint32_t` buffer owned by the module; every instance's `wz_func.code`
points into it, so probes (which patch opcode words) are per module and visible to all of its
instances. A second buffer of the same size backs `wz_func.probe_ops` (the original opcode of a
patched word).
"""
from __future__ import annotations

import os
from typing import NamedTuple

from .syntax import FUNC, GLOBAL, MEMORY, TABLE, ModuleDef


class ImportType(NamedTuple):
    module: str
    name: str
    kind: str      # "func" | "table" | "memory" | "global"
    type: object   # FuncType | TableType | MemoryType | GlobalType


class ExportType(NamedTuple):
    name: str
    kind: str
    type: object


class Module:
    """A compiled module. `Module(engine, wasm_bytes)` / `Module.from_file(engine, path)`."""

    def __init__(self, engine, wasm):
        from .binary import decode_module
        from .validation import validate_module

        if isinstance(wasm, str):
            raise TypeError("Module() takes the binary (bytes); use Module.from_file for a path")
        self.engine = engine
        self.defn: ModuleDef = decode_module(bytes(wasm))
        self.codes = validate_module(self.defn)
        self._num_imported_funcs = self.defn.num_imported_funcs
        self._alloc_code()
        self.imports = self._import_types()
        self.exports = self._export_types()

    @classmethod
    def from_file(cls, engine, path) -> "Module":
        with open(os.fspath(path), "rb") as fh:
            return cls(engine, fh.read())

    @classmethod
    def validate(cls, engine, wasm) -> None:
        """Decode and validate without keeping anything; raises DecodeError/ValidationError."""
        from .binary import decode_module
        from .validation import validate_module

        validate_module(decode_module(bytes(wasm)))

    # ------------------------------------------------------------------ code buffers
    def _alloc_code(self) -> None:
        ffi = self.engine.ffi
        offsets = []
        total = 0
        for c in self.codes:
            offsets.append(total)
            total += len(c.code)
        self._code_offsets = offsets
        self._code_total = total
        self._code = ffi.new("uint32_t[]", max(total, 1))
        self._probe_ops = ffi.new("uint32_t[]", max(total, 1))
        for c, off in zip(self.codes, offsets):
            n = len(c.code)
            if n:
                ffi.memmove(self._code + off, c.code, n * 4)
        from .fusion import fuse_module
        fuse_module(self)

    def code_ptr(self, defined_index: int):
        """`uint32_t*` to the internal code of the defined function `defined_index`."""
        return self._code + self._code_offsets[defined_index]

    def probe_ops_ptr(self, defined_index: int):
        """`uint32_t*` to the probe_ops words of the defined function `defined_index`."""
        return self._probe_ops + self._code_offsets[defined_index]

    def code_of(self, funcidx: int):
        """The validator's FuncCode of function `funcidx` (None for an imported function)."""
        d = funcidx - self._num_imported_funcs
        if 0 <= d < len(self.codes):
            return self.codes[d]
        return None

    # ------------------------------------------------------------------ types
    def _extern_type(self, kind: str, desc):
        if kind == FUNC:
            return self.defn.types[desc]
        return desc

    def _import_types(self) -> list[ImportType]:
        return [ImportType(i.module, i.name, i.kind, self._extern_type(i.kind, i.desc))
                for i in self.defn.imports]

    def _export_types(self) -> list[ExportType]:
        d = self.defn
        out = []
        for e in d.exports:
            if e.kind == FUNC:
                ty = d.func_type(e.index)
            elif e.kind == TABLE:
                ty = d.all_tables()[e.index]
            elif e.kind == MEMORY:
                ty = d.all_memories()[e.index]
            elif e.kind == GLOBAL:
                ty = d.all_globals()[e.index]
            else:  # pragma: no cover - the decoder rejects other kinds
                ty = None
            out.append(ExportType(e.name, e.kind, ty))
        return out

    # ------------------------------------------------------------------ names
    @property
    def name(self) -> str | None:
        return self.defn.names.module

    @property
    def num_funcs(self) -> int:
        return self.defn.num_funcs

    @property
    def num_imported_funcs(self) -> int:
        return self._num_imported_funcs

    def func_name(self, funcidx: int) -> str:
        """'"name"' from the name section, or '#N'."""
        return self.defn.func_name(funcidx)

    def func_names(self) -> dict[int, str]:
        """{function index: name} from the name section (bare names; functions without one
        are absent)."""
        return dict(self.defn.names.funcs)

    def func_index(self, name: str) -> int:
        """The index of a function named `name`: a name from the name section (bare or quoted
        as `func_name` prints it), else an export name. ValueError if there is none."""
        bare = name[1:-1] if len(name) >= 2 and name[0] == name[-1] == '"' else name
        for i, n in self.defn.names.funcs.items():
            if n == bare:
                return i
        for e in self.defn.exports:
            if e.kind == "func" and e.name == bare:
                return e.index
        raise ValueError(f"no function named {name!r}")

    def func_type(self, func: int | str) -> FuncType:
        """The FuncType (params, results) of function `func`: an index (imported functions
        first) or a name as `func_index` takes it."""
        idx = self.func_index(func) if isinstance(func, str) else func
        if not 0 <= idx < self.defn.num_funcs:
            raise IndexError(f"function index {idx} out of range ({self.defn.num_funcs} functions)")
        return self.defn.func_type(idx)

    @property
    def table_types(self) -> tuple:
        """The type of every table, imported ones first (the table index space)."""
        return tuple(self.defn.all_tables())

    @property
    def num_imported_tables(self) -> int:
        return sum(1 for i in self.defn.imports if i.kind == TABLE)

    def is_exported(self, kind: str, index: int) -> bool:
        """Whether item `index` of `kind` ("func", "table", "memory", "global") is exported."""
        return any(e.kind == kind and e.index == index for e in self.defn.exports)

    @property
    def types(self) -> tuple[FuncType, ...]:
        """The type section: the FuncType of each type index (`call_indirect`'s immediate)."""
        return tuple(self.defn.types)

    # ------------------------------------------------------------------ source (DWARF)
    @property
    def has_source_info(self) -> bool:
        """True when the module carries usable DWARF line info (`.debug_line`)."""
        from .dwarf import line_table

        return line_table(self) is not None

    def source_location(self, func: int, pc: int) -> tuple[str, int] | None:
        """(file, line) of the instruction at `pc` of function `func` from DWARF, or None."""
        from .dwarf import line_table

        t = line_table(self)
        d = func - self._num_imported_funcs
        if t is None or not 0 <= d < len(self.defn.codes):
            return None
        return t.lookup(self.defn.codes[d].body_offset + pc)

    def source_lines(self) -> dict[tuple[int, int], tuple[str, int]] | None:
        """{(func, pc): (file, line)} of every instruction with line info; None without DWARF."""
        from .dwarf import source_lines

        return source_lines(self)

    def __repr__(self) -> str:
        return f"<Module {self.name or ''} funcs={self.num_funcs}>"
