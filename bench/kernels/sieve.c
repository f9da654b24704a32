/* Sieve of Eratosthenes over a byte array: number of primes below n (i32). */
#include "common.h"

EXPORT(sieve) int sieve(int n) {
    if (n < 3) return 0;
    heap_reset();
    unsigned char *composite = heap_alloc((size_t)n);
    for (int i = 0; i < n; i++) composite[i] = 0;
    int count = 0;
    for (int i = 2; i < n; i++) {
        if (composite[i]) continue;
        count++;
        for (long long j = (long long)i * i; j < n; j += i) composite[j] = 1;
    }
    return count;
}
