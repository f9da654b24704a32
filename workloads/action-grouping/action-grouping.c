/* action-grouping: kernel of "Action Space Reduction via Grouping".
 * A tabular MDP with many actions that are noisy copies of a few latent
 * prototype actions. Actions are grouped (state-independently) by k-means on
 * their model feature vector phi(a) = [R(s,a)]_s ++ [P(s'|s,a)]_{s,s'};
 * the grouped MDP (group-averaged rewards/transitions, one action per group)
 * is solved by value iteration and compared with the original MDP.
 * argv[1] = number of actions A (default 1500), argv[2] = seed (default 42).
 */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <math.h>

#define S 16            /* states */
#define K 6             /* latent prototype actions */
#define GMAX 12         /* groups tried: 1..GMAX */
#define AMAX 4096
#define D (S + S * S)   /* feature dimension */
#define GAMMA 0.9
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

static int nA = 0;
static double R[AMAX][S];          /* R[a][s] */
static double P[AMAX][S][S];       /* P[a][s][s'] */
static double Vstar[S];
static int have_vstar = 0;
static double cent[GMAX][D];
static int assign[AMAX], gcount[GMAX];
static double Rg[GMAX][S], Pg[GMAX][S][S], VG[S], Vpi[S];
static int rep[GMAX], piG[S];
static int last_iters;
static double last_epsR, last_epsP;

static double featv(int a, int j) { return j < S ? R[a][j] : P[a][(j - S) / S][(j - S) % S]; }

EXPORT("kernel_setup")
int kernel_setup(int A, long long seed) {
    if (A < 1) A = 1;
    if (A > AMAX) A = AMAX;
    nA = A; have_vstar = 0;
    double Rk[K][S], Pk[K][S][S];
    rng_t r0 = stream((uint64_t)seed, 0), r1 = stream((uint64_t)seed, 1);
    for (int k = 0; k < K; k++)
        for (int s = 0; s < S; s++) {
            Rk[k][s] = ru(&r0);
            double tot = 0;
            for (int t = 0; t < S; t++) { double u = ru(&r0); u = u * u; u = u * u; Pk[k][s][t] = u; tot += u; }
            for (int t = 0; t < S; t++) Pk[k][s][t] /= tot;
        }
    for (int a = 0; a < A; a++) {
        int k = a % K;
        for (int s = 0; s < S; s++) {
            R[a][s] = Rk[k][s] + 0.1 * (ru(&r1) - 0.5);
            double tot = 0;
            for (int t = 0; t < S; t++) { double w = Pk[k][s][t] + 0.02 * ru(&r1); P[a][s][t] = w; tot += w; }
            for (int t = 0; t < S; t++) P[a][s][t] /= tot;
        }
    }
    return A;
}

/* value iteration; nact actions with reward r[a][s] and transitions p[a][s][t] */
static int vi(int nact, double (*r)[S], double (*p)[S][S], double *V, int *pol) {
    double Vn[S];
    for (int s = 0; s < S; s++) V[s] = 0;
    int it;
    for (it = 1; it <= 5000; it++) {
        double diff = 0;
        for (int s = 0; s < S; s++) {
            double best = -1e300; int ba = 0;
            for (int a = 0; a < nact; a++) {
                double q = 0;
                for (int t = 0; t < S; t++) q += p[a][s][t] * V[t];
                q = r[a][s] + GAMMA * q;
                if (q > best) { best = q; ba = a; }
            }
            Vn[s] = best; if (pol) pol[s] = ba;
            double d = fabs(best - V[s]); if (d > diff) diff = d;
        }
        for (int s = 0; s < S; s++) V[s] = Vn[s];
        if (diff < 1e-13) break;
    }
    return it;
}

EXPORT("kernel_optimal_vi")
double kernel_optimal_vi(void) {
    vi(nA, R, P, Vstar, 0);
    have_vstar = 1;
    double t = 0; for (int s = 0; s < S; s++) t += Vstar[s];
    return t;
}

static double dist2(int a, const double *c) {
    double d = 0;
    for (int s = 0; s < S; s++) { double x = R[a][s] - c[s]; d += x * x; }
    for (int s = 0; s < S; s++) for (int t = 0; t < S; t++) { double x = P[a][s][t] - c[S + s * S + t]; d += x * x; }
    return d;
}

/* k-means with farthest-point initialisation (first centre = action 0) and
 * Lloyd iterations until assignments stop changing. Returns inertia. */
EXPORT("kernel_kmeans")
double kernel_kmeans(int G) {
    if (G < 1) G = 1;
    if (G > GMAX) G = GMAX;
    static double mind[AMAX];
    for (int j = 0; j < D; j++) cent[0][j] = featv(0, j);
    for (int a = 0; a < nA; a++) mind[a] = dist2(a, cent[0]);
    for (int g = 1; g < G; g++) {
        int far = 0;
        for (int a = 1; a < nA; a++) if (mind[a] > mind[far]) far = a;
        for (int j = 0; j < D; j++) cent[g][j] = featv(far, j);
        for (int a = 0; a < nA; a++) { double d = dist2(a, cent[g]); if (d < mind[a]) mind[a] = d; }
    }
    for (int a = 0; a < nA; a++) assign[a] = -1;
    int it;
    double inertia = 0;
    for (it = 1; it <= 200; it++) {
        int changed = 0; inertia = 0;
        for (int a = 0; a < nA; a++) {
            int bg = 0; double bd = dist2(a, cent[0]);
            for (int g = 1; g < G; g++) { double d = dist2(a, cent[g]); if (d < bd) { bd = d; bg = g; } }
            if (bg != assign[a]) { assign[a] = bg; changed = 1; }
            inertia += bd;
        }
        if (!changed) break;
        for (int g = 0; g < G; g++) { gcount[g] = 0; for (int j = 0; j < D; j++) cent[g][j] = 0; }
        for (int a = 0; a < nA; a++) {
            int g = assign[a]; gcount[g]++;
            for (int s = 0; s < S; s++) cent[g][s] += R[a][s];
            for (int s = 0; s < S; s++) for (int t = 0; t < S; t++) cent[g][S + s * S + t] += P[a][s][t];
        }
        for (int g = 0; g < G; g++)
            if (gcount[g]) for (int j = 0; j < D; j++) cent[g][j] /= gcount[g];
    }
    last_iters = it;
    return inertia;
}

/* Grouped MDP from the current k-means assignment, its value iteration,
 * the model-error constants, and the exact value of the lifted policy
 * (group -> medoid action). Returns ||V* - V_G||_inf. */
EXPORT("kernel_grouped_vi")
double kernel_grouped_vi(int G) {
    if (!have_vstar) kernel_optimal_vi();
    if (G < 1) G = 1;
    if (G > GMAX) G = GMAX;
    for (int g = 0; g < G; g++) {
        gcount[g] = 0;
        for (int s = 0; s < S; s++) { Rg[g][s] = 0; for (int t = 0; t < S; t++) Pg[g][s][t] = 0; }
    }
    for (int a = 0; a < nA; a++) {
        int g = assign[a]; gcount[g]++;
        for (int s = 0; s < S; s++) { Rg[g][s] += R[a][s]; for (int t = 0; t < S; t++) Pg[g][s][t] += P[a][s][t]; }
    }
    for (int g = 0; g < G; g++) {
        double c = gcount[g] ? gcount[g] : 1;
        for (int s = 0; s < S; s++) { Rg[g][s] /= c; for (int t = 0; t < S; t++) Pg[g][s][t] /= c; }
        rep[g] = -1;
    }
    double epsR = 0, epsP = 0, rd[GMAX];
    for (int a = 0; a < nA; a++) {
        int g = assign[a];
        double d = 0;
        for (int s = 0; s < S; s++) {
            double x = fabs(R[a][s] - Rg[g][s]); if (x > epsR) epsR = x;
            double l1 = 0;
            for (int t = 0; t < S; t++) { double y = P[a][s][t] - Pg[g][s][t]; l1 += fabs(y); d += y * y; }
            d += (R[a][s] - Rg[g][s]) * (R[a][s] - Rg[g][s]);
            if (l1 > epsP) epsP = l1;
        }
        if (rep[g] < 0 || d < rd[g]) { rep[g] = a; rd[g] = d; }
    }
    last_epsR = epsR; last_epsP = epsP;
    /* empty groups (cannot be chosen): give them reward -inf-ish */
    for (int g = 0; g < G; g++) if (!gcount[g]) for (int s = 0; s < S; s++) Rg[g][s] = -1e9;
    vi(G, Rg, Pg, VG, piG);
    double err = 0;
    for (int s = 0; s < S; s++) { double d = fabs(Vstar[s] - VG[s]); if (d > err) err = d; }
    /* exact evaluation of the lifted policy: (I - gamma P_pi) V = R_pi, Gaussian elimination */
    double M[S][S + 1];
    for (int s = 0; s < S; s++) {
        int a = rep[piG[s]];
        for (int t = 0; t < S; t++) M[s][t] = (s == t) - GAMMA * P[a][s][t];
        M[s][S] = R[a][s];
    }
    for (int c = 0; c < S; c++) {
        int pr = c;
        for (int i = c + 1; i < S; i++) if (fabs(M[i][c]) > fabs(M[pr][c])) pr = i;
        for (int j = 0; j <= S; j++) { double t = M[c][j]; M[c][j] = M[pr][j]; M[pr][j] = t; }
        for (int i = c + 1; i < S; i++) {
            double f = M[i][c] / M[c][c];
            for (int j = c; j <= S; j++) M[i][j] -= f * M[c][j];
        }
    }
    for (int i = S - 1; i >= 0; i--) {
        double x = M[i][S];
        for (int j = i + 1; j < S; j++) x -= M[i][j] * Vpi[j];
        Vpi[i] = x / M[i][i];
    }
    return err;
}

int main(int argc, char **argv) {
    int A = argc > 1 ? atoi(argv[1]) : 1500;
    long long seed = argc > 2 ? atoll(argv[2]) : 42;
    A = kernel_setup(A, seed);
    kernel_optimal_vi();
    double vmax = 0, vmin = 1e300;
    for (int s = 0; s < S; s++) { if (Vstar[s] > vmax) vmax = Vstar[s]; if (Vstar[s] < vmin) vmin = Vstar[s]; }
    printf("states: %d\nactions: %d\nprototypes: %d\ngamma: %.10g\nseed: %lld\n", S, A, K, GAMMA, seed);
    printf("vstar:");
    for (int s = 0; s < S; s++) printf(" %.10g", Vstar[s]);
    printf("\n");
    for (int G = 1; G <= GMAX; G++) {
        double inertia = kernel_kmeans(G);
        double err = kernel_grouped_vi(G);
        double bound = (last_epsR + GAMMA * last_epsP * 0.5 * (vmax - vmin)) / (1 - GAMMA);
        double loss = 0;
        for (int s = 0; s < S; s++) { double d = Vstar[s] - Vpi[s]; if (d > loss) loss = d; }
        printf("G%d: inertia %.10g iters %d eps_r %.10g eps_p %.10g value_error %.10g bound %.10g policy_loss %.10g\n",
               G, inertia, last_iters, last_epsR, last_epsP, err, bound, loss);
    }
    return 0;
}
