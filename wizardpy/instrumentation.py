"""Instrumentation: probes at (module, func, pc) locations and global probes (docs/instrumentation.md).

`engine.instrument` (one `Instrumentation` per Engine) keeps, per location, an ordered tuple of
probes, and the list of global probes. It realises them in the native interpreter
(docs/internal-code.md):

- the first probe at a location writes `OP_PROBE` over the opcode word at `ip_of_pc[pc]` of the
  module's shared code (the original word is saved in the module's `probe_ops` buffer, which every
  `wz_func` of every instance of the module points at); removing the last restores the word.
  pc 0 (function entry) is ip 0, the `OP_ENTRY` no-op every function starts with, so an entry probe
  fires once per call even when a loop starts at the first instruction.
- `CountProbe` / `CountMoreProbe` are native: the interpreter adds 1 to the module's per-word
  counter `probe_counts[ip]` at every `OP_PROBE`, and calls Python only where
  `probe_python[ip]` is set, i.e. where some non-counting probe sits. A count probe remembers the
  counter's value when it was attached (its base), so `.count` = (counter - base) * n.
  Global `CountProbe`s read `t->global_count` the same way (global_probes == 2: no Python call).
- Every other probe goes through the generic path: the interpreter writes the frame out, stores the
  address of the code word in `t->probe_site`, and calls `wz_probe_fire`; `_fire` finds the
  site by that address in one dict lookup and runs a closure prepared for that site's snapshot of
  probes (so changes at the firing location take effect on the next visit; anywhere else they are
  immediate because code words are patched in place).

Consistency rules: ARCHITECTURE.md §3 and docs/instrumentation.md; tests/test_probes.py has one
test per rule.
"""
from __future__ import annotations

import bisect
import itertools
from array import array
from typing import Callable

from .errors import ProbeError, Trap, WizardError
from .fusion import unfused_words
from .traps import WZ_TRAP_HOST, pc_of
from .opcodes import SIGNATURES as _SIGS
from .values import from_raw, to_raw

OP_PROBE = 0x120
OP_ENTRY = 0x121
_RETURN = 0x0F

__all__ = ["Probe", "ProbeAction", "DynamicLoc", "FrameAccessor", "FrameWriter", "StaleFrameError",
           "CountProbe", "CountMoreProbe", "HitProbe", "TallyProbe", "OperandProbe", "FuncProbe", "Instrumentation",
           "ExitHandle"]


class StaleFrameError(WizardError):
    """A FrameAccessor (or a DynamicLoc's frame) was used after its frame returned."""


# ---------------------------------------------------------------------------------------------
# Probes

class ProbeAction:
    """What a probe asks the engine to do: `ProbeAction.trap(reason)` (None = just continue)."""

    __slots__ = ("kind", "reason")

    def __init__(self, kind: str, reason: str | None = None):
        self.kind = kind
        self.reason = reason

    @classmethod
    def trap(cls, reason: str = "trap requested by a probe") -> "ProbeAction":
        """Make the program trap at the probe's location with `Trap(reason)`."""
        return cls("trap", reason)

    def __repr__(self) -> str:
        return f"ProbeAction.{self.kind}({self.reason!r})"


class Probe:
    """Base class: override `fire(loc) -> ProbeAction | None`."""

    def fire(self, loc: "DynamicLoc") -> ProbeAction | None:
        return None


class FuncProbe(Probe):
    """A probe whose `fire(loc)` is `callback(loc)`."""

    def __init__(self, callback: Callable[["DynamicLoc"], ProbeAction | None]):
        self.callback = callback
        self.fire = callback            # no extra Python frame per firing

    def __repr__(self) -> str:
        return f"FuncProbe({getattr(self.callback, '__qualname__', self.callback)!r})"


class CountProbe(Probe):
    """Counts its firings natively (no Python call per firing). `.count` reads the counter."""

    n = 1

    def __init__(self):
        self._frozen = 0                 # firings seen by detached attachments
        self._att: list[list] = []       # [cdata uint64_t*, index, base] per attachment

    @property
    def count(self) -> int:
        c = self._frozen
        for buf, i, base in self._att:
            c += buf[i] - base
        return c * self.n

    def fire(self, loc) -> None:         # counted natively before the Python round
        return None

    def _attach(self, buf, i) -> None:
        self._att.append([buf, i, buf[i]])

    def _detach(self, buf, i) -> None:
        for k, (b, j, base) in enumerate(self._att):
            if j == i and b == buf:
                self._frozen += b[j] - base
                del self._att[k]
                return

    def __repr__(self) -> str:
        return f"{type(self).__name__}(count={self.count})"


class CountMoreProbe(CountProbe):
    """Adds `n` per firing (e.g. the instruction count of a basic block), natively."""

    def __init__(self, n: int):
        super().__init__()
        self.n = int(n)


class HitProbe(Probe):
    """Fires at most once per location, natively: the first time its location runs it records
    the hit and removes itself there, in either tier, with no Python call (the interpreter writes
    the original instruction back; compiled code stores one byte until it is recompiled).
    One HitProbe may sit at many locations of a module (coverage puts one at every basic block):
    `.hits` is the set of `(func, pc)` where it fired, `.hit` whether it fired anywhere.
    A fired HitProbe is no longer at its location (`probes_at` does not list it, `remove` there
    returns False). It is a local probe only (`insert_global` refuses it)."""

    def __init__(self):
        self._fired: set = set()          # (func, pc) recorded when an attachment ended
        self._att: dict = {}              # id(_HitWords) -> (_HitWords, {word: (func, pc)})

    @property
    def hits(self) -> set:
        out = set(self._fired)
        for hw, locs in self._att.values():
            hit = hw.reader()
            out.update([loc for w, loc in locs.items() if hit(w)])
        return out

    @property
    def hit(self) -> bool:
        return bool(self._fired) or any(hw.hit(w) for hw, locs in self._att.values() for w in locs)

    def fire(self, loc) -> None:         # recorded natively
        return None

    def _locs(self, hw: "_HitWords") -> dict:
        """{word: (func, pc)} of its attachments to a module's hit words."""
        a = self._att.get(id(hw))
        if a is None:
            a = self._att[id(hw)] = (hw, {})
        return a[1]

    def _attach(self, hw: "_HitWords", w, loc) -> None:
        self._locs(hw)[w] = loc

    def _detach(self, hw: "_HitWords", w) -> None:
        loc = self._locs(hw).pop(w, None)
        if loc is not None and hw.hit(w):
            self._fired.add(loc)

    def __repr__(self) -> str:
        return f"HitProbe(hits={len(self.hits)})"


class _HitWords:
    """The HitProbe state of one module: `buf`, its `probe_hits` (1 once the hit probes at a
    code word fired), and `implied`: {word: [(byte pointer, its address, mask)]}, the region
    bits of compiled code. Tier jit stores one byte where a straight-line run of hit locations ends (no
    label, branch, call or Python call inside: whoever reaches its last instruction ran all of
    them; a trap inside stores the locations it passed one by one): that byte set means each of
    its words ran. A loop keeps the runs in it as bits of a register and ORs them into a region
    word where it is left (`region_bits`): bit k set means run k ran. Reset when a HitProbe is
    attached afresh at a word.

    `implied` is also kept flat, as three parallel arrays (word, byte address, mask), so that
    `reader` settles every implied word in one native call (a report reads thousands)."""

    __slots__ = ("ffi", "lib", "buf", "implied", "chunks", "flat", "stale")

    def __init__(self, ffi, lib, buf):
        self.ffi = ffi
        self.lib = lib
        self.buf = buf
        self.implied: dict = {}
        self.chunks: list = []          # [uint64_t array, bytes used] region bytes
        self.flat = (array("I"), array("Q"), array("B"))
        self.stale = False              # `flat` lists words reset since: rebuilt when read

    def hit(self, w: int) -> bool:
        return bool(self.buf[w]) or any(p[0] & m for p, _, m in self.implied.get(w, ()))

    def reader(self):
        """hit(w) for many words: one copy of the buffer, the implied words set in it natively,
        then plain reads."""
        ffi = self.ffi
        got = bytearray(ffi.buffer(self.buf))
        if self.implied:
            if self.stale:
                self._reflatten()
            ws, addrs, masks = self.flat
            self.lib.wz_hit_implied(ffi.from_buffer("uint8_t[]", got),
                                    ffi.from_buffer("uint32_t[]", ws),
                                    ffi.from_buffer("uint64_t[]", addrs),
                                    ffi.from_buffer("uint8_t[]", masks), len(ws))
        return got.__getitem__

    def reset(self, w: int) -> None:
        self.buf[w] = 0
        if self.implied and self.implied.pop(w, None) is not None:
            self.stale = True

    def _imply(self, words, p, mask: int) -> None:
        """Each of `words` ran once byte `p` has a bit of `mask` set."""
        e = (p, int(self.ffi.cast("uintptr_t", p)), mask)
        for w in words:
            self.implied.setdefault(w, []).append(e)
            if not self.stale:
                ws, addrs, masks = self.flat
                ws.append(w)
                addrs.append(e[1])
                masks.append(mask)

    def _reflatten(self) -> None:
        ws, addrs, masks = self.flat = (array("I"), array("Q"), array("B"))
        for w, ents in self.implied.items():
            for _, addr, m in ents:
                ws.append(w)
                addrs.append(addr)
                masks.append(m)
        self.stale = False

    def _take(self, n: int):
        """n fresh zero bytes, n-aligned (n = 1 or 8): a uint8_t pointer to the first."""
        ffi = self.ffi
        if self.chunks:
            chunk = self.chunks[-1]
            chunk[1] = -(-chunk[1] // n) * n
        if not self.chunks or self.chunks[-1][1] + n > 4096:
            # uint64_t: the chunk is 8-aligned (region words are stored as one uint64_t)
            self.chunks.append([ffi.new("uint64_t[]", 512), 0])
        chunk = self.chunks[-1]
        i = chunk[1]
        chunk[1] += n
        return ffi.cast("uint8_t *", chunk[0]) + i

    def region(self, words) -> int:
        """A fresh region byte implying `words`; returns its address (for compiled code)."""
        p = self._take(1)
        self._imply(words, p, 0xFF)
        return int(self.ffi.cast("uintptr_t", p))

    def region_bits(self, runs) -> int:
        """A fresh region word (uint64_t, little-endian) whose bit k implies the words of
        runs[k] (at most 64); returns its address (for compiled code)."""
        if len(runs) > 64:
            raise ValueError("a region word holds at most 64 runs")
        p = self._take(8)
        for k, words in enumerate(runs):
            self._imply(words, p + k // 8, 1 << (k % 8))
        return int(self.ffi.cast("uintptr_t", p))


class TallyProbe(Probe):
    """Counts, natively, which value the i32 on top of the stack has when its location runs:
    `counts[min(v, n - 1)] += 1` with v read as unsigned (so for a `br_if` / `if` condition and
    n = 2: [zero, non-zero]; for a `br_table` index and n = targets + 1: one count per target,
    out-of-range indices on the default, last). No Python call per firing, in either tier.
    Only where the top of the stack is an i32 (insert raises ValueError elsewhere); a local
    probe only. At several locations the counts add up; `.counts` is readable at any time."""

    def __init__(self, n: int):
        n = int(n)
        if not 1 <= n <= 1 << 20:
            raise ValueError(f"TallyProbe needs 1 <= n <= {1 << 20}, got {n}")
        self.n = n
        self._frozen = [0] * n
        self._att: list = []            # [slot, base: raw counts of the slot when attached]

    @property
    def counts(self) -> list[int]:
        out = list(self._frozen)
        for slot, base in self._att:
            self._fold(out, slot, base)
        return out

    def _fold(self, out: list, slot, base: list) -> None:
        buf, last = slot.buf, self.n - 1
        for j in range(slot.n):
            d = buf[1 + j] - (base[j] if j < len(base) else 0)
            out[j if j < last else last] += d

    def fire(self, loc) -> None:         # counted natively
        return None

    def _attach(self, slot) -> None:
        self._att.append([slot, [slot.buf[1 + j] for j in range(slot.n)]])

    def _detach(self, slot) -> None:
        for k, (sl, base) in enumerate(self._att):
            if sl is slot:
                self._fold(self._frozen, slot, base)
                del self._att[k]
                return

    def __repr__(self) -> str:
        return f"TallyProbe({self.n}, counts={self.counts})"


class _TallySlot:
    """The native counts of the TallyProbes at one code word: {n, c[0..n)} (wz_func.probe_tally),
    n = the largest n of its probes (a smaller one folds the counts above it)."""

    __slots__ = ("buf", "n")

    def __init__(self, ffi, n: int):
        self.buf = ffi.new("uint64_t[]", n + 1)
        self.buf[0] = n
        self.n = n

    def grow(self, ffi, n: int) -> None:
        new = ffi.new("uint64_t[]", n + 1)
        new[0] = n
        for j in range(self.n):
            new[1 + j] = self.buf[1 + j]
        self.buf, self.n = new, n      # (compiled code holding the old one keeps it alive)


class OperandProbe(Probe):
    """`callback(value)` with the top-of-stack value before the instruction (typed by the
    validator's knowledge of the stack at that pc; None if the stack is empty). No frame is
    materialized."""

    def __init__(self, callback: Callable[[object], object]):
        self.callback = callback

    def fire(self, loc) -> None:
        self.callback(loc._top())
        return None


_NATIVE: dict = {}

# what a native probe sets in its word's flag byte (native/wizard.h: WZ_PF_*)
PF_PYTHON, PF_HIT, PF_COUNT, PF_TALLY = 1, 2, 4, 8


def _native(p) -> int:
    """The flag bit of a probe the engine runs natively (a CountProbe / HitProbe / TallyProbe
    whose class keeps that class's fire): PF_COUNT, PF_HIT or PF_TALLY; 0 for a probe that
    needs Python."""
    t = type(p)
    r = _NATIVE.get(t)
    if r is None:
        r = _NATIVE[t] = (PF_COUNT if issubclass(t, CountProbe) and t.fire is CountProbe.fire
                          else PF_HIT if issubclass(t, HitProbe) and t.fire is HitProbe.fire
                          else PF_TALLY if issubclass(t, TallyProbe)
                          and t.fire is TallyProbe.fire else 0)
    return r


def _count_only(p) -> bool:
    """A probe the engine counts natively (a CountProbe whose class keeps CountProbe.fire)."""
    return _native(p) == PF_COUNT


# ---------------------------------------------------------------------------------------------
# Locations and frames

class DynamicLoc:
    """Where a probe fires: `module`, `func` (index), `func_name`, `pc`, and `frame`: a
    FrameAccessor of the frame firing there right now (materialized on first use).

    A local probe site has one DynamicLoc for all its firings (no allocation per firing), so
    `loc.frame` means "the frame firing now"; keep `fa = loc.frame` to refer to one particular
    frame later (the accessor raises StaleFrameError once that frame returned)."""

    __slots__ = ("module", "func", "pc", "_site", "_frame")

    def __init__(self, site):
        self._site = site
        self.module = site.module
        self.func = site.func
        self.pc = site.pc
        self._frame = None

    @property
    def func_name(self) -> str:
        return self.module.func_name(self.func)

    @property
    def frame(self) -> "FrameAccessor":
        ins = self._site.instr
        t = ins.engine.thread
        f = self._frame
        d = t.nframes - 1
        if f is not None and f._depth == d and f._fr.serial == f._serial:
            return f
        f = self._frame = FrameAccessor(ins, d)
        return f

    def _top(self):
        """Top-of-stack value (typed at this pc), None if the operand stack is empty."""
        site = self._site
        ty = site.top_type
        if ty is None:
            return None
        ins = site.instr
        return from_raw(ins.engine, ty, ins._stack[ins.engine.thread.sp - 1])

    def __repr__(self) -> str:
        return f"<DynamicLoc {self.func_name} +{self.pc}>"


class _GlobalLoc(DynamicLoc):
    """The DynamicLoc of global probes (one per Instrumentation): `_site` is reset to None at
    every firing and found from t->probe_site (the code word about to execute) on first use."""

    __slots__ = ("_instr", "_addr")

    def __init__(self, instr):
        self._instr = instr
        self._site = None
        self._addr = None
        self._frame = None

    @property
    def _s(self) -> "_Site":
        # valid for the firing in progress: the site of the code word at t->probe_site (cached
        # by address, so native code may call a global probe without resetting `_site`)
        ins = self._instr
        addr = ins.engine.thread.probe_site
        s = self._site
        if s is None or addr != self._addr:
            s = self._site = ins._locate(addr)
            self._addr = addr
        return s

    module = property(lambda self: self._s.module)
    func = property(lambda self: self._s.func)
    pc = property(lambda self: self._s.pc)

    @property
    def frame(self) -> "FrameAccessor":
        self._s
        return DynamicLoc.frame.fget(self)

    def _top(self):
        self._s
        return DynamicLoc._top(self)

    def __repr__(self) -> str:
        return f"<DynamicLoc (global) {self.func_name} +{self.pc}>"


class FrameAccessor:
    """A live Wasm frame: function, pc, locals and operands (docs/instrumentation.md).

    Raises StaleFrameError once the frame has returned (each frame gets a serial number the
    first time an accessor is made for it; a new frame at the same depth has another one)."""

    __slots__ = ("_instr", "_depth", "_serial", "_fr", "_fn", "_code", "_module")

    def __init__(self, instr: "Instrumentation", depth: int):
        t = instr.engine.thread
        if not 0 <= depth < t.nframes:
            raise StaleFrameError(f"no live frame at depth {depth}")
        fr = t.frames[depth]
        s = fr.serial
        if not s:
            s = fr.serial = next(instr._serials)
        self._instr = instr
        self._depth = depth
        self._serial = s
        self._fr = fr
        fn = instr.engine.func_from_ptr(fr.func)
        self._fn = fn
        self._module = fn._instance.module
        self._code = self._module.code_of(fn.index)

    def _live(self):
        fr = self._fr
        if self._instr.engine.thread.nframes <= self._depth or fr.serial != self._serial:
            raise StaleFrameError(f"the frame of {self.func_name} (depth {self._depth}) returned")
        return fr

    # identity
    @property
    def func(self) -> int:
        return self._fn.index

    @property
    def func_name(self) -> str:
        return self._module.func_name(self._fn.index)

    @property
    def module(self):
        return self._module

    @property
    def instance(self):
        return self._fn._instance

    @property
    def memory(self):
        mems = self._fn._instance.memories
        return mems[0] if mems else None

    @property
    def depth(self) -> int:
        return self._depth

    @property
    def pc(self) -> int:
        ip = self._live().ip
        if ip == 0:
            return 0
        pc = self._code.pc_of_ip.get(ip)
        return pc if pc is not None else pc_of(self._code, ip)

    def caller(self) -> "FrameAccessor | None":
        self._live()
        if self._depth == 0:
            return None
        return FrameAccessor(self._instr, self._depth - 1)

    def is_live(self) -> bool:
        try:
            self._live()
            return True
        except StaleFrameError:
            return False

    # locals
    @property
    def num_locals(self) -> int:
        return self._code.num_locals

    @property
    def local_types(self) -> tuple[int, ...]:
        return tuple(self._code.local_types)

    def get_local(self, i: int):
        fr = self._live()
        if not 0 <= i < self._code.num_locals:
            raise IndexError(f"local {i} out of range (function has {self._code.num_locals})")
        return from_raw(self._instr.engine, self._code.local_types[i], self._instr._stack[fr.fp + i])

    # operands
    @property
    def num_operands(self) -> int:
        fr = self._live()
        return fr.sp - fr.fp - self._code.num_locals

    @property
    def operand_types(self) -> tuple[int, ...]:
        """Types of the operand stack, bottom..top."""
        fr = self._live()
        n = fr.sp - fr.fp - self._code.num_locals
        types = self._instr._types_at(self._module, self._fn.index, self.pc)
        return tuple(types[:n])

    def get_operand(self, i: int):
        """Operand `i` (0 = top of stack)."""
        fr = self._live()
        n = fr.sp - fr.fp - self._code.num_locals
        if not 0 <= i < n:
            raise IndexError(f"operand {i} out of range (stack height {n})")
        types = self._instr._types_at(self._module, self._fn.index, self.pc)
        return from_raw(self._instr.engine, types[n - 1 - i], self._instr._stack[fr.sp - 1 - i])

    def writer(self) -> "FrameWriter":
        self._live()
        return FrameWriter(self)

    def __repr__(self) -> str:
        try:
            return f"<FrameAccessor {self.func_name} +{self.pc} depth={self._depth}>"
        except StaleFrameError:
            return f"<FrameAccessor (returned) depth={self._depth}>"


class FrameWriter:
    """Writes locals/operands of a live frame straight into the value stack (visible at once)."""

    __slots__ = ("_fa",)

    def __init__(self, accessor: FrameAccessor):
        self._fa = accessor

    def set_local(self, i: int, value) -> None:
        fa = self._fa
        fr = fa._live()
        code = fa._code
        if not 0 <= i < code.num_locals:
            raise IndexError(f"local {i} out of range (function has {code.num_locals})")
        fa._instr._stack[fr.fp + i] = to_raw(fa._instr.engine, code.local_types[i], value)
        fr.deopt = 1          # a compiled frame continues in the interpreter (wizardpy/jit)

    def set_operand(self, i: int, value) -> None:
        fa = self._fa
        fr = fa._live()
        n = fr.sp - fr.fp - fa._code.num_locals
        if not 0 <= i < n:
            raise IndexError(f"operand {i} out of range (stack height {n})")
        types = fa._instr._types_at(fa._module, fa._fn.index, fa.pc)
        fa._instr._stack[fr.sp - 1 - i] = to_raw(fa._instr.engine, types[n - 1 - i], value)
        fr.deopt = 1


# ---------------------------------------------------------------------------------------------
# The registry

class _Site:
    """One probed location (module, func, pc) and how it is realised natively."""

    __slots__ = ("instr", "module", "func", "pc", "d", "ip", "w", "probes", "run", "top_type",
                 "seq", "hitp")

    def __init__(self, instr, module, func, pc, d, ip):
        self.instr = instr
        self.module = module
        self.func = func
        self.pc = pc
        self.d = d                      # defined-function index
        self.ip = ip
        self.w = module._code_offsets[d] + ip     # word index in the module's code buffer
        self.probes: tuple = ()
        self.run = None
        self.top_type = None
        self.seq = 0    # (first word, last word) of its superinstruction (_seq_of), None; 0: not known
        self.hitp = False               # some HitProbe is in `probes` (it may have fired)


def _no_run(_) -> None:
    return None


_NO_RUN = (_no_run, None)


class ExitHandle:
    """Returned by `Instrumentation.on_exit`; `remove()` removes the exit probes."""

    def __init__(self, instr, module, func, pcs, probe):
        self._instr, self._module, self._func, self.pcs, self.probe = instr, module, func, pcs, probe

    def remove(self) -> None:
        for pc in self.pcs:
            self._instr.remove(self._module, self._func, pc, self.probe)
        self.pcs = []


class Instrumentation:
    """Per-engine probe registry: `engine.instrument`."""

    def __init__(self, engine):
        self.engine = engine
        self._sites: dict[tuple, _Site] = {}          # (module, func, pc) -> site
        self._light: dict[tuple, HitProbe] = {}       # (module, func, pc) -> the HitProbe
                                                      # alone there, inserted by _insert_hits
                                                      # without a _Site (made when needed)
        self._by_addr: dict[int, _Site] = {}          # address of the code word -> site
        self._globals: tuple = ()                     # all global probes, insertion order
        self._gpy: tuple = ()                         # the ones that need a Python call
        self._frame_sites: set = set()                # addresses of sites whose probes may
                                                      # inspect frames (not count/operand-only)
        self._generic: dict = {}                      # (module, defined index) -> how many
                                                      # of its sites are in _frame_sites
        self.last_change_removed = False              # the change listeners are told about
                                                      # removed a probe (tiers: no backoff)
        self._serials = itertools.count(1)
        self._types: dict = {}                        # (module, func) -> {pc: operand types}
        self._bufs: dict = {}                         # module -> (counts, python, hits,
                                                      # seq) cdata
        self._tallies: dict = {}                      # (module, word) -> _TallySlot
        self._hitwords: dict = {}                     # module -> _HitWords
        self._ranges: list = []                       # sorted (code base address, module)
        self._locs: dict[int, _Site] = {}             # address -> site for global locs
        self._listeners: list = []                    # tiers: fn(module, func, pc)
        self._stack = engine._stack
        self._gcount = None                           # uint64_t* to t->global_count
        self._runs: dict[int, tuple] = {}             # address of the code word -> (f, arg)
        self._gloc = _GlobalLoc(self)
        self._fire_fn, self._fire_site = self._make_fire()
        if engine._probe_handler is None:
            # native probe callbacks come straight here (engine._bind_probe_cb: native code
            # calls self._fire_site(site) through the C API, no wrapper in between)
            engine.probe_fire = self._fire_fn

    # ------------------------------------------------------------------ public API
    def insert(self, module, func, pc: int, probe: Probe) -> None:
        """Insert `probe` at `(module, func, pc)` (func: index or name; pc 0 = entry)."""
        if not isinstance(probe, Probe):
            raise TypeError(f"expected a Probe, got {type(probe).__name__}")
        site = self._lookup((module, func, pc)) if type(func) is int else None
        if site is None:
            if type(func) is int and type(pc) is int:
                site = self._new_site(module, func, pc)
            else:
                site = self._site(module, func, pc, True)
        if site.hitp and self._prune(module, site):
            self._sites[(module, site.func, site.pc)] = site     # (dropped: register again)
        if _native(probe) == PF_TALLY:
            self._check_tally(module, site)
        site.probes = site.probes + (probe,)
        if _native(probe):
            self._attach(module, site, probe)
        self.last_change_removed = False
        self._commit(module, (site,))

    def insert_many(self, module, sites, probe: Probe | None = None) -> int:
        """Insert probes at many locations of `module` in one call: `sites` is an iterable of
        `(func, pc, probe)` triples, or of `(func, pc)` pairs when `probe` is given (that one
        probe object at every location). The same as `insert` for each, in order (several at
        one location fire in that order), but the code words are patched in one native call and
        the tiers are told once per function. Returns the number of insertions. Validates every
        location before changing anything (ValueError / TypeError: nothing inserted)."""
        if probe is None or _native(probe):
            sites = list(sites)
            n = self._insert_hits(module, sites, probe) if _native(probe) == PF_HIT else None
            if n is None:
                n = self._insert_fresh(module, sites, probe)
            if n is not None:
                return n
        items = self._items(module, sites, probe, create=True)
        if not items:
            return 0
        touched: dict = {}
        for site, p in items:
            site.probes = site.probes + (p,)
            if _native(p):
                self._attach(module, site, p)
            touched[site] = None
        self.last_change_removed = False
        self._commit(module, touched)
        return len(items)

    def _insert_hits(self, module, sites: list, probe: HitProbe) -> int | None:
        """insert_many's fastest path: one HitProbe at (func index, pc > 0) locations that hold
        no probe yet (coverage arming a function), as light sites (see _lookup), patched in one
        native call (wz_probe_arm) with no Python work per location beyond bookkeeping in bulk.
        None (nothing changed) when the batch is not that case."""
        if not sites:
            return 0
        known, light = self._sites, self._light
        try:
            funcs = {f for f, _ in sites}
        except (TypeError, ValueError):
            return None
        if not all(type(f) is int for f in funcs):
            return None
        keys = [(module, f, pc) for f, pc in sites]
        if len(set(keys)) != len(keys) or any(map(known.__contains__, keys)) \
                or any(map(light.__contains__, keys)):
            return None
        nimp = module.num_imported_funcs
        codes, offs = module.codes, module._code_offsets
        ws = []
        for f in funcs:
            d = f - nimp
            if not 0 <= d < len(codes):
                return None
            pcs = [pc for g, pc in sites if g == f] if len(funcs) > 1 else [pc for _, pc in sites]
            if not all(type(pc) is int and pc for pc in pcs):
                return None
            ips = list(map(codes[d].ip_of_pc.get, pcs))
            if None in ips:
                return None
            off = offs[d]
            ws.append([off + ip for ip in ips])
        if len(funcs) > 1:       # back in the order of `sites`
            at = {f: iter(w) for f, w in zip(funcs, ws)}
            ws = [next(at[f]) for f, _ in sites]
        else:
            ws = ws[0]
        bufs = self._buffers(module)
        hits = bufs[2]
        hw = self._hitwords[module]
        back = unfused = self.engine.ffi.NULL
        if module.__dict__.get("_fused_count"):
            back, unfused = self._seq_map(module)[0], module._unfused
        ffi = self.engine.ffi
        n = len(ws)
        self.engine.lib.wz_probe_arm(module._code, module._probe_ops, bufs[1], hits, back,
                                     unfused, ffi.new("uint32_t[]", ws), n, PF_HIT)
        if hw.implied:                  # (wz_probe_arm reset their bytes)
            for w in ws:
                hw.reset(w)
        light.update(zip(keys, itertools.repeat(probe)))
        probe._locs(hw).update(zip(ws, map(tuple, sites)))
        self.last_change_removed = False
        if self._listeners:
            first: dict = {}
            for f, pc in sites:
                first.setdefault(f, pc)
            for fn in self._listeners:
                for f, pc in first.items():
                    fn(module, f, pc)
        return n

    def _insert_fresh(self, module, sites: list, probe: Probe | None) -> int | None:
        """insert_many's fast path: native probes (CountProbe, CountMoreProbe, HitProbe,
        TallyProbe), one per (func index, pc) location that holds no probe yet: the common case
        of a monitor arming a module or a function. The same effect as the general path, at
        about half the cost per location. None (nothing changed) when the batch is not that
        case; a TallyProbe where the top of the stack is no i32 raises, nothing changed."""
        known, light = self._sites, self._light
        nimp = module.num_imported_funcs
        codes = module.codes
        nd = len(codes)
        todo = []
        seen = set()
        tally = False
        for item in sites:
            if probe is None:
                if len(item) != 3:
                    return None
                func, pc, p = item
                if not _native(p):
                    return None
            else:
                func, pc = item
                p = probe
            if type(func) is not int or type(pc) is not int or (module, func, pc) in known \
                    or (func, pc) in seen or (module, func, pc) in light:
                return None
            seen.add((func, pc))
            d = func - nimp
            if not 0 <= d < nd:
                return None
            ip = codes[d].ip_of_pc.get(pc) if pc else 0
            if ip is None:
                return None
            todo.append((func, pc, d, ip, p))
            tally = tally or _native(p) == PF_TALLY
        if not todo:
            return 0
        if tally:                               # check them all before changing anything
            for func, pc, d, ip, p in todo:
                if _native(p) == PF_TALLY:
                    self._check_tally(module, _Site(self, module, func, pc, d, ip))
        bufs = self._buffers(module)
        counts, hw = bufs[0], self._hitwords[module]
        code, ops = module._code, module._probe_ops
        base = module.__dict__.get("_wz_code_addr") or self._code_addr(module)
        fusion = module.__dict__.get("_fused_count")
        by_addr, runs = self._by_addr, self._runs
        set_w, set_f = [], []
        changed: dict = {}
        if fusion:
            back, span = self._seq_map(module)
            unfused = module._unfused
        for func, pc, d, ip, p in todo:
            flag = _native(p)
            site = _Site(self, module, func, pc, d, ip)
            known[(module, func, pc)] = site
            site.probes = (p,)
            site.run = _NO_RUN
            w = site.w
            if flag == PF_HIT:
                hw.reset(w)
                site.hitp = True
                p._attach(hw, w, (func, pc))
            elif flag == PF_COUNT:
                p._attach(counts, w)
            else:
                self._attach(module, site, p)
            h = back[w] if fusion and ip else 0
            if h:                       # (as _seq_of)
                s = w - h + 1
                site.seq = (s, s + span[s])
                if code[s] >= 0x200:      # un-fuse: no superinstruction runs over a probe
                    unfused[s] = code[s]
                    code[s] = ops[s]
            else:
                site.seq = None
            addr = base + 4 * w
            by_addr[addr] = site
            runs[addr] = _NO_RUN
            set_w.append(w)
            set_f.append(flag)
            if pc == 0:
                self._set_entry(module, d, True)
            if func not in changed:
                changed[func] = pc
        ffi = self.engine.ffi
        n = len(set_w)
        self.engine.lib.wz_probe_patch(code, ops, bufs[1], ffi.new("uint32_t[]", set_w),
                                       ffi.new("uint8_t[]", set_f), n, ffi.NULL, 0)
        self.last_change_removed = False
        for fn in self._listeners:
            for func, pc in changed.items():
                fn(module, func, pc)
        return n

    def remove(self, module, func, pc: int, probe: Probe) -> bool:
        """Remove one occurrence of `probe` at the location; False if it is not there."""
        site = self._lookup((module, func, pc)) if type(func) is int else None
        if site is None:
            site = self._site(module, func, pc, create=False)
            if site is None:
                return False
        if site.hitp and self._prune(module, site):
            return False                    # only fired HitProbes were there
        ps = site.probes
        for k in range(len(ps)):
            if ps[k] is probe:
                break
        else:
            return False
        site.probes = ps[:k] + ps[k + 1:]
        if _native(probe):
            self._detach(module, site, probe)
        self.last_change_removed = True
        if site.probes or site.pc == 0 or self._listeners:
            self._commit(module, (site,))
        else:
            self._clear(module, site)
        return True

    def _clear(self, module, site: _Site) -> None:
        """`_commit` of one site whose last probe left (not an entry; no listeners): the
        common case of a probe removing itself (coverage, one-shot probes)."""
        w = site.w
        addr = module.__dict__.get("_wz_code_addr") or self._code_addr(module)
        addr += 4 * w
        site.run = None
        self._by_addr.pop(addr, None)
        if addr in self._frame_sites:
            self._frame_sites.discard(addr)
            key = (module, site.d)
            self._generic[key] -= 1
        self._runs[addr] = _NO_RUN          # the interpreter may still be in this OP_PROBE
        self._sites.pop((module, site.func, site.pc), None)
        code, ops = module._code, module._probe_ops
        if code[w] == OP_PROBE:
            code[w] = ops[w]
        module._probe_python[w] = 0
        fused = site.seq
        if fused == 0:
            fused = site.seq = self._seq_of(module, w) if \
                module.__dict__.get("_fused_count") else None
        if fused is not None:               # re-fuse a sequence no probe is left in
            self._refuse(module, fused)

    def _check_tally(self, module, site: _Site) -> None:
        if self._top_type(module, site) != 0x7F:
            raise ValueError(f"a TallyProbe needs an i32 on top of the stack: not so before "
                             f"{module.func_name(site.func)} +{site.pc}")

    def _attach(self, module, site: _Site, p) -> None:
        """Attach a native probe just added to site.probes to the module's buffers."""
        bufs = self._buffers(module)
        kind = _native(p)
        if kind == PF_COUNT:
            p._attach(bufs[0], site.w)
            return
        if kind == PF_TALLY:
            ffi = self.engine.ffi
            slot = self._tallies.get((module, site.w))
            if slot is None:
                slot = self._tallies[(module, site.w)] = _TallySlot(ffi, p.n)
            elif slot.n < p.n:
                slot.grow(ffi, p.n)
            self._tally_ptrs(module)[site.w] = slot.buf
            p._attach(slot)
            return
        hw = self._hitwords[module]
        if not site.hitp:
            hw.reset(site.w)        # (code not yet recompiled may have stored a hit)
            site.hitp = True
        p._attach(hw, site.w, (site.func, site.pc))

    def _detach(self, module, site: _Site, p) -> None:
        """Detach a native probe just taken out of site.probes (once per occurrence)."""
        bufs = self._buffers(module)
        kind = _native(p)
        if kind == PF_COUNT:
            p._detach(bufs[0], site.w)
            return
        if kind == PF_TALLY:
            slot = self._tallies[(module, site.w)]
            p._detach(slot)
            if not any(_native(q) == PF_TALLY for q in site.probes):
                # (the flag goes with the next commit; code not yet recompiled may still count
                # into the buffer: the JIT keeps what its code points at, see native_parts)
                del self._tallies[(module, site.w)]
            return
        if any(q is p for q in site.probes):
            return                  # inserted there twice: still attached
        p._detach(self._hitwords[module], site.w)
        site.hitp = any(_native(q) == PF_HIT for q in site.probes)

    def _prune(self, module, site: _Site) -> bool:
        """Take the HitProbes of a site out of its probe list once they fired (natively, in
        either tier: they removed themselves). True when nothing is left there: the site is
        dropped then. The tiers are not told: compiled code at most stores the hit again."""
        bufs = self._buffers(module)
        hw, w = self._hitwords[module], site.w
        if not hw.hit(w):
            return False
        keep = []
        for p in site.probes:
            if _native(p) == PF_HIT:
                p._detach(hw, w)
            else:
                keep.append(p)
        hw.reset(w)
        site.hitp = False
        site.probes = tuple(keep)
        if keep:
            bufs[1][w] &= ~PF_HIT
            return False
        if site.pc == 0:
            self._set_entry(module, site.d, False)
        self._clear(module, site)
        return True

    def remove_many(self, module, sites, probe: Probe | None = None) -> int:
        """Remove probes at many locations in one call (`sites` as for `insert_many`): one
        occurrence of the probe per listed location, where it is; returns how many were
        removed (locations where the probe is not are skipped, as `remove` returns False)."""
        items = self._items(module, sites, probe, create=False)
        touched: dict = {}
        n = 0
        for site, p in items:
            ps = site.probes
            for k in range(len(ps)):
                if ps[k] is p:
                    break
            else:
                continue
            site.probes = ps[:k] + ps[k + 1:]
            if _native(p):
                self._detach(module, site, p)
            touched[site] = None
            n += 1
        if touched:
            self.last_change_removed = True
            self._commit(module, touched)
        return n

    def _items(self, module, sites, probe, create: bool) -> list:
        """[(site, probe)] for insert_many/remove_many (sites created when `create`; on an
        invalid location or probe the sites created here are dropped again and it raises)."""
        get = self._lookup if self._light else self._sites.get
        out = []
        made = []
        checked = set()
        try:
            for item in sites:
                if probe is None:
                    func, pc, p = item
                else:
                    func, pc = item
                    p = probe
                if create and id(p) not in checked:
                    if not isinstance(p, Probe):
                        raise TypeError(f"expected a Probe, got {type(p).__name__}")
                    checked.add(id(p))
                site = get((module, func, pc)) if type(func) is int else None
                if site is None:
                    if create and type(func) is int and type(pc) is int:
                        site = self._new_site(module, func, pc)
                    else:
                        site = self._site(module, func, pc, create)
                    if site is None:
                        continue
                    if create and not site.probes and site.run is None:
                        made.append(site)
                elif site.hitp and self._prune(module, site):
                    if not create:              # only fired HitProbes were there
                        continue
                    self._sites[(module, site.func, site.pc)] = site
                    made.append(site)
                if create and _native(p) == PF_TALLY:
                    self._check_tally(module, site)
                out.append((site, p))
        except BaseException:
            for site in made:
                if not site.probes:
                    self._sites.pop((site.module, site.func, site.pc), None)
            raise
        return out

    def probes_at(self, module, func, pc: int) -> tuple:
        site = self._site(module, func, pc, create=False)
        if site is not None and site.hitp:
            self._prune(module, site)
        return site.probes if site is not None else ()

    def insert_global(self, probe: Probe) -> None:
        """A probe that fires before every instruction (before that instruction's local probes)."""
        if not isinstance(probe, Probe):
            raise TypeError(f"expected a Probe, got {type(probe).__name__}")
        if isinstance(probe, (HitProbe, TallyProbe)):
            raise ValueError(f"a {type(probe).__name__} is a local probe: insert it at "
                             f"(module, func, pc)")
        self._globals = self._globals + (probe,)
        if _count_only(probe):
            probe._attach(self._global_counter(), 0)
        self._update_global()

    def remove_global(self, probe: Probe) -> bool:
        ps = list(self._globals)
        for k in range(len(ps)):
            if ps[k] is probe:
                del ps[k]
                break
        else:
            return False
        self._globals = tuple(ps)
        if _count_only(probe):
            probe._detach(self._global_counter(), 0)
        self._update_global()
        return True

    @property
    def global_probes(self) -> tuple:
        return self._globals

    def on_exit(self, module, func, callback: Callable) -> ExitHandle:
        """`callback(loc)` before every exit of `func`: each `return`, and the final `end`
        (which branches to the function label also reach). Returns a handle with `remove()`."""
        fidx, d, fc = self._resolve(module, func)
        pcs = [pc for pc, op in fc.instrs if op == _RETURN]
        pcs.append(fc.end_pc)
        probe = callback if isinstance(callback, Probe) else FuncProbe(callback)
        for pc in pcs:
            self.insert(module, fidx, pc, probe)
        return ExitHandle(self, module, fidx, pcs, probe)

    # ------------------------------------------------------------------ for the tiers
    def native_kind(self, module, d: int, ip: int) -> str | None:
        """How compiled code realises the probes at ip of defined function d (ARCHITECTURE §3):
        None (no probe), "count" (only native probes, CountProbe/CountMoreProbe and HitProbe:
        see `native_parts`), "operand" (OperandProbes, maybe with native ones: only the top of
        stack is needed, no frame) or "generic" (the frame is written out, Python is called)."""
        w = module._code_offsets[d] + ip
        if module._code[w] != OP_PROBE:
            return None
        bufs = self._bufs.get(module)
        if bufs is None or not bufs[1][w] & PF_PYTHON:
            return "count"
        addr = int(self.engine.ffi.cast("uintptr_t", module._code + w))
        return "generic" if addr in self._frame_sites else "operand"

    def native_parts(self, module, d: int, ip: int) -> tuple[bool, bool, object]:
        """For a "count" site: (count, hit, tally): add 1 to `probe_counts[ip]` (count probes
        are there), store 1 to `probe_hits[ip]` (HitProbes are armed there and did not fire
        yet), tally = None or the TallyProbe counts buffer {n, c[0..n)} there (cdata: the
        compiled code holds it, so it outlives a later change of the slot)."""
        w = module._code_offsets[d] + ip
        bufs = self._bufs.get(module)
        if bufs is None:
            return True, False, None
        f = bufs[1][w]
        slot = self._tallies.get((module, w)) if f & PF_TALLY else None
        return (bool(f & PF_COUNT), bool(f & PF_HIT) and not self._hitwords[module].hit(w),
                None if slot is None else slot.buf)

    def hit_region(self, module, d: int, ips) -> int:
        """For tier jit: a fresh byte that compiled code sets where a straight-line run of armed
        HitProbe locations (ips of defined function d) ends, meaning each of them ran
        (_HitWords); returns its address."""
        off = module._code_offsets[d]
        self._buffers(module)
        return self._hitwords[module].region([off + ip for ip in ips])

    def hit_region_bits(self, module, d: int, runs) -> int:
        """For tier jit: a fresh uint64_t that compiled code ORs bits into: bit k set means
        each HitProbe location of runs[k] (lists of ips of defined function d; at most 64) ran
        (_HitWords.region_bits); returns its address."""
        off = module._code_offsets[d]
        self._buffers(module)
        return self._hitwords[module].region_bits([[off + ip for ip in ips] for ips in runs])

    def generic_sites(self, module, d: int) -> int:
        """How many locations of defined function d hold a "generic" probe (native_kind: not
        only counters and OperandProbes; compiled code writes the frame out and calls Python
        there). The tiered JIT keeps a function with many of them in the interpreter."""
        return self._generic.get((module, d), 0)

    def frames_inspected(self) -> bool:
        """True while some probe may inspect frames (FrameAccessor, possibly of callers): any
        probe other than counters and OperandProbes, local or global. Compiled code then writes
        the whole frame state out before every call (JIT: recompiled when this flips)."""
        return bool(self._frame_sites) or bool(self._gpy)

    def add_listener(self, fn: Callable) -> None:
        """Tiers: `fn(module, func, pc)` after the probes at a location changed (pc None:
        the global probes changed)."""
        self._listeners.append(fn)

    # ------------------------------------------------------------------ locations
    def _resolve(self, module, func):
        if isinstance(func, str):
            fidx = self._func_by_name(module, func)
        else:
            fidx = int(func)
        fc = module.code_of(fidx)
        if fc is None:
            raise ValueError(f"function {func!r} of {module!r} is not a defined function")
        return fidx, fidx - module.num_imported_funcs, fc

    def _func_by_name(self, module, name: str) -> int:
        names = getattr(module, "_instr_names", None)
        if names is None:
            names = {}
            for e in module.defn.exports:
                if e.kind == "func" or getattr(e, "kind", None) == 0:
                    names.setdefault(e.name, e.index)
            for i in range(module.num_funcs):
                n = module.func_name(i)
                names[n] = i
                if n.startswith('"') and n.endswith('"'):
                    names.setdefault(n[1:-1], i)
            module._instr_names = names
        try:
            return names[name]
        except KeyError:
            raise ValueError(f"no function named {name!r} in {module!r}") from None

    def _site(self, module, func, pc, create):
        if isinstance(func, int) and not isinstance(func, bool):
            site = self._lookup((module, func, pc))
            if site is not None or not create:
                if site is None and module.code_of(func) is None:
                    raise ValueError(f"function {func} of {module!r} is not a defined function")
                return site
        fidx, d, fc = self._resolve(module, func)
        key = (module, fidx, pc)
        site = self._lookup(key)
        if site is not None or not create:
            return site
        if pc == 0:
            ip = 0
        else:
            ip = fc.ip_of_pc.get(pc)
            if ip is None:
                raise ValueError(f"pc {pc} is not an instruction of {module.func_name(fidx)} "
                                 f"(instructions at {[p for p, _ in fc.instrs][:8]}...)")
        site = _Site(self, module, fidx, pc, d, ip)
        self._sites[key] = site
        return site

    def _lookup(self, key: tuple) -> "_Site | None":
        """The site at key = (module, func index, pc), a light one made real first."""
        site = self._sites.get(key)
        if site is None and key in self._light:
            site = self._promote(key)
        return site

    def _promote(self, key: tuple) -> "_Site | None":
        """Make the light site at key (a HitProbe alone, see _insert_fresh) a real _Site, in
        the state _commit would have given it; None when its probe fired meanwhile (it removed
        itself: the site is dropped, as _prune does)."""
        probe = self._light.pop(key)
        module, func, pc = key
        d = func - module.num_imported_funcs
        site = _Site(self, module, func, pc, d, module.codes[d].ip_of_pc[pc])
        self._sites[key] = site
        site.probes = (probe,)
        site.run = _NO_RUN
        site.hitp = True
        site.seq = self._seq_of(module, site.w) \
            if module.__dict__.get("_fused_count") else None
        addr = (module.__dict__.get("_wz_code_addr") or self._code_addr(module)) + 4 * site.w
        self._by_addr[addr] = site
        self._runs[addr] = _NO_RUN
        if self._prune(module, site):
            return None
        return site

    def _new_site(self, module, func: int, pc: int) -> _Site:
        """A new site at (module, func index, pc) (the fast path of `_site`)."""
        d = func - module.num_imported_funcs
        codes = module.codes
        if not 0 <= d < len(codes):
            return self._site(module, func, pc, True)      # raises ValueError
        if pc == 0:
            ip = 0
        else:
            ip = codes[d].ip_of_pc.get(pc)
            if ip is None:
                return self._site(module, func, pc, True)  # raises ValueError
        site = _Site(self, module, func, pc, d, ip)
        self._sites[(module, func, pc)] = site
        return site

    def _types_at(self, module, funcidx: int, pc: int) -> tuple:
        m = self._types.get((module, funcidx))
        if m is None:
            from .validation import operand_types

            fc = module.code_of(funcidx)
            recs = operand_types(module.defn, funcidx)
            m = {pc_: ty for (pc_, _), ty in zip(fc.instrs, recs)}
            m[0] = ()
            self._types[(module, funcidx)] = m
        return m.get(pc, ())

    def _top_type(self, module, site: _Site):
        """The type of the top of the stack before the instruction at a site (None: empty).
        Read off the instruction where it fixes it (the condition of br_if/if/br_table, the
        last operand of an instruction with a fixed signature); else from re-validating the
        function once (`_types_at`)."""
        if site.pc:
            op = module.codes[site.d].code[site.ip]      # the validator's (unfused) word
            if op == 0x0D or op == 0x04 or op == 0x0E:
                return 0x7F
            sig = _SIGS.get(op)
            if sig is not None and sig[0]:
                return sig[0][-1]
        types = self._types_at(module, site.func, site.pc)
        return types[-1] if types else None

    def _locate(self, addr: int) -> _Site:
        """The site (existing or a fresh detached one) of a code word address: global locs."""
        s = self._locs.get(addr)
        if s is not None:
            return s
        s = self._by_addr.get(addr)
        if s is None:
            ffi = self.engine.ffi
            for _ in range(2):
                k = bisect.bisect_right(self._ranges, (addr, float("inf"))) - 1
                if k >= 0:
                    base, _, module = self._ranges[k]
                    w = (addr - base) // 4
                    if 0 <= w < module._code_total:
                        break
                self._ranges = sorted(
                    (int(ffi.cast("uintptr_t", m._code)), id(m), m)
                    for m in {i.module: None for i in self.engine._instances}
                    if getattr(m, "_code_total", 0))
            else:
                raise WizardError(f"code address 0x{addr:x} is in no module")
            offs = module._code_offsets
            d = bisect.bisect_right(offs, w) - 1
            while d + 1 < len(offs) and offs[d + 1] == w:
                d += 1
            fc = module.codes[d]
            ip = w - offs[d]
            pc = 0 if ip == 0 else pc_of(fc, ip)
            s = _Site(self, module, fc.index, pc, d, ip)
            types = self._types_at(module, fc.index, pc)
            s.top_type = types[-1] if types else None
        self._locs[addr] = s
        return s

    # ------------------------------------------------------------------ native realisation
    def _buffers(self, module):
        """The module's native count/python-flag buffers (allocated on first use and pointed at
        by every wz_func of every instance of the module)."""
        b = self._bufs.get(module)
        if b is None:
            ffi = self.engine.ffi
            n = max(module._code_total, 1)
            # counters, flags (PF_*), hits, fused-sequence membership (_seq_of)
            b = (ffi.new("uint64_t[]", n), ffi.new("uint8_t[]", n), ffi.new("uint8_t[]", n),
                 ffi.new("uint32_t[]", n) if module.__dict__.get("_fused_count") else ffi.NULL)
            self._bufs[module] = b
            if b[3]:
                unfused_words(module)       # (superinstructions: wz_func.probe_fused)
            self._hitwords[module] = _HitWords(ffi, self.engine.lib, b[2])
            module._probe_counts, module._probe_python, module._probe_hits, module._probe_seq = b
            for inst in self.engine._instances:
                if inst is not None and inst.module is module:
                    self._point_instance(inst, b)
        return b

    def _tally_ptrs(self, module):
        """The module's per-word TallyProbe pointers (wz_func.probe_tally), made on first use
        and pointed at by every wz_func of every instance of the module."""
        t = module.__dict__.get("_probe_tally")
        if t is None:
            t = module._probe_tally = self.engine.ffi.new("uint64_t*[]", max(module._code_total, 1))
            nimp = module.num_imported_funcs
            offs = module._code_offsets
            for inst in self.engine._instances:
                if inst is not None and inst.module is module:
                    for d in range(len(module.codes)):
                        inst.funcs[nimp + d]._ptr.probe_tally = t + offs[d]
        return t

    def _point_instance(self, inst, b) -> None:
        module = inst.module
        nimp = module.num_imported_funcs
        offs = module._code_offsets
        for d in range(len(module.codes)):
            p = inst.funcs[nimp + d]._ptr
            p.probe_counts = b[0] + offs[d]
            p.probe_python = b[1] + offs[d]
            p.probe_hits = b[2] + offs[d]
            if b[3]:
                p.probe_seq = b[3] + offs[d]
                p.probe_fused = module._unfused + offs[d]

    def _global_counter(self):
        if self._gcount is None:
            self._gcount = self.engine.ffi.addressof(self.engine.thread, "global_count")
        return self._gcount

    def _code_addr(self, module) -> int:
        a = module.__dict__.get("_wz_code_addr")
        if a is None:
            a = module._wz_code_addr = int(self.engine.ffi.cast("uintptr_t", module._code))
        return a

    def _seq_map(self, module) -> tuple:
        """(back, span): the module's superinstruction membership (native/wizard.h wz_seq_map),
        computed natively for the whole module the first time one of its instructions gets a
        probe. The structure never changes (probes only un-fuse and re-fuse a sequence's first
        word, and the map reads un-fused ones from `module._unfused`)."""
        maps = module.__dict__.get("_wz_seqmap")
        if maps is None:
            ffi = self.engine.ffi
            back = self._buffers(module)[3]
            span = ffi.new("uint8_t[]", max(module._code_total, 1))
            offs = module._code_offsets
            lens = [len(fc.code) for fc in module.codes]
            if lens and self.engine.lib.wz_seq_map(
                    module._code, module._probe_ops, module._unfused,
                    ffi.new("uint32_t[]", list(offs[:len(lens)])), ffi.new("uint32_t[]", lens),
                    len(lens), back, span) != 0:
                raise MemoryError("superinstruction map")
            maps = module._wz_seqmap = (back, span)
        return maps

    def _seq_of(self, module, w: int):
        """(first word, word of the last instruction) of the superinstruction that code word w
        belongs to, or None."""
        back, span = module.__dict__.get("_wz_seqmap") or self._seq_map(module)
        h = back[w]
        if not h:
            return None
        s = w - h + 1
        return s, s + span[s]

    def _refuse(self, module, fused) -> None:
        """Write the fused word again over the first word of a sequence (first, last) whose
        instructions hold no probe any more (the sequence was un-fused by a probe)."""
        s, end = fused
        code = module._code
        saved = module._unfused
        if saved[s] and code[s] == module._probe_ops[s]:
            back = module._wz_seqmap[0]
            for x in range(s + 1, end + 1):
                if back[x] == x - s + 1 and code[x] >= OP_PROBE:
                    return
            code[s] = saved[s]
            saved[s] = 0

    def _commit(self, module, sites) -> None:
        """Realise the probe lists of `sites` (all of `module`): the Python-side tables first,
        then every code word in one native call (wz_probe_patch), then superinstructions
        re-fused where the last probe left, entry words, and the listeners (once per function)."""
        python = self._buffers(module)[1]
        code = module._code
        ops = module._probe_ops
        base = module.__dict__.get("_wz_code_addr") or self._code_addr(module)
        frame_sites = self._frame_sites
        by_addr, runs = self._by_addr, self._runs
        set_w, set_f, clear_w, cleared = [], [], [], []
        changed: dict = {}
        fusion = module.__dict__.get("_fused_count")
        for site in sites:
            w = site.w
            addr = base + 4 * w
            was_generic = addr in frame_sites
            probes = site.probes
            fused = site.seq
            if fused == 0:       # the superinstruction this instruction belongs to, if any
                fused = site.seq = self._seq_of(module, w) if fusion and site.ip \
                    else None
            if probes:
                if fused is not None:
                    s = fused[0]
                    if code[s] >= 0x200:      # un-fuse: no superinstruction runs over a probe
                        module._unfused[s] = code[s]
                        code[s] = ops[s]
                if len(probes) == 1:
                    p = probes[0]
                    flag = _native(p)
                    py = () if flag else probes
                else:
                    flag = 0
                    for p in probes:
                        flag |= _native(p)
                    py = tuple(p for p in probes if not _native(p))
                if py:
                    operand = [type(p) is OperandProbe for p in py]
                    if site.top_type is None and any(isinstance(p, OperandProbe) for p in py):
                        site.top_type = self._top_type(module, site)
                    site.run = self._make_run(site, py, all(operand))
                    if not all(operand):
                        if not was_generic:
                            frame_sites.add(addr)
                    elif was_generic:
                        frame_sites.discard(addr)
                else:
                    site.run = _NO_RUN
                    if was_generic:
                        frame_sites.discard(addr)
                by_addr[addr] = site
                runs[addr] = site.run
                set_w.append(w)
                set_f.append(flag | PF_PYTHON if py else flag)
            else:
                site.run = None
                by_addr.pop(addr, None)
                if was_generic:
                    frame_sites.discard(addr)
                runs[addr] = _NO_RUN        # the interpreter may still be in this OP_PROBE
                self._sites.pop((module, site.func, site.pc), None)
                clear_w.append(w)
                if fused is not None:
                    cleared.append(fused)
            if was_generic != (addr in frame_sites):
                key = (module, site.d)
                self._generic[key] = self._generic.get(key, 0) + (-1 if was_generic else 1)
            if site.pc == 0:
                self._set_entry(module, site.d, bool(probes))
            if site.func not in changed:
                changed[site.func] = site.pc
        if len(set_w) + len(clear_w) == 1:      # one word: no arrays to build
            if set_w:
                w = set_w[0]
                python[w] = set_f[0]
                if code[w] != OP_PROBE:
                    ops[w] = code[w]
                    code[w] = OP_PROBE
            else:
                w = clear_w[0]
                if code[w] == OP_PROBE:
                    code[w] = ops[w]
                python[w] = 0
        else:
            ffi = self.engine.ffi
            self.engine.lib.wz_probe_patch(code, ops, python, ffi.new("uint32_t[]", set_w),
                                           ffi.new("uint8_t[]", set_f), len(set_w),
                                           ffi.new("uint32_t[]", clear_w), len(clear_w))
        for fused in cleared:          # re-fuse a sequence no probe is left in
            self._refuse(module, fused)
        if self._listeners:
            for fn in self._listeners:
                for func, pc in changed.items():
                    fn(module, func, pc)

    def _set_entry(self, module, d: int, on: bool) -> None:
        """Calls start at ip 1 (skipping OP_ENTRY, zero cost) unless an entry probe is there."""
        probed = module.__dict__.setdefault("_entry_probed", set())
        if on:
            probed.add(d)
        else:
            probed.discard(d)
        nimp = module.num_imported_funcs
        for inst in self.engine._instances:
            if inst is not None and inst.module is module:
                inst.funcs[nimp + d]._ptr.entry_ip = 0 if on else 1

    def _update_global(self) -> None:
        g = self._globals
        self._gpy = gpy = tuple(p for p in g if not _count_only(p))
        # the global round for native code (site 0 of the run table): one probe is called
        # directly with the global loc, several through _fire_global
        if len(gpy) == 1:
            self._runs[0] = (gpy[0].fire, self._gloc)
        elif gpy:
            self._runs[0] = (self._fire_global_run, None)
        else:
            self._runs.pop(0, None)
        t = self.engine.thread
        t.global_probes = (1 if self._gpy else 2) if g else 0
        for fn in self._listeners:
            fn(None, None, None)

    def _make_run(self, site: _Site, probes: tuple, operand: bool | None = None):
        """`(f, arg)` that `fire` calls as `f(arg)` for a site: iterates over this snapshot of
        its probes; returns None or a ProbeAction. Single probes are called directly.
        `operand`: all of them are OperandProbes (computed here when None)."""
        if operand is None:
            operand = all(type(p) is OperandProbe for p in probes)
        if not operand and len(probes) == 1:
            return probes[0].fire, DynamicLoc(site)      # no closure in between
        note = self._note
        if operand:
            cbs = tuple(p.callback for p in probes)
            ty = site.top_type
            engine = self.engine
            stack = self._stack
            thread = engine.thread
            if ty in (0x7F, 0x7E) and len(cbs) == 1:       # i32 / i64: the common case
                cb = cbs[0]
                if ty == 0x7F:
                    def run(_):
                        v = stack[thread.sp - 1] & 0xFFFFFFFF
                        cb(v - 0x100000000 if v & 0x80000000 else v)
                else:
                    def run(_):
                        v = stack[thread.sp - 1]
                        cb(v - 0x10000000000000000 if v & 0x8000000000000000 else v)
                return run, site

            def run(_):
                v = None if ty is None else from_raw(engine, ty, stack[thread.sp - 1])
                p = None
                try:
                    for p in probes:
                        p.callback(v)
                except BaseException as e:
                    note(e, p, site)
                    raise
            return run, site

        loc = DynamicLoc(site)
        if len(probes) == 1:
            return probes[0].fire, loc           # no closure in between

        def run(_):
            p = None
            try:
                for p in probes:
                    r = p.fire(loc)
                    if r is not None and type(r) is ProbeAction:
                        return r
            except BaseException as e:
                note(e, p, site)
                raise
        return run, loc

    # ------------------------------------------------------------------ firing
    def _make_fire(self):
        """The function the native probe callback calls: `fire(t, global_)`."""
        runs = self._runs
        fire_global = self._fire_global
        action = self._action
        note = self._note

        def fire(t, g):
            if g:
                return fire_global()
            f, a = runs[t.probe_site]
            try:
                r = f(a)
            except BaseException as e:
                note(e, None, a if type(a) is _Site else a._site)
                raise
            if r is None:
                return 0
            return action(r, f)

        def fire_site(site):
            """The same, called from native code with t->probe_site (0: a global probe)."""
            if not site:
                return fire_global()
            f, a = runs[site]
            try:
                r = f(a)
            except BaseException as e:
                note(e, None, a if type(a) is _Site else a._site)
                raise
            if r is None:
                return None
            return action(r, f)
        return fire, fire_site

    def _fire(self, t, g: int) -> int:
        return self._fire_fn(t, g)

    def _fire_global_run(self, _):
        return self._fire_global() or None

    def _finish(self, site: int, f, a, r, exc) -> int:
        """Native code called `f(a)` from the run table (engine._bind_probe_cb): `r` was not
        None, or `exc` was raised. Returns the trap code (the exception parked)."""
        if exc is not None:
            if site:
                self._note(exc, None, a if type(a) is _Site else a._site)
            elif a is self._gloc:
                self._note(exc, getattr(f, "__self__", f), None, a)
            self.engine.pending_exception = exc
            return WZ_TRAP_HOST
        if r is None:
            return 0
        if not site and a is None:          # _fire_global_run: already a trap code
            return r
        return self._action(r, f if site else getattr(f, "__self__", f))

    def _fire_global(self) -> int:
        probes = self._gpy
        loc = self._gloc
        loc._site = None
        p = None
        try:
            for p in probes:
                r = p.fire(loc)
                if r is not None:
                    rc = self._action(r, p)
                    if rc:
                        return rc
        except BaseException as e:
            self._note(e, p, None, loc)
            raise
        return 0

    def _action(self, r, p) -> int:
        if isinstance(r, ProbeAction):
            if r.kind == "trap":
                eng = self.engine
                eng.pending_exception = Trap(r.reason, eng.current_backtrace())
                return WZ_TRAP_HOST
            raise WizardError(f"unknown probe action {r!r}")
        return 0   # anything but a ProbeAction means "continue" (e.g. a lambda's value)

    def _note(self, e: BaseException, p, site, gloc=None) -> None:
        """Note the probe and its location on an exception a probe raised (it propagates out
        of the outermost call)."""
        try:
            if hasattr(e, "wizard_probe"):
                return                       # noted where it was raised (innermost probe)
            kind = "probe"
            if gloc is not None:
                site, kind = gloc._s, "global probe"
            if p is None:
                py = [q for q in site.probes if not _native(q)]
                p = py[0] if len(py) == 1 else py
            where = f"{site.module.func_name(site.func)} +{site.pc}"
            if getattr(e, "probe_error", None) is not None:
                return                  # an inner probe (nested call) raised it: keep that one
            if hasattr(e, "add_note"):
                e.add_note(f"raised by {kind} {p!r} at {where}")
            e.wizard_probe = (p, where)
            # structured report (name, location, the probe's own traceback): errors.ProbeError
            e.probe_error = ProbeError(p, where, e, kind=kind, tb=e.__traceback__)
        except Exception:  # noqa: BLE001 - never mask the probe's own exception
            pass
