"""The WebAssembly 2.0 core spec suite: one test per top-level .wast (not simd/).

The scripts live outside the repo: `$WIZARDPY_SPEC_DIR`, else `<repo>/../shared/wasm-spec/2.0`.
A missing directory is a failure, never a skip (CI has it). Conversion (wast2json, cached outside
the repo) is `wizardpy.wast.convert_wast`, the one implementation.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from wizardpy import EngineConfig
from wizardpy.wast import run_wast

REPO = Path(__file__).resolve().parent.parent
SPEC_DIR = Path(os.environ.get("WIZARDPY_SPEC_DIR") or REPO.parent / "shared" / "wasm-spec" / "2.0")
WAST_FILES = sorted(SPEC_DIR.glob("*.wast")) if SPEC_DIR.is_dir() else []


def test_spec_dir_present():
    assert SPEC_DIR.is_dir(), (
        f"spec test directory {SPEC_DIR} is missing: set WIZARDPY_SPEC_DIR to a directory with "
        f"the WebAssembly 2.0 .wast files (tag wg-2.0 of WebAssembly/spec)")
    assert WAST_FILES, f"no .wast files in {SPEC_DIR}"


# "tiered" with thresholds 1: every function is compiled at its first call and every
# interpreted loop continues in compiled code (OSR) at its first iteration
TIER_CONFIGS = {"int": dict(tier="int"), "jit": dict(tier="jit"),
                "tiered": dict(tier="tiered", jit_threshold=1, jit_osr=True,
                               jit_osr_threshold=1)}


@pytest.mark.parametrize("tier", list(TIER_CONFIGS))
@pytest.mark.parametrize("wast", WAST_FILES or [SPEC_DIR / "<missing>.wast"],
                         ids=lambda p: p.stem)
def test_spec(wast: Path, tier: str):
    assert wast.is_file(), f"spec script {wast} is missing (spec dir {SPEC_DIR})"
    res = run_wast(wast, EngineConfig(**TIER_CONFIGS[tier]))
    report = res.report(wast.name)
    print(report)
    assert res.failed == 0, report


# ---- the runner itself: wrong expectations must fail, and one bad command must not stop it ----

RUNNER_SELF_TEST = r"""
(module $M
  (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
  (func (export "div") (param i32 i32) (result i32) local.get 0 local.get 1 i32.div_s)
  (func (export "nan32") (result f32) f32.const nan:0x600000)
  (func (export "cnan64") (result f64) f64.const nan)
  (func (export "id_ext") (param externref) (result externref) local.get 0)
  (func $loop (export "loop") (param i32) (result i32) local.get 0 call $loop)
  (global (export "g") f64 (f64.const -0x1.8p1)))
(register "M" $M)
(module (import "M" "add" (func $add (param i32 i32) (result i32)))
        (import "spectest" "global_i32" (global i32))
        (func (export "add2") (param i32) (result i32) local.get 0 global.get 0 call $add))
(assert_return (invoke "add2" (i32.const 1)) (i32.const 667))
(assert_return (invoke $M "add" (i32.const -1) (i32.const 0)) (i32.const 0xffffffff))
(assert_return (invoke $M "nan32") (f32.const nan:arithmetic))
(assert_return (invoke $M "cnan64") (f64.const nan:canonical))
(assert_return (invoke $M "id_ext" (ref.extern 7)) (ref.extern 7))
(assert_return (invoke $M "id_ext" (ref.null extern)) (ref.null extern))
(assert_return (get $M "g") (f64.const -3))
(assert_trap (invoke $M "div" (i32.const 1) (i32.const 0)) "integer divide by zero")
(assert_exhaustion (invoke $M "loop" (i32.const 0)) "call stack exhausted")
(assert_invalid (module (func (result i32) i64.const 0)) "type mismatch")
(assert_malformed (module binary "\00asm\02\00\00\00") "unknown binary version")
(assert_malformed (module quote "(func") "unexpected token")
(assert_unlinkable (module (import "M" "nope" (func))) "unknown import")
(assert_trap (module (func $u unreachable) (start $u)) "unreachable")
;; every one of the following is wrong on purpose
(assert_return (invoke $M "add" (i32.const 1) (i32.const 1)) (i32.const 3))
(assert_return (invoke $M "nan32") (f32.const nan:canonical))
(assert_return (invoke $M "cnan64") (f64.const 0))
(assert_return (invoke $M "id_ext" (ref.extern 7)) (ref.extern 8))
(assert_return (invoke $M "id_ext" (ref.extern 7)) (ref.null extern))
(assert_return (get $M "g") (f64.const 3))
(assert_trap (invoke $M "div" (i32.const 1) (i32.const 1)) "integer divide by zero")
(assert_trap (invoke $M "div" (i32.const 1) (i32.const 0)) "integer overflow")
(assert_invalid (module (func (result i32) i32.const 0)) "type mismatch")
(assert_malformed (module binary "\00asm\01\00\00\00") "whatever")
(assert_unlinkable (module (import "M" "add" (func (param i32 i32) (result i32)))) "x")
(assert_trap (module (func $u) (start $u)) "unreachable")
(assert_return (invoke "add2" (i32.const 1)) (i32.const 667))
"""


def test_runner_self_check(tmp_path):
    script = tmp_path / "selfcheck.wast"
    script.write_text(RUNNER_SELF_TEST)
    res = run_wast(script)
    print(res.report(script.name))
    assert res.skipped == 1                       # the text-format assert_malformed
    assert res.failed == 12, res.report(script.name)
    assert res.passed == 3 + 13 + 1, res.report(script.name)
    first_wrong = RUNNER_SELF_TEST.splitlines().index(
        ";; every one of the following is wrong on purpose") + 2
    assert all(line >= first_wrong for line, _ in res.failures)
