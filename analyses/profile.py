"""profile: a calling-context tree (CCT) with call counts and self/total time.

An entry probe (pc 0) of every defined function pushes the callee onto a shadow stack under the
current context node and reads `time.perf_counter_ns()`; `instrument.on_exit` pops it on every
return and adds the elapsed time. The shadow stack is resynchronised with the real one through
`loc.frame.depth`, so frames abandoned by a trap caught on the host side are closed at the next
entry (and at the end of the run). Time includes the probes' own overhead; time in imported
(host) functions counts as self time of their Wasm caller. Call counts are exact.

Options (`--monitor profile:OPTS`, comma-separated):
    folded          print folded stacks instead of the tree: `main;fib;fib 1234` per context,
                    weighted by self time in microseconds (flamegraph.pl, speedscope, inferno)
    weight=calls    folded weights are call counts instead; weight=ns: self time in ns
    depth=N         text tree: at most N levels (default 30)
    min=P           text tree: hide contexts below P% of total time (default 0.5)
Text: the tree, one line per context: total ms, self ms, calls, name. CSV:
`profile,stack,calls,total_ns,self_ns` per context (stack `;`-separated). JSON: the tree.
"""
from __future__ import annotations

import time

from wizardpy import FuncProbe, Monitor, defined_functions, func_ref


class Node:
    __slots__ = ("func", "parent", "children", "calls", "total_ns")

    def __init__(self, func, parent):
        self.func = func
        self.parent = parent
        self.children: dict[int, Node] = {}
        self.calls = 0
        self.total_ns = 0

    @property
    def self_ns(self) -> int:
        return self.total_ns - sum(c.total_ns for c in self.children.values())

    def walk(self, path=()):
        """(path of function indices, node) for every context below this one, depth first."""
        for c in self.children.values():
            p = path + (c.func,)
            yield p, c
            yield from c.walk(p)


class ProfileMonitor(Monitor):
    name = "profile"
    description = "calling-context tree with call counts and self/total time; folded stacks"

    def __init__(self, options: str = ""):
        super().__init__(options)
        self.folded = False
        self.weight = "us"
        self.max_depth = 30
        self.min_pct = 0.5
        for o in self.option_set():
            key, _, val = o.partition("=")
            try:
                if o == "folded":
                    self.folded = True
                elif key == "weight" and val in ("calls", "ns", "us"):
                    self.weight = val
                elif key == "depth":
                    self.max_depth = int(val)
                elif key == "min":
                    self.min_pct = float(val)
                else:
                    raise ValueError
            except ValueError:
                raise ValueError(f"invalid option {o!r} (known: folded, weight=calls|ns|us, "
                                 f"depth=N, min=P)") from None
        self.module = None
        self.root = Node(None, None)
        # shadow stack of (node, start time)
        self.stack: list[tuple[Node, int]] = []

    def on_parse(self, module):
        super().on_parse(module)
        self.module = module
        clock = time.perf_counter_ns
        stack = self.stack
        root = self.root

        def enter(loc):
            depth = loc.frame.depth
            if len(stack) > depth:
                self._unwind(depth, clock())
            parent = stack[-1][0] if stack else root
            f = loc.func
            node = parent.children.get(f)
            if node is None:
                node = parent.children[f] = Node(f, parent)
            node.calls += 1
            stack.append((node, clock()))

        def leave(loc):
            now = clock()
            if stack:
                node, t0 = stack.pop()
                node.total_ns += now - t0

        ins = self.instrument
        for f in defined_functions(module):
            ins.insert(module, f, 0, FuncProbe(enter))
            ins.on_exit(module, f, leave)

    def _unwind(self, depth: int, now: int) -> None:
        """Close shadow frames above `depth` (their real frames are gone)."""
        while len(self.stack) > depth:
            node, t0 = self.stack.pop()
            node.total_ns += now - t0

    # ---------------------------------------------------------------- results
    def contexts(self):
        """(tuple of function names, node) for every context, depth first."""
        m = self.module
        for path, node in self.root.walk():
            yield tuple(func_ref(m, f) for f in path), node

    def folded_lines(self) -> list[str]:
        out = []
        for names, node in self.contexts():
            stack = ";".join(n.strip('"') for n in names)
            if self.weight == "calls":
                w = node.calls
            elif self.weight == "ns":
                w = node.self_ns
            else:
                w = round(node.self_ns / 1000)
            if w > 0:
                out.append(f"{stack} {w}")
        return out

    def _json(self, node: Node) -> dict:
        return {"func": func_ref(self.module, node.func), "calls": node.calls,
                "total_ns": node.total_ns, "self_ns": node.self_ns,
                "children": [self._json(c) for c in node.children.values()]}

    def on_finish(self, report):
        self._unwind(0, time.perf_counter_ns())
        report.data["tree"] = [self._json(c) for c in self.root.children.values()]
        for names, node in self.contexts():
            report.csv_row("profile", ";".join(n.strip('"') for n in names), node.calls,
                           node.total_ns, node.self_ns)
        if report.format != "text":
            return
        if self.folded:
            for line in self.folded_lines():
                report.text(line)
            return
        total = sum(c.total_ns for c in self.root.children.values())
        ncontexts = sum(1 for _ in self.root.walk())
        report.text(f"profile: {total / 1e6:.3f} ms in Wasm, {ncontexts} calling contexts")
        report.text(f"  {'total ms':>10} {'self ms':>10} {'calls':>10}  context")
        hidden = 0
        m = self.module

        def show(node: Node, depth: int):
            nonlocal hidden
            kids = sorted(node.children.values(), key=lambda c: (-c.total_ns, c.func))
            for c in kids:
                if depth >= self.max_depth or (total and 100 * c.total_ns < self.min_pct * total):
                    hidden += 1 + sum(1 for _ in c.walk())
                    continue
                report.text(f"  {c.total_ns / 1e6:>10.3f} {c.self_ns / 1e6:>10.3f} {c.calls:>10}  "
                            f"{'  ' * depth}{func_ref(m, c.func)}")
                show(c, depth + 1)

        show(self.root, 0)
        if hidden:
            report.text(f"  ({hidden} contexts below {self.min_pct}% of the time or deeper than "
                        f"{self.max_depth} levels not shown; profile:folded lists all)")


MONITOR = ProfileMonitor
