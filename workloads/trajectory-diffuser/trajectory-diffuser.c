/*
 * trajectory-diffuser -- DDPM reverse diffusion refining trajectories proposed by an
 * autoregressive model, with cost guidance (diffusion as a trajectory optimiser).
 *
 * Kernel of: "Diffusion Models as Optimizers for Efficient Planning in Offline RL" (DiffuserLite-
 * style refinement of autoregressive proposals).
 *
 * Planning problem: 2-D point, start s in [0, .2]^2, goal g in [.8, 1]^2, H = 16 segments; the
 * interior waypoints p_1..p_15 are the variables, an obstacle (centre O, radius R) sits between.
 * Work in deviations from the straight line: x = (p_i - line_i), 30 numbers (x coords then y).
 *
 * 1. Autoregressive proposal: p_i = p_{i-1} + (g - p_{i-1})/(H - i + 1) + AR_NOISE * n_i.
 * 2. Forward-noise the proposal to level KSTART of the T-step DDPM (SDEdit):
 *    x_K = sqrt(abar_K) x_0 + sqrt(1 - abar_K) z.
 * 3. Reverse K steps with the denoiser eps(x, t) = A_t x + MLP(x, t/T):
 *    A_t x is the exact noise prediction for a Brownian-bridge trajectory prior
 *    (covariance SIGB^2 K, K_ij = min(i,j) - ij/H), applied in its sine eigenbasis;
 *    MLP = a small fixed 31-32-30 tanh network (weights from stream 12345) standing in for the
 *    learned residual. Step: mu = (x - beta_t/sqrt(1-abar_t) eps)/sqrt(alpha_t)
 *    - GUIDE beta_t grad cost(x);  x <- mu + sqrt(beta_t) z  (no noise at the last step).
 *    cost = sum_i exp(-|p_i - O|^2 / (2 R^2)) (obstacle proximity).
 * Stream per problem (seed*1000003 + 1, consumed in order): 4 uniforms (s, g), 15 x 2 AR
 * normals, 30 forward normals, (K - 1) x 30 reverse normals (Box-Muller, 2 uniforms each).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>

#define H 16
#define NI (H - 1)             /* interior waypoints */
#define DIM (2 * NI)
#define T 50
#define KSTART 30
#define HID 32
static const double SIGB = 0.1, AR_NOISE = 0.03, OX = 0.5, OY = 0.5, RAD = 0.15, GUIDE = 1.0;
static const double BETA_MIN = 1e-4, BETA_MAX = 0.05, MLP_SCALE = 0.1;

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

static double beta[T + 1], alpha[T + 1], abar[T + 1];
static double A[T + 1][NI][NI];        /* per-coordinate noise-prediction matrices */
static double W1[HID][DIM + 1], W2[DIM][HID];
static int ready;

static void setup(void) {
    double ab = 1.0;
    for (int t = 1; t <= T; t++) {
        beta[t] = BETA_MIN + (BETA_MAX - BETA_MIN) * (t - 1) / (T - 1);
        alpha[t] = 1.0 - beta[t];
        ab *= alpha[t];
        abar[t] = ab;
    }
    /* Brownian-bridge covariance eigenpairs: sine basis, lambda_k = 1/(4 sin^2(pi k / 2H)) */
    static double U[NI][NI], lam[NI];
    for (int k = 0; k < NI; k++) {
        double s = sin(M_PI * (k + 1) / (2.0 * H));
        lam[k] = SIGB * SIGB / (4.0 * s * s);
        for (int i = 0; i < NI; i++) U[i][k] = sqrt(2.0 / H) * sin(M_PI * (i + 1) * (k + 1) / H);
    }
    for (int t = 1; t <= T; t++)
        for (int i = 0; i < NI; i++)
            for (int j = 0; j < NI; j++) {
                double s = 0.0;
                for (int k = 0; k < NI; k++)
                    s += U[i][k] * U[j][k] / (abar[t] * lam[k] + 1.0 - abar[t]);
                A[t][i][j] = sqrt(1.0 - abar[t]) * s;
            }
    rng_seed(12345);
    for (int h = 0; h < HID; h++)
        for (int d = 0; d <= DIM; d++) W1[h][d] = rng_normal() * 3.0 / sqrt(DIM + 1.0);
    for (int d = 0; d < DIM; d++)
        for (int h = 0; h < HID; h++) W2[d][h] = rng_normal() * MLP_SCALE / sqrt((double)HID);
    ready = 1;
}

static void denoiser(const double *x, int t, double *eps) {
    double hdn[HID];
    for (int h = 0; h < HID; h++) {
        double s = W1[h][DIM] * ((double)t / T);
        for (int d = 0; d < DIM; d++) s += W1[h][d] * x[d];
        hdn[h] = tanh(s);
    }
    for (int c = 0; c < 2; c++)
        for (int i = 0; i < NI; i++) {
            double s = 0.0;
            for (int j = 0; j < NI; j++) s += A[t][i][j] * x[c * NI + j];
            for (int h = 0; h < HID; h++) s += W2[c * NI + i][h] * hdn[h];
            eps[c * NI + i] = s;
        }
}

static double sx, sy, gx, gy;           /* current problem */

static void point(const double *x, int i, double *px, double *py) {
    double f = (double)(i + 1) / H;
    *px = sx + (gx - sx) * f + x[i];
    *py = sy + (gy - sy) * f + x[NI + i];
}

static double cost(const double *x, double *grad) {
    double c = 0.0;
    for (int i = 0; i < NI; i++) {
        double px, py;
        point(x, i, &px, &py);
        double dx = px - OX, dy = py - OY, e = exp(-(dx * dx + dy * dy) / (2.0 * RAD * RAD));
        c += e;
        if (grad) { grad[i] = -e * dx / (RAD * RAD); grad[NI + i] = -e * dy / (RAD * RAD); }
    }
    return c;
}

static double smoothness(const double *x) {     /* sum of squared second differences of p */
    double s = 0.0;
    for (int c = 0; c < 2; c++)
        for (int i = -1; i < NI; i++) {
            /* points i, i+1, i+2 in 0..H with 0 and H the fixed endpoints; deviations there are 0 */
            double a = i >= 0 ? x[c * NI + i] : 0.0;
            double b = i + 1 < NI ? x[c * NI + i + 1] : 0.0;
            double d = i + 2 < NI ? x[c * NI + i + 2] : 0.0;
            if (i + 1 >= NI) continue;
            s += (a - 2.0 * b + d) * (a - 2.0 * b + d);
        }
    return s;
}

static double min_clearance(const double *x) {
    double m = 1e300;
    for (int i = 0; i < NI; i++) {
        double px, py;
        point(x, i, &px, &py);
        double d = sqrt((px - OX) * (px - OX) + (py - OY) * (py - OY)) - RAD;
        if (d < m) m = d;
    }
    return m;
}

/* one planning problem from the current stream; x0 = proposal, x = refined */
static void plan(double *x0, double *x) {
    sx = 0.2 * rng_uniform(); sy = 0.2 * rng_uniform();
    gx = 0.8 + 0.2 * rng_uniform(); gy = 0.8 + 0.2 * rng_uniform();
    double px = sx, py = sy;
    for (int i = 1; i <= NI; i++) {
        double nx = rng_normal(), ny = rng_normal();
        px += (gx - px) / (H - i + 1) + AR_NOISE * nx;
        py += (gy - py) / (H - i + 1) + AR_NOISE * ny;
        double f = (double)i / H;
        x0[i - 1] = px - (sx + (gx - sx) * f);
        x0[NI + i - 1] = py - (sy + (gy - sy) * f);
    }
    double sa = sqrt(abar[KSTART]), sb = sqrt(1.0 - abar[KSTART]);
    for (int d = 0; d < DIM; d++) x[d] = sa * x0[d] + sb * rng_normal();
    double eps[DIM], grad[DIM];
    for (int t = KSTART; t >= 1; t--) {
        denoiser(x, t, eps);
        cost(x, grad);
        double c1 = 1.0 / sqrt(alpha[t]), c2 = beta[t] / sqrt(1.0 - abar[t]);
        for (int d = 0; d < DIM; d++) x[d] = c1 * (x[d] - c2 * eps[d]) - GUIDE * beta[t] * grad[d];
        if (t > 1) {
            double sd = sqrt(beta[t]);
            for (int d = 0; d < DIM; d++) x[d] += sd * rng_normal();
        }
    }
}

/* ---- exported kernels ---- */

/* `n` planning problems (stream 1); returns the summed cost of the refined trajectories */
__attribute__((export_name("kernel_plan")))
double kernel_plan(int n) {
    if (!ready) setup();
    rng_seed(1000004ULL);
    double x0[DIM], x[DIM], s = 0.0;
    for (int i = 0; i < n; i++) { plan(x0, x); s += cost(x, 0); }
    return s;
}

/* `reps` denoiser evaluations on a fixed input at t = 1 + rep % T; returns the summed output */
__attribute__((export_name("kernel_denoiser")))
double kernel_denoiser(int reps) {
    if (!ready) setup();
    double x[DIM], eps[DIM], s = 0.0;
    for (int d = 0; d < DIM; d++) x[d] = 0.01 * (d - DIM / 2);
    for (int r = 0; r < reps; r++) {
        denoiser(x, 1 + r % T, eps);
        for (int d = 0; d < DIM; d++) s += eps[d];
    }
    return s;
}

/* rebuilds the schedule, the prior matrices and the MLP `reps` times; returns trace(A_T) */
__attribute__((export_name("kernel_setup")))
double kernel_setup(int reps) {
    for (int r = 0; r < reps; r++) setup();
    double s = 0.0;
    for (int i = 0; i < NI; i++) s += A[T][i][i];
    return s;
}

/* ---- main ---- */
static void print_list(const char *key, const double *v, int n) {
    printf("%s:", key);
    for (int i = 0; i < n; i++) printf(" %.10g", v[i]);
    printf("\n");
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 1500;
    uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
    if (n < 1) n = 1;
    setup();
    rng_seed(seed * 1000003ULL + 1);
    double x0[DIM], x[DIM], first0[DIM], first[DIM];
    double c0 = 0, c1 = 0, s0 = 0, s1 = 0, m0 = 0, m1 = 0;
    int free0 = 0, free1 = 0;
    for (int p = 0; p < n; p++) {
        plan(x0, x);
        if (p == 0) for (int d = 0; d < DIM; d++) { first0[d] = x0[d]; first[d] = x[d]; }
        c0 += cost(x0, 0); c1 += cost(x, 0);
        s0 += smoothness(x0); s1 += smoothness(x);
        double a = min_clearance(x0), b = min_clearance(x);
        m0 += a; m1 += b;
        free0 += a > 0.0; free1 += b > 0.0;
    }
    printf("problems: %d\nseed: %llu\n", n, (unsigned long long)seed);
    printf("horizon: %d\ndiffusion_steps: %d\nstart_level: %d\n", H, T, KSTART);
    printf("alpha_bar_start: %.10g\n", abar[KSTART]);
    printf("mean_cost: %.10g %.10g\n", c0 / n, c1 / n);
    printf("mean_smoothness: %.10g %.10g\n", s0 / n, s1 / n);
    printf("mean_clearance: %.10g %.10g\n", m0 / n, m1 / n);
    printf("collision_free: %.10g %.10g\n", (double)free0 / n, (double)free1 / n);
    print_list("first_proposal", first0, DIM);
    print_list("first_refined", first, DIM);
    return 0;
}
