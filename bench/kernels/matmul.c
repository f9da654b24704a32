/* Dense n x n f64 matrix multiply C = A * B (i-k-j order), then a weighted checksum.
 * Inputs are small integers so every product and sum is exact: the checksum is
 * bit-identical in every engine and in numpy. */
#include "common.h"

EXPORT(matmul) double matmul(int n) {
    heap_reset();
    size_t nn = (size_t)n * (size_t)n;
    double *a = heap_alloc(nn * sizeof(double));
    double *b = heap_alloc(nn * sizeof(double));
    double *c = heap_alloc(nn * sizeof(double));
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            a[i * n + j] = (double)((i * 7 + j * 3) % 13) - 6.0;
            b[i * n + j] = (double)((i * 5 + j * 11) % 7) - 3.0;
            c[i * n + j] = 0.0;
        }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < n; k++) {
            double aik = a[i * n + k];
            double *bk = b + k * n;
            double *ci = c + i * n;
            for (int j = 0; j < n; j++) ci[j] += aik * bk[j];
        }
    double sum = 0.0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) sum += c[i * n + j] * (double)((i * n + j) % 1009 + 1);
    return sum;
}
