/*
 * bapo -- Balanced Policy Optimization with adaptive clipping, vs fixed PPO clipping, in an
 * off-policy (stale behaviour policy) setting.
 *
 * Kernel of: "BAPO: Stabilizing Off-Policy Reinforcement Learning for LLMs via Balanced Policy
 * Optimization with Adaptive Clipping".
 *
 * Token-level bandit standing in for an LLM's next-token distribution: V tokens, policy
 * softmax(theta), token success probabilities p_v = u^3 (stream: V uniforms; few good tokens).
 * Each step samples N tokens from the *behaviour* policy = theta from STALE steps ago
 * (off-policy), a binary verifier reward r_i ~ Bernoulli(p_{a_i}) (one uniform per token after
 * the token's own), advantage A_i = r_i - 1/2 (fixed baseline: early on most samples are
 * negative, as in LLM RL), ratio_i = pi(a_i)/mu(a_i), and the clipped
 * surrogate term_i = min(ratio A, clip(ratio, lo, hi) A).
 *
 * BAPO: starting from (lo, hi) = (LO0, HI0), while the positive-advantage share of the loss
 * rho = sum_{A>0} |term| / sum |term| is below RHO0 and the bounds stay within (LO_MAX, HI_MAX),
 * raise lo by D_LO (filters more negative tokens) and hi by D_HI (admits more positive tokens).
 * Baseline: fixed (lo, hi) = (1 - 0.2, 1 + 0.2). Gradient ascent on mean(term) with lr LR.
 * Tracked: entropy of pi (BAPO's claim: it avoids the entropy collapse of fixed clipping),
 * expected reward, the bounds and rho.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>

#define V 32
#define N 256
#define STALE 4
#define MAXSTEPS 100000
static const double LO0 = 0.6, HI0 = 1.2, LO_MAX = 0.9, HI_MAX = 3.0, D_LO = 0.05, D_HI = 0.1;
static const double RHO0 = 0.4, LR = 10.0, BASELINE = 0.5;

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

static double reward[V], theta[V], hist_theta[STALE + 1][V];
static double pi[V], mu[V], adv[N], ratio[N];
static int tok[N];
static double st_lo, st_hi, st_rho, st_ent, st_er;

static void softmax(const double *t, double *p) {
    double m = -1e300, s = 0.0;
    for (int v = 0; v < V; v++) if (t[v] > m) m = t[v];
    for (int v = 0; v < V; v++) { p[v] = exp(t[v] - m); s += p[v]; }
    for (int v = 0; v < V; v++) p[v] /= s;
}

static double term(int i, double lo, double hi) {
    double r = ratio[i], c = r < lo ? lo : (r > hi ? hi : r);
    double a = r * adv[i], b = c * adv[i];
    return a < b ? a : b;
}

static double positive_share(double lo, double hi) {
    double pos = 0.0, tot = 0.0;
    for (int i = 0; i < N; i++) {
        double t = fabs(term(i, lo, hi));
        tot += t;
        if (adv[i] > 0.0) pos += t;
    }
    return tot > 0.0 ? pos / tot : 1.0;
}

/* adaptive bound search; returns rho at the chosen bounds */
static double bapo_bounds(double *lo, double *hi) {
    *lo = LO0; *hi = HI0;
    double rho = positive_share(*lo, *hi);
    while (rho < RHO0 && *lo + D_LO <= LO_MAX + 1e-12 && *hi + D_HI <= HI_MAX + 1e-12) {
        *lo += D_LO; *hi += D_HI;
        rho = positive_share(*lo, *hi);
    }
    return rho;
}

static void reset(uint64_t seed) {
    rng_seed(seed);
    for (int v = 0; v < V; v++) { double u = rng_uniform(); reward[v] = u * u * u; }
    for (int v = 0; v < V; v++) theta[v] = 0.0;
    for (int s = 0; s <= STALE; s++) for (int v = 0; v < V; v++) hist_theta[s][v] = 0.0;
}

static void step(int k, int adaptive) {
    /* behaviour policy: theta from STALE steps ago. hist_theta is a ring of STALE+1 snapshots;
     * slot (k+1)%(STALE+1) holds theta as it was at the start of step k-STALE (zeros before) */
    softmax(hist_theta[(k + 1) % (STALE + 1)], mu);
    softmax(theta, pi);
    for (int i = 0; i < N; i++) {
        double u = rng_uniform(), c = 0.0;
        int t = V - 1;
        for (int v = 0; v < V; v++) { c += mu[v]; if (u < c) { t = v; break; } }
        tok[i] = t;
        double r = rng_uniform() < reward[t] ? 1.0 : 0.0;    /* binary verifier reward */
        adv[i] = r - BASELINE;
        ratio[i] = pi[t] / mu[t];
    }
    double lo = 0.8, hi = 1.2, rho;
    if (adaptive) rho = bapo_bounds(&lo, &hi);
    else rho = positive_share(lo, hi);
    double g[V] = {0};
    for (int i = 0; i < N; i++) {
        int active = adv[i] >= 0.0 ? ratio[i] < hi : ratio[i] > lo;
        if (!active) continue;
        double w = adv[i] * ratio[i];
        for (int v = 0; v < V; v++) g[v] -= w * pi[v];
        g[tok[i]] += w;
    }
    for (int v = 0; v < V; v++) theta[v] += LR * g[v] / N;
    for (int v = 0; v < V; v++) hist_theta[(k + 1) % (STALE + 1)][v] = theta[v];
    softmax(theta, pi);
    double ent = 0.0, er = 0.0;
    for (int v = 0; v < V; v++) { ent -= pi[v] * log(pi[v]); er += pi[v] * reward[v]; }
    st_lo = lo; st_hi = hi; st_rho = rho; st_ent = ent; st_er = er;
}

/* ---- exported kernels ---- */

/* `steps` BAPO steps from scratch (seed 1); returns final entropy + expected reward */
__attribute__((export_name("kernel_bapo_train")))
double kernel_bapo_train(int steps) {
    reset(1);
    for (int k = 0; k < steps; k++) step(k, 1);
    return st_ent + st_er;
}

/* `steps` fixed-clip PPO steps from scratch (seed 1); returns final entropy + expected reward */
__attribute__((export_name("kernel_ppo_clip_train")))
double kernel_ppo_clip_train(int steps) {
    reset(1);
    for (int k = 0; k < steps; k++) step(k, 0);
    return st_ent + st_er;
}

/* the adaptive-bound search on `reps` synthetic batches (stream 9: ratios in [0.3, 2.3),
 * advantages standard-normal-ish); returns sum of the chosen hi bounds + rho */
__attribute__((export_name("kernel_clip_search")))
double kernel_clip_search(int reps) {
    rng_seed(9);
    double s = 0.0, lo, hi;
    for (int r = 0; r < reps; r++) {
        for (int i = 0; i < N; i++) {
            ratio[i] = 0.3 + 2.0 * rng_uniform();
            adv[i] = rng_uniform() - 0.6;
        }
        double rho = bapo_bounds(&lo, &hi);
        s += hi + rho;
    }
    return s;
}

/* ---- main ---- */
static double h_ent[2][MAXSTEPS], h_er[2][MAXSTEPS], h_lo[MAXSTEPS], h_hi[MAXSTEPS], h_rho[2][MAXSTEPS];

static void print_list(const char *key, const double *v, int n) {
    printf("%s:", key);
    for (int i = 0; i < n; i++) printf(" %.10g", v[i]);
    printf("\n");
}

int main(int argc, char **argv) {
    int steps = argc > 1 ? atoi(argv[1]) : 5000;
    uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
    if (steps < 1) steps = 1;
    if (steps > MAXSTEPS) steps = MAXSTEPS;
    static double theta_final[2][V];
    for (int adaptive = 1; adaptive >= 0; adaptive--) {
        int r = 1 - adaptive;          /* row 0 = bapo, row 1 = fixed clip */
        reset(seed);
        for (int k = 0; k < steps; k++) {
            step(k, adaptive);
            h_ent[r][k] = st_ent; h_er[r][k] = st_er; h_rho[r][k] = st_rho;
            if (adaptive) { h_lo[k] = st_lo; h_hi[k] = st_hi; }
        }
        for (int v = 0; v < V; v++) theta_final[r][v] = theta[v];
    }
    /* stride the per-step series so output stays small: every `stride`-th step */
    int stride = steps > 100 ? steps / 100 : 1, m = 0;
    static double s_ent[2][100 + 1], s_er[2][101], s_lo[101], s_hi[101], s_rho[2][101];
    static double s_step[101];
    for (int k = stride - 1; k < steps && m < 101; k += stride, m++) {
        s_step[m] = k + 1;
        for (int r = 0; r < 2; r++) { s_ent[r][m] = h_ent[r][k]; s_er[r][m] = h_er[r][k]; s_rho[r][m] = h_rho[r][k]; }
        s_lo[m] = h_lo[k]; s_hi[m] = h_hi[k];
    }
    printf("steps: %d\n", steps);
    printf("seed: %llu\n", (unsigned long long)seed);
    printf("vocab: %d\nbatch: %d\nstaleness: %d\n", V, N, STALE);
    print_list("reward", reward, V);
    print_list("report_step", s_step, m);
    print_list("entropy_bapo", s_ent[0], m);
    print_list("entropy_clip", s_ent[1], m);
    print_list("expected_reward_bapo", s_er[0], m);
    print_list("expected_reward_clip", s_er[1], m);
    print_list("positive_share_bapo", s_rho[0], m);
    print_list("positive_share_clip", s_rho[1], m);
    print_list("clip_low_bapo", s_lo, m);
    print_list("clip_high_bapo", s_hi, m);
    print_list("theta_bapo", theta_final[0], V);
    print_list("theta_clip", theta_final[1], V);
    return 0;
}
