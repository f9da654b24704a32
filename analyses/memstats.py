"""memstats: linear-memory traffic: loads and stores per 64 KiB region, bytes accessed, bulk
operations (memory.copy / memory.fill / memory.init) with their sizes, memory.grow.

The effective address of a load/store is `(address operand mod 2**32) + offset`, its region
`address >> 16`. Accesses that trap (out of bounds) are counted as attempted.

How (exact, without a Python call per access): the code of every basic block
(`wizardpy.basic_blocks`) is evaluated symbolically once, at parse time. An address operand that
is a constant, or an i32 expression (add, sub, mul, shifts, and/or/xor, constants) of the
block's entry values of locals and globals, is computed when the block starts:
- constant addresses: a native `CountProbe` at the block's leader (regions known statically);
- addresses off one entry value (`p`, `p+8`, `p-16`, with memarg offsets): one OperandProbe
  where that value is first on top of the stack (after its local.get/global.get) adds all of
  them, with one dictionary update when they fall in one region;
- addresses from several entry values (add, sub, mul, shifts, and/or/xor of them): one Python
  probe at the leader reads those locals/globals once and adds every such access of the block;
- any other address (one loaded from memory, a `select`, ...): an `OperandProbe` where it is on
  top of the stack (at the load itself; for a store, at the instruction after the one that
  pushed the address), or a frame-reading probe when it was pushed before the block started.
Like every block-counting monitor this is exact for runs that do not trap in the middle of a
block (a trap there also counts the block's later accesses; it ends the run). Option `access`
uses one probe per access instead (the slow reference: 50-100x slower).
At memory.copy/fill/init a probe reads (destination, source or value, size); at memory.grow one
reads the requested pages.

Options: `all` lists every region (default: the 40 busiest), `sizes` lists every bulk size,
`access` one probe per access (reference implementation).
Text: totals, a per-region table (loads, stores, bytes read, bytes written), bulk operations with
their counts, bytes and sizes, memory.grow calls and pages. CSV rows:
    memregion,region,start,loads,stores,bytes_read,bytes_written
    membulk,op,count,bytes
    memgrow,count,pages
JSON: everything, including every bulk operation's size histogram.
"""
from __future__ import annotations

import re

from wizardpy import (CountProbe, FuncProbe, Monitor, OperandProbe, basic_blocks,
                      defined_functions, instructions)
from wizardpy import opcodes as ops

REGION_BITS = 16
MEMORY_GROW = 0x40
BULK = {0x10A: "memory.copy", 0x10B: "memory.fill", 0x108: "memory.init"}
M32 = 0xFFFFFFFF

# ---------------------------------------------------------------- symbolic evaluation of a block
# A stack value is ("v", base, k): the u32 value (base + k) mod 2**32, base a Python expression
# (over the block's entry values, names e0, e1, ...) or None for the constant k; k is kept
# signed in [-2**31, 2**31) so that `p - 16` is base p, k -16. ("u", j): unknown, pushed by
# instruction j of the block (None: before the block started).
_UNKNOWN_BEFORE = ("u", None)

# stack effects of the instructions SIGNATURES does not describe: (pops, pushes)
_EFFECT = {ops.NOP: (0, 0), ops.BLOCK: (0, 0), ops.LOOP: (0, 0), ops.END: (0, 0),
           ops.DROP: (1, 0), ops.SELECT: (3, 1), ops.SELECT_T: (3, 1),
           ops.TABLE_GET: (1, 1), ops.TABLE_SET: (2, 0), ops.TABLE_GROW: (2, 1),
           ops.TABLE_SIZE: (0, 1), ops.TABLE_FILL: (3, 0), ops.TABLE_INIT: (3, 0),
           ops.TABLE_COPY: (3, 0), ops.ELEM_DROP: (0, 0), ops.DATA_DROP: (0, 0),
           ops.REF_NULL: (0, 1), ops.REF_IS_NULL: (1, 1), ops.REF_FUNC: (0, 1)}
# instructions that end a basic block (nothing of the block follows them)
_LAST = frozenset((ops.BR, ops.BR_IF, ops.BR_TABLE, ops.RETURN, ops.UNREACHABLE, ops.IF,
                   ops.ELSE, ops.CALL, ops.CALL_INDIRECT))


def _signed(k: int) -> int:
    k &= M32
    return k - 0x100000000 if k & 0x80000000 else k


def _full(v) -> str | None:
    """A Python expression for the u32 value of a symbolic value (None if unknown)."""
    if v[0] != "v":
        return None
    _, base, k = v
    if base is None:
        return str(k & M32)
    return f"(({base}) + {k} & 0xFFFFFFFF)" if k else base


_BINOPS = {ops.I32_MUL: "(({a}) * ({b}) & 0xFFFFFFFF)",
           ops.I32_SHL: "(({a}) << (({b}) & 31) & 0xFFFFFFFF)",
           ops.I32_SHR_U: "(({a}) >> (({b}) & 31))",
           ops.I32_SHR_S: "(((({a}) ^ 0x80000000) - 0x80000000 >> (({b}) & 31)) & 0xFFFFFFFF)",
           ops.I32_AND: "(({a}) & ({b}))", ops.I32_OR: "(({a}) | ({b}))",
           ops.I32_XOR: "(({a}) ^ ({b}))",
           ops.I32_ADD: "(({a}) + ({b}) & 0xFFFFFFFF)",
           ops.I32_SUB: "(({a}) - ({b}) & 0xFFFFFFFF)"}


def _binop(op, a, b, j):
    if a[0] == "v" and b[0] == "v":
        if a[1] is None and b[1] is None:                        # constant folding
            x = eval(_BINOPS[op].format(a=a[2] & M32, b=b[2] & M32))  # noqa: S307 - our own text
            return ("v", None, _signed(x))
        if op == ops.I32_ADD and (a[1] is None or b[1] is None):
            c, v = (a, b) if a[1] is None else (b, a)
            return ("v", v[1], _signed(v[2] + c[2]))
        if op == ops.I32_SUB and b[1] is None:
            return ("v", a[1], _signed(a[2] - b[2]))
        return ("v", _BINOPS[op].format(a=_full(a), b=_full(b)), 0)
    return ("u", j)


def block_accesses(code, entry_names: dict, first: dict | None = None):
    """Symbolically run one basic block. `code`: [(pc, op, imm)] of the block. Returns a list of
    (pc, op, offset, size, is_store, addr) per load/store, addr a symbolic value: ("v", base, k)
    or ("u", j). `entry_names` collects {("l", i) or ("g", i): name} of the entry values used;
    `first` {name: j}: the local.get/global.get (index j in the block) that pushes it first."""
    if first is None:
        first = {}
    stack: list = []
    local_vals: dict = {}
    global_vals: dict = {}
    out = []

    def pop():
        return stack.pop() if stack else _UNKNOWN_BEFORE

    def entry(key, j):
        name = entry_names.get(key)
        if name is None:
            name = entry_names[key] = f"e{len(entry_names)}"
        first.setdefault(name, j)
        return ("v", name, 0)

    for j, (pc, op, imm) in enumerate(code):
        if ops.is_load(op) or ops.is_store(op):
            if ops.is_store(op):
                pop()
            addr = pop()
            out.append((pc, op, imm[1], ops.access_size(op), ops.is_store(op), addr))
            if ops.is_load(op):
                stack.append(("u", j))
        elif op == ops.I32_CONST:
            stack.append(("v", None, _signed(imm[0])))
        elif op == ops.LOCAL_GET:
            v = local_vals.get(imm[0])
            stack.append(v if v is not None else entry(("l", imm[0]), j))
        elif op == ops.LOCAL_SET or op == ops.LOCAL_TEE:
            v = pop()
            local_vals[imm[0]] = v
            if op == ops.LOCAL_TEE:
                stack.append(v)
        elif op == ops.GLOBAL_GET:
            v = global_vals.get(imm[0])
            stack.append(v if v is not None else entry(("g", imm[0]), j))
        elif op == ops.GLOBAL_SET:
            global_vals[imm[0]] = pop()
        elif op in _BINOPS:
            b = pop()
            a = pop()
            stack.append(_binop(op, a, b, j))
        elif op in _LAST:
            break
        else:
            sig = ops.SIGNATURES.get(op)
            eff = (len(sig[0]), len(sig[1])) if sig is not None else _EFFECT.get(op)
            if eff is None:                   # unknown stack effect: the rest is unknown
                return out + [(pc2, op2, imm2[1], ops.access_size(op2), ops.is_store(op2),
                               ("u", None))
                              for pc2, op2, imm2 in code[j + 1:]
                              if ops.is_load(op2) or ops.is_store(op2)]
            for _ in range(eff[0]):
                pop()
            stack.extend([("u", j)] * eff[1])
    return out


class MemstatsMonitor(Monitor):
    name = "memstats"
    description = "loads/stores per 64 KiB region, bytes, bulk memory operations, memory.grow"

    def __init__(self, options: str = ""):
        super().__init__(options)
        self.show_all = False
        self.show_sizes = False
        self.per_access = False
        for o in self.option_set():
            if o == "all":
                self.show_all = True
            elif o == "sizes":
                self.show_sizes = True
            elif o == "access":
                self.per_access = True
            else:
                raise ValueError(f"invalid option {o!r} (known: all, sizes, access)")
        self.module = None
        # region -> [loads, stores, bytes read, bytes written]
        self.regions: dict[int, list[int]] = {}
        # op name -> {size: count}
        self.bulk: dict[str, dict[int, int]] = {}
        self.grows = 0
        self.grow_pages = 0
        # constant-address accesses of a block: [CountProbe at its leader,
        # [(region, loads, stores, bytes read, bytes written)], firings already folded in]
        self.static: list[list] = []

    # ---------------------------------------------------------------- probe callbacks
    def _access(self, offset: int, size: int, store: bool):
        """OperandProbe callback: one load (store) of `size` bytes at the address on top of
        the stack + offset, counted in its region ([loads, stores, bytes read, bytes
        written])."""
        regions = self.regions
        k = 1 if store else 0

        def on_access(addr):
            a = (addr & 0xFFFFFFFF) + offset
            r = regions.get(a >> REGION_BITS)
            if r is None:
                r = regions[a >> REGION_BITS] = [0, 0, 0, 0]
            r[k] += 1
            r[k + 2] += size
        return on_access

    def _load(self, offset: int, size: int):
        return self._access(offset, size, False)

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
            code = list(instructions(module, f))
            for pc, op, imm in code:
                if op in BULK:
                    ins.insert(module, f, pc, FuncProbe(self._bulk(BULK[op])))
                elif op == MEMORY_GROW:
                    ins.insert(module, f, pc, FuncProbe(self._grow))
                elif self.per_access and ops.is_load(op):
                    ins.insert(module, f, pc, OperandProbe(self._load(imm[1], ops.access_size(op))))
                elif self.per_access and ops.is_store(op):
                    ins.insert(module, f, pc, FuncProbe(self._store(imm[1], ops.access_size(op))))
            if not self.per_access:
                at = {pc: k for k, (pc, _, _) in enumerate(code)}
                for b in basic_blocks(module, f):
                    blk = code[at[b.start]:at[b.end] + 1]
                    self._plan_block(module, f, blk)

    def _plan_block(self, module, f, blk) -> None:
        """Probes for the loads/stores of one basic block (see the module's docstring)."""
        names: dict = {}
        first: dict = {}
        accs = block_accesses(blk, names, first)
        if not accs:
            return
        ins = self.instrument
        static: dict[int, list[int]] = {}
        groups: dict[str, list] = {}
        for pc, op, off, size, store, addr in accs:
            if addr[0] == "v" and addr[1] is None:           # constant address
                r = static.setdefault(((addr[2] & M32) + off) >> REGION_BITS, [0, 0, 0, 0])
                r[1 if store else 0] += 1
                r[3 if store else 2] += size
            elif addr[0] == "v":                              # from the block's entry values
                groups.setdefault(addr[1], []).append((addr[2], off, store, size))
            elif not store:                                   # unknown: the load's own operand
                ins.insert(module, f, pc, OperandProbe(self._load(off, size)))
            elif addr[1] is not None:                         # unknown store address, pushed
                at = blk[addr[1] + 1][0]                      # in the block: on top next
                ins.insert(module, f, at, OperandProbe(self._store_addr(off, size)))
            else:                                             # pushed before the block
                ins.insert(module, f, pc, FuncProbe(self._store(off, size)))
        leader = blk[0][0]
        if static:                                            # native: no Python call
            p = CountProbe()
            ins.insert(module, f, leader, p)
            self.static.append([p, [(k, *v) for k, v in static.items()], 0])
        if groups and all(re.fullmatch(r"e\d+", base) for base in groups):
            # every group is off one entry value: an OperandProbe where that value is first on
            # top of the stack (right after its local.get/global.get) adds the group's accesses,
            # cheaper than a frame-reading probe at the leader
            byname = {n: k for k, n in names.items()}
            for base, gaccs in groups.items():
                at = blk[first[base] + 1][0]
                run = self._compile({byname[base]: base}, {base: gaccs}, operand=True)
                ins.insert(module, f, at, OperandProbe(run))
        elif groups:
            ins.insert(module, f, leader, FuncProbe(self._compile(names, groups)))

    def _compile(self, names: dict, groups: dict, operand: bool = False):
        """The leader probe of a block: reads the entry values, adds every access (operand:
        an OperandProbe callback receiving the one entry value `names` lists)."""
        used = {t for base in groups for t in re.findall(r"\be\d+\b", base)}
        names = {k: n for k, n in names.items() if n in used}   # (not the f64 locals, ...)
        if operand:
            (name,) = names.values()
            names = {}
            src = ["def run(v):", f"    {name} = v & 0xFFFFFFFF"]
        else:
            src = ["def run(loc):", "    fr = loc.frame"]
        if any(k[0] == "g" for k in names):
            src.append("    gl = fr.instance.globals")
        for (kind, i), name in names.items():
            get = f"fr.get_local({i})" if kind == "l" else f"gl[{i}].value"
            src.append(f"    {name} = {get} & 0xFFFFFFFF")
        consts = {"add": self._add, "slow": self._slow, "R": self.regions}
        B = REGION_BITS
        wrap, same, tot = [], [], [0, 0, 0, 0]
        per_group = []
        for g, (base, accs) in enumerate(groups.items()):
            ks = [k for k, _, _, _ in accs]
            eff = [k + off for k, off, _, _ in accs]
            nl = sum(not st for _, _, st, _ in accs)
            ns_ = len(accs) - nl
            br = sum(sz for _, _, st, sz in accs if not st)
            bw = sum(sz for _, _, st, sz in accs if st)
            for i, v in enumerate((nl, ns_, br, bw)):
                tot[i] += v
            consts[f"A{g}"] = tuple(accs)
            src.append(f"    b{g} = {base}")
            # no wrap-around mod 2**32: every address is b + k + offset
            gw = []
            if min(ks) < 0:
                gw.append(f"b{g} >= {-min(ks)}")
            if max(ks) > 0:
                gw.append(f"b{g} <= {0xFFFFFFFF - max(ks)}")
            wrap += gw
            same += [f"(b{g} + {min(eff)}) >> {B} == x", f"(b{g} + {max(eff)}) >> {B} == x"]
            per_group += [f"    if {' and '.join(gw + ['True'])} and "
                          f"(b{g} + {min(eff)}) >> {B} == (b{g} + {max(eff)}) >> {B}:",
                          f"        add((b{g} + {min(eff)}) >> {B}, {nl}, {ns_}, {br}, {bw})",
                          "    else:",
                          f"        slow(b{g}, A{g})"]
        # the common case: no wrap-around and the whole block's accesses in one region: one
        # dictionary update (else group by group, and access by access where needed)
        src.append(f"    x = (b0 + {min(k + off for k, off, _, _ in next(iter(groups.values())))})"
                   f" >> {B}")
        src.append(f"    if {' and '.join(wrap + same)}:")
        src += ["        r = R.get(x)",
                "        if r is None:",
                "            r = R[x] = [0, 0, 0, 0]",
                f"        r[0] += {tot[0]}", f"        r[1] += {tot[1]}",
                f"        r[2] += {tot[2]}", f"        r[3] += {tot[3]}",
                "        return"]
        src += per_group
        ns: dict = {}
        exec(compile("\n".join(src), "<memstats block>", "exec"), consts, ns)  # noqa: S102
        return ns["run"]

    def _add(self, region: int, nl: int, ns: int, br: int, bw: int) -> None:
        r = self.regions.get(region)
        if r is None:
            r = self.regions[region] = [0, 0, 0, 0]
        r[0] += nl
        r[1] += ns
        r[2] += br
        r[3] += bw

    def _slow(self, b: int, accs) -> None:
        """Accesses off one base that straddle regions (or wrap around 2**32): one by one."""
        regions = self.regions
        for k, off, store, size in accs:
            a = ((b + k) & M32) + off
            r = regions.get(a >> REGION_BITS)
            if r is None:
                r = regions[a >> REGION_BITS] = [0, 0, 0, 0]
            if store:
                r[1] += 1
                r[3] += size
            else:
                r[0] += 1
                r[2] += size

    def _store_addr(self, offset: int, size: int):
        """OperandProbe callback: a store's address, read where it is on top of the stack."""
        return self._access(offset, size, True)

    def _collect_static(self) -> None:
        """Fold the native counts of constant-address blocks into the regions (what they
        counted since the last fold)."""
        for e in self.static:
            p, rows, done = e
            c = p.count - done
            if c:
                e[2] += c
                for region, nl, ns, br, bw in rows:
                    self._add(region, nl * c, ns * c, br * c, bw * c)

    # ---------------------------------------------------------------- results
    def totals(self) -> dict[str, int]:
        self._collect_static()
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
