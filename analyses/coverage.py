"""coverage: which instructions and basic blocks ran.

A probe at every instruction records the first execution and removes itself, so a covered
instruction costs one Python call in the whole run and then runs at full speed (as the Wizard
engine's CoverageMonitor does). Block coverage counts blocks (`wizardpy.basic_blocks`) whose
leader ran.

Options (`--monitor coverage:OPTS`, comma-separated):
    code    an annotated listing of every function (`*` = executed, `->` = a covered block's
            leader, uncovered code dimmed by a leading `.`)
    funcs   list every function's coverage (default: only the partially covered ones)
Text: per-function table and the totals; with DWARF line info (a `-g` build) also each function's
`file:line`, the listing's source lines and a `Line coverage:` total (`lcov_counts()` feeds
`--lcov FILE`). CSV: the two summary lines
`Instr coverage:\\tC / T (P%)` and `Block coverage:\\tC / T (P%)` (P = floor percentage).
JSON: totals, per function {covered pcs, blocks}.
"""
from __future__ import annotations

from wizardpy import (Monitor, Probe, basic_blocks, defined_functions, format_instruction,
                      func_ref, instructions)


def _pct(c: int, t: int) -> int:
    return 100 * c // t if t else 100


class _FirstHit(Probe):
    """Records (func, pc) and removes itself from that location."""

    def __init__(self, monitor: "CoverageMonitor", module):
        self.monitor = monitor
        self.module = module

    def fire(self, loc):
        self.monitor.executed.add((loc.func, loc.pc))
        self.monitor.instrument.remove(self.module, loc.func, loc.pc, self)
        return None


class CoverageMonitor(Monitor):
    name = "coverage"
    description = "instruction and basic-block coverage (probes remove themselves)"

    def __init__(self, options: str = ""):
        super().__init__(options)
        opts = self.option_set()
        bad = opts - {"code", "c", "funcs", "f"}
        if bad:
            raise ValueError(f"invalid option(s) {', '.join(sorted(bad))} (known: code, funcs)")
        self.code = bool(opts & {"code", "c"})
        self.all_funcs = bool(opts & {"funcs", "f"})
        self.executed: set[tuple[int, int]] = set()
        self.module = None
        self.funcs: list[tuple[int, list[tuple[int, int, tuple]], list]] = []
        self.source = None    # {(func, pc): (file, line)} from DWARF, or None

    def lcov_counts(self) -> dict[tuple[int, int], int]:
        """{(func, pc): 1 if executed else 0} for every instruction (for an LCOV tracefile)."""
        ex = self.executed
        return {(f, pc): int((f, pc) in ex) for f, instrs, _ in self.funcs for pc, _, _ in instrs}

    def _where(self, f: int, pc: int | None = None) -> str:
        """`file:line` (file's base name) of an instruction, or of a function's first one."""
        src = self.source or {}
        if pc is None:
            pcs = [p for p, _, _ in next((i for g, i, _ in self.funcs if g == f), ())]
            loc = next((src[(f, p)] for p in pcs if (f, p) in src), None)
        else:
            loc = src.get((f, pc))
        return f"{loc[0].rsplit('/', 1)[-1]}:{loc[1]}" if loc else ""

    def on_parse(self, module):
        super().on_parse(module)
        self.module = module
        self.source = module.source_lines() if getattr(module, "has_source_info", False) else None
        probe = _FirstHit(self, module)
        for f in defined_functions(module):
            instrs = list(instructions(module, f))
            self.funcs.append((f, instrs, basic_blocks(module, f)))
            for pc, _, _ in instrs:
                self.instrument.insert(module, f, pc, probe)

    def on_finish(self, report):
        m, ex = self.module, self.executed
        ti = ci = tb = cb = 0
        rows = []
        per_func = {}
        for f, instrs, blocks in self.funcs:
            fi = len(instrs)
            fc = sum((f, pc) in ex for pc, _, _ in instrs)
            fb = len(blocks)
            fbc = sum((f, b.start) in ex for b in blocks)
            ti += fi
            ci += fc
            tb += fb
            cb += fbc
            rows.append((f, fc, fi, fbc, fb))
            per_func[func_ref(m, f)] = {
                "index": f, "instructions": fi, "covered": fc, "blocks": fb, "blocks_covered": fbc,
                "covered_pcs": [pc for pc, _, _ in instrs if (f, pc) in ex],
                "block_starts": [b.start for b in blocks],
            }
        instr_line = f"Instr coverage:\t{ci} / {ti} ({_pct(ci, ti)}%)"
        block_line = f"Block coverage:\t{cb} / {tb} ({_pct(cb, tb)}%)"
        report.data.update({"instructions": ti, "covered": ci, "blocks": tb, "blocks_covered": cb,
                            "functions": per_func})
        line_line = None
        if self.source:
            lines: dict[str, dict[int, int]] = {}
            for (f, pc), c in self.lcov_counts().items():
                loc = self.source.get((f, pc))
                if loc:
                    per = lines.setdefault(loc[0], {})
                    per[loc[1]] = max(per.get(loc[1], 0), c)
            lf = sum(len(v) for v in lines.values())
            lh = sum(sum(1 for c in v.values() if c) for v in lines.values())
            line_line = f"Line coverage:\t{lh} / {lf} ({_pct(lh, lf)}%) in {len(lines)} source files"
            report.data["lines"] = {fn: {str(k): v for k, v in sorted(per.items())}
                                    for fn, per in sorted(lines.items())}
        if report.format != "text":
            report.summary(instr_line)
            report.summary(block_line)
            return
        if self.code:
            for f, instrs, blocks in self.funcs:
                self._listing(report, f, instrs, blocks)
            report.text()
        touched = [r for r in rows if r[1]]
        report.text(f"coverage: {len(touched)} of {len(rows)} functions executed")
        shown = rows if self.all_funcs else [r for r in rows if 0 < r[1] < r[2]]
        if shown:
            shown.sort(key=lambda r: (r[1] / r[2] if r[2] else 1.0, r[0]))
            w = max(len(func_ref(m, r[0])) for r in shown)
            src = "  source" if self.source else ""
            report.text(f"  {'function':<{w}}  {'instrs':>15}  {'blocks':>15}{src}")
            for f, fc, fi, fbc, fb in shown:
                where = f"  {self._where(f)}" if self.source else ""
                report.text(f"  {func_ref(m, f):<{w}}  {fc:>6} / {fi:<6} {_pct(fc, fi):>3}%"
                            f"  {fbc:>5} / {fb:<5} {_pct(fbc, fb):>3}%{where}".rstrip())
            if not self.all_funcs:
                report.text(f"  ({len(touched) - len(shown)} fully covered and {len(rows) - len(touched)}"
                            f" unexecuted functions not shown; coverage:funcs lists all)")
        report.summary(instr_line)
        report.summary(block_line)
        if line_line:
            report.text(line_line)

    def _listing(self, report, f, instrs, blocks):
        m, ex = self.module, self.executed
        starts = {b.start for b in blocks}
        report.text(f"func {func_ref(m, f)}:")
        depth = 0
        last = ""
        for pc, op, imm in instrs:
            if op in (0x0B, 0x05) and depth > 0:
                depth -= 1
            hit = (f, pc) in ex
            mark = ("->" if hit else "- ") if pc in starts else "  "
            star = "*" if hit else "."
            text = f"  {mark} {star} +{pc:<5} {'  ' * depth}{format_instruction(m, op, imm)}"
            where = self._where(f, pc) if self.source else ""
            if where and where != last:      # the source line, where it changes
                text = f"{text:<48}  {where}"
            last = where or last
            report.text(text)
            if op in (0x02, 0x03, 0x04, 0x05):
                depth += 1
