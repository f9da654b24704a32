"""What does instrumentation support cost when no probe is inserted? (ARCHITECTURE.md §3: "with no
probe inserted, execution is exactly as fast as an engine with no instrumentation support".)

    python bench/probe_free.py [--reps 5] [--quick] [--only fib,lindblad] [--json FILE]

Builds the native extension three times from the same sources with the same flags
(native/build_native.py's CFLAGS), under other module names, into a temporary directory:

* `full`    — the engine as shipped (OP_PROBE handler, entry_ip, global-probe hook);
* `noprobe` — `-DWZ_NO_PROBES` (native/interp.c): no OP_PROBE handler, calls always start at
  ip 1, the hook table serves resource limits only — an engine without instrumentation support;
* `nohook`  — `-DWZ_NO_HOOKS`: additionally no hook table at all (no resource limits either):
  dispatch through the constant handler table. The hook table is shared by global probes and
  resource limits, so this bounds what the switchable dispatch costs;
* `control` — `-DWZ_LAYOUT_CONTROL`: the full engine plus one dead handler that never runs.
  It computes exactly what `full` computes, so its spread against `full` is what code layout
  (register allocation, alignment of the computed-goto handlers) alone does to the timings:
  differences of that size between `full` and `noprobe` are not the cost of instrumentation.

Then it times, in the interpreter tier with no probe inserted, the compute kernels of
bench/kernels (fib, matmul, sieve, rk4, mix64) and three WASI workloads. Each repetition runs
one child process per variant, interleaved (full, noprobe, nohook, full, ...); a child loads
its variant as `wizardpy._native`, warms up once per benchmark and reports the fastest of 5 timed
calls, in CPU time of the process (`time.process_time`: on a shared machine far less noisy than
wall time; the interpreter runs on the calling thread). Reported per benchmark: the median over
the repetitions of variant time / full time of the same repetition, with min–max; ratio > 1
means the variant is slower than the shipped engine.
"""
from __future__ import annotations

import argparse
import importlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = {"full": [], "noprobe": ["-DWZ_NO_PROBES"], "nohook": ["-DWZ_NO_HOOKS"],
            "control": ["-DWZ_LAYOUT_CONTROL"]}

# name -> (kind, size): kernels are called as exports[name](size); workloads run _start
BENCHES = {
    "fib": ("kernel", 32), "matmul": ("kernel", 200), "sieve": ("kernel", 8_000_000),
    "rk4": ("kernel", 1_500_000), "mix64": ("kernel", 10_000_000),
    "lindblad": ("wasi", 1), "policy-cliff": ("wasi", 16), "sso": ("wasi", 2),
}
REPEAT = 5          # timed calls per child; the child reports the fastest (CPU time)
QUICK = {"fib": 25, "matmul": 60, "sieve": 400_000, "rk4": 80_000, "mix64": 600_000,
         "lindblad": 1, "policy-cliff": 2, "sso": 1}


def build(variant: str, outdir: Path) -> str:
    """Compile the variant into outdir; returns its module name."""
    sys.path.insert(0, str(ROOT / "native"))
    import build_native as bn
    from cffi import FFI

    name = f"_wz_pf_{variant}"
    fb = FFI()
    fb.cdef(bn.header_cdef() + bn.CALLBACKS)
    fb.set_source(
        name, '#include "wizard.h"\n' + bn.PROBE_SHIM,
        sources=[str(ROOT / "native" / n) for n in ("interp.c", "runtime.c", "jit_support.c",
                                                   "fusion.c")],
        include_dirs=[str(ROOT / "native")],
        libraries=["pthread"],
        extra_compile_args=bn.CFLAGS + VARIANTS[variant])
    fb.compile(tmpdir=str(outdir / f"build-{variant}"))
    so = next((outdir / f"build-{variant}").glob(f"{name}*.so"))
    os.replace(so, outdir / so.name)
    return name


# ------------------------------------------------------------------------------ child process

def child(libdir: str, modname: str, names: list[str], sizes: dict) -> dict:
    sys.path.insert(0, libdir)
    sys.modules["wizardpy._native"] = importlib.import_module(modname)
    sys.path.insert(0, str(ROOT))
    import wizardpy as w

    out = {}
    for n in names:
        kind, _ = BENCHES[n]
        size = sizes[n]
        if kind == "kernel":
            engine = w.Engine(tier="int")
            mod = w.Module(engine, (ROOT / "bench" / "kernels" / f"{n}.wasm").read_bytes())
            fn = w.Instance(engine, mod, []).exports[n]

            def call(fn=fn, size=size):
                t0 = time.process_time()
                fn(size)
                return time.process_time() - t0
        else:
            data = (ROOT / "workloads" / n / f"{n}.wasm").read_bytes()

            def call(n=n, size=size, data=data):
                engine = w.Engine(tier="int")
                mod = w.Module(engine, data)
                linker = w.Linker(engine)
                linker.define_wasi(w.WasiConfig(argv=[n, str(size)], stdout=io.BytesIO(),
                                                stderr=io.BytesIO()))
                start = linker.instantiate(mod).exports["_start"]
                t0 = time.process_time()
                try:
                    start()
                except w.ExitStatus:
                    pass
                return time.process_time() - t0
        call()                                   # warm-up
        out[n] = min(call() for _ in range(REPEAT))
    return out


# ------------------------------------------------------------------------------ parent

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    ap.add_argument("--only", default="", help="comma-separated benchmarks (default: all)")
    ap.add_argument("--variants", default="full,noprobe,nohook,control")
    ap.add_argument("--json", default=None, help="write the raw times here")
    ap.add_argument("--child", nargs=3, metavar=("LIBDIR", "MODULE", "SPEC"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        libdir, mod, spec = a.child
        spec = json.loads(spec)
        print(json.dumps(child(libdir, mod, spec["names"], spec["sizes"])))
        return 0
    names = [n for n in (a.only.split(",") if a.only else BENCHES)]
    sizes = {n: (QUICK[n] if a.quick else BENCHES[n][1]) for n in names}
    variants = a.variants.split(",")
    if variants[0] != "full":
        raise SystemExit("the first variant must be 'full' (the reference)")
    times: dict = {v: {n: [] for n in names} for v in variants}
    with tempfile.TemporaryDirectory(prefix="wizardpy-probefree-") as tmp:
        tmp = Path(tmp)
        mods = {}
        for v in variants:
            t0 = time.perf_counter()
            mods[v] = build(v, tmp)
            print(f"built {v} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
        spec = json.dumps({"names": names, "sizes": sizes})
        for rep in range(a.reps):
            order = variants[rep % len(variants):] + variants[:rep % len(variants)]
            for v in order:
                r = subprocess.run([sys.executable, __file__, "--child", str(tmp), mods[v], spec],
                                   capture_output=True, text=True, cwd=str(ROOT))
                if r.returncode:
                    print(r.stderr, file=sys.stderr)
                    return 1
                got = json.loads(r.stdout.strip().splitlines()[-1])
                for n in names:
                    times[v][n].append(got[n])
            print(f"rep {rep + 1}/{a.reps} done", file=sys.stderr, flush=True)
    print(f"{'benchmark':14s} {'size':>9s} {'full (ms)':>10s}" +
          "".join(f"  {v + ' / full':>24s}" for v in variants[1:]))
    summary = {}
    for n in names:
        full = times["full"][n]
        line = f"{n:14s} {sizes[n]:>9} {statistics.median(full) * 1e3:>10.1f}"
        for v in variants[1:]:
            rs = [x / y for x, y in zip(times[v][n], full)]
            summary.setdefault(v, []).append(statistics.median(rs))
            line += f"  {statistics.median(rs):>7.3f} [{min(rs):.3f}-{max(rs):.3f}]"
        print(line)
    for v, meds in summary.items():
        g = statistics.geometric_mean(meds)
        pct = (1 / g - 1) * 100
        print(f"geomean of medians {v} / full: {g:.3f}  (the shipped engine is "
              f"{abs(pct):.1f}% {'slower' if pct >= 0 else 'faster'} than {v})")
    if a.json:
        Path(a.json).write_text(json.dumps({"sizes": sizes, "times": times}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
