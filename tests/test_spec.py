"""The WebAssembly 2.0 core spec suite: one test per top-level .wast (not simd/).

The scripts live outside the repo: `$WIZARDPY_SPEC_DIR`, else `<repo>/../shared/wasm-spec/2.0`.
A missing directory is a failure, never a skip (CI has it). Conversion (wast2json, cached outside
the repo) is `wizardpy.wast.convert_wast`, the one implementation.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from wizardpy.wast import run_wast

REPO = Path(__file__).resolve().parent.parent
SPEC_DIR = Path(os.environ.get("WIZARDPY_SPEC_DIR") or REPO.parent / "shared" / "wasm-spec" / "2.0")
WAST_FILES = sorted(SPEC_DIR.glob("*.wast")) if SPEC_DIR.is_dir() else []


def test_spec_dir_present():
    assert SPEC_DIR.is_dir(), (
        f"spec test directory {SPEC_DIR} is missing: set WIZARDPY_SPEC_DIR to a directory with "
        f"the WebAssembly 2.0 .wast files (tag wg-2.0 of WebAssembly/spec)")
    assert WAST_FILES, f"no .wast files in {SPEC_DIR}"


@pytest.mark.parametrize("wast", WAST_FILES or [SPEC_DIR / "<missing>.wast"],
                         ids=lambda p: p.stem)
def test_spec(wast: Path):
    assert wast.is_file(), f"spec script {wast} is missing (spec dir {SPEC_DIR})"
    res = run_wast(wast)
    report = res.report(wast.name)
    print(report)
    assert res.failed == 0, report
