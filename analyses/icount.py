"""icount: how many instructions executed, in total and per function.

One native `CountMoreProbe(n)` at the leader of every basic block (`wizardpy.basic_blocks`)
adds the block's n instructions each time the block starts, so counting costs one native counter
update per block instead of one per instruction. Blocks end after every call, so instructions
after a call that never returns (a trap, `proc_exit`) are not counted: the total is exact,
instruction for instruction, for any run that does not trap in the middle of a block (a trap
counts the rest of its block too, and ends the run).
What counts as executed: every Wasm instruction the engine dispatches, including
block/loop/end/else; a branch skips the `end`s it jumps over; a `loop` runs once per iteration.

Options: `all` lists every executed function (default: the 40 busiest).
Text: the total and a per-function table (count, share). CSV: `icount,func,count` per executed
function and `icount,total,N`. JSON: {"total": N, "functions": {func: count}}.
"""
from __future__ import annotations

from wizardpy import CountMoreProbe, Monitor, basic_blocks, defined_functions, func_ref


class IcountMonitor(Monitor):
    name = "icount"
    description = "executed instructions, total and per function (a counter per basic block)"

    def __init__(self, options: str = ""):
        super().__init__(options)
        self.show_all = False
        for o in self.option_set():
            if o == "all":
                self.show_all = True
            else:
                raise ValueError(f"invalid option {o!r} (known: all)")
        self.module = None
        self.blocks: list[tuple[int, CountMoreProbe]] = []

    def on_parse(self, module):
        super().on_parse(module)
        self.module = module
        sites = []
        for f in defined_functions(module):
            for b in basic_blocks(module, f):
                p = CountMoreProbe(len(b.pcs))
                sites.append((f, b.start, p))
                self.blocks.append((f, p))
        self.instrument.insert_many(module, sites)      # one batch: one native patch

    def per_function(self) -> dict[int, int]:
        """{function index: executed instructions} (functions that ran)."""
        out: dict[int, int] = {}
        for f, p in self.blocks:
            c = p.count
            if c:
                out[f] = out.get(f, 0) + c
        return out

    @property
    def total(self) -> int:
        return sum(p.count for _, p in self.blocks)

    def on_finish(self, report):
        m = self.module
        per = sorted(self.per_function().items(), key=lambda kv: (-kv[1], kv[0]))
        total = sum(c for _, c in per)
        report.data.update({"total": total,
                            "functions": {func_ref(m, f): c for f, c in per}})
        for f, c in per:
            report.csv_row("icount", func_ref(m, f), c)
        report.csv_row("icount", "total", total)
        if report.format != "text":
            return
        report.text(f"icount: {total} instructions executed in {len(per)} functions")
        n = len(per) if self.show_all else min(40, len(per))
        if n:
            w = max(len(func_ref(m, f)) for f, _ in per[:n])
            report.text(f"  {'count':>14} {'%':>6}  function")
            for f, c in per[:n]:
                report.text(f"  {c:>14} {100 * c / total:>6.2f}  {func_ref(m, f)}")
            if n < len(per):
                report.text(f"  ... {len(per) - n} more functions (icount:all lists them)")


MONITOR = IcountMonitor
