"""Superinstructions: fuse common instruction sequences of a module's internal code.

A fused sequence keeps "one Wasm instruction = one internal instruction": only the opcode word of
its FIRST instruction is overwritten (with a fused opcode >= 0x200, native/fusion.h); the other
instructions keep their words, and the fused handler reads their immediates in place and continues
after the sequence. The original first word is kept in the module's `probe_ops` buffer at the same
index (the interpreter's global-probe / limits hook dispatches it from there, so those modes run
each instruction on its own; the JIT reads it from there too).

Rules
- A sequence never contains a branch target except at its first instruction, and never a call
  (a frame is never stopped inside a sequence: nothing in it leaves the interpreter loop).
- A trap inside a sequence reports the ip of the instruction that traps (the handler moves ip first).
- Probes: before a probe is inserted at any instruction of a fused sequence, the instrumentation
  calls `unfuse(module, w)` (restores the first word); after the last probe in the sequence is
  removed, `refuse(module, w)` writes the fused word again. Words are absolute indices into
  `module._code` (= code offset of the function + ip).

Patterns (first match wins at each instruction, scanning forward):
    local.get a; local.get b; BINOP          local.get a; CONST; BINOP
    local.get a; i32.const; STORE            local.get a; LOAD
    local.get a; local.set b                 local.get a; br_if
    local.get b; BINOP                       CONST; BINOP
    CMP; br_if   (i32.eqz/i64.eqz too)       local.tee x; br_if
    i32.const k; local.set x                 BINOP; local.set x     BINOP; local.tee x
BINOP: the non-trapping i32/i64 binary operators and compares, f64 add/sub/mul/div/compares.
"""
from __future__ import annotations

FB_LLB, FB_LCB, FB_LB, FB_CB, FB_CBR, FB_MISC, FB_BS, FB_BT = (
    0x200, 0x300, 0x400, 0x500, 0x600, 0x700, 0x800, 0x900)
OP_FUSED_BASE = 0x200
M_TEE_BRIF, M_LG_LS, M_LG_BRIF, M_K_LS = FB_MISC, FB_MISC + 1, FB_MISC + 2, FB_MISC + 3

_LOCAL_GET, _LOCAL_SET, _LOCAL_TEE, _BR_IF = 0x20, 0x21, 0x22, 0x0D
_I32_CONST = 0x41
_CONSTS = (0x41, 0x42, 0x43, 0x44)
_BRANCHES = (0x0C, 0x0D)       # br, br_if: target_ip at ip+1
_IF, _ELSE, _BR_TABLE = 0x04, 0x05, 0x0E

_supported: frozenset | None = None


def supported() -> frozenset:
    """The fused opcodes the native interpreter implements (asked once from native code)."""
    global _supported
    if _supported is None:
        from .native import lib
        _supported = frozenset(op for op in range(OP_FUSED_BASE, 0xA00) if lib.wz_fusable(op))
    return _supported


def branch_targets(code, ips) -> set:
    """Every ip some branch/if/else of the function may continue at."""
    t = set()
    for ip in ips:
        op = code[ip]
        if op in _BRANCHES or op == _IF or op == _ELSE:
            t.add(code[ip + 1])
        elif op == _BR_TABLE:
            n = code[ip + 1]
            for k in range(n + 1):
                t.add(code[ip + 2 + 3 * k])
    return t


def plan(fc, ok: frozenset | None = None) -> list[tuple[int, int, tuple]]:
    """Fused sequences of one function: [(first ip, fused opcode, ips of all its instructions)]."""
    if ok is None:
        ok = supported()
    code = fc.code
    ips = sorted(fc.pc_of_ip)
    ops = [code[ip] for ip in ips]
    targets = branch_targets(code, ips)
    n = len(ips)
    out = []
    k = 0
    while k < n:
        o0 = ops[k]
        o1 = ops[k + 1] if k + 1 < n else -1
        o2 = ops[k + 2] if k + 2 < n else -1
        fused = length = 0
        if o0 == _LOCAL_GET:
            if o1 == _LOCAL_GET and FB_LLB + o2 in ok:
                fused, length = FB_LLB + o2, 3
            elif o1 in _CONSTS and FB_LCB + o2 in ok:
                fused, length = FB_LCB + o2, 3
            elif o1 == _I32_CONST and 0x36 <= o2 <= 0x3E and FB_MISC + o2 in ok:
                fused, length = FB_MISC + o2, 3
            elif 0x28 <= o1 <= 0x35 and FB_MISC + o1 in ok:
                fused, length = FB_MISC + o1, 2
            elif o1 == _LOCAL_SET:
                fused, length = M_LG_LS, 2
            elif o1 == _BR_IF:
                fused, length = M_LG_BRIF, 2
            elif FB_LB + o1 in ok:
                fused, length = FB_LB + o1, 2
        elif o0 in _CONSTS:
            if FB_CB + o1 in ok:
                fused, length = FB_CB + o1, 2
            elif o0 == _I32_CONST and o1 == _LOCAL_SET:
                fused, length = M_K_LS, 2
        elif o0 == _LOCAL_TEE:
            if o1 == _BR_IF:
                fused, length = M_TEE_BRIF, 2
        elif o0 < 0x100:
            if o1 == _BR_IF and FB_CBR + o0 in ok:
                fused, length = FB_CBR + o0, 2
            elif o1 == _LOCAL_SET and FB_BS + o0 in ok:
                fused, length = FB_BS + o0, 2
            elif o1 == _LOCAL_TEE and FB_BT + o0 in ok:
                fused, length = FB_BT + o0, 2
        if length and fused in ok and not any(ips[k + j] in targets for j in range(1, length)):
            out.append((ips[k], fused, tuple(ips[k:k + length])))
            k += length
        else:
            k += 1
    return out


def fuse_module(module) -> None:
    """Fuse the module's code buffer (`module._code`, words laid out at `module._code_offsets`).
    Records `module._fuse_of` (word of each instruction in a sequence -> word of its first) and
    `module._fuse_seq` (first word -> (fused opcode, words of its instructions))."""
    fuse_of: dict[int, int] = {}
    fuse_seq: dict[int, tuple] = {}
    module._fuse_of, module._fuse_seq = fuse_of, fuse_seq
    if not getattr(module.engine.config, "superinstructions", True):
        return
    code, ops = module._code, module._probe_ops
    ok = supported()
    for fc, off in zip(module.codes, module._code_offsets):
        for ip, fused, members in plan(fc, ok):
            s = off + ip
            ws = tuple(off + m for m in members)
            for w in ws:
                fuse_of[w] = s
            fuse_seq[s] = (fused, ws)
            ops[s] = code[s]            # the original word, for the hook and the JIT
            code[s] = fused


def unfuse(module, w: int) -> None:
    """A probe is about to be inserted at word `w`: restore the original first word of the
    fused sequence containing `w` (if any)."""
    s = module.__dict__.get("_fuse_of", {}).get(w)
    if s is not None and module._code[s] >= OP_FUSED_BASE:
        module._code[s] = module._probe_ops[s]


def refuse(module, w: int) -> None:
    """The last probe at word `w` was removed (its word restored): fuse its sequence again if no
    probe is left in it."""
    s = module.__dict__.get("_fuse_of", {}).get(w)
    if s is None:
        return
    fused, ws = module._fuse_seq[s]
    code = module._code
    if code[s] == module._probe_ops[s] and all(code[m] < 0x120 for m in ws[1:]):
        code[s] = fused


def original_word(code, probe_ops, ip: int) -> int:
    """The opcode word at `ip` as the validator emitted it (not fused; OP_PROBE stays)."""
    w = code[ip]
    return probe_ops[ip] if w >= OP_FUSED_BASE else w
