#include "lif.h"

static int32_t wrap32(int64_t v) { return esnn_s32((uint32_t)(uint64_t)v); }

/* Reference: floor division written out with C99's truncating '/' and a correction. */
uint32_t esnn_lif_ref(const esnn_op_t *op, const esnn_buffer_t *buf, const uint32_t *current, uint32_t *spikes) {
    uint32_t p, c, count = 0, npix = (uint32_t)buf->h * buf->w;
    for (p = 0; p < npix; p++) {
        for (c = 0; c < buf->c; c++) {
            uint32_t i = p * buf->c + c;
            int64_t h = op->state_bits == 16 ? ((int16_t *)op->state)[i] : ((int32_t *)op->state)[i];
            int64_t prod = ((int64_t)esnn_s32(current[i]) - h) * (int64_t)op->leak_mul;
            int64_t q = prod / 65536;
            int64_t u;
            int fired;
            if (prod % 65536 != 0 && prod < 0) q -= 1;
            u = h + q;
            fired = u >= (int64_t)esnn_s32(esnn_rd32(op->bias + 4u * c));
            if (fired) u = 0;
            if (op->state_bits == 16) {
                if (u > 32767) u = 32767;
                if (u < -32768) u = -32768;
                ((int16_t *)op->state)[i] = (int16_t)u;
            } else {
                ((int32_t *)op->state)[i] = wrap32(u);
            }
            if (c % 32 == 0) spikes[p * buf->cw + c / 32] = 0;
            if (fired) {
                spikes[p * buf->cw + c / 32] |= 1u << (c % 32);
                count++;
            }
        }
    }
    return count;
}

uint32_t esnn_lif(const esnn_op_t *op, const esnn_buffer_t *buf, const uint32_t *current, uint32_t *spikes) {
    const uint32_t C = buf->c, npix = (uint32_t)buf->h * buf->w;
    const int64_t m = (int64_t)op->leak_mul;
    uint32_t p, c, count = 0;
    for (p = 0; p < npix; p++) {
        const uint32_t *in = current + p * C;
        uint32_t *sp = spikes + p * buf->cw;
        for (c = 0; c < C; c += 32) {
            uint32_t word = 0, b, nb = C - c < 32 ? C - c : 32;
            for (b = 0; b < nb; b++) {
                uint32_t i = p * C + c + b;
                int64_t h, u;
                int32_t th = esnn_s32(esnn_rd32(op->bias + 4u * (c + b)));
                if (op->state_bits == 16) {
                    int16_t *st = (int16_t *)op->state;
                    h = st[i];
                    u = h + esnn_asr64(((int64_t)esnn_s32(in[c + b]) - h) * m, 16);
                    if (u >= th) {
                        st[i] = 0;
                        word |= 1u << b;
                    } else {
                        st[i] = (int16_t)(u > 32767 ? 32767 : u < -32768 ? -32768 : u);
                    }
                } else {
                    int32_t *st = (int32_t *)op->state;
                    h = st[i];
                    u = h + esnn_asr64(((int64_t)esnn_s32(in[c + b]) - h) * m, 16);
                    if (u >= th) {
                        st[i] = 0;
                        word |= 1u << b;
                    } else {
                        st[i] = wrap32(u);
                    }
                }
            }
            sp[c >> 5] = word;
#if defined(__GNUC__) || defined(__clang__)
            count += (uint32_t)__builtin_popcount(word);
#else
            while (word) { word &= word - 1u; count++; }
#endif
        }
    }
    return count;
}
