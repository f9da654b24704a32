"""EngineConfig: every tuning knob of the engine, in one object passed to `Engine`."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class EngineConfig:
    # Execution tier: "int" (native interpreter); "jit" and "tiered" come with the JIT.
    tier: str = "int"
    # Value-stack slots (8 bytes each) per execution thread; locals and operands of all frames.
    value_stack_slots: int = 1 << 20
    # Maximum number of nested Wasm frames; deeper recursion traps with "call stack exhausted".
    max_call_depth: int = 30000
    # Upper bound on any linear memory, in 64 KiB pages (65536 = the full 4 GiB of wasm32).
    max_memory_pages: int = 65536
