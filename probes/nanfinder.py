"""nanfinder: find the instructions that produce a NaN.

After every floating-point instruction that computes a new value (f32/f64 arithmetic and
conversions to float: add, div, sqrt, convert, demote, reinterpret, ... -- not loads, consts or
moves), the result is on top of the stack when the *next* instruction is about to run. An
`OperandProbe` at that next instruction receives the top-of-stack value (no frame is
materialized: the engine's fast operand path) and counts NaNs per producing instruction.
Fresh NaNs (an operation such as 0/0, inf-inf or sqrt(-1)) and propagated NaNs (an input was
NaN already) are both reported; `first` tells which site produced a NaN first.

Python:
    nf = NanFinder(engine.instrument, module)
    ... run ...
    nf.sites    # {(func, pc): NanSite(instruction, count, first_seq)}
    nf.report() # lines, first NaN producer first

Command line:
    wizardpy run --monitor probes/nanfinder.py app.wasm
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

from wizardpy import Monitor, OperandProbe, defined_functions, func_ref, instructions
from wizardpy import opcodes as ops
from wizardpy.types import F32, F64

# instructions that compute a float result from their operands
PRODUCERS = frozenset(op for op, sig in ops.SIGNATURES.items()
                      if sig[1] and sig[1][0] in (F32, F64)
                      and ops.FAMILY.get(op) in ("arith", "convert"))


@dataclass
class NanSite:
    instruction: str
    count: int = 0          # times this instruction produced a NaN
    executions: int = 0     # times it produced anything (the probe's firings)
    first: int = 0          # sequence number of its first NaN (lower = earlier)


class NanFinder:
    """Watches every float-producing instruction of `module`."""

    def __init__(self, instrument, module):
        self.module = module
        self.sites: dict[tuple[int, int], NanSite] = {}
        self._seq = itertools.count(1)
        for f in defined_functions(module):
            code = list(instructions(module, f))
            for (pc, op, _), (npc, _, _) in zip(code, code[1:]):
                if op in PRODUCERS:
                    site = self.sites[(f, pc)] = NanSite(ops.name(op))
                    instrument.insert(module, f, npc, OperandProbe(self._check(site)))

    def _check(self, site: NanSite):
        seq = self._seq

        def check(value):
            site.executions += 1
            if value != value:
                if not site.count:
                    site.first = next(seq)
                site.count += 1
        return check

    def found(self) -> list[tuple[int, int, NanSite]]:
        """(func, pc, site) of every instruction that produced a NaN, earliest first."""
        rows = [(f, pc, s) for (f, pc), s in self.sites.items() if s.count]
        rows.sort(key=lambda r: r[2].first)
        return rows

    def report(self) -> list[str]:
        return [f"func {func_ref(self.module, f)} +{pc}  {s.instruction}: {s.count} NaNs "
                f"in {s.executions} executions" for f, pc, s in self.found()]


class NanFinderMonitor(Monitor):
    name = "nanfinder"
    description = "instructions producing NaN (an OperandProbe after each float operation)"

    def on_parse(self, module):
        super().on_parse(module)
        self.nf = NanFinder(self.instrument, module)

    def on_finish(self, report):
        rows = self.nf.found()
        report.data["nans"] = [[func_ref(self.nf.module, f), pc, s.instruction, s.count,
                                s.executions] for f, pc, s in rows]
        for f, pc, s in rows:
            report.csv_row("nan", func_ref(self.nf.module, f), pc, s.instruction, s.count)
        report.text(f"nanfinder: {len(rows)} of {len(self.nf.sites)} float instructions "
                    f"produced NaN (first producer first)")
        for line in self.nf.report():
            report.text(f"  {line}")


MONITOR = NanFinderMonitor
