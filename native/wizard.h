/* wizard.h — the native runtime structures of wizardpy and the interpreter's entry points.
 *
 * These structures are shared by every tier (the C interpreter now, JIT-compiled code later) and
 * by the Python runtime, which allocates instances/functions with cffi and reads frames for
 * backtraces and probes. The internal code format the interpreter executes is described in
 * docs/internal-code.md. This header is parsed by cffi's cdef too: keep it to plain C declarations
 * (no macros with expressions, no inline functions).
 */
#ifndef WIZARD_H
#define WIZARD_H
#include <stdint.h>

typedef uint64_t wz_val;   /* i32 zero-extended, i64, f32 bits, f64 bits, refs (0 = null) */

/* Trap codes returned by wz_invoke/wz_resume and by callbacks. Python maps them to the spec's
 * messages (wizardpy/traps.py). */
enum {
    WZ_OK = 0,
    WZ_TRAP_UNREACHABLE = 1,      /* "unreachable" */
    WZ_TRAP_MEM_OOB = 2,          /* "out of bounds memory access" */
    WZ_TRAP_DIV_ZERO = 3,         /* "integer divide by zero" */
    WZ_TRAP_INT_OVERFLOW = 4,     /* "integer overflow" */
    WZ_TRAP_INVALID_CONV = 5,     /* "invalid conversion to integer" */
    WZ_TRAP_UNDEF_ELEM = 6,       /* "undefined element" (call_indirect index >= table size) */
    WZ_TRAP_UNINIT_ELEM = 7,      /* "uninitialized element" (call_indirect on null) */
    WZ_TRAP_INDIRECT_SIG = 8,     /* "indirect call type mismatch" */
    WZ_TRAP_TABLE_OOB = 9,        /* "out of bounds table access" */
    WZ_TRAP_STACK = 10,           /* "call stack exhausted" */
    WZ_TRAP_HOST = 11,            /* a host function or probe raised: Python has the exception */
    WZ_TRAP_NULL_REF = 12,        /* "null reference" (reserved) */
    WZ_TRAP_FUEL = 13,            /* "fuel exhausted" (limits mode: t->fuel ran out) */
    WZ_TRAP_TIMEOUT = 14,         /* "timeout" (limits mode: t->deadline_ns passed) */
    WZ_TRAP_INTERRUPT = 15        /* "interrupted" (limits mode: t->interrupt was set) */
};

enum { WZ_FUNC_WASM = 0, WZ_FUNC_HOST = 1 };

/* wz_func.probe_python flag bits (see there) */
enum { WZ_PF_PYTHON = 1, WZ_PF_HIT = 2, WZ_PF_COUNT = 4, WZ_PF_TALLY = 8 };

struct wz_instance;

/* A function instance. Wasm functions point at their module's internal code (shared by all
 * instances of the module: probes are per module). Funcref values are (wz_val)(uintptr_t)wz_func*. */
typedef struct wz_func {
    uint32_t sig;             /* engine-wide canonical signature id: equal ids <=> equal types */
    uint32_t kind;            /* WZ_FUNC_WASM | WZ_FUNC_HOST */
    struct wz_instance *inst; /* owning instance (wasm functions) */
    uint32_t *code;           /* internal code; mutable: probes overwrite opcode words */
    uint32_t code_len;
    uint32_t num_params;
    uint32_t num_results;
    uint32_t num_locals;      /* params + declared locals */
    uint32_t max_stack;       /* maximum operand stack height (from validation) */
    uint32_t index;           /* function index in its module's index space */
    uint32_t host_id;         /* host functions: key of the Python callable */
    uint32_t entry_ip;        /* where calls start: 1 skips the OP_ENTRY word at ip 0 (no entry
                               * probe: zero cost), 0 runs it (an entry probe sits there) */
    uint32_t *probe_ops;      /* NULL or code_len words: original opcode where a PROBE was written */
    uint64_t calls;           /* number of calls (tiering) */
    /* Native probes (no Python call per firing). All NULL = every OP_PROBE calls Python.
     * probe_counts: NULL or code_len counters; the OP_PROBE at ip adds 1 to probe_counts[ip]
     *   (an "add n" counter is firings * n).
     * probe_python: NULL or code_len flag bytes (WZ_PF_*) saying what the OP_PROBE at ip does
     *   besides counting: WZ_PF_PYTHON call wz_probe_fire (a non-native probe sits there);
     *   WZ_PF_HIT one-shot hit probes are armed there: the first firing sets probe_hits[ip],
     *   clears the flag and, unless WZ_PF_PYTHON or WZ_PF_COUNT is set too, writes the original
     *   word back (the probes removed themselves: wz_probe_hit); WZ_PF_COUNT count probes sit
     *   there (the word stays a probe after the hit; compiled code increments the counter);
     *   WZ_PF_TALLY tally probes sit there: probe_tally[ip] = {n, c[0], ..., c[n-1]} and the
     *   OP_PROBE adds 1 to c[min(v, n - 1)], v = the i32 on top of the stack (unsigned).
     * probe_hits: NULL or code_len bytes, 1 once a hit probe at ip fired (wizardpy HitProbe).
     * probe_seq, probe_fused: NULL, or (superinstructions, native/fusion.h) the membership of
     *   fused sequences, for re-fusing one when wz_probe_hit writes back the last probe word in
     *   it: probe_seq[ip] = ip - s + 1 for each instruction ip of the sequence whose first word
     *   is s (0 elsewhere); probe_fused[s] = the fused word of a sequence a probe un-fused (0:
     *   not un-fused). */
    uint64_t *probe_counts;
    uint8_t *probe_python;
    uint8_t *probe_hits;
    uint32_t *probe_seq;
    uint32_t *probe_fused;
    uint64_t **probe_tally;   /* NULL or code_len pointers (see WZ_PF_TALLY) */
    /* JIT tier (wizardpy/jit): NULL, or the compiled code of this function,
     * `int entry(wz_thread *t, wz_func *f, uint32_t fp)` (native/jit_support.c). Calls from
     * either tier go there when it is set; the JIT clears it to invalidate (probes changed). */
    void *jit_entry;
    /* Tiering (wizardpy/jit/codegen.py; 0 = off, the int tier): `tier_count` is decremented at
     * every call of the function (interpreter calls, wz_invoke, wz_jit_call) and `osr_count` at
     * every execution of one of its `loop` instructions (entry and back-edges); when one reaches
     * 0 the thread's jit_hook is called (compile the function / an on-stack-replacement entry at
     * that loop header), which re-arms or disables (0) the counter. */
    uint32_t tier_count;
    uint32_t osr_count;
    /* The compiled code's version: compiled code compares it with the version it was compiled
     * for after every call and probe and deoptimizes to the interpreter when they differ
     * (probes of the function changed: the code is stale). */
    uint32_t jit_version;
} wz_func;

/* A linear memory. `base` never moves: the whole maximum is reserved up front and pages are
 * committed on growth, so Python memoryviews and compiled code may keep the pointer. */
typedef struct wz_memory {
    uint8_t *base;
    uint64_t size;            /* current size in bytes = pages * 65536 */
    uint32_t pages;
    uint32_t max_pages;       /* declared maximum, or the engine's limit */
    uint64_t reserved;        /* bytes of address space reserved at base */
} wz_memory;

typedef struct wz_table {
    wz_val *elems;            /* may move on growth: always reach it through the table */
    uint32_t size;
    uint32_t max;             /* declared maximum or 0xFFFFFFFF */
    uint32_t capacity;
    uint32_t elem_type;       /* 0x70 funcref | 0x6F externref */
} wz_table;

typedef struct wz_global {
    wz_val value;
    uint32_t type;
    uint32_t mutable_;
} wz_global;

/* An instance: the index spaces of one instantiated module. Arrays are allocated by Python. */
typedef struct wz_instance {
    wz_func **funcs;      uint32_t num_funcs;
    wz_table **tables;    uint32_t num_tables;
    wz_memory **mems;     uint32_t num_mems;
    wz_global **globals;  uint32_t num_globals;
    uint32_t *sigs;       uint32_t num_types;   /* module type index -> canonical sig id */
    uint8_t **data;       uint32_t *data_len;   uint32_t num_data;   /* len 0 after data.drop */
    wz_val **elems;       uint32_t *elem_len;   uint32_t num_elems;  /* len 0 after elem.drop */
    uint32_t id;          /* Python-side instance id */
} wz_instance;

/* One activation. While a frame is not the innermost one, `ip` is the ip of its call
 * instruction. The innermost frame's ip/sp are written out whenever control leaves the loop
 * (trap, probe, host call), so Python can always walk all frames. */
typedef struct wz_frame {
    wz_func *func;
    uint32_t ip;              /* internal-code index of the current instruction */
    uint32_t fp;              /* value-stack index of local 0 */
    uint32_t sp;              /* value-stack index one past the top operand */
    uint32_t ret_ip;          /* where the caller continues (interpreter-private) */
    uint32_t deopt;           /* set by a FrameWriter write: a compiled frame deoptimizes to the
                               * interpreter when the callback that wrote returns (compiled code
                               * clears it when it pushes the frame; the interpreter ignores it) */
    uint64_t serial;          /* 0 when pushed; Python (instrumentation) stamps a unique nonzero
                               * id when it makes a FrameAccessor for the frame, so an accessor
                               * detects that its frame returned (StaleFrameError) even when a new
                               * frame now sits at the same depth */
} wz_frame;

/* An execution thread: value stack + frame stack. One per Store. */
typedef struct wz_thread {
    wz_val *stack;  uint32_t stack_size;  uint32_t sp;
    wz_frame *frames; uint32_t max_frames; uint32_t nframes;
    uint32_t trap_nframes;    /* after a trap: frames[0..trap_nframes) describe where it happened */
    uint32_t global_probes;   /* nonzero: the global hook runs before every instruction (not at
                               * OP_ENTRY); it adds 1 to global_count and, if bit 0 is set, calls
                               * wz_probe_fire(t, 1) (2 = native global counting only) */
    uint32_t in_probe;        /* nonzero while a probe callback runs */
    uint64_t counter;         /* free for tiers/monitors (e.g. executed-instruction counting) */
    uint64_t global_count;    /* instructions seen by the global hook (global CountProbes) */
    uintptr_t probe_site;     /* before wz_probe_fire: address of the code word firing (the
                               * instrumentation's fast key for the probe site) */
    /* JIT tiering (wizardpy/jit/codegen.py): NULL (int tier), or the Python callback run when a
     * function's tier_count (ip 0: compile it, set f->jit_entry) or osr_count (ip = the loop
     * header) reaches 0; for a loop header it returns the entry of code that continues the frame
     * at that loop in compiled code (on-stack replacement), or NULL to stay in the interpreter. */
    void *(*jit_hook)(struct wz_thread *t, struct wz_func *f, uint32_t ip);
    uint64_t jit_deopts;      /* compiled frames that continued in the interpreter (statistics) */
    uint64_t probe_fires;     /* local probe sites fired in either tier (statistics) */
    void *user;               /* cffi handle (ffi.new_handle) of the Python owner that receives
                               * wz_host_call / wz_probe_fire: see wizardpy/native.py */
    /* Resource limits (wizardpy/engine.py; zero cost while `limits` is 0). `limits` nonzero makes
     * the interpreter dispatch through the hook table (like global probes): before every
     * instruction it decrements `fuel` (trap WZ_TRAP_FUEL below 0), checks `interrupt` (set
     * asynchronously, e.g. by another thread on Ctrl-C; trap WZ_TRAP_INTERRUPT, cleared when it
     * traps) and, every 1024 instructions, CLOCK_MONOTONIC against `deadline_ns` (0 = none;
     * trap WZ_TRAP_TIMEOUT). Compiled code must keep the same contract while `limits` is set. */
    uint32_t limits;
    uint32_t interrupt;       /* read with a relaxed atomic load by the interpreter */
    int64_t fuel;             /* instructions left (limits mode) */
    uint64_t deadline_ns;     /* CLOCK_MONOTONIC ns (Python's time.monotonic_ns()), 0 = none */
    uint32_t limit_tick;      /* instruction counter for the periodic deadline check */
    uintptr_t jit_stack_limit; /* compiled code recurses on the C stack: a call whose C stack
                               * address is below this traps WZ_TRAP_STACK (set by wz_invoke) */
    /* Fast probe callback (native/build_native.py, wizardpy/engine.py): NULL, or a Python callable
     * (PyObject*, kept alive by the Engine) that wz_probe_fire calls directly through the Python C
     * API as cb(site) -> None | trap code, with site = t->probe_site for a local probe and 0 for a
     * global one. If it raises, the exception goes to py_park(exc) and the result is WZ_TRAP_HOST.
     * NULL: the cffi callback (wizardpy/native.py) is used.
     * py_runs (NULL or a dict {site: (f, arg)}, site 0 = the global round) lets native code call
     * f(arg) itself; a result other than None, or an exception, then goes to
     * py_finish(site, f, arg, result, exception) -> trap code. A site not in it: py_probe(site). */
    void *py_probe;
    void *py_park;
    void *py_runs;
    void *py_finish;
} wz_thread;

/* ---- memories and tables (runtime.c) ---- */
wz_memory *wz_memory_new(uint32_t initial_pages, uint32_t max_pages);  /* NULL on failure */
int64_t wz_memory_grow(wz_memory *m, uint32_t delta_pages);           /* old pages, or -1 */
void wz_memory_free(wz_memory *m);
wz_table *wz_table_new(uint32_t initial, uint32_t max, uint32_t elem_type, wz_val init);
int64_t wz_table_grow(wz_table *t, uint32_t delta, wz_val init);      /* old size, or -1 */
void wz_table_free(wz_table *t);
wz_thread *wz_thread_new(uint32_t stack_slots, uint32_t max_frames);
void wz_thread_free(wz_thread *t);

/* Probes in bulk (runtime.c): restore the words of clear[0..nclear) (Python flag 0), then write
 * OP_PROBE over the words of set[0..nset) (original saved in ops unless already a probe; Python
 * flag flags[i]). Word indices are into the module's code/ops/python buffers. */
void wz_probe_patch(uint32_t *code, uint32_t *ops, uint8_t *python,
                    const uint32_t *set, const uint8_t *flags, uint32_t nset,
                    const uint32_t *clear, uint32_t nclear);

/* Hit probes at the words of ws[0..n) that hold no probe yet (wizardpy/instrumentation.py
 * _insert_hits; runtime.c): probe_hits[w] = 0, the superinstruction w is in un-fused (back:
 * wz_seq_map's membership, NULL without superinstructions; its fused word saved in unfused),
 * then OP_PROBE written over w (original saved in ops) with the flag byte `flag`. */
void wz_probe_arm(uint32_t *code, uint32_t *ops, uint8_t *python, uint8_t *hits,
                  const uint32_t *back, uint32_t *unfused, const uint32_t *ws, uint32_t n,
                  uint8_t flag);

/* The first firing of the armed hit probes at word ip of f (probe_python[ip] & WZ_PF_HIT;
 * runtime.c): probe_hits[ip] = 1, the flag cleared, and the original word written back where
 * nothing else is left there. Either tier calls it before the other probes at ip fire. */
void wz_probe_hit(wz_func *f, uint32_t ip);

/* HitProbe words implied by compiled code's region bits (wizardpy/instrumentation.py
 * _HitWords.reader; runtime.c): hit[words[k]] = 1 where (*(uint8_t *)addrs[k] & masks[k]) != 0,
 * k < n. Every words[k] is below the length of hit (the module's code words). */
void wz_hit_implied(uint8_t *hit, const uint32_t *words, const uint64_t *addrs,
                    const uint8_t *masks, size_t n);

/* Superinstructions (fusion.c). wz_seq_len: instructions in a sequence with fused word
 * `fused` (as wizardpy/fusion.py seq_len). wz_seq_map: their membership in the whole module,
 * for the instrumentation (a probe at any instruction of a sequence un-fuses it, removing the
 * last re-fuses it): nfuncs functions at code + offs[f], lens[f] words each; for every
 * sequence (first word s, fused now, or un-fused by a probe: its fused word in unfused[s]),
 * back[w] = w - s + 1 for each of its instructions' words w and span[s] = the distance from s
 * to its last instruction's word; other entries untouched. ops: the original words under
 * probes and fused words. 0, or -1 without memory (nothing written). */
uint32_t wz_seq_len(uint32_t fused);
int wz_seq_map(const uint32_t *code, const uint32_t *ops, const uint32_t *unfused,
               const uint32_t *offs, const uint32_t *lens, uint32_t nfuncs,
               uint32_t *back, uint8_t *span);
/* Basic-block leaders of one function (wizardpy/monitor.py block_leaders), from the validator's
 * internal code (len words, not fused or probed): writes to out[] (room for len) the ips of the
 * instruction after every br, br_if, br_table, return, unreachable, if, else, call and
 * call_indirect and of every place a branch lands (if: its else-ip; else: its end; br, br_if,
 * br_table: their targets), in no particular order and maybe repeated; returns how many. */
uint32_t wz_block_leaders(const uint32_t *code, uint32_t len, uint32_t *out);

/* ---- execution (interp.c) ---- */
/* Call `f` with its arguments at t->stack[t->sp .. t->sp+num_params). On WZ_OK the results are
 * at t->stack[t->sp .. t->sp+num_results) and t->sp/t->nframes are as on entry. On a trap,
 * frames[nframes_on_entry .. trap_nframes) (with their ip) locate it; t->sp and t->nframes are
 * restored to their entry values before returning. Re-entrant: host functions may call it. */
int wz_invoke(wz_thread *t, wz_func *f);

/* Resume a Wasm frame of `f` at instruction `ip` with the given locals and operand stack
 * (operands[0] = bottom) and run it to completion; results as for wz_invoke. Used for
 * deoptimization and tests of frame reconstruction. */
int wz_resume(wz_thread *t, wz_func *f, uint32_t ip, const wz_val *locals,
              const wz_val *operands, uint32_t num_operands);

/* Superinstructions (native/fusion.h, wizardpy/fusion.py): 1 if `op` is a fused opcode the
 * interpreter implements (fused opcodes are >= 0x200; the original word stays in probe_ops). */
int wz_fusable(uint32_t op);
/* Fuse one function's fresh internal code (code[0 .. len)) in place, the original first words
 * going to orig[] (its probe_ops): the number of sequences fused, -1 if code is not fresh
 * (native/fusion.c; wizardpy/fusion.py `plan` is the reference). */
int wz_fuse(uint32_t *code, uint32_t *orig, uint32_t len);

/* ---- JIT tier support (jit_support.c): called by compiled code, see wizardpy/jit ---- */
/* Call any function (compiled, interpreted or host) whose arguments are at t->stack[base..];
 * results come back there. Checks the frame limit, the value stack and the C stack. 0 or a trap
 * code (t->trap_nframes set by whoever trapped). The caller's frame is t->frames[t->nframes-1]. */
int wz_jit_call(wz_thread *t, wz_func *g, uint32_t base);
/* Run a Wasm function in the interpreter (frame pushed at t->nframes; locals already zeroed). */
int wz_interp_call(wz_thread *t, wz_func *f, uint32_t fp);
/* The C-stack address below which compiled code must not recurse on the calling thread. */
uintptr_t wz_jit_stack_limit(void);
int wz_jit_trap(wz_thread *t, uint32_t frame, uint32_t ip, int code);
int wz_jit_probe(wz_thread *t, wz_func *f, uint32_t ip);
/* Deoptimization (interp.c): the compiled frame frames[frame] (func, fp set) continues in the
 * interpreter at instruction `ip` with operand top `sp` (locals and operands already in the
 * value stack) until it returns (results at stack[fp ..], t->nframes = frame) or traps.
 * after_probe: the local probe at ip already fired (run the instruction under it). */
int wz_jit_deopt(wz_thread *t, uint32_t frame, uint32_t ip, uint32_t sp, uint32_t after_probe);
uint32_t wz_jit_memory_grow(wz_func *f, uint32_t delta);
int wz_jit_memory_init(wz_func *f, uint32_t seg, uint32_t d, uint32_t s, uint32_t n);
int wz_jit_memory_copy(wz_func *f, uint32_t d, uint32_t s, uint32_t n);
int wz_jit_memory_fill(wz_func *f, uint32_t d, uint32_t v, uint32_t n);
int wz_jit_table_get(wz_func *f, uint32_t tab, uint32_t i, wz_val *out);
int wz_jit_table_set(wz_func *f, uint32_t tab, uint32_t i, wz_val v);
uint32_t wz_jit_table_size(wz_func *f, uint32_t tab);
uint32_t wz_jit_table_grow(wz_func *f, uint32_t tab, wz_val init, uint32_t n);
int wz_jit_table_fill(wz_func *f, uint32_t tab, uint32_t i, wz_val v, uint32_t n);
int wz_jit_table_init(wz_func *f, uint32_t seg, uint32_t tab, uint32_t d, uint32_t s, uint32_t n);
int wz_jit_table_copy(wz_func *f, uint32_t dtab, uint32_t stab, uint32_t d, uint32_t s, uint32_t n);
void wz_jit_elem_drop(wz_func *f, uint32_t seg);
void wz_jit_data_drop(wz_func *f, uint32_t seg);

#endif
