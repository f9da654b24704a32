/* actor-critic: kernel of "Actor-Critics Can Achieve Optimal Sample
 * Efficiency" -- an optimistic actor-critic with rare policy switching on a
 * finite-horizon tabular MDP (unknown transitions, known rewards).
 * Critic: optimistic evaluation of the current policy under the empirical
 *   model, Qb_h(s,a) = min(H-h, r(s,a) + P^(s,a) Vb_{h+1} + bonus(N(s,a))),
 *   Vb_h(s) = sum_a pi_h(a|s) Qb_h(s,a), bonus = 0.5 H sqrt(L / max(1,N)).
 * Actor: mirror-descent / multiplicative-weights step
 *   pi_h(a|s) <- pi_h(a|s) exp(ETA Qb_h(s,a)) / Z.
 * Rare switching: critic+actor update only after an episode in which some
 * visit count N(s,a) at least doubled since the last update, so the policy
 * changes O(SA log(KH)) times. Regret is the exact expected regret
 * sum_k V*(s0) - V^{pi_k}(s0) (policy evaluation with the true model).
 * argv[1] = episodes K (default 1000000), argv[2] = seed (default 42).
 */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <math.h>

#define S 6
#define A 3
#define H 5
#define ETA 2.0
#define EXPORT(n) __attribute__((export_name(n)))

static uint64_t sm64(uint64_t seed, uint64_t i) {
    uint64_t z = seed + (i + 1) * 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
static double uat(uint64_t s, uint64_t i) { return (double)(sm64(s, i) >> 11) * 0x1.0p-53; }
static uint64_t sseed(uint64_t seed, uint64_t k) { return sm64(seed, 0xABCD0000ULL + k); }

static double P[S][A][S], R[S][A], pi[H][S][A];
static double Nsa[S][A], Nsas[S][A][S], Nlast[S][A];
static double Vopt, Vcur, cumreg, logL;
static int switches, Kmax;
static long long ep;
static uint64_t su;

/* exact value of the current policy at s0 = 0 under the true model */
static double eval_pi(void) {
    double V[S] = { 0 }, Vn[S];
    for (int h = H - 1; h >= 0; h--) {
        for (int s = 0; s < S; s++) {
            double v = 0;
            for (int a = 0; a < A; a++) {
                double q = R[s][a];
                for (int t = 0; t < S; t++) q += P[s][a][t] * V[t];
                v += pi[h][s][a] * q;
            }
            Vn[s] = v;
        }
        for (int s = 0; s < S; s++) V[s] = Vn[s];
    }
    return V[0];
}

static double setup(int K, long long seed) {
    if (K < 1) K = 1;
    Kmax = K;
    uint64_t s0 = sseed((uint64_t)seed, 0);
    uint64_t c = 0;
    for (int s = 0; s < S; s++)
        for (int a = 0; a < A; a++) {
            double u = uat(s0, c++);
            R[s][a] = u * u;
            double tot = 0;
            for (int t = 0; t < S; t++) { double v = uat(s0, c++); v = v * v * v; P[s][a][t] = v; tot += v; }
            for (int t = 0; t < S; t++) P[s][a][t] /= tot;
            Nsa[s][a] = Nlast[s][a] = 0;
            for (int t = 0; t < S; t++) Nsas[s][a][t] = 0;
        }
    for (int h = 0; h < H; h++) for (int s = 0; s < S; s++) for (int a = 0; a < A; a++) pi[h][s][a] = 1.0 / A;
    /* optimal value by backward induction */
    double V[S] = { 0 }, Vn[S];
    for (int h = H - 1; h >= 0; h--) {
        for (int s = 0; s < S; s++) {
            double best = -1e300;
            for (int a = 0; a < A; a++) {
                double q = R[s][a];
                for (int t = 0; t < S; t++) q += P[s][a][t] * V[t];
                if (q > best) best = q;
            }
            Vn[s] = best;
        }
        for (int s = 0; s < S; s++) V[s] = Vn[s];
    }
    Vopt = V[0];
    Vcur = eval_pi();
    cumreg = 0; switches = 0; ep = 0;
    logL = log((double)S * A * H * K * 10.0);
    su = sseed((uint64_t)seed, 1);
    return Vopt;
}

/* optimistic critic for the current policy followed by one actor step */
static double critic_actor(void) {
    double V[S] = { 0 }, Vn[S], Q[H][S][A];
    for (int h = H - 1; h >= 0; h--) {
        for (int s = 0; s < S; s++) {
            double v = 0;
            for (int a = 0; a < A; a++) {
                double n = Nsa[s][a], q;
                if (n > 0) {
                    q = R[s][a] + 0.5 * H * sqrt(logL / n);
                    for (int t = 0; t < S; t++) q += Nsas[s][a][t] / n * V[t];
                } else q = H - h;
                if (q > H - h) q = H - h;
                Q[h][s][a] = q;
                v += pi[h][s][a] * q;
            }
            Vn[s] = v;
        }
        for (int s = 0; s < S; s++) V[s] = Vn[s];
    }
    for (int h = 0; h < H; h++)
        for (int s = 0; s < S; s++) {
            double m = Q[h][s][0], z = 0;
            for (int a = 1; a < A; a++) if (Q[h][s][a] > m) m = Q[h][s][a];
            for (int a = 0; a < A; a++) { pi[h][s][a] *= exp(ETA * (Q[h][s][a] - m)); z += pi[h][s][a]; }
            for (int a = 0; a < A; a++) pi[h][s][a] /= z;
        }
    switches++;
    Vcur = eval_pi();
    return V[0];
}

/* run n more episodes; returns the cumulative expected regret so far */
static double episodes(int n) {
    for (int k = 0; k < n; k++, ep++) {
        cumreg += Vopt - Vcur;
        int s = 0;
        for (int h = 0; h < H; h++) {
            double u = uat(su, ((uint64_t)ep * H + h) * 2), c = 0;
            int a = A - 1;
            for (int b = 0; b < A; b++) { c += pi[h][s][b]; if (u < c) { a = b; break; } }
            double v = uat(su, ((uint64_t)ep * H + h) * 2 + 1);
            int t = S - 1; c = 0;
            for (int q = 0; q < S; q++) { c += P[s][a][q]; if (v < c) { t = q; break; } }
            Nsa[s][a] += 1; Nsas[s][a][t] += 1;
            s = t;
        }
        int trig = 0;
        for (int x = 0; x < S; x++) for (int a = 0; a < A; a++)
            if (Nsa[x][a] > 0 && Nsa[x][a] >= 2 * Nlast[x][a]) trig = 1;
        if (trig) {
            for (int x = 0; x < S; x++) for (int a = 0; a < A; a++) Nlast[x][a] = Nsa[x][a];
            critic_actor();
        }
    }
    return cumreg;
}

/* Exported kernels: pure functions of their arguments. Each one rebuilds the
 * whole state (MDP + fresh learner, K = KERNEL_K, seed KERNEL_SEED) before
 * working, so repeated calls / fresh instances give identical results. */
#define KERNEL_K 1000000
#define KERNEL_SEED 42

/* build the MDP and a fresh learner; returns V*(s0) */
EXPORT("kernel_setup")
double kernel_setup(int K, long long seed) { return setup(K, seed); }

/* fresh learner, then n episodes (with triggered updates); cumulative regret */
EXPORT("kernel_episodes")
double kernel_episodes(int n) {
    setup(KERNEL_K, KERNEL_SEED);
    return episodes(n);
}

/* fresh learner, n episodes, then one forced critic + actor update;
 * returns the optimistic value of the updated-from policy at s0 */
EXPORT("kernel_critic_actor")
double kernel_critic_actor(int n) {
    setup(KERNEL_K, KERNEL_SEED);
    episodes(n);
    return critic_actor();
}

/* fresh learner, n episodes; exact value of the resulting policy at s0 */
EXPORT("kernel_policy_value")
double kernel_policy_value(int n) {
    setup(KERNEL_K, KERNEL_SEED);
    episodes(n);
    return Vcur;
}

int main(int argc, char **argv) {
    int K = argc > 1 ? atoi(argv[1]) : 1000000;
    long long seed = argc > 2 ? atoll(argv[2]) : 42;
    if (K < 10) K = 10;
    double vo = setup(K, seed);
    printf("states: %d\nactions: %d\nhorizon: %d\nepisodes: %d\nseed: %lld\n", S, A, H, K, seed);
    printf("value_optimal: %.10g\nvalue_uniform: %.10g\n", vo, Vcur);
    double cr[10];
    int done = 0;
    for (int i = 0; i < 10; i++) { int to = (int)((long long)K * (i + 1) / 10); cr[i] = episodes(to - done); done = to; }
    printf("cum_regret:"); for (int i = 0; i < 10; i++) printf(" %.10g", cr[i]); printf("\n");
    printf("switches: %d\nswitch_bound: %d\nvalue_final: %.10g\n", switches, (int)(S * A * (log2((double)K * H) + 1)), Vcur);
    return 0;
}
