"""Throughput of the native interpreter on loop-heavy hand-assembled code (not a test).

    .venv/bin/python native/bench_loop.py

Prints Wasm instructions per second (executed internal instructions = Wasm instructions,
counting block/loop/end like everything else) for: a counting loop over locals, recursive fib,
and a memory-summing loop (i32.load + bounds check per iteration).
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from test_native import Env, Fn  # noqa: E402  (the hand assembler of the native tests)


def loop_fn():
    f = Fn(1, 1, locals_=1)
    f.label("L")("loop")("local.get", 1)("local.get", 0)("i32.add")("local.set", 1)
    f("local.get", 0)("i32.const", 1)("i32.sub")("local.tee", 0)("br_if", "L", 0, 0)
    f("local.get", 1)("return", 1)
    return f, lambda n: 10 * n + 2


def fib_fn():
    f = Fn(1, 1)
    f("local.get", 0)("i32.const", 2)("i32.lt_u")("if", "ELSE")("local.get", 0)("return", 1)
    f.label("ELSE")("end")
    f("local.get", 0)("i32.const", 1)("i32.sub")("call", 0)
    f("local.get", 0)("i32.const", 2)("i32.sub")("call", 0)("i32.add")("return", 1)
    memo = {}

    def count(n):
        if n < 2:
            return 6
        if n not in memo:
            memo[n] = 15 + count(n - 1) + count(n - 2)
        return memo[n]
    return f, count


def memsum_fn():
    # s = 0; i = 0; loop: s += load(i); i += 4; br_if loop (i < n)    (n in bytes)
    f = Fn(1, 1, locals_=2)
    f.label("L")("loop")("local.get", 1)("i32.load", 0)("local.get", 2)("i32.add")("local.set", 2)
    f("local.get", 1)("i32.const", 4)("i32.add")("local.tee", 1)("local.get", 0)("i32.lt_u")
    f("br_if", "L", 0, 0)("local.get", 2)("return", 1)
    return f, lambda n: 12 * (n // 4) + 2


def bench(name, fn_count, arg, mem=None, reps=3):
    fn, count = fn_count
    env = Env([fn], mem=mem)
    best = None
    for _ in range(reps):
        t0 = time.perf_counter()
        env.run(0, arg)
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    n = count(arg)
    print(f"{name:10s} {n / 1e6:9.1f} M instrs in {best * 1e3:8.1f} ms: "
          f"{n / best / 1e6:7.0f} M instr/s ({best / n * 1e9:.2f} ns/instr)")


if __name__ == "__main__":
    bench("loop", loop_fn(), 20_000_000, reps=7)
    bench("fib", fib_fn(), 27, reps=7)
    bench("memsum", memsum_fn(), 4 * 1024 * 1024, mem=(64, 64), reps=20)
