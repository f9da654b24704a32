"""opcodes: the instruction mix, static (in the module's code) and dynamic (as executed).

Static: every instruction of every defined function, by mnemonic. Dynamic: one native
`CountProbe` per basic block (`wizardpy.basic_blocks`); an instruction's executed count is its
block's count, so the dynamic mix is exact at one counter per block (for runs that do not trap
in the middle of a block).

Options: `all` lists every mnemonic (default: the 40 most executed), `family` groups by
instruction family (control, branch, call, load, store, arith, ...) instead of mnemonic.
Text: one table, mnemonic with static count/share and dynamic count/share, sorted by dynamic count.
CSV: `opcode,mnemonic,static,dynamic` per mnemonic. JSON: {"static": {...}, "dynamic": {...}}.
"""
from __future__ import annotations

from wizardpy import CountProbe, Monitor, basic_blocks, defined_functions, instructions
from wizardpy import opcodes as ops


def _mnemonic(op: int) -> str:
    return "select_t" if op == 0x1C else ops.name(op)


class OpcodesMonitor(Monitor):
    name = "opcodes"
    description = "static and dynamic instruction mix"

    def __init__(self, options: str = ""):
        super().__init__(options)
        self.show_all = False
        self.by_family = False
        for o in self.option_set():
            if o == "all":
                self.show_all = True
            elif o == "family":
                self.by_family = True
            else:
                raise ValueError(f"invalid option {o!r} (known: all, family)")
        self.module = None
        self.static: dict[str, int] = {}
        self.blocks: list[tuple[tuple[str, ...], CountProbe]] = []

    def _key(self, op: int) -> str:
        return ops.FAMILY.get(op, "?") if self.by_family else _mnemonic(op)

    def on_parse(self, module):
        super().on_parse(module)
        self.module = module
        sites = []
        for f in defined_functions(module):
            code = {pc: op for pc, op, _ in instructions(module, f, immediates=False)}
            for op in code.values():
                k = self._key(op)
                self.static[k] = self.static.get(k, 0) + 1
            for b in basic_blocks(module, f):
                p = CountProbe()
                sites.append((f, b.start, p))
                self.blocks.append((tuple(self._key(code[x]) for x in b.pcs), p))
        self.instrument.insert_many(module, sites)      # one batch: one native patch

    def dynamic(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for keys, p in self.blocks:
            c = p.count
            if c:
                for k in keys:
                    out[k] = out.get(k, 0) + c
        return out

    def on_finish(self, report):
        dyn = self.dynamic()
        st = self.static
        names = sorted(set(st) | set(dyn), key=lambda k: (-dyn.get(k, 0), -st.get(k, 0), k))
        ts, td = sum(st.values()), sum(dyn.values())
        report.data.update({"static": dict(sorted(st.items())), "dynamic": dict(sorted(dyn.items())),
                            "static_total": ts, "dynamic_total": td})
        for k in names:
            report.csv_row("opcode", k, st.get(k, 0), dyn.get(k, 0))
        if report.format != "text":
            return
        what = "families" if self.by_family else "mnemonics"
        report.text(f"opcodes: {ts} instructions in the code ({len(st)} {what}), "
                    f"{td} executed ({len(dyn)} {what})")
        n = len(names) if self.show_all else min(40, len(names))
        w = max([len(k) for k in names[:n]] + [8])
        report.text(f"  {'':<{w}}  {'static':>8} {'%':>6}  {'dynamic':>14} {'%':>6}")
        for k in names[:n]:
            s, d = st.get(k, 0), dyn.get(k, 0)
            report.text(f"  {k:<{w}}  {s:>8} {100 * s / ts if ts else 0:>6.2f}  "
                        f"{d:>14} {100 * d / td if td else 0:>6.2f}")
        if n < len(names):
            report.text(f"  ... {len(names) - n} more (opcodes:all lists them)")


MONITOR = OpcodesMonitor
