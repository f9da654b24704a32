#!/usr/bin/env python3
"""Build the workloads: ``python workloads/build.py [name ...]``.

Every directory ``workloads/<name>/`` holding ``<name>.c`` is a workload. Each one is compiled
with zig's clang (PyPI ``ziglang``) to ``workloads/<name>/<name>.wasm`` (wasm32-wasi, -O2,
stripped, restricted to the features the engine implements) and the result is validated with
``wasm-tools validate`` against exactly those features. Workloads listed in ``DEBUG_BUILDS``
are additionally built with DWARF (``-g``, no ``-s``) as ``<name>.debug.wasm``.

Exit status is non-zero (with the compiler / validator output) if anything fails.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent

# -mcpu: the wasm feature set wizardpy supports (no SIMD, no threads, no tail calls, no GC...).
CPU = "mvp+bulk_memory+sign_ext+nontrapping_fptoint+multivalue+mutable_globals"
CFLAGS = ["--target=wasm32-wasi", "-O2", f"-mcpu={CPU}"]
# The same feature set, spelled for wasm-tools (reference-types is accepted by the engine too).
VALIDATE_FEATURES = ("mvp,bulk-memory,sign-extension,saturating-float-to-int,multi-value,"
                     "mutable-global,reference-types")
DEBUG_BUILDS = {"lindblad"}          # also built as <name>.debug.wasm with DWARF
DEBUG_MAX_BYTES = 5 * 1024 * 1024


def all_workloads() -> list[str]:
    return sorted(p.name for p in HERE.iterdir() if p.is_dir() and (p / f"{p.name}.c").is_file())


def wasm_tools() -> list[str]:
    exe = shutil.which("wasm-tools", path=os.pathsep.join(
        [str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if exe:
        return [exe]
    return [sys.executable, "-m", "wasm_tools"]


def run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"command failed ({proc.returncode}): {' '.join(cmd)}\n"
                           f"{proc.stdout}{proc.stderr}")


def compile_one(name: str, debug: bool) -> tuple[str, Path, float]:
    src = HERE / name / f"{name}.c"
    out = HERE / name / (f"{name}.debug.wasm" if debug else f"{name}.wasm")
    tmp = out.with_suffix(out.suffix + ".tmp")
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "ziglang", "cc", *CFLAGS, "-g" if debug else "-s",
           "-o", str(tmp), str(src), "-lm"]
    run(cmd)
    run([*wasm_tools(), "validate", f"--features={VALIDATE_FEATURES}", str(tmp)])
    if debug and tmp.stat().st_size > DEBUG_MAX_BYTES:
        raise RuntimeError(f"{out.name} is {tmp.stat().st_size} bytes (> {DEBUG_MAX_BYTES})")
    os.replace(tmp, out)
    return name, out, time.perf_counter() - t0


def main(argv: list[str]) -> int:
    names = argv or all_workloads()
    unknown = [n for n in names if not (HERE / n / f"{n}.c").is_file()]
    if unknown:
        print(f"build.py: no such workload(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    jobs = [(n, False) for n in names] + [(n, True) for n in names if n in DEBUG_BUILDS]
    print(f"building {len(jobs)} module(s) with 2 workers: "
          + ", ".join(n + (" (debug)" if d else "") for n, d in jobs), flush=True)
    failures = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {pool.submit(compile_one, n, d): (n, d) for n, d in jobs}
        done = 0
        for fut in futures:
            n, d = futures[fut]
            try:
                _, out, secs = fut.result()
                done += 1
                print(f"[{done}/{len(jobs)}] ok   {out.relative_to(HERE.parent)} "
                      f"({out.stat().st_size} bytes, {secs:.1f} s)", flush=True)
            except Exception as exc:  # noqa: BLE001 - report every failure, then fail
                done += 1
                failures.append((n, d, exc))
                print(f"[{done}/{len(jobs)}] FAIL {n}{' (debug)' if d else ''}\n{exc}",
                      file=sys.stderr, flush=True)
    if failures:
        print(f"build.py: {len(failures)} failure(s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
