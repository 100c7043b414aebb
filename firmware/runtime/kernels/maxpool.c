#include "maxpool.h"

void esnn_maxpool_ref(const esnn_op_t *op, const esnn_buffer_t *in, const esnn_buffer_t *out, const uint32_t *x,
                      uint32_t *y) {
    uint32_t c, oy, ox, ky, kx;
    for (oy = 0; oy < out->h; oy++)
        for (ox = 0; ox < out->w; ox++)
            for (c = 0; c < out->c; c++) {
                uint32_t bit = 0;
                for (ky = 0; ky < op->kh; ky++)
                    for (kx = 0; kx < op->kh; kx++) {
                        int32_t iy = (int32_t)(oy * op->stride + ky) - op->pad;
                        int32_t ix = (int32_t)(ox * op->stride + kx) - op->pad;
                        if (iy < 0 || ix < 0 || iy >= (int32_t)in->h || ix >= (int32_t)in->w) continue;
                        bit |= (x[((uint32_t)iy * in->w + (uint32_t)ix) * in->cw + c / 32] >> (c % 32)) & 1u;
                    }
                if (c % 32 == 0) y[(oy * out->w + ox) * out->cw + c / 32] = 0;
                y[(oy * out->w + ox) * out->cw + c / 32] |= bit << (c % 32);
            }
}

void esnn_maxpool(const esnn_op_t *op, const esnn_buffer_t *in, const esnn_buffer_t *out, const uint32_t *x,
                  uint32_t *y) {
    const uint32_t cw = in->cw, k = op->kh;
    uint32_t oy, ox, ky, kx, g;
    for (oy = 0; oy < out->h; oy++) {
        int32_t iy0 = (int32_t)(oy * op->stride) - op->pad;
        for (ox = 0; ox < out->w; ox++) {
            int32_t ix0 = (int32_t)(ox * op->stride) - op->pad;
            uint32_t *o = y + (oy * out->w + ox) * cw;
            for (g = 0; g < cw; g++) o[g] = 0;
            for (ky = 0; ky < k; ky++) {
                int32_t iy = iy0 + (int32_t)ky;
                if (iy < 0 || iy >= (int32_t)in->h) continue;
                for (kx = 0; kx < k; kx++) {
                    int32_t ix = ix0 + (int32_t)kx;
                    const uint32_t *px;
                    if (ix < 0 || ix >= (int32_t)in->w) continue;
                    px = x + ((uint32_t)iy * in->w + (uint32_t)ix) * cw;
                    for (g = 0; g < cw; g++) o[g] |= px[g];
                }
            }
        }
    }
}
