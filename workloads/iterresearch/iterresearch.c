/* iterresearch: kernel of "IterResearch: Rethinking Long-Horizon Agents via
 * Markovian State Reconstruction" -- its Efficiency-Aware Policy Optimization
 * (EAPO): every round t of a T-round trajectory with terminal reward R gets
 * the geometrically discounted reward r_t = gamma^(T-t) R (shorter successful
 * research gets more credit), advantages are normalised within the group of
 * G rollouts of the same question, and the variable number of round-samples
 * is adaptively downsampled to the largest multiple of the data-parallel size.
 *
 * Simulated research episodes: each round the agent either answers (prob
 * sigmoid(theta_e), e = evidence collected so far, 0..EN) or searches, finding
 * evidence with a question-dependent probability; an answer is correct with
 * prob 0.2 + 0.75 e/EN; at round TMAX it must answer. The tabular policy is
 * trained by REINFORCE on the kept samples, with gamma = 0.9 (EAPO) and with
 * gamma = 1 (no efficiency pressure).
 * argv[1] = questions per iteration Q (default 1536), argv[2] = seed (42).
 */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <math.h>

#define G 8
#define TMAX 32
#define EN 4
#define ITERS 30
#define DP 16
#define LR 2.0
#define QMAX 2048
#define NSMAX (QMAX * G * TMAX)
#define EXPORT(n) __attribute__((export_name(n)))

static uint64_t sm64(uint64_t seed, uint64_t i) {
    uint64_t z = seed + (i + 1) * 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
static double uat(uint64_t s, uint64_t i) { return (double)(sm64(s, i) >> 11) * 0x1.0p-53; }
static uint64_t sseed(uint64_t seed, uint64_t k) { return sm64(seed, 0xABCD0000ULL + k); }

static int Q = 0;
static uint64_t gseed;
static double theta[2][EN + 1];
static int it_done[2];
/* per-sample buffers for the current iteration */
static unsigned char s_e[NSMAX], s_stop[NSMAX];
static double s_r[NSMAX], s_adv[NSMAX];
static int s_q[NSMAX], s_idx[NSMAX];
/* stats of the last iteration */
static double st_len, st_acc, st_reward;
static int st_total, st_kept;

static double sigm(double x) { return 1.0 / (1.0 + exp(-x)); }

static int setup(int q, long long seed) {
    if (q < 1) q = 1;
    if (q > QMAX) q = QMAX;
    Q = q; gseed = (uint64_t)seed;
    for (int c = 0; c < 2; c++) { it_done[c] = 0; for (int e = 0; e <= EN; e++) theta[c][e] = 0.0; }
    return Q;
}

/* roll out Q*G episodes of setting c (0: gamma 0.9, 1: gamma 1.0), build the
 * discounted per-round rewards and group-normalised advantages; returns the
 * number of round-samples. */
static int rollouts(int c) {
    c &= 1;
    double gamma = c ? 1.0 : 0.9;
    int it = it_done[c];
    uint64_t sq = sseed(gseed, 1), sr = sseed(gseed, 10 + c);
    int n = 0, correct = 0;
    double totlen = 0, totR = 0;
    int gstart = 0;
    for (int q = 0; q < Q; q++) {
        double pq = 0.2 + 0.6 * uat(sq, (uint64_t)it * Q + q);
        gstart = n;
        for (int g = 0; g < G; g++) {
            uint64_t base = (((uint64_t)it * Q + q) * G + g) * TMAX * 2;
            int e = 0, t, first = n;
            double R = 0;
            for (t = 0; t < TMAX; t++) {
                double u1 = uat(sr, base + 2 * t), u2 = uat(sr, base + 2 * t + 1);
                int stop = t == TMAX - 1 || u1 < sigm(theta[c][e]);
                s_e[n] = e; s_stop[n] = stop; s_q[n] = q; n++;
                if (stop) { R = u2 < 0.2 + 0.75 * e / EN ? 1.0 : 0.0; break; }
                if (u2 < pq && e < EN) e++;
            }
            int T = n - first;
            for (int i = first; i < n; i++) s_r[i] = R * pow(gamma, (double)(T - 1 - (i - first)));
            totlen += T; totR += R; correct += R > 0;
        }
        /* group-relative advantages over all round-samples of this question */
        double m = 0, v = 0;
        for (int i = gstart; i < n; i++) m += s_r[i];
        m /= n - gstart;
        for (int i = gstart; i < n; i++) v += (s_r[i] - m) * (s_r[i] - m);
        double sd = sqrt(v / (n - gstart));
        for (int i = gstart; i < n; i++) s_adv[i] = (s_r[i] - m) / (sd + 1e-6);
    }
    st_len = totlen / (Q * G); st_acc = (double)correct / (Q * G); st_reward = totR / (Q * G);
    st_total = n;
    return n;
}

/* adaptive downsampling to the largest multiple of DP (partial Fisher-Yates)
 * and one REINFORCE step on the kept samples; returns the kept count. */
static int update(int c) {
    c &= 1;
    int n = st_total, it = it_done[c];
    int keep = n / DP * DP;
    uint64_t sd = sseed(gseed, 20 + c);
    for (int i = 0; i < n; i++) s_idx[i] = i;
    for (int i = 0; i < keep; i++) {
        int j = i + (int)(uat(sd, (uint64_t)it * NSMAX + i) * (n - i));
        if (j >= n) j = n - 1;
        int t = s_idx[i]; s_idx[i] = s_idx[j]; s_idx[j] = t;
    }
    double grad[EN + 1] = { 0 };
    for (int k = 0; k < keep; k++) {
        int i = s_idx[k];
        double p = sigm(theta[c][s_e[i]]);
        grad[s_e[i]] += s_adv[i] * (s_stop[i] ? 1.0 - p : -p);
    }
    if (keep) for (int e = 0; e <= EN; e++) theta[c][e] += LR * grad[e] / keep;
    st_kept = keep;
    it_done[c]++;
    return keep;
}

/* Exported kernels: pure functions of their arguments. All but kernel_setup
 * first reset the state with setup(KERNEL_Q, KERNEL_SEED) (fresh policies,
 * iteration 0), so repeated calls / fresh instances give identical results. */
#define KERNEL_Q 256
#define KERNEL_SEED 42

/* reset both policies; returns the (clamped) number of questions */
EXPORT("kernel_setup")
int kernel_setup(int q, long long seed) { return setup(q, seed); }

/* fresh policies, one iteration of rollouts of setting c; #round-samples */
EXPORT("kernel_rollouts")
int kernel_rollouts(int c) {
    setup(KERNEL_Q, KERNEL_SEED);
    return rollouts(c);
}

/* fresh policies, rollouts + downsampling + policy-gradient step; #kept */
EXPORT("kernel_update")
int kernel_update(int c) {
    setup(KERNEL_Q, KERNEL_SEED);
    rollouts(c);
    return update(c);
}

/* fresh policies, ITERS training iterations of setting c; stop probability
 * of the trained policy at evidence level e */
EXPORT("kernel_stop_prob")
double kernel_stop_prob(int c, int e) {
    setup(KERNEL_Q, KERNEL_SEED);
    c &= 1;
    for (int i = 0; i < ITERS; i++) { rollouts(c); update(c); }
    return sigm(theta[c][e < 0 ? 0 : e > EN ? EN : e]);
}

int main(int argc, char **argv) {
    int q = argc > 1 ? atoi(argv[1]) : 1536;
    long long seed = argc > 2 ? atoll(argv[2]) : 42;
    setup(q, seed);
    printf("questions: %d\nrollouts_per_question: %d\nmax_rounds: %d\niterations: %d\ndp_size: %d\nseed: %lld\n", Q, G, TMAX, ITERS, DP, seed);
    static double L[2][ITERS], Ac[2][ITERS];
    static int Tot[2][ITERS], Kp[2][ITERS];
    for (int c = 0; c < 2; c++)
        for (int i = 0; i < ITERS; i++) {
            rollouts(c);
            update(c);
            L[c][i] = st_len; Ac[c][i] = st_acc; Tot[c][i] = st_total; Kp[c][i] = st_kept;
        }
    const char *nm[2] = { "eapo", "undiscounted" };
    for (int c = 0; c < 2; c++) {
        printf("%s_gamma: %.10g\n", nm[c], c ? 1.0 : 0.9);
        printf("%s_mean_rounds:", nm[c]); for (int i = 0; i < ITERS; i++) printf(" %.10g", L[c][i]); printf("\n");
        printf("%s_accuracy:", nm[c]); for (int i = 0; i < ITERS; i++) printf(" %.10g", Ac[c][i]); printf("\n");
        printf("%s_samples:", nm[c]); for (int i = 0; i < ITERS; i++) printf(" %d", Tot[c][i]); printf("\n");
        printf("%s_kept:", nm[c]); for (int i = 0; i < ITERS; i++) printf(" %d", Kp[c][i]); printf("\n");
        printf("%s_theta:", nm[c]); for (int e = 0; e <= EN; e++) printf(" %.10g", theta[c][e]); printf("\n");
    }
    return 0;
}
