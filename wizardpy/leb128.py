"""LEB128 readers with the spec's rules for length and unused bits.

Each reader takes `(data, pos, end)` and returns `(value, new_pos)`; it raises `DecodeError`
with the byte offset of the problem:
- "unexpected end" / "unexpected end of section or function" when the bytes run out,
- "integer representation too long" when the encoding has more bytes than the type allows,
- "integer too large" when the last allowed byte has unused bits that are not a zero/sign
  extension.
"""
from __future__ import annotations

from .errors import DecodeError


def _eof(data: bytes, pos: int, end: int) -> DecodeError:
    if end < len(data):
        return DecodeError("unexpected end of section or function", pos)
    return DecodeError("unexpected end", pos)


def _read_unsigned(data: bytes, pos: int, end: int, bits: int) -> tuple[int, int]:
    maxbytes = (bits + 6) // 7
    last_bits = bits - 7 * (maxbytes - 1)        # value bits in the last byte
    result = 0
    shift = 0
    start = pos
    for i in range(maxbytes):
        if pos >= end:
            raise _eof(data, pos, end)
        b = data[pos]
        pos += 1
        if i == maxbytes - 1:
            if b & 0x80:
                raise DecodeError("integer representation too long", start)
            if b >> last_bits:
                raise DecodeError("integer too large", pos - 1)
            return result | (b << shift), pos
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
    raise DecodeError("integer representation too long", start)  # pragma: no cover


def _read_signed(data: bytes, pos: int, end: int, bits: int) -> tuple[int, int]:
    maxbytes = (bits + 6) // 7
    last_bits = bits - 7 * (maxbytes - 1)
    result = 0
    shift = 0
    start = pos
    for i in range(maxbytes):
        if pos >= end:
            raise _eof(data, pos, end)
        b = data[pos]
        pos += 1
        if i == maxbytes - 1:
            if b & 0x80:
                raise DecodeError("integer representation too long", start)
            # bits above the sign bit (bit last_bits-1) must all equal the sign bit
            high = b >> (last_bits - 1)
            if high != 0 and high != (0x7F >> (last_bits - 1)):
                raise DecodeError("integer too large", pos - 1)
            result |= b << shift
            shift += 7
            if b & 0x40:
                result -= 1 << shift
            return result, pos
        result |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            if b & 0x40:
                result -= 1 << shift
            return result, pos
    raise DecodeError("integer representation too long", start)  # pragma: no cover


def read_u32(data: bytes, pos: int, end: int) -> tuple[int, int]:
    if pos < end:
        b = data[pos]
        if b < 0x80:
            return b, pos + 1
    return _read_unsigned(data, pos, end, 32)


def read_u64(data: bytes, pos: int, end: int) -> tuple[int, int]:
    return _read_unsigned(data, pos, end, 64)


def read_s32(data: bytes, pos: int, end: int) -> tuple[int, int]:
    if pos < end:
        b = data[pos]
        if b < 0x40:
            return b, pos + 1
        if b < 0x80:
            return b - 0x80, pos + 1
    return _read_signed(data, pos, end, 32)


def read_s33(data: bytes, pos: int, end: int) -> tuple[int, int]:
    return _read_signed(data, pos, end, 33)


def read_s64(data: bytes, pos: int, end: int) -> tuple[int, int]:
    if pos < end:
        b = data[pos]
        if b < 0x40:
            return b, pos + 1
        if b < 0x80:
            return b - 0x80, pos + 1
    return _read_signed(data, pos, end, 64)
