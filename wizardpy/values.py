"""Value conversions between Python objects and the engine's raw 64-bit value slots.

Every Wasm value lives in a `uint64` slot (docs/internal-code.md): i32 zero-extended, i64 as its
two's-complement bits, f32/f64 as raw IEEE bits, funcref as the `wz_func*` address, externref as
an engine-registered handle (0 = null). This module converts in both directions:

- into Wasm (`to_raw`): ints wrap modulo 2^32 / 2^64, floats are packed, references are looked
  up in the engine's registries;
- out of Wasm (`from_raw`): i32/i64 come back **signed**, floats as Python floats, funcref as a
  `Func` (or None), externref as the original Python object (or None).

The registries themselves live on the `Engine`; nothing here keeps state.
"""
from __future__ import annotations

import math
import struct
from typing import TYPE_CHECKING

from .errors import WizardError
from .types import EXTERNREF, F32, F64, FUNCREF, I32, I64, valtype_name

if TYPE_CHECKING:  # pragma: no cover
    from .engine import Engine

MASK32 = 0xFFFFFFFF
MASK64 = 0xFFFFFFFFFFFFFFFF

_F32 = struct.Struct("<f")
_U32 = struct.Struct("<I")
_F64 = struct.Struct("<d")
_U64 = struct.Struct("<Q")


def wrap_i32(v: int) -> int:
    """Any Python int -> u32 bits."""
    return int(v) & MASK32


def wrap_i64(v: int) -> int:
    """Any Python int -> u64 bits."""
    return int(v) & MASK64


def signed_i32(bits: int) -> int:
    bits &= MASK32
    return bits - (1 << 32) if bits & 0x80000000 else bits


def signed_i64(bits: int) -> int:
    bits &= MASK64
    return bits - (1 << 64) if bits & 0x8000000000000000 else bits


def f32_to_bits(x: float) -> int:
    try:
        return _U32.unpack(_F32.pack(x))[0]
    except OverflowError:  # finite but too large for f32: rounds to infinity
        return 0x7F800000 if x > 0 else 0xFF800000


def bits_to_f32(bits: int) -> float:
    return _F32.unpack(_U32.pack(bits & MASK32))[0]


def f64_to_bits(x: float) -> int:
    return _U64.unpack(_F64.pack(x))[0]


def bits_to_f64(bits: int) -> float:
    return _F64.unpack(_U64.pack(bits & MASK64))[0]


def _is_int(v) -> bool:
    return isinstance(v, int) or (hasattr(v, "__index__") and not isinstance(v, float))


def to_raw(engine: "Engine", valtype: int, value) -> int:
    """Convert a Python value to the raw u64 slot of a Wasm value of type `valtype`."""
    if valtype == I32:
        if not _is_int(value):
            raise TypeError(f"expected an int for i32, got {type(value).__name__}")
        return wrap_i32(value.__index__())
    if valtype == I64:
        if not _is_int(value):
            raise TypeError(f"expected an int for i64, got {type(value).__name__}")
        return wrap_i64(value.__index__())
    if valtype == F32:
        if not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
            raise TypeError(f"expected a float for f32, got {type(value).__name__}")
        return f32_to_bits(float(value))
    if valtype == F64:
        if not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
            raise TypeError(f"expected a float for f64, got {type(value).__name__}")
        return f64_to_bits(float(value))
    if valtype == FUNCREF:
        if value is None:
            return 0
        return engine.funcref_to_raw(value)
    if valtype == EXTERNREF:
        if value is None:
            return 0
        return engine.externref_to_raw(value)
    raise WizardError(f"values of type {valtype_name(valtype)} cannot cross into Python")


def from_raw(engine: "Engine", valtype: int, bits: int):
    """Convert the raw u64 slot of a Wasm value of type `valtype` to a Python value."""
    if valtype == I32:
        return signed_i32(bits)
    if valtype == I64:
        return signed_i64(bits)
    if valtype == F32:
        return bits_to_f32(bits)
    if valtype == F64:
        return bits_to_f64(bits)
    if valtype == FUNCREF:
        return engine.funcref_from_raw(bits) if bits else None
    if valtype == EXTERNREF:
        return engine.externref_from_raw(bits) if bits else None
    raise WizardError(f"values of type {valtype_name(valtype)} cannot cross into Python")


def default_raw(valtype: int) -> int:
    """The zero value of every type (0, 0.0, null) as a raw slot."""
    return 0


def is_nan(x: float) -> bool:
    return isinstance(x, float) and math.isnan(x)


def _i32_in(v) -> int:
    if type(v) is int:
        return v & MASK32
    if not _is_int(v):
        raise TypeError(f"expected an int for i32, got {type(v).__name__}")
    return v.__index__() & MASK32


def _i64_in(v) -> int:
    if type(v) is int:
        return v & MASK64
    if not _is_int(v):
        raise TypeError(f"expected an int for i64, got {type(v).__name__}")
    return v.__index__() & MASK64


def _i32_out(b: int) -> int:
    return b - 0x100000000 if b & 0x80000000 else b


def _i64_out(b: int) -> int:
    return b - 0x10000000000000000 if b & 0x8000000000000000 else b


def _f32_in(v) -> int:
    if not isinstance(v, (int, float)) and not hasattr(v, "__float__"):
        raise TypeError(f"expected a float for f32, got {type(v).__name__}")
    return f32_to_bits(float(v))


def _f64_in(v) -> int:
    if not isinstance(v, (int, float)) and not hasattr(v, "__float__"):
        raise TypeError(f"expected a float for f64, got {type(v).__name__}")
    return f64_to_bits(float(v))


def converters(engine: "Engine", valtype: int):
    """`(to_raw_fn, from_raw_fn)` for one value type, specialised (the hot paths of calls)."""
    if valtype == I32:
        return _i32_in, _i32_out
    if valtype == I64:
        return _i64_in, _i64_out
    if valtype == F32:
        return _f32_in, bits_to_f32
    if valtype == F64:
        return _f64_in, bits_to_f64
    return (lambda v: to_raw(engine, valtype, v)), (lambda b: from_raw(engine, valtype, b))
