#include "conv.h"
#include "conv_host.h"
#include "conv_m4.h"

static void fill_bias(const esnn_op_t *op, uint32_t npix, uint32_t *y) {
    uint32_t p, co;
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
                  uint32_t *y, uint32_t r0, uint32_t r1, uint32_t *scratch) {
    const uint32_t cout = op->cout, plane = (uint32_t)in->h * in->w;
    uint32_t oy, ox, ci, ky, kx;
    uint32_t ioy0 = 0, ioy1 = 0, iox0 = 0, iox1 = 0; /* outputs done by the interior kernel: [ioy0, ioy1) x ... */
    (void)scratch;
    fill_bias(op, (r1 - r0) * out->w, y);
#if ESNN_SIMD32
    /* interior outputs: o * s - pad >= 0 and o * s - pad + k <= n, within rows [r0, r1) */
    ioy0 = (op->pad + op->stride - 1u) / op->stride;
    iox0 = ioy0;
    ioy1 = in->h + op->pad >= op->kh ? (in->h + op->pad - op->kh) / op->stride + 1u : 0u;
    iox1 = in->w + op->pad >= op->kw ? (in->w + op->pad - op->kw) / op->stride + 1u : 0u;
    ioy1 = ioy1 < r1 ? ioy1 : r1;
    ioy0 = ioy0 > r0 ? ioy0 : r0;
    iox1 = iox1 < out->w ? iox1 : out->w;
    if (ioy0 >= ioy1 || iox0 >= iox1 ||
        !esnn_conv_u8_interior_m4(op, in, out, x, y, r0, ioy0, ioy1, iox0, iox1, scratch))
        ioy0 = ioy1 = iox0 = iox1 = 0;
#endif
    for (oy = r0; oy < r1; oy++) {
        int32_t iy0 = (int32_t)(oy * op->stride) - op->pad;
        for (ox = 0; ox < out->w; ox++) {
            int32_t ix0 = (int32_t)(ox * op->stride) - op->pad;
            uint32_t *acc = y + ((oy - r0) * out->w + ox) * cout;
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


/* ---- scratch (esnn_conv_scratch_bytes) ------------------------------------------------------------------
 * uint32 words, in this order: sp[min(64, cin)] spike entries of one pixel (a pixel's words are gathered until
 * more than 32, so at most 64, and never more than cin), rw / ro [nr] and cwo / coo [nc] axis taps (nr =
 * ceil(kh / s), nc = ceil(kw / s): axis_taps gives at most ceil(K / s)), cm / cstart [s], the class tap tables
 * cls (one per stride class q < min(s, kw): 1 + 2 nr cm[q] words, cm summing to kw; the Cortex-M4 cout-8 stride-1
 * pair table at cls + 31 needs 32 + 2 nr floor(kw / 2)) and the edge pixel table et [1 + 2 nr nc]. Sized from the
 * geometry alone so that the arena is the same on every target. */
typedef struct {
    uint32_t *sp, *rw, *ro, *cwo, *coo, *cm, *cstart, *cls, *et;
} conv_scratch_t;

static uint32_t conv_scratch_words(const esnn_op_t *op, uint32_t *base, conv_scratch_t *sc) {
    const uint32_t s = op->stride, kw = op->kw, nr = (op->kh + s - 1u) / s, nc = (kw + s - 1u) / s;
    const uint32_t nsp = op->cin < 64u ? op->cin : 64u;
    uint32_t ncls = (s < kw ? s : kw) + 2u * nr * kw, n = 0;
    if (s == 1u && kw >= 2u && op->cout == 8u && op->cin <= 32u && 32u + 2u * nr * (kw / 2u) > ncls)
        ncls = 32u + 2u * nr * (kw / 2u);
#define ESNN_CONV_SCRATCH_(field, words)          \
    do {                                          \
        if (sc) sc->field = base + n;             \
        n += (words);                             \
    } while (0)
    ESNN_CONV_SCRATCH_(sp, nsp);
    ESNN_CONV_SCRATCH_(rw, nr);
    ESNN_CONV_SCRATCH_(ro, nr);
    ESNN_CONV_SCRATCH_(cwo, nc);
    ESNN_CONV_SCRATCH_(coo, nc);
    ESNN_CONV_SCRATCH_(cm, s);
    ESNN_CONV_SCRATCH_(cstart, s);
    ESNN_CONV_SCRATCH_(cls, ncls);
    ESNN_CONV_SCRATCH_(et, 1u + 2u * nr * nc);
#undef ESNN_CONV_SCRATCH_
    return n;
}

uint32_t esnn_conv_scratch_bytes(const esnn_op_t *op) {
    const uint32_t ntaps = (uint32_t)op->cin * op->kh * op->kw;
    if (op->in0 == 0) return op->bits == 8 && op->cout % 4u == 0 && ntaps <= 64u ? 8u * ntaps : 0u;
    return 4u * conv_scratch_words(op, NULL, NULL);
}

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
                for (; j + 8u <= cout; j += 8u) esnn_chunk8_i32_m4(acc + j, wt + j, sp, sp + ns);
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
/* acc[0..n) += weight rows wt + sp[s] for every spike s (n = 8 or 16), int16, in the ESNN_CUR16_POS layout. */
static void chunk16_c(int16_t *acc, const uint8_t *wt, const uint32_t *sp, uint32_t ns, uint32_t n) {
    uint32_t s, k;
    for (k = 0; k < n; k++) {
        int32_t a = acc[ESNN_CUR16_POS(k)];
        for (s = 0; s < ns; s++) a += ((const int8_t *)wt)[sp[s] + k];
        acc[ESNN_CUR16_POS(k)] = (int16_t)a;
    }
}

/* The taps of one pixel (table as in esnn_taps8_m4 / esnn_taps_host, accumulator offsets from `base`) for the
 * spikes of one input word. Spike entries: Cortex-M4 SIMD builds the address of the channel's weight block, hosts its
 * offset in w. */
static void run_taps(int16_t *base, const uint8_t *w, uint32_t cout, const uint32_t *sp, uint32_t ns,
                     const uint32_t *taps) {
#if ESNN_SIMD32
    uint32_t t, j;
    (void)w;
    if (cout == 8u) {
        esnn_taps8_m4(taps, base, sp, sp + ns);
        return;
    }
    for (t = 0; t < taps[0]; t++) {
        int16_t *acc = (int16_t *)(void *)((uint8_t *)base + taps[1u + 2u * t]);
        const uint32_t wt = taps[2u + 2u * t];
        for (j = 0; j + 16u <= cout; j += 16u) esnn_chunk16_m4(acc + j, wt + j, sp, sp + ns);
        if (j < cout) esnn_chunk8_m4(acc + j, wt + j, sp, sp + ns);
    }
    (void)chunk16_c;
#else
    esnn_taps_host(base, w, cout, sp, ns, taps);
    (void)chunk16_c;
#endif
}

#if ESNN_SIMD32
#define ACC_UNIT 2u /* accumulator offsets in bytes (asm) */
#else
#define ACC_UNIT 1u /* in int16 elements */
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
        esnn_fill8_m4(y + 8, y, (npix - 2u) / 2u, 32u);
        if (npix & 1u) memcpy(y + 4u * (npix - 1u), y, 16); /* the last, odd pixel */
    } else if (cout % 16u == 0) { /* each 8-word group of the pixel pattern */
        for (j = 0; j < cout / 2u; j += 8u) esnn_fill8_m4(y + j + cout / 2u, y + j, npix - 1u, 2u * cout);
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
    const uint32_t *pairs;          /* Cortex-M4 cout 8, stride 1, interior pixels: esnn_pairs8_m4 table or 0 */
    uint32_t t16;                   /* Cortex-M4 cout 16 without `so`: every table run by esnn_taps16_m4 */
    uint32_t *sp;                   /* spike entries of one pixel (scratch, up to min(64, cin)) */
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
        esnn_taps16_m4(taps, base, sp, sp + ns);
        return;
    }
    if (k->cout == 8u) {
        if (k->pairs) esnn_pairs8_m4(k->pairs, base, sp, sp + ns);
        if (taps[0]) esnn_taps8_m4(taps, base, sp, sp + ns);
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
/* One spike word per pixel (cw == 1), the kernel fixed per call: mode 0 esnn_taps8_m4, 1 esnn_pairs8_m4 then
 * esnn_taps8_m4 (when the table has single taps), 2 esnn_taps16_m4. Inlined with a constant mode: the loop
 * holds only pointers in registers. */
static inline void pixels_w1_simd(const uint32_t *px, const uint32_t *pxe, uint32_t pstep, int16_t *base,
                                  uint32_t bstep, uint32_t wbase, uint32_t wrow, const uint32_t *taps,
                                  const uint32_t *pairs, int mode, uint32_t *sp) {
    for (; px != pxe; px += pstep, base += bstep) {
        uint32_t bits = *px, *e = sp;
        if (!bits) continue;
        do {
            *e++ = wbase + esnn_ctz32(bits) * wrow;
            bits &= bits - 1u;
        } while (bits);
        if (mode == 2)
            esnn_taps16_m4(taps, base, sp, e);
        else if (mode == 1) {
            esnn_pairs8_m4(pairs, base, sp, e);
            if (taps[0]) esnn_taps8_m4(taps, base, sp, e);
        } else
            esnn_taps8_m4(taps, base, sp, e);
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
    uint32_t *const sp = k->sp;
    if (cw == 1u) {
#if ESNN_SIMD32
        if (k->t16 || cout == 8u) {
            const uint32_t *pxe = px + n * pstep;
            if (k->t16)
                pixels_w1_simd(px, pxe, pstep, base, cout, wbase, wrow, taps, 0, 2, sp);
            else if (k->pairs)
                pixels_w1_simd(px, pxe, pstep, base, cout, wbase, wrow, taps, k->pairs, 1, sp);
            else
                pixels_w1_simd(px, pxe, pstep, base, cout, wbase, wrow, taps, 0, 0, sp);
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
                         int16_t *y16, uint32_t row0, uint32_t iy0, uint32_t iy1, const conv_scratch_t *sc) {
    const uint32_t cout = op->cout, s = op->stride, kh = op->kh, kw = op->kw, pad = op->pad, ow = out->w;
    const uint32_t wrow = kh * kw * cout, rowoff = row0 * ow * cout; /* y16 holds output rows from row0 on */
    const uint32_t cw = in->cw;
    uint32_t *const rw = sc->rw, *const ro = sc->ro, *const cwo = sc->cwo, *const coo = sc->coo;
    uint32_t *const cls = sc->cls, *const et = sc->et, *const cstart = sc->cstart, *const cm = sc->cm;
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
    k.sp = sc->sp;
    for (i = 0; i < s; i++) cm[i] = i < kw ? (kw - i + s - 1u) / s : 0u; /* column taps of class i */
    k.t16 = ESNN_SIMD32 && cout == 16u;
#if ESNN_SIMD32
    k.so = ((uintptr_t)op->w & 3u) ? 0
           : cout == 16u          ? esnn_so16_m4
           : cout == 32u          ? esnn_so32_m4
           : cout == 64u          ? esnn_so64_m4
                                  : 0;
    if (k.so) k.t16 = 0;
#endif
#if ESNN_SIMD32
    /* 3x3 / stride 1 / pad 1 "same" convs with one spike word per pixel: every row by the unrolled kernels */
    k3 = kh == 3u && kw == 3u && s == 1u && pad == 1u && cw == 1u && out->h == in->h && ow == in->w &&
         in->h >= 2u && in->w >= 3u &&
         (cout == 8u || cout == 16u || cout == 32u) && ((uintptr_t)op->w & 3u) == 0 && ((uintptr_t)y16 & 3u) == 0;
    ESNN_TRACE_RAN(op, k3 ? ESNN_KERNEL_CONV_K3_M4 : k.so ? ESNN_KERNEL_CONV_SO_M4 : ESNN_KERNEL_CONV_ACC16);
#else
    ESNN_TRACE_RAN(op, ESNN_KERNEL_CONV_ACC16);
#endif
    for (iy = iy0; iy < iy1; iy++) {
        const uint32_t *prow = x + iy * in->w * cw;
        uint32_t q, n = 0, r, m, nr;
#if ESNN_SIMD32
        if (k3) { /* the row's interior pixels, then its two edge pixels; no tap tables */
            esnn_k3_run(op->w, y16, row0, cout, ow, in->h, iy, prow, 1, in->w - 1u, ESNN_K3_INTERIOR);
            esnn_k3_run(op->w, y16, row0, cout, ow, in->h, iy, prow, 0, 1, ESNN_K3_LEFT);
            esnn_k3_run(op->w, y16, row0, cout, ow, in->h, iy, prow, in->w - 1u, in->w, ESNN_K3_RIGHT);
            continue;
        }
#endif
        nr = axis_taps(iy, kh, s, pad, out->h, kw * cout, ow * cout, rw, ro);
        if (nr == 0) continue;
        for (r = 0; r < nr; r++) ro[r] -= rowoff; /* every output row this input row reaches is held */
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
}

/* The whole plane: bias, every input row, then (unless op->cur16) widened to int32 in place. */
static void conv_spike16_plane(const esnn_op_t *op, const esnn_buffer_t *in, const esnn_buffer_t *out,
                               const uint32_t *x, uint32_t *y, const conv_scratch_t *sc) {
    const uint32_t cout = op->cout, npix = (uint32_t)out->h * out->w;
    uint32_t i;
    fill_bias16(op, npix, y);
    conv_spike16(op, in, out, x, (int16_t *)(void *)y, 0, 0, in->h, sc);
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
        const int32_t v = ((const int16_t *)(const void *)y)[i];
        memcpy(y + i, &v, 4);
    }
#endif
}

void esnn_conv_spike16_rows(const esnn_op_t *op, const esnn_buffer_t *in, const esnn_buffer_t *out,
                            const uint32_t *x, int16_t *y16, uint32_t row0, uint32_t iy0, uint32_t iy1,
                            uint32_t *scratch) {
    conv_scratch_t sc;
    conv_scratch_words(op, scratch, &sc);
    conv_spike16(op, in, out, x, y16, row0, iy0, iy1, &sc);
}

void esnn_conv_fill_bias16(const esnn_op_t *op, uint32_t npix, int16_t *y16) {
    fill_bias16(op, npix, (uint32_t *)(void *)y16);
}

void esnn_conv_spike(const esnn_op_t *op, const esnn_buffer_t *in, const esnn_buffer_t *out, const uint32_t *x,
                     uint32_t *y, uint32_t *scratch) {
    const uint32_t cout = op->cout, s = op->stride, kh = op->kh, kw = op->kw, pad = op->pad;
    const uint32_t wrow = kh * kw * cout; /* weights per input channel */
    const uint32_t wstride = op->bits == 8 ? wrow : 1u; /* spike offsets: bytes (8-bit) or channel index */
    conv_scratch_t sc;
    uint32_t *rw, *ro, *cwo, *coo, *sp;
    uint32_t iy, ix, g;
    conv_scratch_words(op, scratch, &sc);
    if (op->acc16) {
        conv_spike16_plane(op, in, out, x, y, &sc);
        return;
    }
    ESNN_TRACE_RAN(op, ESNN_KERNEL_CONV_SPIKE32);
    rw = sc.rw;
    ro = sc.ro;
    cwo = sc.cwo;
    coo = sc.coo;
    sp = sc.sp;
    fill_bias(op, (uint32_t)out->h * out->w, y);
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
