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
  calls `unfuse(module, d, ip)` (restores the first word, remembers the fused one); after the last
  probe in the sequence is removed, `refuse(module, d, ip)` writes the fused word again.
- The pass itself runs in native code (native/fusion.c: in Python it doubled the load time of
  big modules); `plan` below is the reference implementation the tests compare it with.

Patterns (first match wins at each instruction, scanning forward):
    local.get a; local.get b; BINOP; local.set c / local.tee c
    local.get a; local.get b; CMP; br_if     local.get a; CONST; BINOP; local.set c
    local.get a; CONST; CMP; br_if           local.get b; CMP; br_if
    local.get a; local.get b; BINOP          local.get a; CONST; BINOP
    local.get a; i32.const; STORE            local.get a; LOAD
    local.get a; local.set b                 local.get a; br_if
    local.get b; BINOP                       CONST; BINOP
    CMP; br_if   (i32.eqz/i64.eqz too)       local.tee x; br_if
    i32.const k; local.set x                 BINOP; local.set x     BINOP; local.tee x
BINOP: the non-trapping i32/i64 binary operators and compares, f64 add/sub/mul/div/compares.
"""
from __future__ import annotations

import bisect

FB_LLB, FB_LCB, FB_LB, FB_CB, FB_CBR, FB_MISC, FB_BS, FB_BT = (
    0x200, 0x300, 0x400, 0x500, 0x600, 0x700, 0x800, 0x900)
FB_LLBS, FB_LLBT, FB_LCBS, FB_LBBR, FB_LLCBR, FB_LCCBR = 0xA00, 0xB00, 0xC00, 0xD00, 0xE00, 0xF00
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
        _supported = frozenset(op for op in range(OP_FUSED_BASE, 0x1000) if lib.wz_fusable(op))
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
        o3 = ops[k + 3] if k + 3 < n else -1
        fused = length = 0
        if o0 == _LOCAL_GET:
            if o1 == _LOCAL_GET and o3 == _LOCAL_SET and FB_LLBS + o2 in ok:
                fused, length = FB_LLBS + o2, 4
            elif o1 == _LOCAL_GET and o3 == _LOCAL_TEE and FB_LLBT + o2 in ok:
                fused, length = FB_LLBT + o2, 4
            elif o1 == _LOCAL_GET and o3 == _BR_IF and FB_LLCBR + o2 in ok:
                fused, length = FB_LLCBR + o2, 4
            elif o1 == _LOCAL_GET and FB_LLB + o2 in ok:
                fused, length = FB_LLB + o2, 3
            elif o1 in _CONSTS and o3 == _LOCAL_SET and FB_LCBS + o2 in ok:
                fused, length = FB_LCBS + o2, 4
            elif o1 in _CONSTS and o3 == _BR_IF and FB_LCCBR + o2 in ok:
                fused, length = FB_LCCBR + o2, 4
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
            elif o2 == _BR_IF and FB_LBBR + o1 in ok:
                fused, length = FB_LBBR + o1, 3
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


def seq_len(fused: int) -> int:
    """Number of instructions a fused opcode stands for."""
    fam = fused & ~0xFF
    if fam in (FB_LLBS, FB_LLBT, FB_LCBS, FB_LLCBR, FB_LCCBR):
        return 4
    if fam in (FB_LLB, FB_LCB, FB_LBBR) or (fam == FB_MISC and 0x36 <= (fused & 0xFF) <= 0x3E):
        return 3
    return 2


def fuse_module(module) -> None:
    """Fuse the module's code buffer (`module._code`, functions at `module._code_offsets`) in
    native code (native/fusion.c, the same rules as `plan`). `module._unfused` (a native word
    array, every wz_func's `probe_fused`, made with the module's probe buffers when its first
    probe is inserted: `unfused_words`) keeps the fused word of each sequence that a probe has
    un-fused, at the word of its first instruction (0: not un-fused)."""
    module._unfused = None
    module._fuse_ips = {}
    module._fused_count = 0
    if not getattr(module.engine.config, "superinstructions", True):
        return
    from .native import lib
    code, ops = module._code, module._probe_ops
    total = 0
    for fc, off in zip(module.codes, module._code_offsets):
        n = len(fc.code)
        if n > 1:
            r = lib.wz_fuse(code + off, ops + off, n)
            if r < 0:
                raise AssertionError(f"superinstructions: unexpected internal code in {fc.index}")
            total += r
    module._fused_count = total


def unfused_words(module):
    """`module._unfused`, allocated on first use (no memory for a module never probed)."""
    if module._unfused is None:
        from .native import ffi
        module._unfused = ffi.new("uint32_t[]", max(module._code_total, 1))
    return module._unfused


def _seq_at(module, d: int, ip: int):
    """(first word, fused opcode, words of its instructions) of the fused sequence (fused now,
    or un-fused by a probe) that contains instruction `ip` of defined function `d`, or None."""
    if not module.__dict__.get("_fused_count"):
        return None
    ips = module._fuse_ips.get(d)
    if ips is None:
        ips = module._fuse_ips[d] = sorted(module.codes[d].pc_of_ip)
    k = bisect.bisect_left(ips, ip)
    if k >= len(ips) or ips[k] != ip:
        return None                      # ip 0 (entry) or not an instruction
    off = module._code_offsets[d]
    code, saved = module._code, module._unfused
    for j in range(k, k - 4, -1):      # sequences are at most 4 instructions long
        if j < 0:
            break
        s = off + ips[j]
        word = code[s]
        if word < OP_FUSED_BASE:
            word = saved[s] if saved is not None else 0
        if word >= OP_FUSED_BASE:
            n = seq_len(word)
            if j + n > k:
                return s, word, tuple(off + ips[i] for i in range(j, j + n))
            return None                  # sequences never overlap
    return None


def unfuse(module, d: int, ip: int) -> None:
    """A probe is about to be inserted at instruction `ip` of defined function `d`: restore the
    original first word of the fused sequence containing it (if any)."""
    r = _seq_at(module, d, ip)
    if r is not None:
        s, fused, _ = r
        code = module._code
        if code[s] >= OP_FUSED_BASE:
            unfused_words(module)[s] = fused
            code[s] = module._probe_ops[s]


def refuse(module, d: int, ip: int) -> None:
    """The last probe at instruction `ip` of `d` was removed (its word restored): fuse its
    sequence again if no probe is left in it."""
    r = _seq_at(module, d, ip)
    if r is None:
        return
    s, fused, ws = r
    code = module._code
    saved = module._unfused
    if saved is not None and saved[s] and code[s] == module._probe_ops[s] and \
            all(code[m] < 0x120 for m in ws[1:]):
        code[s] = saved[s]
        saved[s] = 0


def original_word(code, probe_ops, ip: int) -> int:
    """The opcode word at `ip` as the validator emitted it (not fused; OP_PROBE stays)."""
    w = code[ip]
    return probe_ops[ip] if w >= OP_FUSED_BASE else w
