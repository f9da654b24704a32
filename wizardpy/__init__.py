"""wizardpy: a WebAssembly engine hosted in Python, with dynamic non-intrusive instrumentation.

The public API (docs/api.md) is re-exported here. `WasiConfig` is imported lazily so the
package imports even where the WASI layer is not needed.
"""
from __future__ import annotations

from .config import EngineConfig
from .engine import Engine
from .errors import (DecodeError, ExitStatus, LinkError, Trap, ValidationError,
                     WizardError)
from .externs import Caller, Func, Global, Memory, Table
from .instance import Instance
from .linker import Linker
from .module import ExportType, ImportType, Module
from .types import FuncType, GlobalType, Limits, MemoryType, TableType

__all__ = [
    "Engine", "EngineConfig", "Module", "Linker", "Instance", "Func", "Memory", "Table", "Global",
    "Caller", "FuncType", "MemoryType", "TableType", "GlobalType", "Limits", "ImportType",
    "ExportType", "Trap", "DecodeError", "ValidationError", "LinkError", "ExitStatus",
    "WizardError", "WasiConfig",
]

_LAZY = {"WasiConfig": "wasi"}


def __getattr__(name: str):
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'wizardpy' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f".{mod}", __name__), name)
