/* The native probes of one OP_PROBE word (wizard.h: wz_func.probe_counts / probe_python /
 * probe_hits / probe_tally): what either tier does there before any Python call. Shared by the
 * interpreter's OP_PROBE handler (interp.c) and compiled code's generic probe sites
 * (jit_support.c wz_jit_probe). Not part of the cffi declarations (wizard.h is). */
#ifndef WIZARD_PROBES_H
#define WIZARD_PROBES_H
#include "wizard.h"

/* Count, fire the one-shot hit probes, tally the i32 on top of the operand stack ending at sp
 * (read only where a tally probe sits: the instrumentation puts one only where the top is an
 * i32). Returns nonzero when a Python probe sits there too (or the flags are not allocated:
 * all of it is Python's then). */
static inline int wz_native_probes(wz_func *f, uint32_t ip, const wz_val *sp)
{
    if (f->probe_counts) f->probe_counts[ip]++;
    if (!f->probe_python) return 1;
    uint8_t fl = f->probe_python[ip];
    if (__builtin_expect(fl & WZ_PF_HIT, 0)) wz_probe_hit(f, ip);
    if (fl & WZ_PF_TALLY) {
        uint64_t *tb = f->probe_tally[ip], v = (uint32_t)sp[-1];
        tb[1 + (v < tb[0] - 1 ? v : tb[0] - 1)]++;
    }
    return fl & WZ_PF_PYTHON;
}

#endif
