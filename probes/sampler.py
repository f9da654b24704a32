"""sampler: a sampling profiler: every N executed instructions, record the call stack.

A probe at the leader of every basic block adds the block's length to an instruction counter;
when the counter passes the next sample point, the probe walks the stack with
`FrameAccessor.caller()` and counts the sample for that stack. The result is a statistical
profile (stacks with sample counts) in the folded format flamegraph.pl and speedscope read:
`_start;main;fib;fib 12`. Much cheaper than tracing every call when N is large, and the
samples land in proportion to executed instructions, not wall time (deterministic).

Python:
    s = Sampler(engine.instrument, module, every=10_000)
    ... run ...
    s.samples            # {("_start", "main", "fib"): 12, ...}
    print("\\n".join(s.folded()))

Command line:
    wizardpy run --monitor probes/sampler.py:every=10000 app.wasm
"""
from __future__ import annotations

from wizardpy import FuncProbe, Monitor, defined_functions, instructions

# after these the next instruction starts a straight-line block (see analyses/icount.py)
_ENDS = frozenset((0x04, 0x05, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x00, 0x10, 0x11))


def blocks(module, func) -> list[tuple[int, ...]]:
    """Straight-line blocks of `func`: leaders are the first instruction, loop, end, and the
    instruction after any branch, if/else/end, return, unreachable or call."""
    out, cur, new = [], [], True
    for pc, op, _ in instructions(module, func):
        if cur and (new or op in (0x03, 0x0B)):
            out.append(tuple(cur))
            cur = []
        cur.append(pc)
        new = op in _ENDS
    if cur:
        out.append(tuple(cur))
    return out


class Sampler:
    """Samples the stack of `module`'s functions every `every` executed instructions."""

    def __init__(self, instrument, module, every: int = 10_000):
        if every < 1:
            raise ValueError("sampling period must be >= 1 instruction")
        self.module = module
        self.every = every
        self.executed = 0
        self.next_sample = every
        self.samples: dict[tuple[str, ...], int] = {}
        for f in defined_functions(module):
            for pcs in blocks(module, f):
                instrument.insert(module, f, pcs[0], FuncProbe(self._block(len(pcs))))

    def _block(self, n: int):
        def fire(loc):
            self.executed += n
            if self.executed >= self.next_sample:
                k = (self.executed - self.next_sample) // self.every + 1
                self.next_sample += k * self.every
                stack = []
                fr = loc.frame
                while fr is not None:
                    stack.append(fr.func_name.strip('"'))
                    fr = fr.caller()
                key = tuple(reversed(stack))
                self.samples[key] = self.samples.get(key, 0) + k
            return None
        return fire

    def folded(self) -> list[str]:
        return [f"{';'.join(k)} {c}" for k, c in sorted(self.samples.items())]

    def by_function(self) -> dict[str, int]:
        """{function: samples where it was on top of the stack (self samples)}."""
        out: dict[str, int] = {}
        for k, c in self.samples.items():
            out[k[-1]] = out.get(k[-1], 0) + c
        return out


class SamplerMonitor(Monitor):
    name = "sampler"
    description = "sampling profiler: the call stack every N executed instructions (folded)"

    def __init__(self, options: str = ""):
        super().__init__(options)
        self.every = 10_000
        for o in self.option_set():
            k, eq, v = o.partition("=")
            try:
                self.every = int(v if eq and k == "every" else o if not eq else "x")
            except ValueError:
                raise ValueError(f"invalid option {o!r} (known: every=N)") from None

    def on_parse(self, module):
        super().on_parse(module)
        self.sampler = Sampler(self.instrument, module, self.every)

    def on_finish(self, report):
        s = self.sampler
        report.data.update({"every": s.every, "executed": s.executed,
                            "samples": {";".join(k): c for k, c in s.samples.items()}})
        for k, c in sorted(s.samples.items()):
            report.csv_row("sample", ";".join(k), c)
        if report.format == "text":
            for line in s.folded():
                report.text(line)


MONITOR = SamplerMonitor
