"""hotness: how many times each instruction executed.

One native `CountProbe` at the leader of every basic block (`wizardpy.basic_blocks`); every
instruction's count is its block's count. Blocks end at every branch target and after every
branch, return, unreachable and call, so this is exact for any run that does not trap in the
middle of a block (a call that traps or exits is the last instruction of its block). Only a trap
itself is inexact: the instructions after the trapping one in its block are counted once more,
and the trap ends the run. Cost: one native counter update per executed block (no Python call).

Text: the total, the hottest instructions (count, share, cumulative share, function, +pc,
mnemonic) and how many instructions account for 50/75/90/95/99/100% of the execution.
Options: `all` lists every executed instruction (default: the hottest, up to 95% of execution or
at most 40 rows); `top=N` lists N rows.
CSV: `hotness,func,pc,count` for every executed instruction, hottest first.
JSON: total, thresholds, and [func, pc, mnemonic, count] rows.
With DWARF line info (a `-g` build): a `file:line` column (the file's base name), the hottest
source lines (instructions executed per line, summed), JSON `sources` ([file, line] or None per
row) and `lines`; `lcov_counts()` feeds `--lcov FILE`.
"""
from __future__ import annotations

from wizardpy import (CountProbe, Monitor, basic_blocks, defined_functions, format_instruction,
                      func_ref, instructions)

THRESHOLDS = (50, 75, 90, 95, 99, 100)


class HotnessMonitor(Monitor):
    name = "hotness"
    description = "per-instruction execution counts, hottest first"

    def __init__(self, options: str = ""):
        super().__init__(options)
        self.show_all = False
        self.top = None
        for o in self.option_set():
            if o == "all":
                self.show_all = True
            elif o.startswith("top="):
                try:
                    self.top = int(o[4:])
                except ValueError:
                    raise ValueError(f"invalid option {o!r}: top=N takes a number") from None
            else:
                raise ValueError(f"invalid option {o!r} (known: all, top=N)")
        self.module = None
        # (func, pc, instruction, the CountProbe of its block) per instruction, in code order
        self.sites: list[tuple[int, int, str, CountProbe]] = []
        self.source = None    # {(func, pc): (file, line)} from DWARF, or None

    def lcov_counts(self) -> dict[tuple[int, int], int]:
        """{(func, pc): count} for every instruction (for an LCOV tracefile)."""
        return {(f, pc): p.count for f, pc, _, p in self.sites}

    def _where(self, f: int, pc: int) -> str:
        loc = (self.source or {}).get((f, pc))
        return f"{loc[0].rsplit('/', 1)[-1]}:{loc[1]}" if loc else ""

    def on_parse(self, module):
        super().on_parse(module)
        self.module = module
        self.source = module.source_lines() if getattr(module, "has_source_info", False) else None
        for f in defined_functions(module):
            text = {pc: format_instruction(module, op, imm) for pc, op, imm in instructions(module, f)}
            for b in basic_blocks(module, f):
                p = CountProbe()
                self.instrument.insert(module, f, b.start, p)
                self.sites.extend((f, pc, text[pc], p) for pc in b.pcs)

    def counts(self) -> list[tuple[int, int, str, int]]:
        """(func, pc, instruction, count) of the executed instructions, hottest first."""
        rows = [(f, pc, text, c) for f, pc, text, p in self.sites if (c := p.count)]
        rows.sort(key=lambda r: (-r[3], r[0], r[1]))
        return rows

    @staticmethod
    def thresholds(rows, total: int) -> dict[int, int]:
        """{percent: fewest instructions (hottest first) whose counts reach percent% of total}."""
        out = {}
        acc = 0
        k = 0
        for pct in THRESHOLDS:
            while k < len(rows) and acc * 100 < pct * total:
                acc += rows[k][3]
                k += 1
            out[pct] = k
        return out

    def on_finish(self, report):
        m = self.module
        rows = self.counts()
        total = sum(r[3] for r in rows)
        th = self.thresholds(rows, total)
        report.data.update({
            "total": total, "executed_instructions": len(rows), "instructions": len(self.sites),
            "thresholds": {str(k): v for k, v in th.items()},
            "counts": [[func_ref(m, f), pc, text, c] for f, pc, text, c in rows],
        })
        by_line: dict[tuple[str, int], int] = {}
        if self.source:
            report.data["sources"] = [list(self.source[(f, pc)]) if (f, pc) in self.source else None
                                      for f, pc, _, _ in rows]
            for f, pc, _, c in rows:
                loc = self.source.get((f, pc))
                if loc:
                    by_line[loc] = by_line.get(loc, 0) + c
            report.data["lines"] = [[fn, ln, c] for (fn, ln), c in
                                    sorted(by_line.items(), key=lambda kv: (-kv[1], kv[0]))]
        for f, pc, _, c in rows:
            report.csv_row("hotness", func_ref(m, f), pc, c)
        if report.format != "text":
            return
        report.text(f"hotness: {total} instructions executed; {len(rows)} of {len(self.sites)} "
                    f"instructions ran")
        if self.show_all:
            n = len(rows)
        elif self.top is not None:
            n = min(self.top, len(rows))
        else:
            n = min(th.get(95, 0), 40)
        if n:
            w = max(len(func_ref(m, r[0])) for r in rows[:n])
            ws = max((len(self._where(r[0], r[1])) for r in rows[:n]), default=0) if self.source else 0
            src = f"{'source':<{ws}}  " if ws else ""
            report.text(f"  {'count':>12} {'%':>6} {'cum%':>6}  {'function':<{w}} {'pc':>7}  {src}instruction")
            acc = 0
            for f, pc, text, c in rows[:n]:
                acc += c
                where = f"{self._where(f, pc):<{ws}}  " if ws else ""
                report.text(f"  {c:>12} {100 * c / total:>6.2f} {100 * acc / total:>6.2f}  "
                            f"{func_ref(m, f):<{w}} {'+' + str(pc):>7}  {where}{text}")
            if n < len(rows):
                report.text(f"  ... {len(rows) - n} more executed instructions (hotness:all lists them)")
        report.text("  share of execution:  " + "  ".join(
            f"{p}%: {th[p]} instr" for p in THRESHOLDS))
        if by_line:
            top = sorted(by_line.items(), key=lambda kv: (-kv[1], kv[0]))[:min(max(n, 10), 40)]
            report.text(f"  hottest source lines ({len(by_line)} executed; instructions per line):")
            for (fn, ln), c in top:
                report.text(f"  {c:>12} {100 * c / total:>6.2f}  {fn.rsplit('/', 1)[-1]}:{ln}")
