/* jit_support.c — C helpers that JIT-compiled code (wizardpy/jit) calls.
 *
 * Compiled code uses the interpreter's structures (value stack, wz_frame stack, memories, tables,
 * globals) and the status-code convention: every helper that can fail returns 0 or a WZ_TRAP_*
 * code, and nothing ever unwinds through compiled code. Compiled functions have the signature
 *     int entry(wz_thread *t, wz_func *f, uint32_t fp)
 * with the arguments already at t->stack[fp ..] (locals 0 ..); they push their own wz_frame at
 * t->frames[t->nframes], leave the results at t->stack[fp ..] and pop the frame (0), or return a
 * trap code with t->trap_nframes recorded by whoever trapped first (wz_jit_trap).
 */
#define _GNU_SOURCE  /* pthread_getattr_np: the thread's C stack bounds */
#include <pthread.h>
#include <stddef.h>
#include <string.h>
#include "wizard.h"
#include "probes.h"

int wz_host_call(wz_thread *t, wz_func *f, uint32_t base);
int wz_probe_fire(wz_thread *t, uint32_t global_);

#define OP_PROBE 0x120
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

typedef int (*wz_jit_fn)(wz_thread *, wz_func *, uint32_t);

/* C stack kept free below the recursion limit: room for a host function or probe (Python code,
 * cffi callbacks) that runs on top of the deepest compiled frame. */
#define WZ_JIT_STACK_MARGIN (768u * 1024u)
/* Used when the thread's stack bounds cannot be determined: this much below the current point. */
#define WZ_JIT_STACK_FALLBACK (4u * 1024u * 1024u)

/* The low end of the calling OS thread's stack (cached per OS thread: a fact about the thread,
 * not engine state). */
static __thread uintptr_t tl_stack_limit;

uintptr_t wz_jit_stack_limit(void)
{
    uintptr_t lim = tl_stack_limit;
    if (lim) return lim;
    char here;
    uintptr_t cur = (uintptr_t)&here;
    pthread_attr_t a;
    if (pthread_getattr_np(pthread_self(), &a) == 0) {
        void *addr = NULL;
        size_t size = 0;
        if (pthread_attr_getstack(&a, &addr, &size) == 0 && addr && size > 2 * WZ_JIT_STACK_MARGIN
            && (uintptr_t)addr < cur && cur - (uintptr_t)addr <= size)
            lim = (uintptr_t)addr + WZ_JIT_STACK_MARGIN;
        pthread_attr_destroy(&a);
    }
    if (!lim) lim = cur > WZ_JIT_STACK_FALLBACK ? cur - WZ_JIT_STACK_FALLBACK : cur;
    tl_stack_limit = lim;
    return lim;
}

int wz_jit_trap(wz_thread *t, uint32_t frame, uint32_t ip, int code)
{
    t->frames[frame].ip = ip;
    t->trap_nframes = frame + 1;
    return code;
}

int wz_jit_call(wz_thread *t, wz_func *g, uint32_t base)
{
    char here;
    if (g->kind == WZ_FUNC_HOST) {
        uint32_t room = g->num_params > g->num_results ? g->num_params : g->num_results;
        if ((uint64_t)base + room > t->stack_size || (uintptr_t)&here < t->jit_stack_limit) {
            t->trap_nframes = t->nframes;
            return WZ_TRAP_STACK;
        }
        g->calls++;
        t->sp = base + g->num_params;
        int rc = wz_host_call(t, g, base);
        if (rc) t->trap_nframes = t->nframes;
        return rc;
    }
    if (UNLIKELY(t->nframes >= t->max_frames ||
                 (uint64_t)base + g->num_locals + g->max_stack > t->stack_size ||
                 (uintptr_t)&here < t->jit_stack_limit)) {
        t->trap_nframes = t->nframes;
        return WZ_TRAP_STACK;
    }
    if (UNLIKELY(--g->tier_count == 0) && t->jit_hook) t->jit_hook(t, g, 0);   /* tier-up */
    /* compiled code neither fires global probes nor counts fuel: the interpreter runs then */
    if (g->jit_entry && !t->limits && !t->global_probes) return ((wz_jit_fn)g->jit_entry)(t, g, base);
    g->calls++;
    for (uint32_t i = g->num_params; i < g->num_locals; i++) t->stack[base + i] = 0;
    t->sp = base + g->num_locals;
    return wz_interp_call(t, g, base);
}

/* A probe site in compiled code: the frame is written out (ip, sp, locals, operands). Same
 * rules as the interpreter's OP_PROBE; a probe removed since compilation does nothing. */
int wz_jit_probe(wz_thread *t, wz_func *f, uint32_t ip)
{
    if (f->code[ip] != OP_PROBE) return 0;
    t->probe_fires++;
    /* the frame was written out: the operand stack ends at t->sp */
    if (wz_native_probes(f, ip, t->stack + t->sp)) {
        t->probe_site = (uintptr_t)(f->code + ip);
        return wz_probe_fire(t, 0);
    }
    return 0;
}

/* ---- memory ---- */
uint32_t wz_jit_memory_grow(wz_func *f, uint32_t delta)
{
    return (uint32_t)wz_memory_grow(f->inst->mems[0], delta);
}

int wz_jit_memory_init(wz_func *f, uint32_t seg, uint32_t d, uint32_t s, uint32_t n)
{
    wz_instance *inst = f->inst;
    wz_memory *m = inst->mems[0];
    if ((uint64_t)s + n > inst->data_len[seg] || (uint64_t)d + n > m->size) return WZ_TRAP_MEM_OOB;
    if (n) memcpy(m->base + d, inst->data[seg] + s, n);
    return 0;
}

int wz_jit_memory_copy(wz_func *f, uint32_t d, uint32_t s, uint32_t n)
{
    wz_memory *m = f->inst->mems[0];
    if ((uint64_t)s + n > m->size || (uint64_t)d + n > m->size) return WZ_TRAP_MEM_OOB;
    if (n) memmove(m->base + d, m->base + s, n);
    return 0;
}

int wz_jit_memory_fill(wz_func *f, uint32_t d, uint32_t v, uint32_t n)
{
    wz_memory *m = f->inst->mems[0];
    if ((uint64_t)d + n > m->size) return WZ_TRAP_MEM_OOB;
    if (n) memset(m->base + d, (int)(uint8_t)v, n);
    return 0;
}

void wz_jit_data_drop(wz_func *f, uint32_t seg) { f->inst->data_len[seg] = 0; }

/* ---- tables ---- */
int wz_jit_table_get(wz_func *f, uint32_t tab, uint32_t i, wz_val *out)
{
    wz_table *tb = f->inst->tables[tab];
    if (i >= tb->size) return WZ_TRAP_TABLE_OOB;
    *out = tb->elems[i];
    return 0;
}

int wz_jit_table_set(wz_func *f, uint32_t tab, uint32_t i, wz_val v)
{
    wz_table *tb = f->inst->tables[tab];
    if (i >= tb->size) return WZ_TRAP_TABLE_OOB;
    tb->elems[i] = v;
    return 0;
}

uint32_t wz_jit_table_size(wz_func *f, uint32_t tab) { return f->inst->tables[tab]->size; }

uint32_t wz_jit_table_grow(wz_func *f, uint32_t tab, wz_val init, uint32_t n)
{
    return (uint32_t)wz_table_grow(f->inst->tables[tab], n, init);
}

int wz_jit_table_fill(wz_func *f, uint32_t tab, uint32_t i, wz_val v, uint32_t n)
{
    wz_table *tb = f->inst->tables[tab];
    if ((uint64_t)i + n > tb->size) return WZ_TRAP_TABLE_OOB;
    for (uint32_t k = 0; k < n; k++) tb->elems[i + k] = v;
    return 0;
}

int wz_jit_table_init(wz_func *f, uint32_t seg, uint32_t tab, uint32_t d, uint32_t s, uint32_t n)
{
    wz_instance *inst = f->inst;
    wz_table *tb = inst->tables[tab];
    if ((uint64_t)s + n > inst->elem_len[seg] || (uint64_t)d + n > tb->size) return WZ_TRAP_TABLE_OOB;
    if (n) memcpy(tb->elems + d, inst->elems[seg] + s, (size_t)n * sizeof(wz_val));
    return 0;
}

int wz_jit_table_copy(wz_func *f, uint32_t dtab, uint32_t stab, uint32_t d, uint32_t s, uint32_t n)
{
    wz_table *dt = f->inst->tables[dtab], *st = f->inst->tables[stab];
    if ((uint64_t)s + n > st->size || (uint64_t)d + n > dt->size) return WZ_TRAP_TABLE_OOB;
    if (n) memmove(dt->elems + d, st->elems + s, (size_t)n * sizeof(wz_val));
    return 0;
}

void wz_jit_elem_drop(wz_func *f, uint32_t seg) { f->inst->elem_len[seg] = 0; }
