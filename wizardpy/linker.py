"""Linker: a namespace of named externs used to resolve a module's imports by name.

`linker.define(module, name, extern)`, `define_func(...)` for Python host functions,
`define_instance(name, instance)` for all exports of an instance, `define_wasi(config)` for the
WASI preview-1 functions (`wizardpy.wasi`, imported lazily), then `linker.instantiate(module)`.
"""
from __future__ import annotations

from typing import Callable

from .errors import LinkError, WizardError
from .externs import Func, Global, Memory, Table
from .instance import Instance
from .types import FuncType


class Linker:
    def __init__(self, engine, allow_shadowing: bool = False):
        self.engine = engine
        self.allow_shadowing = allow_shadowing
        self._defs: dict[tuple[str, str], object] = {}

    def define(self, module: str, name: str, item) -> None:
        """Define `module::name` as an extern (Func, Memory, Table or Global)."""
        if not isinstance(item, (Func, Memory, Table, Global)):
            raise TypeError(f"cannot define {module}::{name} as a {type(item).__name__}")
        if item._engine is not self.engine:
            raise WizardError(f"{module}::{name} belongs to another engine")
        key = (module, name)
        if key in self._defs and not self.allow_shadowing:
            raise LinkError(f"{module}::{name} is already defined")
        self._defs[key] = item

    def define_func(self, module: str, name: str, ty: FuncType, fn: Callable,
                    access_caller: bool = False) -> Func:
        """Define a Python function as `module::name`; returns the host `Func`."""
        f = Func(self.engine, ty, fn, access_caller=access_caller)
        self.define(module, name, f)
        return f

    def define_instance(self, module: str, instance: Instance) -> None:
        """Define every export of `instance` under the module name `module`."""
        for name, item in instance.exports.items():
            self.define(module, name, item)

    def define_wasi(self, config=None):
        """Define the WASI preview-1 functions (`wasi_snapshot_preview1`); returns the WASI
        state object (`wizardpy.wasi.Wasi`)."""
        from . import wasi

        return wasi.define_wasi(self, config if config is not None else wasi.WasiConfig())

    def get(self, module: str, name: str):
        return self._defs.get((module, name))

    def __contains__(self, key) -> bool:
        return tuple(key) in self._defs

    def resolve(self, module) -> list:
        """The externs for the imports of `module`, in order; LinkError for a missing one."""
        out = []
        for imp in module.imports:
            item = self._defs.get((imp.module, imp.name))
            if item is None:
                raise LinkError(f"unknown import: {imp.module}::{imp.name} ({imp.kind})")
            out.append(item)
        return out

    def instantiate(self, module) -> Instance:
        """Instantiate `module` with its imports resolved by name (LinkError / Trap)."""
        return Instance(self.engine, module, self.resolve(module))
