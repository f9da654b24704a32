/* deoxys: kernel of "Deoxys: causal inference for unhealthy node mitigation".
 *
 * A cloud fleet logs events on unhealthy nodes: node signals x (p = 6),
 * the mitigation action the operators' rule applied, T in {0 = wait / soft
 * mitigation, 1 = live-migrate + reboot}, and the customer impact Y
 * (VM downtime minutes in the following window). The logging policy is
 * confounded (nodes with hardware errors are rebooted more often and also
 * suffer more downtime), so the naive treated-vs-untreated difference is
 * biased. Deoxys estimates the causal effect of the action with double
 * machine learning and an honest causal forest and uses the forest's
 * uncertainty to fall back to the default (rule-based) policy.
 *
 *  1. data: x ~ N(0, I_6); e(x) = sigmoid(-0.2 + x0 + 0.3 x2 - 0.5 x4);
 *     T = [u < e(x)]; tau(x) = -0.4 - 0.8 [x0 > 0] + 0.9 x1;
 *     b(x) = 3 + 0.8 x0 + 0.5 x2^2 + 0.4 sin(2 x3) - 0.3 x4;
 *     Y = b(x) + tau(x) T + eps, eps ~ N(0, 1).
 *  2. DML, K = 2 folds (fold = i mod 2), cross-fitted nuisances:
 *     propensity: logistic regression on [1, x] (NEWTON Newton steps from 0);
 *     outcome m(x) = E[Y|x]: ridge (lambda = 1) on [1, x, x^2].
 *     Residuals Yr = Y - m^(x), Tr = T - e^(x); partially linear model
 *     theta = sum Tr Yr / sum Tr^2, se from the score (Yr - theta Tr) Tr.
 *  3. honest causal forest on (x, Tr, Yr): each of NTREES trees draws a
 *     half-sample (partial Fisher-Yates), splits it into a splitting half J1
 *     and an estimation half J2; splits are chosen on J1 only (MTRY random
 *     features x NC random thresholds in [min, max] of the node, gain = drop
 *     of the R-loss sum (Yr - tau Tr)^2 with a constant tau per child), each
 *     child must keep >= MINLEAF samples of J1 and of J2; leaf values use J2
 *     only: tau_leaf = sum Tr Yr / sum Tr^2. Forest CATE = mean of the trees,
 *     uncertainty sd = standard deviation over the trees.
 *  4. policy: act on the forest (reboot iff tau^ < 0) when the sign is
 *     certain, |tau^| >= Z sd / sqrt(NTREES), Z = 2; otherwise fall back to the default rule
 *     (reboot iff x0 > 0). Regrets use the planted tau.
 *
 * argv[1] = number of node events n (default 15000), argv[2] = seed (42).
 * Streams: data rng_seed(seed); test nodes rng_seed(seed*1000003 + 1);
 * tree b rng_seed(seed*1000003 + 1000 + b).
 */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <math.h>

#define P 6
#define NPROP (P + 1)           /* logistic features [1, x] */
#define NOUT (2 * P + 1)        /* ridge features [1, x, x^2] */
#define NMAX 40000
#define NMIN 200
#define KFOLD 2
#define NEWTON 10
#define RIDGE 1.0
#define NTREES 100
#define MTRY 3
#define NC 8
#define MINLEAF 10
#define MAXDEPTH 12
#define NODES_PER_TREE (NMAX / MINLEAF + 8)
#define MAXNODES (NTREES * NODES_PER_TREE)
#define MTEST 64
#define ZFALL 2.0
#define EXPORT(n) __attribute__((export_name(n)))

static uint64_t rng_s;
static void rng_seed(uint64_t s) { rng_s = s; }
static uint64_t rng_next(void) {
    uint64_t z = (rng_s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
static double rng_uniform(void) { return (double)(rng_next() >> 11) * 0x1.0p-53; }  /* [0,1) */
static double rng_normal(void) {                 /* Box-Muller, 2 uniforms per call, no cache */
    double u1 = rng_uniform(), u2 = rng_uniform();
    return sqrt(-2.0 * log(1.0 - u1)) * cos(6.283185307179586 * u2);
}

/* ------------------------------------------------------------------ state */
static int N;
static uint64_t gseed;
static double X[NMAX][P], T[NMAX], Y[NMAX], tau_true[NMAX], e_true[NMAX];
static double ehat[NMAX], mhat[NMAX], Tr[NMAX], Yr[NMAX];
static double beta_prop[KFOLD][NPROP], beta_out[KFOLD][NOUT];
static double theta, theta_se;
/* forest: nodes of all trees; feat < 0 marks a leaf */
static int nfeat[MAXNODES], nleft[MAXNODES], nright[MAXNODES];
static double nthr[MAXNODES], nval[MAXNODES];
static int root[NTREES], nnodes, ntrees, nleaves;
static int sub[NMAX], a1[NMAX], a2[NMAX];
/* test nodes */
static double XT[MTEST][P], cate[MTEST], cate_sd[MTEST];

static double sigm(double z) { return 1.0 / (1.0 + exp(-z)); }
static double tau_fn(const double *x) { return -0.4 - 0.8 * (x[0] > 0) + 0.9 * x[1]; }
static double prop_fn(const double *x) { return sigm(-0.2 + x[0] + 0.3 * x[2] - 0.5 * x[4]); }
static double base_fn(const double *x) {
    return 3.0 + 0.8 * x[0] + 0.5 * x[2] * x[2] + 0.4 * sin(2.0 * x[3]) - 0.3 * x[4];
}

/* 1. synthetic node events; per event 2P uniforms for x, 1 for T, 2 for eps */
static void gen_data(int n, long long seed) {
    if (n < NMIN) n = NMIN;
    if (n > NMAX) n = NMAX;
    N = n; gseed = (uint64_t)seed;
    rng_seed(gseed);
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < P; j++) X[i][j] = rng_normal();
        e_true[i] = prop_fn(X[i]);
        tau_true[i] = tau_fn(X[i]);
        T[i] = rng_uniform() < e_true[i] ? 1.0 : 0.0;
        double eps = rng_normal();
        Y[i] = base_fn(X[i]) + tau_true[i] * T[i] + eps;
    }
    rng_seed(gseed * 1000003ULL + 1);
    for (int k = 0; k < MTEST; k++)
        for (int j = 0; j < P; j++) XT[k][j] = rng_normal();
}

/* Cholesky solve of the SPD system A z = b (n <= NOUT), A overwritten */
static void chol_solve(double A[NOUT][NOUT], double *b, int n, double *z) {
    for (int j = 0; j < n; j++) {
        double d = A[j][j];
        for (int k = 0; k < j; k++) d -= A[j][k] * A[j][k];
        d = sqrt(d);
        A[j][j] = d;
        for (int i = j + 1; i < n; i++) {
            double s = A[i][j];
            for (int k = 0; k < j; k++) s -= A[i][k] * A[j][k];
            A[i][j] = s / d;
        }
    }
    double w[NOUT];
    for (int i = 0; i < n; i++) { double s = b[i]; for (int k = 0; k < i; k++) s -= A[i][k] * w[k]; w[i] = s / A[i][i]; }
    for (int i = n - 1; i >= 0; i--) { double s = w[i]; for (int k = i + 1; k < n; k++) s -= A[k][i] * z[k]; z[i] = s / A[i][i]; }
}

static void feat_prop(const double *x, double *f) { f[0] = 1; for (int j = 0; j < P; j++) f[1 + j] = x[j]; }
static void feat_out(const double *x, double *f) {
    f[0] = 1;
    for (int j = 0; j < P; j++) { f[1 + j] = x[j]; f[1 + P + j] = x[j] * x[j]; }
}

/* 2. cross-fitted nuisances and the DML (partially linear) estimate */
static double crossfit(void) {
    for (int k = 0; k < KFOLD; k++) {
        /* propensity: Newton on the logistic log-likelihood, training folds != k */
        double *b = beta_prop[k], f[NOUT];
        for (int j = 0; j < NPROP; j++) b[j] = 0;
        for (int it = 0; it < NEWTON; it++) {
            double H[NOUT][NOUT] = { { 0 } }, g[NOUT] = { 0 }, step[NOUT];
            for (int i = 0; i < N; i++) {
                if (i % KFOLD == k) continue;
                feat_prop(X[i], f);
                double z = 0;
                for (int j = 0; j < NPROP; j++) z += b[j] * f[j];
                double p = sigm(z), w = p * (1 - p);
                for (int j = 0; j < NPROP; j++) {
                    g[j] += (T[i] - p) * f[j];
                    for (int l = 0; l <= j; l++) H[j][l] += w * f[j] * f[l];
                }
            }
            for (int j = 0; j < NPROP; j++) for (int l = j + 1; l < NPROP; l++) H[j][l] = H[l][j];
            chol_solve(H, g, NPROP, step);
            for (int j = 0; j < NPROP; j++) b[j] += step[j];
        }
        /* outcome: ridge on [1, x, x^2], intercept unpenalised */
        double A[NOUT][NOUT] = { { 0 } }, r[NOUT] = { 0 };
        for (int i = 0; i < N; i++) {
            if (i % KFOLD == k) continue;
            feat_out(X[i], f);
            for (int j = 0; j < NOUT; j++) {
                r[j] += Y[i] * f[j];
                for (int l = 0; l <= j; l++) A[j][l] += f[j] * f[l];
            }
        }
        for (int j = 0; j < NOUT; j++) for (int l = j + 1; l < NOUT; l++) A[j][l] = A[l][j];
        for (int j = 1; j < NOUT; j++) A[j][j] += RIDGE;
        chol_solve(A, r, NOUT, beta_out[k]);
    }
    double sty = 0, stt = 0;
    for (int i = 0; i < N; i++) {
        int k = i % KFOLD;
        double f[NOUT], z = 0, m = 0;
        feat_prop(X[i], f);
        for (int j = 0; j < NPROP; j++) z += beta_prop[k][j] * f[j];
        feat_out(X[i], f);
        for (int j = 0; j < NOUT; j++) m += beta_out[k][j] * f[j];
        ehat[i] = sigm(z); mhat[i] = m;
        Tr[i] = T[i] - ehat[i]; Yr[i] = Y[i] - mhat[i];
        sty += Tr[i] * Yr[i]; stt += Tr[i] * Tr[i];
    }
    theta = sty / stt;
    double s2 = 0;
    for (int i = 0; i < N; i++) { double psi = (Yr[i] - theta * Tr[i]) * Tr[i]; s2 += psi * psi; }
    double J = stt / N;
    theta_se = sqrt(s2 / N) / J / sqrt((double)N);
    return theta;
}

/* 3. honest causal forest */
static int new_leaf(int lo2, int hi2) {
    double sty = 0, stt = 0;
    for (int q = lo2; q < hi2; q++) { int i = a2[q]; sty += Tr[i] * Yr[i]; stt += Tr[i] * Tr[i]; }
    int id = nnodes++;
    nfeat[id] = -1; nleft[id] = nright[id] = -1; nthr[id] = 0;
    nval[id] = stt > 0 ? sty / stt : 0.0;
    nleaves++;
    return id;
}

/* grow the subtree of J1 samples a1[lo1..hi1) and J2 samples a2[lo2..hi2) */
static int grow(int lo1, int hi1, int lo2, int hi2, int depth) {
    int n1 = hi1 - lo1, n2 = hi2 - lo2;
    if (depth >= MAXDEPTH || n1 < 2 * MINLEAF || n2 < 2 * MINLEAF || nnodes + 2 > MAXNODES)
        return new_leaf(lo2, hi2);
    int fs[P];
    for (int j = 0; j < P; j++) fs[j] = j;
    for (int k = 0; k < MTRY; k++) {
        int j = k + (int)(rng_uniform() * (P - k));
        if (j >= P) j = P - 1;
        int t = fs[k]; fs[k] = fs[j]; fs[j] = t;
    }
    double sty = 0, stt = 0;
    for (int q = lo1; q < hi1; q++) { int i = a1[q]; sty += Tr[i] * Yr[i]; stt += Tr[i] * Tr[i]; }
    double parent = stt > 0 ? sty * sty / stt : 0.0;
    double best = -INFINITY, bthr = 0;
    int bf = -1;
    for (int k = 0; k < MTRY; k++) {
        int f = fs[k];
        double lo = X[a1[lo1]][f], hi = lo;
        for (int q = lo1 + 1; q < hi1; q++) { double v = X[a1[q]][f]; if (v < lo) lo = v; if (v > hi) hi = v; }
        for (int c = 0; c < NC; c++) {
            double thr = lo + rng_uniform() * (hi - lo);
            double syl = 0, stl = 0;
            int nl1 = 0, nl2 = 0;
            for (int q = lo1; q < hi1; q++) {
                int i = a1[q];
                if (X[i][f] < thr) { nl1++; syl += Tr[i] * Yr[i]; stl += Tr[i] * Tr[i]; }
            }
            for (int q = lo2; q < hi2; q++) nl2 += X[a2[q]][f] < thr;
            if (nl1 < MINLEAF || n1 - nl1 < MINLEAF || nl2 < MINLEAF || n2 - nl2 < MINLEAF) continue;
            double syr = sty - syl, str = stt - stl;
            if (!(stl > 0) || !(str > 0)) continue;
            double gain = syl * syl / stl + syr * syr / str - parent;
            if (gain > best) { best = gain; bf = f; bthr = thr; }
        }
    }
    if (bf < 0) return new_leaf(lo2, hi2);
    /* partition both halves in place: left part first */
    int m1 = lo1, m2 = lo2;
    for (int q = lo1; q < hi1; q++) if (X[a1[q]][bf] < bthr) { int t = a1[q]; a1[q] = a1[m1]; a1[m1] = t; m1++; }
    for (int q = lo2; q < hi2; q++) if (X[a2[q]][bf] < bthr) { int t = a2[q]; a2[q] = a2[m2]; a2[m2] = t; m2++; }
    int id = nnodes++;
    nfeat[id] = bf; nthr[id] = bthr; nval[id] = 0;
    nleft[id] = grow(lo1, m1, lo2, m2, depth + 1);
    nright[id] = grow(m1, hi1, m2, hi2, depth + 1);
    return id;
}

static double grow_forest(int B) {
    if (B < 1) B = 1;
    if (B > NTREES) B = NTREES;
    nnodes = 0; nleaves = 0; ntrees = B;
    int s = N / 2, s1 = s / 2, s2 = s - s1;
    for (int b = 0; b < B; b++) {
        rng_seed(gseed * 1000003ULL + 1000 + (uint64_t)b);
        for (int i = 0; i < N; i++) sub[i] = i;
        for (int i = 0; i < s; i++) {            /* partial Fisher-Yates: half-sample */
            int j = i + (int)(rng_uniform() * (N - i));
            if (j >= N) j = N - 1;
            int t = sub[i]; sub[i] = sub[j]; sub[j] = t;
        }
        for (int i = 0; i < s1; i++) a1[i] = sub[i];
        for (int i = 0; i < s2; i++) a2[i] = sub[s1 + i];
        root[b] = grow(0, s1, 0, s2, 0);
    }
    double chk = 0;
    for (int i = 0; i < nnodes; i++) if (nfeat[i] < 0) chk += nval[i];
    return chk;
}

static double tree_predict(int b, const double *x) {
    int id = root[b];
    while (nfeat[id] >= 0) id = x[nfeat[id]] < nthr[id] ? nleft[id] : nright[id];
    return nval[id];
}

static void forest_predict(const double *x, double *mean, double *sd) {
    double tv[NTREES], m = 0, v = 0;
    for (int b = 0; b < ntrees; b++) { tv[b] = tree_predict(b, x); m += tv[b]; }
    m /= ntrees;
    for (int b = 0; b < ntrees; b++) v += (tv[b] - m) * (tv[b] - m);
    *mean = m;
    *sd = ntrees > 1 ? sqrt(v / (ntrees - 1)) : 0.0;
}

/* 4. uncertainty-based policy with fallback to the default rule */
static int default_action(const double *x) { return x[0] > 0; }
static int forest_action(double c) { return c < 0; }
/* fall back when the interval tau^ +- z sd / sqrt(B) contains 0 */
static int fallback(double c, double sd, double z) { return fabs(c) < z * sd / sqrt((double)ntrees); }

/* --------------------------------------------------------------- kernels */
/* Exported kernels: pure functions of their arguments; each regenerates the
 * data (seed KERNEL_SEED) and recomputes every stage it needs. */
#define KERNEL_SEED 42
#define KERNEL_N 2000
#define KERNEL_TREES 20

/* data of n events + cross-fitted nuisances; returns the DML theta */
EXPORT("kernel_dml")
double kernel_dml(int n) {
    gen_data(n, KERNEL_SEED);
    return crossfit();
}

/* KERNEL_N events, DML residuals, honest forest of B trees; sum of leaf values */
EXPORT("kernel_forest")
double kernel_forest(int B) {
    gen_data(KERNEL_N, KERNEL_SEED);
    crossfit();
    return grow_forest(B);
}

/* KERNEL_N events, forest of KERNEL_TREES trees, CATE + sd at the first m
 * training events; returns sum of CATE + sum of sd */
EXPORT("kernel_predict")
double kernel_predict(int m) {
    gen_data(KERNEL_N, KERNEL_SEED);
    crossfit();
    grow_forest(KERNEL_TREES);
    if (m < 0) m = 0;
    if (m > N) m = N;
    double s = 0, c, sd;
    for (int i = 0; i < m; i++) { forest_predict(X[i], &c, &sd); s += c + sd; }
    return s;
}

/* KERNEL_N events, forest of KERNEL_TREES trees, policy with fallback
 * threshold z over all training events; returns the fallback fraction */
EXPORT("kernel_policy")
double kernel_policy(double z) {
    gen_data(KERNEL_N, KERNEL_SEED);
    crossfit();
    grow_forest(KERNEL_TREES);
    int fb = 0;
    double c, sd;
    for (int i = 0; i < N; i++) { forest_predict(X[i], &c, &sd); fb += fallback(c, sd, z); }
    return (double)fb / N;
}

/* ------------------------------------------------------------------ main */
static void print_vec(const char *key, const double *v, int n) {
    printf("%s:", key);
    for (int i = 0; i < n; i++) printf(" %.10g", v[i]);
    printf("\n");
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 15000;
    long long seed = argc > 2 ? atoll(argv[2]) : 42;
    gen_data(n, seed);
    printf("events: %d\nfeatures: %d\nfolds: %d\ntrees: %d\nmtry: %d\nthresholds: %d\n"
           "min_leaf: %d\nmax_depth: %d\nfallback_z: %.10g\nseed: %lld\n",
           N, P, KFOLD, NTREES, MTRY, NC, MINLEAF, MAXDEPTH, ZFALL, seed);
    double nt = 0, y1 = 0, y0 = 0, wsum = 0, wt = 0, ate = 0;
    for (int i = 0; i < N; i++) {
        nt += T[i];
        if (T[i] > 0) y1 += Y[i]; else y0 += Y[i];
        double w = e_true[i] * (1 - e_true[i]);
        wsum += w; wt += w * tau_true[i]; ate += tau_true[i];
    }
    printf("treated_fraction: %.10g\n", nt / N);
    printf("naive_difference: %.10g\n", y1 / nt - y0 / (N - nt));
    printf("true_ate: %.10g\n", ate / N);
    printf("true_overlap_effect: %.10g\n", wt / wsum);

    crossfit();
    for (int k = 0; k < KFOLD; k++) {
        char key[32];
        snprintf(key, sizeof key, "propensity_coef_fold%d", k); print_vec(key, beta_prop[k], NPROP);
        snprintf(key, sizeof key, "outcome_coef_fold%d", k); print_vec(key, beta_out[k], NOUT);
    }
    double ll = 0, r2n = 0, r2d = 0, ym = 0;
    for (int i = 0; i < N; i++) ym += Y[i];
    ym /= N;
    for (int i = 0; i < N; i++) {
        ll -= T[i] > 0 ? log(ehat[i]) : log(1 - ehat[i]);
        r2n += Yr[i] * Yr[i]; r2d += (Y[i] - ym) * (Y[i] - ym);
    }
    printf("propensity_logloss: %.10g\noutcome_r2: %.10g\n", ll / N, 1 - r2n / r2d);
    printf("dml_theta: %.10g\ndml_se: %.10g\n", theta, theta_se);

    double chk = grow_forest(NTREES);
    printf("forest_nodes: %d\nforest_leaves: %d\nforest_leaf_sum: %.10g\n", nnodes, nleaves, chk);

    /* in-sample (honest) CATE accuracy and policy regrets over the events */
    double se = 0, cm = 0, sdm = 0, sd_fb = 0, sd_act = 0;
    int nfb = 0, wrong_fb = 0, wrong_act = 0;
    double reg_pol = 0, reg_nofb = 0, reg_def = 0, reg_all = 0, reg_none = 0;
    for (int i = 0; i < N; i++) {
        double c, sd;
        forest_predict(X[i], &c, &sd);
        double t = tau_true[i], best = t < 0 ? t : 0;
        se += (c - t) * (c - t); cm += c; sdm += sd;
        int fa = forest_action(c), da = default_action(X[i]), fb = fallback(c, sd, ZFALL);
        int wrong = fa != (t < 0);
        if (fb) { nfb++; sd_fb += sd; wrong_fb += wrong; } else { sd_act += sd; wrong_act += wrong; }
        int act = fb ? da : fa;
        reg_pol += t * act - best; reg_nofb += t * fa - best; reg_def += t * da - best;
        reg_all += t - best; reg_none += -best;
    }
    printf("cate_rmse: %.10g\ncate_mean: %.10g\ncate_sd_mean: %.10g\n", sqrt(se / N), cm / N, sdm / N);
    printf("fallback_count: %d\nfallback_fraction: %.10g\n", nfb, (double)nfb / N);
    printf("sd_mean_fallback: %.10g\nsd_mean_acted: %.10g\n",
           nfb ? sd_fb / nfb : 0.0, nfb < N ? sd_act / (N - nfb) : 0.0);
    printf("sign_errors_fallback: %d\nsign_errors_acted: %d\n", wrong_fb, wrong_act);
    printf("regret_policy: %.10g\nregret_forest_only: %.10g\nregret_default: %.10g\n"
           "regret_always_reboot: %.10g\nregret_never_reboot: %.10g\n",
           reg_pol / N, reg_nofb / N, reg_def / N, reg_all / N, reg_none / N);

    /* held-out test nodes */
    double tt[MTEST], fbt[MTEST];
    for (int k = 0; k < MTEST; k++) {
        forest_predict(XT[k], &cate[k], &cate_sd[k]);
        tt[k] = tau_fn(XT[k]);
        fbt[k] = fallback(cate[k], cate_sd[k], ZFALL);
    }
    print_vec("test_cate", cate, MTEST);
    print_vec("test_cate_sd", cate_sd, MTEST);
    print_vec("test_tau_true", tt, MTEST);
    printf("test_fallback:");
    for (int k = 0; k < MTEST; k++) printf(" %d", (int)fbt[k]);
    printf("\n");
    return 0;
}
