"""The Wasm 2.0 validator, which also emits the internal code (docs/internal-code.md).

`validate_module(m)` checks every module-level rule of the spec (imports, limits, constant
expressions, segments, start function, exports, declared function references) and then each
function body in a single pass: it decodes the instructions (raising `DecodeError` for what the
spec calls malformed), runs the spec's operand/control stack algorithm (raising
`ValidationError(message, func, pc)` with the spec's messages) and, at the same time, emits the
function's internal code with its branch side table resolved. It returns one `FuncCode` per
defined function.

The per-function loop is written for speed: bodies are sliced into their own `bytes` (so pc is
the index), one-byte LEB values are read inline, the numeric instructions are checked from a
table, and per-instruction bookkeeping goes into flat lists that are zipped at the end.
"""
from __future__ import annotations

import struct
from array import array
from dataclasses import dataclass

from . import opcodes as ops
from .binary import VALTYPES
from .errors import DecodeError, ValidationError
from .leb128 import read_s32, read_s33, read_s64, read_u32
from .syntax import FUNC, GLOBAL, MEMORY, TABLE, ConstExpr, ModuleDef
from .types import EXTERNREF, F32, F64, FUNCREF, I32, I64, Limits

MAX_PAGES = 65536
UNKNOWN = 0           # the bottom type of the stack-polymorphic operand stack
_NUMERIC = (I32, I64, F32, F64)
_F64 = struct.Struct("<Q")


@dataclass(slots=True)
class FuncCode:
    """What the validator produces for one defined function (docs/internal-code.md)."""
    index: int                    # function index (imports first)
    type_index: int
    num_params: int
    num_results: int
    local_types: list[int]        # params + declared locals
    num_locals: int
    max_stack: int                # maximum operand-stack height
    code: array                   # array('I') of internal code words
    ip_of_pc: dict[int, int]
    pc_of_ip: dict[int, int]
    instrs: list[tuple[int, int]]  # (pc, opcode); opcode is the Wasm instruction's number (0x1C for select t)
    heights: list[int]            # operand height before each instruction, parallel to instrs
    body_offset: int              # absolute offset of pc 0 in the module
    end_pc: int                   # pc of the final `end`


class _Ctx:
    """Module-level validation context (the spec's C)."""
    __slots__ = ("types", "funcs", "tables", "mems", "globals", "elems", "data_count", "refs",
                 "func_params", "func_results", "has_data", "type_params", "type_results", "names_of")

    def __init__(self) -> None:
        self.refs: set[int] = set()


def _limits(lim: Limits, bound: int, what: str) -> None:
    if lim.min > bound:
        raise ValidationError(what)
    if lim.max is not None:
        if lim.max > bound:
            raise ValidationError(what)
        if lim.min > lim.max:
            raise ValidationError("size minimum must not be greater than maximum")


def _mem_limits(lim: Limits) -> None:
    _limits(lim, MAX_PAGES, "memory size must be at most 65536 pages (4GiB)")


def _table_limits(lim: Limits) -> None:
    _limits(lim, 0xFFFFFFFF, "table size must be at most 2^32-1")


def _const_type(e: ConstExpr, expected: int, ctx: _Ctx, num_globals: int) -> None:
    """Check a constant expression of type `expected`; only the first `num_globals` globals
    (the imported ones) may be read, and they must be immutable."""
    stack: list[int] = []
    for op, imm in e.instrs:
        if op == 0x41:
            stack.append(I32)
        elif op == 0x42:
            stack.append(I64)
        elif op == 0x43:
            stack.append(F32)
        elif op == 0x44:
            stack.append(F64)
        elif op == 0xD0:
            stack.append(imm)
        elif op == 0xD2:
            if imm >= len(ctx.funcs):
                raise ValidationError("unknown function")
            ctx.refs.add(imm)
            stack.append(FUNCREF)
        elif op == 0x23:
            if imm >= num_globals:
                raise ValidationError("unknown global")
            g = ctx.globals[imm]
            if g.mutable:
                raise ValidationError("constant expression required")
            stack.append(g.valtype)
        else:
            raise ValidationError("constant expression required")
    if stack != [expected]:
        raise ValidationError("type mismatch")


def validate_module(m: ModuleDef, _record_func: int | None = None) -> list[FuncCode]:
    """Validate `m`; return the internal code of each defined function.

    (`_record_func`: see `operand_types`.)"""
    ctx = _Ctx()
    ntypes = len(m.types)
    ctx.types = m.types
    funcs: list[int] = []
    tables = []
    mems = []
    globals_ = []
    for imp in m.imports:
        if imp.kind == FUNC:
            if imp.desc >= ntypes:  # type: ignore[operator]
                raise ValidationError("unknown type")
            funcs.append(imp.desc)
        elif imp.kind == TABLE:
            _table_limits(imp.desc.limits)  # type: ignore[attr-defined]
            tables.append(imp.desc)
        elif imp.kind == MEMORY:
            _mem_limits(imp.desc.limits)  # type: ignore[attr-defined]
            mems.append(imp.desc)
        else:
            globals_.append(imp.desc)
    num_imported_globals = len(globals_)
    num_imported_funcs = len(funcs)
    for ti in m.funcs:
        if ti >= ntypes:
            raise ValidationError("unknown type")
        funcs.append(ti)
    for t in m.tables:
        _table_limits(t.limits)
        tables.append(t)
    for mt in m.memories:
        _mem_limits(mt.limits)
        mems.append(mt)
    if len(mems) > 1:
        raise ValidationError("multiple memories")
    ctx.funcs = funcs
    ctx.tables = tables
    ctx.mems = mems
    ctx.globals = globals_
    for g in m.globals:
        _const_type(g.init, g.type.valtype, ctx, num_imported_globals)
        globals_.append(g.type)
    for seg in m.elems:
        if seg.mode == "active":
            if seg.table >= len(tables):
                raise ValidationError("unknown table")
            _const_type(seg.offset, I32, ctx, num_imported_globals)  # type: ignore[arg-type]
            if tables[seg.table].elem_type != seg.elem_type:
                raise ValidationError("type mismatch")
        for e in seg.init:
            _const_type(e, seg.elem_type, ctx, num_imported_globals)
    for ds in m.datas:
        if ds.mode == "active":
            if ds.memory >= len(mems):
                raise ValidationError("unknown memory")
            _const_type(ds.offset, I32, ctx, num_imported_globals)  # type: ignore[arg-type]
    if m.start is not None:
        if m.start >= len(funcs):
            raise ValidationError("unknown function")
        ft = m.types[funcs[m.start]]
        if ft.params or ft.results:
            raise ValidationError("start function")
    seen: set[str] = set()
    for ex in m.exports:
        if ex.kind == FUNC:
            if ex.index >= len(funcs):
                raise ValidationError("unknown function")
            ctx.refs.add(ex.index)
        elif ex.kind == TABLE:
            if ex.index >= len(tables):
                raise ValidationError("unknown table")
        elif ex.kind == MEMORY:
            if ex.index >= len(mems):
                raise ValidationError("unknown memory")
        elif ex.kind == GLOBAL:
            if ex.index >= len(globals_):
                raise ValidationError("unknown global")
        if ex.name in seen:
            raise ValidationError("duplicate export name")
        seen.add(ex.name)
    ctx.elems = [s.elem_type for s in m.elems]
    ctx.data_count = m.data_count
    # A binary without a data count section whose code uses memory.init/data.drop is malformed
    # when it has data segments; without any data segment the index is simply unknown.
    ctx.has_data = bool(m.datas)
    ctx.type_params = [list(t.params) for t in m.types]
    ctx.type_results = [list(t.results) for t in m.types]
    ctx.func_params = [ctx.type_params[ti] for ti in funcs]
    ctx.func_results = [ctx.type_results[ti] for ti in funcs]
    if _record_func is not None:
        i = _record_func - num_imported_funcs
        body = m.codes[i]
        rec: list = []
        _function(m, ctx, _record_func, m.funcs[i], body,
                  m.raw[body.body_offset:body.body_offset + body.size], [], rec)
        return rec
    return [_validate_function(m, ctx, num_imported_funcs + i, ti, body)
            for i, (ti, body) in enumerate(zip(m.funcs, m.codes))]


def operand_types(m: ModuleDef, funcidx: int) -> list[tuple[int, ...]]:
    """The operand stack's types before each instruction of defined function `funcidx`
    (bottom..top, parallel to `FuncCode.instrs`; 0 = unknown in unreachable code).

    Computed on demand by validating the function again with recording on (the normal
    validation keeps only the heights), e.g. for a probe's `FrameAccessor`."""
    return validate_module(m, _record_func=funcidx)  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------
# Function bodies

# op -> (number of params, param list, result type) for no-immediate numeric instructions
_SIMPLE: list = [None] * 256
for _op, (_p, _r) in ops.SIGNATURES.items():
    if _op < 0x100 and ops.IMMEDIATES[_op] == ops.IMM_NONE and _p:
        _SIMPLE[_op] = (len(_p), list(_p), _r[0])
_SIMPLE_T = tuple(_SIMPLE)
_LOADS = tuple((ops.SIGNATURES[o][1][0] if ops.is_load(o) else 0) for o in range(0x40))
_STORE_T = tuple(([I32, ops.SIGNATURES[o][0][1]] if ops.is_store(o) else None) for o in range(0x40))
# log2(access size) for each load/store
_NAT_ALIGN = tuple(({1: 0, 2: 1, 4: 2, 8: 3}[ops.ACCESS_SIZE[o]] if o in ops.ACCESS_SIZE else 0)
                   for o in range(0x40))
del _op, _p, _r


def _mismatch() -> ValidationError:
    return ValidationError("type mismatch")


def _pop(vs: list, fr: list, expect: int) -> int:
    """Pop one operand that must be `expect` (UNKNOWN: anything); returns its type."""
    if len(vs) == fr[3]:
        if fr[4]:
            return expect
        raise _mismatch()
    t = vs.pop()
    if t != expect and expect and t:
        raise _mismatch()
    return t or expect


def _pop_vals(vs: list, fr: list, types: list) -> None:
    for t in reversed(types):
        _pop(vs, fr, t)


def _pop_check(vs: list, fr: list, types: list) -> None:
    """Pop `types` (fast path when the stack matches exactly)."""
    n = len(types)
    if n:
        if len(vs) - n >= fr[3] and vs[-n:] == types:
            del vs[-n:]
        else:
            _pop_vals(vs, fr, types)


def _pop_push_label(vs: list, fr: list, types: list) -> None:
    """Pop the label's types and push them back (br_if): unknowns become the label types."""
    n = len(types)
    if n:
        if not (len(vs) - n >= fr[3] and vs[-n:] == types):
            _pop_vals(vs, fr, types)
            vs.extend(types)


def _pop_push_same(vs: list, fr: list, types: list) -> None:
    """Pop the label's types and push back what was popped (br_table): unknowns stay unknown."""
    n = len(types)
    if n and not (len(vs) - n >= fr[3] and vs[-n:] == types):
        popped = []
        for t in reversed(types):
            if len(vs) == fr[3]:
                if not fr[4]:
                    raise _mismatch()
                popped.append(UNKNOWN)
                continue
            u = vs.pop()
            if u != t and u and t:
                raise _mismatch()
            popped.append(u)
        popped.reverse()
        vs.extend(popped)


def _block_type(ctx: _Ctx, d: bytes, pos: int, end: int) -> tuple[list, list, int]:
    b = d[pos]
    if b == 0x40:
        return [], [], pos + 1
    if b in VALTYPES:
        return [], [b], pos + 1
    at = pos
    v, pos = read_s33(d, pos, end)
    if v < 0:
        raise DecodeError("malformed value type", at)
    if v >= len(ctx.types):
        raise ValidationError("unknown type")
    return ctx.type_params[v], ctx.type_results[v], pos


def _zero(d: bytes, pos: int) -> int:
    if d[pos] != 0:
        raise DecodeError("zero byte expected", pos)
    return pos + 1


def _validate_function(m: ModuleDef, ctx: _Ctx, funcidx: int, type_index: int, body) -> FuncCode:
    base = body.body_offset
    d = m.raw[base:base + body.size]
    pcs: list[int] = []
    try:
        return _function(m, ctx, funcidx, type_index, body, d, pcs)
    except ValidationError as e:
        if e.func is not None:
            raise
        raise ValidationError(e.message, func=m.func_name(funcidx),
                              pc=pcs[-1] if pcs else 0) from None
    except DecodeError as e:
        raise DecodeError(e.message, base + (e.offset or 0)) from None
    except IndexError:
        raise DecodeError("unexpected end of section or function", base + len(d)) from None


def _function(m: ModuleDef, ctx: _Ctx, funcidx: int, type_index: int, body, d: bytes,
              pcs: list, record: list | None = None) -> FuncCode:
    end = len(d)
    params = ctx.type_params[type_index]
    results = ctx.type_results[type_index]
    local_types = list(params)
    for cnt, t in body.locals:
        local_types.extend([t] * cnt)
    nlocals = len(local_types)
    globals_ = ctx.globals
    nglobals = len(globals_)
    nfuncs = len(ctx.funcs)
    func_params = ctx.func_params
    func_results = ctx.func_results
    has_mem = bool(ctx.mems)
    tables = ctx.tables
    simple = _SIMPLE_T
    loads = _LOADS
    store_t = _STORE_T
    nat_align = _NAT_ALIGN
    refs = ctx.refs

    # ip 0 is OP_ENTRY, a no-op standing for pc 0 ("function entry", where entry probes go);
    # the first Wasm instruction is at ip 1 (docs/internal-code.md)
    code: list[int] = [ops.OP_ENTRY]
    emit = code.append
    emitn = code.extend
    ips: list[int] = []
    opl: list[int] = []
    hts: list[int] = []
    pcs_append = pcs.append
    ips_append = ips.append
    opl_append = opl.append
    hts_append = hts.append

    vs: list[int] = []
    if record is not None:       # operand_types(): also keep the stack's types per instruction
        def hts_append(h, _a=hts.append, _r=record.append, _vs=vs):
            _a(h)
            _r(tuple(_vs))
    # control frame: [kind, params, results, height, unreachable, fixups, start_ip, else_slot]
    # kind: 0 function, 2 block, 3 loop, 4 if, 5 else
    fr: list = [0, [], results, 0, False, [], 0, -1]
    ctrls: list[list] = [fr]
    pos = body.instr_offset
    end_pc = -1

    while True:
        op = d[pos]
        pcs_append(pos)
        ips_append(len(code))
        hts_append(len(vs))
        pos += 1
        s = simple[op]
        if s is not None:
            opl_append(op)
            emit(op)
            n = s[0]
            if len(vs) - n >= fr[3] and vs[-n:] == s[1]:
                if n == 2:
                    vs.pop()
                vs[-1] = s[2]
            else:
                _pop_vals(vs, fr, s[1])
                vs.append(s[2])
            continue
        opl_append(op)
        if op == 0x20:          # local.get
            x = d[pos]
            if x < 0x80:
                pos += 1
            else:
                x, pos = read_u32(d, pos, end)
            if x >= nlocals:
                raise ValidationError("unknown local")
            vs.append(local_types[x])
            emitn((0x20, x))
        elif op == 0x21 or op == 0x22:    # local.set / local.tee
            x = d[pos]
            if x < 0x80:
                pos += 1
            else:
                x, pos = read_u32(d, pos, end)
            if x >= nlocals:
                raise ValidationError("unknown local")
            t = local_types[x]
            if len(vs) > fr[3] and vs[-1] == t:
                if op == 0x21:
                    vs.pop()
            else:
                _pop(vs, fr, t)
                if op == 0x22:
                    vs.append(t)
            emitn((op, x))
        elif op == 0x41:        # i32.const
            x = d[pos]
            if x < 0x40:
                pos += 1
            else:
                x, pos = read_s32(d, pos, end)
            vs.append(I32)
            emitn((0x41, x & 0xFFFFFFFF))
        elif 0x28 <= op <= 0x3E:    # loads and stores
            a = d[pos]
            if a < 0x80:
                pos += 1
            else:
                a, pos = read_u32(d, pos, end)
            o = d[pos]
            if o < 0x80:
                pos += 1
            else:
                o, pos = read_u32(d, pos, end)
            if a >= 32:
                raise DecodeError("malformed memop flags", pos - 1)
            if not has_mem:
                raise ValidationError("unknown memory")
            if a > nat_align[op]:
                raise ValidationError("alignment must not be larger than natural")
            lt = loads[op]
            if lt:
                if len(vs) > fr[3] and vs[-1] == I32:
                    vs[-1] = lt
                else:
                    _pop(vs, fr, I32)
                    vs.append(lt)
            else:
                _pop_check(vs, fr, store_t[op])
            emitn((op, o))
        elif op == 0x0D or op == 0x0C:    # br_if / br
            x = d[pos]
            if x < 0x80:
                pos += 1
            else:
                x, pos = read_u32(d, pos, end)
            if x >= len(ctrls):
                raise ValidationError("unknown label")
            tf = ctrls[-1 - x]
            lt_ = tf[1] if tf[0] == 3 else tf[2]
            if op == 0x0D:
                if len(vs) > fr[3] and vs[-1] == I32:
                    vs.pop()
                else:
                    _pop(vs, fr, I32)
                _pop_push_label(vs, fr, lt_)
            else:
                _pop_check(vs, fr, lt_)
                del vs[fr[3]:]
                fr[4] = True
            if tf[0] == 3:
                emitn((op, tf[6], len(lt_), tf[3]))
            else:
                tf[5].append(len(code) + 1)
                emitn((op, 0, len(lt_), tf[3]))
        elif op == 0x10:        # call
            x = d[pos]
            if x < 0x80:
                pos += 1
            else:
                x, pos = read_u32(d, pos, end)
            if x >= nfuncs:
                raise ValidationError("unknown function")
            _pop_check(vs, fr, func_params[x])
            vs.extend(func_results[x])
            emitn((0x10, x))
        elif op == 0x0B:        # end
            _pop_check(vs, fr, fr[2])
            if len(vs) != fr[3]:
                raise _mismatch()
            kind = fr[0]
            ip = len(code)
            if kind == 4 and fr[1] != fr[2]:
                raise _mismatch()
            # An `end` is reached by fallthrough or by a branch (function label, `if` without
            # else, `else`) — with the block's results on the stack either way, even when the
            # fallthrough path was unreachable and the recorded height was polymorphic.
            hts[-1] = fr[3] + len(fr[2])
            if record is not None:
                record[-1] = tuple(vs) + tuple(fr[2])
            ctrls.pop()
            if kind == 0:
                emitn((0x0F, len(results)))
                for slot in fr[5]:
                    code[slot] = ip
                end_pc = pos - 1
                if pos != end:
                    raise DecodeError("section size mismatch", pos)
                vs.extend(results)
                break
            emit(0x0B)
            nxt = ip + 1
            for slot in fr[5]:
                code[slot] = nxt
            if fr[7] >= 0:
                code[fr[7]] = ip
            vs.extend(fr[2])
            fr = ctrls[-1]
        elif op == 0x02 or op == 0x03 or op == 0x04:    # block / loop / if
            b = d[pos]
            if b == 0x40:
                bp: list = []
                br_: list = []
                pos += 1
            elif b in VALTYPES:
                bp = []
                br_ = [b]
                pos += 1
            else:
                bp, br_, pos = _block_type(ctx, d, pos, end)
            if op == 0x04:
                if len(vs) > fr[3] and vs[-1] == I32:
                    vs.pop()
                else:
                    _pop(vs, fr, I32)
            if bp:
                _pop_check(vs, fr, bp)
            ip = len(code)
            fr = [op, bp, br_, len(vs), False, [], ip, -1]
            ctrls.append(fr)
            vs.extend(bp)
            if op == 0x04:
                fr[7] = ip + 1
                emitn((0x04, 0))
            else:
                emit(op)
        elif op == 0x23:        # global.get
            x = d[pos]
            if x < 0x80:
                pos += 1
            else:
                x, pos = read_u32(d, pos, end)
            if x >= nglobals:
                raise ValidationError("unknown global")
            vs.append(globals_[x].valtype)
            emitn((0x23, x))
        elif op == 0x24:        # global.set
            x = d[pos]
            if x < 0x80:
                pos += 1
            else:
                x, pos = read_u32(d, pos, end)
            if x >= nglobals:
                raise ValidationError("unknown global")
            g = globals_[x]
            if not g.mutable:
                raise ValidationError("global is immutable")
            _pop(vs, fr, g.valtype)
            emitn((0x24, x))
        elif op == 0x1A:        # drop
            if len(vs) > fr[3]:
                vs.pop()
            elif not fr[4]:
                raise _mismatch()
            emit(0x1A)
        elif op == 0x1B or op == 0x1C:    # select
            if op == 0x1C:
                n, pos = read_u32(d, pos, end)
                ts = []
                for _ in range(n):
                    t = d[pos]
                    if t not in VALTYPES:
                        raise DecodeError("malformed value type", pos)
                    ts.append(t)
                    pos += 1
                if n != 1:
                    raise ValidationError("invalid result arity")
                _pop(vs, fr, I32)
                _pop(vs, fr, ts[0])
                _pop(vs, fr, ts[0])
                vs.append(ts[0])
            else:
                _pop(vs, fr, I32)
                t1 = _pop(vs, fr, UNKNOWN)
                t2 = _pop(vs, fr, UNKNOWN)
                if (t1 and t1 not in _NUMERIC) or (t2 and t2 not in _NUMERIC):
                    raise _mismatch()
                if t1 and t2 and t1 != t2:
                    raise _mismatch()
                vs.append(t1 or t2)
            emit(0x1B)
        elif op == 0x42:        # i64.const
            v, pos = read_s64(d, pos, end)
            v &= 0xFFFFFFFFFFFFFFFF
            vs.append(I64)
            emitn((0x42, v & 0xFFFFFFFF, v >> 32))
        elif op == 0x0F:        # return
            _pop_check(vs, fr, results)
            del vs[fr[3]:]
            fr[4] = True
            emitn((0x0F, len(results)))
        elif op == 0x0E:        # br_table
            n, pos = read_u32(d, pos, end)
            if n > end - pos:
                raise IndexError
            labels = []
            for _ in range(n + 1):
                x = d[pos]
                if x < 0x80:
                    pos += 1
                else:
                    x, pos = read_u32(d, pos, end)
                labels.append(x)
            _pop(vs, fr, I32)
            nctrl = len(ctrls)
            dflt = labels[-1]
            if dflt >= nctrl:
                raise ValidationError("unknown label")
            tf = ctrls[-1 - dflt]
            arity = len(tf[1] if tf[0] == 3 else tf[2])
            emitn((0x0E, n))
            for x in labels:
                if x >= nctrl:
                    raise ValidationError("unknown label")
                tf = ctrls[-1 - x]
                lt_ = tf[1] if tf[0] == 3 else tf[2]
                if len(lt_) != arity:
                    raise _mismatch()
                _pop_push_same(vs, fr, lt_)
                if tf[0] == 3:
                    emitn((tf[6], arity, tf[3]))
                else:
                    tf[5].append(len(code))
                    emitn((0, arity, tf[3]))
            _pop_check(vs, fr, lt_)
            del vs[fr[3]:]
            fr[4] = True
        elif op == 0x05:        # else
            if fr[0] != 4:
                raise DecodeError("else without matching if", pos - 1)
            _pop_check(vs, fr, fr[2])
            if len(vs) != fr[3]:
                raise _mismatch()
            ip = len(code)
            code[fr[7]] = ip + 2
            fr[7] = ip + 1
            fr[0] = 5
            fr[4] = False
            vs.extend(fr[1])
            emitn((0x05, 0))
        elif op == 0x11:        # call_indirect
            x, pos = read_u32(d, pos, end)
            y, pos = read_u32(d, pos, end)
            if y >= len(tables):
                raise ValidationError("unknown table")
            if x >= len(ctx.types):
                raise ValidationError("unknown type")
            if tables[y].elem_type != FUNCREF:
                raise _mismatch()
            _pop(vs, fr, I32)
            _pop_check(vs, fr, ctx.type_params[x])
            vs.extend(ctx.type_results[x])
            emitn((0x11, x, y))
        elif op == 0x00:        # unreachable
            del vs[fr[3]:]
            fr[4] = True
            emit(0x00)
        elif op == 0x01:        # nop
            emit(0x01)
        elif op == 0x43:        # f32.const
            if end - pos < 4:
                raise IndexError
            vs.append(F32)
            emitn((0x43, d[pos] | d[pos + 1] << 8 | d[pos + 2] << 16 | d[pos + 3] << 24))
            pos += 4
        elif op == 0x44:        # f64.const
            if end - pos < 8:
                raise IndexError
            v = _F64.unpack_from(d, pos)[0]
            pos += 8
            vs.append(F64)
            emitn((0x44, v & 0xFFFFFFFF, v >> 32))
        elif op == 0x3F or op == 0x40:    # memory.size / memory.grow
            pos = _zero(d, pos)
            if not has_mem:
                raise ValidationError("unknown memory")
            if op == 0x40:
                _pop(vs, fr, I32)
            vs.append(I32)
            emit(op)
        elif op == 0xFC:
            at = pos - 1
            sub, pos = read_u32(d, pos, end)
            if sub > 17:
                raise DecodeError("illegal opcode", at)
            op = 0x100 + sub
            opl[-1] = op
            pos = _fc(ctx, op, d, pos, end, vs, fr, emitn, has_mem)
        elif op == 0xD0:        # ref.null
            t = d[pos]
            if t != FUNCREF and t != EXTERNREF:
                raise DecodeError("malformed reference type", pos)
            pos += 1
            vs.append(t)
            emit(0xD0)
        elif op == 0xD1:        # ref.is_null
            t = _pop(vs, fr, UNKNOWN)
            if t and t != FUNCREF and t != EXTERNREF:
                raise _mismatch()
            vs.append(I32)
            emit(0xD1)
        elif op == 0xD2:        # ref.func
            x, pos = read_u32(d, pos, end)
            if x >= nfuncs:
                raise ValidationError("unknown function")
            if x not in refs:
                raise ValidationError("undeclared function reference")
            vs.append(FUNCREF)
            emitn((0xD2, x))
        elif op == 0x25 or op == 0x26:    # table.get / table.set
            x, pos = read_u32(d, pos, end)
            if x >= len(tables):
                raise ValidationError("unknown table")
            et = tables[x].elem_type
            if op == 0x25:
                _pop(vs, fr, I32)
                vs.append(et)
            else:
                _pop(vs, fr, et)
                _pop(vs, fr, I32)
            emitn((op, x))
        elif op == 0xFD:
            raise DecodeError("SIMD is not supported", pos - 1)
        else:
            raise DecodeError("illegal opcode", pos - 1)

    hts_max = max(hts) if hts else 0
    return FuncCode(
        index=funcidx, type_index=type_index, num_params=len(params), num_results=len(results),
        local_types=local_types, num_locals=nlocals, max_stack=max(hts_max, len(results)),
        code=array("I", code), ip_of_pc=dict(zip(pcs, ips)), pc_of_ip=dict(zip(ips, pcs)),
        instrs=list(zip(pcs, opl)), heights=hts, body_offset=body.body_offset, end_pc=end_pc)


def _fc(ctx: _Ctx, op: int, d: bytes, pos: int, end: int, vs: list, fr: list, emitn,
        has_mem: bool) -> int:
    """The 0xFC-prefixed instructions; returns the new pos."""
    if op <= 0x107:             # trunc_sat
        p, r = ops.SIGNATURES[op]
        _pop(vs, fr, p[0])
        vs.append(r[0])
        emitn((op,))
        return pos
    if op == 0x108 or op == 0x109:    # memory.init / data.drop
        x, pos = read_u32(d, pos, end)
        if op == 0x108:
            pos = _zero(d, pos)
        if ctx.data_count is None and ctx.has_data:
            raise DecodeError("data count section required", pos)
        if op == 0x108 and not has_mem:
            raise ValidationError("unknown memory")
        if x >= (ctx.data_count or 0):
            raise ValidationError("unknown data segment")
        if op == 0x108:
            _pop_vals(vs, fr, [I32, I32, I32])
        emitn((op, x))
        return pos
    if op == 0x10A or op == 0x10B:    # memory.copy / memory.fill
        pos = _zero(d, pos)
        if op == 0x10A:
            pos = _zero(d, pos)
        if not has_mem:
            raise ValidationError("unknown memory")
        _pop_vals(vs, fr, [I32, I32, I32])
        emitn((op,))
        return pos
    tables = ctx.tables
    if op == 0x10C:             # table.init e t
        e, pos = read_u32(d, pos, end)
        t, pos = read_u32(d, pos, end)
        if t >= len(tables):
            raise ValidationError("unknown table")
        if e >= len(ctx.elems):
            raise ValidationError("unknown elem segment")
        if tables[t].elem_type != ctx.elems[e]:
            raise _mismatch()
        _pop_vals(vs, fr, [I32, I32, I32])
        emitn((op, e, t))
        return pos
    if op == 0x10D:             # elem.drop
        e, pos = read_u32(d, pos, end)
        if e >= len(ctx.elems):
            raise ValidationError("unknown elem segment")
        emitn((op, e))
        return pos
    if op == 0x10E:             # table.copy dst src
        a, pos = read_u32(d, pos, end)
        b, pos = read_u32(d, pos, end)
        if a >= len(tables) or b >= len(tables):
            raise ValidationError("unknown table")
        if tables[a].elem_type != tables[b].elem_type:
            raise _mismatch()
        _pop_vals(vs, fr, [I32, I32, I32])
        emitn((op, a, b))
        return pos
    x, pos = read_u32(d, pos, end)
    if x >= len(tables):
        raise ValidationError("unknown table")
    et = tables[x].elem_type
    if op == 0x10F:             # table.grow: [t i32] -> [i32]
        _pop_vals(vs, fr, [et, I32])
        vs.append(I32)
    elif op == 0x110:           # table.size
        vs.append(I32)
    else:                       # table.fill: [i32 t i32] -> []
        _pop_vals(vs, fr, [I32, et, I32])
    emitn((op, x))
    return pos
