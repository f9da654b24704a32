"""loops: how many iterations each loop ran.

A native CountProbe at every `loop` instruction: the count is the number of times control
reached the loop header, i.e. entries into the loop plus branches back to it (= iterations of
its body). Branches back to a loop land on the `loop` instruction itself in every tier
(docs/internal-code.md: "a probe at the loop header fires once per iteration"; compiled code
places the loop's label before its probe), so a probe there counts both. (It used to sit on the
first instruction of the body, which un-fused the superinstruction starting there: an extra
dispatch or two per iteration.)
end_pc is the pc of the loop's matching `end`.
Text: loops hottest first with `func +pc..+end_pc: count`. The text lists the loops that ran;
option `all` lists every loop.
CSV: `loop,func,pc,end_pc,count` for every loop, in code order.
JSON: the same rows.
"""
from __future__ import annotations

from wizardpy import CountProbe, Monitor, block_ends, defined_functions, func_ref, instructions
from wizardpy import opcodes as ops


class LoopMonitor(Monitor):
    name = "loops"
    description = "iterations per loop"

    def __init__(self, options: str = ""):
        super().__init__(options)
        opts = self.option_set()
        if opts - {"all", "executed"}:
            raise ValueError(f"invalid option(s) {', '.join(sorted(opts - {'all', 'executed'}))} "
                             f"(known: all)")
        self.only_executed = "all" not in opts
        self.module = None
        self.loops: list[tuple[int, int, int, CountProbe]] = []

    def on_parse(self, module):
        super().on_parse(module)
        self.module = module
        sites = []
        for f in defined_functions(module):
            loops = [pc for pc, _, _ in instructions(module, f, (ops.LOOP,), immediates=False)]
            if not loops:
                continue
            ends = block_ends(module, f)
            for pc in loops:
                p = CountProbe()
                sites.append((f, pc, p))
                self.loops.append((f, pc, ends[pc], p))
        self.instrument.insert_many(module, sites)      # one batch: one native patch

    def on_finish(self, report):
        m = self.module
        rows = [(f, pc, end, p.count) for f, pc, end, p in self.loops]
        report.data["loops"] = [[func_ref(m, f), pc, end, c] for f, pc, end, c in rows]
        for f, pc, end, c in rows:
            report.csv_row("loop", func_ref(m, f), pc, end, c)
        if report.format != "text":
            return
        ran = [r for r in rows if r[3]]
        report.text(f"loops: {len(ran)} of {len(rows)} loops executed, "
                    f"{sum(r[3] for r in rows)} iterations in total")
        shown = sorted(ran if self.only_executed else rows, key=lambda r: (-r[3], r[0], r[1]))
        if shown:
            w = max(len(func_ref(m, r[0])) for r in shown)
            for f, pc, end, c in shown:
                rng = f"+{pc}..+{end}"
                report.text(f"  {c:>12}  {func_ref(m, f):<{w}}  {rng}")
        if self.only_executed and len(ran) < len(rows):
            report.text(f"  ({len(rows) - len(ran)} loops never executed; loops:all lists them)")
