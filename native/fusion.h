/* fusion.h — superinstructions of the interpreter (included by interp.c only; not parsed by cffi).
 *
 * A superinstruction replaces ONLY the opcode word of the first instruction of a short sequence;
 * every following instruction keeps its own words in place, so "one Wasm instruction = one
 * internal instruction" still holds and every pc stays an instruction boundary. The fused handler
 * reads the immediates of the following instructions from their normal positions and continues
 * after the sequence. The choice of sequences, and un-fusing before a probe is inserted anywhere
 * in one, is wizardpy/fusion.py's job; the original opcode word of a fused first instruction is
 * kept in func->probe_ops[ip] (the global-probe/limits hook dispatches it, so those modes run
 * every instruction of the sequence on its own). See docs/internal-code.md "Superinstructions".
 *
 * Fused opcode = family base + the Wasm opcode that names it (the binop, compare, load, store):
 */
#ifndef WZ_FUSION_H
#define WZ_FUSION_H

#define OP_FUSED_BASE 0x200
#define FB_LLB  0x200   /* local.get a; local.get b; BINOP            push a OP b */
#define FB_LCB  0x300   /* local.get a; CONST k; BINOP                push a OP k */
#define FB_LB   0x400   /* local.get b; BINOP                         top = top OP b */
#define FB_CB   0x500   /* CONST k; BINOP                             top = top OP k */
#define FB_CBR  0x600   /* CMP; br_if  (and i32.eqz/i64.eqz; br_if)   branch on a CMP b */
#define FB_MISC 0x700   /* +0 local.tee x; br_if   +1 local.get a; local.set b
                         * +2 local.get a; br_if   +3 i32.const k; local.set x
                         * +LOAD  local.get a; LOAD off       (0x728..0x735)
                         * +STORE local.get a; i32.const k; STORE off  (0x736, 0x73A, 0x73B) */
#define FB_BS   0x800   /* BINOP; local.set x */
#define FB_BT   0x900   /* BINOP; local.tee x */
#define FB_LLBS 0xA00   /* local.get a; local.get b; BINOP; local.set c */
#define FB_LLBT 0xB00   /* local.get a; local.get b; BINOP; local.tee c */
#define FB_LCBS 0xC00   /* local.get a; CONST k; BINOP; local.set c */
#define FB_LBBR 0xD00   /* local.get b; CMP; br_if */
#define FB_LLCBR 0xE00  /* local.get a; local.get b; CMP; br_if */
#define FB_LCCBR 0xF00  /* local.get a; CONST k; CMP; br_if */
#define NUM_FUSED_OPS 0x1000

/* Operand readers (G), result writers (P) and constant widths (KW words) per type. */
#define G32(v) ((uint32_t)(v))
#define G64(v) ((uint64_t)(v))
#define GF64(v) f64_of(v)
#define P32(x) ((wz_val)(uint32_t)(x))
#define P64(x) ((wz_val)(uint64_t)(x))
#define PF64(x) of_f64(x)
#define KVAL(p, KW) ((KW) == 1 ? (wz_val)(p)[0] : ((wz_val)(p)[0] | ((wz_val)(p)[1] << 32)))

/* X(op, G, P, KW, expr) with operands a (below) and b (top). No trapping operator is here. */
#define WZ_CMPOPS(X) \
    X(0x46, G32, P32, 1, a == b) X(0x47, G32, P32, 1, a != b) \
    X(0x48, G32, P32, 1, (int32_t)a < (int32_t)b) X(0x49, G32, P32, 1, a < b) \
    X(0x4A, G32, P32, 1, (int32_t)a > (int32_t)b) X(0x4B, G32, P32, 1, a > b) \
    X(0x4C, G32, P32, 1, (int32_t)a <= (int32_t)b) X(0x4D, G32, P32, 1, a <= b) \
    X(0x4E, G32, P32, 1, (int32_t)a >= (int32_t)b) X(0x4F, G32, P32, 1, a >= b) \
    X(0x51, G64, P32, 2, a == b) X(0x52, G64, P32, 2, a != b) \
    X(0x53, G64, P32, 2, (int64_t)a < (int64_t)b) X(0x54, G64, P32, 2, a < b) \
    X(0x55, G64, P32, 2, (int64_t)a > (int64_t)b) X(0x56, G64, P32, 2, a > b) \
    X(0x57, G64, P32, 2, (int64_t)a <= (int64_t)b) X(0x58, G64, P32, 2, a <= b) \
    X(0x59, G64, P32, 2, (int64_t)a >= (int64_t)b) X(0x5A, G64, P32, 2, a >= b) \
    X(0x61, GF64, P32, 2, a == b) X(0x62, GF64, P32, 2, a != b) \
    X(0x63, GF64, P32, 2, a < b) X(0x64, GF64, P32, 2, a > b) \
    X(0x65, GF64, P32, 2, a <= b) X(0x66, GF64, P32, 2, a >= b)
#define WZ_ARITHOPS(X) \
    X(0x6A, G32, P32, 1, a + b) X(0x6B, G32, P32, 1, a - b) X(0x6C, G32, P32, 1, a * b) \
    X(0x71, G32, P32, 1, a & b) X(0x72, G32, P32, 1, a | b) X(0x73, G32, P32, 1, a ^ b) \
    X(0x74, G32, P32, 1, a << (b & 31)) X(0x75, G32, P32, 1, (int32_t)a >> (b & 31)) \
    X(0x76, G32, P32, 1, a >> (b & 31)) X(0x77, G32, P32, 1, rotl32(a, b)) \
    X(0x78, G32, P32, 1, rotr32(a, b)) \
    X(0x7C, G64, P64, 2, a + b) X(0x7D, G64, P64, 2, a - b) X(0x7E, G64, P64, 2, a * b) \
    X(0x83, G64, P64, 2, a & b) X(0x84, G64, P64, 2, a | b) X(0x85, G64, P64, 2, a ^ b) \
    X(0x86, G64, P64, 2, a << (b & 63)) X(0x87, G64, P64, 2, (int64_t)a >> (b & 63)) \
    X(0x88, G64, P64, 2, a >> (b & 63)) X(0x89, G64, P64, 2, rotl64(a, b)) \
    X(0x8A, G64, P64, 2, rotr64(a, b)) \
    X(0xA0, GF64, PF64, 2, a + b) X(0xA1, GF64, PF64, 2, a - b) \
    X(0xA2, GF64, PF64, 2, a * b) X(0xA3, GF64, PF64, 2, a / b)
#define WZ_BINOPS(X) WZ_CMPOPS(X) WZ_ARITHOPS(X)

/* local.get a; LOAD off: X(op, ctype, conv) */
#define WZ_FLOADS(X) \
    X(0x28, uint32_t, ID) X(0x29, uint64_t, ID) X(0x2A, uint32_t, ID) X(0x2B, uint64_t, ID) \
    X(0x2C, uint8_t, SX32_8) X(0x2D, uint8_t, ID) X(0x2E, uint16_t, SX32_16) \
    X(0x2F, uint16_t, ID) X(0x30, uint8_t, SX64_8) X(0x31, uint8_t, ID) \
    X(0x32, uint16_t, SX64_16) X(0x33, uint16_t, ID) X(0x34, uint32_t, SX64_32) \
    X(0x35, uint32_t, ID)
/* local.get a; i32.const k; STORE off: X(op, ctype) */
#define WZ_FSTORES(X) X(0x36, uint32_t) X(0x3A, uint8_t) X(0x3B, uint16_t)

/* ---- dispatch-table entries (inside interp.c's table initializer) ---- */
#define TE_LLB(op, G, P, KW, e) [FB_LLB + op] = &&L_llb_##op,
#define TE_LCB(op, G, P, KW, e) [FB_LCB + op] = &&L_lcb_##op,
#define TE_LB(op, G, P, KW, e) [FB_LB + op] = &&L_lb_##op,
#define TE_CB(op, G, P, KW, e) [FB_CB + op] = &&L_cb_##op,
#define TE_CBR(op, G, P, KW, e) [FB_CBR + op] = &&L_cbr_##op,
#define TE_BS(op, G, P, KW, e) [FB_BS + op] = &&L_bs_##op,
#define TE_BT(op, G, P, KW, e) [FB_BT + op] = &&L_bt_##op,
#define TE_FLOAD(op, ct, conv) [FB_MISC + op] = &&L_fload_##op,
#define TE_FSTORE(op, ct) [FB_MISC + op] = &&L_fstore_##op,
#define TE_LLBS(op, G, P, KW, e) [FB_LLBS + op] = &&L_llbs_##op,
#define TE_LLBT(op, G, P, KW, e) [FB_LLBT + op] = &&L_llbt_##op,
#define TE_LCBS(op, G, P, KW, e) [FB_LCBS + op] = &&L_lcbs_##op,
#define TE_LBBR(op, G, P, KW, e) [FB_LBBR + op] = &&L_lbbr_##op,
#define TE_LLCBR(op, G, P, KW, e) [FB_LLCBR + op] = &&L_llcbr_##op,
#define TE_LCCBR(op, G, P, KW, e) [FB_LCCBR + op] = &&L_lccbr_##op,
#define WZ_FUSED_TABLE_ENTRIES \
    WZ_BINOPS(TE_LLBS) WZ_BINOPS(TE_LLBT) WZ_BINOPS(TE_LCBS) \
    WZ_CMPOPS(TE_LBBR) WZ_CMPOPS(TE_LLCBR) WZ_CMPOPS(TE_LCCBR) \
    WZ_BINOPS(TE_LLB) WZ_BINOPS(TE_LCB) WZ_BINOPS(TE_LB) WZ_BINOPS(TE_CB) \
    WZ_CMPOPS(TE_CBR) WZ_BINOPS(TE_BS) WZ_BINOPS(TE_BT) WZ_FLOADS(TE_FLOAD) WZ_FSTORES(TE_FSTORE) \
    [FB_CBR + 0x45] = &&L_cbr_i32_eqz, [FB_CBR + 0x50] = &&L_cbr_i64_eqz, \
    [FB_MISC + 0] = &&L_tee_brif, [FB_MISC + 1] = &&L_lg_ls, [FB_MISC + 2] = &&L_lg_brif, \
    [FB_MISC + 3] = &&L_k_ls,

/* ---- handlers (inside wz_run; use its NEXT/TRAP/DO_BR and registers) ---- */
#define H_LLB(op, G, P, KW, expr) L_llb_##op: { \
    __auto_type a = G(fp[ip[1]]); __auto_type b = G(fp[ip[3]]); \
    *sp++ = P(expr); ip += 5; NEXT(); }
#define H_LCB(op, G, P, KW, expr) L_lcb_##op: { \
    __auto_type a = G(fp[ip[1]]); __auto_type b = G(KVAL(ip + 3, KW)); \
    *sp++ = P(expr); ip += 4 + KW; NEXT(); }
#define H_LB(op, G, P, KW, expr) L_lb_##op: { \
    __auto_type b = G(fp[ip[1]]); __auto_type a = G(sp[-1]); \
    sp[-1] = P(expr); ip += 3; NEXT(); }
#define H_CB(op, G, P, KW, expr) L_cb_##op: { \
    __auto_type b = G(KVAL(ip + 1, KW)); __auto_type a = G(sp[-1]); \
    sp[-1] = P(expr); ip += 2 + KW; NEXT(); }
#define H_CBR(op, G, P, KW, expr) L_cbr_##op: { \
    __auto_type b = G(sp[-1]); __auto_type a = G(sp[-2]); sp -= 2; \
    if (expr) DO_BR(ip + 2); \
    ip += 5; NEXT(); }
#define H_BS(op, G, P, KW, expr) L_bs_##op: { \
    __auto_type b = G(sp[-1]); __auto_type a = G(sp[-2]); \
    fp[ip[2]] = P(expr); sp -= 2; ip += 3; NEXT(); }
#define H_BT(op, G, P, KW, expr) L_bt_##op: { \
    __auto_type b = G(sp[-1]); __auto_type a = G(sp[-2]); wz_val r_ = P(expr); \
    sp[-2] = r_; fp[ip[2]] = r_; sp--; ip += 3; NEXT(); }
/* the memory access is the second instruction: a trap reports its ip (ip + 2) */
#define H_FLOAD(op, ctype, conv) L_fload_##op: { \
    uint64_t ea_ = (uint64_t)(uint32_t)fp[ip[1]] + ip[3]; \
    if (UNLIKELY(ea_ + sizeof(ctype) > msize)) { ip += 2; TRAP(WZ_TRAP_MEM_OOB); } \
    ctype v_; memcpy(&v_, mbase + ea_, sizeof v_); \
    *sp++ = (wz_val)(conv(v_)); ip += 4; NEXT(); }
/* the store is the third instruction (ip + 4) */
#define H_FSTORE(op, ctype) L_fstore_##op: { \
    uint64_t ea_ = (uint64_t)(uint32_t)fp[ip[1]] + ip[5]; \
    if (UNLIKELY(ea_ + sizeof(ctype) > msize)) { ip += 4; TRAP(WZ_TRAP_MEM_OOB); } \
    ctype v_ = (ctype)ip[3]; memcpy(mbase + ea_, &v_, sizeof v_); \
    ip += 6; NEXT(); }
#define H_LLBS(op, G, P, KW, expr) L_llbs_##op: { \
    __auto_type a = G(fp[ip[1]]); __auto_type b = G(fp[ip[3]]); \
    fp[ip[6]] = P(expr); ip += 7; NEXT(); }
#define H_LLBT(op, G, P, KW, expr) L_llbt_##op: { \
    __auto_type a = G(fp[ip[1]]); __auto_type b = G(fp[ip[3]]); wz_val r_ = P(expr); \
    fp[ip[6]] = r_; *sp++ = r_; ip += 7; NEXT(); }
#define H_LCBS(op, G, P, KW, expr) L_lcbs_##op: { \
    __auto_type a = G(fp[ip[1]]); __auto_type b = G(KVAL(ip + 3, KW)); \
    fp[ip[5 + KW]] = P(expr); ip += 6 + KW; NEXT(); }
#define H_LBBR(op, G, P, KW, expr) L_lbbr_##op: { \
    __auto_type b = G(fp[ip[1]]); __auto_type a = G(*--sp); \
    if (expr) DO_BR(ip + 4); \
    ip += 7; NEXT(); }
#define H_LLCBR(op, G, P, KW, expr) L_llcbr_##op: { \
    __auto_type a = G(fp[ip[1]]); __auto_type b = G(fp[ip[3]]); \
    if (expr) DO_BR(ip + 6); \
    ip += 9; NEXT(); }
#define H_LCCBR(op, G, P, KW, expr) L_lccbr_##op: { \
    __auto_type a = G(fp[ip[1]]); __auto_type b = G(KVAL(ip + 3, KW)); \
    if (expr) DO_BR(ip + 5 + KW); \
    ip += 8 + KW; NEXT(); }
#define WZ_FUSED_HANDLERS \
    WZ_BINOPS(H_LLBS) WZ_BINOPS(H_LLBT) WZ_BINOPS(H_LCBS) \
    WZ_CMPOPS(H_LBBR) WZ_CMPOPS(H_LLCBR) WZ_CMPOPS(H_LCCBR) \
    WZ_BINOPS(H_LLB) WZ_BINOPS(H_LCB) WZ_BINOPS(H_LB) WZ_BINOPS(H_CB) WZ_CMPOPS(H_CBR) \
    WZ_BINOPS(H_BS) WZ_BINOPS(H_BT) WZ_FLOADS(H_FLOAD) WZ_FSTORES(H_FSTORE) \
L_cbr_i32_eqz: \
    if (!(uint32_t)*--sp) DO_BR(ip + 2); \
    ip += 5; NEXT(); \
L_cbr_i64_eqz: \
    if (!*--sp) DO_BR(ip + 2); \
    ip += 5; NEXT(); \
L_tee_brif: {          /* local.tee x; br_if */ \
    wz_val v_ = *--sp; fp[ip[1]] = v_; \
    if ((uint32_t)v_) DO_BR(ip + 3); \
    ip += 6; NEXT(); } \
L_lg_ls:               /* local.get a; local.set b */ \
    fp[ip[3]] = fp[ip[1]]; ip += 4; NEXT(); \
L_lg_brif:             /* local.get a; br_if */ \
    if ((uint32_t)fp[ip[1]]) DO_BR(ip + 3); \
    ip += 6; NEXT(); \
L_k_ls:                /* i32.const k; local.set x */ \
    fp[ip[3]] = ip[1]; ip += 4; NEXT();

/* wz_fusable(op): 1 if `op` is a fused opcode this interpreter implements */
#define CASE5(op, G, P, KW, e) case FB_LLB + op: case FB_LCB + op: case FB_LB + op: case FB_CB + op: \
    case FB_BS + op: case FB_BT + op:
#define CASE_CBR(op, G, P, KW, e) case FB_CBR + op: case FB_LBBR + op: case FB_LLCBR + op: \
    case FB_LCCBR + op:
#define CASE3(op, G, P, KW, e) case FB_LLBS + op: case FB_LLBT + op: case FB_LCBS + op:
#define CASE_FL(op, ct, conv) case FB_MISC + op:
#define CASE_FS(op, ct) case FB_MISC + op:
#define WZ_FUSED_CASES \
    WZ_BINOPS(CASE5) WZ_BINOPS(CASE3) WZ_CMPOPS(CASE_CBR) WZ_FLOADS(CASE_FL) WZ_FSTORES(CASE_FS) \
    case FB_CBR + 0x45: case FB_CBR + 0x50: \
    case FB_MISC + 0: case FB_MISC + 1: case FB_MISC + 2: case FB_MISC + 3:

#endif
