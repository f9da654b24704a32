/* fusion.c — choose and write the superinstructions of one function's internal code.
 *
 * The rules and patterns are those of wizardpy/fusion.py (`plan`, the reference implementation,
 * which the tests compare with this one); this pass exists because doing it in Python doubled
 * the load time of big modules (graphviz.wasm: +0.23 s for 300k instructions). It walks the code
 * from ip 1 using the immediate counts of docs/internal-code.md, marks every branch target, then
 * fuses greedily: at each instruction the first matching pattern wins, a sequence never contains
 * a branch target except at its first instruction. For each fused sequence the first word's
 * original opcode goes to orig[ip] (the function's probe_ops) and the fused opcode to code[ip].
 */
#include <stdlib.h>
#include <string.h>
#include "wizard.h"

/* Immediate words after the instruction at ip whose (unfused, unprobed) opcode is op. */
static uint32_t imm_words(uint32_t op, const uint32_t *code, uint32_t ip)
{
    switch (op) {
    case 0x04: case 0x05: case 0x0F: case 0x10:
    case 0x20: case 0x21: case 0x22: case 0x23: case 0x24: case 0x25: case 0x26:
    case 0x41: case 0x43: case 0xD2:
    case 0x108: case 0x109: case 0x10D: case 0x10F: case 0x110: case 0x111:
        return 1;
    case 0x11: case 0x42: case 0x44: case 0x10C: case 0x10E:
        return 2;
    case 0x0C: case 0x0D:
        return 3;
    case 0x0E:
        return 1 + 3 * (code[ip + 1] + 1);
    default:
        if (op >= 0x28 && op <= 0x3E) return 1;
        return 0;
    }
}

#define FB_LLB 0x200
#define FB_LCB 0x300
#define FB_LB 0x400
#define FB_CB 0x500
#define FB_CBR 0x600
#define FB_MISC 0x700
#define FB_BS 0x800
#define FB_BT 0x900
#define FB_LLBS 0xA00
#define FB_LLBT 0xB00
#define FB_LCBS 0xC00
#define FB_LBBR 0xD00
#define FB_LLCBR 0xE00
#define FB_LCCBR 0xF00

/* Returns the number of sequences fused, or -1 (malformed code / no memory: nothing written). */
int wz_fuse(uint32_t *code, uint32_t *orig, uint32_t len)
{
    if (len < 2) return 0;
    uint32_t *ips = malloc((size_t)len * sizeof *ips);
    uint8_t *target = calloc(len + 1, 1);
    if (!ips || !target) { free(ips); free(target); return -1; }
    uint32_t n = 0;
    for (uint32_t ip = 1; ip < len; ) {
        uint32_t op = code[ip];
        if (op >= 0x120) { free(ips); free(target); return -1; }   /* probed/fused: not fresh */
        ips[n++] = ip;
        uint32_t k = imm_words(op, code, ip);
        if (ip + k >= len) { free(ips); free(target); return -1; }
        if (op == 0x04 || op == 0x05 || op == 0x0C || op == 0x0D) {
            if (code[ip + 1] <= len) target[code[ip + 1]] = 1;
        } else if (op == 0x0E) {
            for (uint32_t j = 0; j <= code[ip + 1]; j++) {
                uint32_t tip = code[ip + 2 + 3 * j];
                if (tip <= len) target[tip] = 1;
            }
        }
        ip += 1 + k;
    }
    int count = 0;
    for (uint32_t k = 0; k < n; ) {
        uint32_t o0 = code[ips[k]];
        uint32_t o1 = k + 1 < n ? code[ips[k + 1]] : 0xFFFF;
        uint32_t o2 = k + 2 < n ? code[ips[k + 2]] : 0xFFFF;
        uint32_t o3 = k + 3 < n ? code[ips[k + 3]] : 0xFFFF;
        uint32_t fused = 0, length = 0;
        if (o0 == 0x20) {
            if (o1 == 0x20 && o3 == 0x21 && wz_fusable(FB_LLBS + o2)) fused = FB_LLBS + o2, length = 4;
            else if (o1 == 0x20 && o3 == 0x22 && wz_fusable(FB_LLBT + o2)) fused = FB_LLBT + o2, length = 4;
            else if (o1 == 0x20 && o3 == 0x0D && wz_fusable(FB_LLCBR + o2)) fused = FB_LLCBR + o2, length = 4;
            else if (o1 == 0x20 && wz_fusable(FB_LLB + o2)) fused = FB_LLB + o2, length = 3;
            else if (o1 >= 0x41 && o1 <= 0x44 && o3 == 0x21 && wz_fusable(FB_LCBS + o2))
                fused = FB_LCBS + o2, length = 4;
            else if (o1 >= 0x41 && o1 <= 0x44 && o3 == 0x0D && wz_fusable(FB_LCCBR + o2))
                fused = FB_LCCBR + o2, length = 4;
            else if (o1 >= 0x41 && o1 <= 0x44 && wz_fusable(FB_LCB + o2)) fused = FB_LCB + o2, length = 3;
            else if (o1 == 0x41 && o2 >= 0x36 && o2 <= 0x3E && wz_fusable(FB_MISC + o2))
                fused = FB_MISC + o2, length = 3;
            else if (o1 >= 0x28 && o1 <= 0x35 && wz_fusable(FB_MISC + o1)) fused = FB_MISC + o1, length = 2;
            else if (o1 == 0x21) fused = FB_MISC + 1, length = 2;
            else if (o1 == 0x0D) fused = FB_MISC + 2, length = 2;
            else if (o2 == 0x0D && wz_fusable(FB_LBBR + o1)) fused = FB_LBBR + o1, length = 3;
            else if (wz_fusable(FB_LB + o1)) fused = FB_LB + o1, length = 2;
        } else if (o0 >= 0x41 && o0 <= 0x44) {
            if (wz_fusable(FB_CB + o1)) fused = FB_CB + o1, length = 2;
            else if (o0 == 0x41 && o1 == 0x21) fused = FB_MISC + 3, length = 2;
        } else if (o0 == 0x22) {
            if (o1 == 0x0D) fused = FB_MISC + 0, length = 2;
        } else if (o0 < 0x100) {
            if (o1 == 0x0D && wz_fusable(FB_CBR + o0)) fused = FB_CBR + o0, length = 2;
            else if (o1 == 0x21 && wz_fusable(FB_BS + o0)) fused = FB_BS + o0, length = 2;
            else if (o1 == 0x22 && wz_fusable(FB_BT + o0)) fused = FB_BT + o0, length = 2;
        }
        if (length && wz_fusable(fused)) {
            int ok = 1;
            for (uint32_t j = 1; j < length; j++)
                if (target[ips[k + j]]) ok = 0;
            if (ok) {
                orig[ips[k]] = code[ips[k]];
                code[ips[k]] = fused;
                count++;
                k += length;
                continue;
            }
        }
        k++;
    }
    free(ips);
    free(target);
    return count;
}

uint32_t wz_seq_len(uint32_t fused)
{
    uint32_t fam = fused & ~0xFFu, op = fused & 0xFFu;
    if (fam == FB_LLBS || fam == FB_LLBT || fam == FB_LCBS || fam == FB_LLCBR || fam == FB_LCCBR)
        return 4;
    if (fam == FB_LLB || fam == FB_LCB || fam == FB_LBBR || (fam == FB_MISC && op >= 0x36 && op <= 0x3E))
        return 3;
    return 2;
}

int wz_seq_map(const uint32_t *code, const uint32_t *ops, const uint32_t *unfused,
               const uint32_t *offs, const uint32_t *lens, uint32_t nfuncs,
               uint32_t *back, uint8_t *span)
{
    uint32_t maxlen = 1;
    for (uint32_t f = 0; f < nfuncs; f++)
        if (lens[f] > maxlen) maxlen = lens[f];
    uint32_t *ips = malloc((size_t)maxlen * sizeof *ips);
    if (!ips) return -1;
    for (uint32_t f = 0; f < nfuncs; f++) {
        const uint32_t *c = code + offs[f], *o = ops + offs[f];
        uint32_t len = lens[f], n = 0;
        for (uint32_t ip = 1; ip < len; ) {           /* ip 0: OP_ENTRY */
            uint32_t op = c[ip] >= 0x120 ? o[ip] : c[ip];    /* under a probe / fused */
            ips[n++] = ip;
            ip += 1 + imm_words(op, c, ip);
        }
        for (uint32_t k = 0; k < n; k++) {
            uint32_t s = ips[k], w = c[s];
            uint32_t fused = w >= 0x200 ? w : unfused[offs[f] + s];
            if (fused < 0x200) continue;
            uint32_t m = wz_seq_len(fused);
            if (k + m > n) m = n - k;
            for (uint32_t j = 0; j < m; j++) back[offs[f] + ips[k + j]] = ips[k + j] - s + 1;
            span[offs[f] + s] = (uint8_t)(ips[k + m - 1] - s);
            k += m - 1;
        }
    }
    free(ips);
    return 0;
}

uint32_t wz_block_leaders(const uint32_t *code, uint32_t len, uint32_t *out)
{
    uint32_t n = 0;
    for (uint32_t ip = 1; ip < len; ) {
        uint32_t op = code[ip], next = ip + 1 + imm_words(op, code, ip);
        switch (op) {
        case 0x0E:                                          /* br_table: every target */
            for (uint32_t j = 0; j <= code[ip + 1] && n < len; j++) out[n++] = code[ip + 2 + 3 * j];
            break;
        case 0x04: case 0x05: case 0x0C: case 0x0D:         /* if, else, br, br_if */
            if (n < len) out[n++] = code[ip + 1];
            break;
        default:
            break;
        }
        switch (op) {
        case 0x00: case 0x04: case 0x05: case 0x0C: case 0x0D: case 0x0E: case 0x0F:
        case 0x10: case 0x11:                               /* ends its block */
            if (next < len && n < len) out[n++] = next;
            break;
        default:
            break;
        }
        ip = next;
    }
    return n;
}
