"""wizardpy: a WebAssembly engine hosted in Python, with dynamic non-intrusive instrumentation.

The public API (docs/api.md) is re-exported here. `WasiConfig` is imported lazily so the
package imports even where the WASI layer is not needed.
"""
from __future__ import annotations

from .config import EngineConfig
from .engine import Engine
from .errors import (DecodeError, ExitStatus, LinkError, ProbeError, Trap, ValidationError,
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
    "WizardError", "ProbeError", "WasiConfig",
]

# Names defined by layers that are imported on first use: name -> candidate submodules.
_INSTR = ("instrumentation", "monitor")
_LAZY = {
    "WasiConfig": ("wasi",),
    **{n: _INSTR for n in ("Probe", "ProbeAction", "DynamicLoc", "FrameAccessor", "FrameWriter",
                           "CountProbe", "CountMoreProbe", "HitProbe", "TallyProbe", "OperandProbe", "FuncProbe",
                           "StaleFrameError", "Instrumentation")},
    # wizardpy/monitor.py: the Monitor base class, reports and helpers for monitors
    **{n: ("monitor",) for n in ("Monitor", "Report", "Session", "MonitorError", "instructions",
                                 "defined_functions", "format_instruction", "block_ends", "instruction_table",
                                 "block_leaders", "basic_blocks", "BasicBlock", "func_ref",
                                 "on_opcode",
                                 "load_monitor", "monitor_names")},
}
__all__ += [n for n, mods in _LAZY.items() if n not in __all__ and any(
    (__import__("pathlib").Path(__file__).parent / f"{m}.py").exists() for m in mods)]


def __getattr__(name: str):
    mods = _LAZY.get(name)
    if mods is None:
        raise AttributeError(f"module 'wizardpy' has no attribute {name!r}")
    import importlib

    for mod in mods:
        try:
            m = importlib.import_module(f".{mod}", __name__)
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{mod}":
                raise
            continue
        if hasattr(m, name):
            value = getattr(m, name)
            globals()[name] = value
            return value
    raise AttributeError(f"module 'wizardpy' has no attribute {name!r} (its layer is not available)")
