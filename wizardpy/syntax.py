"""The decoded form of a Wasm module: what `binary.decode_module` produces.

Pure data; no validation, no execution. Indices follow the spec's index spaces (imports first).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .types import FuncType, GlobalType, MemoryType, TableType

# Import/export kinds
FUNC, TABLE, MEMORY, GLOBAL = "func", "table", "memory", "global"


@dataclass
class Import:
    module: str
    name: str
    kind: str                 # FUNC | TABLE | MEMORY | GLOBAL
    desc: object              # type index (int) | TableType | MemoryType | GlobalType


@dataclass
class Export:
    name: str
    kind: str
    index: int


@dataclass
class ConstExpr:
    """A constant expression: a list of (opcode, immediate) without the final `end`.

    opcodes: 0x41 i32.const (int, signed), 0x42 i64.const (int, signed), 0x43 f32.const (raw
    u32 bits), 0x44 f64.const (raw u64 bits), 0xD0 ref.null (reftype), 0xD2 ref.func (funcidx),
    0x23 global.get (globalidx). (Extended-const arithmetic is not part of Wasm 2.0.)
    """
    instrs: list[tuple[int, int]]
    offset: int = 0           # byte offset in the module, for error messages


@dataclass
class Global:
    type: GlobalType
    init: ConstExpr


@dataclass
class ElemSegment:
    mode: str                 # "active" | "passive" | "declarative"
    elem_type: int            # FUNCREF | EXTERNREF
    init: list[ConstExpr]     # one expression per element (func indices become ref.func)
    table: int = 0
    offset: ConstExpr | None = None


@dataclass
class DataSegment:
    mode: str                 # "active" | "passive"
    data: bytes
    memory: int = 0
    offset: ConstExpr | None = None


@dataclass
class FuncBody:
    locals: list[tuple[int, int]]  # (count, valtype) as declared
    body_offset: int          # absolute byte offset in the module of the body start (pc 0)
    size: int                 # body size in bytes (locals declarations + instructions)
    instr_offset: int         # pc of the first instruction (after the locals declarations)


@dataclass
class Names:
    module: str | None = None
    funcs: dict[int, str] = field(default_factory=dict)
    locals: dict[int, dict[int, str]] = field(default_factory=dict)


@dataclass
class ModuleDef:
    raw: bytes                                    # the whole binary; bodies are slices of it
    types: list[FuncType] = field(default_factory=list)
    imports: list[Import] = field(default_factory=list)
    funcs: list[int] = field(default_factory=list)        # type index of each *defined* function
    tables: list[TableType] = field(default_factory=list)
    memories: list[MemoryType] = field(default_factory=list)
    globals: list[Global] = field(default_factory=list)
    exports: list[Export] = field(default_factory=list)
    start: int | None = None
    elems: list[ElemSegment] = field(default_factory=list)
    datas: list[DataSegment] = field(default_factory=list)
    data_count: int | None = None
    codes: list[FuncBody] = field(default_factory=list)
    customs: list[tuple[str, int, int]] = field(default_factory=list)  # (name, offset, size) of payload
    names: Names = field(default_factory=Names)
    code_section_offset: int = 0                  # payload start of the code section (DWARF base)

    # ---- index spaces (imports first) ----
    def imported(self, kind: str) -> list[Import]:
        return [i for i in self.imports if i.kind == kind]

    @property
    def num_imported_funcs(self) -> int:
        return sum(1 for i in self.imports if i.kind == FUNC)

    def func_type_index(self, funcidx: int) -> int:
        imp = self.imported(FUNC)
        if funcidx < len(imp):
            return imp[funcidx].desc  # type: ignore[return-value]
        return self.funcs[funcidx - len(imp)]

    def func_type(self, funcidx: int) -> FuncType:
        return self.types[self.func_type_index(funcidx)]

    def all_tables(self) -> list[TableType]:
        return [i.desc for i in self.imported(TABLE)] + self.tables  # type: ignore[misc]

    def all_memories(self) -> list[MemoryType]:
        return [i.desc for i in self.imported(MEMORY)] + self.memories  # type: ignore[misc]

    def all_globals(self) -> list[GlobalType]:
        return [i.desc for i in self.imported(GLOBAL)] + [g.type for g in self.globals]  # type: ignore[misc]

    @property
    def num_funcs(self) -> int:
        return self.num_imported_funcs + len(self.funcs)

    def func_name(self, funcidx: int) -> str:
        """Quoted name from the name section, or '#N' when the function has none."""
        n = self.names.funcs.get(funcidx)
        return f'"{n}"' if n is not None else f"#{funcidx}"
