/* 64-bit integer mixing: n rounds of splitmix64, folded with rotate/xor (i64). */
#include "common.h"

EXPORT(mix64) long long mix64(int n) {
    u64 state = 0x0123456789abcdefULL, acc = 0;
    for (int i = 0; i < n; i++) {
        state += 0x9e3779b97f4a7c15ULL;
        u64 z = state;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        z = z ^ (z >> 31);
        acc = ((acc << 5) | (acc >> 59)) ^ z;
    }
    return (long long)acc;
}
