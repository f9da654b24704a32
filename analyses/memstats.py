"""memstats: linear-memory traffic: loads and stores per 64 KiB region, bytes accessed, bulk
operations (memory.copy / memory.fill / memory.init) with their sizes, memory.grow.

Probes: at every load an `OperandProbe` receives the address operand (top of stack); at every
store a probe reads the address from below the stored value (operand 1); the effective address
is `(operand mod 2**32) + offset`, its region `address >> 16`. At memory.copy/fill/init a probe
reads (destination, source or value, size); at memory.grow one reads the requested pages.
Accesses that trap (out of bounds) are counted as attempted.

Options: `all` lists every region (default: the 40 busiest), `sizes` lists every bulk size.
Text: totals, a per-region table (loads, stores, bytes read, bytes written), bulk operations with
their counts, bytes and sizes, memory.grow calls and pages. CSV rows:
    memregion,region,start,loads,stores,bytes_read,bytes_written
    membulk,op,count,bytes
    memgrow,count,pages
JSON: everything, including every bulk operation's size histogram.
"""
from __future__ import annotations

from wizardpy import FuncProbe, Monitor, OperandProbe, defined_functions, instructions
from wizardpy import opcodes as ops

REGION_BITS = 16
MEMORY_GROW = 0x40
BULK = {0x10A: "memory.copy", 0x10B: "memory.fill", 0x108: "memory.init"}


class MemstatsMonitor(Monitor):
    name = "memstats"
    description = "loads/stores per 64 KiB region, bytes, bulk memory operations, memory.grow"

    def __init__(self, options: str = ""):
        super().__init__(options)
        self.show_all = False
        self.show_sizes = False
        for o in self.option_set():
            if o == "all":
                self.show_all = True
            elif o == "sizes":
                self.show_sizes = True
            else:
                raise ValueError(f"invalid option {o!r} (known: all, sizes)")
        self.module = None
        # region -> [loads, stores, bytes read, bytes written]
        self.regions: dict[int, list[int]] = {}
        # op name -> {size: count}
        self.bulk: dict[str, dict[int, int]] = {}
        self.grows = 0
        self.grow_pages = 0

    # ---------------------------------------------------------------- probe callbacks
    def _load(self, offset: int, size: int):
        regions = self.regions

        def on_load(addr):
            a = (addr & 0xFFFFFFFF) + offset
            r = regions.get(a >> REGION_BITS)
            if r is None:
                r = regions[a >> REGION_BITS] = [0, 0, 0, 0]
            r[0] += 1
            r[2] += size
        return on_load

    def _store(self, offset: int, size: int):
        regions = self.regions

        def on_store(loc):
            a = (loc.frame.get_operand(1) & 0xFFFFFFFF) + offset
            r = regions.get(a >> REGION_BITS)
            if r is None:
                r = regions[a >> REGION_BITS] = [0, 0, 0, 0]
            r[1] += 1
            r[3] += size
        return on_store

    def _bulk(self, name: str):
        hist = self.bulk.setdefault(name, {})

        def on_bulk(loc):
            n = loc.frame.get_operand(0) & 0xFFFFFFFF
            hist[n] = hist.get(n, 0) + 1
        return on_bulk

    def _grow(self, loc):
        self.grows += 1
        self.grow_pages += loc.frame.get_operand(0) & 0xFFFFFFFF

    def on_parse(self, module):
        super().on_parse(module)
        self.module = module
        ins = self.instrument
        for f in defined_functions(module):
            for pc, op, imm in instructions(module, f):
                if ops.is_load(op):
                    ins.insert(module, f, pc, OperandProbe(self._load(imm[1], ops.access_size(op))))
                elif ops.is_store(op):
                    ins.insert(module, f, pc, FuncProbe(self._store(imm[1], ops.access_size(op))))
                elif op in BULK:
                    ins.insert(module, f, pc, FuncProbe(self._bulk(BULK[op])))
                elif op == MEMORY_GROW:
                    ins.insert(module, f, pc, FuncProbe(self._grow))

    # ---------------------------------------------------------------- results
    def totals(self) -> dict[str, int]:
        t = [0, 0, 0, 0]
        for r in self.regions.values():
            for i in range(4):
                t[i] += r[i]
        return {"loads": t[0], "stores": t[1], "bytes_read": t[2], "bytes_written": t[3]}

    def on_finish(self, report):
        tot = self.totals()
        regs = sorted(self.regions.items(), key=lambda kv: (-(kv[1][0] + kv[1][1]), kv[0]))
        bulk = {name: {"count": sum(h.values()), "bytes": sum(s * c for s, c in h.items()),
                       "sizes": {str(s): c for s, c in sorted(h.items())}}
                for name, h in sorted(self.bulk.items()) if h}
        report.data.update({
            **tot,
            "regions": {str(k): {"start": k << REGION_BITS, "loads": v[0], "stores": v[1],
                                 "bytes_read": v[2], "bytes_written": v[3]} for k, v in regs},
            "bulk": bulk, "grow": {"count": self.grows, "pages": self.grow_pages},
        })
        for k, v in regs:
            report.csv_row("memregion", k, f"0x{k << REGION_BITS:08x}", *v)
        for name, b in bulk.items():
            report.csv_row("membulk", name, b["count"], b["bytes"])
        report.csv_row("memgrow", self.grows, self.grow_pages)
        if report.format != "text":
            return
        report.text(f"memstats: {tot['loads']} loads ({tot['bytes_read']} bytes), "
                    f"{tot['stores']} stores ({tot['bytes_written']} bytes) in {len(regs)} "
                    f"64 KiB regions")
        n = len(regs) if self.show_all else min(40, len(regs))
        if n:
            report.text(f"  {'region':>21}  {'loads':>12} {'stores':>12} {'bytes read':>14} "
                        f"{'bytes written':>14}")
            for k, v in regs[:n]:
                lo = k << REGION_BITS
                rng = f"0x{lo:08x}-0x{lo + (1 << REGION_BITS) - 1:08x}"
                report.text(f"  {rng:>21}  {v[0]:>12} {v[1]:>12} {v[2]:>14} {v[3]:>14}")
            if n < len(regs):
                report.text(f"  ... {len(regs) - n} more regions (memstats:all lists them)")
        for name, b in bulk.items():
            h = self.bulk[name]
            sizes = sorted(h.items(), key=lambda kv: (-kv[1], kv[0]))
            shown = sizes if self.show_sizes else sizes[:8]
            more = f", ... {len(sizes) - len(shown)} more" if len(shown) < len(sizes) else ""
            report.text(f"  {name}: {b['count']} calls, {b['bytes']} bytes; sizes "
                        + ", ".join(f"{s}x{c}" for s, c in shown) + more)
        report.text(f"  memory.grow: {self.grows} calls, {self.grow_pages} pages requested")


MONITOR = MemstatsMonitor
