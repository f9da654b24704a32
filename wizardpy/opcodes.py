"""The Wasm 2.0 (non-SIMD) instruction set as one declarative table.

Every instruction has an internal number (docs/internal-code.md): a single-byte opcode keeps its
byte value, a `0xFC nn` opcode is `0x100 + nn`, internal-only opcodes start at `0x120`.
For each instruction the table gives its mnemonic, the kind of immediate it carries in the binary
format, its family (for monitors) and, for instructions whose operand types are fixed, the stack
signature `(params, results)` so the validator can check them from the table.

Everything here is immutable after import (tuples, frozen mappings built once).
"""
from __future__ import annotations

from types import MappingProxyType

from .types import EXTERNREF, F32, F64, FUNCREF, I32, I64

# ---- immediate kinds ----
IMM_NONE = "none"
IMM_BLOCKTYPE = "blocktype"
IMM_LABEL = "labelidx"
IMM_BR_TABLE = "br_table"
IMM_FUNC = "funcidx"
IMM_CALL_INDIRECT = "typeidx+tableidx"
IMM_LOCAL = "localidx"
IMM_GLOBAL = "globalidx"
IMM_TABLE = "tableidx"
IMM_MEMARG = "memarg"
IMM_I32 = "i32"
IMM_I64 = "i64"
IMM_F32 = "f32"
IMM_F64 = "f64"
IMM_REFTYPE = "reftype"
IMM_SELECT_T = "valtypes"
IMM_MEM0 = "memidx"                 # one reserved zero byte (memory.size/grow/fill)
IMM_DATA = "dataidx"
IMM_DATA_MEM = "dataidx+memidx"     # memory.init: dataidx then a zero byte
IMM_MEM_MEM = "memidx+memidx"       # memory.copy: two zero bytes
IMM_ELEM = "elemidx"
IMM_ELEM_TABLE = "elemidx+tableidx"
IMM_TABLE_TABLE = "tableidx+tableidx"

OP_PROBE = 0x120
OP_ENTRY = 0x121    # ip 0 of every function: "pc 0", function entry (a no-op)
FC_BASE = 0x100
NUM_OPCODES = 0x140

_T = {"i": I32, "I": I64, "f": F32, "F": F64}


def _sig(s: str) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """'ii:i' -> ((I32, I32), (I32,)); '' -> None (operand types not fixed)."""
    if not s:
        return None
    p, r = s.split(":")
    return tuple(_T[c] for c in p), tuple(_T[c] for c in r)


# (number, mnemonic, immediate kind, family, signature, access size in bytes or 0)
_ROWS: list[tuple[int, str, str, str, str, int]] = [
    (0x00, "unreachable", IMM_NONE, "control", "", 0),
    (0x01, "nop", IMM_NONE, "control", "", 0),
    (0x02, "block", IMM_BLOCKTYPE, "control", "", 0),
    (0x03, "loop", IMM_BLOCKTYPE, "control", "", 0),
    (0x04, "if", IMM_BLOCKTYPE, "branch", "", 0),
    (0x05, "else", IMM_NONE, "control", "", 0),
    (0x0B, "end", IMM_NONE, "control", "", 0),
    (0x0C, "br", IMM_LABEL, "branch", "", 0),
    (0x0D, "br_if", IMM_LABEL, "branch", "", 0),
    (0x0E, "br_table", IMM_BR_TABLE, "branch", "", 0),
    (0x0F, "return", IMM_NONE, "return", "", 0),
    (0x10, "call", IMM_FUNC, "call", "", 0),
    (0x11, "call_indirect", IMM_CALL_INDIRECT, "call", "", 0),
    (0x1A, "drop", IMM_NONE, "parametric", "", 0),
    (0x1B, "select", IMM_NONE, "parametric", "", 0),
    (0x1C, "select", IMM_SELECT_T, "parametric", "", 0),
    (0x20, "local.get", IMM_LOCAL, "local", "", 0),
    (0x21, "local.set", IMM_LOCAL, "local", "", 0),
    (0x22, "local.tee", IMM_LOCAL, "local", "", 0),
    (0x23, "global.get", IMM_GLOBAL, "global", "", 0),
    (0x24, "global.set", IMM_GLOBAL, "global", "", 0),
    (0x25, "table.get", IMM_TABLE, "table", "", 0),
    (0x26, "table.set", IMM_TABLE, "table", "", 0),
    (0x3F, "memory.size", IMM_MEM0, "memory", ":i", 0),
    (0x40, "memory.grow", IMM_MEM0, "memory", "i:i", 0),
    (0x41, "i32.const", IMM_I32, "const", ":i", 0),
    (0x42, "i64.const", IMM_I64, "const", ":I", 0),
    (0x43, "f32.const", IMM_F32, "const", ":f", 0),
    (0x44, "f64.const", IMM_F64, "const", ":F", 0),
    (0xD0, "ref.null", IMM_REFTYPE, "ref", "", 0),
    (0xD1, "ref.is_null", IMM_NONE, "ref", "", 0),
    (0xD2, "ref.func", IMM_FUNC, "ref", "", 0),
    (0x108, "memory.init", IMM_DATA_MEM, "memory", "iii:", 0),
    (0x109, "data.drop", IMM_DATA, "memory", ":", 0),
    (0x10A, "memory.copy", IMM_MEM_MEM, "memory", "iii:", 0),
    (0x10B, "memory.fill", IMM_MEM0, "memory", "iii:", 0),
    (0x10C, "table.init", IMM_ELEM_TABLE, "table", "iii:", 0),
    (0x10D, "elem.drop", IMM_ELEM, "table", ":", 0),
    (0x10E, "table.copy", IMM_TABLE_TABLE, "table", "iii:", 0),
    (0x10F, "table.grow", IMM_TABLE, "table", "", 0),
    (0x110, "table.size", IMM_TABLE, "table", ":i", 0),
    (0x111, "table.fill", IMM_TABLE, "table", "", 0),
    (OP_PROBE, "probe", IMM_NONE, "probe", "", 0),
    (OP_ENTRY, "entry", IMM_NONE, "probe", "", 0),
]

# loads and stores: (number, mnemonic, value type letter, access size)
for _op, _nm, _t, _sz in [
    (0x28, "i32.load", "i", 4), (0x29, "i64.load", "I", 8), (0x2A, "f32.load", "f", 4),
    (0x2B, "f64.load", "F", 8), (0x2C, "i32.load8_s", "i", 1), (0x2D, "i32.load8_u", "i", 1),
    (0x2E, "i32.load16_s", "i", 2), (0x2F, "i32.load16_u", "i", 2), (0x30, "i64.load8_s", "I", 1),
    (0x31, "i64.load8_u", "I", 1), (0x32, "i64.load16_s", "I", 2), (0x33, "i64.load16_u", "I", 2),
    (0x34, "i64.load32_s", "I", 4), (0x35, "i64.load32_u", "I", 4),
]:
    _ROWS.append((_op, _nm, IMM_MEMARG, "load", "i:" + _t, _sz))
for _op, _nm, _t, _sz in [
    (0x36, "i32.store", "i", 4), (0x37, "i64.store", "I", 8), (0x38, "f32.store", "f", 4),
    (0x39, "f64.store", "F", 8), (0x3A, "i32.store8", "i", 1), (0x3B, "i32.store16", "i", 2),
    (0x3C, "i64.store8", "I", 1), (0x3D, "i64.store16", "I", 2), (0x3E, "i64.store32", "I", 4),
]:
    _ROWS.append((_op, _nm, IMM_MEMARG, "store", "i" + _t + ":", _sz))


def _series(start: int, prefix: str, names: str, sig: str, family: str) -> None:
    for k, n in enumerate(names.split()):
        _ROWS.append((start + k, prefix + n, IMM_NONE, family, sig, 0))


_INT_CMP = "eq ne lt_s lt_u gt_s gt_u le_s le_u ge_s ge_u"
_INT_BIN = "add sub mul div_s div_u rem_s rem_u and or xor shl shr_s shr_u rotl rotr"
_F_UN = "abs neg ceil floor trunc nearest sqrt"
_F_BIN = "add sub mul div min max copysign"
_series(0x45, "i32.", "eqz", "i:i", "compare")
_series(0x46, "i32.", _INT_CMP, "ii:i", "compare")
_series(0x50, "i64.", "eqz", "I:i", "compare")
_series(0x51, "i64.", _INT_CMP, "II:i", "compare")
_series(0x5B, "f32.", "eq ne lt gt le ge", "ff:i", "compare")
_series(0x61, "f64.", "eq ne lt gt le ge", "FF:i", "compare")
_series(0x67, "i32.", "clz ctz popcnt", "i:i", "arith")
_series(0x6A, "i32.", _INT_BIN, "ii:i", "arith")
_series(0x79, "i64.", "clz ctz popcnt", "I:I", "arith")
_series(0x7C, "i64.", _INT_BIN, "II:I", "arith")
_series(0x8B, "f32.", _F_UN, "f:f", "arith")
_series(0x92, "f32.", _F_BIN, "ff:f", "arith")
_series(0x99, "f64.", _F_UN, "F:F", "arith")
_series(0xA0, "f64.", _F_BIN, "FF:F", "arith")
for _op, _nm, _s in [
    (0xA7, "i32.wrap_i64", "I:i"), (0xA8, "i32.trunc_f32_s", "f:i"), (0xA9, "i32.trunc_f32_u", "f:i"),
    (0xAA, "i32.trunc_f64_s", "F:i"), (0xAB, "i32.trunc_f64_u", "F:i"),
    (0xAC, "i64.extend_i32_s", "i:I"), (0xAD, "i64.extend_i32_u", "i:I"),
    (0xAE, "i64.trunc_f32_s", "f:I"), (0xAF, "i64.trunc_f32_u", "f:I"),
    (0xB0, "i64.trunc_f64_s", "F:I"), (0xB1, "i64.trunc_f64_u", "F:I"),
    (0xB2, "f32.convert_i32_s", "i:f"), (0xB3, "f32.convert_i32_u", "i:f"),
    (0xB4, "f32.convert_i64_s", "I:f"), (0xB5, "f32.convert_i64_u", "I:f"),
    (0xB6, "f32.demote_f64", "F:f"),
    (0xB7, "f64.convert_i32_s", "i:F"), (0xB8, "f64.convert_i32_u", "i:F"),
    (0xB9, "f64.convert_i64_s", "I:F"), (0xBA, "f64.convert_i64_u", "I:F"),
    (0xBB, "f64.promote_f32", "f:F"),
    (0xBC, "i32.reinterpret_f32", "f:i"), (0xBD, "i64.reinterpret_f64", "F:I"),
    (0xBE, "f32.reinterpret_i32", "i:f"), (0xBF, "f64.reinterpret_i64", "I:F"),
    (0xC0, "i32.extend8_s", "i:i"), (0xC1, "i32.extend16_s", "i:i"),
    (0xC2, "i64.extend8_s", "I:I"), (0xC3, "i64.extend16_s", "I:I"), (0xC4, "i64.extend32_s", "I:I"),
    (0x100, "i32.trunc_sat_f32_s", "f:i"), (0x101, "i32.trunc_sat_f32_u", "f:i"),
    (0x102, "i32.trunc_sat_f64_s", "F:i"), (0x103, "i32.trunc_sat_f64_u", "F:i"),
    (0x104, "i64.trunc_sat_f32_s", "f:I"), (0x105, "i64.trunc_sat_f32_u", "f:I"),
    (0x106, "i64.trunc_sat_f64_s", "F:I"), (0x107, "i64.trunc_sat_f64_u", "F:I"),
]:
    _ROWS.append((_op, _nm, IMM_NONE, "convert", _s, 0))

_ROWS.sort()

#: number -> mnemonic
NAMES: MappingProxyType[int, str] = MappingProxyType({r[0]: r[1] for r in _ROWS})
#: number -> immediate kind
IMMEDIATES: MappingProxyType[int, str] = MappingProxyType({r[0]: r[2] for r in _ROWS})
#: number -> family: control, branch, return, call, parametric, local, global, table, memory,
#: load, store, const, compare, arith, convert, ref, probe
FAMILY: MappingProxyType[int, str] = MappingProxyType({r[0]: r[3] for r in _ROWS})
#: number -> (param types, result types), only for instructions whose operand types are fixed
SIGNATURES: MappingProxyType[int, tuple[tuple[int, ...], tuple[int, ...]]] = MappingProxyType(
    {r[0]: _sig(r[4]) for r in _ROWS if r[4]})  # type: ignore[misc]
#: number -> bytes accessed, for loads and stores
ACCESS_SIZE: MappingProxyType[int, int] = MappingProxyType({r[0]: r[5] for r in _ROWS if r[5]})
#: mnemonic -> number (typed `select t` is listed as "select_t")
BY_NAME: MappingProxyType[str, int] = MappingProxyType(
    {("select_t" if r[0] == 0x1C else r[1]): r[0] for r in _ROWS})

#: True for every number that is a Wasm 2.0 non-SIMD instruction (excludes OP_PROBE)
VALID_OPCODES = frozenset(r[0] for r in _ROWS if r[0] not in (OP_PROBE, OP_ENTRY))


def name(op: int) -> str:
    """Mnemonic of an internal opcode number ('<0x..>' if unknown)."""
    return NAMES.get(op) or f"<0x{op:x}>"


def is_load(op: int) -> bool:
    return 0x28 <= op <= 0x35


def is_store(op: int) -> bool:
    return 0x36 <= op <= 0x3E


def access_size(op: int) -> int:
    """Bytes read or written by a load/store (0 for anything else)."""
    return ACCESS_SIZE.get(op, 0)


def is_branch(op: int) -> bool:
    """Conditional or unconditional branches: if, br, br_if, br_table."""
    return FAMILY.get(op) == "branch"


def is_call(op: int) -> bool:
    return op == 0x10 or op == 0x11


def ref_type_name(t: int) -> str:
    return {FUNCREF: "func", EXTERNREF: "extern"}.get(t, f"<0x{t:02x}>")


def _constant_name(mnemonic: str) -> str:
    return mnemonic.upper().replace(".", "_")


# Constants for every opcode by name: I32_ADD, LOCAL_GET, BR_TABLE, SELECT_T, ...
for _n, _op in BY_NAME.items():
    globals()[_constant_name(_n)] = _op
PROBE = OP_PROBE

del _op, _nm, _t, _sz, _s, _n
