"""branches: how often each conditional branch went each way.

A native `TallyProbe` at every br_if, if and br_table counts the condition / index (the top of the
stack) just before the instruction executes, with no Python call per execution in any tier;
option `operand` uses OperandProbes (a Python callback per execution) instead, the same counts
by another mechanism.
  - br_if and if count `[not_taken taken]`: taken = the condition is non-zero (br_if branches,
    if enters its `then` arm);
  - br_table counts one entry per target in table order, the default target last; an index out
    of range (unsigned) counts for the default.
Text: per function, `+pc instruction: [n0 n1 ...]`, with totals. The text lists the branches
that ran; option `all` lists every branch site.
CSV: `branch,func,pc,instruction,taken_paths` with taken_paths `[n0 n1 ...]`, every branch site.
JSON: the same rows.
"""
from __future__ import annotations

from wizardpy import (Monitor, OperandProbe, TallyProbe, defined_functions, func_ref,
                      instructions)
from wizardpy import opcodes as ops


def _cond_counter(counts):
    def cb(value):
        counts[1 if value else 0] += 1
    return cb


def _table_counter(counts):
    n = len(counts) - 1

    def cb(value):
        i = value & 0xFFFFFFFF
        counts[i if i < n else n] += 1
    return cb


class BranchMonitor(Monitor):
    name = "branches"
    description = "taken / not-taken counts of br_if, if and br_table targets"

    def __init__(self, options: str = ""):
        super().__init__(options)
        opts = self.option_set()
        known = {"all", "executed", "operand"}
        if opts - known:
            raise ValueError(f"invalid option(s) {', '.join(sorted(opts - known))} "
                             f"(known: all, operand)")
        self.only_executed = "all" not in opts
        self.operand = "operand" in opts
        self.module = None
        self.sites: list[tuple[int, int, str, list[int]]] = []

    def on_parse(self, module):
        super().on_parse(module)
        self.module = module
        sites = []
        want = (ops.BR_IF, ops.IF, ops.BR_TABLE)
        for f in defined_functions(module):
            for pc, op, imm in instructions(module, f, want):
                n = len(imm[0]) + 1 if op == ops.BR_TABLE else 2
                if self.operand:
                    counts = [0] * n
                    sites.append((f, pc, OperandProbe(
                        _table_counter(counts) if op == ops.BR_TABLE else _cond_counter(counts))))
                    self.sites.append((f, pc, ops.name(op), (lambda c=counts: list(c))))
                else:
                    t = TallyProbe(n)
                    sites.append((f, pc, t))
                    self.sites.append((f, pc, ops.name(op), (lambda t=t: t.counts)))
        self.instrument.insert_many(module, sites)      # one batch: one native patch

    def on_finish(self, report):
        m = self.module
        rows = [(f, pc, name, get()) for f, pc, name, get in self.sites]
        refs = {f: func_ref(m, f) for f in {r[0] for r in rows}}
        report.data["branches"] = [[refs[f], pc, name, c] for f, pc, name, c in rows]
        if report.format == "csv":
            for f, pc, name, c in rows:
                report.csv_row("branch", refs[f], pc, name, "[" + " ".join(map(str, c)) + "]")
        if report.format != "text":
            return
        executed = [r for r in rows if sum(r[3])]
        total = sum(sum(r[3]) for r in rows)
        report.text(f"branches: {len(executed)} of {len(rows)} branch sites executed, "
                    f"{total} branch executions")
        prev = None
        for f, pc, name, c in (executed if self.only_executed else rows):
            if f != prev:
                report.text(f"func {refs[f]}:")
                prev = f
            n = sum(c)
            extra = ""
            if n and name != "br_table":
                extra = f"  ({100 * c[1] / n:.1f}% taken)"
            report.text(f"  +{pc:<6} {name:<8}: [{' '.join(map(str, c))}]{extra}")
        if self.only_executed and len(executed) < len(rows):
            report.text(f"({len(rows) - len(executed)} branch sites never executed; "
                        f"branches:all lists them)")
