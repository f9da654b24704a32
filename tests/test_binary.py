"""Tests of the binary decoder (wizardpy.binary), the LEB128 readers and the opcode table."""
from __future__ import annotations

import json

import pytest
from spec_cache import converted_spec_dir, spec_dir, wat2wasm

from wizardpy import opcodes as ops
from wizardpy.binary import decode_module
from wizardpy.errors import DecodeError, ValidationError
from wizardpy.leb128 import read_s32, read_s33, read_s64, read_u32, read_u64
from wizardpy.syntax import FUNC, GLOBAL, MEMORY, TABLE
from wizardpy.types import EXTERNREF, F64, FUNCREF, I32, I64, GlobalType, Limits

HDR = b"\x00asm\x01\x00\x00\x00"

ALL_SECTIONS = r"""
(module $everything
  (type $t0 (func (param i32 i64) (result f64)))
  (type $t1 (func))
  (import "env" "f" (func $imp (type $t1)))
  (import "env" "tab" (table 2 10 funcref))
  (import "env" "g" (global $gi i32))
  (memory 1 3)
  (global $gm (mut i64) (i64.const -5))
  (global $gr funcref (ref.func $a))
  (export "a" (func $a))
  (export "mem" (memory 0))
  (start $s)
  (elem (i32.const 1) $a $s)
  (elem $p funcref (ref.func $a) (ref.null func))
  (elem declare func $s)
  (data (i32.const 8) "hello")
  (data $d "passive")
  (func $a (type $t0) (local $x i32) (local f32 f32)
    f64.const 1.5)
  (func $s
    i32.const 0 i32.const 0 i32.const 1 memory.init $d
    data.drop $d))
"""


def test_all_sections_and_names():
    m = decode_module(wat2wasm(ALL_SECTIONS))
    assert [str(t) for t in m.types] == ["[i32 i64] -> [f64]", "[] -> []"]
    assert [(i.module, i.name, i.kind) for i in m.imports] == [
        ("env", "f", FUNC), ("env", "tab", TABLE), ("env", "g", GLOBAL)]
    assert m.imports[1].desc.limits == Limits(2, 10)
    assert m.imports[2].desc == GlobalType(I32, False)
    assert m.funcs == [0, 1]
    assert m.memories[0].limits == Limits(1, 3)
    assert m.globals[0].type == GlobalType(I64, True)
    assert m.globals[0].init.instrs == [(0x42, -5)]
    assert m.globals[1].init.instrs == [(0xD2, 1)]
    assert [(e.name, e.kind, e.index) for e in m.exports] == [("a", FUNC, 1), ("mem", MEMORY, 0)]
    assert m.start == 2
    assert [e.mode for e in m.elems] == ["active", "passive", "declarative"]
    assert m.elems[0].offset.instrs == [(0x41, 1)]
    assert [c.instrs for c in m.elems[0].init] == [[(0xD2, 1)], [(0xD2, 2)]]
    assert [c.instrs for c in m.elems[1].init] == [[(0xD2, 1)], [(0xD0, FUNCREF)]]
    assert [(d.mode, d.data) for d in m.datas] == [("active", b"hello"), ("passive", b"passive")]
    assert m.data_count == 2
    assert m.codes[0].locals == [(1, I32), (2, 0x7D)]
    assert m.names.module == "everything"
    assert m.names.funcs == {0: "imp", 1: "a", 2: "s"}
    assert m.names.locals[1] == {2: "x"}
    assert m.func_name(1) == '"a"'
    assert m.num_funcs == 3


def test_body_offsets_match_module_bytes():
    data = wat2wasm(ALL_SECTIONS)
    m = decode_module(data)
    for body in m.codes:
        # the byte just before the body is its size (one-byte LEB here), the last is `end`
        assert data[body.body_offset - 1] == body.size
        assert data[body.body_offset + body.size - 1] == 0x0B
    assert m.codes[0].instr_offset == 5   # 2 local groups: count byte + 2*(n, type)
    assert m.code_section_offset < m.codes[0].body_offset


def test_all_elem_and_data_encodings():
    """Hand-built: the 8 element segment encodings and the 3 data segment encodings."""
    def vec(items):
        return bytes([len(items)]) + b"".join(items)

    def section(sid, payload):
        return bytes([sid, len(payload)]) + payload
    end = b"\x0b"
    off = b"\x41\x00" + end
    types = section(1, vec([b"\x60\x00\x00"]))
    funcs = section(3, vec([b"\x00"]))
    tables = section(4, vec([b"\x70\x00\x01", b"\x6f\x00\x01"]))
    mems = section(5, vec([b"\x00\x01"]))
    elems = section(9, vec([
        b"\x00" + off + b"\x01\x00",
        b"\x01\x00\x01\x00",
        b"\x02\x00" + off + b"\x00\x01\x00",
        b"\x03\x00\x01\x00",
        b"\x04" + off + b"\x01\xd2\x00" + end,
        b"\x05\x6f\x01\xd0\x6f" + end,
        b"\x06\x01" + off + b"\x6f\x01\xd0\x6f" + end,
        b"\x07\x70\x01\xd2\x00" + end,
    ]))
    datacount = section(12, b"\x03")
    code = section(10, vec([b"\x02\x00\x0b"]))
    datas = section(11, vec([b"\x00" + off + b"\x01a", b"\x01\x02bc", b"\x02\x00" + off + b"\x00"]))
    m = decode_module(HDR + types + funcs + tables + mems + elems + datacount + code + datas)
    assert [e.mode for e in m.elems] == ["active", "passive", "active", "declarative",
                                         "active", "passive", "active", "declarative"]
    assert [e.elem_type for e in m.elems] == [FUNCREF] * 5 + [EXTERNREF, EXTERNREF, FUNCREF]
    assert m.elems[6].table == 1
    assert [(d.mode, d.data) for d in m.datas] == [("active", b"a"), ("passive", b"bc"),
                                                  ("active", b"")]
    from wizardpy.validation import validate_module
    validate_module(m)


@pytest.mark.parametrize("data, message, offset", [
    (b"", "unexpected end", 0),
    (b"\x00asm\x01", "unexpected end", 5),
    (b"\x00asX\x01\x00\x00\x00", "magic header not detected", 0),
    (b"\x00asm\x02\x00\x00\x00", "unknown binary version", 4),
    (HDR + b"\x0d\x00", "malformed section id", 8),
    (HDR + b"\x01\x05\x01\x60\x00\x00", "length out of bounds", 10),
    (HDR + b"\x01\x04\x01\x60\x00\x00\x01\x01\x00", "unexpected content after last section", 14),
    (HDR + b"\x01\x05\x01\x60\x00\x00\x00", "section size mismatch", 14),
    (HDR + b"\x03\x02\x01\x00", "function and code section have inconsistent lengths", 12),
    (HDR + b"\x02\x04\x01\x00\x00\x04", "malformed import kind", 13),
    (HDR + b"\x02\x06\x01\x00\x00\x03\x7f\x02", "malformed mutability", 15),
    (HDR + b"\x02\x06\x01\x01\xff\x00\x00\x00", "malformed UTF-8 encoding", 12),
    (HDR + b"\x05\x07\x01\x00\x80\x80\x80\x80\x10", "integer too large", 16),
    (HDR + b"\x05\x07\x01\x00\x80\x80\x80\x80\x80\x00", "integer representation too long", 12),
    (HDR + b"\x0c\x01\x01", "data count and data section have inconsistent lengths", 11),
    (HDR + b"\x04\x04\x01\x71\x00\x00", "malformed reference type", 11),
])
def test_decode_errors_with_offsets(data, message, offset):
    with pytest.raises(DecodeError) as ei:
        decode_module(data)
    assert ei.value.message == message
    assert ei.value.offset == offset


def test_truncations_always_raise_decode_error():
    data = wat2wasm(ALL_SECTIONS)
    from wizardpy.validation import validate_module
    for cut in range(len(data)):
        try:
            validate_module(decode_module(data[:cut]))
        except DecodeError as e:
            assert e.offset is not None and 0 <= e.offset <= cut
        except ValidationError:
            pass      # cutting whole trailing sections can leave a well-formed but invalid module
        else:
            # only a cut at a section boundary may still be well-formed
            pass


def test_malformed_body_is_decode_error_with_absolute_offset():
    from wizardpy.validation import validate_module
    base = wat2wasm("(module (func i32.const 1 drop))")
    m = decode_module(base)
    at = m.codes[0].body_offset + m.codes[0].instr_offset
    bad = bytearray(base)
    bad[at] = 0x06                     # not an opcode
    with pytest.raises(DecodeError) as ei:
        validate_module(decode_module(bytes(bad)))
    assert (ei.value.message, ei.value.offset) == ("illegal opcode", at)
    bad[at] = 0xFD                     # SIMD prefix
    with pytest.raises(DecodeError, match="SIMD is not supported"):
        validate_module(decode_module(bytes(bad)))


def test_malformed_name_section_is_ignored():
    data = wat2wasm("(module $m (func $f))")
    m = decode_module(data)
    assert m.names.funcs == {0: "f"}
    i = data.index(b"\x04name")
    # corrupt the first subsection's size to run past the section end
    bad = bytearray(data)
    bad[i + 6] = 0x7F
    m2 = decode_module(bytes(bad))
    assert m2.names.funcs == {} and m2.names.module is None


def test_too_many_locals():
    body = b"\x07\x01\x80\x80\x80\x80\x04\x7f\x0b"
    data = HDR + b"\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00\x0a\x0a\x01" + body
    with pytest.raises(DecodeError, match="too many locals"):
        decode_module(data)


def test_leb128_rules():
    assert read_u32(b"\xe5\x8e\x26", 0, 3) == (624485, 3)
    assert read_u32(b"\xff\xff\xff\xff\x0f", 0, 5) == (0xFFFFFFFF, 5)
    assert read_s32(b"\x7f", 0, 1) == (-1, 1)
    assert read_s32(b"\x80\x80\x80\x80\x78", 0, 5) == (-(1 << 31), 5)
    assert read_s64(b"\xc0\xbb\x78", 0, 3) == (-123456, 3)
    assert read_u64(b"\xff" * 9 + b"\x01", 0, 10) == ((1 << 64) - 1, 10)
    assert read_s33(b"\x80\x80\x80\x80\x70", 0, 5) == (-(1 << 32), 5)
    for fn, data, msg in [
        (read_u32, b"\x80\x80\x80\x80\x10", "integer too large"),
        (read_u32, b"\x80\x80\x80\x80\x80\x00", "integer representation too long"),
        (read_s32, b"\x80\x80\x80\x80\x70", "integer too large"),
        (read_s64, b"\x80" * 9 + b"\x01", "integer too large"),
        (read_u32, b"\x80", "unexpected end"),
    ]:
        with pytest.raises(DecodeError, match=msg):
            fn(data, 0, len(data))


def test_opcode_table():
    assert ops.I32_ADD == 0x6A and ops.name(0x6A) == "i32.add"
    assert ops.MEMORY_INIT == 0x108 and ops.I64_TRUNC_SAT_F64_U == 0x107
    assert ops.OP_PROBE == 0x120 and ops.SELECT_T == 0x1C
    assert ops.is_load(ops.I64_LOAD32_U) and not ops.is_load(ops.I32_STORE)
    assert ops.is_store(ops.I64_STORE8) and ops.access_size(ops.I64_STORE8) == 1
    assert ops.access_size(ops.F64_LOAD) == 8
    assert ops.FAMILY[ops.CALL] == "call" and ops.FAMILY[ops.BR_IF] == "branch"
    assert ops.FAMILY[ops.I32_CONST] == "const" and ops.FAMILY[ops.F64_PROMOTE_F32] == "convert"
    assert ops.SIGNATURES[ops.I64_EQZ] == ((I64,), (I32,))
    assert ops.SIGNATURES[ops.F64_CONVERT_I32_S] == ((I32,), (F64,))
    # every single-byte 2.0 opcode 0x45..0xC4 is a numeric op with a signature
    assert all(op in ops.SIGNATURES for op in range(0x45, 0xC5))
    assert len(ops.VALID_OPCODES) == 201


def _spec_binary_commands():
    out = []
    for wast in sorted(spec_dir().glob("*.wast")):
        d = converted_spec_dir(wast)
        for c in json.loads((d / f"{wast.stem}.json").read_text())["commands"]:
            if c["type"] == "assert_malformed" and c.get("module_type") == "binary":
                out.append((wast.name, c["line"], d / c["filename"], c["text"]))
    return out


def test_spec_assert_malformed_binary():
    """Every binary assert_malformed module of the spec suite raises DecodeError."""
    from wizardpy.validation import validate_module
    cmds = _spec_binary_commands()
    assert len(cmds) > 700
    wrong = []
    for name, line, path, text in cmds:
        try:
            validate_module(decode_module(path.read_bytes()))
            wrong.append((name, line, text, "accepted"))
        except DecodeError:
            pass
        except Exception as e:  # noqa: BLE001
            wrong.append((name, line, text, repr(e)))
    assert not wrong, wrong[:20]


def test_corrupted_modules_raise_only_wizard_errors():
    """Random byte edits of spec modules: decode/validate/disassemble fail only with
    DecodeError or ValidationError (never IndexError, KeyError, ...)."""
    import random

    from wizardpy.disasm import disassemble, format_module_summary
    from wizardpy.validation import validate_module
    files = []
    for wast in ("binary.wast", "br_table.wast", "elem.wast", "data.wast", "bulk.wast",
                 "select.wast", "call_indirect.wast", "names.wast"):
        files += sorted(converted_spec_dir(spec_dir() / wast).glob("*.wasm"))
    blobs = [f.read_bytes() for f in files]
    rng = random.Random(1234)
    for _ in range(3000):
        data = bytearray(rng.choice(blobs))
        for _ in range(rng.randint(1, 3)):
            if not data:
                break
            i = rng.randrange(len(data))
            k = rng.random()
            if k < 0.6:
                data[i] = rng.randrange(256)
            elif k < 0.8:
                del data[i]
            else:
                data.insert(i, rng.randrange(256))
        try:
            m = decode_module(bytes(data))
            format_module_summary(m)
            validate_module(m)
            for fi in range(m.num_imported_funcs, m.num_funcs):
                disassemble(m, fi)
        except (DecodeError, ValidationError):
            pass
