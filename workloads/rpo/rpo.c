/*
 * rpo -- DPO vs RPO (DPO + SFT regulariser) on synthetic preference data with partial coverage.
 *
 * Kernel of: "Provably Mitigating Overoptimization in RLHF: Your SFT Loss is Implicitly an
 * Adversarial Regularizer" (RPO).
 *
 * NX prompts, K candidate responses each, features phi(x, y) in R^F (stream: normals).
 * Log-linear policy pi_theta(y|x) ∝ exp(theta . phi(x,y) + b(x,y)); the fixed offset b is the
 * reference (SFT) policy pi_ref = pi_0: b = 0 on the NCOV "covered" responses, b = -COV_GAP on
 * the rest, so preference data only ever compares covered responses.
 * Gold reward r*(x,y) = w* . phi(x,y) (w*_f = cos(f)), minus UNCOV_PENALTY on uncovered
 * responses (what the data never shows can be bad: the reward-hacking responses). Pairs: x uniform, two distinct covered
 * responses, winner by Bradley-Terry on r* (one uniform).
 *
 *   DPO:  L = -mean log sigmoid(beta [(log pi(yw) - log pi_ref(yw)) - (log pi(yl) - log pi_ref(yl))])
 *   RPO:  L_DPO + ETA * mean(-log pi(yw))           (the SFT loss on chosen responses)
 * Both trained by full-batch gradient descent (lr LR) from theta = 0 (= pi_ref).
 * Gradient: d log pi(y|x)/d theta = phi(x,y) - E_pi[phi(x,.)].
 * Tracked: losses, the gold value E_x E_pi r*, and the policy mass on uncovered responses
 * (overoptimization: DPO can move mass to responses the data never saw).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>

#define NX 64
#define K 16
#define F 12
#define NCOV 4
#define NPAIR 512
#define MAXSTEPS 100000
static const double UNCOV_PENALTY = 4.0, COV_GAP = 3.0, BETA = 0.5, ETA = 0.05, LR = 0.5;

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

static double phi[NX][K][F], bias[NX][K], gold[NX][K], wstar[F];
static int px[NPAIR], pw[NPAIR], pl[NPAIR];
static double theta[F];
static double logp[NX][K], prob[NX][K], ephi[NX][F];
static double st_dpo, st_sft, st_gold, st_uncov;

static void make_data(uint64_t seed) {
    rng_seed(seed);
    for (int f = 0; f < F; f++) wstar[f] = cos((double)f);
    for (int x = 0; x < NX; x++)
        for (int y = 0; y < K; y++) {
            double g = 0.0;
            for (int f = 0; f < F; f++) { phi[x][y][f] = rng_normal(); g += wstar[f] * phi[x][y][f]; }
            gold[x][y] = y < NCOV ? g : g - UNCOV_PENALTY;   /* unseen responses are worse */
            bias[x][y] = y < NCOV ? 0.0 : -COV_GAP;
        }
    for (int i = 0; i < NPAIR; i++) {
        int x = (int)(rng_uniform() * NX);
        int a = (int)(rng_uniform() * NCOV);
        int b = (a + 1 + (int)(rng_uniform() * (NCOV - 1))) % NCOV;
        double pa = 1.0 / (1.0 + exp(-(gold[x][a] - gold[x][b])));
        int a_wins = rng_uniform() < pa;
        px[i] = x; pw[i] = a_wins ? a : b; pl[i] = a_wins ? b : a;
    }
}

/* log pi, pi and E_pi[phi] for every prompt at the current theta */
static void policy_all(void) {
    for (int x = 0; x < NX; x++) {
        double m = -1e300, s = 0.0;
        for (int y = 0; y < K; y++) {
            double l = bias[x][y];
            for (int f = 0; f < F; f++) l += theta[f] * phi[x][y][f];
            logp[x][y] = l;
            if (l > m) m = l;
        }
        for (int y = 0; y < K; y++) s += exp(logp[x][y] - m);
        double lse = m + log(s);
        for (int f = 0; f < F; f++) ephi[x][f] = 0.0;
        for (int y = 0; y < K; y++) {
            logp[x][y] -= lse;
            prob[x][y] = exp(logp[x][y]);
            for (int f = 0; f < F; f++) ephi[x][f] += prob[x][y] * phi[x][y][f];
        }
    }
}

/* log pi_ref(y|x) = bias - logsumexp(bias) */
static double logref(int x, int y) {
    double s = 0.0;
    for (int k = 0; k < K; k++) s += exp(bias[x][k]);
    return bias[x][y] - log(s);
}

static void gd_step(double eta) {
    policy_all();
    double g[F] = {0}, dpo = 0.0, sft = 0.0;
    for (int i = 0; i < NPAIR; i++) {
        int x = px[i], w = pw[i], l = pl[i];
        double h = BETA * ((logp[x][w] - logref(x, w)) - (logp[x][l] - logref(x, l)));
        double sig = 1.0 / (1.0 + exp(-h));
        dpo += -log(sig);
        sft += -logp[x][w];
        double cd = -(1.0 - sig) * BETA;           /* dL/dh * dh/d(logp_w - logp_l) */
        for (int f = 0; f < F; f++) {
            double gw = phi[x][w][f] - ephi[x][f], gl = phi[x][l][f] - ephi[x][f];
            g[f] += cd * (gw - gl) - eta * gw;
        }
    }
    for (int f = 0; f < F; f++) theta[f] -= LR * g[f] / NPAIR;
    st_dpo = dpo / NPAIR;
    st_sft = sft / NPAIR;
}

static void evaluate(void) {
    policy_all();
    double gv = 0.0, un = 0.0;
    for (int x = 0; x < NX; x++)
        for (int y = 0; y < K; y++) {
            gv += prob[x][y] * gold[x][y];
            if (y >= NCOV) un += prob[x][y];
        }
    st_gold = gv / NX;
    st_uncov = un / NX;
}

static void train(double eta, int steps, double *h_dpo, double *h_sft, double *h_gold, double *h_unc) {
    for (int f = 0; f < F; f++) theta[f] = 0.0;
    for (int s = 0; s < steps; s++) {
        gd_step(eta);
        if (h_dpo) {
            evaluate();
            h_dpo[s] = st_dpo; h_sft[s] = st_sft; h_gold[s] = st_gold; h_unc[s] = st_uncov;
        }
    }
}

/* ---- exported kernels ---- */

/* data (seed 1) + `steps` DPO steps; returns final gold value + uncovered mass */
__attribute__((export_name("kernel_dpo_train")))
double kernel_dpo_train(int steps) {
    make_data(1);
    train(0.0, steps, 0, 0, 0, 0);
    evaluate();
    return st_gold + st_uncov;
}

/* data (seed 1) + `steps` RPO steps; returns final gold value + uncovered mass */
__attribute__((export_name("kernel_rpo_train")))
double kernel_rpo_train(int steps) {
    make_data(1);
    train(ETA, steps, 0, 0, 0, 0);
    evaluate();
    return st_gold + st_uncov;
}

/* `reps` evaluations of the losses and gradient at theta = 0 (data seed 1);
 * returns the summed DPO + SFT losses */
__attribute__((export_name("kernel_loss_grad")))
double kernel_loss_grad(int reps) {
    make_data(1);
    double s = 0.0;
    for (int r = 0; r < reps; r++) {
        for (int f = 0; f < F; f++) theta[f] = 0.0;
        gd_step(ETA);
        s += st_dpo + st_sft;
    }
    return s;
}

/* ---- main ---- */
static double hd[2][MAXSTEPS], hs[2][MAXSTEPS], hg[2][MAXSTEPS], hu[2][MAXSTEPS];

static void print_strided(const char *key, const double *v, int steps, int stride) {
    printf("%s:", key);
    for (int k = stride - 1; k < steps; k += stride) printf(" %.10g", v[k]);
    printf("\n");
}
static void print_list(const char *key, const double *v, int n) {
    printf("%s:", key);
    for (int i = 0; i < n; i++) printf(" %.10g", v[i]);
    printf("\n");
}

int main(int argc, char **argv) {
    int steps = argc > 1 ? atoi(argv[1]) : 400;
    uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
    if (steps < 1) steps = 1;
    if (steps > MAXSTEPS) steps = MAXSTEPS;
    make_data(seed);
    static double th[2][F];
    double etas[2] = {0.0, ETA};
    for (int r = 0; r < 2; r++) {
        train(etas[r], steps, hd[r], hs[r], hg[r], hu[r]);
        for (int f = 0; f < F; f++) th[r][f] = theta[f];
    }
    /* gold-optimal value over covered responses, and over all responses */
    double best_cov = 0.0, best_all = 0.0;
    for (int x = 0; x < NX; x++) {
        double bc = -1e300, ba = -1e300;
        for (int y = 0; y < K; y++) {
            if (y < NCOV && gold[x][y] > bc) bc = gold[x][y];
            if (gold[x][y] > ba) ba = gold[x][y];
        }
        best_cov += bc; best_all += ba;
    }
    int stride = steps > 50 ? steps / 50 : 1;
    printf("steps: %d\nseed: %llu\n", steps, (unsigned long long)seed);
    printf("prompts: %d\nresponses: %d\ncovered: %d\npairs: %d\nbeta: %.10g\neta: %.10g\n",
           NX, K, NCOV, NPAIR, BETA, ETA);
    printf("report_stride: %d\n", stride);
    print_strided("dpo_loss_dpo", hd[0], steps, stride);
    print_strided("dpo_loss_rpo", hd[1], steps, stride);
    print_strided("sft_loss_dpo", hs[0], steps, stride);
    print_strided("sft_loss_rpo", hs[1], steps, stride);
    print_strided("gold_value_dpo", hg[0], steps, stride);
    print_strided("gold_value_rpo", hg[1], steps, stride);
    print_strided("uncovered_mass_dpo", hu[0], steps, stride);
    print_strided("uncovered_mass_rpo", hu[1], steps, stride);
    print_list("theta_dpo", th[0], F);
    print_list("theta_rpo", th[1], F);
    printf("best_gold_covered: %.10g\nbest_gold_all: %.10g\n", best_cov / NX, best_all / NX);
    return 0;
}
