/* interaction-basis: kernel of "Using Degeneracy in the Loss Landscape for
 * Mechanistic Interpretability" (Bushnaq et al.). Degenerate directions of a
 * network's activations (dead/duplicated neurons, directions the output does
 * not depend on) are removed by moving to the *interaction basis*: for each
 * layer l with activations f_l and output Jacobian J_l = d out / d f_l,
 *   G = E[f f^T] = U D U^T            (drop D ~ 0: activation degeneracy)
 *   M = D^1/2 U^T E[J^T J] U D^1/2 = V L V^T   (L ~ 0: functional degeneracy)
 *   C = L^1/2 V^T D^-1/2 U^T   (interaction basis f^ = C f)
 * in which E[f^ f^^T] = L (diagonal) and E[J^^T J^] = I on the kept directions.
 * Net: ReLU MLP 8 -> 24 -> 24 -> 4 with random weights and planted
 * degeneracies (3 dead + 1 duplicated neuron in layer 1, 4 layer-2 neurons
 * with no path to the output).
 * argv[1] = number of input samples N (default 40000), argv[2] = seed (42).
 */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <math.h>

#define NI 8
#define NH 24
#define NO 4
#define EXPORT(n) __attribute__((export_name(n)))

static uint64_t sm64(uint64_t seed, uint64_t i) {
    uint64_t z = seed + (i + 1) * 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
typedef struct { uint64_t s, i; } rng_t;
static double ru(rng_t *r) { return (double)(sm64(r->s, r->i++) >> 11) * 0x1.0p-53; }
static double rn(rng_t *r) { double u1 = ru(r), u2 = ru(r); return sqrt(-2.0 * log(1.0 - u1)) * cos(6.283185307179586 * u2); }
static rng_t stream(uint64_t seed, uint64_t k) { rng_t r = { sm64(seed, 0xABCD0000ULL + k), 0 }; return r; }

static double W1[NH][NI], b1[NH], W2[NH][NH], b2[NH], W3[NO][NH], b3[NO];
static const int width[3] = { NI, NH, NH };
static double Gs[3][NH][NH], Ms[3][NH][NH];   /* accumulated E[f f^T], E[J^T J] */
static long long nsamp = 0;
static rng_t rx;
/* results of basis() */
static double geig[NH], ieig[NH], res_gram, res_jac;
static int grank, irank;

static int setup(long long seed) {
    rng_t r = stream((uint64_t)seed, 0);
    for (int i = 0; i < NH; i++) for (int j = 0; j < NI; j++) W1[i][j] = rn(&r) * sqrt(2.0 / NI);
    for (int i = 0; i < NH; i++) b1[i] = 0.1 * rn(&r);
    for (int i = 0; i < NH; i++) for (int j = 0; j < NH; j++) W2[i][j] = rn(&r) * sqrt(2.0 / NH);
    for (int i = 0; i < NH; i++) b2[i] = 0.1 * rn(&r);
    for (int i = 0; i < NO; i++) for (int j = 0; j < NH; j++) W3[i][j] = rn(&r) * sqrt(1.0 / NH);
    for (int i = 0; i < NO; i++) b3[i] = 0.1 * rn(&r);
    for (int i = 0; i < 3; i++) b1[i] = -10.0;                     /* dead neurons */
    for (int j = 0; j < NI; j++) W1[3][j] = W1[4][j]; b1[3] = b1[4]; /* duplicate */
    for (int i = 0; i < NO; i++) for (int j = NH - 4; j < NH; j++) W3[i][j] = 0; /* no path to output */
    for (int l = 0; l < 3; l++) for (int i = 0; i < NH; i++) for (int j = 0; j < NH; j++) Gs[l][i][j] = Ms[l][i][j] = 0;
    nsamp = 0;
    rx = stream((uint64_t)seed, 1);
    return NH * NI + NH + NH * NH + NH + NO * NH + NO;
}

static void acc(double (*A)[NH], const double *f, int n) {
    for (int i = 0; i < n; i++) { double fi = f[i]; if (fi != 0) for (int j = 0; j < n; j++) A[i][j] += fi * f[j]; }
}
static void accJ(double (*A)[NH], double (*J)[NH], int n) {
    for (int o = 0; o < NO; o++) acc(A, J[o], n);
}

/* draw N inputs x ~ N(0, I), forward + backward, accumulate the Gram
 * matrices of activations and of output Jacobians for the three layers.
 * Returns the mean squared network output over this batch. */
static double accumulate(int N) {
    double x[NI], h1[NH], h2[NH], J0[NO][NH], J1[NO][NH], J2[NO][NH], out2 = 0;
    for (int n = 0; n < N; n++) {
        for (int j = 0; j < NI; j++) x[j] = rn(&rx);
        for (int i = 0; i < NH; i++) { double s = b1[i]; for (int j = 0; j < NI; j++) s += W1[i][j] * x[j]; h1[i] = s > 0 ? s : 0; }
        for (int i = 0; i < NH; i++) { double s = b2[i]; for (int j = 0; j < NH; j++) s += W2[i][j] * h1[j]; h2[i] = s > 0 ? s : 0; }
        for (int o = 0; o < NO; o++) { double s = b3[o]; for (int j = 0; j < NH; j++) s += W3[o][j] * h2[j]; out2 += s * s; }
        for (int o = 0; o < NO; o++) {
            for (int j = 0; j < NH; j++) J2[o][j] = W3[o][j];
            for (int j = 0; j < NH; j++) {
                double s = 0;
                for (int i = 0; i < NH; i++) if (h2[i] > 0) s += J2[o][i] * W2[i][j];
                J1[o][j] = s;
            }
            for (int j = 0; j < NI; j++) {
                double s = 0;
                for (int i = 0; i < NH; i++) if (h1[i] > 0) s += J1[o][i] * W1[i][j];
                J0[o][j] = s;
            }
        }
        acc(Gs[0], x, NI); acc(Gs[1], h1, NH); acc(Gs[2], h2, NH);
        accJ(Ms[0], J0, NI); accJ(Ms[1], J1, NH); accJ(Ms[2], J2, NH);
    }
    nsamp += N;
    return out2 / (N > 0 ? N : 1);
}

/* cyclic Jacobi eigen-decomposition of symmetric A (n x n, overwritten);
 * eigenvalues sorted descending into w, eigenvectors as columns of V. */
static void jacobi(double (*A)[NH], int n, double *w, double (*V)[NH]) {
    for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) V[i][j] = i == j;
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0, tot = 0;
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) { tot += A[i][j] * A[i][j]; if (i != j) off += A[i][j] * A[i][j]; }
        if (off <= 1e-30 * tot || off == 0) break;
        for (int p = 0; p < n - 1; p++)
            for (int q = p + 1; q < n; q++) {
                if (A[p][q] == 0) continue;
                double th = (A[q][q] - A[p][p]) / (2 * A[p][q]);
                double t = (th >= 0 ? 1.0 : -1.0) / (fabs(th) + sqrt(th * th + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (int k = 0; k < n; k++) { double a = A[k][p], b = A[k][q]; A[k][p] = c * a - s * b; A[k][q] = s * a + c * b; }
                for (int k = 0; k < n; k++) { double a = A[p][k], b = A[q][k]; A[p][k] = c * a - s * b; A[q][k] = s * a + c * b; }
                for (int k = 0; k < n; k++) { double a = V[k][p], b = V[k][q]; V[k][p] = c * a - s * b; V[k][q] = s * a + c * b; }
            }
    }
    int idx[NH];
    for (int i = 0; i < n; i++) idx[i] = i;
    for (int i = 0; i < n; i++) for (int j = i + 1; j < n; j++) if (A[idx[j]][idx[j]] > A[idx[i]][idx[i]]) { int t = idx[i]; idx[i] = idx[j]; idx[j] = t; }
    double Vc[NH][NH];
    for (int i = 0; i < n; i++) { w[i] = A[idx[i]][idx[i]]; for (int k = 0; k < n; k++) Vc[k][i] = V[k][idx[i]]; }
    for (int i = 0; i < n; i++) for (int k = 0; k < n; k++) V[k][i] = Vc[k][i];
}

/* interaction basis of layer l (0 input, 1 hidden1, 2 hidden2) from the
 * accumulated statistics; returns the number of kept interaction directions. */
static int basis(int l) {
    if (l < 0) l = 0;
    if (l > 2) l = 2;
    int n = width[l];
    double G[NH][NH], Mr[NH][NH], U[NH][NH], M[NH][NH], V[NH][NH], C[NH][NH], Cp[NH][NH];
    double inv = nsamp ? 1.0 / nsamp : 0;
    for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) { G[i][j] = Gs[l][i][j] * inv; Mr[i][j] = Ms[l][i][j] * inv; }
    double G0[NH][NH];
    for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) G0[i][j] = G[i][j];
    jacobi(G, n, geig, U);
    grank = 0;
    for (int i = 0; i < n; i++) if (geig[i] > 1e-10 * geig[0]) grank++;
    int k = grank;
    /* M = D^1/2 U_k^T Mr U_k D^1/2 */
    double T[NH][NH];
    for (int i = 0; i < n; i++) for (int b = 0; b < k; b++) { double s = 0; for (int j = 0; j < n; j++) s += Mr[i][j] * U[j][b]; T[i][b] = s; }
    for (int a = 0; a < k; a++) for (int b = 0; b < k; b++) {
        double s = 0; for (int i = 0; i < n; i++) s += U[i][a] * T[i][b];
        M[a][b] = s * sqrt(geig[a] * geig[b]);
    }
    jacobi(M, k, ieig, V);
    irank = 0;
    for (int i = 0; i < k; i++) if (ieig[i] > 1e-10 * ieig[0]) irank++;
    for (int i = k; i < n; i++) ieig[i] = 0;
    int r = irank;
    /* C (r x n) = L^1/2 V^T D^-1/2 U^T ; C+ (n x r) = U D^1/2 V L^-1/2 */
    for (int a = 0; a < r; a++) for (int j = 0; j < n; j++) {
        double s = 0, sp = 0;
        for (int b = 0; b < k; b++) { s += V[b][a] / sqrt(geig[b]) * U[j][b]; sp += U[j][b] * sqrt(geig[b]) * V[b][a]; }
        C[a][j] = sqrt(ieig[a]) * s;
        Cp[j][a] = sp / sqrt(ieig[a]);
    }
    /* residuals: ||C G C^T - diag(L)||_F / ||L|| and ||C+^T Mr C+ - I||_F / sqrt(r) */
    double e1 = 0, e2 = 0, nl = 0;
    for (int a = 0; a < r; a++) for (int b = 0; b < r; b++) {
        double s = 0, t = 0;
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) { s += C[a][i] * G0[i][j] * C[b][j]; t += Cp[i][a] * Mr[i][j] * Cp[j][b]; }
        s -= a == b ? ieig[a] : 0; t -= a == b;
        e1 += s * s; e2 += t * t;
        if (a == b) nl += ieig[a] * ieig[a];
    }
    res_gram = sqrt(e1 / nl); res_jac = sqrt(e2 / (r ? r : 1));
    return irank;
}

/* Exported kernels: pure functions of their arguments. All but kernel_setup
 * first rebuild the network and reset the statistics with
 * setup(KERNEL_SEED), so repeated calls / fresh instances agree. */
#define KERNEL_SEED 42
#define KERNEL_N 2000

/* build the network, reset statistics; returns #params */
EXPORT("kernel_setup")
int kernel_setup(long long seed) { return setup(seed); }

/* fresh statistics, N samples accumulated; mean squared network output */
EXPORT("kernel_accumulate")
double kernel_accumulate(int N) {
    setup(KERNEL_SEED);
    return accumulate(N);
}

/* fresh statistics from KERNEL_N samples, then the interaction basis of
 * layer l (0..2); returns the interaction rank */
EXPORT("kernel_interaction_basis")
int kernel_interaction_basis(int l) {
    setup(KERNEL_SEED);
    accumulate(KERNEL_N);
    return basis(l);
}

int main(int argc, char **argv) {
    int N = argc > 1 ? atoi(argv[1]) : 40000;
    long long seed = argc > 2 ? atoll(argv[2]) : 42;
    if (N < 1) N = 1;
    int np = setup(seed);
    double o2 = accumulate(N);
    printf("samples: %d\nseed: %lld\nparams: %d\nmean_sq_output: %.10g\n", N, seed, np, o2);
    for (int l = 0; l < 3; l++) {
        basis(l);
        int n = width[l];
        printf("layer%d_width: %d\nlayer%d_gram_rank: %d\nlayer%d_interaction_rank: %d\n", l, n, l, grank, l, irank);
        printf("layer%d_gram_eigs:", l);
        for (int i = 0; i < n; i++) printf(" %.10g", geig[i] > 0 ? geig[i] : 0.0);
        printf("\nlayer%d_interaction_eigs:", l);
        for (int i = 0; i < n; i++) printf(" %.10g", i < irank ? ieig[i] : 0.0);
        printf("\nlayer%d_residual_gram: %.6e\nlayer%d_residual_jacobian: %.6e\n", l, res_gram, l, res_jac);
    }
    return 0;
}
