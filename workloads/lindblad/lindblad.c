/*
 * lindblad -- excitation transfer in a light-harvesting LH1-RC model driven by a photon mode.
 *
 * Kernel of: "Impact of Static Disorder and Dephasing on Quantum Transport in LH1-RC Models".
 *
 * Single-excitation manifold, dimension D = N + 2:
 *   index 0       photon (cavity) mode, energy = detuning
 *   index 1..N    donor ring (LH1) sites, energy = static disorder eps_n, ring coupling J
 *   index N+1     acceptor (reaction centre), energy E_A
 * Couplings: photon <-> every donor (g), donor <-> acceptor (G), donor n <-> n+1 (J, periodic).
 *
 * Lindblad master equation (hbar = 1), with sink/loss channels folded into an effective
 * non-Hermitian Hamiltonian H - i*Gamma (Gamma = diag of loss half-rates) and pure dephasing
 * of rate gphi on every donor and the acceptor:
 *   d rho/dt = -i[H, rho] - {Gamma, rho} + gphi * sum_k (P_k rho P_k - 1/2 {P_k, rho})
 * Losses (trapping into the RC: Gamma_A; cavity leakage: Gamma_c; recombination: Gamma_d) leave
 * the single-excitation manifold; their time integrals are the yields
 *   eta  = 2 Gamma_A int rho_AA dt   (transfer efficiency)
 *   L_k  = 2 Gamma_k int rho_kk dt   (loss through site k)
 * and eta + sum_k L_k + Tr rho(T) = 1 exactly (a linear invariant, preserved by RK4 because
 * the yields are integrated as extra components of the same ODE system).
 *
 * The complex density matrix rho = R + iI is integrated with classical RK4 (fixed dt).
 * Output: yields vs photon detuning, without and with dephasing.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>

#define N      8              /* donor sites in the LH1 ring */
#define D      (N + 2)        /* photon + donors + acceptor */
#define IA     (N + 1)        /* acceptor index */

/* model parameters (energies and rates in units of the ring coupling scale) */
static const double J_RING   = -0.6;   /* nearest-neighbour donor coupling */
static const double G_PHOTON = 0.15;   /* photon <-> each donor */
static const double G_ACC    = 0.20;   /* each donor <-> acceptor */
static const double E_ACC    = -1.2;   /* acceptor energy (= bright ring state, 2 J) */
static const double W_DIS    = 0.4;    /* static disorder: eps_n uniform in [-W/2, W/2) */
static const double GAM_TRAP = 0.5;    /* acceptor trapping half-rate */
static const double GAM_CAV  = 0.05;   /* photon leakage half-rate */
static const double GAM_REC  = 0.01;   /* donor recombination half-rate */
static const double GPHI     = 0.1;    /* dephasing rate (second scan) */
static const double DT       = 0.02;
static const int    NSTEPS   = 3000;   /* t_final = 60 */
static const double DET_MIN  = -3.0, DET_MAX = 3.0;

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

/* ---- model state (static buffers: usable from the exported kernels without _start) ---- */
static double eps[N];            /* static disorder of the donor energies */
static double H[D][D];           /* real symmetric Hamiltonian */
static double gam[D];            /* loss half-rates */
static double C[D][D];           /* total decay rate of rho_jk from losses + dephasing */

/* RK4 state: R, I (D x D) and the accumulated yields Y[k] = 2 gam_k int rho_kk */
typedef struct { double R[D][D], I[D][D], Y[D]; } State;
static State s0, k1, k2, k3, k4, tmp;

static void draw_disorder(uint64_t seed) {
    rng_seed(seed);
    for (int n = 0; n < N; n++) eps[n] = W_DIS * (rng_uniform() - 0.5);
}

static void build_model(double detuning, double gphi) {
    for (int j = 0; j < D; j++) for (int k = 0; k < D; k++) H[j][k] = 0.0;
    H[0][0] = detuning;
    for (int n = 0; n < N; n++) {
        int a = 1 + n, b = 1 + (n + 1) % N;
        H[a][a] = eps[n];
        H[a][b] = H[b][a] = J_RING;
        H[0][a] = H[a][0] = G_PHOTON;
        H[IA][a] = H[a][IA] = G_ACC;
    }
    H[IA][IA] = E_ACC;
    gam[0] = GAM_CAV;
    for (int n = 1; n <= N; n++) gam[n] = GAM_REC;
    gam[IA] = GAM_TRAP;
    for (int j = 0; j < D; j++)
        for (int k = 0; k < D; k++) {
            double c = gam[j] + gam[k];
            if (j != k) c += 0.5 * gphi * ((j > 0) + (k > 0));   /* photon is not dephased */
            C[j][k] = c;
        }
}

/* out = L(in): the Lindblad right-hand side plus the yield rates */
static void rhs(const State *in, State *out) {
    for (int j = 0; j < D; j++) {
        for (int k = 0; k < D; k++) {
            /* -i[H, R + iI] = [H, I] - i[H, R] */
            double hi = 0.0, hr = 0.0;
            for (int m = 0; m < D; m++) {
                hi += H[j][m] * in->I[m][k] - in->I[j][m] * H[m][k];
                hr += H[j][m] * in->R[m][k] - in->R[j][m] * H[m][k];
            }
            out->R[j][k] = hi - C[j][k] * in->R[j][k];
            out->I[j][k] = -hr - C[j][k] * in->I[j][k];
        }
        out->Y[j] = 2.0 * gam[j] * in->R[j][j];
    }
}

static void axpy(State *out, const State *x, double a, const State *y) {   /* out = x + a y */
    const double *px = &x->R[0][0], *py = &y->R[0][0];
    double *po = &out->R[0][0];
    for (int i = 0; i < 2 * D * D + D; i++) po[i] = px[i] + a * py[i];
}

static void rk4_step(State *s, double dt) {
    rhs(s, &k1);
    axpy(&tmp, s, 0.5 * dt, &k1); rhs(&tmp, &k2);
    axpy(&tmp, s, 0.5 * dt, &k2); rhs(&tmp, &k3);
    axpy(&tmp, s, dt, &k3);       rhs(&tmp, &k4);
    double *p = &s->R[0][0];
    const double *a = &k1.R[0][0], *b = &k2.R[0][0], *c = &k3.R[0][0], *d = &k4.R[0][0];
    for (int i = 0; i < 2 * D * D + D; i++) p[i] += dt / 6.0 * (a[i] + 2.0 * (b[i] + c[i]) + d[i]);
}

static void init_state(State *s) {      /* excitation starts in the photon mode */
    double *p = &s->R[0][0];
    for (int i = 0; i < 2 * D * D + D; i++) p[i] = 0.0;
    s->R[0][0] = 1.0;
}

static double trace(const State *s) {
    double t = 0.0;
    for (int k = 0; k < D; k++) t += s->R[k][k];
    return t;
}

/* one full transfer run; results left in s0 */
static void run(double detuning, double gphi, int nsteps) {
    build_model(detuning, gphi);
    init_state(&s0);
    for (int i = 0; i < nsteps; i++) rk4_step(&s0, DT);
}

/* ---- exported kernels (no libc state, no malloc, no stdio) ---- */

/* n RK4 steps of the default model (seed-1 disorder, detuning 0, dephasing GPHI);
 * returns eta + 2 * (population of the acceptor) + Tr rho as a checksum. */
__attribute__((export_name("kernel_rk4_steps")))
double kernel_rk4_steps(int n) {
    draw_disorder(1);
    run(0.0, GPHI, n);
    return s0.Y[IA] + 2.0 * s0.R[IA][IA] + trace(&s0);
}

/* applies the Liouvillian to a fixed (seeded, Hermitian, unit-trace) rho `reps` times,
 * renormalising in between; returns the sum of |L rho| entries. */
__attribute__((export_name("kernel_liouvillian_apply")))
double kernel_liouvillian_apply(int reps) {
    draw_disorder(1);
    build_model(0.5, GPHI);
    rng_seed(7);
    for (int j = 0; j < D; j++)
        for (int k = 0; k <= j; k++) {
            double re = rng_uniform() - 0.5, im = (j == k) ? 0.0 : rng_uniform() - 0.5;
            s0.R[j][k] = s0.R[k][j] = re;
            s0.I[j][k] = im; s0.I[k][j] = -im;
        }
    for (int k = 0; k < D; k++) s0.Y[k] = 0.0;
    double sum = 0.0;
    for (int r = 0; r < reps; r++) {
        rhs(&s0, &k1);
        double norm = 0.0;
        for (int j = 0; j < D; j++)
            for (int k = 0; k < D; k++) norm += fabs(k1.R[j][k]) + fabs(k1.I[j][k]);
        sum += norm;
        for (int j = 0; j < D; j++)
            for (int k = 0; k < D; k++) { s0.R[j][k] = k1.R[j][k] / norm; s0.I[j][k] = k1.I[j][k] / norm; }
    }
    return sum;
}

/* transfer run of `nsteps` RK4 steps at the given photon detuning (seed-1 disorder, dephasing
 * GPHI); returns the efficiency eta(t = nsteps * DT). */
__attribute__((export_name("kernel_transfer")))
double kernel_transfer(double detuning, int nsteps) {
    draw_disorder(1);
    run(detuning, GPHI, nsteps);
    return s0.Y[IA];
}

/* static-disorder sampling: draws `n` disorder realisations and returns the mean squared
 * site energy (should approach W^2/12). */
__attribute__((export_name("kernel_disorder")))
double kernel_disorder(int n) {
    double acc = 0.0;
    for (int r = 0; r < n; r++) {
        draw_disorder((uint64_t)r + 1);
        for (int k = 0; k < N; k++) acc += eps[k] * eps[k];
    }
    return n > 0 ? acc / ((double)n * N) : 0.0;
}

/* ---- main: the detuning scan ---- */

static void print_list(const char *key, const double *v, int n) {
    printf("%s:", key);
    for (int i = 0; i < n; i++) printf(" %.10g", v[i]);
    printf("\n");
}

#define MAXDET 1024
static double det[MAXDET], eta[2][MAXDET], lcav[2][MAXDET], ldon[2][MAXDET], resid[2][MAXDET];

int main(int argc, char **argv) {
    int ndet = argc > 1 ? atoi(argv[1]) : 8;
    uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
    if (ndet < 1) ndet = 1;
    if (ndet > MAXDET) ndet = MAXDET;
    draw_disorder(seed);
    const double gphis[2] = {0.0, GPHI};
    double balance = 0.0;
    for (int i = 0; i < ndet; i++) {
        det[i] = ndet == 1 ? 0.0 : DET_MIN + (DET_MAX - DET_MIN) * i / (ndet - 1);
        for (int g = 0; g < 2; g++) {
            run(det[i], gphis[g], NSTEPS);
            double ld = 0.0;
            for (int n = 1; n <= N; n++) ld += s0.Y[n];
            eta[g][i] = s0.Y[IA];
            lcav[g][i] = s0.Y[0];
            ldon[g][i] = ld;
            resid[g][i] = trace(&s0);
            double b = fabs(eta[g][i] + lcav[g][i] + ldon[g][i] + resid[g][i] - 1.0);
            if (b > balance) balance = b;
        }
    }
    printf("model: lh1_rc_photon\n");
    printf("n_donors: %d\n", N);
    printf("seed: %llu\n", (unsigned long long)seed);
    printf("dt: %.10g\n", DT);
    printf("t_final: %.10g\n", DT * NSTEPS);
    printf("dephasing: %.10g %.10g\n", gphis[0], gphis[1]);
    print_list("site_energies", eps, N);
    print_list("detuning", det, ndet);
    print_list("eta_coherent", eta[0], ndet);
    print_list("eta_dephased", eta[1], ndet);
    print_list("loss_cavity_coherent", lcav[0], ndet);
    print_list("loss_cavity_dephased", lcav[1], ndet);
    print_list("loss_donors_coherent", ldon[0], ndet);
    print_list("loss_donors_dephased", ldon[1], ndet);
    print_list("residual_coherent", resid[0], ndet);
    print_list("residual_dephased", resid[1], ndet);
    int best[2] = {0, 0};
    for (int g = 0; g < 2; g++)
        for (int i = 1; i < ndet; i++) if (eta[g][i] > eta[g][best[g]]) best[g] = i;
    printf("best_detuning: %.10g %.10g\n", det[best[0]], det[best[1]]);
    printf("best_eta: %.10g %.10g\n", eta[0][best[0]], eta[1][best[1]]);
    printf("balance_error: %.6e\n", balance);
    return 0;
}
