/*
 * neural-collapse -- NC1 under gradient flow of an unconstrained-features model whose features
 * are held near a fixed feature matrix.
 *
 * Kernel of: "Perturbation Analysis of Neural Collapse".
 *
 * C classes, NPC samples each, features h in R^D (matrix Hm, D x N, column j of class j/NPC),
 * linear classifier W (C x D), one-hot targets Y. Regularised squared loss with features pulled
 * towards a fixed matrix H0 (the "perturbation" strength BETA):
 *   L = 1/(2N) |W Hm - Y|^2 + LW/2 |W|^2 + 1/(2N) (LH |Hm|^2 + BETA |Hm - H0|^2)
 * Gradient flow (Euler, time step DT, features on the per-sample time scale):
 *   W  <- W  - DT (R Hm^T / N + LW W),      R = W Hm - Y
 *   Hm <- Hm - DT (W^T R + LH Hm + BETA (Hm - H0))
 * NC1 = tr(Sigma_W Sigma_B^+) / C, with Sigma_W/Sigma_B the within-/between-class covariances
 * and the pseudo-inverse from a cyclic Jacobi eigen-decomposition (eigenvalues below
 * 1e-10 * max dropped). BETA = 0 collapses (NC1 -> 0); BETA > 0 leaves NC1 at a level set by
 * the perturbation -- the paper's object of study.
 * H0 = class means (D x C normals) + 0.5 * normals per sample; W0 = 0.1 * normals.
 * Stream seed*1000003 + 1: means (D x C, row-major), then noise (D x N, row-major), then W0.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>

#define D 16
#define C 4
#define NPC 16
#define N (C * NPC)
#define NB 3                 /* number of BETA values */
#define MAXREP 201
static const double LW = 5e-3, LH = 5e-3, DT = 0.1, NOISE = 0.5;
static const double BETAS[NB] = {0.0, 0.02, 0.1};

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

static double H0[D][N], W0[C][D], Hm[D][N], W[C][D], R[C][N];
static double SW[D][D], SB[D][D], Vv[D][D], Aj[D][D], ev[D], mu[D][C], mg[D];

static void init_problem(uint64_t seed) {
    double means[D][C];
    rng_seed(seed * 1000003ULL + 1);
    for (int d = 0; d < D; d++) for (int c = 0; c < C; c++) means[d][c] = rng_normal();
    for (int d = 0; d < D; d++)
        for (int j = 0; j < N; j++) H0[d][j] = means[d][j / NPC] + NOISE * rng_normal();
    for (int c = 0; c < C; c++) for (int d = 0; d < D; d++) W0[c][d] = 0.1 * rng_normal();
}

/* cyclic Jacobi: Aj (symmetric, destroyed) -> eigenvalues ev, eigenvectors columns of Vv */
static int jacobi(void) {
    for (int i = 0; i < D; i++) for (int j = 0; j < D; j++) Vv[i][j] = i == j;
    int sweeps = 0;
    for (; sweeps < 60; sweeps++) {
        double off = 0.0, tot = 0.0;
        for (int i = 0; i < D; i++)
            for (int j = 0; j < D; j++) { tot += Aj[i][j] * Aj[i][j]; if (i != j) off += Aj[i][j] * Aj[i][j]; }
        if (off <= 1e-30 * tot || off == 0.0) break;
        for (int p = 0; p < D - 1; p++)
            for (int q = p + 1; q < D; q++) {
                if (Aj[p][q] == 0.0) continue;
                double theta = (Aj[q][q] - Aj[p][p]) / (2.0 * Aj[p][q]);
                double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1.0));
                double c = 1.0 / sqrt(t * t + 1.0), s = t * c;
                for (int k = 0; k < D; k++) {           /* A <- A J (columns p, q) */
                    double akp = Aj[k][p], akq = Aj[k][q];
                    Aj[k][p] = c * akp - s * akq;
                    Aj[k][q] = s * akp + c * akq;
                }
                for (int k = 0; k < D; k++) {           /* A <- J^T A (rows p, q) */
                    double apk = Aj[p][k], aqk = Aj[q][k];
                    Aj[p][k] = c * apk - s * aqk;
                    Aj[q][k] = s * apk + c * aqk;
                }
                for (int k = 0; k < D; k++) {
                    double vkp = Vv[k][p], vkq = Vv[k][q];
                    Vv[k][p] = c * vkp - s * vkq;
                    Vv[k][q] = s * vkp + c * vkq;
                }
            }
    }
    for (int i = 0; i < D; i++) ev[i] = Aj[i][i];
    return sweeps;
}

static double nc1(void) {
    for (int d = 0; d < D; d++) {
        mg[d] = 0.0;
        for (int c = 0; c < C; c++) {
            double s = 0.0;
            for (int j = c * NPC; j < (c + 1) * NPC; j++) s += Hm[d][j];
            mu[d][c] = s / NPC;
            mg[d] += mu[d][c] / C;
        }
    }
    for (int a = 0; a < D; a++)
        for (int b = 0; b < D; b++) {
            double sw = 0.0, sb = 0.0;
            for (int j = 0; j < N; j++) sw += (Hm[a][j] - mu[a][j / NPC]) * (Hm[b][j] - mu[b][j / NPC]);
            for (int c = 0; c < C; c++) sb += (mu[a][c] - mg[a]) * (mu[b][c] - mg[b]);
            SW[a][b] = sw / N;
            SB[a][b] = sb / C;
        }
    for (int a = 0; a < D; a++) for (int b = 0; b < D; b++) Aj[a][b] = SB[a][b];
    jacobi();
    double emax = 0.0;
    for (int k = 0; k < D; k++) if (fabs(ev[k]) > emax) emax = fabs(ev[k]);
    /* tr(SW SB^+) = sum_k (v_k^T SW v_k) / ev_k over the retained eigenpairs */
    double tr = 0.0;
    for (int k = 0; k < D; k++) {
        if (ev[k] <= 1e-10 * emax) continue;
        double q = 0.0;
        for (int a = 0; a < D; a++)
            for (int b = 0; b < D; b++) q += Vv[a][k] * SW[a][b] * Vv[b][k];
        tr += q / ev[k];
    }
    return tr / C;
}

static double flow_step(double beta) {
    double loss = 0.0;
    for (int c = 0; c < C; c++)
        for (int j = 0; j < N; j++) {
            double s = -(j / NPC == c);
            for (int d = 0; d < D; d++) s += W[c][d] * Hm[d][j];
            R[c][j] = s;
            loss += s * s;
        }
    static double gW[C][D];
    for (int c = 0; c < C; c++)
        for (int d = 0; d < D; d++) {
            double s = 0.0;
            for (int j = 0; j < N; j++) s += R[c][j] * Hm[d][j];
            gW[c][d] = s / N + LW * W[c][d];
        }
    for (int d = 0; d < D; d++)
        for (int j = 0; j < N; j++) {
            double s = 0.0;
            for (int c = 0; c < C; c++) s += W[c][d] * R[c][j];
            Hm[d][j] -= DT * (s + LH * Hm[d][j] + beta * (Hm[d][j] - H0[d][j]));
        }
    for (int c = 0; c < C; c++) for (int d = 0; d < D; d++) W[c][d] -= DT * gW[c][d];
    return loss / (2.0 * N);
}

static void reset_flow(void) {
    for (int d = 0; d < D; d++) for (int j = 0; j < N; j++) Hm[d][j] = H0[d][j];
    for (int c = 0; c < C; c++) for (int d = 0; d < D; d++) W[c][d] = W0[c][d];
}

/* ---- exported kernels ---- */

/* Jacobi eigen-decomposition of a seeded symmetric D x D matrix, `reps` times;
 * returns the sum of eigenvalues squared (= Frobenius norm^2) of the last one + sweeps */
__attribute__((export_name("kernel_jacobi_eig")))
double kernel_jacobi_eig(int reps) {
    double s = 0.0;
    int sw = 0;
    for (int r = 0; r < reps; r++) {
        rng_seed(21 + (uint64_t)r);
        for (int i = 0; i < D; i++)
            for (int j = 0; j <= i; j++) Aj[i][j] = Aj[j][i] = rng_uniform() - 0.5;
        sw = jacobi();
        s = 0.0;
        for (int k = 0; k < D; k++) s += ev[k] * ev[k];
    }
    return s + sw;
}

/* NC1 of the seed-1 initial features, computed `reps` times; returns NC1 */
__attribute__((export_name("kernel_nc1")))
double kernel_nc1(int reps) {
    init_problem(1);
    reset_flow();
    double v = 0.0;
    for (int r = 0; r < reps; r++) v = nc1();
    return v;
}

/* `steps` gradient-flow steps with BETA = 0 from the seed-1 problem; returns loss + NC1 */
__attribute__((export_name("kernel_gradient_flow")))
double kernel_gradient_flow(int steps) {
    init_problem(1);
    reset_flow();
    double loss = 0.0;
    for (int s = 0; s < steps; s++) loss = flow_step(0.0);
    return loss + nc1();
}

/* ---- main ---- */
static void print_list(const char *key, const double *v, int n) {
    printf("%s:", key);
    for (int i = 0; i < n; i++) printf(" %.10g", v[i]);
    printf("\n");
}

int main(int argc, char **argv) {
    int steps = argc > 1 ? atoi(argv[1]) : 12000;
    uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
    if (steps < 1) steps = 1;
    int every = steps >= 40 ? steps / 40 : 1;
    init_problem(seed);
    static double h_nc1[NB][MAXREP], h_loss[NB][MAXREP], h_t[MAXREP];
    double fin_w[NB], fin_h[NB], fin_nc3[NB];
    int m = 0;
    for (int b = 0; b < NB; b++) {
        reset_flow();
        m = 0;
        h_t[m] = 0; h_nc1[b][m] = nc1(); h_loss[b][m] = 0.0;
        double loss = 0.0;
        for (int s = 1; s <= steps; s++) {
            loss = flow_step(BETAS[b]);
            if (s % every == 0 && m + 1 < MAXREP) {
                m++;
                h_t[m] = s * DT;
                h_nc1[b][m] = nc1();
                h_loss[b][m] = loss;       /* loss before the step */
            }
        }
        double nw = 0.0, nh = 0.0;
        for (int c = 0; c < C; c++) for (int d = 0; d < D; d++) nw += W[c][d] * W[c][d];
        for (int d = 0; d < D; d++) for (int j = 0; j < N; j++) nh += Hm[d][j] * Hm[d][j];
        fin_w[b] = sqrt(nw); fin_h[b] = sqrt(nh / N);
        /* NC3: | W^T/|W| - M/|M| |^2 with M the centred class means (nc1() refreshed mu, mg) */
        nc1();
        double nm = 0.0, acc = 0.0;
        for (int d = 0; d < D; d++) for (int c = 0; c < C; c++) nm += (mu[d][c] - mg[d]) * (mu[d][c] - mg[d]);
        for (int d = 0; d < D; d++)
            for (int c = 0; c < C; c++) {
                double e = W[c][d] / sqrt(nw) - (mu[d][c] - mg[d]) / sqrt(nm);
                acc += e * e;
            }
        fin_nc3[b] = acc;
    }
    printf("steps: %d\nseed: %llu\n", steps, (unsigned long long)seed);
    printf("dim: %d\nclasses: %d\nper_class: %d\ndt: %.10g\n", D, C, NPC, DT);
    print_list("betas", BETAS, NB);
    print_list("time", h_t, m + 1);
    for (int b = 0; b < NB; b++) {
        char key[32];
        snprintf(key, sizeof key, "nc1_beta%d", b);
        print_list(key, h_nc1[b], m + 1);
        snprintf(key, sizeof key, "loss_beta%d", b);
        print_list(key, h_loss[b], m + 1);
    }
    print_list("final_weight_norm", fin_w, NB);
    print_list("final_feature_rms", fin_h, NB);
    print_list("final_nc3", fin_nc3, NB);
    return 0;
}
