#include "conv.h"

static void fill_bias(const esnn_op_t *op, const esnn_buffer_t *out, uint32_t *y) {
    uint32_t p, co, npix = (uint32_t)out->h * out->w;
    for (p = 0; p < npix; p++)
        for (co = 0; co < op->cout; co++) y[p * op->cout + co] = esnn_rd32(op->bias + 4u * co);
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

void esnn_conv_spike(const esnn_op_t *op, const esnn_buffer_t *in, const esnn_buffer_t *out, const uint32_t *x,
                     uint32_t *y) {
    const uint32_t cout = op->cout, s = op->stride, kh = op->kh, kw = op->kw;
    uint32_t iy, ix, g;
    fill_bias(op, out, y);
    for (iy = 0; iy < in->h; iy++)
        for (ix = 0; ix < in->w; ix++) {
            const uint32_t *px = x + (iy * in->w + ix) * in->cw;
            for (g = 0; g < in->cw; g++) {
                uint32_t bits = px[g];
                while (bits) {
                    uint32_t ci = g * 32u + esnn_ctz32(bits), ky, kx;
                    bits &= bits - 1u;
                    /* output (oy, ox) reaches (iy, ix) through (ky, kx) when oy*s + ky - pad == iy */
                    for (ky = 0; ky < kh; ky++) {
                        uint32_t ty = iy + op->pad, oy;
                        if (ty < ky) break;
                        ty -= ky;
                        if (ty % s) continue;
                        oy = ty / s;
                        if (oy >= out->h) continue;
                        for (kx = 0; kx < kw; kx++) {
                            uint32_t tx = ix + op->pad, ox;
                            if (tx < kx) break;
                            tx -= kx;
                            if (tx % s) continue;
                            ox = tx / s;
                            if (ox >= out->w) continue;
                            add_row(y + (oy * out->w + ox) * cout, op->w, ((ci * kh + ky) * kw + kx) * cout, cout,
                                    op->bits, 1);
                        }
                    }
                }
            }
        }
}
