#include "conv.h"

static void fill_bias(const esnn_op_t *op, const esnn_buffer_t *out, uint32_t *y) {
    uint32_t p, co, npix = (uint32_t)out->h * out->w;
    for (p = 0; p < npix; p++, y += op->cout)
        for (co = 0; co < op->cout; co++) y[co] = esnn_rd32(op->bias + 4u * co);
}

/* acc[k] += v * w[start + k] for k < n (wrapping uint32 arithmetic). */
static void add_row(uint32_t *acc, const uint8_t *w, uint32_t start, uint32_t n, uint8_t bits, int32_t v) {
    uint32_t k;
    if (bits == 8) {
        const int8_t *p = (const int8_t *)w + start;
        if (v == 1)
            for (k = 0; k < n; k++) acc[k] += (uint32_t)(int32_t)p[k];
        else
            for (k = 0; k < n; k++) acc[k] += (uint32_t)(v * (int32_t)p[k]);
    } else {
        for (k = 0; k < n; k++) acc[k] += (uint32_t)(v * esnn_weight(w, start + k, bits));
    }
}

void esnn_conv_u8_ref(const esnn_op_t *op, const esnn_buffer_t *in, const esnn_buffer_t *out, const uint8_t *x,
                      uint32_t *y) {
    uint32_t co, oy, ox, ci, ky, kx;
    for (co = 0; co < op->cout; co++)
        for (oy = 0; oy < out->h; oy++)
            for (ox = 0; ox < out->w; ox++) {
                uint32_t acc = esnn_rd32(op->bias + 4u * co);
                for (ci = 0; ci < op->cin; ci++)
                    for (ky = 0; ky < op->kh; ky++)
                        for (kx = 0; kx < op->kw; kx++) {
                            int32_t iy = (int32_t)(oy * op->stride + ky) - op->pad;
                            int32_t ix = (int32_t)(ox * op->stride + kx) - op->pad;
                            uint32_t wi = ((ci * op->kh + ky) * op->kw + kx) * op->cout + co;
                            if (iy < 0 || ix < 0 || iy >= (int32_t)in->h || ix >= (int32_t)in->w) continue;
                            acc += (uint32_t)((int32_t)x[(ci * in->h + (uint32_t)iy) * in->w + (uint32_t)ix] *
                                              esnn_weight(op->w, wi, op->bits));
                        }
                y[(oy * out->w + ox) * op->cout + co] = acc;
            }
}

void esnn_conv_spike_ref(const esnn_op_t *op, const esnn_buffer_t *in, const esnn_buffer_t *out,
                         const uint32_t *x, uint32_t *y) {
    uint32_t co, oy, ox, ci, ky, kx;
    for (co = 0; co < op->cout; co++)
        for (oy = 0; oy < out->h; oy++)
            for (ox = 0; ox < out->w; ox++) {
                uint32_t acc = esnn_rd32(op->bias + 4u * co);
                for (ci = 0; ci < op->cin; ci++)
                    for (ky = 0; ky < op->kh; ky++)
                        for (kx = 0; kx < op->kw; kx++) {
                            int32_t iy = (int32_t)(oy * op->stride + ky) - op->pad;
                            int32_t ix = (int32_t)(ox * op->stride + kx) - op->pad;
                            uint32_t wi = ((ci * op->kh + ky) * op->kw + kx) * op->cout + co, word;
                            if (iy < 0 || ix < 0 || iy >= (int32_t)in->h || ix >= (int32_t)in->w) continue;
                            word = x[((uint32_t)iy * in->w + (uint32_t)ix) * in->cw + (ci >> 5)];
                            if ((word >> (ci & 31u)) & 1u) acc += (uint32_t)esnn_weight(op->w, wi, op->bits);
                        }
                y[(oy * out->w + ox) * op->cout + co] = acc;
            }
}

#if ESNN_SIMD32
#include <arm_acle.h>
/* Cortex-M4, 8-bit weights, cout % 4 == 0, at most 64 taps (cin * kh * kw): the outputs whose window lies inside
 * the input, 4 channels at a time in registers. Per non-zero input value: one ldr of 4 weights, two sxtb16
 * and four smlabb / smlabt (one MAC each, wrapping 32-bit adds as the reference's uint32 sums). Returns 0 when
 * the op does not qualify (the caller's loop then does every output). */
static int conv_u8_interior_m4(const esnn_op_t *op, const esnn_buffer_t *in, const esnn_buffer_t *out,
                               const uint8_t *x, uint32_t *y, uint32_t oy0, uint32_t oy1, uint32_t ox0,
                               uint32_t ox1) {
    const uint32_t cout = op->cout, ntaps = (uint32_t)op->cin * op->kh * op->kw, s = op->stride;
    uint32_t xoff[64], woff[64], t, ci, ky, kx, oy, ox, g;
    if (op->bits != 8 || (cout & 3u) || ntaps > 64u) return 0;
    for (t = 0, ci = 0; ci < op->cin; ci++)
        for (ky = 0; ky < op->kh; ky++)
            for (kx = 0; kx < op->kw; kx++, t++) {
                xoff[t] = (ci * in->h + ky) * in->w + kx;
                woff[t] = t * cout;
            }
    for (oy = oy0; oy < oy1; oy++)
        for (ox = ox0; ox < ox1; ox++) {
            const uint8_t *xp = x + (oy * s - op->pad) * in->w + (ox * s - op->pad);
            uint32_t *acc = y + (oy * out->w + ox) * cout;
            for (g = 0; g < cout; g += 4u) {
                const uint8_t *wg = op->w + g;
                int32_t a0 = (int32_t)acc[g], a1 = (int32_t)acc[g + 1u], a2 = (int32_t)acc[g + 2u];
                int32_t a3 = (int32_t)acc[g + 3u];
                for (t = 0; t < ntaps; t++) {
                    const int32_t v = xp[xoff[t]];
                    uint32_t wv;
                    int16x2_t lo, hi;
                    if (!v) continue;
                    wv = (uint32_t)esnn_ld32(wg + woff[t]);
                    lo = __sxtb16((int8x4_t)wv);                      /* channels g, g + 2 */
                    hi = __sxtb16((int8x4_t)((wv >> 8) | (wv << 24))); /* g + 1, g + 3 */
                    a0 = __smlabb(v, (int32_t)lo, a0);
                    a2 = __smlabt(v, (int32_t)lo, a2);
                    a1 = __smlabb(v, (int32_t)hi, a1);
                    a3 = __smlabt(v, (int32_t)hi, a3);
                }
                acc[g] = (uint32_t)a0;
                acc[g + 1u] = (uint32_t)a1;
                acc[g + 2u] = (uint32_t)a2;
                acc[g + 3u] = (uint32_t)a3;
            }
        }
    return 1;
}
#endif

void esnn_conv_u8(const esnn_op_t *op, const esnn_buffer_t *in, const esnn_buffer_t *out, const uint8_t *x,
                  uint32_t *y) {
    const uint32_t cout = op->cout, plane = (uint32_t)in->h * in->w;
    uint32_t oy, ox, ci, ky, kx;
    uint32_t ioy0 = 0, ioy1 = 0, iox0 = 0, iox1 = 0; /* outputs done by the interior kernel: [ioy0, ioy1) x ... */
    fill_bias(op, out, y);
#if ESNN_SIMD32
    /* interior outputs: o * s - pad >= 0 and o * s - pad + k <= n */
    ioy0 = (op->pad + op->stride - 1u) / op->stride;
    iox0 = ioy0;
    ioy1 = in->h + op->pad >= op->kh ? (in->h + op->pad - op->kh) / op->stride + 1u : 0u;
    iox1 = in->w + op->pad >= op->kw ? (in->w + op->pad - op->kw) / op->stride + 1u : 0u;
    ioy1 = ioy1 < out->h ? ioy1 : out->h;
    iox1 = iox1 < out->w ? iox1 : out->w;
    if (ioy0 >= ioy1 || iox0 >= iox1 || !conv_u8_interior_m4(op, in, out, x, y, ioy0, ioy1, iox0, iox1))
        ioy0 = ioy1 = iox0 = iox1 = 0;
#endif
    for (oy = 0; oy < out->h; oy++) {
        int32_t iy0 = (int32_t)(oy * op->stride) - op->pad;
        for (ox = 0; ox < out->w; ox++) {
            int32_t ix0 = (int32_t)(ox * op->stride) - op->pad;
            uint32_t *acc = y + (oy * out->w + ox) * cout;
            if (oy >= ioy0 && oy < ioy1 && ox >= iox0 && ox < iox1) continue;
            for (ci = 0; ci < op->cin; ci++) {
                const uint8_t *xc = x + ci * plane;
                for (ky = 0; ky < op->kh; ky++) {
                    int32_t iy = iy0 + (int32_t)ky;
                    if (iy < 0 || iy >= (int32_t)in->h) continue;
                    for (kx = 0; kx < op->kw; kx++) {
                        int32_t ix = ix0 + (int32_t)kx;
                        uint8_t v;
                        if (ix < 0 || ix >= (int32_t)in->w) continue;
                        v = xc[(uint32_t)iy * in->w + (uint32_t)ix];
                        if (v) add_row(acc, op->w, ((ci * op->kh + ky) * op->kw + kx) * cout, cout, op->bits, v);
                    }
                }
            }
        }
    }
}

#if defined(__GNUC__) || defined(__clang__)
#define ESNN_NOINLINE __attribute__((noinline))
#else
#define ESNN_NOINLINE
#endif

/* ---- event-driven spike conv ---------------------------------------------------------------------- */
/* Sign-extended byte k (0..3) of a little-endian word: compilers turn this into one sxtb / sxtab. */
#define SX8(v, k) ((int32_t)((((v) >> (8u * (k))) & 0xFFu) ^ 0x80u) - 0x80)

/* Taps of one input coordinate i along an axis: the (k, o) pairs with o*s + k - pad == i, 0 <= o < n_out,
 * k < K, as (weight offset k*kstep, output offset o*ostep). At most ceil(K / s) <= 15 pairs; one
 * division per input row/column, none per tap. */
static uint32_t axis_taps(uint32_t i, uint32_t K, uint32_t s, uint32_t pad, uint32_t n_out, uint32_t kstep,
                          uint32_t ostep, uint32_t *woff, uint32_t *ooff) {
    const uint32_t t = i + pad;
    uint32_t k = t % s, o = t / s, n = 0;
    /* o decreases by one as k grows by s; skip the k whose o is past the output */
    if (o >= n_out) {
        uint32_t skip = o - (n_out - 1u);
        k += skip * s;
        o = n_out - 1u;
    }
    for (; k < K; k += s) {
        woff[n] = k * kstep;
        ooff[n] = o * ostep;
        n++;
        if (o == 0) break;
        o--;
    }
    return n;
}

/* Cortex-M4 (ARMv7E-M, Thumb-2): the same 8-wide chunk with the accumulators loaded and stored by one
 * ldm / stm and each weight byte sign-extended and added by one sxtab (ror 0/8/16/24): 14 instructions per
 * spike and 8 outputs. Little-endian only; the weight loads may be unaligned (allowed for ldr on M4). */
#if defined(__GNUC__) && defined(__thumb2__) && defined(__ARM_ARCH_7EM__) && !defined(ESNN_NO_ASM) && \
    defined(__ARMEL__)
#define ESNN_CONV_ASM 1
static void chunk8_m4(uint32_t *acc, const uint8_t *wt, const uint32_t *sp, const uint32_t *end) {
    __asm__ volatile(
        "ldm %[acc], {r4, r5, r6, r7, r8, r9, r10, r11}\n"
        "1:\n\t"
        "ldr r12, [%[sp]], #4\n\t"
        "add r12, r12, %[wt]\n\t"
        "ldr lr, [r12]\n\t"
        "ldr r12, [r12, #4]\n\t"
        "sxtab r4, r4, lr\n\t"
        "sxtab r5, r5, lr, ror #8\n\t"
        "sxtab r6, r6, lr, ror #16\n\t"
        "sxtab r7, r7, lr, ror #24\n\t"
        "sxtab r8, r8, r12\n\t"
        "sxtab r9, r9, r12, ror #8\n\t"
        "sxtab r10, r10, r12, ror #16\n\t"
        "sxtab r11, r11, r12, ror #24\n\t"
        "cmp %[sp], %[end]\n\t"
        "bne 1b\n\t"
        "stm %[acc], {r4, r5, r6, r7, r8, r9, r10, r11}\n"
        : [sp] "+r"(sp)
        : [acc] "r"(acc), [wt] "r"(wt), [end] "r"(end)
        : "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr", "cc", "memory");
}
#else
#define ESNN_CONV_ASM 0
#endif

/* 8-bit weights: for each tap of the pixel (row taps x column taps), the output row y[pixel][0..cout) gets
 * the weight rows w[ci][ky][kx][0..cout) of every spiking channel ci of this word (offsets in `sp`). The
 * accumulators of a 4-wide chunk stay in registers across the spikes. */
static void scatter8(uint32_t *y, const uint8_t *w, uint32_t cout, const uint32_t *sp, uint32_t ns,
                     const uint32_t *rw, const uint32_t *ro, uint32_t nr, const uint32_t *cw, const uint32_t *co,
                     uint32_t nc) {
    uint32_t r, c, j, s;
    for (r = 0; r < nr; r++)
        for (c = 0; c < nc; c++) {
            uint32_t *acc = y + ro[r] + co[c];
            const uint8_t *wt = w + rw[r] + cw[c];
            j = 0;
#if ESNN_CONV_ASM
            if (((uintptr_t)acc & 3u) == 0)
                for (; j + 8u <= cout; j += 8u) chunk8_m4(acc + j, wt + j, sp, sp + ns);
#endif
            for (; j + 8u <= cout; j += 8u) {
                uint32_t a0 = acc[j], a1 = acc[j + 1], a2 = acc[j + 2], a3 = acc[j + 3];
                uint32_t a4 = acc[j + 4], a5 = acc[j + 5], a6 = acc[j + 6], a7 = acc[j + 7];
                const uint8_t *wj = wt + j;
                for (s = 0; s < ns; s++) {
                    const uint32_t v = esnn_rd32(wj + sp[s]), u = esnn_rd32(wj + sp[s] + 4u);
                    a0 += (uint32_t)SX8(v, 0);
                    a1 += (uint32_t)SX8(v, 1);
                    a2 += (uint32_t)SX8(v, 2);
                    a3 += (uint32_t)SX8(v, 3);
                    a4 += (uint32_t)SX8(u, 0);
                    a5 += (uint32_t)SX8(u, 1);
                    a6 += (uint32_t)SX8(u, 2);
                    a7 += (uint32_t)SX8(u, 3);
                }
                acc[j] = a0;
                acc[j + 1] = a1;
                acc[j + 2] = a2;
                acc[j + 3] = a3;
                acc[j + 4] = a4;
                acc[j + 5] = a5;
                acc[j + 6] = a6;
                acc[j + 7] = a7;
            }
            for (; j < cout; j++) {
                uint32_t a = acc[j];
                for (s = 0; s < ns; s++) a += (uint32_t)(int32_t)((const int8_t *)wt)[sp[s] + j];
                acc[j] = a;
            }
        }
}

/* ---- int16 accumulation (op->acc16: |bias| + sum |w| <= 32767 for every output channel, so no partial sum of
 * a 0/1 input can leave int16) ------------------------------------------------------------------------------ */
#if ESNN_SIMD32
/* 16 outputs (8 accumulator words) per spike: ldr weight word, sxtb16 (bytes 0, 2) + sadd16, sxtb16 ror 8
 * (bytes 1, 3) + sadd16: 24 instructions per spike and 16 outputs. The acc pointer register is saved on the
 * stack and used as a temporary inside the loop. */
ESNN_NOINLINE static void chunk16_simd(int16_t *acc, uint32_t wt, const uint32_t *sp, const uint32_t *end) {
    __asm__ volatile(
        "push {%[acc]}\n\t"
        "ldm %[acc], {r4, r5, r6, r7, r8, r9, r10, r11}\n"
        "1:\n\t"
        "ldr r12, [%[sp]], #4\n\t"
        "add r12, r12, %[wt]\n\t"
        "ldr lr, [r12]\n\t"
        "sxtab16 r4, r4, lr\n\t"
        "sxtab16 r5, r5, lr, ror #8\n\t"
        "ldr lr, [r12, #4]\n\t"
        "sxtab16 r6, r6, lr\n\t"
        "sxtab16 r7, r7, lr, ror #8\n\t"
        "ldr lr, [r12, #8]\n\t"
        "sxtab16 r8, r8, lr\n\t"
        "sxtab16 r9, r9, lr, ror #8\n\t"
        "ldr lr, [r12, #12]\n\t"
        "sxtab16 r10, r10, lr\n\t"
        "sxtab16 r11, r11, lr, ror #8\n\t"
        "cmp %[sp], %[end]\n\t"
        "bne 1b\n\t"
        "pop {%[acc]}\n\t"
        "stm %[acc], {r4, r5, r6, r7, r8, r9, r10, r11}\n"
        : [sp] "+r"(sp)
        : [acc] "r"(acc), [wt] "r"(wt), [end] "r"(end)
        : "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr", "cc", "memory");
}
/* cout == 8: every tap of the pixel in one loop. taps[0] = number of taps, then per tap the byte offset of its
 * accumulator row from `base` and its weight offset (added to the spike entries, the addresses of the spiking
 * channels' weight blocks). Per tap ldrd / add / ldm / mov / stm / ldr / cmp / bne (8), per spike 14 (8
 * outputs). The end of the table is kept on the stack (no register left). */
ESNN_NOINLINE static void taps8_simd(const uint32_t *taps, int16_t *base, const uint32_t *spk, const uint32_t *end) {
    __asm__ volatile(
        "ldr r8, [%[taps]], #4\n\t"
        "add r8, %[taps], r8, lsl #3\n\t"
        "push {r8}\n"
        "2:\n\t"
        "ldrd r9, r10, [%[taps]], #8\n\t"
        "add r9, r9, %[base]\n\t"
        "ldm r9, {r4, r5, r6, r7}\n\t"
        "mov r11, %[spk]\n"
        "1:\n\t"
        "ldr r12, [r11], #4\n\t"
        "add r12, r12, r10\n\t"
        "ldr lr, [r12]\n\t"
        "ldr r12, [r12, #4]\n\t"
        "sxtab16 r4, r4, lr\n\t"
        "sxtab16 r5, r5, lr, ror #8\n\t"
        "sxtab16 r6, r6, r12\n\t"
        "sxtab16 r7, r7, r12, ror #8\n\t"
        "cmp r11, %[end]\n\t"
        "bne 1b\n\t"
        "stm r9, {r4, r5, r6, r7}\n\t"
        "ldr r8, [sp]\n\t"
        "cmp %[taps], r8\n\t"
        "bne 2b\n\t"
        "add sp, sp, #4\n"
        : [taps] "+r"(taps)
        : [base] "r"(base), [spk] "r"(spk), [end] "r"(end)
        : "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr", "cc", "memory");
}
/* 8 outputs (4 words) per spike: 14 instructions. */
ESNN_NOINLINE static void chunk8_simd(int16_t *acc, uint32_t wt, const uint32_t *sp, const uint32_t *end) {
    __asm__ volatile(
        "ldm %[acc], {r4, r5, r6, r7}\n"
        "1:\n\t"
        "ldr r12, [%[sp]], #4\n\t"
        "add r12, r12, %[wt]\n\t"
        "ldr lr, [r12]\n\t"
        "ldr r12, [r12, #4]\n\t"
        "sxtab16 r4, r4, lr\n\t"
        "sxtab16 r5, r5, lr, ror #8\n\t"
        "sxtab16 r6, r6, r12\n\t"
        "sxtab16 r7, r7, r12, ror #8\n\t"
        "cmp %[sp], %[end]\n\t"
        "bne 1b\n\t"
        "stm %[acc], {r4, r5, r6, r7}\n"
        : [sp] "+r"(sp)
        : [acc] "r"(acc), [wt] "r"(wt), [end] "r"(end)
        : "r4", "r5", "r6", "r7", "r8", "r12", "lr", "cc", "memory");
}
#endif

#if ESNN_SIMD32
/* cout == 8, stride 1: the column taps m + 1 and m of one kernel row in one pass over the spikes. Their
 * accumulators are adjacent (output columns c, c + 1: 8 words, one ldm / stm) and so are their weights (kx,
 * kx + 1 reversed: bytes 8..15 for column c, 0..7 for column c + 1). pairs[0] = number of pairs, then per pair
 * the byte offset of its accumulators from `base` and the weight offset of column c + 1. Per spike 24
 * instructions for 16 outputs (two single taps: 28); per pair 14. Base, spike list, table end, table pointer
 * and accumulator pointer live on the stack (every register holds a sum or a loop value). */
ESNN_NOINLINE static void pairs8_simd(const uint32_t *pairs, int16_t *base, const uint32_t *spk,
                                      const uint32_t *end) {
    __asm__ volatile(
        "ldr r12, [%[t]], #4\n\t"
        "add r12, %[t], r12, lsl #3\n\t"
        "sub sp, sp, #24\n\t"
        "str %[b], [sp]\n\t"
        "str %[s], [sp, #4]\n\t"
        "str r12, [sp, #8]\n"
        "2:\n\t"
        "ldrd r12, lr, [%[t]], #8\n\t"
        "str %[t], [sp, #12]\n\t"
        "ldr %[t], [sp]\n\t"
        "add r12, r12, %[t]\n\t"
        "str r12, [sp, #16]\n\t"
        "ldm r12, {r4, r5, r6, r7, r8, r9, r10, r11}\n\t"
        "mov %[b], lr\n\t"
        "ldr %[t], [sp, #4]\n"
        "1:\n\t"
        "ldr r12, [%[t]], #4\n\t"
        "add r12, r12, %[b]\n\t"
        "ldr lr, [r12, #8]\n\t"
        "sxtab16 r4, r4, lr\n\t"
        "sxtab16 r5, r5, lr, ror #8\n\t"
        "ldr lr, [r12, #12]\n\t"
        "sxtab16 r6, r6, lr\n\t"
        "sxtab16 r7, r7, lr, ror #8\n\t"
        "ldr lr, [r12]\n\t"
        "ldr r12, [r12, #4]\n\t"
        "sxtab16 r8, r8, lr\n\t"
        "sxtab16 r9, r9, lr, ror #8\n\t"
        "sxtab16 r10, r10, r12\n\t"
        "sxtab16 r11, r11, r12, ror #8\n\t"
        "cmp %[t], %[e]\n\t"
        "bne 1b\n\t"
        "ldr r12, [sp, #16]\n\t"
        "stm r12, {r4, r5, r6, r7, r8, r9, r10, r11}\n\t"
        "ldr %[t], [sp, #12]\n\t"
        "ldr r12, [sp, #8]\n\t"
        "cmp %[t], r12\n\t"
        "bne 2b\n\t"
        "add sp, sp, #24\n"
        : [t] "+r"(pairs), [b] "+r"(base), [s] "+r"(spk)
        : [e] "r"(end)
        : "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr", "cc", "memory");
}
/* cout == 16: every tap of the pixel (table as in taps8_simd) with its 16 accumulators (8 words) in registers:
 * the loop of pairs8_simd with the weight words in order. Per spike 24 instructions for 16 outputs, per tap 14. */
ESNN_NOINLINE static void taps16_simd(const uint32_t *taps, int16_t *base, const uint32_t *spk,
                                      const uint32_t *end) {
    __asm__ volatile(
        "ldr r12, [%[t]], #4\n\t"
        "add r12, %[t], r12, lsl #3\n\t"
        "sub sp, sp, #24\n\t"
        "str %[b], [sp]\n\t"
        "str %[s], [sp, #4]\n\t"
        "str r12, [sp, #8]\n"
        "2:\n\t"
        "ldrd r12, lr, [%[t]], #8\n\t"
        "str %[t], [sp, #12]\n\t"
        "ldr %[t], [sp]\n\t"
        "add r12, r12, %[t]\n\t"
        "str r12, [sp, #16]\n\t"
        "ldm r12, {r4, r5, r6, r7, r8, r9, r10, r11}\n\t"
        "mov %[b], lr\n\t"
        "ldr %[t], [sp, #4]\n"
        "1:\n\t"
        "ldr r12, [%[t]], #4\n\t"
        "add r12, r12, %[b]\n\t"
        "ldr lr, [r12]\n\t"
        "sxtab16 r4, r4, lr\n\t"
        "sxtab16 r5, r5, lr, ror #8\n\t"
        "ldr lr, [r12, #4]\n\t"
        "sxtab16 r6, r6, lr\n\t"
        "sxtab16 r7, r7, lr, ror #8\n\t"
        "ldr lr, [r12, #8]\n\t"
        "ldr r12, [r12, #12]\n\t"
        "sxtab16 r8, r8, lr\n\t"
        "sxtab16 r9, r9, lr, ror #8\n\t"
        "sxtab16 r10, r10, r12\n\t"
        "sxtab16 r11, r11, r12, ror #8\n\t"
        "cmp %[t], %[e]\n\t"
        "bne 1b\n\t"
        "ldr r12, [sp, #16]\n\t"
        "stm r12, {r4, r5, r6, r7, r8, r9, r10, r11}\n\t"
        "ldr %[t], [sp, #12]\n\t"
        "ldr r12, [sp, #8]\n\t"
        "cmp %[t], r12\n\t"
        "bne 2b\n\t"
        "add sp, sp, #24\n"
        : [t] "+r"(taps), [b] "+r"(base), [s] "+r"(spk)
        : [e] "r"(end)
        : "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr", "cc", "memory");
}
#endif

#if ESNN_SIMD32
/* ---- 3x3, stride 1, pad 1, interior input pixels: spike-outer scatter with the 9 taps unrolled ----------------
 * Each spike of an input pixel adds its 9 weight rows to the 3x3 block of outputs around it. With the taps at
 * fixed offsets (immediates) and ldm / stm moving 8 accumulator words per instruction, no tap table and no
 * per-tap loop is needed: per spike and 16 outputs ldm, 2 ldrd, 8 sxtab16, stm (about 0.8 instructions per
 * SOP), plus a few per spike and per pixel. Output (iy + 1 - ky, ix + 1 - kx) gets tap (ky, kx), so the top
 * output row takes kernel row 2 and the left column kernel column 2. Needs 4-aligned weights (ldrd).
 * Zero input words cost 5 instructions (r1, r2: word pointer and end). State on the stack: [sp] weights,
 * [sp, #4] row step, [sp, #8] word pointer past the current pixel, [sp, #12] end, [sp, #16] accbase: the
 * accumulators of a pixel's top-left output are accbase + (pointer past its word) * cout / 2 (mod 2^32),
 * [sp, #20] those of the current pixel. In the spike loop r3: spikes left, r2: the spike's weight block,
 * r0: accumulator pointer, r1: row step. */
typedef struct {
    uint32_t w, rstep, px, pxend, accbase;
} k3_args_t;

/* cout 8: output columns ix - 1 and ix in one ldm / stm (8 words), ix + 1 by ldrd / strd. R: kernel row offset. */
#define K3_ROW8(R)                                                                                              \
    "ldm r0, {r4, r5, r6, r7, r8, r9, r10, r11}\n\t"                                                        \
    "ldrd r12, lr, [r2, #(" R "+16)]\n\t"                                                                   \
    "sxtab16 r4, r4, r12\n\t"                                                                               \
    "sxtab16 r5, r5, r12, ror #8\n\t"                                                                       \
    "sxtab16 r6, r6, lr\n\t"                                                                                \
    "sxtab16 r7, r7, lr, ror #8\n\t"                                                                        \
    "ldrd r12, lr, [r2, #(" R "+8)]\n\t"                                                                    \
    "sxtab16 r8, r8, r12\n\t"                                                                               \
    "sxtab16 r9, r9, r12, ror #8\n\t"                                                                       \
    "sxtab16 r10, r10, lr\n\t"                                                                              \
    "sxtab16 r11, r11, lr, ror #8\n\t"                                                                      \
    "stm r0, {r4, r5, r6, r7, r8, r9, r10, r11}\n\t"                                                        \
    "ldrd r4, r5, [r0, #32]\n\t"                                                                            \
    "ldrd r6, r7, [r0, #40]\n\t"                                                                            \
    "ldrd r12, lr, [r2, #(" R ")]\n\t"                                                                      \
    "sxtab16 r4, r4, r12\n\t"                                                                               \
    "sxtab16 r5, r5, r12, ror #8\n\t"                                                                       \
    "sxtab16 r6, r6, lr\n\t"                                                                                \
    "sxtab16 r7, r7, lr, ror #8\n\t"                                                                        \
    "strd r4, r5, [r0, #32]\n\t"                                                                            \
    "strd r6, r7, [r0, #40]\n\t"
/* cout 8, edge columns: two output columns (one ldm / stm) from the kernel columns at bytes A and B of row R. */
#define K3_PAIR8(R, A, B)                                                                                       \
    "ldm r0, {r4, r5, r6, r7, r8, r9, r10, r11}\n\t"                                                        \
    "ldrd r12, lr, [r2, #(" R "+" A ")]\n\t"                                                                \
    "sxtab16 r4, r4, r12\n\t"                                                                               \
    "sxtab16 r5, r5, r12, ror #8\n\t"                                                                       \
    "sxtab16 r6, r6, lr\n\t"                                                                                \
    "sxtab16 r7, r7, lr, ror #8\n\t"                                                                        \
    "ldrd r12, lr, [r2, #(" R "+" B ")]\n\t"                                                                \
    "sxtab16 r8, r8, r12\n\t"                                                                               \
    "sxtab16 r9, r9, r12, ror #8\n\t"                                                                       \
    "sxtab16 r10, r10, lr\n\t"                                                                              \
    "sxtab16 r11, r11, lr, ror #8\n\t"                                                                      \
    "stm r0, {r4, r5, r6, r7, r8, r9, r10, r11}\n\t"
/* 16 outputs at r0 from the 16 weights at byte W of the block; r0 moves on by 32 bytes. */
#define K3_C16(W)                                                                                               \
    "ldm r0, {r4, r5, r6, r7, r8, r9, r10, r11}\n\t"                                                        \
    "ldrd r12, lr, [r2, #(" W ")]\n\t"                                                                      \
    "sxtab16 r4, r4, r12\n\t"                                                                               \
    "sxtab16 r5, r5, r12, ror #8\n\t"                                                                       \
    "sxtab16 r6, r6, lr\n\t"                                                                                \
    "sxtab16 r7, r7, lr, ror #8\n\t"                                                                        \
    "ldrd r12, lr, [r2, #(" W "+8)]\n\t"                                                                    \
    "sxtab16 r8, r8, r12\n\t"                                                                               \
    "sxtab16 r9, r9, r12, ror #8\n\t"                                                                       \
    "sxtab16 r10, r10, lr\n\t"                                                                              \
    "sxtab16 r11, r11, lr, ror #8\n\t"                                                                      \
    "stm r0, {r4, r5, r6, r7, r8, r9, r10, r11}\n\t"                                                        \
    "add r0, r0, #32\n\t"
/* cout 16 / 32: the output columns in 16-output chunks, then down one output row (r1: the row step less the
 * bytes the columns moved r0). Full rows take kernel columns 2, 1, 0; the left edge pixel (ix = 0) only 1, 0
 * (from output column 0), the right one (ix = W - 1) only 2, 1. */
#define K3_ROW16(R) K3_C16(R "+32") K3_C16(R "+16") K3_C16(R) "add r0, r0, r1\n\t"
#define K3_LEFT16(R) K3_C16(R "+16") K3_C16(R) "add r0, r0, r1\n\t"
#define K3_RIGHT16(R) K3_C16(R "+32") K3_C16(R "+16") "add r0, r0, r1\n\t"
#define K3_ROW32(R) K3_C16(R "+64") K3_C16(R "+80") K3_C16(R "+32") K3_C16(R "+48") K3_C16(R) K3_C16(R "+16") \
    "add r0, r0, r1\n\t"
#define K3_LEFT32(R) K3_C16(R "+32") K3_C16(R "+48") K3_C16(R) K3_C16(R "+16") "add r0, r0, r1\n\t"
#define K3_RIGHT32(R) K3_C16(R "+64") K3_C16(R "+80") K3_C16(R "+32") K3_C16(R "+48") "add r0, r0, r1\n\t"
#define K3_LEFT8(R) K3_PAIR8(R, "8", "0")
#define K3_RIGHT8(R) K3_PAIR8(R, "16", "8")
/* Pixel loop and spike loop around the rows. SHIFTS: the two shifts whose sum times ci is the block offset
 * (ci * 9 * cout). */
#define K3_LOOP(SH1, SH2, PS, ROWS)                                                                             \
    "ldm r0, {r1, r2, r3, r12, lr}\n\t"                                                                     \
    "sub sp, sp, #24\n\t"                                                                                   \
    "stm sp, {r1, r2, r3, r12, lr}\n\t"                                                                     \
    "mov r1, r3\n\t"                                                                                        \
    "mov r2, r12\n"                                                                                         \
    "4:\n\t"                                                                                                \
    "cmp r1, r2\n\t"                                                                                        \
    "beq 9f\n\t"                                                                                            \
    "ldr r3, [r1], #4\n\t"                                                                                  \
    "cmp r3, #0\n\t"                                                                                        \
    "beq 4b\n\t"                                                                                            \
    "str r1, [sp, #8]\n\t"                                                                                  \
    "ldr r0, [sp, #16]\n\t"                                                                                 \
    "add r0, r0, r1, lsl #" PS "\n\t"                                                                       \
    "str r0, [sp, #20]\n"                                                                                   \
    "1:\n\t"                                                                                                \
    "rbit r12, r3\n\t"                                                                                      \
    "clz r12, r12\n\t"                                                                                      \
    "sub r1, r3, #1\n\t"                                                                                    \
    "and r3, r3, r1\n\t"                                                                                    \
    "ldr r2, [sp]\n\t"                                                                                      \
    "add r2, r2, r12, lsl #" SH1 "\n\t"                                                                     \
    "add r2, r2, r12, lsl #" SH2 "\n\t"                                                                     \
    "ldr r1, [sp, #4]\n\t"                                                                                  \
    "ldr r0, [sp, #20]\n\t"                                                                                 \
    ROWS                                                                                                    \
    "cmp r3, #0\n\t"                                                                                        \
    "bne 1b\n\t"                                                                                            \
    "ldrd r1, r2, [sp, #8]\n\t"                                                                             \
    "b 4b\n"                                                                                                \
    "9:\n\t"                                                                                                \
    "add sp, sp, #24\n"

/* ---- any kernel / stride, cout 16, 32 or 64: spike-outer over a tap table --------------------------------
 * The tap-outer kernels (taps16_simd) keep a tap's accumulators in registers across the spikes of a pixel and
 * pay about 14 instructions per tap; with few spikes per pixel (stride-2 layers, sparse input) that overhead
 * dominates. Here each spike walks the pixel's table (as in taps8_simd: count, then accumulator byte offset and
 * weight offset per tap) and each tap moves its accumulators with ldm / stm: per tap 7 + 13 per 16 outputs,
 * per spike 4. r3: the spike's weight block, r1: the table pointer. Stack: [sp] table, [sp, #4] its end,
 * [sp, #8] accumulator base, [sp, #12] spike pointer, [sp, #16] spike end. Needs a non-empty table and spike
 * list and 4-aligned weights (ldrd). */
#define SO_ASM(CHUNKS)                                                                                          \
    do {                                                                                                        \
        register const uint32_t *r0 __asm__("r0") = taps;                                                       \
        register int16_t *r1 __asm__("r1") = base;                                                              \
        register const uint32_t *r2 __asm__("r2") = spk;                                                        \
        register const uint32_t *r3 __asm__("r3") = end;                                                        \
        __asm__ volatile("ldr r12, [r0], #4\n\t"                                                                \
                         "add r12, r0, r12, lsl #3\n\t"                                                         \
                         "sub sp, sp, #24\n\t"                                                                  \
                         "str r0, [sp]\n\t"                                                                     \
                         "str r12, [sp, #4]\n\t"                                                                \
                         "str r1, [sp, #8]\n\t"                                                                 \
                         "str r2, [sp, #12]\n\t"                                                                \
                         "str r3, [sp, #16]\n"                                                                  \
                         "6:\n\t"                                                                               \
                         "ldr r12, [sp, #12]\n\t"                                                               \
                         "ldr r3, [r12], #4\n\t"                                                                \
                         "str r12, [sp, #12]\n\t"                                                               \
                         "ldr r1, [sp]\n"                                                                       \
                         "5:\n\t"                                                                               \
                         "ldrd r0, r2, [r1], #8\n\t"                                                            \
                         "ldr r12, [sp, #8]\n\t"                                                                \
                         "add r0, r0, r12\n\t"                                                                  \
                         "add r2, r2, r3\n\t" CHUNKS "ldr r12, [sp, #4]\n\t"                                    \
                         "cmp r1, r12\n\t"                                                                      \
                         "bne 5b\n\t"                                                                           \
                         "ldrd r12, lr, [sp, #12]\n\t"                                                          \
                         "cmp r12, lr\n\t"                                                                      \
                         "bne 6b\n\t"                                                                           \
                         "add sp, sp, #24\n"                                                                    \
                         : "+r"(r0), "+r"(r1), "+r"(r2), "+r"(r3)                                               \
                         :                                                                                      \
                         : "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr", "cc", "memory");      \
    } while (0)
ESNN_NOINLINE static void so16_simd(const uint32_t *taps, int16_t *base, const uint32_t *spk,
                                    const uint32_t *end) {
    SO_ASM(K3_C16("0"));
}
ESNN_NOINLINE static void so32_simd(const uint32_t *taps, int16_t *base, const uint32_t *spk,
                                    const uint32_t *end) {
    SO_ASM(K3_C16("0") K3_C16("16"));
}
ESNN_NOINLINE static void so64_simd(const uint32_t *taps, int16_t *base, const uint32_t *spk,
                                    const uint32_t *end) {
    SO_ASM(K3_C16("0") K3_C16("16") K3_C16("32") K3_C16("48"));
}

/* One kernel per (cout, row case, column case): rows 1 .. H-2 take kernel rows 2, 1, 0; row 0 only 1, 0 (its
 * accumulator pointer starts at output row 0); row H-1 only 2, 1. Columns as K3_ROW16 says. */
#define K3_ASM(SH1, SH2, PS, ROWS)                                                                              \
    do {                                                                                                        \
        register const k3_args_t *r0 __asm__("r0") = a;                                                         \
        __asm__ volatile(K3_LOOP(SH1, SH2, PS, ROWS)                                                            \
                         : "+r"(r0)                                                                             \
                         :                                                                                      \
                         : "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr",     \
                           "cc", "memory");                                                                     \
    } while (0)
#define K3_NEXT "add r0, r0, r1\n\t"
/* row cases of cout 8 (rows apart by K3_NEXT) and of cout 16 / 32 (each row moves on itself) */
#define K3_FULL8(X) X("48") K3_NEXT X("24") K3_NEXT X("0")
#define K3_TOP8(X) X("24") K3_NEXT X("0")
#define K3_BOTTOM8(X) X("48") K3_NEXT X("24")
#define K3_FULL16(X) X("96") X("48") X("0")
#define K3_TOP16(X) X("48") X("0")
#define K3_BOTTOM16(X) X("96") X("48")
#define K3_FULL32(X) X("192") X("96") X("0")
#define K3_TOP32(X) X("96") X("0")
#define K3_BOTTOM32(X) X("192") X("96")
#define K3_FN(NAME, SH1, SH2, PS, ROWS) \
    static void NAME(const k3_args_t *a) { K3_ASM(SH1, SH2, PS, ROWS); }
K3_FN(k3_8_ff, "6", "3", "2", K3_FULL8(K3_ROW8))
K3_FN(k3_8_tf, "6", "3", "2", K3_TOP8(K3_ROW8))
K3_FN(k3_8_bf, "6", "3", "2", K3_BOTTOM8(K3_ROW8))
K3_FN(k3_8_fl, "6", "3", "2", K3_FULL8(K3_LEFT8))
K3_FN(k3_8_tl, "6", "3", "2", K3_TOP8(K3_LEFT8))
K3_FN(k3_8_bl, "6", "3", "2", K3_BOTTOM8(K3_LEFT8))
K3_FN(k3_8_fr, "6", "3", "2", K3_FULL8(K3_RIGHT8))
K3_FN(k3_8_tr, "6", "3", "2", K3_TOP8(K3_RIGHT8))
K3_FN(k3_8_br, "6", "3", "2", K3_BOTTOM8(K3_RIGHT8))
K3_FN(k3_16_ff, "7", "4", "3", K3_FULL16(K3_ROW16))
K3_FN(k3_16_tf, "7", "4", "3", K3_TOP16(K3_ROW16))
K3_FN(k3_16_bf, "7", "4", "3", K3_BOTTOM16(K3_ROW16))
K3_FN(k3_16_fl, "7", "4", "3", K3_FULL16(K3_LEFT16))
K3_FN(k3_16_tl, "7", "4", "3", K3_TOP16(K3_LEFT16))
K3_FN(k3_16_bl, "7", "4", "3", K3_BOTTOM16(K3_LEFT16))
K3_FN(k3_16_fr, "7", "4", "3", K3_FULL16(K3_RIGHT16))
K3_FN(k3_16_tr, "7", "4", "3", K3_TOP16(K3_RIGHT16))
K3_FN(k3_16_br, "7", "4", "3", K3_BOTTOM16(K3_RIGHT16))
K3_FN(k3_32_ff, "8", "5", "4", K3_FULL32(K3_ROW32))
K3_FN(k3_32_tf, "8", "5", "4", K3_TOP32(K3_ROW32))
K3_FN(k3_32_bf, "8", "5", "4", K3_BOTTOM32(K3_ROW32))
K3_FN(k3_32_fl, "8", "5", "4", K3_FULL32(K3_LEFT32))
K3_FN(k3_32_tl, "8", "5", "4", K3_TOP32(K3_LEFT32))
K3_FN(k3_32_bl, "8", "5", "4", K3_BOTTOM32(K3_LEFT32))
K3_FN(k3_32_fr, "8", "5", "4", K3_FULL32(K3_RIGHT32))
K3_FN(k3_32_tr, "8", "5", "4", K3_TOP32(K3_RIGHT32))
K3_FN(k3_32_br, "8", "5", "4", K3_BOTTOM32(K3_RIGHT32))
/* [cout 8, 16, 32][row case: full, top, bottom][column case: full, left, right] */
static void (*const k3_kernels[3][3][3])(const k3_args_t *) = {
    {{k3_8_ff, k3_8_fl, k3_8_fr}, {k3_8_tf, k3_8_tl, k3_8_tr}, {k3_8_bf, k3_8_bl, k3_8_br}},
    {{k3_16_ff, k3_16_fl, k3_16_fr}, {k3_16_tf, k3_16_tl, k3_16_tr}, {k3_16_bf, k3_16_bl, k3_16_br}},
    {{k3_32_ff, k3_32_fl, k3_32_fr}, {k3_32_tf, k3_32_tl, k3_32_tr}, {k3_32_bf, k3_32_bl, k3_32_br}}};
enum { K3_FULL = 0, K3_TOP = 1, K3_BOTTOM = 2, K3_LEFT = 1, K3_RIGHT = 2 };

/* Pixels ix0 .. ix1 - 1 of input row iy (spike words prow) with one row and column case. */
static void k3_run(const uint8_t *w, int16_t *y16, uint32_t cout, uint32_t ow, uint32_t h, uint32_t iy,
                   const uint32_t *prow, uint32_t ix0, uint32_t ix1, int cols) {
    const int rows = iy == 0 ? K3_TOP : iy + 1u == h ? K3_BOTTOM : K3_FULL;
    const uint32_t oy0 = iy == 0 ? 0u : iy - 1u, ox0 = cols == K3_LEFT ? ix0 : ix0 - 1u; /* first output */
    const uint32_t ncols = cols == K3_FULL ? 3u : 2u;
    k3_args_t a;
    a.w = (uint32_t)(uintptr_t)w;
    a.rstep = cout == 8u ? 2u * ow * cout : 2u * (ow - ncols) * cout;
    a.px = (uint32_t)(uintptr_t)(prow + ix0);
    a.pxend = (uint32_t)(uintptr_t)(prow + ix1);
    a.accbase = (uint32_t)(uintptr_t)(y16 + (oy0 * ow + ox0) * cout) - (a.px + 4u) * (cout / 2u);
    k3_kernels[cout == 8u ? 0 : cout == 16u ? 1 : 2][rows][cols](&a);
}
#endif

/* acc[0..n) += weight rows wt + sp[s] for every spike s (n = 8 or 16), int16, in the ESNN_CUR16_POS layout. */
static void chunk16_c(int16_t *acc, const uint8_t *wt, const uint32_t *sp, uint32_t ns, uint32_t n) {
    uint32_t s, k;
    for (k = 0; k < n; k++) {
        int32_t a = acc[ESNN_CUR16_POS(k)];
        for (s = 0; s < ns; s++) a += ((const int8_t *)wt)[sp[s] + k];
        acc[ESNN_CUR16_POS(k)] = (int16_t)a;
    }
}

#if !ESNN_SIMD32
/* Hosts (natural channel order): x86 with SSE2 (the x86-64 baseline) in intrinsics, anything else in
 * fixed-width loops of 8 int16 lanes that compilers vectorise. Per tap, the accumulators of up to 32 channels
 * stay in registers across the spikes. ESNN_NO_ASM selects the portable loops on x86 too (tested). */
#if defined(__SSE2__) && !defined(ESNN_NO_ASM)
#include <emmintrin.h>
#define ESNN_CONV_SSE2 1
/* int8 -> int16 sign extension: bytes into the high halves (unpack with themselves), arithmetic shift 8 */
#define SX_LO(v) _mm_srai_epi16(_mm_unpacklo_epi8((v), (v)), 8)
#define SX_HI(v) _mm_srai_epi16(_mm_unpackhi_epi8((v), (v)), 8)
#define LD(p) _mm_loadu_si128((const __m128i *)(const void *)(p))
#define ST(p, v) _mm_storeu_si128((__m128i *)(void *)(p), (v))
#define LD8(p) _mm_loadl_epi64((const __m128i *)(const void *)(p))
/* cout == 8: 8 taps per pass over the spikes, their accumulators in 8 registers (one movq of weights each). */
static void taps8_group8(int16_t *y, const uint8_t *w, const uint32_t *sp, uint32_t ns, const uint32_t *t) {
    int16_t *const y0 = y + t[0], *const y1 = y + t[2], *const y2 = y + t[4], *const y3 = y + t[6];
    int16_t *const y4 = y + t[8], *const y5 = y + t[10], *const y6 = y + t[12], *const y7 = y + t[14];
    const uint8_t *const w0 = w + t[1], *const w1 = w + t[3], *const w2 = w + t[5], *const w3 = w + t[7];
    const uint8_t *const w4 = w + t[9], *const w5 = w + t[11], *const w6 = w + t[13], *const w7 = w + t[15];
    __m128i a0 = LD(y0), a1 = LD(y1), a2 = LD(y2), a3 = LD(y3), a4 = LD(y4), a5 = LD(y5), a6 = LD(y6);
    __m128i a7 = LD(y7);
    const uint32_t *const end = sp + ns;
    for (; sp != end; sp++) {
        const uint32_t o = *sp;
        __m128i v;
        v = LD8(w0 + o);
        a0 = _mm_add_epi16(a0, SX_LO(v));
        v = LD8(w1 + o);
        a1 = _mm_add_epi16(a1, SX_LO(v));
        v = LD8(w2 + o);
        a2 = _mm_add_epi16(a2, SX_LO(v));
        v = LD8(w3 + o);
        a3 = _mm_add_epi16(a3, SX_LO(v));
        v = LD8(w4 + o);
        a4 = _mm_add_epi16(a4, SX_LO(v));
        v = LD8(w5 + o);
        a5 = _mm_add_epi16(a5, SX_LO(v));
        v = LD8(w6 + o);
        a6 = _mm_add_epi16(a6, SX_LO(v));
        v = LD8(w7 + o);
        a7 = _mm_add_epi16(a7, SX_LO(v));
    }
    ST(y0, a0);
    ST(y1, a1);
    ST(y2, a2);
    ST(y3, a3);
    ST(y4, a4);
    ST(y5, a5);
    ST(y6, a6);
    ST(y7, a7);
}
/* cout == 16: 4 taps per pass, 2 registers each (one 16-byte load of weights per tap and spike). */
static void taps16_group4(int16_t *y, const uint8_t *w, const uint32_t *sp, uint32_t ns, const uint32_t *t) {
    int16_t *const y0 = y + t[0], *const y1 = y + t[2], *const y2 = y + t[4], *const y3 = y + t[6];
    const uint8_t *const w0 = w + t[1], *const w1 = w + t[3], *const w2 = w + t[5], *const w3 = w + t[7];
    __m128i a0 = LD(y0), b0 = LD(y0 + 8), a1 = LD(y1), b1 = LD(y1 + 8), a2 = LD(y2), b2 = LD(y2 + 8);
    __m128i a3 = LD(y3), b3 = LD(y3 + 8);
    const uint32_t *const end = sp + ns;
    for (; sp != end; sp++) {
        const uint32_t o = *sp;
        __m128i v;
        v = LD(w0 + o);
        a0 = _mm_add_epi16(a0, SX_LO(v));
        b0 = _mm_add_epi16(b0, SX_HI(v));
        v = LD(w1 + o);
        a1 = _mm_add_epi16(a1, SX_LO(v));
        b1 = _mm_add_epi16(b1, SX_HI(v));
        v = LD(w2 + o);
        a2 = _mm_add_epi16(a2, SX_LO(v));
        b2 = _mm_add_epi16(b2, SX_HI(v));
        v = LD(w3 + o);
        a3 = _mm_add_epi16(a3, SX_LO(v));
        b3 = _mm_add_epi16(b3, SX_HI(v));
    }
    ST(y0, a0);
    ST(y0 + 8, b0);
    ST(y1, a1);
    ST(y1 + 8, b1);
    ST(y2, a2);
    ST(y2 + 8, b2);
    ST(y3, a3);
    ST(y3 + 8, b3);
}
static void taps_host(int16_t *y, const uint8_t *w, uint32_t cout, const uint32_t *sp, uint32_t ns,
                      const uint32_t *taps) {
    uint32_t nt = *taps++;
    uint32_t t, s, j;
    if (cout == 8u)
        for (; nt >= 8u; nt -= 8u, taps += 16) taps8_group8(y, w, sp, ns, taps);
    else if (cout == 16u)
        for (; nt >= 4u; nt -= 4u, taps += 8) taps16_group4(y, w, sp, ns, taps);
    for (t = 0; t < nt; t++) {
        int16_t *acc = y + taps[2u * t];
        const uint8_t *wt = w + taps[2u * t + 1u];
        j = 0;
        for (; j + 32u <= cout; j += 32u) {
            __m128i a0 = _mm_loadu_si128((const __m128i *)(void *)(acc + j));
            __m128i a1 = _mm_loadu_si128((const __m128i *)(void *)(acc + j + 8u));
            __m128i a2 = _mm_loadu_si128((const __m128i *)(void *)(acc + j + 16u));
            __m128i a3 = _mm_loadu_si128((const __m128i *)(void *)(acc + j + 24u));
            for (s = 0; s < ns; s++) {
                const __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(wt + j + sp[s]));
                const __m128i u = _mm_loadu_si128((const __m128i *)(const void *)(wt + j + sp[s] + 16u));
                a0 = _mm_add_epi16(a0, SX_LO(v));
                a1 = _mm_add_epi16(a1, SX_HI(v));
                a2 = _mm_add_epi16(a2, SX_LO(u));
                a3 = _mm_add_epi16(a3, SX_HI(u));
            }
            _mm_storeu_si128((__m128i *)(void *)(acc + j), a0);
            _mm_storeu_si128((__m128i *)(void *)(acc + j + 8u), a1);
            _mm_storeu_si128((__m128i *)(void *)(acc + j + 16u), a2);
            _mm_storeu_si128((__m128i *)(void *)(acc + j + 24u), a3);
        }
        if (j + 16u <= cout) {
            __m128i a0 = _mm_loadu_si128((const __m128i *)(void *)(acc + j));
            __m128i a1 = _mm_loadu_si128((const __m128i *)(void *)(acc + j + 8u));
            for (s = 0; s < ns; s++) {
                const __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(wt + j + sp[s]));
                a0 = _mm_add_epi16(a0, SX_LO(v));
                a1 = _mm_add_epi16(a1, SX_HI(v));
            }
            _mm_storeu_si128((__m128i *)(void *)(acc + j), a0);
            _mm_storeu_si128((__m128i *)(void *)(acc + j + 8u), a1);
            j += 16u;
        }
        if (j < cout) { /* cout % 8 == 0 (acc16) */
            __m128i a0 = _mm_loadu_si128((const __m128i *)(void *)(acc + j));
            for (s = 0; s < ns; s++) a0 = _mm_add_epi16(a0, SX_LO(_mm_loadl_epi64((const __m128i *)(const void *)(wt + j + sp[s]))));
            _mm_storeu_si128((__m128i *)(void *)(acc + j), a0);
        }
    }
}
#else
#define ESNN_CONV_SSE2 0
/* acc[0..8) += the 8 weights at wt + sp[s] for every spike: a fixed-width loop (one vector register). */
static void lanes8(int16_t *restrict acc, const int8_t *restrict wt, const uint32_t *restrict sp, uint32_t ns) {
    int16_t a[8];
    uint32_t s, k;
    memcpy(a, acc, sizeof a);
    for (s = 0; s < ns; s++) {
        const int8_t *ws = wt + sp[s];
        for (k = 0; k < 8u; k++) a[k] = (int16_t)(a[k] + ws[k]);
    }
    memcpy(acc, a, sizeof a);
}
static void lanes16(int16_t *restrict acc, const int8_t *restrict wt, const uint32_t *restrict sp, uint32_t ns) {
    int16_t a[16];
    uint32_t s, k;
    memcpy(a, acc, sizeof a);
    for (s = 0; s < ns; s++) {
        const int8_t *ws = wt + sp[s];
        for (k = 0; k < 16u; k++) a[k] = (int16_t)(a[k] + ws[k]);
    }
    memcpy(acc, a, sizeof a);
}
static void taps_host(int16_t *y, const uint8_t *w, uint32_t cout, const uint32_t *sp, uint32_t ns,
                      const uint32_t *taps) {
    const uint32_t nt = *taps++;
    uint32_t t, j;
    for (t = 0; t < nt; t++) {
        int16_t *acc = y + taps[2u * t];
        const int8_t *wt = (const int8_t *)w + taps[2u * t + 1u];
        for (j = 0; j + 16u <= cout; j += 16u) lanes16(acc + j, wt + j, sp, ns);
        if (j < cout) lanes8(acc + j, wt + j, sp, ns); /* cout % 8 == 0 (acc16) */
    }
}
#endif
#endif

/* The taps of one pixel (table as in taps8_simd / taps_host, accumulator offsets from `base`) for the spikes
 * of one input word. Spike entries: Cortex-M4 SIMD builds the address of the channel's weight block, hosts its
 * offset in w. */
static void run_taps(int16_t *base, const uint8_t *w, uint32_t cout, const uint32_t *sp, uint32_t ns,
                     const uint32_t *taps) {
#if ESNN_SIMD32
    uint32_t t, j;
    (void)w;
    if (cout == 8u) {
        taps8_simd(taps, base, sp, sp + ns);
        return;
    }
    for (t = 0; t < taps[0]; t++) {
        int16_t *acc = (int16_t *)(void *)((uint8_t *)base + taps[1u + 2u * t]);
        const uint32_t wt = taps[2u + 2u * t];
        for (j = 0; j + 16u <= cout; j += 16u) chunk16_simd(acc + j, wt + j, sp, sp + ns);
        if (j < cout) chunk8_simd(acc + j, wt + j, sp, sp + ns);
    }
    (void)chunk16_c;
#else
    taps_host(base, w, cout, sp, ns, taps);
    (void)chunk16_c;
#endif
}

#if ESNN_SIMD32
#define ACC_UNIT 2u /* accumulator offsets in bytes (asm) */
#else
#define ACC_UNIT 1u /* in int16 elements */
#endif

#if ESNN_SIMD32
/* n stores of the 8 words at `pattern` (which does not overlap them), step bytes apart from p: one stm each. */
static void fill8_m4(uint32_t *p, const uint32_t *pattern, uint32_t n, uint32_t step) {
    register uint32_t *r0 __asm__("r0") = p;
    register const uint32_t *r1 __asm__("r1") = pattern;
    register uint32_t r2 __asm__("r2") = n;
    register uint32_t r3 __asm__("r3") = step;
    if (!n) return;
    __asm__ volatile("ldm r1, {r4, r5, r6, r7, r8, r9, r10, r11}\n"
                     "1:\n\t"
                     "stm r0, {r4, r5, r6, r7, r8, r9, r10, r11}\n\t"
                     "add r0, r0, r3\n\t"
                     "subs r2, r2, #1\n\t"
                     "bne 1b\n"
                     : "+r"(r0), "+r"(r1), "+r"(r2), "+r"(r3)
                     :
                     : "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "cc", "memory");
}
#endif

/* Bias fill of the int16 plane: pixel 0 from the bias, then every later pixel a copy of it. */
static void fill_bias16(const esnn_op_t *op, uint32_t npix, uint32_t *y) {
    const uint32_t cout = op->cout, n = npix * cout / 2u; /* words; cout % 8 == 0 (acc16) */
    uint32_t i;
#if ESNN_SIMD32 /* int16 pairs in the ESNN_CUR16_POS layout; 4 words per store group held in registers */
    uint32_t j;
    for (i = 0; i < cout / 2u; i++)
        y[i] = ((uint32_t)esnn_ld32(op->bias + 4u * ESNN_CUR16_POS(2u * i)) & 0xFFFFu) |
               ((uint32_t)esnn_ld32(op->bias + 4u * ESNN_CUR16_POS(2u * i + 1u)) << 16);
    if (cout == 8u && npix >= 2u) { /* two pixels per 8-word store */
        memcpy(y + 4, y, 16);
        fill8_m4(y + 8, y, (npix - 2u) / 2u, 32u);
        if (npix & 1u) memcpy(y + 4u * (npix - 1u), y, 16); /* the last, odd pixel */
    } else if (cout % 16u == 0) { /* each 8-word group of the pixel pattern */
        for (j = 0; j < cout / 2u; j += 8u) fill8_m4(y + j + cout / 2u, y + j, npix - 1u, 2u * cout);
    } else {
        for (j = 0; j < cout / 2u; j += 4u) {
            const uint32_t b0 = y[j], b1 = y[j + 1u], b2 = y[j + 2u], b3 = y[j + 3u];
            uint32_t *p = y + j + cout / 2u;
            for (i = 1; i < npix; i++, p += cout / 2u) {
                p[0] = b0;
                p[1] = b1;
                p[2] = b2;
                p[3] = b3;
            }
        }
    }
    (void)n;
#else /* doubling copies */
    int16_t *y16 = (int16_t *)(void *)y;
    for (i = 0; i < cout; i++) y16[i] = (int16_t)esnn_ld32(op->bias + 4u * i);
    for (i = cout / 2u; i < n;) {
        const uint32_t k = i <= n - i ? i : n - i;
        memcpy(y + i, y, 4u * k);
        i += k;
    }
#endif
}

/* What the pixel loop needs of the op, read once per call. */
typedef struct {
    const uint8_t *w;
    uint32_t cout, wrow, cw, pstep; /* pstep: words from one pixel of a class to the next (stride * cw) */
    const uint32_t *pairs;          /* Cortex-M4 cout 8, stride 1, interior pixels: pairs8_simd table or 0 */
    uint32_t t16;                   /* Cortex-M4 cout 16: every table run by taps16_simd */
#if ESNN_SIMD32
    /* Cortex-M4 cout 16 / 32 / 64 with 4-aligned weights: every table run spike-outer by this kernel */
    void (*so)(const uint32_t *taps, int16_t *base, const uint32_t *spk, const uint32_t *end);
#endif
} pix_ctx_t;

/* The taps of one pixel for one list of spike entries. */
static inline void pixel_taps(const pix_ctx_t *k, int16_t *base, const uint32_t *sp, uint32_t ns,
                              const uint32_t *taps) {
#if ESNN_SIMD32
    if (k->so) {
        if (taps[0]) k->so(taps, base, sp, sp + ns);
        return;
    }
    if (k->t16) {
        taps16_simd(taps, base, sp, sp + ns);
        return;
    }
    if (k->cout == 8u) {
        if (k->pairs) pairs8_simd(k->pairs, base, sp, sp + ns);
        if (taps[0]) taps8_simd(taps, base, sp, sp + ns);
        return;
    }
#endif
    run_taps(base, k->w, k->cout, sp, ns, taps);
}

/* n pixels of one row and stride class (input words px, px + pstep, ...; accumulator base advancing by cout
 * int16 per pixel), all with the same tap table. Not inlined: its few live values stay in registers across
 * the kernel calls (the asm kernels clobber r4-r11 on Cortex-M4). Spike entries of up to two words are
 * gathered per kernel call. */
#if ESNN_SIMD32
/* One spike word per pixel (cw == 1), the kernel fixed per call: mode 0 taps8_simd, 1 pairs8_simd then
 * taps8_simd (when the table has single taps), 2 taps16_simd. Inlined with a constant mode: the loop holds
 * only pointers in registers. */
static inline void pixels_w1_simd(const uint32_t *px, const uint32_t *pxe, uint32_t pstep, int16_t *base,
                                  uint32_t bstep, uint32_t wbase, uint32_t wrow, const uint32_t *taps,
                                  const uint32_t *pairs, int mode) {
    uint32_t sp[32];
    for (; px != pxe; px += pstep, base += bstep) {
        uint32_t bits = *px, *e = sp;
        if (!bits) continue;
        do {
            *e++ = wbase + esnn_ctz32(bits) * wrow;
            bits &= bits - 1u;
        } while (bits);
        if (mode == 2)
            taps16_simd(taps, base, sp, e);
        else if (mode == 1) {
            pairs8_simd(pairs, base, sp, e);
            if (taps[0]) taps8_simd(taps, base, sp, e);
        } else
            taps8_simd(taps, base, sp, e);
    }
}
#endif

ESNN_NOINLINE static void conv_pixels(const pix_ctx_t *k, int16_t *base, const uint32_t *px, uint32_t n,
                                      const uint32_t *taps) {
    const uint32_t cout = k->cout, wrow = k->wrow, cw = k->cw, pstep = k->pstep;
#if ESNN_SIMD32
    const uint32_t wbase = (uint32_t)(uintptr_t)k->w;
#else
    const uint32_t wbase = 0;
#endif
    uint32_t sp[64];
    if (cw == 1u) {
#if ESNN_SIMD32
        if (k->t16 || cout == 8u) {
            const uint32_t *pxe = px + n * pstep;
            if (k->t16)
                pixels_w1_simd(px, pxe, pstep, base, cout, wbase, wrow, taps, 0, 2);
            else if (k->pairs)
                pixels_w1_simd(px, pxe, pstep, base, cout, wbase, wrow, taps, k->pairs, 1);
            else
                pixels_w1_simd(px, pxe, pstep, base, cout, wbase, wrow, taps, 0, 0);
            return;
        }
#endif
        for (; n; n--, px += pstep, base += cout) {
            uint32_t bits = *px, *e = sp, a = wbase;
            if (!bits) continue;
            do {
                *e++ = a + esnn_ctz32(bits) * wrow;
                bits &= bits - 1u;
            } while (bits);
            pixel_taps(k, base, sp, (uint32_t)(e - sp), taps);
        }
        return;
    }
    for (; n; n--, px += pstep, base += cout) {
        uint32_t g, ns = 0;
        for (g = 0; g < cw; g++) {
            uint32_t bits = px[g];
            const uint32_t a = wbase + g * 32u * wrow;
            if (ns > 32u) {
                pixel_taps(k, base, sp, ns, taps);
                ns = 0;
            }
            while (bits) {
                sp[ns++] = a + esnn_ctz32(bits) * wrow;
                bits &= bits - 1u;
            }
        }
        if (ns) pixel_taps(k, base, sp, ns, taps);
    }
}

/* int16 plane y16[pixel][cout] (ESNN_CUR16_POS layout) in the output's own storage; widened in place to the
 * uint32 [pixel][cout] CURRENT layout unless op->cur16 (its one reader, a LIF, reads the int16 plane).
 * Column taps by stride class q = (ix + pad) % s: an interior pixel (every column tap inside the output) uses
 * its row's class table, built once per input row with offsets from the pixel's first output column; only
 * edge pixels build their own table. */
static void conv_spike16(const esnn_op_t *op, const esnn_buffer_t *in, const esnn_buffer_t *out, const uint32_t *x,
                         uint32_t *y) {
    const uint32_t cout = op->cout, s = op->stride, kh = op->kh, kw = op->kw, pad = op->pad, ow = out->w;
    const uint32_t wrow = kh * kw * cout, npix = (uint32_t)out->h * ow;
    int16_t *y16 = (int16_t *)(void *)y;
    const uint32_t cw = in->cw;
    uint32_t rw[15], ro[15], cwo[15], coo[15];
    uint32_t cls[1u + 2u * 15u * 15u + 15u], et[1u + 2u * 15u * 15u], cstart[15], cm[15];
    uint32_t iy, i;
    pix_ctx_t k;
#if ESNN_SIMD32
    int k3;
#endif
    k.w = op->w;
    k.cout = cout;
    k.wrow = wrow;
    k.cw = cw;
    k.pstep = s * cw;
    fill_bias16(op, npix, y);
    for (i = 0; i < s; i++) cm[i] = i < kw ? (kw - i + s - 1u) / s : 0u; /* column taps of class i */
    k.t16 = ESNN_SIMD32 && cout == 16u;
#if ESNN_SIMD32
    k.so = ((uintptr_t)op->w & 3u) ? 0 : cout == 16u ? so16_simd : cout == 32u ? so32_simd : cout == 64u ? so64_simd : 0;
    if (k.so) k.t16 = 0;
#endif
#if ESNN_SIMD32
    /* 3x3 / stride 1 / pad 1 "same" convs with one spike word per pixel: interior rows by the unrolled kernels */
    k3 = kh == 3u && kw == 3u && s == 1u && pad == 1u && cw == 1u && out->h == in->h && ow == in->w &&
         in->h >= 2u && in->w >= 3u &&
         (cout == 8u || cout == 16u || cout == 32u) && ((uintptr_t)op->w & 3u) == 0 && ((uintptr_t)y & 3u) == 0;
#endif
    for (iy = 0; iy < in->h; iy++) {
        const uint32_t nr = axis_taps(iy, kh, s, pad, out->h, kw * cout, ow * cout, rw, ro);
        const uint32_t *prow = x + iy * in->w * cw;
        uint32_t q, n = 0, r, m;
#if ESNN_SIMD32
        if (k3) { /* the row's interior pixels, then its two edge pixels; no tap tables */
            k3_run(op->w, y16, cout, ow, in->h, iy, prow, 1, in->w - 1u, K3_FULL);
            k3_run(op->w, y16, cout, ow, in->h, iy, prow, 0, 1, K3_LEFT);
            k3_run(op->w, y16, cout, ow, in->h, iy, prow, in->w - 1u, in->w, K3_RIGHT);
            continue;
        }
#endif
        if (nr == 0) continue;
        for (q = 0; q < s && q < kw; q++) { /* class tables: tap (r, m) at column o0 - m of the pixel */
            uint32_t *t = cls + n;
            cstart[q] = n;
            t[0] = nr * cm[q];
            for (r = 0; r < nr; r++)
                for (m = 0; m < cm[q]; m++, t += 2) {
                    t[1] = (ro[r] + (cm[q] - 1u - m) * cout) * ACC_UNIT;
                    t[2] = rw[r] + (q + m * s) * cout;
                }
            n += 1u + 2u * nr * cm[q];
        }
        k.pairs = 0;
#if ESNN_SIMD32
        if (cout == 8u && s == 1u && cw == 1u && cm[0] >= 2u) {
            /* one class: its table becomes the single taps (m = cm - 1 when cm is odd, <= 15 of them), the pairs
             * (m + 1, m) follow at cls + 31 (at most 1 + 2 * 15 * 7 entries) */
            uint32_t *t = cls + 31, *u = cls + 1u, np = cm[0] / 2u;
            t[0] = nr * np;
            for (r = 0; r < nr; r++) {
                for (m = 0; m + 1u < cm[0]; m += 2u, t += 2) {
                    t[1] = (ro[r] + (cm[0] - 2u - m) * cout) * ACC_UNIT;
                    t[2] = rw[r] + m * cout;
                }
                if (cm[0] & 1u) {
                    u[0] = (ro[r] + 0u) * ACC_UNIT; /* m = cm - 1: column 0 */
                    u[1] = rw[r] + (cm[0] - 1u) * cout;
                    u += 2;
                }
            }
            cls[0] = (uint32_t)(u - cls - 1) / 2u;
            k.pairs = cls + 31;
        }
#endif
        /* pixel ix = o0 * s + q - pad of class q; interior: cm[q] - 1 <= o0 < ow (every column tap inside) */
        for (q = 0; q < s && q < kw; q++) {
            /* o0 range of the row's pixels of class q: [olo, ohi) */
            const uint32_t olo = q >= pad ? 0u : (pad - q + s - 1u) / s;
            const uint32_t ohi = in->w + pad > q ? (in->w + pad - q - 1u) / s + 1u : 0u;
            const uint32_t ilo = olo > cm[q] - 1u ? olo : cm[q] - 1u, ihi = ohi < ow ? ohi : ow;
            uint32_t o0;
            if (ilo < ihi)
                conv_pixels(&k, y16 + (ilo + 1u - cm[q]) * cout, prow + (ilo * s + q - pad) * cw, ihi - ilo,
                            cls + cstart[q]);
            for (o0 = olo; o0 < ohi; o0++) {
                const uint32_t ix = o0 * s + q - pad;
                uint32_t nc, c, g, have = 0, *t = et;
                if (o0 >= ilo && o0 < ihi) {
                    o0 = ihi - 1u;
                    continue;
                }
                for (g = 0; g < cw; g++) have |= prow[ix * cw + g];
                if (!have) continue;
                nc = axis_taps(ix, kw, s, pad, ow, cout, cout, cwo, coo);
                if (nc == 0) continue;
                et[0] = nr * nc;
                for (r = 0; r < nr; r++)
                    for (c = 0; c < nc; c++, t += 2) {
                        t[1] = (ro[r] + coo[c]) * ACC_UNIT;
                        t[2] = rw[r] + cwo[c];
                    }
                {
                    const uint32_t *pairs = k.pairs;
                    k.pairs = 0;
                    conv_pixels(&k, y16, prow + ix * cw, 1u, et);
                    k.pairs = pairs;
                }
            }
        }
    }
    if (op->cur16) return;
    /* widen backwards: element i (bytes 4i..) is written after every int16 slot at or past 2i is read */
#if ESNN_SIMD32
    for (i = npix * cout / 4u; i-- > 0;) { /* words 2i, 2i + 1: channels (4i, 4i + 2), (4i + 1, 4i + 3) */
        const uint32_t w0 = y[2u * i], w1 = y[2u * i + 1u];
        y[4u * i] = (uint32_t)(int32_t)esnn_s16((uint16_t)w0);
        y[4u * i + 1u] = (uint32_t)(int32_t)esnn_s16((uint16_t)w1);
        y[4u * i + 2u] = (uint32_t)(int32_t)esnn_s16((uint16_t)(w0 >> 16));
        y[4u * i + 3u] = (uint32_t)(int32_t)esnn_s16((uint16_t)(w1 >> 16));
    }
#else
    for (i = npix * cout; i-- > 0;) {
        const int32_t v = y16[i];
        memcpy(y + i, &v, 4);
    }
#endif
}

void esnn_conv_spike(const esnn_op_t *op, const esnn_buffer_t *in, const esnn_buffer_t *out, const uint32_t *x,
                     uint32_t *y) {
    const uint32_t cout = op->cout, s = op->stride, kh = op->kh, kw = op->kw, pad = op->pad;
    const uint32_t wrow = kh * kw * cout; /* weights per input channel */
    const uint32_t wstride = op->bits == 8 ? wrow : 1u; /* spike offsets: bytes (8-bit) or channel index */
    uint32_t rw[15], ro[15], cwo[15], coo[15], sp[32];
    uint32_t iy, ix, g;
    if (op->acc16) {
        conv_spike16(op, in, out, x, y);
        return;
    }
    fill_bias(op, out, y);
    for (iy = 0; iy < in->h; iy++) {
        const uint32_t nr = axis_taps(iy, kh, s, pad, out->h, kw * cout, (uint32_t)out->w * cout, rw, ro);
        const uint32_t *px = x + iy * in->w * in->cw;
        if (nr == 0) continue;
        for (ix = 0; ix < in->w; ix++, px += in->cw) {
            uint32_t nc = 0, have = 0;
            for (g = 0; g < in->cw; g++) have |= px[g];
            if (!have) continue;
            nc = axis_taps(ix, kw, s, pad, out->w, cout, cout, cwo, coo);
            if (nc == 0) continue;
            for (g = 0; g < in->cw; g++) {
                uint32_t bits = px[g], ns = 0;
                while (bits) {
                    sp[ns++] = (g * 32u + esnn_ctz32(bits)) * wstride;
                    bits &= bits - 1u;
                }
                if (ns == 0) continue;
                if (op->bits == 8) {
                    scatter8(y, op->w, cout, sp, ns, rw, ro, nr, cwo, coo, nc);
                } else {
                    uint32_t r, c, k;
                    for (r = 0; r < nr; r++)
                        for (c = 0; c < nc; c++)
                            for (k = 0; k < ns; k++)
                                add_row(y + ro[r] + coo[c], op->w, sp[k] * wrow + rw[r] + cwo[c], cout, op->bits, 1);
                }
            }
        }
    }
}
