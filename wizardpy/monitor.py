"""Monitors: whole-program analyses built on probes (ARCHITECTURE.md §4, docs/instrumentation.md).

A monitor is a `Monitor` subclass with a `name`, an options string (`--monitor NAME:OPTIONS`)
and hooks called by whoever runs the program (the CLI, or a `Session` in a script):

    on_parse(module)          before instantiation: insert probes here
    on_instantiate(instance)  after instantiation, before the program runs
    on_finish(report)         after the program finished (returned, exited or trapped)

`self.instrument` is the engine's instrumentation (`engine.instrument`), available once the
monitor is attached to an engine (`Session` does that; `attach(engine)` by hand).

Output goes through a `Report`, one per monitor, in one of three formats chosen by the user:

    report.text(line)         text for people (printed for the default text format)
    report.summary(line)      a summary line printed in both text and CSV formats
                              (the coverage lines `Instr coverage:\\tC / T (P%)`)
    report.csv_row(*fields)   one CSV row (printed with --csv); fields joined by ","
    report.data[key] = ...    JSON-serialisable data (printed with --json: everything)

Built-in monitors are the modules `analyses/<name>.py`, each defining one `Monitor` subclass
(`monitor_names()` lists them); `load_monitor("name:opts")` makes one, and a path ending in
`.py` (`load_monitor("path/my_monitor.py:opts")`) loads a user's monitor from that file.

Helpers for monitors (re-exported from `wizardpy`):
    instructions(module, func)    -> (pc, opcode, immediates) for each instruction
    defined_functions(module)     -> indices of the functions that have a body
    format_instruction(module, op, imm) -> "br_if 0", "call 3 <"f">", ...
    block_ends(module, func)      -> {pc of block/loop/if: pc of its matching end}
    block_leaders(module, func)   -> {pc of every basic-block leader} (see its docstring)
    basic_blocks(module, func)    -> [BasicBlock(start, end, pcs)] split at those leaders
    func_ref(module, func)        -> '"name"' or '#N' (the CSV `func` column)
    on_opcode(*mnemonics)         decorator: a method called with the operands an instruction
                                  consumes, every time such an instruction executes
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from . import opcodes as ops

__all__ = [
    "Monitor", "Report", "Session", "MonitorError", "instructions", "defined_functions",
    "format_instruction", "block_ends", "block_leaders", "basic_blocks", "BasicBlock", "func_ref", "on_opcode",
    "monitor_names", "load_monitor", "parse_monitor_spec",
]

FORMATS = ("text", "csv", "json")


class MonitorError(ValueError):
    """An unknown monitor, a monitor file that cannot be loaded, or invalid monitor options."""


# ----------------------------------------------------------------------------------------------
# Code helpers
# ----------------------------------------------------------------------------------------------

def _defn(module):
    return getattr(module, "defn", module)


def _func_index(module, func) -> int:
    """A function index from an index, a name from the name section or an export name."""
    if isinstance(func, int):
        return func
    defn = _defn(module)
    name = func[1:-1] if len(func) >= 2 and func[0] == func[-1] == '"' else func
    for i, n in defn.names.funcs.items():
        if n == name:
            return i
    for e in defn.exports:
        if e.kind == "func" and e.name == name:
            return e.index
    raise KeyError(f"no function named {func!r}")


def _code(module, funcidx: int):
    """The validator's FuncCode of a defined function of a `Module` (None for a ModuleDef)."""
    code_of = getattr(module, "code_of", None)
    return code_of(funcidx) if code_of is not None else None


def _cache(module, name: str) -> dict:
    """A per-module cache dict (kept on the Module / ModuleDef object)."""
    d = module.__dict__.get(name)
    if d is None:
        d = module.__dict__[name] = {}
    return d


def instructions(module, func, ops: Iterable[int] | None = None, immediates: bool = True,
                 pcs: Iterable[int] | None = None) -> Iterator[tuple[int, int, tuple | None]]:
    """Yield `(pc, opcode, immediates)` for every instruction of defined function `func`
    (an index or a name), up to and including the final `end`. Opcodes are `wizardpy.opcodes`
    numbers; pc is the byte offset from the start of the body (locals included).

    Selections, fast for a `Module` (they read the validator's list of (pc, opcode) instead of
    decoding the body, and decode only what they yield; a monitor's set-up then costs little
    per instruction): `ops` (a set of opcodes) yields only the instructions with one of those
    opcodes, e.g. `instructions(m, f, {opcodes.CALL})`; `pcs` (a set of pcs) only the
    instructions at those pcs; `immediates=False` yields `(pc, opcode, None)` (no decoding)."""
    from .disasm import iter_instructions

    fidx = _func_index(module, func)
    fc = _code(module, fidx)
    if ops is not None or pcs is not None:
        want = None if ops is None else (ops if isinstance(ops, (set, frozenset)) else frozenset(ops))
        at = None if pcs is None else (pcs if isinstance(pcs, (set, frozenset)) else frozenset(pcs))
        if fc is None:
            return ((pc, op, imm if immediates else None)
                    for pc, op, imm in instructions(module, fidx)
                    if (want is None or op in want) and (at is None or pc in at))
        sel = [(pc, op) for pc, op in fc.instrs
               if (want is None or op in want) and (at is None or pc in at)]
        if not immediates:
            return ((pc, op, None) for pc, op in sel)
        return _decoded(module, fidx, sel)
    if not immediates and fc is not None:
        return ((pc, op, None) for pc, op in fc.instrs)
    cache = _cache(_defn(module), "_wz_instructions")
    got = cache.get(fidx)
    if got is None:
        got = cache[fidx] = tuple(iter_instructions(_defn(module), fidx))
    if not immediates:
        return ((pc, op, None) for pc, op, _ in got)
    return iter(got)


def instruction_table(module, func) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """`(pcs, opcodes)`: two parallel tuples over every instruction of defined function `func`
    in code order (what `instructions(module, func, immediates=False)` yields), cached per
    function: the fast way for a monitor to scan whole functions (no per-instruction call)."""
    fidx = _func_index(module, func)
    cache = _cache(module, "_wz_itable")
    got = cache.get(fidx)
    if got is None:
        fc = _code(module, fidx)
        rows = fc.instrs if fc is not None else \
            [(pc, op) for pc, op, _ in instructions(module, fidx, immediates=False)]
        got = cache[fidx] = (tuple([r[0] for r in rows]), tuple([r[1] for r in rows]))
    return got


def _decoded(module, fidx: int, sel) -> Iterator[tuple[int, int, tuple]]:
    """Decode the instructions at the selected (pc, opcode) of a function."""
    from .binary import decode_instruction

    defn = _defn(module)
    body = defn.codes[fidx - defn.num_imported_funcs]
    base = body.body_offset
    raw = defn.raw
    end = base + body.size
    for pc, _ in sel:
        op, imm, _ = decode_instruction(raw, base + pc, end)
        yield pc, op, imm


def defined_functions(module) -> range:
    """Indices of the functions with a body (imported functions come first and have none)."""
    defn = _defn(module)
    return range(defn.num_imported_funcs, defn.num_funcs)


def func_ref(module, func: int) -> str:
    """`"name"` from the name section, or `#N`: the `func` column of every CSV schema."""
    return _defn(module).func_name(func)


def format_instruction(module, op: int, imm: tuple) -> str:
    """Mnemonic and immediates as `wizardpy inspect` prints them."""
    from .disasm import format_instruction as fmt

    return fmt(_defn(module), op, imm)


def block_ends(module, func) -> dict[int, int]:
    """{pc of each block/loop/if: pc of its matching `end`}."""
    fidx = _func_index(module, func)
    fc = _code(module, fidx)
    if fc is None:
        return _block_ends_decoded(module, fidx)
    cache = _cache(module, "_wz_block_ends")
    got = cache.get(fidx)
    if got is None:
        got = {}
        stack: list[int] = []
        push, pop = stack.append, stack.pop
        for pc, op in fc.instrs:
            if op == 0x0B:
                if stack:
                    got[pop()] = pc
            elif op == 0x02 or op == 0x03 or op == 0x04:
                push(pc)
        cache[fidx] = got
    return dict(got)


@dataclass(frozen=True)
class BasicBlock:
    start: int            # pc of the leader
    end: int              # pc of the last instruction of the block
    pcs: tuple[int, ...]  # every instruction of the block, in order


# After these the next instruction starts a block: the fall-through of a conditional branch
# (br_if, br_table never falls through but the next instruction may be a target), the then-arm
# of an `if`, the first instruction after `else` (where a false `if` jumps), code after
# br/return/unreachable, and the instruction a call returns to. Ending blocks after calls makes
# "add n at the leader" counting exact when a callee traps or exits (`proc_exit`): the rest of
# the caller's block never runs and is not counted.
_ENDS_BLOCK = frozenset((ops.BR, ops.BR_IF, ops.BR_TABLE, ops.RETURN, ops.UNREACHABLE, ops.IF,
                         ops.ELSE, ops.CALL, ops.CALL_INDIRECT))


def block_leaders(module, func) -> set[int]:
    """The pcs where a basic block of `func` starts: exactly the points where control can arrive
    other than by falling through from the previous instruction, plus the instructions calls
    return to (docs/internal-code.md says where branches land):

    - the first instruction (function entry);
    - every branch target: a `loop` that some br/br_if/br_table targets; the instruction after
      the `end` of a block/if that some branch targets; the function's final `end` when a branch
      targets the function label (it executes as `return`); the `end` of every `if` (where a
      false `if` without else jumps, and where `else` jumps when the then-arm finishes); the
      first instruction after `else` (where a false `if` jumps);
    - the instruction after br, br_if, br_table, return, unreachable, if, else, call,
      call_indirect.

    A `loop` no branch targets, or the code after a block's `end` no branch targets, is reached
    only by falling through and starts no block.

    For a `Module` this is read from the validator's internal code (where every branch, `if`
    and `else` lands is an immediate there), without decoding the binary again; the result is
    cached per function."""
    return set(_leaders(module, _func_index(module, func)))


def _leaders(module, fidx: int) -> frozenset:
    fc = _code(module, fidx)
    if fc is None:
        return frozenset(_block_leaders_decoded(module, fidx))
    cache = _cache(module, "_wz_leaders")
    got = cache.get(fidx)
    if got is not None:
        return got
    instrs = fc.instrs
    if not instrs:
        got = cache[fidx] = frozenset()
        return got
    # computed natively from the validator's internal code (where every branch lands is an
    # immediate there): the ips of the leaders, mapped to pcs
    from .native import ffi, lib
    code = fc.code
    out = ffi.new("uint32_t[]", len(code))
    n = lib.wz_block_leaders(ffi.from_buffer("uint32_t[]", code), len(code), out)
    leaders = set(map(fc.pc_of_ip.__getitem__, ffi.unpack(out, n)))
    leaders.add(instrs[0][0])
    got = cache[fidx] = frozenset(leaders)
    return got


def basic_blocks(module, func) -> list[BasicBlock]:
    """The basic blocks of `func` in code order, split at `block_leaders(module, func)`: when a
    block's first instruction executes, all of its instructions execute, in order, unless one of
    them traps (a trap ends the run). Every instruction is in exactly one block. Used by
    coverage (block coverage), hotness, icount, opcodes and timeout."""
    fidx = _func_index(module, func)
    fc = _code(module, fidx)
    if fc is None:
        return _basic_blocks_decoded(module, fidx)
    cache = _cache(module, "_wz_blocks")
    got = cache.get(fidx)
    if got is None:
        leaders = _leaders(module, fidx)
        pcs = instruction_table(module, fidx)[0]
        cuts = [k for k, pc in enumerate(pcs) if pc in leaders]
        cuts.append(len(pcs))
        new = object.__new__
        got = []
        for a, b in zip(cuts, cuts[1:]):
            bb = new(BasicBlock)            # (a frozen dataclass's __init__ is slow)
            bb.__dict__.update(start=pcs[a], end=pcs[b - 1], pcs=tuple(pcs[a:b]))
            got.append(bb)
        got = cache[fidx] = tuple(got)
    return list(got)


def _block_ends_decoded(module, func) -> dict[int, int]:
    """{pc of each block/loop/if: pc of its matching `end`}."""
    out: dict[int, int] = {}
    stack: list[int] = []
    for pc, op, _ in instructions(module, func):
        if op in (ops.BLOCK, ops.LOOP, ops.IF):
            stack.append(pc)
        elif op == ops.END and stack:
            out[stack.pop()] = pc
    return out


def _block_leaders_decoded(module, func) -> set[int]:
    """`block_leaders` (same definition) computed by decoding the body: for a function with no
    validator code at hand."""
    instrs = list(instructions(module, func))
    if not instrs:
        return set()
    leaders = {instrs[0][0]}
    final_end = instrs[-1][0]
    stack: list[list] = []                 # [opcode, pc, targeted] per open block/loop/if
    n = len(instrs)
    for k, (pc, op, imm) in enumerate(instrs):
        nxt = instrs[k + 1][0] if k + 1 < n else None
        if op == ops.BLOCK or op == ops.LOOP or op == ops.IF:
            stack.append([op, pc, False])
        elif op == ops.BR or op == ops.BR_IF or op == ops.BR_TABLE:
            labels = (*imm[0], imm[1]) if op == ops.BR_TABLE else (imm[0],)
            for depth in labels:
                if depth >= len(stack):    # the function's label: lands on the final end
                    leaders.add(final_end)
                    continue
                fr = stack[-1 - depth]
                if fr[0] == ops.LOOP:
                    leaders.add(fr[1])     # br to a loop lands on the `loop` instruction
                else:
                    fr[2] = True           # lands on the instruction after the block's end
        elif op == ops.END and stack:
            kind, _, targeted = stack.pop()
            if kind == ops.IF:
                leaders.add(pc)            # target of a false `if` (no else) / of `else`
            if targeted and nxt is not None:
                leaders.add(nxt)
        if op in _ENDS_BLOCK and nxt is not None:
            leaders.add(nxt)
    return leaders


def _basic_blocks_decoded(module, func) -> list[BasicBlock]:
    """`basic_blocks` (same definition) computed by decoding the body."""
    leaders = _block_leaders_decoded(module, func)
    blocks: list[BasicBlock] = []
    cur: list[int] = []
    for pc, _, _ in instructions(module, func):
        if pc in leaders and cur:
            blocks.append(BasicBlock(cur[0], cur[-1], tuple(cur)))
            cur = []
        cur.append(pc)
    if cur:
        blocks.append(BasicBlock(cur[0], cur[-1], tuple(cur)))
    return blocks


# Operands consumed by instructions whose signature is not fixed in the opcode table.
_CONSUMES = {ops.BR_IF: 1, ops.IF: 1, ops.BR_TABLE: 1, ops.DROP: 1, ops.SELECT: 3,
             ops.SELECT_T: 3, ops.LOCAL_SET: 1, ops.LOCAL_TEE: 1, ops.GLOBAL_SET: 1,
             ops.TABLE_GET: 1, ops.TABLE_SET: 2, ops.REF_IS_NULL: 1, ops.TABLE_GROW: 2,
             ops.TABLE_FILL: 3, ops.CALL_INDIRECT: 1}


def on_opcode(*mnemonics: str):
    """Decorator for a `Monitor` method `m(self, loc, *operands)`, called each time an
    instruction with one of these mnemonics (`"i32.div_s"`, `"br_if"`, `"select_t"`) is about to
    execute, with the operands it consumes (bottom..top: for `i32.div_s`, dividend then divisor).
    `Monitor.on_parse` inserts the probes; a subclass overriding it must call
    `super().on_parse(module)`. Calls receive the call_indirect table index only."""
    codes = []
    for m in mnemonics:
        if m not in ops.BY_NAME:
            raise ValueError(f"unknown instruction {m!r}")
        codes.append(ops.BY_NAME[m])

    def deco(fn):
        fn._wizardpy_opcodes = tuple(codes)
        return fn

    return deco


def _consumed(op: int) -> int:
    sig = ops.SIGNATURES.get(op)
    if sig is not None:
        return len(sig[0])
    return _CONSUMES.get(op, 0)


# ----------------------------------------------------------------------------------------------
# Monitor and Report
# ----------------------------------------------------------------------------------------------

class Monitor:
    """Base class of every monitor. Subclasses set `name` and override the hooks."""

    name = "monitor"
    #: one-line description shown by `monitor_names(describe=True)`
    description = ""

    def __init__(self, options: str = ""):
        self.options = options or ""
        self.engine = None
        self.output = None          # the --output file the reports go to (None: stdout)

    # -- wiring
    def attach(self, engine) -> "Monitor":
        self.engine = engine
        return self

    @property
    def instrument(self):
        if self.engine is None:
            raise RuntimeError(f"monitor {self.name!r} is not attached to an engine")
        return self.engine.instrument

    def option_set(self) -> set[str]:
        """The options as a set of words (`"code,instr"` -> {"code", "instr"})."""
        return {w for w in self.options.replace(";", ",").split(",") if w}

    # -- hooks
    def on_parse(self, module) -> None:
        """Before instantiation. The base version inserts the `@on_opcode` probes."""
        if self.engine is None:
            self.engine = getattr(module, "engine", None)
        handlers = []
        for klass in type(self).__mro__:
            for attr, fn in vars(klass).items():
                codes = getattr(fn, "_wizardpy_opcodes", None)
                if codes and attr not in {a for a, _, _ in handlers}:
                    handlers.append((attr, getattr(self, attr), frozenset(codes)))
        if not handlers:
            return
        from .instrumentation import FuncProbe

        for f in defined_functions(module):
            for pc, op, _ in instructions(module, f):
                for _, method, codes in handlers:
                    if op in codes:
                        n = _consumed(op)

                        def fire(loc, _m=method, _n=n):
                            fr = loc.frame
                            _m(loc, *[fr.get_operand(i) for i in range(_n - 1, -1, -1)])

                        self.instrument.insert(module, f, pc, FuncProbe(fire))

    def on_instantiate(self, instance) -> None:
        pass

    def on_finish(self, report: "Report") -> None:
        pass

    def __repr__(self) -> str:
        return f"<Monitor {self.name}{':' + self.options if self.options else ''}>"


class Report:
    """What one monitor reports; rendered in the format the user chose."""

    def __init__(self, name: str, fmt: str = "text"):
        if fmt not in FORMATS:
            raise ValueError(f"unknown report format {fmt!r} (one of {', '.join(FORMATS)})")
        self.name = name
        self.format = fmt
        self.data: dict = {}
        self.output: str | None = None      # set by Session: the --output file, if any
        self._text: list[str] = []
        self._csv: list[str] = []

    def text(self, line: str = "") -> None:
        self._text.extend(str(line).split("\n"))

    def summary(self, line: str) -> None:
        """A line printed in text and CSV formats (JSON carries it in `data`)."""
        self._text.append(line)
        self._csv.append(line)

    def csv_row(self, *fields) -> None:
        self._csv.append(",".join(str(f) for f in fields))

    def render(self) -> str:
        """The report's text (no trailing newline) for text and CSV formats."""
        if self.format == "json":
            return json.dumps(self.data)
        return "\n".join(self._text if self.format == "text" else self._csv)


class Session:
    """Runs a list of monitors around one program: `parse(module)` before instantiating,
    `instantiate(instance)` after, `finish()` -> the combined output (str) at the end.

    Text reports are separated by a blank line; CSV rows are concatenated; JSON is one object
    `{monitor name: data}` (a second monitor of the same name gets the key `name#2`)."""

    def __init__(self, engine, monitors: Iterable[Monitor], fmt: str = "text",
                 output: str | None = None):
        if fmt not in FORMATS:
            raise ValueError(f"unknown report format {fmt!r}")
        self.engine = engine
        self.monitors = [m.attach(engine) for m in monitors]
        self.format = fmt
        #: the file the reports go to (--output), None for stdout; monitors see it as
        #: `monitor.output` and `report.output` (e.g. calls:dot then reports the DOT graph)
        self.output = output
        if output is not None:
            for m in self.monitors:
                m.output = output
        self.reports: list[Report] = []

    def parse(self, module) -> None:
        for m in self.monitors:
            m.on_parse(module)

    def instantiate(self, instance) -> None:
        for m in self.monitors:
            m.on_instantiate(instance)

    def finish(self) -> str:
        self.reports = []
        for m in self.monitors:
            r = Report(m.name, self.format)
            r.output = self.output or getattr(m, "output", None)
            m.on_finish(r)
            self.reports.append(r)
        if self.format == "json":
            out: dict = {}
            for r in self.reports:
                key, k = r.name, 1
                while key in out:
                    k += 1
                    key = f"{r.name}#{k}"
                out[key] = r.data
            return json.dumps(out)
        parts = [r.render() for r in self.reports]
        sep = "\n\n" if self.format == "text" else "\n"
        return sep.join(p for p in parts if p)


# ----------------------------------------------------------------------------------------------
# Registry
# ----------------------------------------------------------------------------------------------

def _analyses_dir() -> Path | None:
    try:
        import analyses
    except ImportError:
        return None
    return Path(analyses.__file__).parent


def monitor_names() -> list[str]:
    """Names of the built-in monitors (the modules `analyses/<name>.py`)."""
    d = _analyses_dir()
    if d is None:
        return []
    return sorted(p.stem for p in d.glob("*.py") if not p.stem.startswith("_"))


def parse_monitor_spec(spec: str) -> tuple[str, str]:
    """`"name:opts"` -> ("name", "opts"); `"dir/m.py:opts"` -> ("dir/m.py", "opts")."""
    i = spec.find(".py:")
    if i >= 0:
        return spec[:i + 3], spec[i + 4:]
    if spec.endswith(".py"):
        return spec, ""
    name, _, opts = spec.partition(":")
    return name, opts


def _monitor_class(mod, where: str) -> type[Monitor]:
    explicit = getattr(mod, "MONITOR", None)
    if isinstance(explicit, type) and issubclass(explicit, Monitor):
        return explicit
    found = [v for v in vars(mod).values()
             if isinstance(v, type) and issubclass(v, Monitor) and v is not Monitor
             and v.__module__ == mod.__name__]
    if len(found) == 1:
        return found[0]
    if not found:
        raise MonitorError(f"{where}: defines no Monitor subclass")
    raise MonitorError(f"{where}: defines several Monitor subclasses "
                       f"({', '.join(c.__name__ for c in found)}); set MONITOR = <the class>")


def _load_file(path: str):
    p = Path(path)
    if not p.is_file():
        raise MonitorError(f"{path}: no such monitor file")
    modname = f"wizardpy_user_monitor_{abs(hash(str(p.resolve())))}_{p.stem}"
    spec = importlib.util.spec_from_file_location(modname, p)
    if spec is None or spec.loader is None:
        raise MonitorError(f"{path}: cannot load")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[modname] = mod
    try:
        spec.loader.exec_module(mod)
    except MonitorError:
        raise
    except Exception as e:  # noqa: BLE001 - a user's file: report what went wrong, in one line
        del sys.modules[modname]
        raise MonitorError(f"{path}: {type(e).__name__}: {e}") from e
    return mod


def load_monitor(spec: str) -> Monitor:
    """A monitor from `--monitor SPEC`: a built-in name or a `.py` path, with `:options`."""
    target, opts = parse_monitor_spec(spec)
    if target.endswith(".py") or os.sep in target or "/" in target:
        mod = _load_file(target)
        where = target
    else:
        if not target.isidentifier():
            raise MonitorError(f"invalid monitor name {target!r}")
        names = monitor_names()
        if target not in names:
            raise MonitorError(f"unknown monitor {target!r} (available: {', '.join(names) or 'none'}; "
                               f"or a path to a .py file)")
        mod = importlib.import_module(f"analyses.{target}")
        where = f"analyses/{target}.py"
    cls = _monitor_class(mod, where)
    try:
        return cls(opts)
    except MonitorError:
        raise
    except (ValueError, TypeError) as e:
        raise MonitorError(f"monitor {target!r}: {e}") from None
