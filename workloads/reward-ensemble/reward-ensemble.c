/*
 * reward-ensemble -- best-of-n selection against reward-model ensembles, with label noise.
 *
 * Kernel of: "Reward Model Ensembles Help Mitigate Overoptimization" and
 * "Helping or Herding? Reward Model Ensembles Mitigate but do not Eliminate Reward Hacking".
 *
 * Gold reward of a response x in R^D:  r*(x) = w* . x - C_QUAD |x|^2,  w*_d = 1/(d+1).
 * E proxy reward models r_e(x) = w_e . x (linear: they cannot represent the quadratic penalty,
 * so they over-rate extreme responses -> overoptimization), each trained by Bradley-Terry
 * logistic regression (GD_ITERS full-batch gradient steps, lr LR, L2 RIDGE) on its own P
 * preference pairs (a, b ~ N(0, I)), label 1[r*(a) > r*(b)] flipped with probability FLIP.
 *
 * Best-of-n: per trial NMAX candidates ~ N(0, I); for n = 1, 2, 4, ..., NMAX the candidate with
 * the highest aggregated proxy among the first n is selected; we record its gold reward.
 * Aggregations: single (member 0), mean, worst-case WCO (min over members), uncertainty-
 * weighted UWO (mean - LAMBDA * variance over members).
 *
 * Streams: member e trains on stream seed*1000003 + e (per pair: D normals for a, D for b,
 * one uniform for the label flip); evaluation uses stream seed*1000003 + 999 (D normals per
 * candidate). Normals: Box-Muller with two uniforms each.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>

#define D 8
#define E 5
#define P 512
#define NMAX 256
#define NLEV 9                      /* n = 1, 2, 4, ..., 256 */
#define NAGG 4
static const double C_QUAD = 0.3, FLIP = 0.2, LR = 0.5, RIDGE = 1e-3, LAMBDA = 1.0;
static const int GD_ITERS = 300;

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
static double rng_normal(void) {
    double u1 = rng_uniform(), u2 = rng_uniform();
    return sqrt(-2.0 * log(1.0 - u1)) * cos(6.283185307179586 * u2);
}

static double W[E][D];                 /* proxy reward models */
static double diff[P][D];              /* a - b for the current member */
static double lab[P];
static double acc_clean[E];            /* training accuracy vs noise-free gold labels */
static double cand[NMAX][D], score[NMAX][NAGG], gold[NMAX];
static double sum_gold[NAGG][NLEV], sum_proxy[NLEV];

static double gold_reward(const double *x) {
    double s = 0.0, q = 0.0;
    for (int d = 0; d < D; d++) { s += x[d] / (d + 1); q += x[d] * x[d]; }
    return s - C_QUAD * q;
}

static void train_member(int e, uint64_t stream, int iters) {
    rng_seed(stream);
    double a[D], b[D];
    int clean_agree = 0;
    static int clean[P];
    for (int p = 0; p < P; p++) {
        for (int d = 0; d < D; d++) a[d] = rng_normal();
        for (int d = 0; d < D; d++) b[d] = rng_normal();
        int y = gold_reward(a) > gold_reward(b);
        clean[p] = y;
        if (rng_uniform() < FLIP) y = !y;
        lab[p] = y;
        for (int d = 0; d < D; d++) diff[p][d] = a[d] - b[d];
    }
    for (int d = 0; d < D; d++) W[e][d] = 0.0;
    for (int it = 0; it < iters; it++) {
        double g[D] = {0};
        for (int p = 0; p < P; p++) {
            double z = 0.0;
            for (int d = 0; d < D; d++) z += W[e][d] * diff[p][d];
            double err = 1.0 / (1.0 + exp(-z)) - lab[p];
            for (int d = 0; d < D; d++) g[d] += err * diff[p][d];
        }
        for (int d = 0; d < D; d++) W[e][d] -= LR * (g[d] / P + RIDGE * W[e][d]);
    }
    for (int p = 0; p < P; p++) {
        double z = 0.0;
        for (int d = 0; d < D; d++) z += W[e][d] * diff[p][d];
        clean_agree += (z > 0.0) == clean[p];
    }
    acc_clean[e] = (double)clean_agree / P;
}

static void train_ensemble(uint64_t seed, int iters) {
    for (int e = 0; e < E; e++) train_member(e, seed * 1000003ULL + (uint64_t)e, iters);
}

/* `trials` best-of-n trials; accumulates into sum_gold / sum_proxy */
static void best_of_n(uint64_t seed, int trials) {
    for (int a = 0; a < NAGG; a++) for (int l = 0; l < NLEV; l++) sum_gold[a][l] = 0.0;
    for (int l = 0; l < NLEV; l++) sum_proxy[l] = 0.0;
    rng_seed(seed * 1000003ULL + 999);
    for (int t = 0; t < trials; t++) {
        for (int c = 0; c < NMAX; c++) {
            double r[E], mean = 0.0, var = 0.0, mn = 1e300;
            for (int d = 0; d < D; d++) cand[c][d] = rng_normal();
            for (int e = 0; e < E; e++) {
                double s = 0.0;
                for (int d = 0; d < D; d++) s += W[e][d] * cand[c][d];
                r[e] = s; mean += s;
                if (s < mn) mn = s;
            }
            mean /= E;
            for (int e = 0; e < E; e++) var += (r[e] - mean) * (r[e] - mean);
            var /= E;
            score[c][0] = r[0];
            score[c][1] = mean;
            score[c][2] = mn;
            score[c][3] = mean - LAMBDA * var;
            gold[c] = gold_reward(cand[c]);
        }
        for (int a = 0; a < NAGG; a++) {
            int best = 0, lev = 0;
            for (int c = 0; c < NMAX; c++) {
                if (score[c][a] > score[best][a]) best = c;
                if (c + 1 == (1 << lev)) {
                    sum_gold[a][lev] += gold[best];
                    if (a == 0) sum_proxy[lev] += score[best][0];
                    lev++;
                }
            }
        }
    }
}

/* ---- exported kernels ---- */

/* trains proxy model 0 (seed-1 stream) with `iters` gradient steps; returns |w|^2 + accuracy */
__attribute__((export_name("kernel_train_rm")))
double kernel_train_rm(int iters) {
    train_member(0, 1000003ULL, iters);
    double s = acc_clean[0];
    for (int d = 0; d < D; d++) s += W[0][d] * W[0][d];
    return s;
}

/* ensemble trained with 20 steps each, then `trials` best-of-n trials (seed 1);
 * returns the summed gold reward at n = NMAX over the four aggregations */
__attribute__((export_name("kernel_best_of_n")))
double kernel_best_of_n(int trials) {
    train_ensemble(1, 20);
    best_of_n(1, trials);
    double s = 0.0;
    for (int a = 0; a < NAGG; a++) s += sum_gold[a][NLEV - 1];
    return s;
}

/* `n` draws of a candidate (stream 11) scored by the gold reward; returns the mean */
__attribute__((export_name("kernel_gold_scores")))
double kernel_gold_scores(int n) {
    rng_seed(11);
    double x[D], s = 0.0;
    for (int i = 0; i < n; i++) {
        for (int d = 0; d < D; d++) x[d] = rng_normal();
        s += gold_reward(x);
    }
    return n > 0 ? s / n : 0.0;
}

/* ---- main ---- */
static void print_list(const char *key, const double *v, int n) {
    printf("%s:", key);
    for (int i = 0; i < n; i++) printf(" %.10g", v[i]);
    printf("\n");
}

int main(int argc, char **argv) {
    int trials = argc > 1 ? atoi(argv[1]) : 1500;
    uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
    if (trials < 1) trials = 1;
    train_ensemble(seed, GD_ITERS);
    best_of_n(seed, trials);
    static const char *names[NAGG] = {"single", "mean", "wco", "uwo"};
    double ns[NLEV], v[NLEV];
    for (int l = 0; l < NLEV; l++) ns[l] = (double)(1 << l);
    printf("trials: %d\n", trials);
    printf("seed: %llu\n", (unsigned long long)seed);
    printf("dim: %d\nmembers: %d\npairs: %d\nlabel_flip: %.10g\n", D, E, P, FLIP);
    for (int e = 0; e < E; e++) {
        char key[32];
        snprintf(key, sizeof key, "rm_weights_%d", e);
        print_list(key, W[e], D);
    }
    print_list("rm_clean_accuracy", acc_clean, E);
    print_list("n", ns, NLEV);
    for (int a = 0; a < NAGG; a++) {
        char key[32];
        for (int l = 0; l < NLEV; l++) v[l] = sum_gold[a][l] / trials;
        snprintf(key, sizeof key, "gold_%s", names[a]);
        print_list(key, v, NLEV);
    }
    for (int l = 0; l < NLEV; l++) v[l] = sum_proxy[l] / trials;
    print_list("proxy_single", v, NLEV);
    return 0;
}
