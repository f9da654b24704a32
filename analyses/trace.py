"""trace: one line per executed instruction, with the operand values it consumes.

    func "fib" +12  i32.lt_s  3 2
    func "fib" +15  br_if 0  1

A probe at every selected instruction reads the operands the instruction is about to pop
(bottom..top: for `i32.sub a b` that is `a b`; a store shows address then value; a call shows
the callee's arguments; call_indirect the arguments then the table index).

Options (`--monitor trace:OPTS`, comma-separated):
    func=GLOB     only functions whose name matches the glob (fnmatch; `#N` names unnamed ones);
                  several: func=a*|b*
    pc=A-B        only instructions with A <= pc <= B (`pc=A` alone: just that pc)
    limit=N       stop tracing after N lines (default 100000); the probes are then removed, so
                  the rest of the run goes at full speed
Text: the trace. CSV: `trace,func,pc,instruction,operands` (operands space-separated).
JSON: {"lines": [[func, pc, instruction, [operands]]], "truncated": bool}.
"""
from __future__ import annotations

import fnmatch

from wizardpy import FuncProbe, Monitor, defined_functions, format_instruction, func_ref, instructions
from wizardpy import opcodes as ops

DEFAULT_LIMIT = 100_000

# Operands consumed by instructions whose signature the opcode table does not fix.
_CONSUMES = {ops.BR_IF: 1, ops.IF: 1, ops.BR_TABLE: 1, ops.DROP: 1, ops.SELECT: 3,
             ops.SELECT_T: 3, ops.LOCAL_SET: 1, ops.LOCAL_TEE: 1, ops.GLOBAL_SET: 1,
             ops.TABLE_GET: 1, ops.TABLE_SET: 2, ops.REF_IS_NULL: 1, ops.TABLE_GROW: 2,
             ops.TABLE_FILL: 3, ops.TABLE_INIT: 3, ops.TABLE_COPY: 3}


def consumed(module, func: int, op: int, imm: tuple) -> int:
    """How many operands the instruction pops (0 for those that pop none or vary: return/end)."""
    sig = ops.SIGNATURES.get(op)
    if sig is not None:
        return len(sig[0])
    if op == ops.CALL:
        return len(module.func_type(imm[0]).params)
    if op == ops.CALL_INDIRECT:
        return len(module.types[imm[0]].params) + 1
    return _CONSUMES.get(op, 0)


def _fmt(v) -> str:
    if isinstance(v, float):
        return repr(v)
    if v is None:
        return "null"
    return str(v)


def _parse_options(opts: set[str]):
    globs, lo, hi, limit = None, 0, None, DEFAULT_LIMIT
    for o in opts:
        key, eq, val = o.partition("=")
        if not eq:
            raise ValueError(f"invalid option {o!r} (known: func=GLOB, pc=A-B, limit=N)")
        if key == "func":
            globs = [g for g in val.split("|") if g]
        elif key == "pc":
            a, dash, b = val.partition("-")
            try:
                lo = int(a) if a else 0
                hi = (int(b) if b else None) if dash else lo
            except ValueError:
                raise ValueError(f"invalid option {o!r}: pc=A-B takes numbers") from None
        elif key == "limit":
            try:
                limit = int(val)
            except ValueError:
                raise ValueError(f"invalid option {o!r}: limit=N takes a number") from None
        else:
            raise ValueError(f"invalid option {o!r} (known: func=GLOB, pc=A-B, limit=N)")
    return globs, lo, hi, limit


class TraceMonitor(Monitor):
    name = "trace"
    description = "per-instruction trace with the consumed operand values"

    def __init__(self, options: str = ""):
        super().__init__(options)
        # split on "," only: "func=a*|b*" and "pc=10-40" keep their own punctuation
        opts = {w for w in self.options.split(",") if w}
        self.globs, self.lo, self.hi, self.limit = _parse_options(opts)
        self.module = None
        self.lines: list[tuple[str, int, str, list]] = []
        self.truncated = False
        self.sites: list[tuple[int, int, FuncProbe]] = []

    def selected(self, module, f: int) -> bool:
        if self.globs is None:
            return True
        name = func_ref(module, f)
        bare = name[1:-1] if name.startswith('"') else name
        return any(fnmatch.fnmatchcase(bare, g) or fnmatch.fnmatchcase(name, g) for g in self.globs)

    def on_parse(self, module):
        super().on_parse(module)
        self.module = module
        for f in defined_functions(module):
            if not self.selected(module, f):
                continue
            fname = func_ref(module, f)
            for pc, op, imm in instructions(module, f):
                if pc < self.lo or (self.hi is not None and pc > self.hi):
                    continue
                probe = FuncProbe(self._make(fname, pc, format_instruction(module, op, imm),
                                             consumed(module, f, op, imm)))
                self.instrument.insert(module, f, pc, probe)
                self.sites.append((f, pc, probe))

    def _make(self, fname: str, pc: int, text: str, n: int):
        lines = self.lines

        def fire(loc):
            if len(lines) >= self.limit:
                self._stop()
                return None
            if n:
                fr = loc.frame
                vals = [fr.get_operand(i) for i in range(n - 1, -1, -1)]
            else:
                vals = []
            lines.append((fname, pc, text, vals))
            return None
        return fire

    def _stop(self):
        if self.truncated:
            return
        self.truncated = True
        for f, pc, p in self.sites:
            self.instrument.remove(self.module, f, pc, p)

    def on_finish(self, report):
        report.data.update({"lines": [[f, pc, t, v] for f, pc, t, v in self.lines],
                            "truncated": self.truncated})
        for f, pc, t, v in self.lines:
            report.csv_row("trace", f, pc, t.replace(",", " "), " ".join(map(_fmt, v)))
        if report.format != "text":
            return
        for f, pc, t, v in self.lines:
            ops_ = "  " + " ".join(map(_fmt, v)) if v else ""
            report.text(f"func {f} +{pc}  {t}{ops_}")
        if self.truncated:
            report.text(f"trace: stopped after {self.limit} instructions (trace:limit=N)")


MONITOR = TraceMonitor
