/* causal-minimax: kernel of "Which Invariance Should We Transfer? A Causal
 * Minimax Learning Approach" (Ma et al.). Training data come from several
 * environments of a linear SCM; some covariates are causes of Y, some are
 * children of Y whose mechanism is stable, others are children whose
 * mechanism changes across environments (mutable). Search all 2^d feature
 * subsets S: fit least squares of Y on X_S on the pooled training data, test
 * invariance (in every environment the residual has ~zero mean and is
 * uncorrelated with each used covariate) and estimate
 * the worst-case risk max_e MSE_e; pick the stable subset with minimal
 * estimated worst-case risk. Everything is computed from per-environment
 * Gram matrices of z = [1, x, y]. Held-out environments with stronger shifts
 * measure the true worst-case risk.
 * argv[1] = d covariates (default 16, max 20), argv[2] = seed (default 42).
 */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <math.h>

#define DMAX 20
#define ZD (DMAX + 2)
#define ETR 6
#define ETE 2
#define NE 1000
#define TAU_M 0.15
#define TAU_C 0.15
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

static int d = 0, dc = 0;                    /* covariates, causes */
static double Gm[ETR + ETE][ZD][ZD];         /* per-env Gram of [1, x, y] */
static double Gp[ZD][ZD];                    /* pooled training Gram */
static int n_stable, sel_mask, pool_mask;
static double sel_risk, pool_risk;
static double last_mean_dev, last_var_ratio, last_corr;

EXPORT("kernel_setup")
int kernel_setup(int dd, long long seed) {
    if (dd < 2) dd = 2;
    if (dd > DMAX) dd = DMAX;
    d = dd; dc = d / 2;
    int nch = d - dc, nstab = nch / 2;
    rng_t r0 = stream((uint64_t)seed, 0), r1 = stream((uint64_t)seed, 1), r2 = stream((uint64_t)seed, 2);
    double beta[DMAX], alpha[DMAX];
    for (int c = 0; c < dc; c++) beta[c] = rn(&r0);
    for (int k = 0; k < nch; k++) alpha[k] = 1.0 + 0.5 * rn(&r0);
    double z[ZD];
    for (int e = 0; e < ETR + ETE; e++) {
        double mu[DMAX], ae[DMAX];
        double shift = e < ETR ? 1.0 : 3.0;
        for (int c = 0; c < dc; c++) mu[c] = rn(&r1);
        for (int k = 0; k < nch; k++) { double g = rn(&r1); ae[k] = alpha[k] + (k >= nstab ? shift * g : 0.0); }
        for (int i = 0; i < ZD; i++) for (int j = 0; j < ZD; j++) Gm[e][i][j] = 0;
        for (int n = 0; n < NE; n++) {
            double y = 0;
            z[0] = 1;
            for (int c = 0; c < dc; c++) { z[1 + c] = mu[c] + rn(&r2); y += beta[c] * z[1 + c]; }
            y += rn(&r2);
            for (int k = 0; k < nch; k++) z[1 + dc + k] = ae[k] * y + 0.5 * rn(&r2);
            z[d + 1] = y;
            for (int i = 0; i < d + 2; i++) for (int j = 0; j < d + 2; j++) Gm[e][i][j] += z[i] * z[j];
        }
    }
    for (int i = 0; i < d + 2; i++) for (int j = 0; j < d + 2; j++) {
        double s = 0; for (int e = 0; e < ETR; e++) s += Gm[e][i][j]; Gp[i][j] = s;
    }
    return d;
}

/* least squares (with intercept) of y on x_S from the pooled Gram; worst-case
 * MSE over training (which=0) or test (which=1) environments. Also sets the
 * invariance statistics (max |residual mean|, max |corr(residual, x_j)|,
 * max/min MSE over training envs). */
EXPORT("kernel_subset_risk")
double kernel_subset_risk(int mask, int which) {
    int idx[ZD], k = 0;
    idx[k++] = 0;
    for (int j = 0; j < d; j++) if (mask >> j & 1) idx[k++] = 1 + j;
    int y = d + 1;
    double L[ZD][ZD], b[ZD], beta[ZD];
    for (int i = 0; i < k; i++) {
        for (int j = 0; j <= i; j++) {
            double s = Gp[idx[i]][idx[j]];
            for (int t = 0; t < j; t++) s -= L[i][t] * L[j][t];
            L[i][j] = i == j ? sqrt(s) : s / L[j][j];
        }
    }
    for (int i = 0; i < k; i++) { double s = Gp[idx[i]][y]; for (int t = 0; t < i; t++) s -= L[i][t] * b[t]; b[i] = s / L[i][i]; }
    for (int i = k - 1; i >= 0; i--) { double s = b[i]; for (int t = i + 1; t < k; t++) s -= L[t][i] * beta[t]; beta[i] = s / L[i][i]; }
    double worst = 0, mdev = 0, vmin = 1e300, vmax = 0, cmax = 0;
    for (int e = 0; e < ETR; e++) {
        double (*G)[ZD] = Gm[e];
        double mse = G[y][y], mean = G[0][y];
        for (int i = 0; i < k; i++) {
            mse -= 2 * beta[i] * G[idx[i]][y];
            mean -= beta[i] * G[idx[i]][0];
            double q = 0; for (int j = 0; j < k; j++) q += G[idx[i]][idx[j]] * beta[j];
            mse += beta[i] * q;
        }
        mse /= NE; mean /= NE;
        /* correlation of the residual with each used covariate in this env */
        for (int a = 1; a < k; a++) {
            int j = idx[a];
            double cxr = G[j][y];
            for (int i = 0; i < k; i++) cxr -= beta[i] * G[j][idx[i]];
            double mx = G[j][0] / NE;
            cxr = cxr / NE - mean * mx;
            double vx = G[j][j] / NE - mx * mx, vr = mse - mean * mean;
            double c = fabs(cxr) / sqrt(vx * vr);
            if (c > cmax) cmax = c;
        }
        if (fabs(mean) > mdev) mdev = fabs(mean);
        if (mse < vmin) vmin = mse;
        if (mse > vmax) vmax = mse;
    }
    last_mean_dev = mdev; last_var_ratio = vmax / vmin; last_corr = cmax;
    if (!which) return vmax;
    for (int e = ETR; e < ETR + ETE; e++) {
        double (*G)[ZD] = Gm[e];
        double mse = G[y][y];
        for (int i = 0; i < k; i++) {
            mse -= 2 * beta[i] * G[idx[i]][y];
            double q = 0; for (int j = 0; j < k; j++) q += G[idx[i]][idx[j]] * beta[j];
            mse += beta[i] * q;
        }
        mse /= NE;
        if (mse > worst) worst = mse;
    }
    return worst;
}

static double pooled_mse(int mask) {
    /* pooled training MSE = mean over envs (equal sizes) of env MSE; recompute via env loop */
    double worst = kernel_subset_risk(mask, 0); (void)worst;
    int idx[ZD], k = 0; idx[k++] = 0;
    for (int j = 0; j < d; j++) if (mask >> j & 1) idx[k++] = 1 + j;
    /* residual SS of the pooled fit = yy - b^T A^-1 b; solve again (cheap) */
    double L[ZD][ZD], b[ZD];
    int y = d + 1;
    for (int i = 0; i < k; i++) for (int j = 0; j <= i; j++) {
        double s = Gp[idx[i]][idx[j]];
        for (int t = 0; t < j; t++) s -= L[i][t] * L[j][t];
        L[i][j] = i == j ? sqrt(s) : s / L[j][j];
    }
    double rss = Gp[y][y];
    for (int i = 0; i < k; i++) { double s = Gp[idx[i]][y]; for (int t = 0; t < i; t++) s -= L[i][t] * b[t]; b[i] = s / L[i][i]; rss -= b[i] * b[i]; }
    return rss / (ETR * NE);
}

/* exhaustive search; returns the selected stable subset with minimal
 * estimated worst-case risk (-1 if no subset is stable). */
EXPORT("kernel_search")
int kernel_search(void) {
    n_stable = 0; sel_mask = -1; sel_risk = 1e300; pool_mask = 0; pool_risk = 1e300;
    for (int m = 0; m < (1 << d); m++) {
        double r = kernel_subset_risk(m, 0);
        if (last_mean_dev < TAU_M && last_corr < TAU_C) {
            n_stable++;
            if (r < sel_risk) { sel_risk = r; sel_mask = m; }
        }
        double p = pooled_mse(m);
        if (p < pool_risk) { pool_risk = p; pool_mask = m; }
    }
    return sel_mask;
}

EXPORT("kernel_pooled_mse")
double kernel_pooled_mse(int mask) { return pooled_mse(mask); }

int main(int argc, char **argv) {
    int dd = argc > 1 ? atoi(argv[1]) : 16;
    long long seed = argc > 2 ? atoll(argv[2]) : 42;
    kernel_setup(dd, seed);
    int nch = d - dc, nstab = nch / 2;
    int parents = (1 << dc) - 1;
    int stable_children = ((1 << nstab) - 1) << dc;
    int full = (1 << d) - 1;
    printf("covariates: %d\ncauses: %d\nstable_children: %d\nmutable_children: %d\n", d, dc, nstab, nch - nstab);
    printf("train_envs: %d\ntest_envs: %d\nsamples_per_env: %d\nseed: %lld\n", ETR, ETE, NE, seed);
    kernel_search();
    printf("subsets: %d\nstable_subsets: %d\n", 1 << d, n_stable);
    const char *names[5] = { "selected", "pooled_best", "parents", "parents_and_stable_children", "full" };
    int masks[5] = { sel_mask, pool_mask, parents, parents | stable_children, full };
    for (int i = 0; i < 5; i++) {
        double tr = kernel_subset_risk(masks[i], 1);
        double trw = kernel_subset_risk(masks[i], 0);
        printf("%s: mask %d train_worst %.10g test_worst %.10g pooled_mse %.10g mean_dev %.10g max_corr %.10g var_ratio %.10g\n",
               names[i], masks[i], trw, tr, pooled_mse(masks[i]), last_mean_dev, last_corr, last_var_ratio);
    }
    return 0;
}
