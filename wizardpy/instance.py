"""Instance and instantiation: linking imports, allocating the index spaces, running initializers.

`Instance(engine, module, [extern, ...])` follows the WebAssembly 2.0 instantiation algorithm:

1. check the imports against the module's import types (spec "import matching": equal function
   types, table/memory limits subtyping on the *current* size, equal global types) - a mismatch is
   a `LinkError("incompatible import type ...")`;
2. allocate the native `wz_instance` and its arrays, the defined functions (pointing at the
   module's shared internal code), tables, memories and globals (constant expressions evaluated);
3. element segments in order: active ones run `table.init` then `elem.drop`, declarative ones are
   dropped; then data segments: active ones run `memory.init` then `data.drop`. An out-of-range
   segment traps ("out of bounds table/memory access"); writes of earlier segments stay;
4. the start function.
"""
from __future__ import annotations

from collections.abc import Mapping

from .errors import LinkError, Trap, WizardError
from .externs import WZ_FUNC_WASM, Func, Global, Memory, Table
from .syntax import FUNC, GLOBAL, MEMORY, TABLE, ConstExpr
from .traps import WZ_TRAP_MEM_OOB, WZ_TRAP_TABLE_OOB, trap_message
from .types import Limits
from .values import wrap_i32, wrap_i64

_KIND_CLASS = {FUNC: Func, TABLE: Table, MEMORY: Memory, GLOBAL: Global}


class Exports(Mapping):
    """The exports of an instance, by name, in module order."""

    def __init__(self, items: dict):
        self._items = items

    def __getitem__(self, name: str):
        return self._items[name]

    def __iter__(self):
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Exports({list(self._items)})"


def _limits_match(actual: Limits, expected: Limits) -> bool:
    if actual.min < expected.min:
        return False
    if expected.max is None:
        return True
    return actual.max is not None and actual.max <= expected.max


def _kind_name(ext) -> str:
    for k, c in _KIND_CLASS.items():
        if isinstance(ext, c):
            return k
    return type(ext).__name__


def check_import(engine, module, i: int, ext) -> None:
    """Raise LinkError unless extern `ext` matches the module's import number `i`."""
    imp = module.imports[i]
    where = f"{imp.module}::{imp.name}"
    cls = _KIND_CLASS[imp.kind]
    if not isinstance(ext, cls):
        raise LinkError(f"incompatible import type for {where}: expected {imp.kind}, got {_kind_name(ext)}")
    if ext._engine is not engine:
        raise LinkError(f"import {where} belongs to another engine")
    exp = imp.type
    if imp.kind == FUNC:
        if ext.type != exp:
            raise LinkError(f"incompatible import type for {where}: expected func {exp}, got {ext.type}")
    elif imp.kind == TABLE:
        act = ext.type
        if act.elem_type != exp.elem_type or not _limits_match(act.limits, exp.limits):
            raise LinkError(f"incompatible import type for {where}: expected {exp}, got {act}")
    elif imp.kind == MEMORY:
        act = ext.type
        if not _limits_match(act.limits, exp.limits):
            raise LinkError(f"incompatible import type for {where}: expected {exp}, got {act}")
    elif imp.kind == GLOBAL:
        if ext.type != exp:
            raise LinkError(f"incompatible import type for {where}: expected {exp}, got {ext.type}")


class Instance:
    """An instantiated module. `Instance(engine, module, imports)` with positional imports."""

    def __init__(self, engine, module, imports=()):
        if module.engine is not engine:
            raise WizardError("the module was compiled by another engine")
        self.engine = engine
        self.module = module
        self.funcs: list[Func] = []
        self.tables: list[Table] = []
        self.memories: list[Memory] = []
        self.globals: list[Global] = []
        self.exports = Exports({})
        _instantiate(self, list(imports))

    def __repr__(self) -> str:
        return f"<Instance #{self.id} of {self.module!r}>"

    @property
    def memory(self) -> Memory | None:
        """The exported "memory", if any (convenience)."""
        m = self.exports.get("memory")
        return m if isinstance(m, Memory) else None


def _eval_const(inst: Instance, expr: ConstExpr) -> int:
    """Evaluate a constant expression to a raw u64 slot."""
    val = 0
    for op, imm in expr.instrs:
        if op == 0x41:
            val = wrap_i32(imm)
        elif op == 0x42:
            val = wrap_i64(imm)
        elif op in (0x43, 0x44):
            val = imm
        elif op == 0xD0:
            val = 0
        elif op == 0xD2:
            val = inst.funcs[imm]._addr
        elif op == 0x23:
            val = inst.globals[imm]._ptr.value
        else:
            raise WizardError(f"unsupported constant instruction 0x{op:x}")
    return val


def _instantiate(inst: Instance, imports: list) -> None:
    engine, module = inst.engine, inst.module
    ffi = engine.ffi
    defn = module.defn
    if len(imports) != len(defn.imports):
        raise LinkError(f"expected {len(defn.imports)} imports, got {len(imports)}")
    for i, ext in enumerate(imports):
        check_import(engine, module, i, ext)
        kind = defn.imports[i].kind
        {FUNC: inst.funcs, TABLE: inst.tables, MEMORY: inst.memories, GLOBAL: inst.globals}[kind].append(ext)

    # The engine keeps the instance (and so every allocation) alive from here on: functions of
    # this instance may end up in imported tables even if instantiation traps later.
    inst.id = engine.register_instance(inst)
    keep = inst._keep = []
    raw = ffi.new("wz_instance*")
    inst._raw = raw
    raw.id = inst.id

    # signatures
    sigs = ffi.new("uint32_t[]", [engine.sig_id(t) for t in defn.types] or [0])
    keep.append(sigs)
    raw.sigs = sigs
    raw.num_types = len(defn.types)

    # defined functions
    nimp = defn.num_imported_funcs
    nd = len(defn.funcs)
    farr = ffi.new("wz_func[]", max(nd, 1))
    keep.append(farr)
    for d, ti in enumerate(defn.funcs):
        code = module.codes[d]
        p = farr + d
        p.sig = sigs[ti]
        p.kind = WZ_FUNC_WASM
        p.inst = raw
        p.code = module.code_ptr(d)
        p.code_len = len(code.code)
        p.num_params = code.num_params
        p.num_results = code.num_results
        p.num_locals = code.num_locals
        p.max_stack = code.max_stack
        p.index = nimp + d
        p.host_id = 0
        p.probe_ops = module.probe_ops_ptr(d)
        if module.__dict__.get("_unfused") is not None:
            p.probe_fused = module._unfused + module._code_offsets[d]
        p.entry_ip = 0 if d in getattr(module, "_entry_probed", ()) else 1  # skip OP_ENTRY
        if getattr(module, "_probe_counts", None) is not None:   # native count probes
            off = module._code_offsets[d]
            p.probe_counts = module._probe_counts + off
            p.probe_python = module._probe_python + off
            p.probe_hits = module._probe_hits + off
            if module._probe_seq:
                p.probe_seq = module._probe_seq + off
        if module.__dict__.get("_probe_tally") is not None:
            p.probe_tally = module._probe_tally + module._code_offsets[d]
        inst.funcs.append(Func._wasm(engine, p, inst, nimp + d, defn.types[ti]))
    fptrs = ffi.new("wz_func*[]", [f._ptr for f in inst.funcs] or [ffi.NULL])
    keep.append(fptrs)
    raw.funcs = fptrs
    raw.num_funcs = len(inst.funcs)

    # tables and memories
    for tt in defn.tables:
        inst.tables.append(Table(engine, tt))
    for mt in defn.memories:
        inst.memories.append(Memory(engine, mt))
    tptrs = ffi.new("wz_table*[]", [t._ptr for t in inst.tables] or [ffi.NULL])
    mptrs = ffi.new("wz_memory*[]", [m._ptr for m in inst.memories] or [ffi.NULL])
    keep += [tptrs, mptrs]
    raw.tables, raw.num_tables = tptrs, len(inst.tables)
    raw.mems, raw.num_mems = mptrs, len(inst.memories)

    # globals (initializers may read imported globals and take ref.func of any function)
    for g in defn.globals:
        inst.globals.append(Global._from_raw(engine, g.type, _eval_const(inst, g.init)))
    gptrs = ffi.new("wz_global*[]", [g._ptr for g in inst.globals] or [ffi.NULL])
    keep.append(gptrs)
    raw.globals, raw.num_globals = gptrs, len(inst.globals)

    # exports
    spaces = {FUNC: inst.funcs, TABLE: inst.tables, MEMORY: inst.memories, GLOBAL: inst.globals}
    inst.exports = Exports({e.name: spaces[e.kind][e.index] for e in defn.exports})

    # element segments (evaluated up front, as the spec does)
    ne = len(defn.elems)
    eptrs = ffi.new("wz_val*[]", max(ne, 1))
    elens = ffi.new("uint32_t[]", max(ne, 1))
    elem_items: list[list[int]] = []
    for i, seg in enumerate(defn.elems):
        items = [_eval_const(inst, e) for e in seg.init]
        arr = ffi.new("wz_val[]", items or [0])
        keep.append(arr)
        eptrs[i] = arr
        elens[i] = len(items)
        elem_items.append(items)
    keep += [eptrs, elens]
    raw.elems, raw.elem_len, raw.num_elems = eptrs, elens, ne

    # data segments
    nds = len(defn.datas)
    dptrs = ffi.new("uint8_t*[]", max(nds, 1))
    dlens = ffi.new("uint32_t[]", max(nds, 1))
    for i, seg in enumerate(defn.datas):
        n = len(seg.data)
        buf = ffi.new("uint8_t[]", max(n, 1))
        if n:
            ffi.memmove(buf, seg.data, n)
        keep.append(buf)
        dptrs[i] = buf
        dlens[i] = n
    keep += [dptrs, dlens]
    raw.data, raw.data_len, raw.num_data = dptrs, dlens, nds

    # element segment initialization: table.init + elem.drop (active), elem.drop (declarative)
    for i, seg in enumerate(defn.elems):
        if seg.mode == "active":
            items = elem_items[i]
            tab = inst.tables[seg.table]._ptr
            off = _eval_const(inst, seg.offset) & 0xFFFFFFFF
            if off + len(items) > tab.size:
                raise Trap(trap_message(WZ_TRAP_TABLE_OOB), [])
            for j, v in enumerate(items):
                tab.elems[off + j] = v
            elens[i] = 0
        elif seg.mode == "declarative":
            elens[i] = 0

    # data segment initialization: memory.init + data.drop (active)
    for i, seg in enumerate(defn.datas):
        if seg.mode == "active":
            mem = inst.memories[seg.memory]._ptr
            off = _eval_const(inst, seg.offset) & 0xFFFFFFFF
            n = len(seg.data)
            if off + n > mem.size:
                raise Trap(trap_message(WZ_TRAP_MEM_OOB), [])
            if n:
                ffi.memmove(mem.base + off, seg.data, n)
            dlens[i] = 0

    # start function
    if defn.start is not None:
        inst.funcs[defn.start]()
