"""Extern objects: `Func`, `Memory`, `Table`, `Global` (and `Caller` for host functions).

Each wraps one native runtime structure (`wz_func`, `wz_memory`, `wz_table`, `wz_global`,
native/wizard.h). They are created either by instantiation (the instance's own definitions) or
directly by the user (host functions, memories/tables/globals to import). Memories and tables
free their native allocation with `ffi.gc` once nothing refers to them; instances keep
references to everything they use, so that never happens while an instance can reach them.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from .errors import WizardError
from .types import GlobalType, Limits, MemoryType, TableType, FuncType
from .values import converters, from_raw, to_raw

if TYPE_CHECKING:  # pragma: no cover
    from .engine import Engine
    from .instance import Instance

WZ_FUNC_WASM = 0
WZ_FUNC_HOST = 1
PAGE_SIZE = 65536
U32_MAX = 0xFFFFFFFF


class Func:
    """A function: either a Wasm function of an instance or a host (Python) function.

    `Func(engine, FuncType(...), pyfunc, access_caller=False)` creates a host function;
    `pyfunc(*args)` (or `pyfunc(caller, *args)`) returns None, a value or a tuple of values.
    """

    def __init__(self, engine: "Engine", ty: FuncType, pyfunc: Callable, access_caller: bool = False):
        if not callable(pyfunc):
            raise TypeError("a host function needs a callable")
        ffi = engine.ffi
        self._engine = engine
        self.type = ty
        self._pyfunc = pyfunc
        self._access_caller = bool(access_caller)
        self._instance = None
        self.index = None
        p = ffi.new("wz_func*")
        p.sig = engine.sig_id(ty)
        p.kind = WZ_FUNC_HOST
        p.inst = ffi.NULL
        p.num_params = len(ty.params)
        p.num_results = len(ty.results)
        p.num_locals = len(ty.params)
        p.host_id = engine.register_host(self)
        self._ptr = p
        self._addr = int(ffi.cast("uintptr_t", p))
        self._init_converters()
        self.host_entry = self._make_host_entry()
        engine.register_func(self)

    def _init_converters(self) -> None:
        engine, ty = self._engine, self.type
        self._par_in = tuple(converters(engine, t)[0] for t in ty.params)
        self._par_out = tuple(converters(engine, t)[1] for t in ty.params)
        self._res_in = tuple(converters(engine, t)[0] for t in ty.results)
        self._res_out = tuple(converters(engine, t)[1] for t in ty.results)

    def _make_host_entry(self):
        """`entry(stack, base)`: the native-callback body of this host function: read the
        arguments at stack[base..], call the Python function, write the results back there."""
        engine, pyfunc, ty = self._engine, self._pyfunc, self.type
        par, res_in = self._par_out, self._res_in
        access = self._access_caller
        nres = len(res_in)
        npar = len(par)

        def entry(stack, base):
            if npar == 1:
                args = [par[0](stack[base])]
            else:
                args = [c(stack[base + i]) for i, c in enumerate(par)]
            if access:
                args.insert(0, Caller(engine))
            r = pyfunc(*args)
            if nres == 0:
                if r is not None and r != ():
                    raise TypeError(f"host function of type {ty} returned {r!r}, expected None")
            elif nres == 1:
                if isinstance(r, (tuple, list)):
                    if len(r) != 1:
                        raise TypeError(f"host function of type {ty} returned {len(r)} values")
                    r = r[0]
                stack[base] = res_in[0](r)
            else:
                if not isinstance(r, (tuple, list)) or len(r) != nres:
                    raise TypeError(f"host function of type {ty} must return {nres} values, got {r!r}")
                for i, c in enumerate(res_in):
                    stack[base + i] = c(r[i])
            return 0

        return entry

    @classmethod
    def _wasm(cls, engine: "Engine", ptr, instance: "Instance", index: int, ty: FuncType) -> "Func":
        """Wrap a defined function of `instance` (its wz_func lives in the instance's array)."""
        self = cls.__new__(cls)
        self._engine = engine
        self.type = ty
        self._pyfunc = None
        self._access_caller = False
        self._instance = instance
        self.index = index
        self._ptr = ptr
        self._addr = int(engine.ffi.cast("uintptr_t", ptr))
        self._init_converters()
        self.host_entry = None
        engine.register_func(self)
        return self

    @property
    def is_host(self) -> bool:
        return self._instance is None

    @property
    def instance(self):
        return self._instance

    @property
    def name(self) -> str:
        if self._instance is None:
            return getattr(self._pyfunc, "__name__", "<host>")
        return self._instance.module.func_name(self.index)

    def __repr__(self) -> str:
        return f"<Func {self.name} {self.type}>"

    def call_raw(self, args) -> list[int]:
        """Call with raw u64 argument bits; returns the raw u64 result bits (exact NaN payloads)."""
        ty = self.type
        if len(args) != len(ty.params):
            raise TypeError(f"function {self.name} expects {len(ty.params)} arguments, got {len(args)}")
        raw = [int(a) & 0xFFFFFFFFFFFFFFFF for a in args]
        if self._instance is None:
            return self._engine.call_host_raw(self, raw)
        return self._engine.invoke(self._ptr, raw, len(ty.results))

    def __call__(self, *args):
        ty = self.type
        if len(args) != len(ty.params):
            raise TypeError(f"function {self.name} expects {len(ty.params)} arguments, got {len(args)}")
        engine = self._engine
        raw = [c(a) for c, a in zip(self._par_in, args)]
        if self._instance is None:
            out = engine.call_host_raw(self, raw)
        else:
            out = engine.invoke(self._ptr, raw, len(ty.results))
        conv = self._res_out
        if not conv:
            return None
        if len(conv) == 1:
            return conv[0](out[0])
        return tuple(c(v) for c, v in zip(conv, out))


class Memory:
    """A linear memory: one native buffer whose base never moves (reserved up to its maximum)."""

    def __init__(self, engine: "Engine", ty: MemoryType):
        ffi, lib = engine.ffi, engine.lib
        cap = engine.config.max_memory_pages
        lim = ty.limits
        if lim.max is not None and lim.max < lim.min:
            raise ValueError(f"memory limits {lim.min}..{lim.max}: maximum below minimum")
        if lim.min > cap:
            raise WizardError(f"memory of {lim.min} pages exceeds the engine limit of {cap} pages")
        maxp = cap if lim.max is None else min(lim.max, cap)
        p = lib.wz_memory_new(lim.min, maxp)
        if p == ffi.NULL:
            raise MemoryError(f"could not allocate a memory of {lim.min} pages (max {maxp})")
        self._engine = engine
        self._ptr = ffi.gc(p, lib.wz_memory_free)
        self._declared_max = lim.max

    @property
    def type(self) -> MemoryType:
        return MemoryType(Limits(self._ptr.pages, self._declared_max))

    @property
    def size(self) -> int:
        """Current size in pages."""
        return self._ptr.pages

    @property
    def data_len(self) -> int:
        """Current size in bytes."""
        return self._ptr.size

    @property
    def data(self) -> memoryview:
        """A zero-copy memoryview over the whole current memory (re-take it after grow)."""
        p = self._ptr
        if p.size == 0:
            return memoryview(bytearray(0))
        return memoryview(self._engine.ffi.buffer(p.base, p.size))

    def numpy(self, dtype="uint8"):
        """A zero-copy numpy array over the whole current memory."""
        import numpy as np

        p = self._ptr
        if p.size == 0:
            return np.zeros(0, dtype=dtype)
        return np.frombuffer(self._engine.ffi.buffer(p.base, p.size), dtype=dtype)

    def grow(self, delta: int) -> int:
        """Grow by `delta` pages; returns the old size in pages; raises if it cannot grow."""
        if delta < 0 or delta > U32_MAX:
            raise ValueError(f"invalid memory growth {delta}")
        old = self._engine.lib.wz_memory_grow(self._ptr, delta)
        if old < 0:
            raise WizardError(f"failed to grow memory from {self.size} by {delta} pages")
        return old

    def _check(self, addr: int, n: int) -> None:
        if addr < 0 or n < 0 or addr + n > self._ptr.size:
            raise IndexError(f"out of bounds memory access: [{addr}, {addr + n}) of {self._ptr.size}")

    def read(self, addr: int, n: int) -> bytes:
        self._check(addr, n)
        return self._engine.ffi.buffer(self._ptr.base + addr, n)[:] if n else b""

    def write(self, addr: int, data) -> None:
        data = bytes(data)
        self._check(addr, len(data))
        if data:
            self._engine.ffi.memmove(self._ptr.base + addr, data, len(data))

    def __repr__(self) -> str:
        return f"<Memory pages={self.size} max={self._declared_max}>"


class Table:
    """A table of references (funcref or externref)."""

    def __init__(self, engine: "Engine", ty: TableType, init=None):
        ffi, lib = engine.ffi, engine.lib
        lim = ty.limits
        if lim.max is not None and lim.max < lim.min:
            raise ValueError(f"table limits {lim.min}..{lim.max}: maximum below minimum")
        raw = to_raw(engine, ty.elem_type, init)
        p = lib.wz_table_new(lim.min, U32_MAX if lim.max is None else lim.max, ty.elem_type, raw)
        if p == ffi.NULL:
            raise MemoryError(f"could not allocate a table of {lim.min} elements")
        self._engine = engine
        self._ptr = ffi.gc(p, lib.wz_table_free)
        self._elem_type = ty.elem_type
        self._declared_max = lim.max

    @property
    def type(self) -> TableType:
        return TableType(self._elem_type, Limits(self._ptr.size, self._declared_max))

    @property
    def elem_type(self) -> int:
        return self._elem_type

    @property
    def size(self) -> int:
        return self._ptr.size

    def _check(self, i: int) -> None:
        if not 0 <= i < self._ptr.size:
            raise IndexError(f"out of bounds table access: {i} of {self._ptr.size}")

    def get_raw(self, i: int) -> int:
        self._check(i)
        return self._ptr.elems[i]

    def set_raw(self, i: int, bits: int) -> None:
        self._check(i)
        self._ptr.elems[i] = bits

    def get(self, i: int):
        return from_raw(self._engine, self._elem_type, self.get_raw(i))

    def set(self, i: int, value) -> None:
        self.set_raw(i, to_raw(self._engine, self._elem_type, value))

    def grow(self, delta: int, init=None) -> int:
        """Grow by `delta` elements set to `init`; returns the old size; raises if it cannot."""
        if delta < 0 or delta > U32_MAX:
            raise ValueError(f"invalid table growth {delta}")
        raw = to_raw(self._engine, self._elem_type, init)
        old = self._engine.lib.wz_table_grow(self._ptr, delta, raw)
        if old < 0:
            raise WizardError(f"failed to grow table from {self.size} by {delta}")
        return old

    def __repr__(self) -> str:
        return f"<Table size={self.size} max={self._declared_max}>"


class Global:
    """A global variable. `Global(engine, GlobalType(I32, True), 0)`."""

    def __init__(self, engine: "Engine", ty: GlobalType, value=None):
        raw = 0 if value is None else to_raw(engine, ty.valtype, value)
        self._init(engine, ty, raw)

    def _init(self, engine: "Engine", ty: GlobalType, raw: int) -> None:
        p = engine.ffi.new("wz_global*")
        p.type = ty.valtype
        p.mutable_ = 1 if ty.mutable else 0
        p.value = raw
        self._engine = engine
        self._ptr = p
        self.type = ty

    @classmethod
    def _from_raw(cls, engine: "Engine", ty: GlobalType, raw: int) -> "Global":
        self = cls.__new__(cls)
        self._init(engine, ty, raw)
        return self

    @property
    def value(self):
        return from_raw(self._engine, self.type.valtype, self._ptr.value)

    @value.setter
    def value(self, v) -> None:
        if not self.type.mutable:
            raise WizardError("cannot set an immutable global")
        self._ptr.value = to_raw(self._engine, self.type.valtype, v)

    @property
    def value_raw(self) -> int:
        """The raw u64 bits (exact NaN payloads)."""
        return self._ptr.value

    @value_raw.setter
    def value_raw(self, bits: int) -> None:
        if not self.type.mutable:
            raise WizardError("cannot set an immutable global")
        self._ptr.value = int(bits) & 0xFFFFFFFFFFFFFFFF

    raw = value_raw

    def __repr__(self) -> str:
        return f"<Global {self.type} = {self.value!r}>"


class Caller:
    """What a host function created with `access_caller=True` receives first.

    `instance` is the instance of the innermost Wasm frame (None when called from Python). It is
    looked up on first use, so a Caller is only meaningful during the host call it was made for.
    """

    _UNSET = object()

    def __init__(self, engine: "Engine", instance=_UNSET):
        self.engine = engine
        self._instance = instance

    @property
    def instance(self):
        if self._instance is Caller._UNSET:
            self._instance = self.engine.calling_instance()
        return self._instance

    @property
    def memory(self) -> Memory | None:
        m = self.get_export("memory")
        return m if isinstance(m, Memory) else None

    def get_export(self, name: str):
        if self.instance is None:
            return None
        return self.instance.exports.get(name)


Extern = (Func, Memory, Table, Global)
