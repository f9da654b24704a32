/*
 * ppo-gae -- PPO with generalised advantage estimation, dual (pre-/post-decision) critics and
 * truncated rollouts, on a lot-sizing inventory problem.
 *
 * Kernels of: "Post-Decision Proximal Policy Optimization with Dual Critic Networks" and
 * "Truncated Proximal Policy Optimization".
 *
 * Environment (continuing): integer inventory I in [IMIN, IMAX] (negative = backlog).
 * Action a orders q = QSTEP * a units (a < NA); demand d ~ uniform{0..DMAX};
 * post-decision state s^x = I + q; next inventory I' = clamp(I + q - d).
 * Reward r = c + h with decision cost c = -RS * SETUP [q > 0] and post-demand cost
 * h = -RS (HOLD max(I',0) + BACK max(-I',0)).
 * Policy: softmax over NA actions of theta[a] . phi(I), phi(I) = (1, z, z^2, tanh z), z = I/40.
 * Critics: V(s) = wv . phi(I) (pre-decision), W(s^x) = wx . phi(I + q) (post-decision).
 *
 * One PPO iteration: roll out T steps (continuing env), split into T/H truncated segments of
 * length H; GAE(gamma, lambda) per segment, bootstrapped with V at the segment end (extended
 * GAE for truncated rollouts). Dual-critic advantage A = (A_gae + A_pd)/2 with
 * A_pd = c + W(s^x) - V(s); normalised. Then EPOCHS full-batch ascent steps on the clipped
 * surrogate (ratio clip eps) and descent steps on the two critics' squared errors
 * (targets: V -> A_gae + V_old(s); W -> h + gamma V_old(s')).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>

#define NA 6
#define NF 4
#define T 512
#define H 32
#define EPOCHS 8
#define MAXIT 4096
static const int QSTEP = 4, DMAX = 12, IMIN = -30, IMAX = 40;
static const double RS = 0.1, SETUP = 8.0, HOLD = 1.0, BACK = 4.0;
static const double GAMMA = 0.95, LAMBDA = 0.9, CLIP = 0.2, LR_PI = 0.1, LR_V = 0.2;

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

static double theta[NA][NF], wv[NF], wx[NF];
static int inv;                                   /* environment state */
/* rollout buffers */
static double phis[T + 1][NF], phix[T][NF], probs[T][NA], rew[T], cdec[T], hpost[T];
static double vold[T + 1], wold[T], adv_gae[T], adv[T], ret[T], ytgt[T];
static int acts[T];

static void features(int I, double *phi) {
    double z = I / 40.0;
    phi[0] = 1.0; phi[1] = z; phi[2] = z * z; phi[3] = tanh(z);
}
static double dotf(const double *a, const double *b) {
    double s = 0.0;
    for (int k = 0; k < NF; k++) s += a[k] * b[k];
    return s;
}
static void policy(const double *phi, double *p) {
    double l[NA], m = -1e300, s = 0.0;
    for (int a = 0; a < NA; a++) { l[a] = dotf(theta[a], phi); if (l[a] > m) m = l[a]; }
    for (int a = 0; a < NA; a++) { p[a] = exp(l[a] - m); s += p[a]; }
    for (int a = 0; a < NA; a++) p[a] /= s;
}
static int sample(const double *p) {
    double u = rng_uniform(), c = 0.0;
    for (int a = 0; a < NA; a++) { c += p[a]; if (u < c) return a; }
    return NA - 1;
}

static void reset(uint64_t seed) {
    rng_seed(seed);
    for (int a = 0; a < NA; a++) for (int k = 0; k < NF; k++) theta[a][k] = 0.0;
    for (int k = 0; k < NF; k++) wv[k] = wx[k] = 0.0;
    inv = 0;
}

/* env step; returns reward, fills decision/post costs */
static double env_step(int a, double *c, double *h) {
    int q = QSTEP * a;
    int d = (int)(rng_uniform() * (DMAX + 1));
    int ni = inv + q - d;
    if (ni < IMIN) ni = IMIN;
    if (ni > IMAX) ni = IMAX;
    *c = q > 0 ? -RS * SETUP : 0.0;
    *h = -RS * (HOLD * (ni > 0 ? ni : 0) + BACK * (ni < 0 ? -ni : 0));
    inv = ni;
    return *c + *h;
}

static double rollout(void) {
    double tot = 0.0;
    for (int t = 0; t < T; t++) {
        features(inv, phis[t]);
        policy(phis[t], probs[t]);
        int a = sample(probs[t]);
        acts[t] = a;
        features(inv + QSTEP * a, phix[t]);
        rew[t] = env_step(a, &cdec[t], &hpost[t]);
        tot += rew[t];
    }
    features(inv, phis[T]);
    return tot / T;
}

/* truncated-segment GAE; adv_gae[t] for t in [0, n) given rew, vold[0..n] */
static void gae(const double *r, const double *v, double *out, int n, int seg) {
    for (int s0 = 0; s0 < n; s0 += seg) {
        int e = s0 + seg < n ? s0 + seg : n;
        double acc = 0.0;
        for (int t = e - 1; t >= s0; t--) {
            double delta = r[t] + GAMMA * v[t + 1] - v[t];
            acc = delta + GAMMA * LAMBDA * acc;
            out[t] = acc;
        }
    }
}

static double last_clipfrac, last_entropy;

static void ppo_update(void) {
    for (int t = 0; t <= T; t++) vold[t] = dotf(wv, phis[t]);
    for (int t = 0; t < T; t++) wold[t] = dotf(wx, phix[t]);
    gae(rew, vold, adv_gae, T, H);
    double mean = 0.0, var = 0.0;
    for (int t = 0; t < T; t++) {
        ret[t] = adv_gae[t] + vold[t];
        ytgt[t] = hpost[t] + GAMMA * vold[t + 1];
        adv[t] = 0.5 * (adv_gae[t] + (cdec[t] + wold[t] - vold[t]));
        mean += adv[t];
    }
    mean /= T;
    for (int t = 0; t < T; t++) var += (adv[t] - mean) * (adv[t] - mean);
    double sd = sqrt(var / T) + 1e-8;
    for (int t = 0; t < T; t++) adv[t] = (adv[t] - mean) / sd;

    for (int ep = 0; ep < EPOCHS; ep++) {
        double gth[NA][NF] = {{0}}, gv[NF] = {0}, gx[NF] = {0};
        int nclip = 0;
        double ent = 0.0;
        for (int t = 0; t < T; t++) {
            double p[NA];
            policy(phis[t], p);
            for (int a = 0; a < NA; a++) ent -= p[a] * log(p[a]);
            double ratio = p[acts[t]] / probs[t][acts[t]];
            int active = adv[t] >= 0.0 ? ratio < 1.0 + CLIP : ratio > 1.0 - CLIP;
            if (!active) { nclip++; }
            else {
                double w = adv[t] * ratio;
                for (int a = 0; a < NA; a++) {
                    double coef = w * ((a == acts[t]) - p[a]);
                    for (int k = 0; k < NF; k++) gth[a][k] += coef * phis[t][k];
                }
            }
            double ev = dotf(wv, phis[t]) - ret[t];
            double ex = dotf(wx, phix[t]) - ytgt[t];
            for (int k = 0; k < NF; k++) { gv[k] += ev * phis[t][k]; gx[k] += ex * phix[t][k]; }
        }
        for (int a = 0; a < NA; a++)
            for (int k = 0; k < NF; k++) theta[a][k] += LR_PI * gth[a][k] / T;
        for (int k = 0; k < NF; k++) { wv[k] -= LR_V * gv[k] / T; wx[k] -= LR_V * gx[k] / T; }
        last_clipfrac = (double)nclip / T;
        last_entropy = ent / T;
    }
}

/* ---- exported kernels ---- */

/* GAE over n (<= 4096) synthetic rewards/values (stream 3) in truncated segments of 32;
 * returns the sum of advantages */
static double kr[MAXIT], kv[MAXIT + 1], ka[MAXIT];
__attribute__((export_name("kernel_gae")))
double kernel_gae(int n) {
    if (n > MAXIT) n = MAXIT;
    if (n < 0) n = 0;
    rng_seed(3);
    for (int t = 0; t < n; t++) { kr[t] = rng_uniform() - 0.5; kv[t] = rng_uniform(); }
    kv[n] = rng_uniform();
    gae(kr, kv, ka, n, H);
    double s = 0.0;
    for (int t = 0; t < n; t++) s += ka[t];
    return s;
}

/* `n` rollouts of T steps with the initial (uniform) policy, seed 1; returns mean reward */
__attribute__((export_name("kernel_rollout")))
double kernel_rollout(int n) {
    reset(1);
    double s = 0.0;
    for (int i = 0; i < n; i++) s += rollout();
    return n > 0 ? s / n : 0.0;
}

/* `iters` PPO iterations from scratch (seed 1); returns the last mean reward + sum(theta) */
__attribute__((export_name("kernel_ppo_train")))
double kernel_ppo_train(int iters) {
    reset(1);
    double r = 0.0;
    for (int i = 0; i < iters; i++) { r = rollout(); ppo_update(); }
    double s = 0.0;
    for (int a = 0; a < NA; a++) for (int k = 0; k < NF; k++) s += theta[a][k];
    return r + s;
}

/* ---- main ---- */
static double hist_r[MAXIT], hist_clip[MAXIT], hist_ent[MAXIT];

static void print_list(const char *key, const double *v, int n) {
    printf("%s:", key);
    for (int i = 0; i < n; i++) printf(" %.10g", v[i]);
    printf("\n");
}

int main(int argc, char **argv) {
    int iters = argc > 1 ? atoi(argv[1]) : 300;
    uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
    if (iters < 1) iters = 1;
    if (iters > MAXIT) iters = MAXIT;
    reset(seed);
    for (int i = 0; i < iters; i++) {
        hist_r[i] = rollout();
        ppo_update();
        hist_clip[i] = last_clipfrac;
        hist_ent[i] = last_entropy;
    }
    double p0[NA], phi[NF];
    features(0, phi);
    policy(phi, p0);
    printf("iterations: %d\n", iters);
    printf("seed: %llu\n", (unsigned long long)seed);
    printf("rollout_steps: %d\nsegment: %d\n", T, H);
    print_list("mean_reward", hist_r, iters);
    print_list("clip_fraction", hist_clip, iters);
    print_list("entropy", hist_ent, iters);
    print_list("theta", &theta[0][0], NA * NF);
    print_list("critic_pre", wv, NF);
    print_list("critic_post", wx, NF);
    print_list("policy_at_zero_inventory", p0, NA);
    printf("final_inventory: %d\n", inv);
    return 0;
}
