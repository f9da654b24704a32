/*
 * grpo -- group-relative policy optimisation with a correctness-switched length penalty
 * (GRPO-lambda).
 *
 * Kernel of: "Stable Reinforcement Learning for Efficient Reasoning".
 *
 * Synthetic reasoning task: a prompt has difficulty d in [0, K). A completion is one of K
 * "reasoning types"; type k has length len_k = 64 (k + 1) tokens and is correct with
 * probability sigmoid(2 (k - d)) (longer reasoning solves harder prompts). The policy is a
 * softmax over types with logits theta_k + beta_k * d / K.
 *
 * Per iteration: B prompts (d ~ U[0, K)), G completions each. Group reward:
 *   r_i = c_i                                       if the group's correctness ratio < LSW
 *   r_i = c_i (1 - ALPHA (len_i - min len)/(max len - min len))   otherwise (GRPO-lambda:
 *         the length penalty is switched on only for groups that are already mostly right)
 * Group-relative advantage A_i = (r_i - mean_g r)/(std_g r + 1e-6).
 * Then EPOCHS steps of the clipped surrogate (ratio vs the sampling policy, eps = CLIP).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>

#define K 16
#define B 32
#define G 16
#define EPOCHS 2
#define MAXIT 20000
static const double LSW = 0.5, ALPHA = 0.5, CLIP = 0.2, LR = 0.5;

/* ---- PRNG (splitmix64, see workloads/README.md) ---- */
static uint64_t rng_s;
static void rng_seed(uint64_t s) { rng_s = s; }
static uint64_t rng_next(void) {
    uint64_t z = (rng_s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
static double rng_uniform(void) { return (double)(rng_next() >> 11) * 0x1.0p-53; }

static double theta[K], beta[K];
static double dif[B], pold[B][K], adv[B][G], rew[B][G];
static int typ[B][G], cor[B][G];
static double it_acc, it_len, it_pen;

static double length_of(int k) { return 64.0 * (k + 1); }

static void policy(double d, double *p) {
    double m = -1e300, s = 0.0;
    for (int k = 0; k < K; k++) { p[k] = theta[k] + beta[k] * d / K; if (p[k] > m) m = p[k]; }
    for (int k = 0; k < K; k++) { p[k] = exp(p[k] - m); s += p[k]; }
    for (int k = 0; k < K; k++) p[k] /= s;
}

static int sample(const double *p) {
    double u = rng_uniform(), c = 0.0;
    for (int k = 0; k < K; k++) { c += p[k]; if (u < c) return k; }
    return K - 1;
}

/* rewards + advantages of one group (arrays of length G) */
static int group_advantage(const int *t, const int *c, double *r, double *a) {
    double ratio = 0.0, lmin = 1e300, lmax = -1e300;
    for (int i = 0; i < G; i++) {
        ratio += c[i];
        double l = length_of(t[i]);
        if (l < lmin) lmin = l;
        if (l > lmax) lmax = l;
    }
    ratio /= G;
    int pen = ratio >= LSW;
    double mean = 0.0, var = 0.0;
    for (int i = 0; i < G; i++) {
        r[i] = c[i];
        if (pen && lmax > lmin) r[i] = c[i] * (1.0 - ALPHA * (length_of(t[i]) - lmin) / (lmax - lmin));
        mean += r[i];
    }
    mean /= G;
    for (int i = 0; i < G; i++) var += (r[i] - mean) * (r[i] - mean);
    double sd = sqrt(var / G) + 1e-6;
    for (int i = 0; i < G; i++) a[i] = (r[i] - mean) / sd;
    return pen;
}

static void sample_batch(void) {
    double acc = 0.0, len = 0.0;
    int npen = 0;
    for (int b = 0; b < B; b++) {
        dif[b] = rng_uniform() * K;
        policy(dif[b], pold[b]);
        for (int i = 0; i < G; i++) {
            int k = sample(pold[b]);
            double pc = 1.0 / (1.0 + exp(-2.0 * (k - dif[b])));
            typ[b][i] = k;
            cor[b][i] = rng_uniform() < pc;
            acc += cor[b][i];
            len += length_of(k);
        }
        npen += group_advantage(typ[b], cor[b], rew[b], adv[b]);
    }
    it_acc = acc / (B * G);
    it_len = len / (B * G);
    it_pen = (double)npen / B;
}

static void update(void) {
    for (int e = 0; e < EPOCHS; e++) {
        double gt[K] = {0}, gb[K] = {0};
        for (int b = 0; b < B; b++) {
            double p[K];
            policy(dif[b], p);
            for (int i = 0; i < G; i++) {
                int k = typ[b][i];
                double ratio = p[k] / pold[b][k], A = adv[b][i];
                int active = A >= 0.0 ? ratio < 1.0 + CLIP : ratio > 1.0 - CLIP;
                if (!active) continue;
                double w = A * ratio;
                for (int j = 0; j < K; j++) {
                    double g = w * ((j == k) - p[j]);
                    gt[j] += g;
                    gb[j] += g * dif[b] / K;
                }
            }
        }
        for (int j = 0; j < K; j++) { theta[j] += LR * gt[j] / (B * G); beta[j] += LR * gb[j] / (B * G); }
    }
}

static void reset(uint64_t seed) {
    rng_seed(seed);
    for (int k = 0; k < K; k++) theta[k] = beta[k] = 0.0;
}

/* expected accuracy and length of the current policy at difficulty d */
static void expected(double d, double *acc, double *len) {
    double p[K];
    policy(d, p);
    *acc = *len = 0.0;
    for (int k = 0; k < K; k++) {
        *acc += p[k] / (1.0 + exp(-2.0 * (k - d)));
        *len += p[k] * length_of(k);
    }
}

/* ---- exported kernels ---- */

/* `n` synthetic groups (stream 5): group-relative advantages; returns sum of A * r */
__attribute__((export_name("kernel_group_advantage")))
double kernel_group_advantage(int n) {
    rng_seed(5);
    int t[G], c[G];
    double r[G], a[G], s = 0.0;
    for (int g = 0; g < n; g++) {
        for (int i = 0; i < G; i++) { t[i] = (int)(rng_uniform() * K); c[i] = rng_uniform() < 0.6; }
        group_advantage(t, c, r, a);
        for (int i = 0; i < G; i++) s += a[i] * r[i];
    }
    return s;
}

/* `n` sampled batches with the initial (uniform) policy, seed 1; returns mean accuracy */
__attribute__((export_name("kernel_sample_groups")))
double kernel_sample_groups(int n) {
    reset(1);
    double s = 0.0;
    for (int i = 0; i < n; i++) { sample_batch(); s += it_acc; }
    return n > 0 ? s / n : 0.0;
}

/* `iters` GRPO-lambda iterations from scratch (seed 1); returns expected length at d = K/2
 * plus the expected accuracy there */
__attribute__((export_name("kernel_grpo_train")))
double kernel_grpo_train(int iters) {
    reset(1);
    for (int i = 0; i < iters; i++) { sample_batch(); update(); }
    double acc, len;
    expected(K / 2.0, &acc, &len);
    return len + acc;
}

/* ---- main ---- */
static double h_acc[MAXIT], h_len[MAXIT], h_pen[MAXIT];

static void print_list(const char *key, const double *v, int n) {
    printf("%s:", key);
    for (int i = 0; i < n; i++) printf(" %.10g", v[i]);
    printf("\n");
}

int main(int argc, char **argv) {
    int iters = argc > 1 ? atoi(argv[1]) : 4000;
    uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
    if (iters < 1) iters = 1;
    if (iters > MAXIT) iters = MAXIT;
    reset(seed);
    for (int i = 0; i < iters; i++) {
        sample_batch();
        update();
        h_acc[i] = it_acc; h_len[i] = it_len; h_pen[i] = it_pen;
    }
    double ea[4], el[4], ds[4] = {2.0, 6.0, 10.0, 14.0};
    for (int j = 0; j < 4; j++) expected(ds[j], &ea[j], &el[j]);
    printf("iterations: %d\n", iters);
    printf("seed: %llu\n", (unsigned long long)seed);
    printf("types: %d\ngroup_size: %d\nbatch: %d\n", K, G, B);
    print_list("accuracy", h_acc, iters);
    print_list("mean_length", h_len, iters);
    print_list("penalty_active", h_pen, iters);
    print_list("theta", theta, K);
    print_list("beta", beta, K);
    print_list("eval_difficulty", ds, 4);
    print_list("eval_accuracy", ea, 4);
    print_list("eval_length", el, 4);
    return 0;
}
