#include "static_lif.h"

/* Currents of channels c0 .. c0 + n - 1 (n <= 32) at output pixel (oy, ox): bias + sum of w * x. Exact: the
 * exporter proves every accumulator fits int32, so the order of the additions does not matter. */
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
                    for (j = 0; j < n; j++) acc[j] += v * w[j];
                } else {
                    for (j = 0; j < n; j++) acc[j] += v * esnn_weight(o->w, wi + j, o->bits);
                }
            }
        }
}

uint32_t esnn_static_conv_lif(const esnn_op_t *conv, const esnn_op_t *lif, const esnn_buffer_t *in,
                              const esnn_buffer_t *out, const uint8_t *x, uint16_t T, uint32_t *spikes,
                              uint32_t stride) {
    const uint32_t C = out->c, npix = (uint32_t)out->h * out->w, m = lif->leak_mul;
    const int pow2 = (m & (m - 1u)) == 0;
    unsigned s = 0;
    uint32_t p, c0, j, t, count = 0;
    int32_t acc[32];
    while (pow2 && (1u << (16 - s)) != m) s++; /* m = 2^(16 - s): the leak is a shift */
    for (p = 0; p < npix; p++)
        for (c0 = 0; c0 < C; c0 += 32u) {
            const uint32_t n = C - c0 < 32u ? C - c0 : 32u;
            uint32_t *word = spikes + p * out->cw + (c0 >> 5);
            pixel_currents(conv, in, x, p / out->w, p % out->w, c0, n, acc);
            for (t = 0; t < T; t++) word[t * stride] = 0;
            for (j = 0; j < n; j++) {
                const int32_t I = acc[j], th = esnn_ld32(lif->bias + 4u * (c0 + j));
                int32_t h = 0;
                for (t = 0; t < T; t++) {
                    const int64_t d = (int64_t)I - h;
                    int32_t u = (int32_t)(h + (pow2 ? esnn_asr64(d, s) : esnn_asr64(d * (int64_t)m, 16)));
                    if (u >= th) {
                        word[t * stride] |= 1u << j;
                        count++;
                        u = 0;
                    }
                    if (lif->state_bits == 16) u = u > 32767 ? 32767 : u < -32768 ? -32768 : u;
                    h = u;
                }
                if (lif->state) {
                    if (lif->state_bits == 16) ((int16_t *)lif->state)[p * C + c0 + j] = (int16_t)h;
                    else ((int32_t *)lif->state)[p * C + c0 + j] = h;
                }
            }
        }
    return count;
}
