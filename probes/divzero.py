"""divzero: report integer divisions by zero (and signed overflow) before they trap.

A probe at every `i32/i64.div_s/div_u/rem_s/rem_u` reads the two operands the instruction is
about to consume (dividend = operand 1, divisor = operand 0, through the `FrameAccessor`). When
the divisor is 0 (or `div_s` overflows: INT_MIN / -1) it records the location, the operands and
the call stack, then lets the instruction run -- so the program traps exactly as it would
without the probe (non-intrusive). With `divzero:fix` the probe instead writes 1 into the divisor
(`FrameWriter.set_operand`), turning the trap into a result: a demonstration of frame writes.

Python:
    guard = DivZeroGuard(engine.instrument, module)      # inserts the probes
    ... run ...
    for ev in guard.events: print(ev)                    # DivZeroEvent(func, pc, op, a, b, stack)

Command line:
    wizardpy run --monitor probes/divzero.py app.wasm
"""
from __future__ import annotations

from typing import NamedTuple

from wizardpy import Monitor, Probe, defined_functions, func_ref, instructions
from wizardpy import opcodes as ops

DIVS = {ops.BY_NAME[f"{t}.{o}"]: (t, o) for t in ("i32", "i64")
        for o in ("div_s", "div_u", "rem_s", "rem_u")}


class DivZeroEvent(NamedTuple):
    func: str          # '"name"' or '#N'
    pc: int
    instruction: str   # e.g. "i32.div_s"
    dividend: int
    divisor: int
    kind: str          # "divide by zero" or "overflow"
    stack: tuple[str, ...]   # callers, innermost first: ('"f" +12', '"main" +40', ...)

    def __str__(self) -> str:
        where = " <- ".join(self.stack)
        return (f"{self.kind}: func {self.func} +{self.pc} {self.instruction} "
                f"{self.dividend} {self.divisor}" + (f"  (called from {where})" if where else ""))


class DivZeroProbe(Probe):
    """Checks the divisor of one division instruction."""

    def __init__(self, guard: "DivZeroGuard", op: int):
        self.guard = guard
        self.op = op
        self.bits, self.kind = DIVS[op]

    def fire(self, loc):
        fr = loc.frame
        b = fr.get_operand(0)
        a = fr.get_operand(1)
        kind = None
        if b == 0:
            kind = "divide by zero"
        elif self.kind == "div_s" and b == -1 and a == -(1 << (31 if self.bits == "i32" else 63)):
            kind = "overflow"
        if kind is None:
            return None
        stack = []
        c = fr.caller()
        while c is not None:
            stack.append(f"{c.func_name} +{c.pc}")
            c = c.caller()
        self.guard.events.append(DivZeroEvent(func_ref(loc.module, loc.func), loc.pc,
                                              ops.name(self.op), a, b, kind, tuple(stack)))
        if self.guard.fix and kind == "divide by zero":
            fr.writer().set_operand(0, 1)
        return None


class DivZeroGuard:
    """Inserts a DivZeroProbe at every integer division/remainder of `module`."""

    def __init__(self, instrument, module, fix: bool = False):
        self.events: list[DivZeroEvent] = []
        self.fix = fix
        self.sites = 0
        for f in defined_functions(module):
            for pc, op, _ in instructions(module, f):
                if op in DIVS:
                    instrument.insert(module, f, pc, DivZeroProbe(self, op))
                    self.sites += 1


class DivZeroMonitor(Monitor):
    name = "divzero"
    description = "report integer division by zero / overflow with operands before the trap"

    def __init__(self, options: str = ""):
        super().__init__(options)
        bad = self.option_set() - {"fix"}
        if bad:
            raise ValueError(f"invalid option(s) {', '.join(sorted(bad))} (known: fix)")
        self.fix = "fix" in self.option_set()
        self.guard = None

    def on_parse(self, module):
        super().on_parse(module)
        self.guard = DivZeroGuard(self.instrument, module, self.fix)

    def on_finish(self, report):
        evs = self.guard.events if self.guard else []
        report.data["events"] = [e._asdict() for e in evs]
        for e in evs:
            report.csv_row("divzero", e.func, e.pc, e.instruction, e.dividend, e.divisor)
        report.text(f"divzero: {len(evs)} faulting divisions "
                    f"({self.guard.sites if self.guard else 0} division sites watched)")
        for e in evs:
            report.text(f"  {e}")


MONITOR = DivZeroMonitor
