/* sso: kernel of "Target-based Surrogates for Stochastic Optimization"
 * (Lavington et al.). For a loss L(theta) = l(f(theta)) with targets
 * z = f(theta) = X theta, SSO takes the stochastic gradient step in *target*
 * space, z~ = z - eta * grad_z l_B(z), and then (approximately) projects it back
 * onto the model class by m projected-GD steps on the surrogate
 * (1/2)||X_B theta - z~||^2 -- no further loss-gradient evaluations needed.
 * Compared against plain projected SGD on logistic regression.
 * argv[1] = N samples (default 20000; 80 % train), argv[2] = seed (default 42).
 */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <math.h>

#define D 32
#define NMAX 40000
#define BATCH 64
#define EPOCHS 20
#define INNER 10
#define ETA_SGD 0.5      /* SGD step on the mean batch loss */
#define ETA_T 0.5        /* SSO target-space step (per example) */
#define BETA 0.25        /* SSO inner step: theta -= BETA/B * X_B^T (X_B theta - z~) */
#define RADIUS 10.0      /* projection ball */
#define EXPORT(n) __attribute__((export_name(n)))

static uint64_t sm64(uint64_t seed, uint64_t i) {
    uint64_t z = seed + (i + 1) * 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
typedef struct { uint64_t s, i; } rng_t;
static double ru(rng_t *r) { return (double)(sm64(r->s, r->i++) >> 11) * 0x1.0p-53; }
static double rn(rng_t *r) { double u1 = ru(r), u2 = ru(r); return sqrt(-2.0 * log(1.0 - u1)) * cos(6.283185307179586 * u2); }
static rng_t stream(uint64_t seed, uint64_t k) { rng_t r = { sm64(seed, 0xABCD0000ULL + k), 0 }; return r; }

static int N = 0, NTR = 0;
static double X[NMAX][D], Y[NMAX], wstar[D];
static double th[2][D];          /* 0 = SGD, 1 = SSO */
static int perm[NMAX];
static rng_t rperm;
static uint64_t gseed;

static int setup(int n, long long seed) {
    if (n < 10 * BATCH) n = 10 * BATCH;
    if (n > NMAX) n = NMAX;
    N = n; NTR = (int)(0.8 * n);
    gseed = (uint64_t)seed;
    rng_t r0 = stream(gseed, 0), r1 = stream(gseed, 1), r2 = stream(gseed, 2);
    for (int j = 0; j < D; j++) wstar[j] = 3.0 * rn(&r0) / sqrt((double)D);
    for (int i = 0; i < N; i++) {
        double z = 0;
        for (int j = 0; j < D; j++) { X[i][j] = rn(&r1); z += X[i][j] * wstar[j]; }
        Y[i] = ru(&r2) < 1.0 / (1.0 + exp(-z)) ? 1.0 : 0.0;
    }
    for (int m = 0; m < 2; m++) for (int j = 0; j < D; j++) th[m][j] = 0;
    rperm = stream(gseed, 3);
    return N;
}

static double sigm(double z) { return 1.0 / (1.0 + exp(-z)); }
static double softplus(double z) { return z > 0 ? z + log1p(exp(-z)) : log1p(exp(z)); }
static void project(double *t) {
    double nn = 0;
    for (int j = 0; j < D; j++) nn += t[j] * t[j];
    nn = sqrt(nn);
    if (nn > RADIUS) for (int j = 0; j < D; j++) t[j] *= RADIUS / nn;
}

/* mean logistic loss of method m (0 SGD, 1 SSO) on the training set */
static double train_loss(int m) {
    double L = 0;
    for (int i = 0; i < NTR; i++) {
        double z = 0;
        for (int j = 0; j < D; j++) z += X[i][j] * th[m & 1][j];
        L += softplus(z) - Y[i] * z;
    }
    return L / NTR;
}

static double test_acc(int m) {
    int c = 0;
    for (int i = NTR; i < N; i++) {
        double z = 0;
        for (int j = 0; j < D; j++) z += X[i][j] * th[m][j];
        c += (z > 0) == (Y[i] > 0.5);
    }
    return (double)c / (N - NTR);
}

/* one epoch of both methods over the same fresh random permutation
 * (Fisher-Yates from the identity); last partial batch dropped.
 * Returns the number of batches. */
static int epoch(void) {
    for (int i = 0; i < NTR; i++) perm[i] = i;
    for (int i = NTR - 1; i > 0; i--) {
        int j = (int)(ru(&rperm) * (i + 1)); if (j > i) j = i;
        int t = perm[i]; perm[i] = perm[j]; perm[j] = t;
    }
    int nb = NTR / BATCH;
    double g[D], z[BATCH], zt[BATCH];
    for (int b = 0; b < nb; b++) {
        const int *idx = perm + b * BATCH;
        /* plain projected SGD */
        for (int j = 0; j < D; j++) g[j] = 0;
        for (int k = 0; k < BATCH; k++) {
            const double *x = X[idx[k]];
            double s = 0;
            for (int j = 0; j < D; j++) s += x[j] * th[0][j];
            double r = sigm(s) - Y[idx[k]];
            for (int j = 0; j < D; j++) g[j] += r * x[j];
        }
        for (int j = 0; j < D; j++) th[0][j] -= ETA_SGD * g[j] / BATCH;
        project(th[0]);
        /* SSO: target step, then INNER projected-GD steps on the surrogate */
        for (int k = 0; k < BATCH; k++) {
            const double *x = X[idx[k]];
            double s = 0;
            for (int j = 0; j < D; j++) s += x[j] * th[1][j];
            z[k] = s;
            zt[k] = s - ETA_T * (sigm(s) - Y[idx[k]]);
        }
        for (int it = 0; it < INNER; it++) {
            for (int j = 0; j < D; j++) g[j] = 0;
            for (int k = 0; k < BATCH; k++) {
                const double *x = X[idx[k]];
                double r = (it == 0 ? z[k] : 0) - zt[k];
                if (it) for (int j = 0; j < D; j++) r += x[j] * th[1][j];
                for (int j = 0; j < D; j++) g[j] += r * x[j];
            }
            for (int j = 0; j < D; j++) th[1][j] -= BETA * g[j] / BATCH;
            project(th[1]);
        }
    }
    return nb;
}

/* Exported kernels: pure functions of their arguments. All but kernel_setup
 * first regenerate the data and reset both models with
 * setup(KERNEL_N, KERNEL_SEED), so repeated calls / fresh instances agree. */
#define KERNEL_N 4000
#define KERNEL_SEED 42

/* generate data, reset both models; returns N (clamped) */
EXPORT("kernel_setup")
int kernel_setup(int n, long long seed) { return setup(n, seed); }

/* fresh data + models, one epoch of SGD and SSO; returns #batches */
EXPORT("kernel_epoch")
int kernel_epoch(void) {
    setup(KERNEL_N, KERNEL_SEED);
    return epoch();
}

/* fresh data + models, one epoch; training loss of method m (0 SGD, 1 SSO) */
EXPORT("kernel_train_loss")
double kernel_train_loss(int m) {
    setup(KERNEL_N, KERNEL_SEED);
    epoch();
    return train_loss(m);
}

/* fresh data + models, one epoch; test accuracy of method m */
EXPORT("kernel_test_accuracy")
double kernel_test_accuracy(int m) {
    setup(KERNEL_N, KERNEL_SEED);
    epoch();
    return test_acc(m & 1);
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 20000;
    long long seed = argc > 2 ? atoll(argv[2]) : 42;
    n = setup(n, seed);
    printf("samples: %d\ntrain: %d\ndim: %d\nbatch: %d\nepochs: %d\ninner: %d\nseed: %lld\n", N, NTR, D, BATCH, EPOCHS, INNER, seed);
    double Ls = 0;  /* loss of the generating parameters, for reference */
    for (int i = 0; i < NTR; i++) { double z = 0; for (int j = 0; j < D; j++) z += X[i][j] * wstar[j]; Ls += softplus(z) - Y[i] * z; }
    printf("loss_wstar: %.10g\n", Ls / NTR);
    double ls[EPOCHS], lo[EPOCHS];
    for (int e = 0; e < EPOCHS; e++) { epoch(); ls[e] = train_loss(0); lo[e] = train_loss(1); }
    printf("sgd_loss:"); for (int e = 0; e < EPOCHS; e++) printf(" %.10g", ls[e]); printf("\n");
    printf("sso_loss:"); for (int e = 0; e < EPOCHS; e++) printf(" %.10g", lo[e]); printf("\n");
    printf("sgd_test_acc: %.10g\nsso_test_acc: %.10g\n", test_acc(0), test_acc(1));
    for (int m = 0; m < 2; m++) {
        printf("%s_theta:", m ? "sso" : "sgd");
        for (int j = 0; j < D; j++) printf(" %.10g", th[m][j]);
        printf("\n");
    }
    return 0;
}
