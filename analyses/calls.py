"""calls: how often each function was called, from which call sites, and the call graph.

Probes: a native `CountProbe` at every function entry (pc 0) and at every `call` site (the callee
is static). At a `call_indirect` through a table whose contents cannot change once the module is
instantiated (defined in the module, not exported, and no table.set/fill/copy/init/grow writes it:
the common case of C programs), a native `TallyProbe` counts the table index on top of the stack
and the report resolves each index through the instance's table; through any other table, a
probe reads the index and resolves it at once (`loc.frame.instance.tables[t]`). Either way
indirect calls are attributed to the function they really reach. (A second instance of the module
switches the tallied sites to resolving at once: two instances may hold different tables.)

Options (`--monitor calls:OPTS`, comma-separated):
    sites       list every executed call site (default: the 40 busiest)
    dot[=FILE]  also write the dynamic call graph as Graphviz DOT: to FILE; else, when the
                runner sends the report to a file (it sets `monitor.output` or `report.output`
                to the --output path), the text report is the DOT graph; else to `calls.dot`. Render with `dot -Tsvg calls.dot -o calls.svg`.
Text: calls per function (entries, whatever the caller: Wasm or the host), then the call sites
with their targets. CSV rows:
    calls,func,count                      entries of each called function
    callsite,func,pc,instruction,target,count   per call site and target
JSON: {"functions": {func: count}, "sites": [[func, pc, instruction, target, count]], "edges": ...}
"""
from __future__ import annotations

from wizardpy import CountProbe, Monitor, Probe, TallyProbe, defined_functions, func_ref, instructions

CALL = 0x10
CALL_INDIRECT = 0x11
# instructions that write a table, and the position of the table index in their immediates
TABLE_WRITES = {0x26: 0, 0x111: 0, 0x10E: 0, 0x10C: 1, 0x10F: 0}   # set, fill, copy (dst), init, grow


def _target_name(func) -> str:
    """`"name"` / `#N` of a Func of any instance, or the host function's Python name."""
    inst = getattr(func, "instance", None)
    if inst is None:
        return f"<host {getattr(func, 'name', '?')}>"
    return func_ref(inst.module, func.index)


def _resolve(table, idx: int) -> str:
    """The target name of element idx of a Table."""
    try:
        f = table.get(idx)
    except IndexError:
        return "<undefined element>"
    return "<null>" if f is None else _target_name(f)


class _IndirectSite(Probe):
    """At a call_indirect: resolve the table index on top of the stack to the callee."""

    def __init__(self, table: int):
        self.table = table
        self.targets: dict[str, int] = {}
        self._tab = None  # (instance, Table), cached per instance

    def fire(self, loc):
        fr = loc.frame
        idx = fr.get_operand(0) & 0xFFFFFFFF
        inst = fr.instance
        tab = self._tab
        if tab is None or tab[0] is not inst:
            tab = self._tab = (inst, inst.tables[self.table])
        key = _resolve(tab[1], idx)
        self.targets[key] = self.targets.get(key, 0) + 1
        return None


class _TalliedSite:
    """A call_indirect through a table that never changes: a TallyProbe counts the indices
    (the last count: indices past the table's end, which trap), resolved at report time."""

    def __init__(self, table: int, size: int):
        self.table = table
        self.size = size
        self.probe = TallyProbe(size + 1)
        self.before: dict[str, int] = {}     # targets counted before it was replaced

    def resolve(self, instance) -> dict[str, int]:
        out = dict(self.before)
        for i, c in enumerate(self.probe.counts):
            if c:
                key = "<undefined element>" if i == self.size or instance is None \
                    else _resolve(instance.tables[self.table], i)
                out[key] = out.get(key, 0) + c
        return out


class CallsMonitor(Monitor):
    name = "calls"
    description = "calls per function and per call site, indirect targets, call graph (dot)"

    def __init__(self, options: str = ""):
        super().__init__(options)
        self.all_sites = False
        self.dot = False
        self.dot_file = None
        for o in self.option_set():
            if o == "sites":
                self.all_sites = True
            elif o == "dot":
                self.dot = True
            elif o.startswith("dot="):
                self.dot = True
                self.dot_file = o[4:]
            else:
                raise ValueError(f"invalid option {o!r} (known: sites, dot, dot=FILE)")
        self.module = None
        self.instances: list = []
        self.entries: list[tuple[int, CountProbe]] = []
        # (caller, pc, instruction text, callee name or None, probe or _TalliedSite)
        self.sites: list[tuple[int, int, str, str | None, object]] = []

    def _static_tables(self, module) -> set[int]:
        """Tables whose contents cannot change after instantiation (see the module docstring)."""
        tables = module.table_types
        static = {t for t in range(module.num_imported_tables, len(tables))
                  if not module.is_exported("table", t)}
        for f in defined_functions(module):
            for _, op, imm in instructions(module, f, TABLE_WRITES):
                static.discard(imm[TABLE_WRITES[op]])
        return static

    def on_parse(self, module):
        super().on_parse(module)
        self.module = module
        static = self._static_tables(module)
        tables = module.table_types
        sites = []
        for f in defined_functions(module):
            p = CountProbe()
            sites.append((f, 0, p))
            self.entries.append((f, p))
            for pc, op, imm in instructions(module, f, (CALL, CALL_INDIRECT)):
                if op == CALL:
                    p = CountProbe()
                    self.sites.append((f, pc, "call", func_ref(module, imm[0]), p))
                elif imm[1] in static:
                    site = _TalliedSite(imm[1], tables[imm[1]].limits.min)
                    self.sites.append((f, pc, "call_indirect", None, site))
                    p = site.probe
                else:
                    p = _IndirectSite(imm[1])
                    self.sites.append((f, pc, "call_indirect", None, p))
                sites.append((f, pc, p))
        self.instrument.insert_many(module, sites)      # one batch: one native patch

    def on_instantiate(self, instance):
        self.instances.append(instance)
        if len(self.instances) != 2:
            return
        # another instance may hold another table: resolve at once from now on
        first = self.instances[0]
        for k, (f, pc, kind, callee, p) in enumerate(self.sites):
            if isinstance(p, _TalliedSite):
                q = _IndirectSite(p.table)
                q.targets = p.resolve(first)
                self.instrument.remove(self.module, f, pc, p.probe)
                self.instrument.insert(self.module, f, pc, q)
                self.sites[k] = (f, pc, kind, callee, q)

    # ------------------------------------------------------------------ results
    def function_counts(self) -> dict[str, int]:
        """{func: times entered} for every defined function that ran."""
        m = self.module
        return {func_ref(m, f): p.count for f, p in self.entries if p.count}

    def site_counts(self) -> list[tuple[str, int, str, str, int]]:
        """(caller, pc, instruction, target, count) per executed call site and target."""
        m = self.module
        rows = []
        for f, pc, kind, callee, p in self.sites:
            if kind == "call":
                if p.count:
                    rows.append((func_ref(m, f), pc, kind, callee, p.count))
            else:
                targets = p.resolve(self.instances[0] if self.instances else None) \
                    if isinstance(p, _TalliedSite) else p.targets
                for tgt, c in targets.items():
                    rows.append((func_ref(m, f), pc, kind, tgt, c))
        rows.sort(key=lambda r: (-r[4], r[0], r[1], r[3]))
        return rows

    def edges(self) -> dict[tuple[str, str], int]:
        """{(caller, callee): calls} summed over call sites."""
        out: dict[tuple[str, str], int] = {}
        for caller, _, _, tgt, c in self.site_counts():
            out[(caller, tgt)] = out.get((caller, tgt), 0) + c
        return out

    def dot_text(self) -> str:
        funcs = self.function_counts()
        edges = self.edges()
        names = sorted(set(funcs) | {a for a, _ in edges} | {b for _, b in edges})

        def q(s: str) -> str:
            return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

        lines = ["digraph calls {", "  node [shape=box, fontname=\"monospace\"];"]
        for n in names:
            c = funcs.get(n)
            label = f"{n}\\n{c} calls" if c is not None else n
            lines.append(f"  {q(n)} [label={q(label)}];")
        for (a, b), c in sorted(edges.items()):
            lines.append(f"  {q(a)} -> {q(b)} [label=\"{c}\"];")
        lines.append("}")
        return "\n".join(lines)

    def on_finish(self, report):
        funcs = self.function_counts()
        rows = self.site_counts()
        direct = sum(r[4] for r in rows if r[2] == "call")
        indirect = sum(r[4] for r in rows if r[2] == "call_indirect")
        report.data.update({
            "functions": funcs,
            "direct_calls": direct, "indirect_calls": indirect,
            "sites": [list(r) for r in rows],
            "edges": [[a, b, c] for (a, b), c in sorted(self.edges().items())],
        })
        for f, c in sorted(funcs.items(), key=lambda kv: (-kv[1], kv[0])):
            report.csv_row("calls", f, c)
        for caller, pc, kind, tgt, c in rows:
            report.csv_row("callsite", caller, pc, kind, tgt, c)
        if self.dot:
            self._write_dot(report)
        if report.format != "text" or getattr(self, "_dot_in_report", False):
            return
        total = sum(funcs.values())
        report.text(f"calls: {total} function entries; {direct} direct and {indirect} indirect "
                    f"calls executed; {len(funcs)} of {len(self.entries)} functions called")
        if funcs:
            w = max(len(n) for n in funcs)
            report.text(f"  {'calls':>12}  function")
            for f, c in sorted(funcs.items(), key=lambda kv: (-kv[1], kv[0])):
                report.text(f"  {c:>12}  {f}")
        if rows:
            n = len(rows) if self.all_sites else min(40, len(rows))
            w = max(len(f"{r[0]} +{r[1]}") for r in rows[:n])
            report.text("  call sites:")
            for caller, pc, kind, tgt, c in rows[:n]:
                report.text(f"  {c:>12}  {caller + ' +' + str(pc):<{w}}  {kind:<13} -> {tgt}")
            if n < len(rows):
                report.text(f"  ... {len(rows) - n} more call sites (calls:sites lists them)")

    def _write_dot(self, report):
        text = self.dot_text()
        report.data["dot"] = text
        target = self.dot_file
        out = getattr(self, "output", None) or getattr(report, "output", None)
        if target is None and out and report.format == "text":
            # the report goes to --output FILE (the runner sets `monitor.output` or
            # `report.output`): then the report *is* the DOT graph
            self._dot_in_report = True
            report.text(text)
            return
        path = target or "calls.dot"
        with open(path, "w") as fh:
            fh.write(text + "\n")
        if report.format == "text":
            report.text(f"calls: call graph written to {path}")


MONITOR = CallsMonitor
