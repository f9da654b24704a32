"""Hypothesis strategies that build random *valid* Wasm modules by construction (as WAT text).

`modules()` draws a `GenModule`: WAT text of a module plus everything the differential test
needs to run it and judge the results. Validity comes from construction: every expression is
generated for a requested value type, with the label stack, the local/global/function/type
index spaces and the function signatures known at each point.

What a module holds
- 1-5 functions with random signatures (0-3 params, 0-3 results over i32/i64/f32/f64). Bodies
  are typed expression trees using every numeric instruction (arith, compare, clz/ctz/popcnt,
  rotl/rotr, shifts with large counts, div/rem, every conversion incl. trapping and saturating
  truncations, reinterpret, sign extension, float min/max/copysign/nearest/sqrt ...), locals
  (get/set/tee), select (typed and untyped), block/if/loop with multi-value results and block
  params, br/br_if/br_table/return, direct calls (only to lower-numbered functions, so no
  recursion), call_indirect through a table holding some of the lower functions, null slots and
  trailing slots past the elements (signature mismatch, null and out-of-range traps), loads and
  stores of every width with random static offsets and addresses near the memory end,
  memory.size/grow/fill/copy/init, data.drop, mutable globals of every type, unreachable.
- Constants and arguments come from pools of special values: NaNs with payloads (quiet and
  signalling, both signs), +-0, +-inf, subnormals, boundaries of every truncation,
  INT_MIN/-1, shift counts >= the width.
- Termination: loops run a bounded number of iterations through a reserved counter local that
  the body never writes, and branches never target a loop label except that counter's br_if.
  A static cost estimate (loop multiplicity x callee cost) bounds the work of every call.
- Exports: `run<i>` wraps function i with integer-only params/results (floats are passed and
  returned as their bit patterns via reinterpret), so both engines see exact NaN payloads;
  `dump` returns every global's bits; the memory is exported as "memory".

NaN nondeterminism. The spec lets an arithmetic float instruction return any canonical NaN
(when all NaN inputs are canonical) or any arithmetic NaN (otherwise). The generator tracks, for
every float value, a static *kind*:
  E  bit-exact (plus `nc`: may it be a non-canonical NaN),
  C  a NaN result must be a canonical NaN (either sign),
  Q  a NaN result must be an arithmetic NaN (quiet bit set),
  ANY  (a join of an exact non-canonical NaN with a nondeterministic one) any NaN.
Wherever bits become observable other than as a result (reinterpret, store, local/global.set,
call arguments, copysign's sign operand) a nondeterministic value is canonicalised first
(`x != x ? nan : x`), so memory, globals and integer results are deterministic; float results of
the `run<i>` exports are compared with their kind (`result_kinds`).
"""
from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field

from hypothesis import strategies as st

I32, I64, F32, F64 = "i32", "i64", "f32", "f64"
NUM = (I32, I64, F32, F64)
FLOAT = (F32, F64)
BITS = {I32: 32, I64: 64, F32: 32, F64: 64}

# NaN kinds (see module docstring)
E, C, Q, ANY = "E", "C", "Q", "ANY"

# ---------------------------------------------------------------------------------------------
# special values (as bit patterns)

I32_SPECIAL = [0, 1, 2, 3, 7, 8, 0xFFFFFFFF, 0xFFFFFFFE, 0x7FFFFFFF, 0x80000000, 0x80000001,
               31, 32, 33, 63, 64, 65, 0x80, 0xFF, 0x7F, 0x8000, 0xFFFF, 0x7FFF, 0x10000,
               0xFFFFFF80, 0xFFFF8000, 0xAAAAAAAA, 0x55555555, 0x00F0F00F]
I64_SPECIAL = [0, 1, 2, 3, 0xFFFFFFFFFFFFFFFF, 0xFFFFFFFFFFFFFFFE, 0x7FFFFFFFFFFFFFFF,
               0x8000000000000000, 0x8000000000000001, 0xFFFFFFFF, 0x80000000, 0x7FFFFFFF,
               0x100000000, 0xFFFFFFFF80000000, 63, 64, 65, 127, 128, 32, 0x80, 0xFF, 0x8000,
               0xFFFF, 0xFFFFFFFFFFFFFF80, 0xAAAAAAAAAAAAAAAA, 0x0123456789ABCDEF]
F32_SPECIAL = [
    0x00000000, 0x80000000, 0x7F800000, 0xFF800000,            # +-0, +-inf
    0x7FC00000, 0xFFC00000,                                    # canonical NaNs
    0x7FC00001, 0xFFE12345, 0x7FA00000, 0x7F800001, 0xFF800001, 0x7FBFFFFF,  # payloads, sNaN
    0x00000001, 0x80000001, 0x007FFFFF, 0x00800000, 0x7F7FFFFF, 0xFF7FFFFF,  # subnormal/limits
    0x3F800000, 0xBF800000, 0x3F000000, 0xBF000000, 0x3FC00000, 0x40200000, 0xC0200000,
    0x3F7FFFFF, 0x40490FDB,                                    # 1,-1,.5,-.5,1.5,2.5,-2.5,..,pi
    0x4F000000, 0xCF000000, 0x4EFFFFFF, 0xCF000001, 0x4F800000, 0x4F7FFFFF,  # i32/u32 bounds
    0x5F000000, 0xDF000000, 0x5EFFFFFF, 0xDF000001, 0x5F800000, 0x5F7FFFFF,  # i64/u64 bounds
    0xBF7FFFFF, 0x4B000000, 0x4B000001, 0xCB7FFFFF,            # -0.99.., 2^23 ...
]
F64_SPECIAL = [
    0x0000000000000000, 0x8000000000000000, 0x7FF0000000000000, 0xFFF0000000000000,
    0x7FF8000000000000, 0xFFF8000000000000,
    0x7FF8000000000001, 0xFFF8123456789ABC, 0x7FF4000000000000, 0x7FF0000000000001,
    0xFFF0000000000001,
    0x0000000000000001, 0x8000000000000001, 0x000FFFFFFFFFFFFF, 0x0010000000000000,
    0x7FEFFFFFFFFFFFFF, 0xFFEFFFFFFFFFFFFF,
    0x3FF0000000000000, 0xBFF0000000000000, 0x3FE0000000000000, 0xBFE0000000000000,
    0x3FF8000000000000, 0x4004000000000000, 0xC004000000000000, 0x3FEFFFFFFFFFFFFF,
    0x41DFFFFFFFC00000, 0x41E0000000000000, 0xC1E0000000000000, 0xC1E0000000200000,  # i32
    0xC1E00000001FFFFF, 0x41DFFFFFFFFFFFFF, 0x41EFFFFFFFE00000, 0x41F0000000000000,  # u32
    0xBFEFFFFFFFFFFFFF, 0x43E0000000000000, 0xC3E0000000000000, 0x43DFFFFFFFFFFFFF,  # i64
    0xC3E0000000000001, 0x43F0000000000000, 0x43EFFFFFFFFFFFFF,                      # u64
    0x4330000000000000, 0x4330000000000001, 0x36A0000000000000, 0x47EFFFFFE0000000,
    0x47EFFFFFF0000000, 0x3810000000000000, 0x380FFFFFFFFFFFFF, 0x36A0000000000001,  # f32 edges
]
SPECIAL = {I32: I32_SPECIAL, I64: I64_SPECIAL, F32: F32_SPECIAL, F64: F64_SPECIAL}


def is_nan_bits(ty: str, b: int) -> bool:
    if ty == F32:
        return (b & 0x7F800000) == 0x7F800000 and (b & 0x007FFFFF) != 0
    return (b & 0x7FF0000000000000) == 0x7FF0000000000000 and (b & 0x000FFFFFFFFFFFFF) != 0


def is_canonical_nan(ty: str, b: int) -> bool:
    if ty == F32:
        return (b & 0x7FFFFFFF) == 0x7FC00000
    return (b & 0x7FFFFFFFFFFFFFFF) == 0x7FF8000000000000


def is_arithmetic_nan(ty: str, b: int) -> bool:
    quiet = 0x00400000 if ty == F32 else 0x0008000000000000
    return is_nan_bits(ty, b) and bool(b & quiet)


def wat_const(ty: str, b: int) -> str:
    """`<ty>.const <literal>` for bit pattern `b` (exact, NaN payloads included)."""
    if ty in (I32, I64):
        return f"{ty}.const {b - (1 << BITS[ty]) if b >> (BITS[ty] - 1) else b}"
    if ty == F32:
        sign, exp, frac = b >> 31, (b >> 23) & 0xFF, b & 0x7FFFFF
        allones = exp == 0xFF
        val = struct.unpack("<f", struct.pack("<I", b))[0] if not allones else None
    else:
        sign, exp, frac = b >> 63, (b >> 52) & 0x7FF, b & 0xFFFFFFFFFFFFF
        allones = exp == 0x7FF
        val = struct.unpack("<d", struct.pack("<Q", b))[0] if not allones else None
    s = "-" if sign else ""
    if allones:
        return f"{ty}.const {s}inf" if frac == 0 else f"{ty}.const {s}nan:0x{frac:x}"
    h = float.hex(abs(val))
    return f"{ty}.const {s}{h}"


def const_nc(ty: str, b: int) -> bool:
    """May this constant be a non-canonical NaN (i.e. is it one)?"""
    return ty in FLOAT and is_nan_bits(ty, b) and not is_canonical_nan(ty, b)


def bits_strategy(ty: str):
    n = BITS[ty]
    return st.one_of(st.sampled_from(SPECIAL[ty]), st.integers(0, (1 << n) - 1),
                     st.integers(0, 70))


# ---------------------------------------------------------------------------------------------
# instruction tables

INT_UN = ["clz", "ctz", "popcnt"]
INT_BIN = ["add", "sub", "mul", "and", "or", "xor", "shl", "shr_s", "shr_u", "rotl", "rotr"]
INT_DIV = ["div_s", "div_u", "rem_s", "rem_u"]
INT_CMP = ["eq", "ne", "lt_s", "lt_u", "gt_s", "gt_u", "le_s", "le_u", "ge_s", "ge_u"]
FLT_UN_ARITH = ["sqrt", "ceil", "floor", "trunc", "nearest"]
FLT_UN_EXACT = ["abs", "neg"]
FLT_BIN = ["add", "sub", "mul", "div", "min", "max"]
FLT_CMP = ["eq", "ne", "lt", "gt", "le", "ge"]
EXTEND = {I32: ["extend8_s", "extend16_s"], I64: ["extend8_s", "extend16_s", "extend32_s"]}
LOADS = {I32: ["i32.load", "i32.load8_s", "i32.load8_u", "i32.load16_s", "i32.load16_u"],
         I64: ["i64.load", "i64.load8_s", "i64.load8_u", "i64.load16_s", "i64.load16_u",
               "i64.load32_s", "i64.load32_u"],
         F32: ["f32.load"], F64: ["f64.load"]}
STORES = {I32: ["i32.store", "i32.store8", "i32.store16"],
          I64: ["i64.store", "i64.store8", "i64.store16", "i64.store32"],
          F32: ["f32.store"], F64: ["f64.store"]}
ACCESS_SIZE = {"load": 4, "load8_s": 1, "load8_u": 1, "load16_s": 2, "load16_u": 2,
               "load32_s": 4, "load32_u": 4, "store": 4, "store8": 1, "store16": 2, "store32": 4}


def conversions_to(ty: str):
    """(instr, source type, kind of conversion) producing `ty`."""
    out = []
    if ty == I32:
        out += [("i32.wrap_i64", I64, "int")]
        for f in FLOAT:
            for s in ("s", "u"):
                out += [(f"i32.trunc_{f}_{s}", f, "trunc"), (f"i32.trunc_sat_{f}_{s}", f, "trunc")]
        out += [("i32.reinterpret_f32", F32, "reint")]
    elif ty == I64:
        out += [("i64.extend_i32_s", I32, "int"), ("i64.extend_i32_u", I32, "int")]
        for f in FLOAT:
            for s in ("s", "u"):
                out += [(f"i64.trunc_{f}_{s}", f, "trunc"), (f"i64.trunc_sat_{f}_{s}", f, "trunc")]
        out += [("i64.reinterpret_f64", F64, "reint")]
    else:
        for i in (I32, I64):
            for s in ("s", "u"):
                out += [(f"{ty}.convert_{i}_{s}", i, "conv")]
        if ty == F32:
            out += [("f32.demote_f64", F64, "arith"), ("f32.reinterpret_i32", I32, "reint")]
        else:
            out += [("f64.promote_f32", F32, "arith"), ("f64.reinterpret_i64", I64, "reint")]
    return out


# ---------------------------------------------------------------------------------------------
# values with a NaN kind

@dataclass
class V:
    code: list
    kind: str = E
    nc: bool = False      # (kind E only) may be a non-canonical NaN


def join(a: tuple, b: tuple) -> tuple:
    """Join of two (kind, nc) facts for a value that may come from either."""
    (ka, na), (kb, nb) = a, b
    if ka == E and kb == E:
        return (E, na or nb)
    s = {k for k in (ka, kb) if k != E}
    if ANY in s or (ka == E and na) or (kb == E and nb):
        return (ANY, True)
    if Q in s:
        return (Q, True)
    return (C, False)


def arith_kind(*vals: V) -> tuple:
    """Kind of the result of an arithmetic float instruction on `vals`."""
    if all((v.kind == E and not v.nc) or v.kind == C for v in vals):
        return (C, False)
    return (Q, True)


@dataclass
class Label:
    types: tuple
    is_loop: bool = False
    facts: list = None    # per result: (kind, nc), joined over every branch to the label

    def __post_init__(self):
        if self.facts is None:
            self.facts = [None] * len(self.types)

    def add(self, vals: list):
        for i, v in enumerate(vals):
            f = (v.kind, v.nc)
            self.facts[i] = f if self.facts[i] is None else join(self.facts[i], f)


@dataclass
class FuncInfo:
    params: tuple
    results: tuple
    result_facts: list = field(default_factory=list)
    cost: int = 1
    body: list = field(default_factory=list)
    locals: list = field(default_factory=list)


@dataclass
class GenModule:
    wat: str
    funcs: list               # FuncInfo per generated function (index i, exported as run<i>)
    globals: list             # value types of the globals, in `dump` result order
    mem_min: int
    mem_max: int

    def run_params(self, i):
        return [I32 if t in (I32, F32) else I64 for t in self.funcs[i].params]

    def result_kinds(self, i):
        """For each result of run<i>: (original type, NaN kind)."""
        f = self.funcs[i]
        return [(t, (fa[0] if fa else E) if t in FLOAT else E)
                for t, fa in zip(f.results, f.result_facts)]


# ---------------------------------------------------------------------------------------------
# the generator

COST_BUDGET = 3000
MAX_DEPTH = 5


class Gen:
    def __init__(self, draw):
        self.draw = draw

    # drawing helpers
    def int(self, lo, hi):
        return self.draw(st.integers(lo, hi))

    def pick(self, seq):
        return self.draw(st.sampled_from(list(seq)))

    def bool(self, p_true_in_16=8):
        return self.int(0, 15) < p_true_in_16

    # ----- module -----
    def module(self) -> GenModule:
        self.mem_min = self.pick([0, 1, 1, 1, 2])
        self.mem_max = self.mem_min + self.int(0, 3)
        nglob = self.int(0, 4)
        self.globals = [(self.pick(NUM), True) for _ in range(nglob)] + [(I32, False)]
        self.global_init = [self.draw(bits_strategy(t)) for t, _ in self.globals]
        nfuncs = self.int(1, 5)
        self.funcs: list[FuncInfo] = []
        # table: entries are functions < ntab_funcs (call_indirect only in funcs >= ntab_funcs)
        self.ntab_funcs = self.int(0, nfuncs - 1) if nfuncs > 1 else 0
        sigs = []
        for _ in range(nfuncs):
            if sigs and self.bool(5):
                sigs.append(self.pick(sigs))
            else:
                np_ = self.int(0, 3)
                nr = self.pick([0, 1, 1, 1, 2, 3])
                sigs.append((tuple(self.pick(NUM) for _ in range(np_)),
                             tuple(self.pick(NUM) for _ in range(nr))))
        self.sigs = sigs
        # extra types for call_indirect mismatches
        self.types = list(dict.fromkeys(sigs + [((I32,), (I32,)), ((), ())]))
        self.table = []
        if self.ntab_funcs:
            n = self.int(1, 6)
            for _ in range(n):
                self.table.append(None if self.bool(3) else self.int(0, self.ntab_funcs - 1))
        self.table_size = len(self.table) + self.int(0, 2)
        self.data_segs = []
        if self.mem_min and self.bool(10):
            for _ in range(self.int(1, 2)):
                ln = self.int(1, 12)
                off = self.pick([0, 8, 100, self.mem_min * 65536 - ln])
                self.data_segs.append((off, bytes(self.int(0, 255) for _ in range(ln))))
        self.passive = [bytes(self.int(0, 255) for _ in range(self.int(0, 10)))
                        for _ in range(self.int(0, 1))]
        for i, (params, results) in enumerate(sigs):
            self.funcs.append(self.function(i, params, results))
        return GenModule(self.render(), self.funcs, [t for t, _ in self.globals],
                         self.mem_min, self.mem_max)

    def render(self) -> str:
        out = ["(module"]
        for k, (p, r) in enumerate(self.types):
            out.append(f"  (type $t{k} (func{self._sig(p, r)}))")
        out.append(f"  (memory (export \"memory\") {self.mem_min} {self.mem_max})")
        for g, ((t, mut), b) in enumerate(zip(self.globals, self.global_init)):
            ty = f"(mut {t})" if mut else t
            out.append(f"  (global $g{g} {ty} ({wat_const(t, b)}))")
        out.append(f"  (table {self.table_size} funcref)")
        if self.table:
            items = " ".join("(ref.null func)" if e is None else f"(ref.func $f{e})"
                             for e in self.table)
            out.append(f"  (elem (i32.const 0) funcref {items})")
        for off, data in self.data_segs:
            out.append(f"  (data (i32.const {off}) \"{_wat_bytes(data)}\")")
        for data in self.passive:
            out.append(f"  (data \"{_wat_bytes(data)}\")")
        for i, f in enumerate(self.funcs):
            out.append(f"  (func $f{i}{self._sig(f.params, f.results, named=True)}")
            if f.locals:
                out.append("    (local " + " ".join(f.locals) + ")")
            out.extend("    " + ins for ins in f.body)
            out.append("  )")
        for i, f in enumerate(self.funcs):
            ps = [I32 if t in (I32, F32) else I64 for t in f.params]
            rs = [I32 if t in (I32, F32) else I64 for t in f.results]
            body = []
            for k, t in enumerate(f.params):
                body.append(f"local.get {k}")
                if t in FLOAT:
                    body.append(f"{t}.reinterpret_{'i32' if t == F32 else 'i64'}")
            body.append(f"call $f{i}")
            # convert results (top of stack last): spill to locals
            nres = len(f.results)
            loc = [f"(local {' '.join(f.results)})"] if nres else []
            for k in reversed(range(nres)):
                body.append(f"local.set {len(ps) + k}")
            for k, t in enumerate(f.results):
                body.append(f"local.get {len(ps) + k}")
                if t in FLOAT:
                    body.append(f"{'i32' if t == F32 else 'i64'}.reinterpret_{t}")
            out.append(f"  (func (export \"run{i}\"){self._sig(ps, rs)} {' '.join(loc)} "
                       + " ".join(body) + ")")
        gbody, gres = [], []
        for g, (t, _) in enumerate(self.globals):
            gbody.append(f"global.get $g{g}")
            if t in FLOAT:
                gbody.append(f"{'i32' if t == F32 else 'i64'}.reinterpret_{t}")
            gres.append(I32 if t in (I32, F32) else I64)
        out.append(f"  (func (export \"dump\") (result {' '.join(gres)}) {' '.join(gbody)})")
        out.append(")")
        return "\n".join(out) + "\n"

    @staticmethod
    def _sig(params, results, named=False):
        s = ""
        if params:
            s += " (param " + " ".join(params) + ")"
        if results:
            s += " (result " + " ".join(results) + ")"
        return s

    # ----- functions -----
    def function(self, idx, params, results) -> FuncInfo:
        self.fidx = idx
        self.params = params
        self.results = results
        self.extra_locals = [self.pick(NUM) for _ in range(self.int(0, 4))]
        self.locals_ty = list(params) + self.extra_locals
        # reserved locals: one canonicalisation temp per float type, loop counters per depth
        base = len(self.locals_ty)
        self.tmp = {t: base + k for k, t in enumerate(NUM)}
        self.counter_base = base + 4
        self.max_loop_depth = 2
        self.loop_depth = 0
        self.mult = 1
        self.cost = 1
        self.budget = self.int(20, 120)      # rough instruction budget of the body
        self.labels = [Label(tuple(results))]
        body = []
        body += self.stmts(0, self.int(0, 4))
        vals = self.values(results, 0)
        for v in vals:
            body += v.code
        self.labels[0].add(vals)
        facts = self.labels[0].facts
        f = FuncInfo(params, results, facts, self.cost, body,
                     self.extra_locals + list(NUM) + [I32] * self.max_loop_depth)
        return f

    def spend(self, n=1):
        self.budget -= n
        return self.budget > 0

    # ----- expressions -----
    def values(self, types, depth) -> list:
        return [self.expr(t, depth) for t in types]

    def exact(self, ty, depth) -> V:
        """An expression of type `ty` whose bits are deterministic."""
        return self.canon(self.expr(ty, depth))

    def canon(self, v: V) -> V:
        if v.kind == E:
            return v
        ty = v.ty
        t = self.tmp[ty]
        nan = wat_const(ty, 0x7FC00000 if ty == F32 else 0x7FF8000000000000)
        code = v.code + [f"local.set {t}", nan, f"local.get {t}", f"local.get {t}",
                         f"local.get {t}", f"{ty}.ne", "select"]
        return self._v(ty, code)

    def _v(self, ty, code, kind=E, nc=None):
        v = V(code, kind, (ty in FLOAT) if nc is None else nc)
        v.ty = ty
        return v

    def const(self, ty) -> V:
        b = self.draw(bits_strategy(ty))
        return self._v(ty, [wat_const(ty, b)], E, const_nc(ty, b))

    def addr(self, depth, size) -> V:
        """An i32 address: mostly in bounds, often near the end of the memory."""
        c = self.int(0, 9)
        if c <= 4:
            hi = max(0, min(256, self.mem_min * 65536 - size))
            return self._v(I32, [wat_const(I32, self.int(0, hi))])
        if c <= 6:
            end = self.pick([self.mem_min, self.mem_max]) * 65536
            b = (end - size + self.int(-8, 8)) & 0xFFFFFFFF
            return self._v(I32, [wat_const(I32, b)])
        if c <= 8:
            a = self.exact(I32, depth + 1)
            return self._v(I32, a.code + [f"i32.const {self.pick([0x3FF, 0xFF, 0xFFFF, 0x1FFFF])}",
                                          "i32.and"])
        return self.exact(I32, depth + 1)

    def memarg(self):
        c = self.int(0, 9)
        if c <= 6:
            return ""
        if c <= 8:
            return f" offset={self.int(1, 64)}"
        return " offset=" + str(self.pick([65535, 65536, 65532, 0x7FFFFFFF, 0xFFFFFFFF,
                                           max(0, self.mem_max * 65536 - 4)]))

    def expr(self, ty, depth) -> V:
        v = self._expr(ty, depth)
        v.ty = ty
        return v

    def _expr(self, ty, depth) -> V:
        leaf = depth >= MAX_DEPTH or not self.spend()
        choice = self.int(0, 3 if leaf else 31)
        if choice == 0:
            return self.const(ty)
        if choice == 1:
            cands = [k for k, t in enumerate(self.locals_ty) if t == ty]
            if cands:
                return self._v(ty, [f"local.get {self.pick(cands)}"])
            return self.const(ty)
        if choice == 2:
            cands = [k for k, (t, _) in enumerate(self.globals) if t == ty]
            if cands:
                return self._v(ty, [f"global.get $g{self.pick(cands)}"])
            return self.const(ty)
        if choice == 3:
            return self.const(ty)
        d = depth + 1
        if ty in (I32, I64):
            return self.int_expr(ty, d, choice)
        return self.float_expr(ty, d, choice)

    def int_expr(self, ty, d, choice) -> V:
        if choice in (4, 5, 6):
            op = self.pick(INT_BIN)
            a = self.expr(ty, d)
            b = self.expr(ty, d) if not (op.startswith(("sh", "rot")) and self.bool(6)) else \
                self.const(ty)
            return self._v(ty, a.code + b.code + [f"{ty}.{op}"])
        if choice == 7:
            a, b = self.expr(ty, d), self.expr(ty, d)
            return self._v(ty, a.code + b.code + [f"{ty}.{self.pick(INT_DIV)}"])
        if choice == 8:
            a = self.expr(ty, d)
            return self._v(ty, a.code + [f"{ty}.{self.pick(INT_UN + EXTEND[ty])}"])
        if choice in (9, 10):
            if ty == I64:
                return self.int_expr(ty, d, 4)
            # comparisons / tests producing i32
            src = self.pick(NUM)
            if src in (I32, I64):
                if self.bool(3):
                    return self._v(I32, self.expr(src, d).code + [f"{src}.eqz"])
                a, b = self.expr(src, d), self.expr(src, d)
                return self._v(I32, a.code + b.code + [f"{src}.{self.pick(INT_CMP)}"])
            a, b = self.expr(src, d), self.expr(src, d)
            return self._v(I32, a.code + b.code + [f"{src}.{self.pick(FLT_CMP)}"])
        if choice in (11, 12):
            ins, src, how = self.pick(conversions_to(ty))
            a = self.exact(src, d) if how == "reint" else self.expr(src, d)
            return self._v(ty, a.code + [ins])
        if choice == 13:
            return self.load(ty, d)
        if choice == 14 and ty == I32:
            if self.bool():
                return self._v(I32, ["memory.size"])
            n = self.pick([self._v(I32, [wat_const(I32, self.pick([0, 1, 2, 0xFFFFFFFF,
                                                                   0x10000, 3]))]),
                           self.expr(I32, d)])
            return self._v(I32, n.code + ["memory.grow"])
        return self.common(ty, d, choice)

    def float_expr(self, ty, d, choice) -> V:
        if choice in (4, 5, 6):
            a, b = self.expr(ty, d), self.expr(ty, d)
            k, nc = arith_kind(a, b)
            return self._v(ty, a.code + b.code + [f"{ty}.{self.pick(FLT_BIN)}"], k, nc)
        if choice == 7:
            a = self.expr(ty, d)
            k, nc = arith_kind(a)
            return self._v(ty, a.code + [f"{ty}.{self.pick(FLT_UN_ARITH)}"], k, nc)
        if choice == 8:
            a = self.expr(ty, d)
            return self._v(ty, a.code + [f"{ty}.{self.pick(FLT_UN_EXACT)}"], a.kind, a.nc)
        if choice == 9:
            a, b = self.expr(ty, d), self.exact(ty, d)
            return self._v(ty, a.code + b.code + [f"{ty}.copysign"], a.kind, a.nc)
        if choice in (10, 11, 12):
            ins, src, how = self.pick(conversions_to(ty))
            if how == "reint":
                a = self.exact(src, d)
                return self._v(ty, a.code + [ins], E, True)
            a = self.expr(src, d)
            if how == "arith":
                k, nc = arith_kind(a)
                return self._v(ty, a.code + [ins], k, nc)
            return self._v(ty, a.code + [ins], E, False)
        if choice == 13:
            return self.load(ty, d)
        return self.common(ty, d, choice)

    def load(self, ty, d) -> V:
        ins = self.pick(LOADS[ty])
        size = ACCESS_SIZE.get(ins.split(".")[1], 8 if ty in (I64, F64) else 4)
        if ins in ("i64.load", "f64.load"):
            size = 8
        a = self.addr(d, size)
        return self._v(ty, a.code + [ins + self.memarg()])

    def common(self, ty, d, choice) -> V:
        """Structured / control / variable forms valid for any type."""
        if choice in (15, 16):  # select
            a, b = self.expr(ty, d), self.expr(ty, d)
            c = self.expr(I32, d)
            k, nc = join((a.kind, a.nc), (b.kind, b.nc))
            sel = "select" if (ty in NUM and self.bool()) else f"select (result {ty})"
            return self._v(ty, a.code + b.code + c.code + [sel], k, nc)
        if choice == 17:  # local.tee
            cands = [k for k, t in enumerate(self.locals_ty) if t == ty]
            if cands:
                a = self.exact(ty, d)
                return self._v(ty, a.code + [f"local.tee {self.pick(cands)}"])
        if choice in (18, 19):  # block (maybe multi-value, maybe with params)
            return self.block_expr(ty, d)
        if choice in (20, 21):
            return self.if_expr(ty, d)
        if choice == 22 and self.loop_depth < self.max_loop_depth:
            return self.loop_expr(ty, d)
        if choice in (23, 24):
            v = self.call_expr(ty, d)
            if v is not None:
                return v
        if choice == 25:
            v = self.call_indirect_expr(ty, d)
            if v is not None:
                return v
        if choice == 26:  # br_if to a label of type [ty]
            cands = [lb for lb in self.labels if not lb.is_loop and lb.types == (ty,)]
            if cands:
                lb = self.pick(cands)
                a, c = self.expr(ty, d), self.expr(I32, d)
                lb.add([a])
                return self._v(ty, a.code + c.code + [f"br_if {self.depth_of(lb)}"], a.kind, a.nc)
        if choice == 27 and self.bool(4):  # stack-polymorphic branch
            return self._v(ty, self.branch(d), E, False)
        if choice == 28 and self.bool(1):
            return self._v(ty, ["unreachable"], E, False)
        if choice == 29:  # statements then an expression
            code = self.stmts(d, self.int(1, 2))
            a = self.expr(ty, d)
            return self._v(ty, code + a.code, a.kind, a.nc)
        return self.const(ty)

    def depth_of(self, lb) -> int:
        for k in range(len(self.labels) - 1, -1, -1):
            if self.labels[k] is lb:
                return len(self.labels) - 1 - k
        raise AssertionError

    def branch(self, d) -> list:
        """br / br_table / return: transfers control, the code after is unreachable."""
        targets = [lb for lb in self.labels if not lb.is_loop]
        lb = self.pick(targets)
        kind = self.int(0, 3)
        vals = self.values(lb.types, d)
        code = [c for v in vals for c in v.code]
        if kind == 0 and lb is self.labels[0]:
            lb.add(vals)
            return code + ["return"]
        if kind == 1:
            same = [x for x in targets if x.types == lb.types]
            n = self.int(0, 4)
            tgts = [self.pick(same) for _ in range(n)] + [lb]
            for t in tgts:
                t.add(vals)
            idx = self.exact(I32, d) if self.bool() else self._v(I32, [f"i32.const {self.int(0, n + 1)}"])
            return code + idx.code + ["br_table " + " ".join(str(self.depth_of(t)) for t in tgts)]
        lb.add(vals)
        return code + [f"br {self.depth_of(lb)}"]

    def blocktype(self, params, results):
        return self._sig(params, results)

    def block_expr(self, ty, d) -> V:
        extra = tuple(self.pick(NUM) for _ in range(self.pick([0, 0, 1, 2])))
        results = (ty,) + extra
        params = ()
        pre = []
        if self.bool(4):
            params = tuple(self.pick(NUM) for _ in range(self.int(1, 2)))
            pre = [c for v in self.values(params, d) for c in v.code]
        lb = Label(results)
        self.labels.append(lb)
        body = ["block" + self.blocktype(params, results)]
        # consume the params: drop them or fold them into the first result
        if params and params[-1] == ty and len(params) == 1 and self.bool():
            # body keeps the param as (part of) the result: param op expr
            if ty in (I32, I64):
                b = self.expr(ty, d)
                body += b.code + [f"{ty}.{self.pick(['add', 'xor', 'sub'])}"]
                first = self._v(ty, [], E, False)
            else:
                body += ["drop"]
                first = self.expr(ty, d)
                body += first.code
        else:
            body += ["drop"] * len(params)
            body += self.stmts(d, self.int(0, 2))
            first = self.expr(ty, d)
            body += first.code
        rest = self.values(extra, d)
        for v in rest:
            body += v.code
        lb.add([first] + rest)
        self.labels.pop()
        body += ["end"] + ["drop"] * len(extra)
        k, nc = lb.facts[0]
        return self._v(ty, pre + body, k, nc)

    def if_expr(self, ty, d) -> V:
        c = self.expr(I32, d)
        lb = Label((ty,))
        self.labels.append(lb)
        code = c.code + [f"if (result {ty})"]
        code += self.stmts(d, self.int(0, 1))
        a = self.expr(ty, d)
        code += a.code + ["else"]
        code += self.stmts(d, self.int(0, 1))
        b = self.expr(ty, d)
        code += b.code + ["end"]
        lb.add([a])
        lb.add([b])
        self.labels.pop()
        k, nc = lb.facts[0]
        return self._v(ty, code, k, nc)

    def loop_expr(self, ty, d) -> V:
        n = self.int(1, 4)
        ctr = self.counter_base + self.loop_depth
        self.loop_depth += 1
        self.mult *= n
        lb = Label((), is_loop=True)
        self.labels.append(lb)
        code = [f"i32.const {n}", f"local.set {ctr}", f"loop (result {ty})"]
        code += self.stmts(d, self.int(1, 3))
        code += [f"local.get {ctr}", "i32.const 1", "i32.sub", f"local.tee {ctr}", "br_if 0"]
        a = self.expr(ty, d)
        code += a.code + ["end"]
        self.labels.pop()
        self.mult //= n
        self.loop_depth -= 1
        return self._v(ty, code, a.kind, a.nc)

    def callable(self, pred):
        return [j for j in range(self.fidx) if pred(self.sigs[j])
                and self.mult * self.funcs[j].cost + self.cost <= COST_BUDGET]

    def call_expr(self, ty, d):
        cands = self.callable(lambda s: ty in s[1])
        if not cands:
            return None
        j = self.pick(cands)
        p, r = self.sigs[j]
        self.cost += self.mult * self.funcs[j].cost
        args = [self.exact(t, d) for t in p]
        code = [c for a in args for c in a.code] + [f"call $f{j}"]
        # keep one result of type ty: spill the others
        pos = self.pick([k for k, t in enumerate(r) if t == ty])
        code += self.keep_one(r, pos)
        fact = self.funcs[j].result_facts[pos] or (E, ty in FLOAT)
        return self._v(ty, code, fact[0], fact[1])

    def keep_one(self, types, pos) -> list:
        """Code turning stack `types` into just types[pos] (drops above, a temp for below)."""
        code = ["drop"] * (len(types) - 1 - pos)
        if pos > 0:
            ty = types[pos]
            t = self.tmp_for(ty)
            code += [f"local.set {t}"] + ["drop"] * pos + [f"local.get {t}"]
        return code

    def tmp_for(self, ty):
        return self.tmp[ty]   # reserved scratch local, only live between a set and its get

    def call_indirect_expr(self, ty, d):
        if self.fidx < self.ntab_funcs or not self.table:
            return None
        tcost = max([self.funcs[e].cost for e in self.table if e is not None] or [1])
        if self.mult * tcost + self.cost > COST_BUDGET:
            return None
        cands = [k for k, (p, r) in enumerate(self.types) if r and r[-1] == ty]
        if not cands:
            return None
        k = self.pick(cands)
        p, r = self.types[k]
        self.cost += self.mult * tcost
        args = [self.exact(t, d) for t in p]
        if self.bool(12):
            idx = self._v(I32, [f"i32.const {self.int(0, self.table_size + 1)}"])
        else:
            idx = self.exact(I32, d)
        code = [c for a in args for c in a.code] + idx.code + [f"call_indirect (type $t{k})"]
        code += self.keep_one(r, len(r) - 1)
        # the callee is not known statically: any NaN bits may come back
        return self._v(ty, code, ANY if ty in FLOAT else E, ty in FLOAT)

    # ----- statements (net stack effect 0) -----
    def stmts(self, d, n) -> list:
        code = []
        for _ in range(n):
            if not self.spend():
                break
            code += self.stmt(d + 1)
        return code

    def stmt(self, d) -> list:
        c = self.int(0, 14)
        if c in (0, 1):
            if self.locals_ty:
                k = self.int(0, len(self.locals_ty) - 1)
                return self.exact(self.locals_ty[k], d).code + [f"local.set {k}"]
        if c == 2:
            cands = [k for k, (t, m) in enumerate(self.globals) if m]
            if cands:
                g = self.pick(cands)
                return self.exact(self.globals[g][0], d).code + [f"global.set $g{g}"]
        if c in (3, 4):
            ty = self.pick(NUM)
            ins = self.pick(STORES[ty])
            size = ACCESS_SIZE[ins.split(".")[1]]
            if ins in ("i64.store", "f64.store"):
                size = 8
            a = self.addr(d, size)
            v = self.exact(ty, d)
            return a.code + v.code + [ins + self.memarg()]
        if c == 5:
            return self.expr(self.pick(NUM), d).code + ["drop"]
        if c == 6:
            op = self.pick(["memory.fill", "memory.copy", "memory.init", "data.drop"])
            if op in ("memory.init", "data.drop") and not self.passive:
                op = "memory.fill"
            if op == "data.drop":
                return [f"data.drop {self.int(0, len(self.data_segs) + len(self.passive) - 1)}"]
            a = self.addr(d, 0)
            b = self.addr(d, 0) if op != "memory.fill" else self.exact(I32, d)
            n = self._v(I32, [wat_const(I32, self.pick([0, 1, 4, 16, 100, 65536, 0xFFFFFFFF]))]) \
                if self.bool(11) else self.exact(I32, d)
            imm = f" {len(self.data_segs)}" if op == "memory.init" else ""
            return a.code + b.code + n.code + [op + imm]
        if c == 7:  # br_if to a label (any arity), results dropped
            targets = [lb for lb in self.labels if not lb.is_loop]
            lb = self.pick(targets)
            vals = self.values(lb.types, d)
            cond = self.expr(I32, d)
            lb.add(vals)
            return [x for v in vals for x in v.code] + cond.code + \
                [f"br_if {self.depth_of(lb)}"] + ["drop"] * len(lb.types)
        if c == 8:  # if without results
            cond = self.expr(I32, d)
            self.labels.append(Label(()))
            code = cond.code + ["if"] + self.stmts(d, self.int(1, 2))
            if self.bool():
                code += ["else"] + self.stmts(d, self.int(1, 2))
            self.labels.pop()
            return code + ["end"]
        if c == 9:  # block with a possible branch out of it
            self.labels.append(Label(()))
            code = ["block"] + self.stmts(d, self.int(1, 3))
            if self.bool(3):
                code += self.branch(d)
            self.labels.pop()
            return code + ["end"]
        if c == 10 and self.loop_depth < self.max_loop_depth:
            n = self.int(1, 4)
            ctr = self.counter_base + self.loop_depth
            self.loop_depth += 1
            self.mult *= n
            self.labels.append(Label((), is_loop=True))
            code = [f"i32.const {n}", f"local.set {ctr}", "loop"] + self.stmts(d, self.int(1, 3))
            code += [f"local.get {ctr}", "i32.const 1", "i32.sub", f"local.tee {ctr}", "br_if 0",
                     "end"]
            self.labels.pop()
            self.mult //= n
            self.loop_depth -= 1
            return code
        if c == 11:  # a call whose results are dropped
            cands = self.callable(lambda s: True)
            if cands:
                j = self.pick(cands)
                p, r = self.sigs[j]
                self.cost += self.mult * self.funcs[j].cost
                args = [self.exact(t, d) for t in p]
                return [x for a in args for x in a.code] + [f"call $f{j}"] + ["drop"] * len(r)
        if c == 12 and self.fidx >= self.ntab_funcs and self.table:
            tcost = max([self.funcs[e].cost for e in self.table if e is not None] or [1])
            if self.mult * tcost + self.cost <= COST_BUDGET:
                k = self.int(0, len(self.types) - 1)
                p, r = self.types[k]
                self.cost += self.mult * tcost
                args = [self.exact(t, d) for t in p]
                idx = self._v(I32, [f"i32.const {self.int(0, self.table_size + 1)}"]) \
                    if self.bool(12) else self.exact(I32, d)
                return [x for a in args for x in a.code] + idx.code + \
                    [f"call_indirect (type $t{k})"] + ["drop"] * len(r)
        if c == 13 and self.bool(2):
            return self.branch(d)
        return ["nop"]


def _wat_bytes(data: bytes) -> str:
    return "".join(f"\\{b:02x}" for b in data)


@st.composite
def modules(draw) -> GenModule:
    """A random valid module (see the module docstring)."""
    return Gen(draw).module()


@st.composite
def module_and_calls(draw, max_calls: int = 4):
    """A module plus a list of calls `(export index, [raw int args])` to make, in order."""
    m = draw(modules())
    calls = []
    for _ in range(draw(st.integers(1, max_calls))):
        i = draw(st.integers(0, len(m.funcs) - 1))
        args = [draw(bits_strategy(t)) for t in m.funcs[i].params]
        # float params travel as their bit patterns: same width ints
        calls.append((i, args))
    return m, calls
