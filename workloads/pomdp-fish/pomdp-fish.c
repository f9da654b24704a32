/*
 * pomdp-fish -- fisheries management as a POMDP (measurement uncertainty on the stock).
 *
 * Kernel of: "Resolving the measurement uncertainty paradox in ecological management".
 *
 * Model: biomass discretised on NS grid points x_i = K i/(NS-1), K = 1. Action a sets a catch
 * quota q_a = QMAX a/(NA-1); the realised catch is min(q_a, x) (the reward), the escapement
 * s = x - catch grows logistically f(s) = s + R s (1 - s/K), and the next biomass is f(s) plus
 * Gaussian process noise projected on the grid: T[a][i][j] ∝ exp(-(x_j - f(s_ia))^2 / 2 SG^2).
 * The manager observes o with O[i][o] ∝ exp(-(x_o - x_i)^2 / 2 SO^2) (noisy stock survey).
 *
 * 1. MDP value iteration (full observation) -> V_mdp, policy pi_mdp (an upper bound).
 * 2. Point-based value iteration (PBVI) over NB fixed Gaussian belief points, `iters` backups
 *    starting from the alpha-vector 0 (a lower bound since catches are >= 0).
 * 3. Simulation: NREP replicates x NYEARS of the true stock with sampled observations;
 *    policy "pomdp" = Bayes belief filter + best alpha vector; policy "ce" (certainty
 *    equivalence, the constant-escapement-like rule) = pi_mdp applied to the raw observation.
 *    Both policies see the same random numbers (stream seeded per replicate).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>

#define NS 30          /* biomass grid */
#define NA 10          /* quota actions */
#define NO NS          /* observation grid */
#define NB 32          /* PBVI belief points: 16 centres x 2 widths */
#define NREP 8
#define NYEARS 25

static const double R_GROW = 1.0, QMAX = 0.45, SG = 0.08, SO = 0.15, GAMMA = 0.95;

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

static double xg[NS], quota[NA];
static double T[NA][NS][NS], O[NS][NO], Rw[NA][NS];
static double TO[NA][NO][NS][NS];     /* T[a][i][j] * O[j][o] */
static double Vm[NS], Vtmp[NS];
static int pim[NS];
static double B[NB][NS];
static double alpha[NB][NS], alpha_new[NB][NS];
static int alpha_act[NB];
static double G[NO][NB][NS];          /* g_{a,o}^k(i) for the current action */

static void build_model(void) {
    for (int i = 0; i < NS; i++) xg[i] = (double)i / (NS - 1);
    for (int a = 0; a < NA; a++) quota[a] = QMAX * a / (NA - 1);
    for (int a = 0; a < NA; a++)
        for (int i = 0; i < NS; i++) {
            double c = quota[a] < xg[i] ? quota[a] : xg[i];
            double s = xg[i] - c, f = s + R_GROW * s * (1.0 - s);
            Rw[a][i] = c;
            double sum = 0.0;
            for (int j = 0; j < NS; j++) {
                double d = xg[j] - f;
                T[a][i][j] = exp(-d * d / (2.0 * SG * SG));
                sum += T[a][i][j];
            }
            for (int j = 0; j < NS; j++) T[a][i][j] /= sum;
        }
    for (int i = 0; i < NS; i++) {
        double sum = 0.0;
        for (int o = 0; o < NO; o++) {
            double d = xg[o] - xg[i];
            O[i][o] = exp(-d * d / (2.0 * SO * SO));
            sum += O[i][o];
        }
        for (int o = 0; o < NO; o++) O[i][o] /= sum;
    }
    for (int a = 0; a < NA; a++)
        for (int o = 0; o < NO; o++)
            for (int i = 0; i < NS; i++)
                for (int j = 0; j < NS; j++) TO[a][o][i][j] = T[a][i][j] * O[j][o];
    /* belief points: normalised Gaussian bumps */
    for (int k = 0; k < NB; k++) {
        double mu = (double)(k % 16) / 15.0, w = (k < 16) ? 0.05 : 0.2, sum = 0.0;
        for (int i = 0; i < NS; i++) {
            double d = xg[i] - mu;
            B[k][i] = exp(-d * d / (2.0 * w * w));
            sum += B[k][i];
        }
        for (int i = 0; i < NS; i++) B[k][i] /= sum;
    }
}

static double mdp_vi(int iters) {
    for (int i = 0; i < NS; i++) Vm[i] = 0.0;
    for (int it = 0; it < iters; it++) {
        for (int i = 0; i < NS; i++) {
            double best = -1e300; int ba = 0;
            for (int a = 0; a < NA; a++) {
                double q = Rw[a][i];
                for (int j = 0; j < NS; j++) q += GAMMA * T[a][i][j] * Vm[j];
                if (q > best) { best = q; ba = a; }
            }
            Vtmp[i] = best; pim[i] = ba;
        }
        for (int i = 0; i < NS; i++) Vm[i] = Vtmp[i];
    }
    double s = 0.0;
    for (int i = 0; i < NS; i++) s += Vm[i];
    return s;
}

static double dot(const double *u, const double *v) {
    double s = 0.0;
    for (int i = 0; i < NS; i++) s += u[i] * v[i];
    return s;
}

/* PBVI: `iters` point-based backups; alpha set always has NB vectors (one per point) */
static double pbvi(int iters) {
    int nalpha = 1;
    for (int i = 0; i < NS; i++) alpha[0][i] = 0.0;
    alpha_act[0] = 0;
    static double bestval[NB];
    for (int it = 0; it < iters; it++) {
        for (int k = 0; k < NB; k++) bestval[k] = -1e300;
        for (int a = 0; a < NA; a++) {
            for (int o = 0; o < NO; o++)
                for (int m = 0; m < nalpha; m++)
                    for (int i = 0; i < NS; i++) {
                        double s = 0.0;
                        for (int j = 0; j < NS; j++) s += TO[a][o][i][j] * alpha[m][j];
                        G[o][m][i] = s;
                    }
            for (int k = 0; k < NB; k++) {
                double cand[NS];
                for (int i = 0; i < NS; i++) cand[i] = Rw[a][i];
                for (int o = 0; o < NO; o++) {
                    int bm = 0; double bv = -1e300;
                    for (int m = 0; m < nalpha; m++) {
                        double v = dot(B[k], G[o][m]);
                        if (v > bv) { bv = v; bm = m; }
                    }
                    for (int i = 0; i < NS; i++) cand[i] += GAMMA * G[o][bm][i];
                }
                double v = dot(B[k], cand);
                if (v > bestval[k]) {
                    bestval[k] = v;
                    for (int i = 0; i < NS; i++) alpha_new[k][i] = cand[i];
                    alpha_act[k] = a;
                }
            }
        }
        for (int k = 0; k < NB; k++)
            for (int i = 0; i < NS; i++) alpha[k][i] = alpha_new[k][i];
        nalpha = NB;
    }
    double s = 0.0;
    for (int k = 0; k < NB; k++) s += bestval[k];
    return s;
}

static int sample(const double *p, int n) {
    double u = rng_uniform(), c = 0.0;
    for (int j = 0; j < n; j++) { c += p[j]; if (u < c) return j; }
    return n - 1;
}

static double belief[NS], pred[NS];

/* belief <- normalise(O[:,o] * pred) */
static void belief_correct(int o) {
    double sum = 0.0;
    for (int i = 0; i < NS; i++) { belief[i] = O[i][o] * pred[i]; sum += belief[i]; }
    for (int i = 0; i < NS; i++) belief[i] /= sum;
}
static void belief_predict(int a) {
    for (int j = 0; j < NS; j++) pred[j] = 0.0;
    for (int i = 0; i < NS; i++)
        for (int j = 0; j < NS; j++) pred[j] += belief[i] * T[a][i][j];
}

/* one replicate; policy 0 = POMDP, 1 = certainty equivalence. Returns discounted catch. */
static double simulate(int policy, uint64_t stream, int years, double *total_catch, int *final_state) {
    rng_seed(stream);
    int x = NS / 2;
    for (int i = 0; i < NS; i++) pred[i] = 1.0 / NS;
    double disc = 0.0, df = 1.0, tot = 0.0;
    for (int y = 0; y < years; y++) {
        int o = sample(O[x], NO);
        int a;
        if (policy == 0) {
            belief_correct(o);
            int bk = 0; double bv = -1e300;
            for (int k = 0; k < NB; k++) {
                double v = dot(belief, alpha[k]);
                if (v > bv) { bv = v; bk = k; }
            }
            a = alpha_act[bk];
        } else {
            a = pim[o];
        }
        double c = Rw[a][x];
        tot += c; disc += df * c; df *= GAMMA;
        if (policy == 0) belief_predict(a);
        x = sample(T[a][x], NS);
    }
    *total_catch = tot;
    *final_state = x;
    return disc;
}

/* ---- exported kernels ---- */

/* builds the model and runs `iters` PBVI backups; returns the sum of the point values */
__attribute__((export_name("kernel_pbvi")))
double kernel_pbvi(int iters) { build_model(); return pbvi(iters); }

/* builds the model and runs `iters` MDP value-iteration sweeps; returns sum V */
__attribute__((export_name("kernel_mdp_vi")))
double kernel_mdp_vi(int iters) { build_model(); return mdp_vi(iters); }

/* `steps` Bayes-filter steps (predict with action step%NA, correct with a deterministic
 * observation sequence); returns the posterior mean of the final belief plus sum of entries */
__attribute__((export_name("kernel_belief_filter")))
double kernel_belief_filter(int steps) {
    build_model();
    for (int i = 0; i < NS; i++) belief[i] = 1.0 / NS;
    for (int t = 0; t < steps; t++) {
        belief_predict(t % NA);
        belief_correct((7 * t + 3) % NO);
    }
    double m = 0.0, s = 0.0;
    for (int i = 0; i < NS; i++) { m += belief[i] * xg[i]; s += belief[i]; }
    return m + s;
}

/* certainty-equivalence simulation of `years` years (MDP solved with 200 sweeps, stream 1);
 * returns the discounted catch */
__attribute__((export_name("kernel_simulate")))
double kernel_simulate(int years) {
    build_model();
    mdp_vi(200);
    double tot; int xf;
    return simulate(1, 1, years, &tot, &xf);
}

/* ---- main ---- */
static void print_list(const char *key, const double *v, int n) {
    printf("%s:", key);
    for (int i = 0; i < n; i++) printf(" %.10g", v[i]);
    printf("\n");
}
static void print_ints(const char *key, const int *v, int n) {
    printf("%s:", key);
    for (int i = 0; i < n; i++) printf(" %d", v[i]);
    printf("\n");
}

int main(int argc, char **argv) {
    int iters = argc > 1 ? atoi(argv[1]) : 40;
    uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
    if (iters < 1) iters = 1;
    build_model();
    mdp_vi(200);
    pbvi(iters);
    static double vpb[NB], vmb[NB], disc[2][NREP], tot[2][NREP];
    static int fin[2][NREP];
    for (int k = 0; k < NB; k++) {
        double bv = -1e300;
        for (int m = 0; m < NB; m++) { double v = dot(B[k], alpha[m]); if (v > bv) bv = v; }
        vpb[k] = bv;
        vmb[k] = dot(B[k], Vm);
    }
    for (int p = 0; p < 2; p++)
        for (int r = 0; r < NREP; r++)
            disc[p][r] = simulate(p, seed * 1000003ULL + (uint64_t)r, NYEARS, &tot[p][r], &fin[p][r]);
    double mean[2] = {0, 0};
    for (int p = 0; p < 2; p++) { for (int r = 0; r < NREP; r++) mean[p] += tot[p][r]; mean[p] /= NREP; }
    printf("grid_states: %d\n", NS);
    printf("pbvi_iterations: %d\n", iters);
    printf("seed: %llu\n", (unsigned long long)seed);
    print_list("quotas", quota, NA);
    print_list("mdp_value", Vm, NS);
    print_ints("mdp_policy", pim, NS);
    print_list("pbvi_value", vpb, NB);
    print_list("mdp_value_at_beliefs", vmb, NB);
    print_ints("pbvi_action", alpha_act, NB);
    print_list("catch_pomdp", tot[0], NREP);
    print_list("catch_ce", tot[1], NREP);
    print_list("discounted_pomdp", disc[0], NREP);
    print_list("discounted_ce", disc[1], NREP);
    print_ints("final_state_pomdp", fin[0], NREP);
    print_ints("final_state_ce", fin[1], NREP);
    printf("mean_catch: %.10g %.10g\n", mean[0], mean[1]);
    return 0;
}
