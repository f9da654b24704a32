"""branches: how often each conditional branch went each way.

An OperandProbe at every br_if, if and br_table receives the condition / index (the top of the
stack) just before the instruction executes. For br_if and if the same counts come from two
native CountProbes (at the branch and at the instruction only its fall-through / then arm
reaches), with no Python call per execution, wherever that next instruction is not a branch
target itself (a targeted `loop`, the `end` of an `if` or of the function); option `operand`
uses OperandProbes everywhere.
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

from wizardpy import (CountProbe, Monitor, OperandProbe, block_ends, defined_functions, func_ref,
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
            instrs = list(instructions(module, f, immediates=False))
            at_k = [k for k, (_, op, _) in enumerate(instrs) if op in want]
            if not at_k:
                continue
            ops_at = {pc: op for pc, op, _ in instrs}
            # the `end` of a loop or of a block is never a branch target (branches go to the
            # loop header / to the instruction after the block's end): only falling through
            # reaches it. (The `end` of an `if` is where a false `if` or the `else` arm lands.)
            safe_ends = {e for b, e in block_ends(module, f).items()
                         if ops_at[b] in (ops.LOOP, ops.BLOCK)}
            tables = None
            for k in at_k:
                pc, op, _ = instrs[k]
                if op in (ops.BR_IF, ops.IF):
                    nxt_pc, nxt_op, _ = instrs[k + 1]
                    if not self.operand and (nxt_op not in (ops.END, ops.LOOP)
                                             or nxt_pc in safe_ends):
                        # Native counters only: executions of the branch, and of the next
                        # instruction, which only the fall-through (br_if not taken) or the
                        # entry into the then arm (if taken) reaches. (A next `loop`, or `end`
                        # of an if/the function, may also be a branch target: those sites use
                        # the OperandProbe; the `end` of a loop or a block is safe.)
                        at, nxt = CountProbe(), CountProbe()
                        sites.append((f, pc, at))
                        sites.append((f, nxt_pc, nxt))
                        if op == ops.BR_IF:
                            get = (lambda a=at, n=nxt: [n.count, a.count - n.count])
                        else:
                            get = (lambda a=at, n=nxt: [a.count - n.count, n.count])
                        self.sites.append((f, pc, ops.name(op), get))
                        continue
                    counts = [0, 0]
                    cb = _cond_counter(counts)
                else:
                    if tables is None:      # br_table labels: decode only the br_tables
                        tables = {p: imm for p, _, imm in instructions(module, f, {ops.BR_TABLE})}
                    counts = [0] * (len(tables[pc][0]) + 1)
                    cb = _table_counter(counts)
                sites.append((f, pc, OperandProbe(cb)))
                self.sites.append((f, pc, ops.name(op), (lambda c=counts: list(c))))
        self.instrument.insert_many(module, sites)      # one batch: one native patch

    def on_finish(self, report):
        m = self.module
        rows = [(f, pc, name, get()) for f, pc, name, get in self.sites]
        report.data["branches"] = [[func_ref(m, f), pc, name, c] for f, pc, name, c in rows]
        for f, pc, name, c in rows:
            report.csv_row("branch", func_ref(m, f), pc, name, "[" + " ".join(map(str, c)) + "]")
        if report.format != "text":
            return
        executed = [r for r in rows if sum(r[3])]
        total = sum(sum(r[3]) for r in rows)
        report.text(f"branches: {len(executed)} of {len(rows)} branch sites executed, "
                    f"{total} branch executions")
        prev = None
        for f, pc, name, c in (executed if self.only_executed else rows):
            if f != prev:
                report.text(f"func {func_ref(m, f)}:")
                prev = f
            n = sum(c)
            extra = ""
            if n and name != "br_table":
                extra = f"  ({100 * c[1] / n:.1f}% taken)"
            report.text(f"  +{pc:<6} {name:<8}: [{' '.join(map(str, c))}]{extra}")
        if self.only_executed and len(executed) < len(rows):
            report.text(f"({len(rows) - len(executed)} branch sites never executed; "
                        f"branches:all lists them)")
