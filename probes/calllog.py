"""calllog: log every call of one function: its arguments on entry, its results on exit.

An entry probe (pc 0) reads the parameters (the first locals of the frame) and the caller's
location; `instrument.on_exit` reads the results (the top operands) before every return of the
function. Recursive calls nest: each line carries the call depth.

Python:
    log = CallLog(engine.instrument, module, "fib")
    ... run ...
    for line in log.lines: print(line)     # 'fib(10) from "main" +12', 'fib(10) -> 55'
    log.calls                              # [(args tuple, results tuple or None), ...]

Command line:
    wizardpy run --monitor probes/calllog.py:fib app.wasm        # also func=NAME,limit=N
"""
from __future__ import annotations

from wizardpy import FuncProbe, Monitor, func_ref


def _fmt(vals) -> str:
    return ", ".join(repr(v) if isinstance(v, float) else str(v) for v in vals)


class CallLog:
    """Logs calls of function `func` (index or name) of `module`."""

    def __init__(self, instrument, module, func, limit: int | None = None):
        if isinstance(func, str):
            func = module.func_index(func)        # ValueError if there is no such function
        self.func = func
        self.name = func_ref(module, func).strip('"')
        ty = module.func_type(func)
        self.nparams, self.nresults = len(ty.params), len(ty.results)
        self.limit = limit
        self.lines: list[str] = []
        self.calls: list[list] = []     # [args, results or None]
        self._open: list[int] = []      # indices into self.calls of the live invocations
        self.dropped = 0
        instrument.insert(module, func, 0, FuncProbe(self._entry))
        self.handle = instrument.on_exit(module, func, self._exit)

    def _emit(self, line: str) -> None:
        if self.limit is not None and len(self.lines) >= self.limit:
            self.dropped += 1
        else:
            self.lines.append(line)

    def _entry(self, loc):
        fr = loc.frame
        args = tuple(fr.get_local(i) for i in range(self.nparams))
        caller = fr.caller()
        where = f" from {caller.func_name} +{caller.pc}" if caller is not None else " from the host"
        self.calls.append([args, None])
        self._open.append(len(self.calls) - 1)
        self._emit(f"{'  ' * (len(self._open) - 1)}{self.name}({_fmt(args)}){where}")

    def _exit(self, loc):
        fr = loc.frame
        res = tuple(fr.get_operand(i) for i in range(self.nresults - 1, -1, -1))
        depth = len(self._open) - 1
        if self._open:
            self.calls[self._open.pop()][1] = res
        self._emit(f"{'  ' * max(depth, 0)}{self.name} -> {_fmt(res) if res else '()'}")


class CallLogMonitor(Monitor):
    name = "calllog"
    description = "log the arguments and results of every call of one function"

    def __init__(self, options: str = ""):
        super().__init__(options)
        self.func = None
        self.limit = 10000
        for o in self.option_set():
            k, eq, v = o.partition("=")
            if not eq:
                self.func = o
            elif k == "func":
                self.func = v
            elif k == "limit":
                self.limit = int(v)
            else:
                raise ValueError(f"invalid option {o!r} (known: NAME, func=NAME, limit=N)")
        if not self.func:
            raise ValueError("calllog needs a function: calllog.py:NAME")
        self.log = None

    def on_parse(self, module):
        super().on_parse(module)
        func = int(self.func) if self.func.isdigit() else self.func
        self.log = CallLog(self.instrument, module, func, self.limit)

    def on_finish(self, report):
        log = self.log
        report.data["calls"] = [[list(a), None if r is None else list(r)] for a, r in log.calls]
        for a, r in log.calls:
            report.csv_row("call", log.name, " ".join(map(str, a)),
                           "" if r is None else " ".join(map(str, r)))
        report.text(f"calllog {log.name}: {len(log.calls)} calls")
        for line in log.lines:
            report.text(f"  {line}")
        if log.dropped:
            report.text(f"  ... {log.dropped} more lines (calllog.py:NAME,limit=N)")


MONITOR = CallLogMonitor
