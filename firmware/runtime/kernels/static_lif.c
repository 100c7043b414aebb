#include "static_lif.h"

/* Currents of channels c0 .. c0 + n - 1 (n <= 32) at output pixel (oy, ox): bias + sum of w * x, wrapping in
 * 32 bits as every conv kernel (the exporter proves the sums fit int32; a crafted blob may not: unsigned
 * additions keep that defined), so the order of the additions does not matter. */
static void pixel_currents(const esnn_op_t *o, const esnn_buffer_t *in, const uint8_t *x, uint32_t oy,
                           uint32_t ox, uint32_t c0, uint32_t n, int32_t *acc) {
    uint32_t ci, ky, kx, j;
    for (j = 0; j < n; j++) acc[j] = esnn_ld32(o->bias + 4u * (c0 + j));
    for (ci = 0; ci < o->cin; ci++)
        for (ky = 0; ky < o->kh; ky++) {
            const int32_t iy = (int32_t)(oy * o->stride + ky) - o->pad;
            if (iy < 0 || iy >= (int32_t)in->h) continue;
            for (kx = 0; kx < o->kw; kx++) {
                const int32_t ix = (int32_t)(ox * o->stride + kx) - o->pad;
                const uint32_t wi = ((ci * o->kh + ky) * o->kw + kx) * o->cout + c0;
                int32_t v;
                if (ix < 0 || ix >= (int32_t)in->w) continue;
                v = x[(ci * in->h + (uint32_t)iy) * in->w + (uint32_t)ix];
                if (!v) continue; /* zero pixels (most of an image's background) add nothing */
                if (o->bits == 8) {
                    const int8_t *w = (const int8_t *)o->w + wi;
                    for (j = 0; j < n; j++) acc[j] = esnn_s32((uint32_t)acc[j] + (uint32_t)(v * w[j]));
                } else {
                    for (j = 0; j < n; j++)
                        acc[j] = esnn_s32((uint32_t)acc[j] + (uint32_t)(v * esnn_weight(o->w, wi + j, o->bits)));
                }
            }
        }
}

/* The same for 8 channels of int8 weights, the accumulators in registers (the usual first layer): each kernel
 * row's pixels are gathered first (0 outside the frame), so the multiply loop carries few other values. */
static void pixel_currents8(const esnn_op_t *o, const esnn_buffer_t *in, const uint8_t *x, uint32_t oy,
                            uint32_t ox, uint32_t c0, int32_t *acc) {
    const int8_t *w0 = (const int8_t *)o->w + c0;
    const uint32_t kw = o->kw, cout = o->cout;
    /* unsigned: wrapping sums, as in pixel_currents */
    uint32_t a0 = (uint32_t)esnn_ld32(o->bias + 4u * c0), a1 = (uint32_t)esnn_ld32(o->bias + 4u * c0 + 4u);
    uint32_t a2 = (uint32_t)esnn_ld32(o->bias + 4u * c0 + 8u), a3 = (uint32_t)esnn_ld32(o->bias + 4u * c0 + 12u);
    uint32_t a4 = (uint32_t)esnn_ld32(o->bias + 4u * c0 + 16u), a5 = (uint32_t)esnn_ld32(o->bias + 4u * c0 + 20u);
    uint32_t a6 = (uint32_t)esnn_ld32(o->bias + 4u * c0 + 24u), a7 = (uint32_t)esnn_ld32(o->bias + 4u * c0 + 28u);
    uint8_t vals[15];
    uint32_t ci, ky, kx;
    for (ci = 0; ci < o->cin; ci++)
        for (ky = 0; ky < o->kh; ky++) {
            const int32_t iy = (int32_t)(oy * o->stride + ky) - o->pad;
            const int8_t *w = w0 + (ci * o->kh + ky) * kw * cout;
            const uint8_t *row;
            uint32_t any = 0;
            if (iy < 0 || iy >= (int32_t)in->h) continue;
            row = x + (ci * in->h + (uint32_t)iy) * in->w;
            for (kx = 0; kx < kw; kx++) {
                const int32_t ix = (int32_t)(ox * o->stride + kx) - o->pad;
                vals[kx] = ix < 0 || ix >= (int32_t)in->w ? 0u : row[ix];
                any |= vals[kx];
            }
            if (!any) continue; /* background: nothing to add */
            for (kx = 0; kx < kw; kx++, w += cout) {
                const int32_t v = vals[kx];
                if (!v) continue;
                a0 += (uint32_t)(v * w[0]);
                a1 += (uint32_t)(v * w[1]);
                a2 += (uint32_t)(v * w[2]);
                a3 += (uint32_t)(v * w[3]);
                a4 += (uint32_t)(v * w[4]);
                a5 += (uint32_t)(v * w[5]);
                a6 += (uint32_t)(v * w[6]);
                a7 += (uint32_t)(v * w[7]);
            }
        }
    acc[0] = esnn_s32(a0);
    acc[1] = esnn_s32(a1);
    acc[2] = esnn_s32(a2);
    acc[3] = esnn_s32(a3);
    acc[4] = esnn_s32(a4);
    acc[5] = esnn_s32(a5);
    acc[6] = esnn_s32(a6);
    acc[7] = esnn_s32(a7);
}

uint32_t esnn_static_conv_lif_scratch_bytes(const esnn_op_t *conv) {
    /* one spike word's currents, membranes and thresholds */
    return 4u * 3u * (conv->cout < 32u ? conv->cout : 32u);
}

/* T steps of the LIF for n <= 32 channels of constant currents acc, from membranes h = 0; the spikes of step t
 * to word[(t >> sl) * stride] from bit (t mod 2^sl) * bits (sl = 0, bits = 0: a word per step; T-packed
 * spikes: 2^sl steps of `bits` bits per word); with `state`, the final membranes in h. Returns the spikes.
 * From 0, a constant current I keeps the membrane between 0 and I (U = H + (I - H) m / 2^16 with
 * 0 < m <= 2^16 moves H toward I, floor included), so a channel with I below its threshold never fires: only
 * the others are stepped (and, for the final membranes, all). */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((always_inline)) /* specialised at each call: T-packed, or a word per step as before */
#endif
static inline uint32_t lif_steps(const esnn_op_t *lif, const int32_t *acc, int32_t *h, const int32_t *th,
                                 uint32_t n, uint16_t T, uint32_t *word, uint32_t stride, uint32_t sl,
                                 uint32_t bits, int state) {
    const uint32_t m = lif->leak_mul;
    const int pow2 = (m & (m - 1u)) == 0, bits16 = lif->state_bits == 16;
    unsigned s = 0;
    uint32_t j, t, count = 0;
    while (pow2 && (1u << (16 - s)) != m) s++; /* m = 2^(16 - s): the leak is a shift */
    const uint32_t per = (1u << sl) - 1u;
    for (t = 0; t < T; t++) word[(t >> sl) * stride] = 0; /* T-packed: stride 1 */
    for (j = 0; j < n; j++) {
        const int32_t I = acc[j], theta = th[j];
        int32_t v = 0;
        if (I < theta && !state) continue;
        for (t = 0; t < T; t++) {
            /* U lies between v and I; I - v fits int32 when |I| < 2^30 (v is between 0 and I, or int16), else
             * 64 bits (a crafted blob's currents) */
            int32_t u;
            if (pow2 && I > -0x40000000 && I < 0x40000000)
                u = v + esnn_asr32(I - v, s);
            else
                u = (int32_t)(v + (pow2 ? esnn_asr64((int64_t)I - v, s) : esnn_asr64(((int64_t)I - v) * (int64_t)m, 16)));
            if (u >= theta) {
                word[(t >> sl) * stride] |= 1u << ((t & per) * bits + j);
                count++;
                u = 0;
            }
            v = bits16 ? (u > 32767 ? 32767 : u < -32768 ? -32768 : u) : u;
        }
        h[j] = v;
    }
    return count;
}

uint32_t esnn_static_conv_lif(const esnn_op_t *conv, const esnn_op_t *lif, const esnn_buffer_t *in,
                              const esnn_buffer_t *out, const uint8_t *x, uint16_t T, uint32_t *spikes,
                              uint32_t stride, uint32_t *scratch) {
    /* T-packed output (pack.h): a pixel's T steps in out->stride words, `bits` bits per step */
    const uint32_t C = out->c, cw = out->pack ? out->stride : out->cw;
    const uint32_t sl = out->pack ? esnn_pack_shift(out) : 0u, bits = out->pack ? esnn_pack_bits(out) : 0u;
    const int bits16 = lif->state_bits == 16;
    uint32_t oy, ox, c0, j, count = 0;
    const uint32_t nc = C < 32u ? C : 32u;
    int32_t *const acc = (int32_t *)(void *)scratch, *const h = acc + nc, *const th = h + nc;
    for (c0 = 0; c0 < C; c0 += 32u) { /* one spike word: 32 channels */
        const uint32_t n = C - c0 < 32u ? C - c0 : 32u;
        for (j = 0; j < n; j++) th[j] = esnn_ld32(lif->bias + 4u * (c0 + j));
        for (oy = 0; oy < out->h; oy++)
            for (ox = 0; ox < out->w; ox++) {
                const uint32_t p = oy * out->w + ox;
                uint32_t *word = spikes + p * cw + (c0 >> 5), k;
                if (conv->bits == 8 && n % 8u == 0)
                    for (k = 0; k < n; k += 8u) pixel_currents8(conv, in, x, oy, ox, c0 + k, acc + k);
                else
                    pixel_currents(conv, in, x, oy, ox, c0, n, acc);
                if (out->pack)
                    count += lif_steps(lif, acc, h, th, n, T, word, 1u, sl, bits, lif->state != NULL);
                else
                    count += lif_steps(lif, acc, h, th, n, T, word, stride, 0u, 0u, lif->state != NULL);
                if (lif->state)
                    for (j = 0; j < n; j++) {
                        if (bits16) ((int16_t *)lif->state)[p * C + c0 + j] = (int16_t)h[j];
                        else ((int32_t *)lif->state)[p * C + c0 + j] = h[j];
                    }
            }
    }
    return count;
}
