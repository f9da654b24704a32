/* policy-cliff: kernel of "The Policy Cliff: A Theoretical Analysis of
 * Reward-Policy Maps". When optimal actions are degenerate (ties), the map
 * reward -> optimal policy is discontinuous: an arbitrarily small reward
 * perturbation flips the greedy policy. Entropy regularisation (soft value
 * iteration, temperature tau) makes the map Lipschitz with constant ~1/tau.
 *
 * MDP: two mirror copies of a random sparse n-state MDP, 4 actions. Action 0
 * moves within the current copy, action 1 does the same move in the mirror
 * copy, so Q(s,0) == Q(s,1) exactly (bitwise) -> degenerate optimal actions.
 * argv[1] = n (states per copy, default 800), argv[2] = seed (default 42).
 */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <math.h>

#define NA 4
#define NB 4
#define NMAX 4000
#define SMAX (2 * NMAX)
#define GAMMA 0.9
#define TIE 1e-9
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

static int n = 0, S = 0;
static int succ[SMAX][NA][NB];
static double prob[SMAX][NA][NB], rew[SMAX][NA], delta[SMAX][NA];
static double V[SMAX], Vn[SMAX], Q[SMAX][NA];
static double pol[2][SMAX][NA];
static int last_iters;

EXPORT("kernel_setup")
int kernel_setup(int nn, long long seed) {
    if (nn < 2) nn = 2;
    if (nn > NMAX) nn = NMAX;
    n = nn; S = 2 * n;
    rng_t r0 = stream((uint64_t)seed, 0), r1 = stream((uint64_t)seed, 1);
    static int loc[NMAX][NA][NB];
    static double w[NMAX][NA][NB], rr[NMAX][NA];
    for (int i = 0; i < n; i++)
        for (int a = 0; a < NA; a++) {
            rr[i][a] = ru(&r0);
            for (int b = 0; b < NB; b++) { int j = (int)(ru(&r0) * n); loc[i][a][b] = j < n ? j : n - 1; }
            double t = 0;
            for (int b = 0; b < NB; b++) { w[i][a][b] = 0.1 + ru(&r0); t += w[i][a][b]; }
            for (int b = 0; b < NB; b++) w[i][a][b] /= t;
        }
    for (int c = 0; c < 2; c++)
        for (int i = 0; i < n; i++) {
            int s = c * n + i;
            for (int a = 0; a < NA; a++) {
                int src = a == 1 ? 0 : a;               /* action 1 copies action 0's data */
                int off = (a == 1 ? 1 - c : c) * n;     /* ...but lands in the mirror copy */
                rew[s][a] = rr[i][src];
                for (int b = 0; b < NB; b++) { succ[s][a][b] = off + loc[i][src][b]; prob[s][a][b] = w[i][src][b]; }
            }
        }
    for (int s = 0; s < S; s++) for (int a = 0; a < NA; a++) delta[s][a] = 2 * ru(&r1) - 1;
    return S;
}

static void qvals(double eps) {
    for (int s = 0; s < S; s++)
        for (int a = 0; a < NA; a++) {
            double q = 0;
            for (int b = 0; b < NB; b++) q += prob[s][a][b] * V[succ[s][a][b]];
            Q[s][a] = rew[s][a] + eps * delta[s][a] + GAMMA * q;
        }
}

/* soft (entropy-regularised) value iteration with temperature tau on reward
 * r + eps*delta; softmax policy stored in slot. Returns sum of soft values. */
EXPORT("kernel_soft_vi")
double kernel_soft_vi(double tau, double eps, int slot) {
    slot &= 1;
    for (int s = 0; s < S; s++) V[s] = 0;
    int it;
    for (it = 1; it <= 100000; it++) {
        qvals(eps);
        double diff = 0;
        for (int s = 0; s < S; s++) {
            double m = Q[s][0];
            for (int a = 1; a < NA; a++) if (Q[s][a] > m) m = Q[s][a];
            double z = 0;
            for (int a = 0; a < NA; a++) z += exp((Q[s][a] - m) / tau);
            Vn[s] = m + tau * log(z);
            double d = fabs(Vn[s] - V[s]); if (d > diff) diff = d;
        }
        for (int s = 0; s < S; s++) V[s] = Vn[s];
        if (diff < 1e-12) break;
    }
    last_iters = it;
    qvals(eps);
    double tot = 0;
    for (int s = 0; s < S; s++) {
        double m = Q[s][0], z = 0;
        for (int a = 1; a < NA; a++) if (Q[s][a] > m) m = Q[s][a];
        for (int a = 0; a < NA; a++) { pol[slot][s][a] = exp((Q[s][a] - m) / tau); z += pol[slot][s][a]; }
        for (int a = 0; a < NA; a++) pol[slot][s][a] /= z;
        tot += V[s];
    }
    return tot;
}

/* hard value iteration; greedy policy (first action within TIE of the max)
 * stored in slot. Returns the number of states with a degenerate optimum. */
EXPORT("kernel_hard_vi")
int kernel_hard_vi(double eps, int slot) {
    slot &= 1;
    for (int s = 0; s < S; s++) V[s] = 0;
    int it;
    for (it = 1; it <= 100000; it++) {
        qvals(eps);
        double diff = 0;
        for (int s = 0; s < S; s++) {
            double m = Q[s][0];
            for (int a = 1; a < NA; a++) if (Q[s][a] > m) m = Q[s][a];
            Vn[s] = m;
            double d = fabs(m - V[s]); if (d > diff) diff = d;
        }
        for (int s = 0; s < S; s++) V[s] = Vn[s];
        if (diff < 1e-12) break;
    }
    last_iters = it;
    qvals(eps);
    int ties = 0;
    for (int s = 0; s < S; s++) {
        double m = Q[s][0];
        for (int a = 1; a < NA; a++) if (Q[s][a] > m) m = Q[s][a];
        int first = -1, cnt = 0;
        for (int a = 0; a < NA; a++) if (Q[s][a] >= m - TIE) { cnt++; if (first < 0) first = a; }
        ties += cnt > 1;
        for (int a = 0; a < NA; a++) pol[slot][s][a] = a == first;
    }
    return ties;
}

/* mean (over states) total-variation distance between the policies in slots 0 and 1 */
EXPORT("kernel_policy_tv")
double kernel_policy_tv(void) {
    double t = 0;
    for (int s = 0; s < S; s++) {
        double d = 0;
        for (int a = 0; a < NA; a++) d += fabs(pol[0][s][a] - pol[1][s][a]);
        t += 0.5 * d;
    }
    return t / S;
}

static double max_tv(void) {
    double mx = 0;
    for (int s = 0; s < S; s++) {
        double d = 0;
        for (int a = 0; a < NA; a++) d += fabs(pol[0][s][a] - pol[1][s][a]);
        if (0.5 * d > mx) mx = 0.5 * d;
    }
    return mx;
}

int main(int argc, char **argv) {
    int nn = argc > 1 ? atoi(argv[1]) : 800;
    long long seed = argc > 2 ? atoll(argv[2]) : 42;
    static const double eps[] = { 1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6 };
    static const double taus[] = { 1.0, 0.1, 0.01 };
    const int NE = 6, NT = 3;
    kernel_setup(nn, seed);
    printf("states: %d\nactions: %d\ngamma: %.10g\nseed: %lld\n", S, NA, GAMMA, seed);
    printf("eps:");
    for (int e = 0; e < NE; e++) printf(" %.10g", eps[e]);
    printf("\ntaus:");
    for (int t = 0; t < NT; t++) printf(" %.10g", taus[t]);
    printf("\n");
    int ties = kernel_hard_vi(0.0, 0);
    printf("degenerate_states: %d\n", ties);
    double vs = 0; for (int s = 0; s < S; s++) vs += V[s];
    printf("hard_value_sum: %.10g\n", vs);
    printf("hard_tv:");
    for (int e = 0; e < NE; e++) { kernel_hard_vi(eps[e], 1); printf(" %.10g", kernel_policy_tv()); }
    printf("\n");
    for (int t = 0; t < NT; t++) {
        double v0 = kernel_soft_vi(taus[t], 0.0, 0);
        printf("soft%d_value_sum: %.10g\n", t, v0);
        printf("soft%d_tv:", t);
        double mx[6];
        for (int e = 0; e < NE; e++) { kernel_soft_vi(taus[t], eps[e], 1); printf(" %.10g", kernel_policy_tv()); mx[e] = max_tv(); }
        printf("\nsoft%d_max_tv:", t);
        for (int e = 0; e < NE; e++) printf(" %.10g", mx[e]);
        printf("\n");
    }
    return 0;
}
