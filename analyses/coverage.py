"""coverage: which instructions and basic blocks ran.

Probes remove themselves at their first hit, so covered code runs at full speed afterwards (as
the Wizard engine's CoverageMonitor does): one `HitProbe` (native, no Python call: the first
execution of a location records it and writes the instruction back) at every *unit*, and
set-up costs little:
- lazily per function: at first only a probe at every function entry; the first call of a
  function inserts its unit probes (one batch) and removes the entry probe (a function that
  never runs costs one probe insertion). The "jit" tier, which compiles every function up front,
  gets every unit probe at once instead (no recompilation at first calls);
- one probe per unit, not per instruction. A unit is a run of consecutive instructions of one
  basic block (`wizardpy.basic_blocks`) in which only the last instruction may trap or leave:
  blocks are cut after every load, store, division/remainder, trapping float-to-int conversion,
  bulk memory/table instruction and table access (calls, `unreachable` and branches already end
  blocks). So when a unit's first instruction runs, every instruction of the unit runs, unless
  the last one traps (a trapping instruction counts as executed, as its probe would have fired):
  exact also when the program traps or exits (a call that exits ends its block). Not covered
  by this argument: a trap caused by a *probe* (`ProbeAction.trap`, e.g. `timeout`) or a
  resource limit (fuel, deadline, interrupt) in the middle of a unit, during the unit's first
  execution: the rest of that unit is then reported as executed.
Block coverage counts blocks (`wizardpy.basic_blocks`) whose leader ran.

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

from itertools import compress

from wizardpy import (HitProbe, Monitor, Probe, basic_blocks, block_leaders, defined_functions,
                      format_instruction, func_ref, instruction_table, instructions)


# Instructions that may trap (other than calls, `unreachable` and branches, which end basic
# blocks anyway): a coverage unit ends after each (see the module docstring).
MAY_TRAP = frozenset(
    [*range(0x28, 0x3F),                            # loads and stores
     0x6D, 0x6E, 0x6F, 0x70, 0x7F, 0x80, 0x81, 0x82,  # i32/i64 div_s div_u rem_s rem_u
     0xA8, 0xA9, 0xAA, 0xAB, 0xAE, 0xAF, 0xB0, 0xB1,  # trapping float-to-int conversions
     0x25, 0x26,                                    # table.get / table.set
     0x108, 0x10A, 0x10B, 0x10C, 0x10E, 0x111])     # memory.init/copy/fill, table.init/copy/fill


def _pct(c: int, t: int) -> int:
    return 100 * c // t if t else 100


class _Enter(Probe):
    """At every function entry until the function's first call: inserts its unit probes."""

    def __init__(self, monitor: "CoverageMonitor", module):
        self.monitor = monitor
        self.module = module

    def fire(self, loc):
        f = loc.func
        mon = self.monitor
        mon.instrument.remove(self.module, f, 0, self)
        mon._arm(f)
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
        self._starts: dict[int, list[int]] = {}  # armed func -> pcs where its units start
        self._cuts: dict[int, list[int]] = {}    # armed func -> their instruction_table indices
        self.module = None
        self.funcs: list[int] = []
        self.source = None    # {(func, pc): (file, line)} from DWARF, or None
        self._hit = HitProbe()          # at the first instruction of every unit

    @property
    def hits(self) -> set[tuple[int, int]]:
        """{(func, pc of the unit's first instruction)} of every unit that ran."""
        return self._hit.hits

    @property
    def units(self) -> dict[tuple[int, int], tuple[int, ...]]:
        """{(func, pc of its first instruction): pcs} of every unit of the functions armed so
        far (all of them in tier "jit"; the others at their first call)."""
        out = {}
        for f in self._starts:
            cuts = self._unit_cuts(f)
            pcs = instruction_table(self.module, f)[0]
            for a, b in zip(cuts, [*cuts[1:], len(pcs)]):
                out[(f, pcs[a])] = pcs[a:b]
        return out

    def _covered(self) -> dict[int, list[tuple[int, int]]]:
        """{func: [(start, end) index ranges of its units that ran]} (indices into the
        function's instruction_table)."""
        by_func: dict[int, set[int]] = {}
        for f, pc in self._hit.hits:
            by_func.setdefault(f, set()).add(pc)
        out = {}
        for f, hit in by_func.items():
            pcs = instruction_table(self.module, f)[0]
            cuts = self._unit_cuts(f)
            out[f] = [(a, b) for a, b in zip(cuts, [*cuts[1:], len(pcs)]) if pcs[a] in hit]
        return out

    @property
    def executed(self) -> set[tuple[int, int]]:
        """{(func, pc)} of every executed instruction."""
        m = self.module
        return {(f, pc) for f, ranges in self._covered().items()
                for pcs in (instruction_table(m, f)[0],) for a, b in ranges for pc in pcs[a:b]}

    def lcov_counts(self) -> dict[tuple[int, int], int]:
        """{(func, pc): 1 if executed else 0} for every instruction (for an LCOV tracefile)."""
        ex = self.executed
        return {(f, pc): int((f, pc) in ex) for f in self.funcs
                for pc, _, _ in instructions(self.module, f, immediates=False)}

    def _where(self, f: int, pc: int | None = None) -> str:
        """`file:line` (file's base name) of an instruction, or of a function's first one."""
        src = self.source or {}
        if pc is None:
            pcs = [p for p, _, _ in instructions(self.module, f, immediates=False)]
            loc = next((src[(f, p)] for p in pcs if (f, p) in src), None)
        else:
            loc = src.get((f, pc))
        return f"{loc[0].rsplit('/', 1)[-1]}:{loc[1]}" if loc else ""

    def _arm(self, f: int) -> None:
        """Insert the unit probes of function f (one batch). Units start at the basic blocks'
        leaders and after every instruction that may trap (see the module docstring); found at
        C speed, since a function's first call pays for this."""
        m = self.module
        pcs, opcodes = instruction_table(m, f)
        at = block_leaders(m, f)
        at.update(compress(pcs[1:], map(MAY_TRAP.__contains__, opcodes)))
        # their indices too, found here once: the report needs them, and is timed
        cuts = self._cuts[f] = list(compress(range(len(pcs)), map(at.__contains__, pcs)))
        starts = self._starts[f] = [pcs[i] for i in cuts]
        self.instrument.insert_many(m, [(f, pc) for pc in starts], self._hit)

    def _unit_cuts(self, f: int) -> list[int]:
        """Where the units of armed function f start, as indices into its instruction_table."""
        return self._cuts[f]

    def on_parse(self, module):
        super().on_parse(module)
        self.module = module
        self.source = module.source_lines() if getattr(module, "has_source_info", False) else None
        self.funcs = list(defined_functions(module))
        config = getattr(self.engine, "config", None)
        if getattr(config, "tier", None) == "jit":      # compiles everything up front: eager
            for f in self.funcs:
                self._arm(f)
        else:
            self.instrument.insert_many(module, [(f, 0) for f in self.funcs],
                                        _Enter(self, module))

    def on_finish(self, report):
        m = self.module
        covered = self._covered()
        ti = ci = tb = cb = 0
        rows = []
        per_func = {}
        for f in self.funcs:
            pcs = instruction_table(m, f)[0]
            leaders = block_leaders(m, f)
            fi = len(pcs)
            fb = len(leaders)
            ranges = covered.get(f, ())
            fc = sum(b - a for a, b in ranges)
            # a block ran when its leader did: every leader starts a unit
            fbc = sum(pcs[a] in leaders for a, _ in ranges)
            if report.format == "json":
                got = [pc for a, b in ranges for pc in pcs[a:b]]
            ti += fi
            ci += fc
            tb += fb
            cb += fbc
            rows.append((f, fc, fi, fbc, fb))
            if report.format == "json":
                per_func[func_ref(m, f)] = {
                    "index": f, "instructions": fi, "covered": fc, "blocks": fb,
                    "blocks_covered": fbc, "covered_pcs": sorted(got),
                    "block_starts": sorted(leaders),
                }
        instr_line = f"Instr coverage:\t{ci} / {ti} ({_pct(ci, ti)}%)"
        block_line = f"Block coverage:\t{cb} / {tb} ({_pct(cb, tb)}%)"
        report.data.update({"instructions": ti, "covered": ci, "blocks": tb, "blocks_covered": cb})
        if report.format == "json":
            report.data["functions"] = per_func
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
            ex = self.executed
            for f in self.funcs:
                self._listing(report, f, list(instructions(m, f)), basic_blocks(m, f), ex)
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

    def _listing(self, report, f, instrs, blocks, ex):
        m = self.module
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
