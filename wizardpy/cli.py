"""The `wizardpy` command line: run, wast, inspect.

    wizardpy run [--tier T] [--dir HOST[::GUEST]]... [--env K=V]... [--invoke NAME] app.wasm [args...]
    wizardpy wast [--tier T] FILE.wast...
    wizardpy inspect app.wasm [--func NAME_OR_INDEX]... [--all]
    wizardpy bench [--quick] [--workloads W...] [--tiers T...] [--analyses A...] [--reps N] ...
               (the benchmark suite, bench/suite.py: from a repository checkout only)

Exit codes:
    0          success (`run`: the program's exit code, 0 when `_start` returns)
    1          an error: missing/unreadable file, malformed or invalid module, unresolved import,
               a spec script with failures (`wast`)
    2          bad command-line usage (argparse)
    3          a probe or monitor raised (`wizardpy: probe error: ...` names it, with the Wasm
               location `"func" +pc` and the probe's Python traceback; the other monitors'
               reports are still printed)
    70         internal error of wizardpy (a bug: rerun with --debug for the traceback)
    123        the program ran out of fuel (--fuel N: more than N instructions; trap "fuel exhausted")
    124        the program exceeded --timeout SECONDS (trap "timeout"; as GNU timeout(1) does)
    130        interrupted (Ctrl-C)
    134        the program trapped (as wasmtime does: 128 + SIGABRT), including "call stack
               exhausted" (deeper than --max-call-depth)

Resource limits (--fuel, --timeout, --max-memory, --max-call-depth) cost nothing when absent.
--max-memory caps every linear memory: memory.grow beyond it returns -1, and a module whose
initial memory exceeds it cannot be instantiated (exit 1). Ctrl-C: with --fuel or --timeout the
running Wasm code is stopped cleanly (trap "interrupted", monitor reports still printed, exit 130);
without them the process ends by SIGINT at once (exit 130 too).

Every error is one line on stderr starting with `wizardpy: `; a trap prints its reason on one line
followed by the Wasm backtrace (`  0: func "name" +pc`). Never a Python traceback unless --debug.

Extension points: options shared by every command that runs Wasm go in `add_engine_options`
(e.g. --fuel) and become `EngineConfig` fields in `engine_config_from_args`; options of `run`
(e.g. --monitor, --stats) go in `add_run_options` and are applied in `cmd_run` around the call.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import traceback
from pathlib import Path

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70
EXIT_PROBE = 3
EXIT_FUEL = 123
EXIT_TIMEOUT = 124
EXIT_INTERRUPT = 130
EXIT_TRAP = 134

PROG = "wizardpy"
# traps of the resource limits that have an exit code of their own (the others: EXIT_TRAP)
_TRAP_EXIT = {"fuel exhausted": EXIT_FUEL, "timeout": EXIT_TIMEOUT, "interrupted": EXIT_INTERRUPT}


class CliError(Exception):
    """A user-facing error: printed as `wizardpy: error: <message>`."""

    def __init__(self, message: str, code: int = EXIT_ERROR):
        super().__init__(message)
        self.code = code


def _one_line(text: object) -> str:
    lines = [ln.strip() for ln in str(text).strip().splitlines() if ln.strip()]
    return lines[0] if lines else ""


# ----------------------------------------------------------------------------------------------
# Option parsing (all of it here)
# ----------------------------------------------------------------------------------------------

def add_engine_options(p: argparse.ArgumentParser) -> None:
    """Options of every command that executes Wasm. Map new ones in engine_config_from_args."""
    p.add_argument("--tier", default=None, choices=("int", "jit", "tiered"),
                   help="execution tier: int (native interpreter), jit, tiered (default: "
                        "interpreter, hot functions and loops compiled)")
    p.add_argument("--jit-threshold", default=None, type=_pos_int, metavar="N",
                   help="tiered: compile a function at its N-th call (default 1000)")
    p.add_argument("--osr-threshold", default=None, type=_pos_int, metavar="N",
                   help="tiered/jit: continue an interpreted frame in compiled code after N loop "
                        "iterations (on-stack replacement; default 5000)")
    p.add_argument("--fuel", default=None, type=_nonneg_int, metavar="N",
                   help="instruction budget: trap \"fuel exhausted\" (exit 123) after N instructions")
    p.add_argument("--timeout", default=None, type=_pos_float, metavar="SECONDS",
                   help="wall-clock limit of the run: trap \"timeout\" (exit 124)")
    p.add_argument("--max-memory", default=None, type=parse_memory_size, metavar="SIZE",
                   help="cap on any linear memory: bytes (65536, 16M, 1GiB) or pages (256p); "
                        "memory.grow beyond it returns -1")
    p.add_argument("--max-call-depth", default=None, type=_pos_int, metavar="N",
                   help="maximum nesting of Wasm calls (default 30000); deeper traps "
                        "\"call stack exhausted\"")


def _nonneg_int(text: str) -> int:
    try:
        v = int(text.replace("_", ""), 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return v


def _pos_int(text: str) -> int:
    v = _nonneg_int(text)
    if v == 0:
        raise argparse.ArgumentTypeError("expected an integer > 0")
    return v


def _pos_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not v > 0 or v != v or v == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return v


_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20,
               "mb": 1 << 20, "mib": 1 << 20, "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30}


def parse_memory_size(text: str) -> int:
    """--max-memory: `N` bytes (K/M/G, KiB/MiB/GiB: binary multiples) or `Np`/`Npages`
    pages of 64 KiB. Returns pages (bytes rounded down to whole pages; at most 65536)."""
    import re

    m = re.fullmatch(r"\s*(\d+)\s*([a-zA-Z]*)\s*", text.replace("_", ""))
    unit = m.group(2).lower() if m else None
    if m is None or (unit not in _SIZE_UNITS and unit not in ("p", "page", "pages")):
        raise argparse.ArgumentTypeError(
            f"expected a size in bytes (e.g. 16M, 1GiB) or pages (e.g. 256p), got {text!r}")
    n = int(m.group(1))
    pages = n if unit in ("p", "page", "pages") else n * _SIZE_UNITS[unit] // 65536
    return min(pages, 65536)


def add_run_options(p: argparse.ArgumentParser) -> None:
    """Options of `run` (WASI environment, --invoke). --monitor/--stats/--fuel go here."""
    p.add_argument("--dir", action="append", default=[], metavar="HOST[::GUEST]",
                   help="preopen host directory HOST, visible to the program as GUEST")
    p.add_argument("--env", action="append", default=[], metavar="K=V",
                   help="set an environment variable for the program")
    p.add_argument("--stats", action="store_true",
                   help="print execution statistics to stderr after the run: functions "
                        "compiled, compile time, tier-ups, OSR entries, deoptimizations, probe "
                        "firings")
    p.add_argument("--invoke", default=None, metavar="NAME",
                   help="call the exported function NAME with the arguments and print its results")
    p.add_argument("--monitor", action="append", default=[], metavar="NAME[:OPTS]|FILE.py[:OPTS]",
                   help="run a monitor (coverage, hotness, branches, loops, ... or a .py file "
                        "defining a wizardpy.Monitor subclass); its report follows the program's "
                        "output. Repeat for several monitors")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--csv", action="store_true", help="monitor reports as CSV")
    fmt.add_argument("--json", action="store_true", help="monitor reports as one JSON object")
    p.add_argument("--output", default=None, metavar="FILE",
                   help="write monitor reports to FILE instead of stdout")
    p.add_argument("--lcov", default=None, metavar="FILE",
                   help="write an LCOV tracefile (source lines from the module's DWARF .debug_line, "
                        "a -g build) with the counts of --monitor coverage or hotness; "
                        "`genhtml FILE` renders it")


def _add_debug(p: argparse.ArgumentParser, top: bool) -> None:
    p.add_argument("--debug", action="store_true",
                   default=False if top else argparse.SUPPRESS,
                   help="show Python tracebacks of internal errors")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="A WebAssembly engine hosted in Python.")
    _add_debug(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("run", help="run a WASI command or call an exported function",
                       description="Run a WASI command (_start), or call one export with --invoke.")
    add_engine_options(p)
    add_run_options(p)
    _add_debug(p, top=False)
    p.add_argument("wasm", metavar="app.wasm")
    p.add_argument("args", nargs=argparse.REMAINDER,
                   help="program arguments (or the --invoke function's arguments)")
    p.set_defaults(handler=cmd_run, runs_wasm=True)

    p = sub.add_parser("wast", help="run WebAssembly spec test scripts",
                       description="Run .wast spec scripts; exit 0 only if every command passes.")
    add_engine_options(p)
    _add_debug(p, top=False)
    p.add_argument("files", nargs="+", metavar="FILE.wast")
    p.set_defaults(handler=cmd_wast, runs_wasm=True)

    p = sub.add_parser("inspect", help="summarize a module and disassemble functions",
                       description="Types, imports, exports, functions; disassembly with +pc.")
    _add_debug(p, top=False)
    p.add_argument("wasm", metavar="app.wasm")
    p.add_argument("--func", action="append", default=[], metavar="NAME_OR_INDEX",
                   help="disassemble this function (name from the name section or exports, or index)")
    p.add_argument("--all", action="store_true", help="disassemble every defined function")
    p.set_defaults(handler=cmd_inspect)

    p = sub.add_parser("bench", add_help=False,
                       help="run the benchmark suite (repository checkout only; "
                            "`wizardpy bench --help`)",
                       description="The benchmark suite (bench/suite.py).")
    p.add_argument("bench_args", nargs=argparse.REMAINDER)
    p.set_defaults(handler=lambda args: cmd_bench(args.bench_args))
    return parser


def _bench_root():
    """The repository checkout holding bench/suite.py (bench/ is not installed with the package):
    next to this wizardpy package, else the current directory."""
    for root in (Path(__file__).resolve().parent.parent, Path.cwd()):
        if (root / "bench" / "suite.py").is_file():
            return root
    return None


def cmd_bench(argv: list[str]) -> int:
    root = _bench_root()
    if root is None:
        raise CliError("`wizardpy bench` needs a wizardpy repository checkout (bench/ is not "
                       "installed with the package): run it from the repository")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from bench import suite

    return suite.main(list(argv), prog=f"{PROG} bench")


def engine_config_from_args(args: argparse.Namespace):
    from .config import EngineConfig

    cfg = EngineConfig()
    if getattr(args, "tier", None):
        cfg.tier = args.tier
    if getattr(args, "fuel", None) is not None:
        cfg.fuel = args.fuel
    if getattr(args, "timeout", None) is not None:
        cfg.timeout = args.timeout
    if getattr(args, "max_memory", None) is not None:
        cfg.max_memory_pages = args.max_memory
    if getattr(args, "max_call_depth", None) is not None:
        cfg.max_call_depth = args.max_call_depth
    if getattr(args, "jit_threshold", None) is not None:
        cfg.jit_threshold = args.jit_threshold
    if getattr(args, "osr_threshold", None) is not None:
        cfg.jit_osr_threshold = args.osr_threshold
    return cfg


def make_engine(args: argparse.Namespace):
    from . import Engine

    cfg = engine_config_from_args(args)
    try:
        return Engine(cfg)
    except (ValueError, TypeError) as e:
        raise CliError(_one_line(e), EXIT_USAGE) from None


# ----------------------------------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------------------------------

def read_file(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except IsADirectoryError:
        raise CliError(f"{path}: is a directory") from None
    except OSError as e:
        raise CliError(f"{path}: {e.strerror or e}") from None


def load_module(engine, path: str, data: bytes | None = None):
    from . import Module
    from .errors import DecodeError, ValidationError

    if data is None:
        data = read_file(path)
    try:
        return Module(engine, data)
    except DecodeError as e:
        raise CliError(f"{path}: malformed module: {_one_line(e)}") from None
    except ValidationError as e:
        raise CliError(f"{path}: invalid module: {_one_line(e)}") from None


def _imports_wasi(module) -> bool:
    return any(imp.module.startswith("wasi") for imp in module.imports)


def _wasi_config(args: argparse.Namespace, argv: list[str]):
    from . import WasiConfig

    env: dict[str, str] = {}
    for kv in args.env:
        k, sep, v = kv.partition("=")
        if not sep or not k:
            raise CliError(f"--env {kv!r}: expected K=V", EXIT_USAGE)
        env[k] = v
    preopens = []
    for d in args.dir:
        host, sep, guest = d.partition("::")
        if not host:
            raise CliError(f"--dir {d!r}: expected HOST[::GUEST]", EXIT_USAGE)
        if not os.path.isdir(host):
            raise CliError(f"--dir {host}: not a directory")
        preopens.append((host, guest if sep and guest else host))
    return WasiConfig(argv=argv, env=env, preopens=preopens)


def instantiate(engine, module, path: str, wasi_config=None):
    """Instantiate with WASI defined (when given); LinkError → CliError; Trap propagates."""
    from . import Linker
    from .errors import LinkError, Trap, WizardError

    linker = Linker(engine)
    if wasi_config is not None:
        linker.define_wasi(wasi_config)
    try:
        return linker.instantiate(module)
    except LinkError as e:
        raise CliError(f"{path}: cannot link: {_one_line(e)}") from None
    except Trap:
        raise
    except WizardError as e:     # e.g. an initial memory above --max-memory
        if getattr(e, "probe_error", None) is not None:
            raise                # a probe raised it (start function): reported as such
        raise CliError(f"{path}: cannot instantiate: {_one_line(e)}") from None


# ----------------------------------------------------------------------------------------------
# Values for --invoke
# ----------------------------------------------------------------------------------------------

def parse_value(text: str, valtype: int):
    from .types import EXTERNREF, F32, F64, FUNCREF, I32, I64, valtype_name

    s = text.strip().replace("_", "")
    if valtype in (I32, I64):
        try:
            v = int(s, 0)
        except ValueError:
            try:
                v = int(s, 10)   # leading zeros: "010"
            except ValueError:
                raise CliError(f"invalid {valtype_name(valtype)} argument {text!r}", EXIT_USAGE) from None
        bits = 32 if valtype == I32 else 64
        if not -(1 << (bits - 1)) <= v < (1 << bits):
            raise CliError(f"{valtype_name(valtype)} argument {text!r} out of range", EXIT_USAGE)
        return v
    if valtype in (F32, F64):
        try:
            return float(s)
        except ValueError:
            pass
        try:
            return float.fromhex(s)
        except ValueError:
            raise CliError(f"invalid {valtype_name(valtype)} argument {text!r}", EXIT_USAGE) from None
    if valtype in (FUNCREF, EXTERNREF) and s in ("null", "ref.null"):
        return None
    raise CliError(f"cannot pass a {valtype_name(valtype)} argument from the command line", EXIT_USAGE)


def format_value(value, valtype: int) -> str:
    from .types import F32, F64, I32, I64

    if value is None:
        return "null"
    if valtype in (I32, I64) and isinstance(value, int):
        bits = 32 if valtype == I32 else 64
        v = value & ((1 << bits) - 1)
        return str(v - (1 << bits) if v >= 1 << (bits - 1) else v)
    if valtype == F32:
        import numpy as np

        return str(np.float32(value))   # shortest repr that round-trips through f32
    if valtype == F64:
        return repr(float(value))
    return repr(value)


# ----------------------------------------------------------------------------------------------
# Commands
# ----------------------------------------------------------------------------------------------

def _monitor_session(args: argparse.Namespace, engine):
    """A monitor.Session for the --monitor options (None without any), checked before running."""
    if not getattr(args, "monitor", None):
        if getattr(args, "lcov", None):
            raise CliError("--lcov needs --monitor coverage or --monitor hotness", EXIT_USAGE)
        if args.csv or args.json or args.output:
            raise CliError("--csv/--json/--output need at least one --monitor", EXIT_USAGE)
        return None
    from .monitor import MonitorError, Session, load_monitor

    try:
        monitors = [load_monitor(spec) for spec in args.monitor]
    except MonitorError as e:
        raise CliError(f"--monitor: {_one_line(e)}", EXIT_USAGE) from None
    if getattr(args, "lcov", None) and not any(hasattr(m, "lcov_counts") for m in monitors):
        raise CliError("--lcov needs --monitor coverage or --monitor hotness", EXIT_USAGE)
    fmt = "csv" if args.csv else "json" if args.json else "text"
    return Session(engine, monitors, fmt, output=args.output)


def _write_lcov(session, args: argparse.Namespace, module) -> None:
    """--lcov FILE: per-instruction counts of the monitors that have them (the largest where
    several do) attributed to source lines by wizardpy.lcov."""
    if not getattr(args, "lcov", None):
        return
    from .lcov import write_lcov

    counts: dict = {}
    for m in session.monitors:
        if hasattr(m, "lcov_counts"):
            for k, c in m.lcov_counts().items():
                counts[k] = max(counts.get(k, 0), c)
    try:
        write_lcov(args.lcov, module, counts, test_name=os.path.basename(args.wasm))
    except OSError as e:
        raise CliError(f"--lcov {args.lcov}: {e.strerror or e}") from None


def _emit_reports(session, args: argparse.Namespace) -> None:
    """After the program: the reports on stdout (after its output), or in --output FILE."""
    text = session.finish()
    if not text:
        return
    if args.output:
        try:
            with open(args.output, "w") as fh:
                fh.write(text + "\n")
        except OSError as e:
            raise CliError(f"--output {args.output}: {e.strerror or e}") from None
    else:
        sys.stdout.flush()
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


def print_stats(engine) -> None:
    """`--stats`: the tiers' counters (stderr)."""
    t = engine.thread
    rows = [("tier", engine.config.tier)]
    jit = engine.jit
    if jit is not None:
        rows += list(jit.counters().items())
    # compiled code counts the probe sites it calls out for (Python, OperandProbes); the ones
    # it runs inline (counters, hits, tallies) are not counted there: that would cost a store
    label = "probe firings" if jit is None else \
        "probe firings (compiled code counts only calls out)"
    rows += [(label, int(t.probe_fires) + int(t.global_count))]
    w = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k + ':':<{w + 1}} {v}", file=sys.stderr)


def cmd_run(args: argparse.Namespace) -> int:
    path = args.wasm
    data = read_file(path)
    engine = make_engine(args)
    if not getattr(args, "stats", False):
        return _cmd_run(args, engine, path, data)
    try:
        return _cmd_run(args, engine, path, data)
    finally:
        print_stats(engine)


def _cmd_run(args: argparse.Namespace, engine, path, data) -> int:
    from .errors import ProbeError, Trap

    module = load_module(engine, path, data)
    session = _monitor_session(args, engine)
    if session is None:
        with _interrupt_on_sigint(engine):
            return _run_program(args, engine, module, path, None)
    if getattr(args, "lcov", None) and not module.has_source_info:
        raise CliError(f"--lcov: {path} has no usable DWARF line info (.debug_line); "
                       "build it with -g", EXIT_USAGE)
    errors = _guard_monitors(session, ProbeError)
    session.parse(module)
    try:
        with _interrupt_on_sigint(engine):
            code = _run_program(args, engine, module, path, session)
    except Trap:
        _emit_reports(session, args)     # the report up to the trap, then the trap message
        _write_lcov(session, args, module)
        _report_probe_errors(errors)
        raise
    except Exception as e:               # a faulty probe: every monitor's report, then the error
        pe = ProbeError.of(e)
        if pe is None:
            raise
        _emit_reports(session, args)
        _write_lcov(session, args, module)
        _report_probe_errors(errors)
        raise pe from e
    _emit_reports(session, args)
    _write_lcov(session, args, module)
    if errors:
        _report_probe_errors(errors)
        return EXIT_PROBE
    return code


def _guard_monitors(session, ProbeError) -> list:
    """Wrap each monitor's on_finish so that one faulty monitor does not hide the others'
    reports: its exception becomes a ProbeError (monitor name, hook, traceback) collected in the
    returned list. (An exception in on_parse/on_instantiate, before the program runs, stays an
    internal error: one line, traceback with --debug; see tests/test_cli.py.)"""
    errors: list = []
    for m in session.monitors:
        failed: list = []
        for hook in ("on_finish",):
            fn = getattr(m, hook)

            def guarded(*a, _fn=fn, _hook=hook, _m=m, _failed=failed):
                if _failed:
                    return None
                try:
                    return _fn(*a)
                except Exception as e:  # noqa: BLE001 - a user's monitor: report it, go on
                    _failed.append(e)
                    errors.append(ProbeError(getattr(_m, "name", type(_m).__name__), _hook, e,
                                             kind="monitor"))
                    return None
            setattr(m, hook, guarded)
    return errors


def _report_probe_errors(errors: list) -> None:
    for pe in errors:
        _print_probe_error(pe)
    errors.clear()


def _print_probe_error(pe) -> None:
    _err(f"probe error: {_one_line(pe)}")
    print(pe.traceback.rstrip("\n"), file=sys.stderr, flush=True)


def _run_program(args: argparse.Namespace, engine, module, path: str, session) -> int:
    from .errors import ExitStatus

    argv = [os.path.basename(path)] + list(args.args)
    if args.invoke is not None:
        wasi = _wasi_config(args, [os.path.basename(path)]) if _imports_wasi(module) else None
        try:
            instance = instantiate(engine, module, path, wasi)
            if session is not None:
                session.instantiate(instance)
            return _invoke(instance, args.invoke, list(args.args), path)
        except ExitStatus as e:
            return _flush(e.code)
    wasi = _wasi_config(args, argv)
    try:
        instance = instantiate(engine, module, path, wasi)
        if session is not None:
            session.instantiate(instance)
        start = instance.exports.get("_start")
        if start is None:
            raise CliError(f"{path}: no exported `_start` function (use --invoke NAME to call an export)")
        if not hasattr(start, "type") or start.type.params or start.type.results:
            raise CliError(f"{path}: `_start` is not a function [] -> []")
        start()
    except ExitStatus as e:
        return _flush(e.code)
    return _flush(0)


def _flush(code: int) -> int:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    return code


def _invoke(instance, name: str, raw_args: list[str], path: str) -> int:
    func = instance.exports.get(name)
    if func is None:
        raise CliError(f"{path}: no export named {name!r}")
    ftype = getattr(func, "type", None)
    if ftype is None or not hasattr(ftype, "params"):
        raise CliError(f"{path}: export {name!r} is not a function")
    if len(raw_args) != len(ftype.params):
        raise CliError(f"{name}: expects {len(ftype.params)} argument(s) {ftype}, "
                       f"got {len(raw_args)}", EXIT_USAGE)
    vals = [parse_value(a, t) for a, t in zip(raw_args, ftype.params)]
    out = func(*vals)
    if len(ftype.results) == 0:
        results = []
    elif len(ftype.results) == 1:
        results = [out]
    else:
        results = list(out)
    sys.stdout.flush()
    for v, t in zip(results, ftype.results):
        print(format_value(v, t))
    return _flush(0)


def cmd_wast(args: argparse.Namespace) -> int:
    from .wast import run_wast

    cfg = engine_config_from_args(args)
    all_ok = True
    for f in args.files:
        if not os.path.isfile(f):
            raise CliError(f"{f}: {'is a directory' if os.path.isdir(f) else 'No such file or directory'}")
        try:
            res = run_wast(f, cfg)
        except RuntimeError as e:      # wast2json could not convert the script
            raise CliError(_one_line(e)) from None
        print(res.report(os.path.basename(f)), flush=True)
        all_ok = all_ok and res.failed == 0
    return 0 if all_ok else EXIT_ERROR


def _find_func(module, spec: str) -> int:
    defn = module.defn
    try:
        idx = int(spec, 0)
    except ValueError:
        idx = None
    if idx is not None:
        if not 0 <= idx < defn.num_funcs:
            raise CliError(f"no function with index {idx} (module has {defn.num_funcs})")
        return idx
    name = spec[1:-1] if len(spec) >= 2 and spec[0] == spec[-1] == '"' else spec
    for i, n in defn.names.funcs.items():
        if n == name:
            return i
    for e in defn.exports:
        if e.kind == "func" and e.name == name:
            return e.index
    raise CliError(f"no function named {spec!r}")


def cmd_inspect(args: argparse.Namespace) -> int:
    data = read_file(args.wasm)
    from . import Engine
    from . import disasm

    engine = Engine()
    module = load_module(engine, args.wasm, data)
    defn = module.defn
    print(disasm.format_module_summary(defn))
    if args.all:
        first = module.defn.num_imported_funcs
        funcs = list(range(first, module.defn.num_funcs))
    else:
        funcs = [_find_func(module, s) for s in args.func]
    for idx in funcs:
        if idx < module.defn.num_imported_funcs:
            raise CliError(f"function {module.func_name(idx)} is imported: no code to disassemble")
        print()
        print(f"func {module.func_name(idx)} (#{idx}): {defn.func_type(idx)}")
        for line in disasm.disassemble(defn, idx):
            print(line)
    return 0


# ----------------------------------------------------------------------------------------------
# Entry point
# ----------------------------------------------------------------------------------------------

@contextlib.contextmanager
def _sigint_kills():
    """Ctrl-C while Wasm runs: the native interpreter loop does not return to Python, so a
    Python SIGINT handler would never run and the program could not be stopped. Restore the
    default action instead: the process ends quietly by SIGINT (status 130 in the shell).
    (WASI output is flushed after every fd_write, so nothing written is lost.)"""
    try:
        old = signal.signal(signal.SIGINT, signal.SIG_DFL)
    except (ValueError, OSError):      # not the main thread: leave it alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


@contextlib.contextmanager
def _interrupt_on_sigint(engine):
    """With resource limits active (--fuel/--timeout) the interpreter checks the engine's
    interrupt flag before every instruction, so Ctrl-C can stop Wasm cleanly: Python's own SIGINT
    handler writes to a wakeup fd, a watcher thread (which runs while the main thread is inside
    native code: cffi releases the GIL) calls `engine.interrupt()`, and the program traps
    "interrupted" (reports are still printed). Without limits: `_sigint_kills` stays in force."""
    if not engine.limits_active:
        yield
        return
    import threading

    try:
        r, w = os.pipe()
    except OSError:
        yield
        return
    hit = []

    def on_sigint(signum, frame):
        hit.append(signum)
        engine.interrupt()          # also covers a Ctrl-C that lands in Python code

    try:
        os.set_blocking(w, False)
        old_fd = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
        old = signal.signal(signal.SIGINT, on_sigint)
    except (ValueError, OSError):   # not the main thread
        os.close(r)
        os.close(w)
        yield
        return

    def watch():
        while True:
            try:
                data = os.read(r, 64)
            except OSError:
                return
            if not data:             # write end closed: the run is over
                return
            if signal.SIGINT in data:
                engine.interrupt()

    th = threading.Thread(target=watch, name="wizardpy-sigint", daemon=True)
    th.start()
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
        signal.set_wakeup_fd(old_fd)
        os.close(w)
        th.join(1.0)
        os.close(r)


def format_backtrace(frames, head: int = 20, tail: int = 3) -> str:
    """`  i: func NAME +pc` per frame, innermost first; deep stacks elide the middle."""
    lines = [f"  {i}: func {name} +{pc}" for i, (_, name, pc) in enumerate(frames)]
    if len(lines) > head + tail + 1:
        lines = lines[:head] + [f"  ... {len(lines) - head - tail} more frames ..."] + lines[-tail:]
    return "\n".join(lines)


def _err(line: str) -> None:
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
    print(f"{PROG}: {line}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    if raw[:1] == ["bench"]:         # options go to the suite's own parser, untouched
        try:
            return cmd_bench(raw[1:])
        except CliError as e:
            _err(f"error: {e}")
            return e.code
        except KeyboardInterrupt:
            return EXIT_INTERRUPT
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:          # --help or a usage error (argparse printed it)
        return e.code if isinstance(e.code, int) else EXIT_USAGE
    debug = getattr(args, "debug", False)
    from .errors import ProbeError, Trap

    try:
        with _sigint_kills() if getattr(args, "runs_wasm", False) else contextlib.nullcontext():
            return args.handler(args)
    except CliError as e:
        _err(f"error: {e}")
        return e.code
    except Trap as t:
        _err(f"trap: {_one_line(t.reason)}")
        bt = format_backtrace(t.frames)
        if bt:
            print(bt, file=sys.stderr, flush=True)
        return _TRAP_EXIT.get(t.reason, EXIT_TRAP)
    except ProbeError as pe:
        _print_probe_error(pe)
        return EXIT_PROBE
    except KeyboardInterrupt:
        return EXIT_INTERRUPT
    except BrokenPipeError:
        try:   # stdout went away (e.g. `| head`): stop quietly
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except OSError:
            pass
        return EXIT_ERROR
    except RecursionError:
        if debug:
            traceback.print_exc()
        _err("internal error: Python recursion limit exceeded" + ("" if debug else " (rerun with --debug for the traceback)"))
        return EXIT_INTERNAL
    except Exception as e:  # noqa: BLE001 - the one place that turns bugs into one line
        if debug:
            traceback.print_exc()
        msg = _one_line(e)
        _err(f"internal error: {type(e).__name__}{': ' + msg if msg else ''}"
             + ("" if debug else " (rerun with --debug for the traceback)"))
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
