/* Classic 4th-order Runge-Kutta on the Lorenz system, `steps` steps of dt = 0.001
 * from (1, 1, 1). Returns x + y + z (f64). Plain +,-,* only, no libm, in a fixed
 * evaluation order, so the result is bit-identical to the Python reference. */
#include "common.h"

#define SIGMA 10.0
#define RHO 28.0
#define BETA (8.0 / 3.0)

static void deriv(const double *s, double *d) {
    d[0] = SIGMA * (s[1] - s[0]);
    d[1] = s[0] * (RHO - s[2]) - s[1];
    d[2] = s[0] * s[1] - BETA * s[2];
}

EXPORT(rk4) double rk4(int steps) {
    double s[3] = {1.0, 1.0, 1.0};
    double k1[3], k2[3], k3[3], k4[3], t[3];
    const double h = 0.001;
    for (int n = 0; n < steps; n++) {
        deriv(s, k1);
        for (int i = 0; i < 3; i++) t[i] = s[i] + 0.5 * h * k1[i];
        deriv(t, k2);
        for (int i = 0; i < 3; i++) t[i] = s[i] + 0.5 * h * k2[i];
        deriv(t, k3);
        for (int i = 0; i < 3; i++) t[i] = s[i] + h * k3[i];
        deriv(t, k4);
        for (int i = 0; i < 3; i++)
            s[i] = s[i] + (h / 6.0) * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]);
    }
    return s[0] + s[1] + s[2];
}
