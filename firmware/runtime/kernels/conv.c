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

void esnn_conv_u8(const esnn_op_t *op, const esnn_buffer_t *in, const esnn_buffer_t *out, const uint8_t *x,
                  uint32_t *y) {
    const uint32_t cout = op->cout, plane = (uint32_t)in->h * in->w;
    uint32_t oy, ox, ci, ky, kx;
    fill_bias(op, out, y);
    for (oy = 0; oy < out->h; oy++) {
        int32_t iy0 = (int32_t)(oy * op->stride) - op->pad;
        for (ox = 0; ox < out->w; ox++) {
            int32_t ix0 = (int32_t)(ox * op->stride) - op->pad;
            uint32_t *acc = y + (oy * out->w + ox) * cout;
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
static void chunk16_simd(int16_t *acc, const uint8_t *wt, const uint32_t *sp, const uint32_t *end) {
    __asm__ volatile(
        "push {%[acc]}\n\t"
        "ldm %[acc], {r4, r5, r6, r7, r8, r9, r10, r11}\n"
        "1:\n\t"
        "ldr r12, [%[sp]], #4\n\t"
        "add r12, r12, %[wt]\n\t"
        "ldr lr, [r12]\n\t"
        "sxtb16 %[acc], lr\n\t"
        "sadd16 r4, r4, %[acc]\n\t"
        "sxtb16 %[acc], lr, ror #8\n\t"
        "sadd16 r5, r5, %[acc]\n\t"
        "ldr lr, [r12, #4]\n\t"
        "sxtb16 %[acc], lr\n\t"
        "sadd16 r6, r6, %[acc]\n\t"
        "sxtb16 %[acc], lr, ror #8\n\t"
        "sadd16 r7, r7, %[acc]\n\t"
        "ldr lr, [r12, #8]\n\t"
        "sxtb16 %[acc], lr\n\t"
        "sadd16 r8, r8, %[acc]\n\t"
        "sxtb16 %[acc], lr, ror #8\n\t"
        "sadd16 r9, r9, %[acc]\n\t"
        "ldr lr, [r12, #12]\n\t"
        "sxtb16 %[acc], lr\n\t"
        "sadd16 r10, r10, %[acc]\n\t"
        "sxtb16 %[acc], lr, ror #8\n\t"
        "sadd16 r11, r11, %[acc]\n\t"
        "cmp %[sp], %[end]\n\t"
        "bne 1b\n\t"
        "pop {%[acc]}\n\t"
        "stm %[acc], {r4, r5, r6, r7, r8, r9, r10, r11}\n"
        : [sp] "+r"(sp)
        : [acc] "r"(acc), [wt] "r"(wt), [end] "r"(end)
        : "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr", "cc", "memory");
}
/* cout == 8: every tap of the pixel in one loop; taps[2k], taps[2k + 1] = accumulator row and weight row of
 * tap k. Per tap ldrd / ldm / stm and 6 instructions in all, per spike 14 (8 outputs). */
static void taps8_simd(const uint32_t *taps, const uint32_t *tend, const uint32_t *sp, const uint32_t *end) {
    __asm__ volatile(
        "2:\n\t"
        "ldrd r9, r10, [%[taps]], #8\n\t"
        "ldm r9, {r4, r5, r6, r7}\n\t"
        "mov r11, %[sp]\n"
        "1:\n\t"
        "ldr r12, [r11], #4\n\t"
        "add r12, r12, r10\n\t"
        "ldr lr, [r12]\n\t"
        "ldr r12, [r12, #4]\n\t"
        "sxtb16 r8, lr\n\t"
        "sadd16 r4, r4, r8\n\t"
        "sxtb16 r8, lr, ror #8\n\t"
        "sadd16 r5, r5, r8\n\t"
        "sxtb16 r8, r12\n\t"
        "sadd16 r6, r6, r8\n\t"
        "sxtb16 r8, r12, ror #8\n\t"
        "sadd16 r7, r7, r8\n\t"
        "cmp r11, %[end]\n\t"
        "bne 1b\n\t"
        "stm r9, {r4, r5, r6, r7}\n\t"
        "cmp %[taps], %[tend]\n\t"
        "bne 2b\n"
        : [taps] "+r"(taps)
        : [tend] "r"(tend), [sp] "r"(sp), [end] "r"(end)
        : "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr", "cc", "memory");
}
/* 8 outputs (4 words) per spike: 14 instructions. */
static void chunk8_simd(int16_t *acc, const uint8_t *wt, const uint32_t *sp, const uint32_t *end) {
    __asm__ volatile(
        "ldm %[acc], {r4, r5, r6, r7}\n"
        "1:\n\t"
        "ldr r12, [%[sp]], #4\n\t"
        "add r12, r12, %[wt]\n\t"
        "ldr lr, [r12]\n\t"
        "ldr r12, [r12, #4]\n\t"
        "sxtb16 r8, lr\n\t"
        "sadd16 r4, r4, r8\n\t"
        "sxtb16 r8, lr, ror #8\n\t"
        "sadd16 r5, r5, r8\n\t"
        "sxtb16 r8, r12\n\t"
        "sadd16 r6, r6, r8\n\t"
        "sxtb16 r8, r12, ror #8\n\t"
        "sadd16 r7, r7, r8\n\t"
        "cmp %[sp], %[end]\n\t"
        "bne 1b\n\t"
        "stm %[acc], {r4, r5, r6, r7}\n"
        : [sp] "+r"(sp)
        : [acc] "r"(acc), [wt] "r"(wt), [end] "r"(end)
        : "r4", "r5", "r6", "r7", "r8", "r12", "lr", "cc", "memory");
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

static void scatter16(int16_t *y, const uint8_t *w, uint32_t cout, const uint32_t *sp, uint32_t ns,
                      const uint32_t *rw, const uint32_t *ro, uint32_t nr, const uint32_t *cw, const uint32_t *co,
                      uint32_t nc) {
    uint32_t r, c, j;
#if ESNN_SIMD32
    if (cout == 8u) {
        uint32_t taps[2u * 15u * 15u], *t = taps;
        for (r = 0; r < nr; r++)
            for (c = 0; c < nc; c++, t += 2) {
                t[0] = (uint32_t)(uintptr_t)(y + ro[r] + co[c]);
                t[1] = (uint32_t)(uintptr_t)(w + rw[r] + cw[c]);
            }
        taps8_simd(taps, t, sp, sp + ns);
        return;
    }
#endif
    for (r = 0; r < nr; r++)
        for (c = 0; c < nc; c++) {
            int16_t *acc = y + ro[r] + co[c];
            const uint8_t *wt = w + rw[r] + cw[c];
            j = 0;
#if ESNN_SIMD32
            for (; j + 16u <= cout; j += 16u) chunk16_simd(acc + j, wt + j, sp, sp + ns);
            if (j < cout) chunk8_simd(acc + j, wt + j, sp, sp + ns);
#else
            for (; j + 16u <= cout; j += 16u) {
                int16_t a[16];
                uint32_t s, k;
                memcpy(a, acc + j, sizeof a);
                for (s = 0; s < ns; s++) {
                    const int8_t *ws = (const int8_t *)wt + sp[s] + j;
                    for (k = 0; k < 16u; k++) a[k] = (int16_t)(a[k] + ws[k]);
                }
                memcpy(acc + j, a, sizeof a);
            }
            if (j < cout) chunk16_c(acc + j, wt + j, sp, ns, cout - j);
#endif
            (void)chunk16_c;
        }
}

/* int16 plane y16[pixel][cout] (ESNN_CUR16_POS layout) in the output's own storage; widened in place to the
 * uint32 [pixel][cout] CURRENT layout unless op->cur16 (its one reader, a LIF, reads the int16 plane). */
static void conv_spike16(const esnn_op_t *op, const esnn_buffer_t *in, const esnn_buffer_t *out, const uint32_t *x,
                         uint32_t *y) {
    const uint32_t cout = op->cout, s = op->stride, kh = op->kh, kw = op->kw, pad = op->pad;
    const uint32_t wrow = kh * kw * cout, npix = (uint32_t)out->h * out->w;
    int16_t *y16 = (int16_t *)(void *)y;
    uint32_t rw[15], ro[15], cwo[15], coo[15], sp[32];
    uint32_t iy, ix, g, i;
#if ESNN_SIMD32 /* the plane as uint32 words (int16 pairs) throughout: fill, asm scatter, widening */
    for (i = 0; i < cout / 2u; i++)
        y[i] = ((uint32_t)esnn_ld32(op->bias + 4u * ESNN_CUR16_POS(2u * i)) & 0xFFFFu) |
               ((uint32_t)esnn_ld32(op->bias + 4u * ESNN_CUR16_POS(2u * i + 1u)) << 16);
    for (i = cout / 2u; i < npix * cout / 2u; i++) y[i] = y[i - cout / 2u];
#else
    for (i = 0; i < cout; i++) y16[ESNN_CUR16_POS(i)] = (int16_t)esnn_ld32(op->bias + 4u * i);
    for (i = cout; i < npix * cout; i++) y16[i] = y16[i - cout];
#endif
    for (iy = 0; iy < in->h; iy++) {
        const uint32_t nr = axis_taps(iy, kh, s, pad, out->h, kw * cout, (uint32_t)out->w * cout, rw, ro);
        const uint32_t *px = x + iy * in->w * in->cw;
        if (nr == 0) continue;
        for (ix = 0; ix < in->w; ix++, px += in->cw) {
            uint32_t nc, have = 0;
            for (g = 0; g < in->cw; g++) have |= px[g];
            if (!have) continue;
            nc = axis_taps(ix, kw, s, pad, out->w, cout, cout, cwo, coo);
            if (nc == 0) continue;
            for (g = 0; g < in->cw; g++) {
                uint32_t bits = px[g], ns = 0;
                while (bits) {
                    sp[ns++] = (g * 32u + esnn_ctz32(bits)) * wrow;
                    bits &= bits - 1u;
                }
                if (ns) scatter16(y16, op->w, cout, sp, ns, rw, ro, nr, cwo, coo, nc);
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
