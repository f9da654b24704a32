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
JSON: total, thresholds, and [func, pc, mnemonic, count] rows (`counts`; only the JSON format
builds them: text and CSV need no instruction text beyond the rows they print).
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
        # (func, pcs of the basic block, its CountProbe) per block, in code order
        self.blocks: list[tuple[int, tuple[int, ...], CountProbe]] = []
        self.source = None    # {(func, pc): (file, line)} from DWARF, or None
        self._texts: dict[int, dict[int, str]] = {}

    @property
    def sites(self) -> list[tuple[int, int, str, CountProbe]]:
        """(func, pc, instruction, the CountProbe of its block) per instruction, in code order."""
        rows = [(f, pc, p) for f, pcs, p in self.blocks for pc in pcs]
        self._texts_of(rows)
        return [(f, pc, self._text(f, pc), p) for f, pc, p in rows]

    def _text(self, f: int, pc: int) -> str:
        """The instruction's text (decoded on first use: a text report needs few)."""
        t = self._texts.setdefault(f, {})
        s = t.get(pc)
        if s is None:
            m = self.module
            for q, op, imm in instructions(m, f, pcs={pc}):
                s = t[q] = format_instruction(m, op, imm)
        return s

    def _texts_of(self, rows) -> None:
        """Decode the instructions of many (func, pc, ...) rows, one pass per function."""
        want: dict[int, set] = {}
        for r in rows:
            want.setdefault(r[0], set()).add(r[1])
        m = self.module
        for f, pcs in want.items():
            t = self._texts.setdefault(f, {})
            pcs -= t.keys()
            if pcs:
                for q, op, imm in instructions(m, f, pcs=pcs):
                    t[q] = format_instruction(m, op, imm)

    def lcov_counts(self) -> dict[tuple[int, int], int]:
        """{(func, pc): count} for every instruction (for an LCOV tracefile)."""
        return {(f, pc): c for f, pcs, p in self.blocks for c in (p.count,) for pc in pcs}

    def _where(self, f: int, pc: int) -> str:
        loc = (self.source or {}).get((f, pc))
        return f"{loc[0].rsplit('/', 1)[-1]}:{loc[1]}" if loc else ""

    def on_parse(self, module):
        super().on_parse(module)
        self.module = module
        self.source = module.source_lines() if getattr(module, "has_source_info", False) else None
        sites = []
        for f in defined_functions(module):
            for b in basic_blocks(module, f):
                p = CountProbe()
                sites.append((f, b.start, p))
                self.blocks.append((f, b.pcs, p))
        self.instrument.insert_many(module, sites)      # one batch: one native patch

    def _executed_blocks(self) -> list[tuple[int, int, tuple[int, ...]]]:
        """(count, func, pcs) of the executed blocks, hottest first, then by (func, pc): so
        expanding them instruction by instruction gives the instructions in `counts()` order
        (a block's pcs are consecutive and ascending)."""
        rows = [(c, f, pcs) for f, pcs, p in self.blocks if (c := p.count)]
        rows.sort(key=lambda r: (-r[0], r[1], r[2][0]))
        return rows

    def counts(self) -> list[tuple[int, int, str, int]]:
        """(func, pc, instruction, count) of the executed instructions, hottest first."""
        rows = [(f, pc, c) for c, f, pcs in self._executed_blocks() for pc in pcs]
        self._texts_of(rows)
        return [(f, pc, self._text(f, pc), c) for f, pc, c in rows]

    @staticmethod
    def thresholds(rows, total: int) -> dict[int, int]:
        """{percent: fewest instructions (hottest first) whose counts reach percent% of total}.
        `rows`: (func, pc, instruction, count) hottest first, or (count, func, pcs) per block
        (every instruction of a block has its count)."""
        if rows and isinstance(rows[0][2], tuple):
            blocks = [(r[0], len(r[2])) for r in rows]
        else:
            blocks = [(r[3], 1) for r in rows]
        out = {}
        acc = k = bi = used = 0
        for pct in THRESHOLDS:
            goal = pct * total
            while bi < len(blocks) and acc * 100 < goal:
                c, n = blocks[bi]
                j = -(-(goal - acc * 100) // (100 * c))     # instructions of this block needed
                if j < n - used:
                    acc += j * c
                    k += j
                    used += j
                else:
                    acc += (n - used) * c
                    k += n - used
                    bi += 1
                    used = 0
            out[pct] = k
        return out

    def on_finish(self, report):
        m = self.module
        blocks = self._executed_blocks()
        total = sum(c * len(pcs) for c, _, pcs in blocks)
        executed = sum(len(pcs) for _, _, pcs in blocks)
        th = self.thresholds(blocks, total)
        report.data.update({
            "total": total, "executed_instructions": executed,
            "instructions": sum(len(pcs) for _, pcs, _ in self.blocks),
            "thresholds": {str(k): v for k, v in th.items()},
        })
        if report.format == "json":          # every executed instruction (with its text)
            rows = [(f, pc, c) for c, f, pcs in blocks for pc in pcs]
            self._texts_of(rows)
            report.data["counts"] = [[func_ref(m, f), pc, self._text(f, pc), c]
                                     for f, pc, c in rows]
        elif report.format == "csv":
            refs = {}
            for c, f, pcs in blocks:
                r = refs.get(f)
                if r is None:
                    r = refs[f] = func_ref(m, f)
                for pc in pcs:
                    report.csv_row("hotness", r, pc, c)
        by_line: dict[tuple[str, int], int] = {}
        if self.source:
            rows = [(f, pc, c) for c, f, pcs in blocks for pc in pcs]
            report.data["sources"] = [list(self.source[(f, pc)]) if (f, pc) in self.source else None
                                      for f, pc, _ in rows]
            for f, pc, c in rows:
                loc = self.source.get((f, pc))
                if loc:
                    by_line[loc] = by_line.get(loc, 0) + c
            report.data["lines"] = [[fn, ln, c] for (fn, ln), c in
                                    sorted(by_line.items(), key=lambda kv: (-kv[1], kv[0]))]
        if report.format != "text":
            return
        report.text(f"hotness: {total} instructions executed; {executed} of "
                    f"{report.data['instructions']} instructions ran")
        if self.show_all:
            n = executed
        elif self.top is not None:
            n = min(self.top, executed)
        else:
            n = min(th.get(95, 0), 40)
        top = []
        for c, f, pcs in blocks:
            if len(top) >= n:
                break
            top.extend((f, pc, c) for pc in pcs[:n - len(top)])
        self._texts_of(top)
        top = [(f, pc, self._text(f, pc), c) for f, pc, c in top]
        if n:
            w = max(len(func_ref(m, r[0])) for r in top)
            ws = max((len(self._where(r[0], r[1])) for r in top), default=0) if self.source else 0
            src = f"{'source':<{ws}}  " if ws else ""
            report.text(f"  {'count':>12} {'%':>6} {'cum%':>6}  {'function':<{w}} {'pc':>7}  {src}instruction")
            acc = 0
            for f, pc, text, c in top:
                acc += c
                where = f"{self._where(f, pc):<{ws}}  " if ws else ""
                report.text(f"  {c:>12} {100 * c / total:>6.2f} {100 * acc / total:>6.2f}  "
                            f"{func_ref(m, f):<{w}} {'+' + str(pc):>7}  {where}{text}")
            if n < executed:
                report.text(f"  ... {executed - n} more executed instructions (hotness:all lists them)")
        report.text("  share of execution:  " + "  ".join(
            f"{p}%: {th[p]} instr" for p in THRESHOLDS))
        if by_line:
            top = sorted(by_line.items(), key=lambda kv: (-kv[1], kv[0]))[:min(max(n, 10), 40)]
            report.text(f"  hottest source lines ({len(by_line)} executed; instructions per line):")
            for (fn, ln), c in top:
                report.text(f"  {c:>12} {100 * c / total:>6.2f}  {fn.rsplit('/', 1)[-1]}:{ln}")
