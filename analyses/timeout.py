"""timeout: make the program trap after N executed instructions (`--monitor timeout:N`).

A probe at the leader of every basic block (`wizardpy.basic_blocks`)
adds the block's length to a counter. When a block would take the count past N, the monitor
computes which instruction of the block is the (N+1)-th executed one and inserts a one-shot probe
there that returns `ProbeAction.trap("instruction limit exceeded")`, so exactly N instructions
execute before the trap (the block is straight-line code: nothing else runs in between).
The count follows `icount` (block/loop/end included; a branch skips the ends it jumps over).

Options: `timeout:N` (N also as `limit=N`; suffixes k/M/G allowed: `timeout:5M`).
Text: `timeout: N instructions executed (limit L)` and whether the limit was hit.
JSON: {"limit": L, "executed": N, "exceeded": bool, "where": [func, pc] or null}.
"""
from __future__ import annotations

from wizardpy import Monitor, Probe, ProbeAction, basic_blocks, defined_functions, func_ref

REASON = "instruction limit exceeded"
_SUFFIX = {"k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9}


def _parse_limit(s: str) -> int:
    s = s.strip()
    if s.startswith("limit="):
        s = s[6:]
    mult = 1
    if s and s[-1] in _SUFFIX:
        mult, s = _SUFFIX[s[-1]], s[:-1]
    try:
        n = int(s.replace("_", "")) * mult
    except ValueError:
        raise ValueError(f"timeout needs an instruction count: timeout:N, got {s!r}") from None
    if n < 0:
        raise ValueError("timeout:N needs N >= 0")
    return n


class _Trap(Probe):
    """One-shot: traps at the instruction where the limit is exceeded."""

    def __init__(self, monitor: "TimeoutMonitor", module):
        self.monitor = monitor
        self.module = module

    def fire(self, loc):
        self.monitor.instrument.remove(self.module, loc.func, loc.pc, self)
        self.monitor.where = (loc.func, loc.pc)
        self.monitor.exceeded = True
        return ProbeAction.trap(REASON)


class _Block(Probe):
    def __init__(self, monitor: "TimeoutMonitor", module, func: int, pcs: tuple[int, ...]):
        self.monitor = monitor
        self.module = module
        self.func = func
        self.pcs = pcs
        self.n = len(pcs)

    def fire(self, loc):
        mon = self.monitor
        c = mon.executed + self.n
        if c <= mon.limit:
            mon.executed = c
            return None
        k = mon.limit - mon.executed   # instructions of this block that may still run
        mon.executed = mon.limit
        if k == 0:
            mon.where = (loc.func, loc.pc)
            mon.exceeded = True
            return ProbeAction.trap(REASON)
        mon.instrument.insert(self.module, self.func, self.pcs[k], _Trap(mon, self.module))
        return None


class TimeoutMonitor(Monitor):
    name = "timeout"
    description = "trap after N executed instructions (timeout:N)"

    def __init__(self, options: str = ""):
        super().__init__(options)
        if not self.options:
            raise ValueError("timeout needs an instruction count: timeout:N")
        self.limit = _parse_limit(self.options)
        self.executed = 0
        self.exceeded = False
        self.where: tuple[int, int] | None = None
        self.module = None

    def on_parse(self, module):
        super().on_parse(module)
        self.module = module
        self.instrument.insert_many(module, [(f, b.start, _Block(self, module, f, b.pcs))
                                             for f in defined_functions(module)
                                             for b in basic_blocks(module, f)])

    def on_finish(self, report):
        where = None if self.where is None else [func_ref(self.module, self.where[0]), self.where[1]]
        report.data.update({"limit": self.limit, "executed": self.executed,
                            "exceeded": self.exceeded, "where": where})
        report.csv_row("timeout", self.limit, self.executed, int(self.exceeded))
        if report.format != "text":
            return
        if self.exceeded:
            report.text(f"timeout: limit of {self.limit} instructions exceeded at func {where[0]} "
                        f"+{where[1]}")
        else:
            report.text(f"timeout: {self.executed} instructions executed (limit {self.limit})")


MONITOR = TimeoutMonitor
