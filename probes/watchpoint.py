"""watchpoint: report every load and store that touches an address range.

A probe at every load reads the address (operand 0) and, when the access overlaps the watched
range, the value about to be loaded (from linear memory, through `FrameAccessor.memory`); a probe
at every store reads the address (operand 1) and the value being stored (operand 0).
memory.fill/copy/init overlapping the range are reported too (destination, size).
The program is not changed in any way.

Python:
    wp = Watchpoint(engine.instrument, module, lo=0x1000, hi=0x1004)   # [lo, hi)
    ... run ...
    for hit in wp.hits: print(hit)   # WatchHit(kind, func, pc, instruction, address, size, value)

Command line (start and end in decimal or 0x hex; end exclusive; `size=N` instead of end):
    wizardpy run --monitor probes/watchpoint.py:0x1000-0x1004 app.wasm
    wizardpy run --monitor probes/watchpoint.py:addr=1024,size=8,limit=100 app.wasm
"""
from __future__ import annotations

import struct
from typing import NamedTuple

from wizardpy import Monitor, Probe, defined_functions, func_ref, instructions
from wizardpy import opcodes as ops

BULK = {ops.MEMORY_FILL: "memory.fill", ops.MEMORY_COPY: "memory.copy",
        ops.MEMORY_INIT: "memory.init"}

# how to decode the bytes a load reads: (struct format, signed?)
_LOAD_FMT = {1: "b", 2: "h", 4: "i", 8: "q"}


class WatchHit(NamedTuple):
    kind: str          # "load", "store" or the bulk operation's name
    func: str
    pc: int
    instruction: str
    address: int       # effective address (operand + offset)
    size: int          # bytes accessed
    value: object      # loaded/stored value (None for bulk operations)

    def __str__(self) -> str:
        v = "" if self.value is None else f" value={self.value!r}"
        return (f"{self.kind:<5} func {self.func} +{self.pc} {self.instruction} "
                f"addr=0x{self.address:x} size={self.size}{v}")


def _loaded_value(fr, op: int, addr: int, size: int):
    """The value a load is about to read (None if out of bounds)."""
    mem = fr.memory
    try:
        raw = mem.read(addr, size)
    except Exception:  # noqa: BLE001 - out of bounds: the load itself traps
        return None
    name = ops.name(op)
    if name.startswith("f32"):
        return struct.unpack("<f", raw)[0]
    if name.startswith("f64"):
        return struct.unpack("<d", raw)[0]
    fmt = _LOAD_FMT[size]
    if name.endswith("_u"):
        fmt = fmt.upper()
    return struct.unpack("<" + fmt, raw)[0]


class _Access(Probe):
    def __init__(self, wp: "Watchpoint", op: int, offset: int):
        self.wp, self.op, self.offset = wp, op, offset
        self.size = ops.access_size(op)
        self.store = ops.is_store(op)
        self.text = ops.name(op)

    def fire(self, loc):
        wp = self.wp
        fr = loc.frame
        addr = (fr.get_operand(1 if self.store else 0) & 0xFFFFFFFF) + self.offset
        if addr + self.size <= wp.lo or addr >= wp.hi:
            return None
        if self.store:
            kind, value = "store", fr.get_operand(0)
        else:
            kind, value = "load", _loaded_value(fr, self.op, addr, self.size)
        wp.record(WatchHit(kind, func_ref(loc.module, loc.func), loc.pc, self.text, addr,
                           self.size, value))
        return None


class _Bulk(Probe):
    def __init__(self, wp: "Watchpoint", op: int):
        self.wp, self.name = wp, BULK[op]

    def fire(self, loc):
        fr = loc.frame
        n = fr.get_operand(0) & 0xFFFFFFFF
        dst = fr.get_operand(2) & 0xFFFFFFFF
        wp = self.wp
        ranges = [(dst, "dst")]
        if self.name == "memory.copy":
            ranges.append((fr.get_operand(1) & 0xFFFFFFFF, "src"))
        for start, _ in ranges:
            if n and start < wp.hi and start + n > wp.lo:
                wp.record(WatchHit(self.name, func_ref(loc.module, loc.func), loc.pc, self.name,
                                   start, n, None))
        return None


class Watchpoint:
    """Watches [lo, hi) in memory 0 of every instance of `module`."""

    def __init__(self, instrument, module, lo: int, hi: int, limit: int | None = None):
        if hi <= lo:
            raise ValueError(f"empty watch range 0x{lo:x}-0x{hi:x}")
        self.lo, self.hi, self.limit = lo, hi, limit
        self.hits: list[WatchHit] = []
        self.dropped = 0
        for f in defined_functions(module):
            for pc, op, imm in instructions(module, f):
                if ops.is_load(op) or ops.is_store(op):
                    instrument.insert(module, f, pc, _Access(self, op, imm[1]))
                elif op in BULK:
                    instrument.insert(module, f, pc, _Bulk(self, op))

    def record(self, hit: WatchHit) -> None:
        if self.limit is not None and len(self.hits) >= self.limit:
            self.dropped += 1
        else:
            self.hits.append(hit)


def _int(s: str) -> int:
    return int(s, 0)


class WatchpointMonitor(Monitor):
    name = "watchpoint"
    description = "report loads/stores touching an address range"

    def __init__(self, options: str = ""):
        super().__init__(options)
        lo = hi = size = None
        self.limit = 1000
        try:
            for o in self.option_set():
                k, eq, v = o.partition("=")
                if not eq and "-" in o:
                    a, _, b = o.partition("-")
                    lo, hi = _int(a), _int(b)
                elif not eq:
                    lo = _int(o)
                elif k == "addr":
                    lo = _int(v)
                elif k == "size":
                    size = _int(v)
                elif k == "limit":
                    self.limit = int(v)
                else:
                    raise ValueError(f"unknown option {o!r}")
        except ValueError as e:
            raise ValueError(f"watchpoint: {e} (use START-END, addr=A,size=N, limit=N)") from None
        if lo is None:
            raise ValueError("watchpoint needs an address: watchpoint.py:START-END or addr=A")
        self.lo = lo
        self.hi = hi if hi is not None else lo + (size or 1)
        self.wp = None

    def on_parse(self, module):
        super().on_parse(module)
        self.wp = Watchpoint(self.instrument, module, self.lo, self.hi, self.limit)

    def on_finish(self, report):
        hits = self.wp.hits if self.wp else []
        report.data["hits"] = [h._asdict() for h in hits]
        for h in hits:
            report.csv_row("watch", h.kind, h.func, h.pc, h.instruction, h.address, h.size,
                           "" if h.value is None else h.value)
        report.text(f"watchpoint 0x{self.lo:x}-0x{self.hi:x}: {len(hits)} accesses"
                    + (f" (+{self.wp.dropped} not recorded: limit)" if self.wp and self.wp.dropped else ""))
        for h in hits:
            report.text(f"  {h}")


MONITOR = WatchpointMonitor
