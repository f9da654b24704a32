"""icount: how many instructions executed, in total and per function.

One native `CountMoreProbe(n)` at the leader of every straight-line block (`counted_blocks`)
adds the block's n instructions each time the block starts, so counting costs one native counter
update per block instead of one per instruction. Blocks also end after every call, so
instructions after a call that never returns (a trap, `proc_exit`) are not counted: the total is
exact, instruction for instruction, for any run that does not trap in the middle of a block.
What counts as executed: every Wasm instruction the engine dispatches, including
block/loop/end/else; a branch skips the `end`s it jumps over; a `loop` runs once per iteration.

Options: `all` lists every executed function (default: the 40 busiest).
Text: the total and a per-function table (count, share). CSV: `icount,func,count` per executed
function and `icount,total,N`. JSON: {"total": N, "functions": {func: count}}.
"""
from __future__ import annotations

from wizardpy import CountMoreProbe, Monitor, defined_functions, func_ref, instructions

LOOP, IF, ELSE, END = 0x03, 0x04, 0x05, 0x0B
# after these the next instruction starts a block: it is a branch target (after end: the target
# of branches to a block/if label; after else: where a false `if` jumps), a fall-through of a
# conditional branch, or code reached only after a call returns
_ENDS = frozenset((IF, ELSE, END, 0x0C, 0x0D, 0x0E, 0x0F, 0x00, 0x10, 0x11))


def counted_blocks(module, func) -> list[tuple[int, ...]]:
    """The pcs of each straight-line block of `func`: when its first instruction executes, all
    of them do (unless one traps or a call never returns). Leaders: the first instruction,
    every `loop` (target of its back edges) and `end` (an if's end is the target of `else` and of
    a false `if` without else), and every instruction after if/else/end/br/br_if/br_table/
    return/unreachable/call/call_indirect. Finer than `wizardpy.basic_blocks`, which keeps
    calls inside blocks and does not start a block after `else`."""
    out: list[tuple[int, ...]] = []
    cur: list[int] = []
    new = True
    for pc, op, _ in instructions(module, func):
        if cur and (new or op == LOOP or op == END):
            out.append(tuple(cur))
            cur = []
        cur.append(pc)
        new = op in _ENDS
    if cur:
        out.append(tuple(cur))
    return out


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
        for f in defined_functions(module):
            for pcs in counted_blocks(module, f):
                p = CountMoreProbe(len(pcs))
                self.instrument.insert(module, f, pcs[0], p)
                self.blocks.append((f, p))

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
