/* latent-mdp: kernel of "Horizon-Free Reinforcement Learning in Latent MDPs".
 * A latent MDP is a mixture of M MDPs (contexts) sharing S and A; a context
 * m ~ w is drawn per episode and never revealed. Rewards are scaled so an
 * episode's return is in [0,1] (horizon-free normalisation). The optimal
 * history-dependent policy plans over the belief b in Delta_M: values are
 * max over alpha vectors, V_h(b,s) = max_{alpha in Gamma_h(s)} b . alpha.
 * Kernel: point-based value iteration with alpha vectors (one per belief
 * point per (h,s)), exact values of the context oracle and of the policy that
 * is optimal for the w-averaged MDP, and simulated episodes (common random
 * numbers) of the PBVI belief policy, of a certainty-equivalence learner that
 * acts optimally for the MAP context of its current belief, and of the
 * averaged-MDP policy; cumulative regret is measured against the PBVI value.
 * argv[1] = number of belief points NB (default 192), argv[2] = seed (42).
 */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <math.h>

#define M 4
#define S 8
#define A 4
#define H 20
#define NBMAX 512
#define K 4000
#define EXPORT(n) __attribute__((export_name(n)))

static uint64_t sm64(uint64_t seed, uint64_t i) {
    uint64_t z = seed + (i + 1) * 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
typedef struct { uint64_t s, i; } rng_t;
static double ru(rng_t *r) { return (double)(sm64(r->s, r->i++) >> 11) * 0x1.0p-53; }
static rng_t stream(uint64_t seed, uint64_t k) { rng_t r = { sm64(seed, 0xABCD0000ULL + k), 0 }; return r; }

static int NB = 0;
static uint64_t gseed;
static double w[M], R[M][S][A], P[M][S][A][S];
static double B[NBMAX][M];
static double Gam[H + 1][S][NBMAX][M];
static int Gact[H][S][NBMAX];
static double Vctx[M][H + 1][S];     /* per-context optimal values */
static int pictx[M][H][S];
static int piavg[H][S];
static double Vavg_exact;

EXPORT("kernel_setup")
int kernel_setup(int nb, long long seed) {
    if (nb < M + 1) nb = M + 1;
    if (nb > NBMAX) nb = NBMAX;
    NB = nb; gseed = (uint64_t)seed;
    rng_t r0 = stream(gseed, 0), r1 = stream(gseed, 1);
    double tw = 0;
    for (int m = 0; m < M; m++) { w[m] = 0.5 + ru(&r0); tw += w[m]; }
    for (int m = 0; m < M; m++) w[m] /= tw;
    for (int m = 0; m < M; m++)
        for (int s = 0; s < S; s++)
            for (int a = 0; a < A; a++) {
                double u = ru(&r0);
                R[m][s][a] = u * u * u / H;
                double t = 0;
                for (int q = 0; q < S; q++) { double v = ru(&r0); v = v * v; v = v * v; P[m][s][a][q] = v; t += v; }
                for (int q = 0; q < S; q++) P[m][s][a][q] /= t;
            }
    for (int i = 0; i < M; i++) for (int m = 0; m < M; m++) B[i][m] = m == i ? 0.97 : 0.03 / (M - 1);
    for (int m = 0; m < M; m++) B[M][m] = 1.0 / M;
    for (int i = M + 1; i < NB; i++) {
        double t = 0;
        for (int m = 0; m < M; m++) { B[i][m] = -log(1.0 - ru(&r1)); t += B[i][m]; }
        for (int m = 0; m < M; m++) B[i][m] /= t;
    }
    return NB;
}

/* point-based value iteration; returns the PBVI value at (w, s0 = 0) */
EXPORT("kernel_pbvi")
double kernel_pbvi(void) {
    for (int s = 0; s < S; s++) for (int i = 0; i < NB; i++) for (int m = 0; m < M; m++) Gam[H][s][i][m] = 0;
    int nG = 1;  /* at h = H only one (zero) vector per state */
    for (int h = H - 1; h >= 0; h--) {
        for (int s = 0; s < S; s++)
            for (int i = 0; i < NB; i++) {
                const double *b = B[i];
                double best = -1e300, bal[M]; int ba = 0;
                for (int a = 0; a < A; a++) {
                    double al[M];
                    for (int m = 0; m < M; m++) al[m] = R[m][s][a];
                    for (int q = 0; q < S; q++) {
                        double bw[M];
                        for (int m = 0; m < M; m++) bw[m] = b[m] * P[m][s][a][q];
                        int bj = 0; double bv = -1e300;
                        for (int j = 0; j < nG; j++) {
                            const double *g = Gam[h + 1][q][j];
                            double v = 0; for (int m = 0; m < M; m++) v += bw[m] * g[m];
                            if (v > bv) { bv = v; bj = j; }
                        }
                        const double *g = Gam[h + 1][q][bj];
                        for (int m = 0; m < M; m++) al[m] += P[m][s][a][q] * g[m];
                    }
                    double v = 0; for (int m = 0; m < M; m++) v += b[m] * al[m];
                    if (v > best) { best = v; ba = a; for (int m = 0; m < M; m++) bal[m] = al[m]; }
                }
                for (int m = 0; m < M; m++) Gam[h][s][i][m] = bal[m];
                Gact[h][s][i] = ba;
            }
        nG = NB;
    }
    double best = -1e300;
    for (int i = 0; i < NB; i++) { double v = 0; for (int m = 0; m < M; m++) v += w[m] * Gam[0][0][i][m]; if (v > best) best = v; }
    return best;
}

/* per-context optimal DP and the averaged-MDP policy with its exact value;
 * returns the context-oracle value sum_m w_m V*_m(s0). */
EXPORT("kernel_context_dp")
double kernel_context_dp(void) {
    for (int m = 0; m < M; m++) {
        for (int s = 0; s < S; s++) Vctx[m][H][s] = 0;
        for (int h = H - 1; h >= 0; h--)
            for (int s = 0; s < S; s++) {
                double best = -1e300; int ba = 0;
                for (int a = 0; a < A; a++) {
                    double q = R[m][s][a];
                    for (int t = 0; t < S; t++) q += P[m][s][a][t] * Vctx[m][h + 1][t];
                    if (q > best) { best = q; ba = a; }
                }
                Vctx[m][h][s] = best; pictx[m][h][s] = ba;
            }
    }
    double Va[H + 1][S];
    for (int s = 0; s < S; s++) Va[H][s] = 0;
    for (int h = H - 1; h >= 0; h--)
        for (int s = 0; s < S; s++) {
            double best = -1e300; int ba = 0;
            for (int a = 0; a < A; a++) {
                double q = 0;
                for (int m = 0; m < M; m++) { q += w[m] * R[m][s][a]; for (int t = 0; t < S; t++) q += w[m] * P[m][s][a][t] * Va[h + 1][t]; }
                if (q > best) { best = q; ba = a; }
            }
            Va[h][s] = best; piavg[h][s] = ba;
        }
    /* exact value of the (Markov) averaged policy: sum_m w_m V^pi_m(s0) */
    Vavg_exact = 0;
    for (int m = 0; m < M; m++) {
        double V[S], Vn[S];
        for (int s = 0; s < S; s++) V[s] = 0;
        for (int h = H - 1; h >= 0; h--) {
            for (int s = 0; s < S; s++) {
                int a = piavg[h][s];
                double q = R[m][s][a];
                for (int t = 0; t < S; t++) q += P[m][s][a][t] * V[t];
                Vn[s] = q;
            }
            for (int s = 0; s < S; s++) V[s] = Vn[s];
        }
        Vavg_exact += w[m] * V[0];
    }
    double o = 0;
    for (int m = 0; m < M; m++) o += w[m] * Vctx[m][0][0];
    return o;
}

static double retsum[3], cumreg[3][10];
/* simulate K episodes of learner L (0 PBVI belief policy, 1 MAP-context
 * learner, 2 averaged-MDP policy) with common random numbers; returns the
 * mean return. vref = value regret is measured against. */
EXPORT("kernel_simulate")
double kernel_simulate(int L, double vref) {
    L = L < 0 ? 0 : L > 2 ? 2 : L;
    rng_t r = stream(gseed, 3);
    double tot = 0, reg = 0;
    for (int k = 0; k < K; k++) {
        double u = ru(&r), c = 0; int m = M - 1;
        for (int j = 0; j < M; j++) { c += w[j]; if (u < c) { m = j; break; } }
        double b[M]; for (int j = 0; j < M; j++) b[j] = w[j];
        int s = 0; double G = 0;
        for (int h = 0; h < H; h++) {
            int a;
            if (L == 0) {
                int bi = 0; double bv = -1e300;
                for (int i = 0; i < NB; i++) { double v = 0; for (int j = 0; j < M; j++) v += b[j] * Gam[h][s][i][j]; if (v > bv) { bv = v; bi = i; } }
                a = Gact[h][s][bi];
            } else if (L == 1) {
                int mm = 0; for (int j = 1; j < M; j++) if (b[j] > b[mm]) mm = j;
                a = pictx[mm][h][s];
            } else a = piavg[h][s];
            G += R[m][s][a];
            double v = ru(&r); c = 0; int t = S - 1;
            for (int q = 0; q < S; q++) { c += P[m][s][a][q]; if (v < c) { t = q; break; } }
            double z = 0;
            for (int j = 0; j < M; j++) { b[j] *= P[j][s][a][t]; z += b[j]; }
            for (int j = 0; j < M; j++) b[j] /= z;
            s = t;
        }
        tot += G; reg += vref - G;
        if ((k + 1) % (K / 10) == 0) cumreg[L][(k + 1) / (K / 10) - 1] = reg;
    }
    retsum[L] = tot;
    return tot / K;
}

int main(int argc, char **argv) {
    int nb = argc > 1 ? atoi(argv[1]) : 192;
    long long seed = argc > 2 ? atoll(argv[2]) : 42;
    kernel_setup(nb, seed);
    double vp = kernel_pbvi();
    double vo = kernel_context_dp();
    printf("contexts: %d\nstates: %d\nactions: %d\nhorizon: %d\nbelief_points: %d\nepisodes: %d\nseed: %lld\n", M, S, A, H, NB, K, seed);
    printf("weights:"); for (int m = 0; m < M; m++) printf(" %.10g", w[m]); printf("\n");
    printf("value_oracle: %.10g\nvalue_pbvi: %.10g\nvalue_avg_policy: %.10g\n", vo, vp, Vavg_exact);
    const char *nm[3] = { "pbvi", "map_learner", "avg_policy" };
    for (int L = 0; L < 3; L++) {
        double mr = kernel_simulate(L, vp);
        printf("%s_mean_return: %.10g\n%s_cum_regret:", nm[L], mr, nm[L]);
        for (int i = 0; i < 10; i++) printf(" %.10g", cumreg[L][i]);
        printf("\n");
    }
    return 0;
}
