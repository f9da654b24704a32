"""Rebuild the benchmark kernels: bench/kernels/<k>.c -> bench/kernels/<k>.wasm.

    python -m bench.kernels.build            # all kernels
    python -m bench.kernels.build fib sieve  # some

The .wasm files are committed, so running the benchmark never needs a C compiler.
Freestanding wasm32 (no libc, no WASI imports): every peer engine can run them.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
KERNELS = ("fib", "matmul", "sieve", "rk4", "mix64")

CFLAGS = [
    "--target=wasm32-freestanding", "-O2", "-s", "-nostdlib", "-Wl,--no-entry",
    "-mcpu=mvp+bulk_memory+sign_ext+nontrapping_fptoint+multivalue+mutable_globals",
]


def build(name: str) -> Path:
    src = HERE / f"{name}.c"
    out = HERE / f"{name}.wasm"
    cmd = [sys.executable, "-m", "ziglang", "cc", *CFLAGS, "-o", str(out), str(src)]
    subprocess.run(cmd, check=True, cwd=HERE)
    return out


def main(argv: list[str] | None = None) -> int:
    names = (argv if argv is not None else sys.argv[1:]) or list(KERNELS)
    for name in names:
        out = build(name)
        print(f"built {out.relative_to(HERE.parent.parent)} ({out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
