"""Trap codes of the native runtime -> `wizardpy.Trap` exceptions with a Wasm backtrace.

The interpreter (and later the JIT) returns a small integer trap code (native/wizard.h); this
module maps it to the spec's message and walks the thread's frame stack where the trap happened
to build the backtrace `[(func_index, func_name, pc), ...]`, innermost first. Internal-code
positions (ip) are mapped back to Wasm pcs with the validator's `FuncCode.pc_of_ip`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import Trap

if TYPE_CHECKING:  # pragma: no cover
    from .engine import Engine

WZ_OK = 0
WZ_TRAP_UNREACHABLE = 1
WZ_TRAP_MEM_OOB = 2
WZ_TRAP_DIV_ZERO = 3
WZ_TRAP_INT_OVERFLOW = 4
WZ_TRAP_INVALID_CONV = 5
WZ_TRAP_UNDEF_ELEM = 6
WZ_TRAP_UNINIT_ELEM = 7
WZ_TRAP_INDIRECT_SIG = 8
WZ_TRAP_TABLE_OOB = 9
WZ_TRAP_STACK = 10
WZ_TRAP_HOST = 11
WZ_TRAP_NULL_REF = 12
WZ_TRAP_FUEL = 13
WZ_TRAP_TIMEOUT = 14
WZ_TRAP_INTERRUPT = 15

TRAP_MESSAGES = {
    WZ_TRAP_UNREACHABLE: "unreachable",
    WZ_TRAP_MEM_OOB: "out of bounds memory access",
    WZ_TRAP_DIV_ZERO: "integer divide by zero",
    WZ_TRAP_INT_OVERFLOW: "integer overflow",
    WZ_TRAP_INVALID_CONV: "invalid conversion to integer",
    WZ_TRAP_UNDEF_ELEM: "undefined element",
    WZ_TRAP_UNINIT_ELEM: "uninitialized element",
    WZ_TRAP_INDIRECT_SIG: "indirect call type mismatch",
    WZ_TRAP_TABLE_OOB: "out of bounds table access",
    WZ_TRAP_STACK: "call stack exhausted",
    WZ_TRAP_HOST: "host function raised",
    WZ_TRAP_NULL_REF: "null reference",
    WZ_TRAP_FUEL: "fuel exhausted",
    WZ_TRAP_TIMEOUT: "timeout",
    WZ_TRAP_INTERRUPT: "interrupted",
}


def trap_message(code: int) -> str:
    """The spec message for a native trap code."""
    return TRAP_MESSAGES.get(code, f"trap code {code}")


def pc_of(code, ip: int) -> int:
    """Map an internal-code index to the Wasm pc (byte offset from the body start).

    Exact for instruction boundaries; for anything else the pc of the instruction containing
    `ip` (the nearest lower boundary) is used.
    """
    pc = code.pc_of_ip.get(ip)
    if pc is not None:
        return pc
    best = -1
    for i in code.pc_of_ip:
        if best < i <= ip:
            best = i
    return code.pc_of_ip[best] if best >= 0 else 0


def backtrace(engine: "Engine", frames_cdata, start: int, stop: int) -> list[tuple[int, str, int]]:
    """Frames `frames_cdata[start:stop]` as `(func_index, func_name, pc)`, innermost first."""
    out: list[tuple[int, str, int]] = []
    for k in range(stop - 1, start - 1, -1):
        fr = frames_cdata[k]
        out.append(engine.describe_frame(fr.func, fr.ip))
    return out


def make_trap(engine: "Engine", code: int, frames: list[tuple[int, str, int]]) -> Trap:
    return Trap(trap_message(code), frames)
