/* Recursive Fibonacci: call-heavy, tiny frames. fib(n) -> i32 (wraps). */
#include "common.h"

EXPORT(fib) int fib(int n) {
    if (n < 2) return n;
    return fib(n - 1) + fib(n - 2);
}
