/* runtime.c — linear memories, tables and execution threads of wizardpy.
 *
 * Memories reserve their whole maximum of address space up front (PROT_NONE, MAP_NORESERVE) and
 * make pages accessible on growth, so `base` never moves. The interpreter never relies on the
 * inaccessible part: every access is bounds-checked against `size` explicitly.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "wizard.h"

#define WZ_PAGE 65536ull
#define WZ_MAX_PAGES 65536u
/* Tables beyond this many elements make table.grow fail (return -1) instead of allocating. */
#define WZ_TABLE_LIMIT 10000000u

wz_memory *wz_memory_new(uint32_t initial_pages, uint32_t max_pages)
{
    if (max_pages > WZ_MAX_PAGES) max_pages = WZ_MAX_PAGES;
    if (initial_pages > max_pages) return NULL;
    wz_memory *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    uint64_t reserve = (uint64_t)max_pages * WZ_PAGE;
    if (reserve == 0) reserve = WZ_PAGE;  /* keep a non-NULL base for an empty memory */
    void *p = mmap(NULL, reserve, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) { free(m); return NULL; }
    if (initial_pages &&
        mprotect(p, (uint64_t)initial_pages * WZ_PAGE, PROT_READ | PROT_WRITE) != 0) {
        munmap(p, reserve);
        free(m);
        return NULL;
    }
    m->base = p;
    m->reserved = reserve;
    m->pages = initial_pages;
    m->size = (uint64_t)initial_pages * WZ_PAGE;
    m->max_pages = max_pages;
    return m;
}

int64_t wz_memory_grow(wz_memory *m, uint32_t delta_pages)
{
    uint32_t old = m->pages;
    if (delta_pages == 0) return old;
    uint64_t np = (uint64_t)old + delta_pages;
    if (np > m->max_pages || np * WZ_PAGE > m->reserved) return -1;
    if (mprotect(m->base + m->size, (uint64_t)delta_pages * WZ_PAGE, PROT_READ | PROT_WRITE) != 0)
        return -1;
    m->pages = (uint32_t)np;
    m->size = np * WZ_PAGE;
    return old;
}

void wz_memory_free(wz_memory *m)
{
    if (!m) return;
    if (m->base) munmap(m->base, m->reserved);
    free(m);
}

wz_table *wz_table_new(uint32_t initial, uint32_t max, uint32_t elem_type, wz_val init)
{
    if (initial > max || initial > WZ_TABLE_LIMIT) return NULL;
    wz_table *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    uint32_t cap = initial ? initial : 1;
    t->elems = malloc((size_t)cap * sizeof(wz_val));
    if (!t->elems) { free(t); return NULL; }
    for (uint32_t i = 0; i < initial; i++) t->elems[i] = init;
    t->size = initial;
    t->max = max;
    t->capacity = cap;
    t->elem_type = elem_type;
    return t;
}

int64_t wz_table_grow(wz_table *t, uint32_t delta, wz_val init)
{
    uint32_t old = t->size;
    uint64_t ns = (uint64_t)old + delta;
    if (ns > t->max || ns > WZ_TABLE_LIMIT) return -1;
    if (ns > t->capacity) {
        uint64_t cap = (uint64_t)t->capacity * 2;
        if (cap < ns) cap = ns;
        if (cap > WZ_TABLE_LIMIT) cap = WZ_TABLE_LIMIT;
        wz_val *e = realloc(t->elems, (size_t)cap * sizeof(wz_val));
        if (!e) return -1;
        t->elems = e;
        t->capacity = (uint32_t)cap;
    }
    for (uint64_t i = old; i < ns; i++) t->elems[i] = init;
    t->size = (uint32_t)ns;
    return old;
}

void wz_table_free(wz_table *t)
{
    if (!t) return;
    free(t->elems);
    free(t);
}

wz_thread *wz_thread_new(uint32_t stack_slots, uint32_t max_frames)
{
    if (stack_slots == 0 || max_frames == 0) return NULL;
    wz_thread *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->stack = calloc(stack_slots, sizeof(wz_val));
    t->frames = calloc(max_frames, sizeof(wz_frame));
    if (!t->stack || !t->frames) {
        free(t->stack);
        free(t->frames);
        free(t);
        return NULL;
    }
    t->stack_size = stack_slots;
    t->max_frames = max_frames;
    return t;
}

void wz_thread_free(wz_thread *t)
{
    if (!t) return;
    free(t->stack);
    free(t->frames);
    free(t);
}

/* Probe patching in bulk (wizardpy/instrumentation.py: Instrumentation._commit): the words of
 * `clear` get their original opcode back (from `ops`) and their Python flag 0; the words of
 * `set` get OP_PROBE (the original opcode saved in `ops` unless a probe is already there) and
 * the Python flag `flags[i]`. One call per batch of insertions/removals instead of three cffi
 * item writes per location. */
#define WZ_OP_PROBE 0x120u
void wz_probe_patch(uint32_t *code, uint32_t *ops, uint8_t *python,
                    const uint32_t *set, const uint8_t *flags, uint32_t nset,
                    const uint32_t *clear, uint32_t nclear)
{
    for (uint32_t i = 0; i < nclear; i++) {
        uint32_t w = clear[i];
        if (code[w] == WZ_OP_PROBE) code[w] = ops[w];
        python[w] = 0;
    }
    for (uint32_t i = 0; i < nset; i++) {
        uint32_t w = set[i];
        python[w] = flags[i];
        if (code[w] != WZ_OP_PROBE) {
            ops[w] = code[w];
            code[w] = WZ_OP_PROBE;    /* last: the interpreter may see it at once */
        }
    }
}

void wz_probe_arm(uint32_t *code, uint32_t *ops, uint8_t *python, uint8_t *hits,
                  const uint32_t *back, uint32_t *unfused, const uint32_t *ws, uint32_t n,
                  uint8_t flag)
{
    for (uint32_t i = 0; i < n; i++) {
        uint32_t w = ws[i];
        hits[w] = 0;
        if (back && back[w]) {
            uint32_t s = w - back[w] + 1;
            if (code[s] >= 0x200u) {        /* un-fuse: no superinstruction runs over a probe */
                unfused[s] = code[s];
                code[s] = ops[s];
            }
        }
        python[w] = flag;
        if (code[w] != WZ_OP_PROBE) {
            ops[w] = code[w];
            code[w] = WZ_OP_PROBE;
        }
    }
}

void wz_hit_implied(uint8_t *hit, const uint32_t *words, const uint64_t *addrs,
                    const uint8_t *masks, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (*(const uint8_t *)(uintptr_t)addrs[k] & masks[k])
            hit[words[k]] = 1;
}

void wz_probe_hit(wz_func *f, uint32_t ip)
{
    uint32_t *code = f->code;
    uint8_t fl = (uint8_t)(f->probe_python[ip] & ~WZ_PF_HIT);
    f->probe_hits[ip] = 1;
    f->probe_python[ip] = fl;
    if ((fl & (WZ_PF_PYTHON | WZ_PF_COUNT | WZ_PF_TALLY)) || code[ip] != WZ_OP_PROBE) return;
    code[ip] = f->probe_ops[ip];            /* the hit probes removed themselves */
    /* fuse the sequence ip is in again if no probe is left in it (wizardpy/instrumentation.py
     * _refuse does the same when Python removes a probe) */
    uint32_t back = f->probe_seq ? f->probe_seq[ip] : 0;
    if (!back || !f->probe_fused) return;
    uint32_t s = ip - (back - 1), fused = f->probe_fused[s];
    if (!fused || code[s] != f->probe_ops[s]) return;
    uint32_t want = wz_seq_len(fused), seen = 1;
    for (uint32_t x = s + 1; x < f->code_len && seen < want; x++) {
        if (f->probe_seq[x] != x - s + 1) continue;        /* an immediate, not a member */
        if (code[x] >= WZ_OP_PROBE) return;                 /* a probe is left in it */
        seen++;
    }
    f->probe_fused[s] = 0;
    code[s] = fused;
}

