"""The native peer: `gcc -O2` builds of the workloads' C sources, run as ordinary processes.

    exe = build("lindblad")                 # cached: ~/.cache/wizardpy/bench-native/<name>-<hash>
    r = run(exe, ["3"])                     # {"time_s", "rss_kb", "stdout", "returncode"}

The cache lives outside the repository (``$WIZARDPY_CACHE`` or ``$XDG_CACHE_HOME/wizardpy`` or
``~/.cache/wizardpy``), keyed by a hash of the source, the compiler version and the flags, so a
changed source or compiler rebuilds and nothing stale is ever run. Each timed run is a whole
process (exec + run + exit: ~1 ms of the time is process start-up), and its peak RSS comes from
``os.wait4`` for that one child.

The workloads are C11 + libm only and print with ``%.10g``: the native output normally equals the
Wasm output byte for byte; where glibc's libm rounds a last bit differently from wasi-libc's (musl),
the benchmark reports the difference as a mismatch like any other engine's.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKLOADS = ROOT / "workloads"
CC = os.environ.get("CC", "gcc")
CFLAGS = ["-O2", "-std=gnu11", "-w"]
LDLIBS = ["-lm"]


class NativeError(Exception):
    pass


def cache_dir() -> Path:
    base = os.environ.get("WIZARDPY_CACHE")
    if base:
        d = Path(base)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        d = (Path(xdg) if xdg else Path.home() / ".cache") / "wizardpy"
    d = d / "bench-native"
    d.mkdir(parents=True, exist_ok=True)
    return d


def compiler_version() -> str:
    exe = shutil.which(CC)
    if exe is None:
        return ""
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.splitlines()[0].strip() if out else ""


def available() -> tuple[bool, str]:
    if shutil.which(CC) is None:
        return False, f"{CC} not found"
    return True, ""


def source(name: str) -> Path:
    return WORKLOADS / name / f"{name}.c"


def build(name: str, log=None) -> tuple[Path, float]:
    """Compile workloads/<name>/<name>.c with gcc -O2 into the cache; (executable, compile seconds;
    0.0 when it was cached). Raises NativeError when the compiler fails."""
    src = source(name)
    if not src.is_file():
        raise NativeError(f"{src} not found")
    ver = compiler_version()
    if not ver:
        raise NativeError(f"{CC} not found")
    h = hashlib.sha256()
    h.update(src.read_bytes())
    h.update("\0".join([ver, *CFLAGS, *LDLIBS]).encode())
    exe = cache_dir() / f"{name}-{h.hexdigest()[:16]}"
    if exe.is_file() and os.access(exe, os.X_OK):
        return exe, 0.0
    tmp = exe.with_name(exe.name + f".tmp{os.getpid()}")
    cmd = [CC, *CFLAGS, "-o", str(tmp), str(src), *LDLIBS]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise NativeError(f"{' '.join(cmd)} failed: {proc.stderr.strip()[-2000:]}")
    os.replace(tmp, exe)
    if log:
        log(f"   native: built {name} in {dt:.1f} s -> {exe}")
    return exe, dt


# A tiny launcher: fork + exec the program, wait4 it, report the child's own wall time and peak
# RSS on stderr. (A child forked from Python would inherit Python's RSS high-water mark across
# exec, so os.wait4 on a Popen child reports ~40 MB for a 1 MB program.)
_LAUNCHER_C = r"""
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/wait.h>
int main(int argc, char **argv) {
    if (argc < 2) return 2;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t p = fork();
    if (p < 0) return 3;
    if (p == 0) { execv(argv[1], argv + 1); _exit(127); }
    int st; struct rusage ru;
    if (wait4(p, &st, 0, &ru) < 0) return 4;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double dt = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
    fprintf(stderr, "\n@@wizardpy-bench %.9f %ld %d\n", dt, (long)ru.ru_maxrss,
            WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
    return 0;
}
"""


def launcher() -> Path:
    h = hashlib.sha256((_LAUNCHER_C + compiler_version()).encode()).hexdigest()[:16]
    exe = cache_dir() / f"_launcher-{h}"
    if exe.is_file():
        return exe
    src = exe.with_suffix(".c")
    src.write_text(_LAUNCHER_C)
    tmp = exe.with_name(exe.name + f".tmp{os.getpid()}")
    proc = subprocess.run([CC, "-O2", "-o", str(tmp), str(src)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise NativeError(f"cannot build the launcher: {proc.stderr.strip()[-2000:]}")
    os.replace(tmp, exe)
    return exe


def run(exe: Path, args: list[str], timeout: float = 600.0) -> dict:
    """Run the executable once: wall time of the process (fork to exit, measured by the
    launcher), its own peak RSS (KiB), its stdout and exit code."""
    import tempfile

    with tempfile.TemporaryFile() as out:
        try:
            proc = subprocess.run([str(launcher()), str(exe), *args], stdout=out,
                                  stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise NativeError(f"{exe.name} {' '.join(args)}: timed out after {timeout:.0f} s") from None
        out.seek(0)
        data = out.read()
    tail = proc.stderr.decode(errors="replace").rstrip().rsplit("\n", 1)[-1].split()
    if proc.returncode != 0 or len(tail) != 4 or tail[0] != "@@wizardpy-bench":
        raise NativeError(f"{exe.name}: launcher failed ({proc.returncode}): {proc.stderr[-500:]!r}")
    return {"time_s": float(tail[1]), "rss_kb": int(tail[2]), "stdout": data, "returncode": int(tail[3])}
