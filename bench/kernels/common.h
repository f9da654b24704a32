/* Shared helpers for the benchmark kernels: no libc, no WASI imports.
 * Each kernel resets a bump allocator over linear memory (grown on demand), so
 * the same instance can run any size, any number of times. */
#ifndef WIZARDPY_BENCH_COMMON_H
#define WIZARDPY_BENCH_COMMON_H

typedef unsigned int u32;
typedef unsigned long long u64;
typedef __SIZE_TYPE__ size_t;

#define EXPORT(name) __attribute__((export_name(#name)))

extern unsigned char __heap_base;

static size_t heap_top;

static void heap_reset(void) { heap_top = (size_t)&__heap_base; }

static void *heap_alloc(size_t bytes) {
    size_t p = (heap_top + 15u) & ~(size_t)15u;
    size_t end = p + bytes;
    size_t have = __builtin_wasm_memory_size(0) * 65536u;
    if (end > have) {
        size_t pages = (end - have + 65535u) / 65536u;
        if (__builtin_wasm_memory_grow(0, pages) == (size_t)-1) __builtin_trap();
    }
    heap_top = end;
    return (void *)p;
}

#endif
