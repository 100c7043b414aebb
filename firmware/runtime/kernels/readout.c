#include "readout.h"

static void add_row(const esnn_op_t *op, uint32_t c, int32_t *logits) {
    uint32_t k, K = op->cout;
    if (op->bits == 8) {
        const int8_t *w = (const int8_t *)op->w + c * K;
        for (k = 0; k < K; k++) logits[k] = esnn_s32((uint32_t)logits[k] + (uint32_t)(int32_t)w[k]);
    } else {
        for (k = 0; k < K; k++)
            logits[k] = esnn_s32((uint32_t)logits[k] + (uint32_t)esnn_weight(op->w, c * K + k, op->bits));
    }
}

void esnn_readout_ref(const esnn_op_t *op, const esnn_buffer_t *in, const uint32_t *x, int32_t *logits) {
    uint32_t p, c, k, npix = (uint32_t)in->h * in->w;
    for (p = 0; p < npix; p++)
        for (c = 0; c < in->c; c++)
            if ((x[p * in->cw + c / 32] >> (c % 32)) & 1u)
                for (k = 0; k < op->cout; k++)
                    logits[k] = esnn_s32((uint32_t)logits[k] + (uint32_t)esnn_weight(op->w, c * op->cout + k, op->bits));
}

void esnn_readout(const esnn_op_t *op, const esnn_buffer_t *in, const uint32_t *x, int32_t *logits) {
    uint32_t i, g, n = in->words;
    for (i = 0; i < n; i += in->cw)
        for (g = 0; g < in->cw; g++) {
            uint32_t bits = x[i + g];
            while (bits) {
                add_row(op, g * 32u + esnn_ctz32(bits), logits);
                bits &= bits - 1u;
            }
        }
}
