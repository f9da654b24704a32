"""Tests of the disassembler (wizardpy.disasm)."""
from __future__ import annotations

import pytest
from spec_cache import wat2wasm
from test_validation import GRAPHVIZ

from wizardpy import opcodes as ops
from wizardpy.binary import decode_module
from wizardpy.disasm import disassemble, format_module_summary, iter_instructions
from wizardpy.validation import validate_module

FIB = """(module $demo
  (import "env" "log" (func $log (param i32)))
  (memory 1)
  (func $fib (export "fib") (param $n i32) (result i32)
    local.get $n
    i32.const 2
    i32.lt_s
    if (result i32)
      local.get $n
    else
      local.get $n
      i32.const 1
      i32.sub
      call $fib
      local.get $n
      i32.const 2
      i32.sub
      call $fib
      i32.add
    end)
  (func $misc (param i32) (result f64)
    block $b1
    block $b2
      local.get 0
      br_table 0 1 0
    end
    end
    i32.const 0 i64.load offset=8 drop
    f64.const -1.5))"""


@pytest.fixture(scope="module")
def mod():
    return decode_module(wat2wasm(FIB))


def test_iter_instructions_matches_validator(mod):
    fcs = validate_module(mod)
    for fc in fcs:
        got = [(pc, op) for pc, op, _ in iter_instructions(mod, fc.index)]
        assert got == fc.instrs


def test_iter_instructions_immediates(mod):
    instrs = list(iter_instructions(mod, 2))
    assert instrs[0] == (1, ops.BLOCK, (None, 0))
    assert instrs[3][1:] == (ops.BR_TABLE, ((0, 1), 0))
    assert (ops.I64_LOAD, (3, 8)) in [(op, imm) for _, op, imm in instrs]
    assert instrs[-2][1:] == (ops.F64_CONST, (0xBFF8000000000000,))


def test_disassemble_lines(mod):
    lines = disassemble(mod, 1)
    assert lines[0] == "  +1   local.get 0"
    assert lines[3] == "  +6   if (result i32)"
    assert lines[4] == "  +8     local.get 0"
    assert '  +16    call 1 <"fib">' in lines
    assert lines[-1] == "  +27  end"
    lines2 = disassemble(mod, 2)
    assert "  +7       br_table 0 1 0" in lines2
    assert any(line.endswith("i64.load offset=8") for line in lines2)
    assert lines2[-2].endswith("f64.const -1.5")


def test_imported_function_has_no_body(mod):
    with pytest.raises(ValueError):
        disassemble(mod, 0)


def test_module_summary(mod):
    text = format_module_summary(mod)
    assert "module 'demo'" in text
    assert 'func "log" = env.log: func (type 0) [i32] -> []' in text
    assert "'fib': func \"fib\"" in text
    assert 'func "fib" (#1): type 1 [i32] -> [i32], 0 locals, 28 bytes' in text
    assert "functions: 2 defined, 1 imported" in text


def test_graphviz_disassembles():
    m = decode_module(GRAPHVIZ.read_bytes())
    n = 0
    for fi in range(m.num_imported_funcs, m.num_imported_funcs + 50):
        n += len(disassemble(m, fi))
    assert n > 1000
    assert "functions: 1205 defined" in format_module_summary(m)
