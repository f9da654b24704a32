"""coverage: which instructions and basic blocks ran.

A probe at every instruction records the first execution and removes itself, so a covered
instruction costs one Python call in the whole run and then runs at full speed (as the Wizard
engine's CoverageMonitor does). Block coverage counts blocks (`wizardpy.basic_blocks`) whose
leader ran.

Options (`--monitor coverage:OPTS`, comma-separated):
    code    an annotated listing of every function (`*` = executed, `->` = a covered block's
            leader, uncovered code dimmed by a leading `.`)
    funcs   list every function's coverage (default: only the partially covered ones)
Text: per-function table and the totals. CSV: the two summary lines
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

    def on_parse(self, module):
        super().on_parse(module)
        self.module = module
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
            report.text(f"  {'function':<{w}}  {'instrs':>15}  {'blocks':>15}")
            for f, fc, fi, fbc, fb in shown:
                report.text(f"  {func_ref(m, f):<{w}}  {fc:>6} / {fi:<6} {_pct(fc, fi):>3}%"
                            f"  {fbc:>5} / {fb:<5} {_pct(fbc, fb):>3}%")
            if not self.all_funcs:
                report.text(f"  ({len(touched) - len(shown)} fully covered and {len(rows) - len(touched)}"
                            f" unexecuted functions not shown; coverage:funcs lists all)")
        report.summary(instr_line)
        report.summary(block_line)

    def _listing(self, report, f, instrs, blocks):
        m, ex = self.module, self.executed
        starts = {b.start for b in blocks}
        report.text(f"func {func_ref(m, f)}:")
        depth = 0
        for pc, op, imm in instrs:
            if op in (0x0B, 0x05) and depth > 0:
                depth -= 1
            hit = (f, pc) in ex
            mark = ("->" if hit else "- ") if pc in starts else "  "
            star = "*" if hit else "."
            report.text(f"  {mark} {star} +{pc:<5} {'  ' * depth}{format_instruction(m, op, imm)}")
            if op in (0x02, 0x03, 0x04, 0x05):
                depth += 1
