/* interp.c — the wizardpy interpreter: executes the internal code of docs/internal-code.md.
 *
 * Design
 * - Computed-goto dispatch (GCC labels-as-values) through a local pointer `dt` to one of two
 *   constant 0x140-entry tables: `table` (the handlers) or `gtable` (every entry is the global
 *   probe hook, which calls wz_probe_fire(t, 1) and then dispatches through `table`).
 * - The hot state lives in C locals: ip (pointer into the code), sp (one past the top operand),
 *   fp (local 0), opbase (fp + num_locals: operand height 0), mbase/msize (memory 0).
 *   It is written out to the innermost wz_frame / the thread only when control leaves the loop
 *   (callbacks, traps, calls), and reloaded afterwards.
 * - Wasm-to-Wasm calls push a wz_frame and continue in the same loop (no C recursion); host
 *   functions go through wz_host_call. wz_invoke is re-entrant: a host function may call it on
 *   the same thread and its frames and values go above the caller's.
 * - Every memory/table access is bounds-checked with 64-bit arithmetic, every call checks the
 *   frame count and the value stack; traps are return codes.
 */
#include <math.h>
#include <stddef.h>
#include <string.h>
#include <time.h>
#include "wizard.h"
#include "probes.h"

/* Implemented in Python (cffi `extern "Python+C"`), see wizardpy/native.py. */
int wz_host_call(wz_thread *t, wz_func *f, uint32_t base);
int wz_probe_fire(wz_thread *t, uint32_t global_);

#define OP_PROBE 0x120
#define OP_ENTRY 0x121

/* Build variants for measuring what instrumentation support costs when no probe is inserted
 * (bench/probe_free.py builds them under other module names; the engine never uses them):
 * - WZ_NO_PROBES: no OP_PROBE handler (the word traps like an invalid opcode), calls always start
 *   at ip 1 (no entry_ip load), no global-probe part in the hook (which then serves the resource
 *   limits only);
 * - WZ_NO_HOOKS (implies WZ_NO_PROBES): no hook table either (no resource limits): dispatch
 *   through the constant handler table, no table pointer to reload;
 * - WZ_LAYOUT_CONTROL: the full engine plus one dead handler (a cold call-out at an opcode the
 *   validator never emits), a change with no effect on what runs: the spread it causes measures
 *   how much code layout alone moves the timings. */
#ifdef WZ_NO_HOOKS
#ifndef WZ_NO_PROBES
#define WZ_NO_PROBES
#endif
#endif
#ifdef WZ_NO_PROBES
#define WZ_ENTRY_IP(f) 1u
#define WZ_HOOKED(t) ((t)->limits)
#else
#define WZ_ENTRY_IP(f) ((f)->entry_ip)
#define WZ_HOOKED(t) ((t)->global_probes | (t)->limits)
#endif   /* ip 0 of every validated function: a no-op that is "pc 0" (entry) */
#define NUM_OPS 0x1000  /* 0x200.. : superinstructions (fusion.h) */

#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ---- value helpers (float bits travel as integers: NaN payloads are never touched) ---- */
static inline float f32_of(wz_val v) { uint32_t u = (uint32_t)v; float f; memcpy(&f, &u, 4); return f; }
static inline double f64_of(wz_val v) { double d; memcpy(&d, &v, 8); return d; }
static inline wz_val of_f32(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline wz_val of_f64(double d) { wz_val u; memcpy(&u, &d, 8); return u; }

static inline float wz_fminf(float a, float b)
{
    if (a != a || b != b) return a + b;              /* NaN in: an arithmetic NaN out */
    if (a == b) return signbit(a) ? a : b;           /* -0 < +0 */
    return a < b ? a : b;
}
static inline float wz_fmaxf(float a, float b)
{
    if (a != a || b != b) return a + b;
    if (a == b) return signbit(a) ? b : a;
    return a > b ? a : b;
}
static inline double wz_fmin(double a, double b)
{
    if (a != a || b != b) return a + b;
    if (a == b) return signbit(a) ? a : b;
    return a < b ? a : b;
}
static inline double wz_fmax(double a, double b)
{
    if (a != a || b != b) return a + b;
    if (a == b) return signbit(a) ? b : a;
    return a > b ? a : b;
}

static inline uint32_t rotl32(uint32_t x, uint32_t n) { n &= 31; return (x << n) | (x >> ((32 - n) & 31)); }
static inline uint32_t rotr32(uint32_t x, uint32_t n) { n &= 31; return (x >> n) | (x << ((32 - n) & 31)); }
static inline uint64_t rotl64(uint64_t x, uint64_t n) { n &= 63; return (x << n) | (x >> ((64 - n) & 63)); }
static inline uint64_t rotr64(uint64_t x, uint64_t n) { n &= 63; return (x >> n) | (x << ((64 - n) & 63)); }

#include "fusion.h"

int wz_fusable(uint32_t op)
{
    switch (op) {
    WZ_FUSED_CASES
        return 1;
    default:
        return 0;
    }
}

/* Saturating conversions (trunc_sat); the trapping ones check the same bounds inline. */
static inline uint32_t sat_i32_s(double x)
{
    if (x != x) return 0;
    if (x <= -2147483649.0) return 0x80000000u;
    if (x >= 2147483648.0) return 0x7fffffffu;
    return (uint32_t)(int32_t)x;
}
static inline uint32_t sat_i32_u(double x)
{
    if (x != x || x <= -1.0) return 0;
    if (x >= 4294967296.0) return 0xffffffffu;
    return (uint32_t)x;
}
static inline uint64_t sat_i64_s(double x)
{
    if (x != x) return 0;
    if (x < -9223372036854775808.0) return 0x8000000000000000ull;
    if (x >= 9223372036854775808.0) return 0x7fffffffffffffffull;
    return (uint64_t)(int64_t)x;
}
static inline uint64_t sat_i64_u(double x)
{
    if (x != x || x <= -1.0) return 0;
    if (x >= 18446744073709551616.0) return 0xffffffffffffffffull;
    return (uint64_t)x;
}

/* Pin the hottest interpreter state to callee-saved registers: GCC's allocator otherwise spills
 * fp/opbase/mbase in this huge computed-goto function (measured: local.get 9 -> 7 instructions,
 * no stack reload). Semantics do not depend on it. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define WZ_REG(r) __asm__(r)
#else
#define WZ_REG(r)
#endif

/* Read-only stand-in for "no memory" so the memory registers are always valid. */
static const wz_memory wz_no_memory = {0};

static inline const wz_memory *mem0(const wz_instance *inst)
{
    return (inst && inst->num_mems) ? inst->mems[0] : &wz_no_memory;
}

/* Limits mode (see wz_thread in wizard.h): WZ_OK or the trap code. */
/* Slow path, called by the hook when fuel went negative, the interrupt flag is set or the
 * periodic deadline check is due (the fuel of this instruction is already taken). */
static int __attribute__((noinline, cold)) wz_check_limits(wz_thread *t)
{
    if (t->fuel < 0) { t->fuel = 0; return WZ_TRAP_FUEL; }
    if (__atomic_load_n(&t->interrupt, __ATOMIC_RELAXED)) {
        __atomic_store_n(&t->interrupt, 0, __ATOMIC_RELAXED);
        t->fuel++;                      /* the instruction did not run */
        return WZ_TRAP_INTERRUPT;
    }
    if (t->deadline_ns && (t->limit_tick & 1023) == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        if ((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec >= t->deadline_ns) {
            t->fuel++;
            return WZ_TRAP_TIMEOUT;
        }
    }
    return WZ_OK;
}

/* Tiering (wizard.h: wz_func.tier_count/osr_count, wz_thread.jit_hook): the slow path of the
 * counters, off the interpreter's hot path. A call counter reached 0: compile `f` (the hook sets
 * f->jit_entry and re-arms/disables the counter). */
static void __attribute__((noinline, cold)) wz_tier_up(wz_thread *t, wz_func *f)
{
    if (t->jit_hook) t->jit_hook(t, f, 0);
}

/* A loop counter reached 0 at the loop header `ip`: the entry of compiled code that continues
 * the frame there (on-stack replacement), or NULL. Never while compiled code may not run. */
static void *__attribute__((noinline, cold)) wz_osr_entry(wz_thread *t, wz_func *f, uint32_t ip)
{
    if (!t->jit_hook) return NULL;
    return t->jit_hook(t, f, ip);
}

typedef int (*wz_compiled_fn)(wz_thread *, wz_func *, uint32_t);

/* Run from the innermost frame (frames[t->nframes-1], state in its ip/sp) until the frame
 * frames[entry] returns. Returns WZ_OK or a trap code (t->trap_nframes set, frames written).
 * after_probe: the local probe at the first instruction already fired (deoptimization after a
 * probe in compiled code): run the instruction under it, without the global hook either. */
static int __attribute__((noinline, hot)) wz_run(wz_thread *t, uint32_t entry, uint32_t after_probe)
{
    static const void *const table[NUM_OPS] = {
        [0 ... NUM_OPS - 1] = &&L_bad,
        [0x000] = &&L_unreachable,
        [0x001] = &&L_nop,
        [0x002] = &&L_nop,
        [0x003] = &&L_loop,
        [0x004] = &&L_if,
        [0x005] = &&L_else,
        [0x00B] = &&L_nop,
        [0x00C] = &&L_br,
        [0x00D] = &&L_br_if,
        [0x00E] = &&L_br_table,
        [0x00F] = &&L_return,
        [0x010] = &&L_call,
        [0x011] = &&L_call_indirect,
        [0x01A] = &&L_drop,
        [0x01B] = &&L_select,
        [0x020] = &&L_local_get,
        [0x021] = &&L_local_set,
        [0x022] = &&L_local_tee,
        [0x023] = &&L_global_get,
        [0x024] = &&L_global_set,
        [0x025] = &&L_table_get,
        [0x026] = &&L_table_set,
        [0x028] = &&L_i32_load,
        [0x029] = &&L_i64_load,
        [0x02A] = &&L_i32_load,
        [0x02B] = &&L_i64_load,
        [0x02C] = &&L_i32_load8_s,
        [0x02D] = &&L_i32_load8_u,
        [0x02E] = &&L_i32_load16_s,
        [0x02F] = &&L_i32_load16_u,
        [0x030] = &&L_i64_load8_s,
        [0x031] = &&L_i32_load8_u,
        [0x032] = &&L_i64_load16_s,
        [0x033] = &&L_i32_load16_u,
        [0x034] = &&L_i64_load32_s,
        [0x035] = &&L_i32_load,
        [0x036] = &&L_i32_store,
        [0x037] = &&L_i64_store,
        [0x038] = &&L_i32_store,
        [0x039] = &&L_i64_store,
        [0x03A] = &&L_store8,
        [0x03B] = &&L_store16,
        [0x03C] = &&L_store8,
        [0x03D] = &&L_store16,
        [0x03E] = &&L_i32_store,
        [0x03F] = &&L_memory_size,
        [0x040] = &&L_memory_grow,
        [0x041] = &&L_i32_const,
        [0x042] = &&L_i64_const,
        [0x043] = &&L_i32_const,
        [0x044] = &&L_i64_const,
        [0x045] = &&L_i32_eqz,
        [0x046] = &&L_i32_eq,
        [0x047] = &&L_i32_ne,
        [0x048] = &&L_i32_lt_s,
        [0x049] = &&L_i32_lt_u,
        [0x04A] = &&L_i32_gt_s,
        [0x04B] = &&L_i32_gt_u,
        [0x04C] = &&L_i32_le_s,
        [0x04D] = &&L_i32_le_u,
        [0x04E] = &&L_i32_ge_s,
        [0x04F] = &&L_i32_ge_u,
        [0x050] = &&L_i64_eqz,
        [0x051] = &&L_i64_eq,
        [0x052] = &&L_i64_ne,
        [0x053] = &&L_i64_lt_s,
        [0x054] = &&L_i64_lt_u,
        [0x055] = &&L_i64_gt_s,
        [0x056] = &&L_i64_gt_u,
        [0x057] = &&L_i64_le_s,
        [0x058] = &&L_i64_le_u,
        [0x059] = &&L_i64_ge_s,
        [0x05A] = &&L_i64_ge_u,
        [0x05B] = &&L_f32_eq,
        [0x05C] = &&L_f32_ne,
        [0x05D] = &&L_f32_lt,
        [0x05E] = &&L_f32_gt,
        [0x05F] = &&L_f32_le,
        [0x060] = &&L_f32_ge,
        [0x061] = &&L_f64_eq,
        [0x062] = &&L_f64_ne,
        [0x063] = &&L_f64_lt,
        [0x064] = &&L_f64_gt,
        [0x065] = &&L_f64_le,
        [0x066] = &&L_f64_ge,
        [0x067] = &&L_i32_clz,
        [0x068] = &&L_i32_ctz,
        [0x069] = &&L_i32_popcnt,
        [0x06A] = &&L_i32_add,
        [0x06B] = &&L_i32_sub,
        [0x06C] = &&L_i32_mul,
        [0x06D] = &&L_i32_div_s,
        [0x06E] = &&L_i32_div_u,
        [0x06F] = &&L_i32_rem_s,
        [0x070] = &&L_i32_rem_u,
        [0x071] = &&L_i32_and,
        [0x072] = &&L_i32_or,
        [0x073] = &&L_i32_xor,
        [0x074] = &&L_i32_shl,
        [0x075] = &&L_i32_shr_s,
        [0x076] = &&L_i32_shr_u,
        [0x077] = &&L_i32_rotl,
        [0x078] = &&L_i32_rotr,
        [0x079] = &&L_i64_clz,
        [0x07A] = &&L_i64_ctz,
        [0x07B] = &&L_i64_popcnt,
        [0x07C] = &&L_i64_add,
        [0x07D] = &&L_i64_sub,
        [0x07E] = &&L_i64_mul,
        [0x07F] = &&L_i64_div_s,
        [0x080] = &&L_i64_div_u,
        [0x081] = &&L_i64_rem_s,
        [0x082] = &&L_i64_rem_u,
        [0x083] = &&L_i64_and,
        [0x084] = &&L_i64_or,
        [0x085] = &&L_i64_xor,
        [0x086] = &&L_i64_shl,
        [0x087] = &&L_i64_shr_s,
        [0x088] = &&L_i64_shr_u,
        [0x089] = &&L_i64_rotl,
        [0x08A] = &&L_i64_rotr,
        [0x08B] = &&L_f32_abs,
        [0x08C] = &&L_f32_neg,
        [0x08D] = &&L_f32_ceil,
        [0x08E] = &&L_f32_floor,
        [0x08F] = &&L_f32_trunc,
        [0x090] = &&L_f32_nearest,
        [0x091] = &&L_f32_sqrt,
        [0x092] = &&L_f32_add,
        [0x093] = &&L_f32_sub,
        [0x094] = &&L_f32_mul,
        [0x095] = &&L_f32_div,
        [0x096] = &&L_f32_min,
        [0x097] = &&L_f32_max,
        [0x098] = &&L_f32_copysign,
        [0x099] = &&L_f64_abs,
        [0x09A] = &&L_f64_neg,
        [0x09B] = &&L_f64_ceil,
        [0x09C] = &&L_f64_floor,
        [0x09D] = &&L_f64_trunc,
        [0x09E] = &&L_f64_nearest,
        [0x09F] = &&L_f64_sqrt,
        [0x0A0] = &&L_f64_add,
        [0x0A1] = &&L_f64_sub,
        [0x0A2] = &&L_f64_mul,
        [0x0A3] = &&L_f64_div,
        [0x0A4] = &&L_f64_min,
        [0x0A5] = &&L_f64_max,
        [0x0A6] = &&L_f64_copysign,
        [0x0A7] = &&L_i32_wrap_i64,
        [0x0A8] = &&L_i32_trunc_f32_s,
        [0x0A9] = &&L_i32_trunc_f32_u,
        [0x0AA] = &&L_i32_trunc_f64_s,
        [0x0AB] = &&L_i32_trunc_f64_u,
        [0x0AC] = &&L_i64_extend_i32_s,
        [0x0AD] = &&L_i64_extend_i32_u,
        [0x0AE] = &&L_i64_trunc_f32_s,
        [0x0AF] = &&L_i64_trunc_f32_u,
        [0x0B0] = &&L_i64_trunc_f64_s,
        [0x0B1] = &&L_i64_trunc_f64_u,
        [0x0B2] = &&L_f32_convert_i32_s,
        [0x0B3] = &&L_f32_convert_i32_u,
        [0x0B4] = &&L_f32_convert_i64_s,
        [0x0B5] = &&L_f32_convert_i64_u,
        [0x0B6] = &&L_f32_demote_f64,
        [0x0B7] = &&L_f64_convert_i32_s,
        [0x0B8] = &&L_f64_convert_i32_u,
        [0x0B9] = &&L_f64_convert_i64_s,
        [0x0BA] = &&L_f64_convert_i64_u,
        [0x0BB] = &&L_f64_promote_f32,
        [0x0BC] = &&L_nop,
        [0x0BD] = &&L_nop,
        [0x0BE] = &&L_nop,
        [0x0BF] = &&L_nop,
        [0x0C0] = &&L_i32_extend8_s,
        [0x0C1] = &&L_i32_extend16_s,
        [0x0C2] = &&L_i64_extend8_s,
        [0x0C3] = &&L_i64_extend16_s,
        [0x0C4] = &&L_i64_extend32_s,
        [0x0D0] = &&L_ref_null,
        [0x0D1] = &&L_ref_is_null,
        [0x0D2] = &&L_ref_func,
        [0x100] = &&L_i32_trunc_sat_f32_s,
        [0x101] = &&L_i32_trunc_sat_f32_u,
        [0x102] = &&L_i32_trunc_sat_f64_s,
        [0x103] = &&L_i32_trunc_sat_f64_u,
        [0x104] = &&L_i64_trunc_sat_f32_s,
        [0x105] = &&L_i64_trunc_sat_f32_u,
        [0x106] = &&L_i64_trunc_sat_f64_s,
        [0x107] = &&L_i64_trunc_sat_f64_u,
        [0x108] = &&L_memory_init,
        [0x109] = &&L_data_drop,
        [0x10A] = &&L_memory_copy,
        [0x10B] = &&L_memory_fill,
        [0x10C] = &&L_table_init,
        [0x10D] = &&L_elem_drop,
        [0x10E] = &&L_table_copy,
        [0x10F] = &&L_table_grow,
        [0x110] = &&L_table_size,
        [0x111] = &&L_table_fill,
#ifndef WZ_NO_PROBES
        [0x120] = &&L_probe,
#endif
#ifdef WZ_LAYOUT_CONTROL
        [0x13F] = &&L_control,
#endif
        [0x121] = &&L_nop,      /* OP_ENTRY */
        WZ_FUSED_TABLE_ENTRIES  /* superinstructions (fusion.h) */
    };
    static const void *const gtable[NUM_OPS] = { [0 ... NUM_OPS - 1] = &&L_ghook };

    wz_val *const stack = t->stack;
    wz_frame *const frames = t->frames;
    wz_frame *const entry_frame = frames + entry;
    wz_frame *const frame_limit = frames + t->max_frames;
    wz_val *const stack_end = stack + t->stack_size;

    wz_frame *frame = frames + t->nframes - 1;
    wz_func *func = frame->func;
    wz_instance *inst = func->inst;
    uint32_t *code = func->code;
    const uint32_t *ip = code + frame->ip;
    register wz_val *fp WZ_REG("r15") = stack + frame->fp;
    register wz_val *opbase WZ_REG("r13") = fp + func->num_locals;
    wz_val *sp = stack + frame->sp;
    const wz_memory *mem = mem0(inst);
    register uint8_t *mbase WZ_REG("r14") = mem->base;
    uint64_t msize = mem->size;
#ifdef WZ_NO_HOOKS
    (void)gtable;
#define dt table
#else
    const void *const *dt = WZ_HOOKED(t) ? gtable : table;
#endif
    int rc = WZ_OK;

#define NEXT() goto *dt[*ip]
#define TRAP(c) do { rc = (c); goto trap; } while (0)
#define SYNC() do { frame->ip = (uint32_t)(ip - code); frame->sp = (uint32_t)(sp - stack); \
                    t->sp = frame->sp; t->nframes = (uint32_t)(frame - frames) + 1; } while (0)
#define MEMLOAD() do { mem = mem0(inst); mbase = mem->base; msize = mem->size; } while (0)
#ifdef WZ_NO_HOOKS
#define RELOAD_DT() ((void)0)
#else
#define RELOAD_DT() (dt = WZ_HOOKED(t) ? gtable : table)
#endif

    if (UNLIKELY(after_probe)) {
        uint32_t op0 = *ip;
        if (op0 == OP_PROBE) op0 = func->probe_ops[ip - code];
        if (op0 >= OP_FUSED_BASE) op0 = func->probe_ops[ip - code];
        goto *table[op0];
    }
    NEXT();

    /* ---------------- probes ---------------- */
L_ghook: {
    /* global probes fire before every Wasm instruction; OP_ENTRY (pc 0) is not one */
    /* the original word under a probe or a superinstruction (fusion.h): the hook then runs each
     * instruction of a fused sequence on its own */
#define UNFUSED(w) ((w) >= OP_FUSED_BASE ? func->probe_ops[ip - code] : (w))
    uint32_t gop = *ip;
    if (UNLIKELY(gop == OP_PROBE || gop >= OP_FUSED_BASE)) gop = func->probe_ops[ip - code];
    if (UNLIKELY(gop == OP_ENTRY)) goto *table[*ip];
    if (t->limits) {                    /* resource limits mode (wizard.h) */
        if (UNLIKELY(--t->fuel < 0 || __atomic_load_n(&t->interrupt, __ATOMIC_RELAXED)
                     || (t->deadline_ns && (++t->limit_tick & 1023) == 0))) {
            rc = wz_check_limits(t);
            if (UNLIKELY(rc)) goto trap;
        }
        if (!t->global_probes) goto *table[UNFUSED(*ip)];
    }
#ifndef WZ_NO_PROBES
    t->global_count++;                  /* native global CountProbes */
    if (t->global_probes & 1) {         /* bit 0: some global probe needs Python */
        SYNC();
        t->probe_site = (uintptr_t)ip;
        rc = wz_probe_fire(t, 1);
        if (UNLIKELY(rc)) goto trap;
        sp = stack + frame->sp;
        MEMLOAD();
        RELOAD_DT();
    }
#endif
    goto *table[UNFUSED(*ip)];   /* the real handler; OP_PROBE there still fires the local probe */
}

#ifndef WZ_NO_PROBES
L_probe: {
    uint32_t i = (uint32_t)(ip - code);
    t->probe_fires++;
    if (wz_native_probes(func, i, sp)) {                    /* native probes (probes.h) */
        SYNC();
        t->probe_site = (uintptr_t)ip;
        rc = wz_probe_fire(t, 0);
        if (UNLIKELY(rc)) goto trap;
        sp = stack + frame->sp;
        MEMLOAD();
        RELOAD_DT();
    }
    uint32_t op = code[i];
    if (op == OP_PROBE) op = func->probe_ops[i];   /* else the probe was removed meanwhile */
    goto *table[UNFUSED(op)];   /* (re-fused meanwhile: run the first instruction alone) */
}
#endif

#ifdef WZ_LAYOUT_CONTROL
L_control: {      /* dead: 0x13F is never emitted */
    SYNC();
    t->probe_site = (uintptr_t)ip;
    rc = wz_probe_fire(t, 0);
    if (UNLIKELY(rc)) goto trap;
    sp = stack + frame->sp;
    MEMLOAD();
    RELOAD_DT();
    ip++; NEXT();
}
#endif

L_bad:   /* never emitted by the validator; trap rather than run off */
    TRAP(WZ_TRAP_UNREACHABLE);

    /* ---------------- control ---------------- */
L_unreachable:
    TRAP(WZ_TRAP_UNREACHABLE);
L_nop:
    ip++; NEXT();
/* The frame's n results are at fp: finish (the entry frame) or continue in its caller at its
 * return address; the callee may have grown the memory. */
#define POP_FRAME(n) do { \
        if (UNLIKELY(frame == entry_frame)) goto done; \
        uint32_t r_ = frame->ret_ip; \
        sp = fp + (n); \
        frame--; \
        func = frame->func; \
        code = func->code; \
        ip = code + r_; \
        fp = stack + frame->fp; \
        opbase = fp + func->num_locals; \
        if (UNLIKELY(func->inst != inst)) inst = func->inst; \
        MEMLOAD(); \
        NEXT(); } while (0)

L_loop:    /* a loop header (entry or back-edge): the OSR counter (wz_func.osr_count) */
    if (UNLIKELY(--func->osr_count == 0)) goto osr;
    ip++; NEXT();
osr: {
    SYNC();
    void *e = wz_osr_entry(t, func, (uint32_t)(ip - code));
    if (!e) { ip++; NEXT(); }
    /* on-stack replacement: the compiled code pushes its frame on this frame's record, loads
     * locals and operands from the value stack, continues at the loop and returns the results */
    uint32_t fi = (uint32_t)(frame - frames), n = func->num_results;
    t->nframes = fi;
    rc = ((wz_compiled_fn)e)(t, func, frame->fp);
    if (UNLIKELY(rc)) goto trap_callee;
    RELOAD_DT();
    POP_FRAME(n);
}
L_if:
    if ((uint32_t)*--sp) { ip += 2; NEXT(); }
    ip = code + ip[1]; NEXT();
L_else:
    ip = code + ip[1]; NEXT();

#define DO_BR(p) do { \
        uint32_t ar_ = (p)[1]; wz_val *nsp_ = opbase + (p)[2]; \
        if (LIKELY(ar_ == 0)) sp = nsp_; \
        else if (ar_ == 1) { *nsp_ = sp[-1]; sp = nsp_ + 1; } \
        else { memmove(nsp_, sp - ar_, (size_t)ar_ * sizeof(wz_val)); sp = nsp_ + ar_; } \
        ip = code + (p)[0]; NEXT(); } while (0)

L_br:
    DO_BR(ip + 1);
L_br_if:
    if ((uint32_t)*--sp) DO_BR(ip + 1);
    ip += 4; NEXT();
L_br_table: {
    uint32_t n = ip[1], i = (uint32_t)*--sp;
    if (i > n) i = n;
    DO_BR(ip + 2 + 3 * i);
}

L_return: {
    uint32_t n = ip[1];
    if (LIKELY(n == 1)) fp[0] = sp[-1];
    else if (n) memmove(fp, sp - n, (size_t)n * sizeof(wz_val));
    POP_FRAME(n);
}

    /* Call `g` whose arguments are on top of the stack; the caller continues at code[retip]. */
#define DO_CALL(g, retip) do { \
        wz_func *g_ = (g); \
        g_->calls++; \
        if (UNLIKELY(--g_->tier_count == 0)) { SYNC(); wz_tier_up(t, g_); } \
        wz_val *nfp_ = sp - g_->num_params; \
        if (UNLIKELY(g_->jit_entry != NULL)) {  /* compiled callee (wizardpy/jit) */ \
            uint32_t base_ = (uint32_t)(nfp_ - stack); \
            SYNC(); \
            rc = wz_jit_call(t, g_, base_); \
            if (UNLIKELY(rc)) goto trap_callee; \
            sp = stack + base_ + g_->num_results; \
            MEMLOAD(); RELOAD_DT(); \
            ip = code + (retip); NEXT(); \
        } \
        if (UNLIKELY(g_->kind == WZ_FUNC_HOST)) { \
            uint32_t base_ = (uint32_t)(nfp_ - stack); \
            SYNC(); \
            rc = wz_host_call(t, g_, base_); \
            if (UNLIKELY(rc)) goto trap; \
            sp = stack + base_ + g_->num_results; \
            MEMLOAD(); RELOAD_DT(); \
            ip = code + (retip); NEXT(); \
        } \
        if (UNLIKELY(frame + 1 >= frame_limit || \
                     nfp_ + g_->num_locals + g_->max_stack > stack_end)) TRAP(WZ_TRAP_STACK); \
        frame->ip = (uint32_t)(ip - code); \
        frame->sp = (uint32_t)(nfp_ - stack); \
        frame++; \
        frame->func = g_; frame->fp = (uint32_t)(nfp_ - stack); frame->ret_ip = (retip); \
        frame->serial = 0; \
        fp = nfp_; \
        opbase = fp + g_->num_locals; \
        for (wz_val *z_ = sp; z_ < opbase; z_++) *z_ = 0; \
        sp = opbase; \
        func = g_; code = g_->code; ip = code + WZ_ENTRY_IP(g_); \
        if (UNLIKELY(g_->inst != inst)) { inst = g_->inst; MEMLOAD(); } \
        NEXT(); } while (0)

L_call: {
    uint32_t r = (uint32_t)(ip - code) + 2;
    DO_CALL(inst->funcs[ip[1]], r);
}
L_call_indirect: {
    wz_table *tab = inst->tables[ip[2]];
    uint32_t i = (uint32_t)sp[-1];
    if (UNLIKELY(i >= tab->size)) TRAP(WZ_TRAP_UNDEF_ELEM);
    wz_func *g = (wz_func *)(uintptr_t)tab->elems[i];
    if (UNLIKELY(!g)) TRAP(WZ_TRAP_UNINIT_ELEM);
    if (UNLIKELY(g->sig != inst->sigs[ip[1]])) TRAP(WZ_TRAP_INDIRECT_SIG);
    sp--;
    uint32_t r = (uint32_t)(ip - code) + 3;
    DO_CALL(g, r);
}

    /* ---------------- parametric, variables ---------------- */
L_drop:
    sp--; ip++; NEXT();
L_select: {
    uint32_t c = (uint32_t)sp[-1];
    if (!c) sp[-3] = sp[-2];
    sp -= 2; ip++; NEXT();
}
L_local_get:
    *sp++ = fp[ip[1]]; ip += 2; NEXT();
L_local_set:
    fp[ip[1]] = *--sp; ip += 2; NEXT();
L_local_tee:
    fp[ip[1]] = sp[-1]; ip += 2; NEXT();
L_global_get:
    *sp++ = inst->globals[ip[1]]->value; ip += 2; NEXT();
L_global_set:
    inst->globals[ip[1]]->value = *--sp; ip += 2; NEXT();
L_table_get: {
    wz_table *tab = inst->tables[ip[1]];
    uint32_t i = (uint32_t)sp[-1];
    if (UNLIKELY(i >= tab->size)) TRAP(WZ_TRAP_TABLE_OOB);
    sp[-1] = tab->elems[i]; ip += 2; NEXT();
}
L_table_set: {
    wz_table *tab = inst->tables[ip[1]];
    uint32_t i = (uint32_t)sp[-2];
    if (UNLIKELY(i >= tab->size)) TRAP(WZ_TRAP_TABLE_OOB);
    tab->elems[i] = sp[-1]; sp -= 2; ip += 2; NEXT();
}

    /* ---------------- memory ---------------- */
#define LOAD(name, ctype, conv) \
L_##name: { \
    uint64_t ea_ = (uint64_t)(uint32_t)sp[-1] + ip[1]; \
    if (UNLIKELY(ea_ + sizeof(ctype) > msize)) TRAP(WZ_TRAP_MEM_OOB); \
    ctype v_; memcpy(&v_, mbase + ea_, sizeof v_); \
    sp[-1] = (wz_val)(conv(v_)); ip += 2; NEXT(); }
#define STORE(name, ctype) \
L_##name: { \
    uint64_t ea_ = (uint64_t)(uint32_t)sp[-2] + ip[1]; \
    if (UNLIKELY(ea_ + sizeof(ctype) > msize)) TRAP(WZ_TRAP_MEM_OOB); \
    ctype v_ = (ctype)sp[-1]; memcpy(mbase + ea_, &v_, sizeof v_); \
    sp -= 2; ip += 2; NEXT(); }
#define ID(x) (x)
#define SX32_8(x) (uint32_t)(int32_t)(int8_t)(x)
#define SX32_16(x) (uint32_t)(int32_t)(int16_t)(x)
#define SX64_8(x) (uint64_t)(int64_t)(int8_t)(x)
#define SX64_16(x) (uint64_t)(int64_t)(int16_t)(x)
#define SX64_32(x) (uint64_t)(int64_t)(int32_t)(x)

    LOAD(i32_load, uint32_t, ID)
    LOAD(i64_load, uint64_t, ID)
    LOAD(i32_load8_s, uint8_t, SX32_8)
    LOAD(i32_load8_u, uint8_t, ID)
    LOAD(i32_load16_s, uint16_t, SX32_16)
    LOAD(i32_load16_u, uint16_t, ID)
    LOAD(i64_load8_s, uint8_t, SX64_8)
    LOAD(i64_load16_s, uint16_t, SX64_16)
    LOAD(i64_load32_s, uint32_t, SX64_32)
    STORE(i32_store, uint32_t)
    STORE(i64_store, uint64_t)
    STORE(store8, uint8_t)
    STORE(store16, uint16_t)

L_memory_size:
    *sp++ = (wz_val)(uint32_t)(msize >> 16); ip++; NEXT();
L_memory_grow: {
    int64_t r = wz_memory_grow(inst->mems[0], (uint32_t)sp[-1]);
    sp[-1] = (wz_val)(uint32_t)r;
    MEMLOAD();
    ip++; NEXT();
}
L_memory_init: {   /* d s n */
    uint32_t seg = ip[1];
    uint64_t n = (uint32_t)sp[-1], s = (uint32_t)sp[-2], d = (uint32_t)sp[-3];
    if (UNLIKELY(s + n > inst->data_len[seg] || d + n > msize)) TRAP(WZ_TRAP_MEM_OOB);
    if (n) memcpy(mbase + d, inst->data[seg] + s, n);
    sp -= 3; ip += 2; NEXT();
}
L_data_drop:
    inst->data_len[ip[1]] = 0; ip += 2; NEXT();
L_memory_copy: {   /* d s n */
    uint64_t n = (uint32_t)sp[-1], s = (uint32_t)sp[-2], d = (uint32_t)sp[-3];
    if (UNLIKELY(s + n > msize || d + n > msize)) TRAP(WZ_TRAP_MEM_OOB);
    if (n) memmove(mbase + d, mbase + s, n);
    sp -= 3; ip++; NEXT();
}
L_memory_fill: {   /* d val n */
    uint64_t n = (uint32_t)sp[-1], d = (uint32_t)sp[-3];
    if (UNLIKELY(d + n > msize)) TRAP(WZ_TRAP_MEM_OOB);
    if (n) memset(mbase + d, (int)(uint8_t)sp[-2], n);
    sp -= 3; ip++; NEXT();
}

    /* ---------------- tables ---------------- */
L_table_init: {    /* d s n */
    uint32_t seg = ip[1];
    wz_table *tab = inst->tables[ip[2]];
    uint64_t n = (uint32_t)sp[-1], s = (uint32_t)sp[-2], d = (uint32_t)sp[-3];
    if (UNLIKELY(s + n > inst->elem_len[seg] || d + n > tab->size)) TRAP(WZ_TRAP_TABLE_OOB);
    if (n) memcpy(tab->elems + d, inst->elems[seg] + s, n * sizeof(wz_val));
    sp -= 3; ip += 3; NEXT();
}
L_elem_drop:
    inst->elem_len[ip[1]] = 0; ip += 2; NEXT();
L_table_copy: {    /* d s n */
    wz_table *dt_ = inst->tables[ip[1]], *st_ = inst->tables[ip[2]];
    uint64_t n = (uint32_t)sp[-1], s = (uint32_t)sp[-2], d = (uint32_t)sp[-3];
    if (UNLIKELY(s + n > st_->size || d + n > dt_->size)) TRAP(WZ_TRAP_TABLE_OOB);
    if (n) memmove(dt_->elems + d, st_->elems + s, n * sizeof(wz_val));
    sp -= 3; ip += 3; NEXT();
}
L_table_grow: {    /* init n */
    int64_t r = wz_table_grow(inst->tables[ip[1]], (uint32_t)sp[-1], sp[-2]);
    sp[-2] = (wz_val)(uint32_t)r;
    sp--; ip += 2; NEXT();
}
L_table_size:
    *sp++ = inst->tables[ip[1]]->size; ip += 2; NEXT();
L_table_fill: {    /* i val n */
    wz_table *tab = inst->tables[ip[1]];
    uint64_t n = (uint32_t)sp[-1], i = (uint32_t)sp[-3];
    wz_val v = sp[-2];
    if (UNLIKELY(i + n > tab->size)) TRAP(WZ_TRAP_TABLE_OOB);
    for (uint64_t k = 0; k < n; k++) tab->elems[i + k] = v;
    sp -= 3; ip += 2; NEXT();
}

    /* ---------------- constants, references ---------------- */
L_i32_const:
    *sp++ = ip[1]; ip += 2; NEXT();
L_i64_const:
    *sp++ = (wz_val)ip[1] | ((wz_val)ip[2] << 32); ip += 3; NEXT();
L_ref_null:
    *sp++ = 0; ip++; NEXT();
L_ref_is_null:
    sp[-1] = sp[-1] == 0; ip++; NEXT();
L_ref_func:
    *sp++ = (wz_val)(uintptr_t)inst->funcs[ip[1]]; ip += 2; NEXT();

    /* ---------------- numeric ---------------- */
#define UN(name, T, expr) \
L_##name: { T a = (T)sp[-1]; (void)a; sp[-1] = (wz_val)(expr); ip++; NEXT(); }
#define BIN(name, T, R, expr) \
L_##name: { T b = (T)sp[-1], a = (T)sp[-2]; sp[-2] = (wz_val)(R)(expr); sp--; ip++; NEXT(); }
#define UNF32(name, expr) \
L_##name: { float a = f32_of(sp[-1]); sp[-1] = of_f32(expr); ip++; NEXT(); }
#define UNF64(name, expr) \
L_##name: { double a = f64_of(sp[-1]); sp[-1] = of_f64(expr); ip++; NEXT(); }
#define BINF32(name, expr) \
L_##name: { float b = f32_of(sp[-1]), a = f32_of(sp[-2]); sp[-2] = of_f32(expr); sp--; ip++; NEXT(); }
#define BINF64(name, expr) \
L_##name: { double b = f64_of(sp[-1]), a = f64_of(sp[-2]); sp[-2] = of_f64(expr); sp--; ip++; NEXT(); }
#define CMPF32(name, expr) \
L_##name: { float b = f32_of(sp[-1]), a = f32_of(sp[-2]); sp[-2] = (expr); sp--; ip++; NEXT(); }
#define CMPF64(name, expr) \
L_##name: { double b = f64_of(sp[-1]), a = f64_of(sp[-2]); sp[-2] = (expr); sp--; ip++; NEXT(); }

    UN(i32_eqz, uint32_t, a == 0)
    BIN(i32_eq, uint32_t, uint32_t, a == b)
    BIN(i32_ne, uint32_t, uint32_t, a != b)
    BIN(i32_lt_s, uint32_t, uint32_t, (int32_t)a < (int32_t)b)
    BIN(i32_lt_u, uint32_t, uint32_t, a < b)
    BIN(i32_gt_s, uint32_t, uint32_t, (int32_t)a > (int32_t)b)
    BIN(i32_gt_u, uint32_t, uint32_t, a > b)
    BIN(i32_le_s, uint32_t, uint32_t, (int32_t)a <= (int32_t)b)
    BIN(i32_le_u, uint32_t, uint32_t, a <= b)
    BIN(i32_ge_s, uint32_t, uint32_t, (int32_t)a >= (int32_t)b)
    BIN(i32_ge_u, uint32_t, uint32_t, a >= b)
    UN(i64_eqz, uint64_t, a == 0)
    BIN(i64_eq, uint64_t, uint32_t, a == b)
    BIN(i64_ne, uint64_t, uint32_t, a != b)
    BIN(i64_lt_s, uint64_t, uint32_t, (int64_t)a < (int64_t)b)
    BIN(i64_lt_u, uint64_t, uint32_t, a < b)
    BIN(i64_gt_s, uint64_t, uint32_t, (int64_t)a > (int64_t)b)
    BIN(i64_gt_u, uint64_t, uint32_t, a > b)
    BIN(i64_le_s, uint64_t, uint32_t, (int64_t)a <= (int64_t)b)
    BIN(i64_le_u, uint64_t, uint32_t, a <= b)
    BIN(i64_ge_s, uint64_t, uint32_t, (int64_t)a >= (int64_t)b)
    BIN(i64_ge_u, uint64_t, uint32_t, a >= b)
    CMPF32(f32_eq, a == b)
    CMPF32(f32_ne, a != b)
    CMPF32(f32_lt, a < b)
    CMPF32(f32_gt, a > b)
    CMPF32(f32_le, a <= b)
    CMPF32(f32_ge, a >= b)
    CMPF64(f64_eq, a == b)
    CMPF64(f64_ne, a != b)
    CMPF64(f64_lt, a < b)
    CMPF64(f64_gt, a > b)
    CMPF64(f64_le, a <= b)
    CMPF64(f64_ge, a >= b)

    UN(i32_clz, uint32_t, (uint32_t)(a ? __builtin_clz(a) : 32))
    UN(i32_ctz, uint32_t, (uint32_t)(a ? __builtin_ctz(a) : 32))
    UN(i32_popcnt, uint32_t, (uint32_t)__builtin_popcount(a))
    BIN(i32_add, uint32_t, uint32_t, a + b)
    BIN(i32_sub, uint32_t, uint32_t, a - b)
    BIN(i32_mul, uint32_t, uint32_t, a * b)
L_i32_div_s: {
    int32_t b = (int32_t)(uint32_t)sp[-1], a = (int32_t)(uint32_t)sp[-2];
    if (UNLIKELY(b == 0)) TRAP(WZ_TRAP_DIV_ZERO);
    if (UNLIKELY(a == INT32_MIN && b == -1)) TRAP(WZ_TRAP_INT_OVERFLOW);
    sp[-2] = (uint32_t)(a / b); sp--; ip++; NEXT();
}
L_i32_div_u: {
    uint32_t b = (uint32_t)sp[-1], a = (uint32_t)sp[-2];
    if (UNLIKELY(b == 0)) TRAP(WZ_TRAP_DIV_ZERO);
    sp[-2] = a / b; sp--; ip++; NEXT();
}
L_i32_rem_s: {
    int32_t b = (int32_t)(uint32_t)sp[-1], a = (int32_t)(uint32_t)sp[-2];
    if (UNLIKELY(b == 0)) TRAP(WZ_TRAP_DIV_ZERO);
    sp[-2] = (b == -1) ? 0 : (uint32_t)(a % b); sp--; ip++; NEXT();
}
L_i32_rem_u: {
    uint32_t b = (uint32_t)sp[-1], a = (uint32_t)sp[-2];
    if (UNLIKELY(b == 0)) TRAP(WZ_TRAP_DIV_ZERO);
    sp[-2] = a % b; sp--; ip++; NEXT();
}
    BIN(i32_and, uint32_t, uint32_t, a & b)
    BIN(i32_or, uint32_t, uint32_t, a | b)
    BIN(i32_xor, uint32_t, uint32_t, a ^ b)
    BIN(i32_shl, uint32_t, uint32_t, a << (b & 31))
    BIN(i32_shr_s, uint32_t, uint32_t, (int32_t)a >> (b & 31))
    BIN(i32_shr_u, uint32_t, uint32_t, a >> (b & 31))
    BIN(i32_rotl, uint32_t, uint32_t, rotl32(a, b))
    BIN(i32_rotr, uint32_t, uint32_t, rotr32(a, b))

    UN(i64_clz, uint64_t, (uint64_t)(a ? __builtin_clzll(a) : 64))
    UN(i64_ctz, uint64_t, (uint64_t)(a ? __builtin_ctzll(a) : 64))
    UN(i64_popcnt, uint64_t, (uint64_t)__builtin_popcountll(a))
    BIN(i64_add, uint64_t, uint64_t, a + b)
    BIN(i64_sub, uint64_t, uint64_t, a - b)
    BIN(i64_mul, uint64_t, uint64_t, a * b)
L_i64_div_s: {
    int64_t b = (int64_t)sp[-1], a = (int64_t)sp[-2];
    if (UNLIKELY(b == 0)) TRAP(WZ_TRAP_DIV_ZERO);
    if (UNLIKELY(a == INT64_MIN && b == -1)) TRAP(WZ_TRAP_INT_OVERFLOW);
    sp[-2] = (uint64_t)(a / b); sp--; ip++; NEXT();
}
L_i64_div_u: {
    uint64_t b = sp[-1], a = sp[-2];
    if (UNLIKELY(b == 0)) TRAP(WZ_TRAP_DIV_ZERO);
    sp[-2] = a / b; sp--; ip++; NEXT();
}
L_i64_rem_s: {
    int64_t b = (int64_t)sp[-1], a = (int64_t)sp[-2];
    if (UNLIKELY(b == 0)) TRAP(WZ_TRAP_DIV_ZERO);
    sp[-2] = (b == -1) ? 0 : (uint64_t)(a % b); sp--; ip++; NEXT();
}
L_i64_rem_u: {
    uint64_t b = sp[-1], a = sp[-2];
    if (UNLIKELY(b == 0)) TRAP(WZ_TRAP_DIV_ZERO);
    sp[-2] = a % b; sp--; ip++; NEXT();
}
    BIN(i64_and, uint64_t, uint64_t, a & b)
    BIN(i64_or, uint64_t, uint64_t, a | b)
    BIN(i64_xor, uint64_t, uint64_t, a ^ b)
    BIN(i64_shl, uint64_t, uint64_t, a << (b & 63))
    BIN(i64_shr_s, uint64_t, uint64_t, (int64_t)a >> (b & 63))
    BIN(i64_shr_u, uint64_t, uint64_t, a >> (b & 63))
    BIN(i64_rotl, uint64_t, uint64_t, rotl64(a, b))
    BIN(i64_rotr, uint64_t, uint64_t, rotr64(a, b))

    /* abs/neg/copysign are bit operations: they never touch a NaN's payload. ceil/floor/trunc/
     * nearest: libm returns a signalling NaN unchanged; Wasm wants it quieted (a + a does that). */
L_f32_abs:
    sp[-1] = (uint32_t)sp[-1] & 0x7fffffffu; ip++; NEXT();
L_f32_neg:
    sp[-1] = (uint32_t)sp[-1] ^ 0x80000000u; ip++; NEXT();
L_f32_copysign:
    sp[-2] = ((uint32_t)sp[-2] & 0x7fffffffu) | ((uint32_t)sp[-1] & 0x80000000u); sp--; ip++; NEXT();
    UNF32(f32_ceil, (a != a) ? a + a : ceilf(a))
    UNF32(f32_floor, (a != a) ? a + a : floorf(a))
    UNF32(f32_trunc, (a != a) ? a + a : truncf(a))
    UNF32(f32_nearest, (a != a) ? a + a : nearbyintf(a))
    UNF32(f32_sqrt, sqrtf(a))
    BINF32(f32_add, a + b)
    BINF32(f32_sub, a - b)
    BINF32(f32_mul, a * b)
    BINF32(f32_div, a / b)
    BINF32(f32_min, wz_fminf(a, b))
    BINF32(f32_max, wz_fmaxf(a, b))
L_f64_abs:
    sp[-1] &= 0x7fffffffffffffffull; ip++; NEXT();
L_f64_neg:
    sp[-1] ^= 0x8000000000000000ull; ip++; NEXT();
L_f64_copysign:
    sp[-2] = (sp[-2] & 0x7fffffffffffffffull) | (sp[-1] & 0x8000000000000000ull); sp--; ip++; NEXT();
    UNF64(f64_ceil, (a != a) ? a + a : ceil(a))
    UNF64(f64_floor, (a != a) ? a + a : floor(a))
    UNF64(f64_trunc, (a != a) ? a + a : trunc(a))
    UNF64(f64_nearest, (a != a) ? a + a : nearbyint(a))
    UNF64(f64_sqrt, sqrt(a))
    BINF64(f64_add, a + b)
    BINF64(f64_sub, a - b)
    BINF64(f64_mul, a * b)
    BINF64(f64_div, a / b)
    BINF64(f64_min, wz_fmin(a, b))
    BINF64(f64_max, wz_fmax(a, b))

    /* ---------------- conversions ---------------- */
    UN(i32_wrap_i64, uint64_t, (uint32_t)a)
    UN(i64_extend_i32_s, uint64_t, (uint64_t)(int64_t)(int32_t)(uint32_t)a)
    UN(i64_extend_i32_u, uint64_t, (uint32_t)a)

#define TRUNC(name, FT, getf, lo_ok, hi_ok, conv) \
L_##name: { FT x = getf(sp[-1]); \
    if (UNLIKELY(x != x)) TRAP(WZ_TRAP_INVALID_CONV); \
    if (UNLIKELY(!((lo_ok) && (hi_ok)))) TRAP(WZ_TRAP_INT_OVERFLOW); \
    sp[-1] = (wz_val)(conv); ip++; NEXT(); }
    TRUNC(i32_trunc_f32_s, float, f32_of, x >= -2147483648.0f, x < 2147483648.0f, (uint32_t)(int32_t)x)
    TRUNC(i32_trunc_f32_u, float, f32_of, x > -1.0f, x < 4294967296.0f, (uint32_t)x)
    TRUNC(i32_trunc_f64_s, double, f64_of, x > -2147483649.0, x < 2147483648.0, (uint32_t)(int32_t)x)
    TRUNC(i32_trunc_f64_u, double, f64_of, x > -1.0, x < 4294967296.0, (uint32_t)x)
    TRUNC(i64_trunc_f32_s, float, f32_of, x >= -9223372036854775808.0f, x < 9223372036854775808.0f, (uint64_t)(int64_t)x)
    TRUNC(i64_trunc_f32_u, float, f32_of, x > -1.0f, x < 18446744073709551616.0f, (uint64_t)x)
    TRUNC(i64_trunc_f64_s, double, f64_of, x >= -9223372036854775808.0, x < 9223372036854775808.0, (uint64_t)(int64_t)x)
    TRUNC(i64_trunc_f64_u, double, f64_of, x > -1.0, x < 18446744073709551616.0, (uint64_t)x)

L_i32_trunc_sat_f32_s: sp[-1] = sat_i32_s(f32_of(sp[-1])); ip++; NEXT();
L_i32_trunc_sat_f32_u: sp[-1] = sat_i32_u(f32_of(sp[-1])); ip++; NEXT();
L_i32_trunc_sat_f64_s: sp[-1] = sat_i32_s(f64_of(sp[-1])); ip++; NEXT();
L_i32_trunc_sat_f64_u: sp[-1] = sat_i32_u(f64_of(sp[-1])); ip++; NEXT();
L_i64_trunc_sat_f32_s: sp[-1] = sat_i64_s(f32_of(sp[-1])); ip++; NEXT();
L_i64_trunc_sat_f32_u: sp[-1] = sat_i64_u(f32_of(sp[-1])); ip++; NEXT();
L_i64_trunc_sat_f64_s: sp[-1] = sat_i64_s(f64_of(sp[-1])); ip++; NEXT();
L_i64_trunc_sat_f64_u: sp[-1] = sat_i64_u(f64_of(sp[-1])); ip++; NEXT();

L_f32_convert_i32_s: sp[-1] = of_f32((float)(int32_t)(uint32_t)sp[-1]); ip++; NEXT();
L_f32_convert_i32_u: sp[-1] = of_f32((float)(uint32_t)sp[-1]); ip++; NEXT();
L_f32_convert_i64_s: sp[-1] = of_f32((float)(int64_t)sp[-1]); ip++; NEXT();
L_f32_convert_i64_u: sp[-1] = of_f32((float)(uint64_t)sp[-1]); ip++; NEXT();
L_f32_demote_f64:    sp[-1] = of_f32((float)f64_of(sp[-1])); ip++; NEXT();
L_f64_convert_i32_s: sp[-1] = of_f64((double)(int32_t)(uint32_t)sp[-1]); ip++; NEXT();
L_f64_convert_i32_u: sp[-1] = of_f64((double)(uint32_t)sp[-1]); ip++; NEXT();
L_f64_convert_i64_s: sp[-1] = of_f64((double)(int64_t)sp[-1]); ip++; NEXT();
L_f64_convert_i64_u: sp[-1] = of_f64((double)(uint64_t)sp[-1]); ip++; NEXT();
L_f64_promote_f32:   sp[-1] = of_f64((double)f32_of(sp[-1])); ip++; NEXT();

    UN(i32_extend8_s, uint32_t, (uint32_t)(int32_t)(int8_t)a)
    UN(i32_extend16_s, uint32_t, (uint32_t)(int32_t)(int16_t)a)
    UN(i64_extend8_s, uint64_t, (uint64_t)(int64_t)(int8_t)a)
    UN(i64_extend16_s, uint64_t, (uint64_t)(int64_t)(int16_t)a)
    UN(i64_extend32_s, uint64_t, (uint64_t)(int64_t)(int32_t)a)

    /* ---------------- superinstructions (fusion.h) ---------------- */
    WZ_FUSED_HANDLERS

    /* ---------------- exits ---------------- */
done:
    /* the entry frame returned: its results are at stack[entry_frame->fp ..] */
    t->nframes = entry;
    return WZ_OK;

trap:
    frame->ip = (uint32_t)(ip - code);
    frame->sp = (uint32_t)(sp - stack);
    t->trap_nframes = (uint32_t)(frame - frames) + 1;
    return rc;

trap_callee:
    /* a compiled callee trapped: frames were written (SYNC) and it set t->trap_nframes */
    return rc;
}

/* Push the entry frame for a Wasm function whose locals start at t->stack[fp]. */
static int wz_enter(wz_thread *t, wz_func *f, uint32_t fp, uint32_t ip, uint32_t sp)
{
    uint32_t entry_sp = t->sp, entry_nframes = t->nframes;
    wz_frame *fr = &t->frames[entry_nframes];
    fr->func = f;
    fr->fp = fp;
    fr->ip = ip;
    fr->sp = sp;
    fr->ret_ip = 0;
    fr->serial = 0;
    t->nframes = entry_nframes + 1;
    int rc = wz_run(t, entry_nframes, 0);
    t->sp = entry_sp;
    t->nframes = entry_nframes;
    return rc;
}

int wz_interp_call(wz_thread *t, wz_func *f, uint32_t fp)
{
    return wz_enter(t, f, fp, WZ_ENTRY_IP(f), fp + f->num_locals);
}

int wz_invoke(wz_thread *t, wz_func *f)
{
    uint32_t base = t->sp;
    f->calls++;
    if (UNLIKELY(--f->tier_count == 0)) wz_tier_up(t, f);
    if (f->kind == WZ_FUNC_HOST) {
        uint32_t room = f->num_params > f->num_results ? f->num_params : f->num_results;
        if ((uint64_t)base + room > t->stack_size) { t->trap_nframes = t->nframes; return WZ_TRAP_STACK; }
        t->sp = base + f->num_params;
        int rc = wz_host_call(t, f, base);
        t->sp = base;
        if (rc) t->trap_nframes = t->nframes;
        return rc;
    }
    if (t->nframes >= t->max_frames ||
        (uint64_t)base + f->num_locals + f->max_stack > t->stack_size) {
        t->trap_nframes = t->nframes;
        return WZ_TRAP_STACK;
    }
    for (uint32_t i = f->num_params; i < f->num_locals; i++) t->stack[base + i] = 0;
    t->jit_stack_limit = wz_jit_stack_limit();   /* compiled code recurses on this C stack */
    if (f->jit_entry && !t->limits && !t->global_probes) {   /* compiled (wizardpy/jit): it pushes and pops its own frame */
        uint32_t entry_nframes = t->nframes;
        t->sp = base + f->num_locals;
        int rc = ((int (*)(wz_thread *, wz_func *, uint32_t))f->jit_entry)(t, f, base);
        t->sp = base;
        t->nframes = entry_nframes;
        return rc;
    }
    return wz_enter(t, f, base, WZ_ENTRY_IP(f), base + f->num_locals);
}

int wz_resume(wz_thread *t, wz_func *f, uint32_t ip, const wz_val *locals,
              const wz_val *operands, uint32_t num_operands)
{
    uint32_t base = t->sp;
    if (f->kind != WZ_FUNC_WASM || ip >= f->code_len) return WZ_TRAP_UNREACHABLE;
    if (t->nframes >= t->max_frames || num_operands > f->max_stack ||
        (uint64_t)base + f->num_locals + f->max_stack > t->stack_size) {
        t->trap_nframes = t->nframes;
        return WZ_TRAP_STACK;
    }
    if (f->num_locals) memcpy(t->stack + base, locals, (size_t)f->num_locals * sizeof(wz_val));
    if (num_operands)
        memcpy(t->stack + base + f->num_locals, operands, (size_t)num_operands * sizeof(wz_val));
    return wz_enter(t, f, base, ip, base + f->num_locals + num_operands);
}

int wz_jit_deopt(wz_thread *t, uint32_t frame, uint32_t ip, uint32_t sp, uint32_t after_probe)
{
    wz_frame *fr = &t->frames[frame];
    fr->ip = ip;
    fr->sp = sp;
    /* fr->ret_ip stays: wz_run never reads its entry frame's, and a frame entered by on-stack
     * replacement returns to the interpreter loop that replaced it, which reads it then */
    t->nframes = frame + 1;
    t->sp = sp;
    t->jit_deopts++;
    return wz_run(t, frame, after_probe);
}
