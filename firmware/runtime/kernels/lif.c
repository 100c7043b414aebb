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

/* One neuron: returns 1 when it fires. u = H + floor((I - H) * m / 2^16) always lies between H and I (m <= 2^16),
 * so it fits int32 and the 32-bit state never wraps; only the 16-bit state saturates. A power-of-two leak
 * (m = 2^(16 - s)) is the shift floor((I - H) / 2^s) of the exact 64-bit difference. */
static inline uint32_t lif_neuron(int32_t I, int32_t h, int32_t th, uint32_t m, int pow2, unsigned s,
                                  int32_t *state) {
    const int64_t d = (int64_t)I - h;
    const int32_t u = (int32_t)(h + (pow2 ? esnn_asr64(d, s) : esnn_asr64(d * (int64_t)m, 16)));
    const uint32_t fired = u >= th;
    *state = fired ? 0 : u;
    return fired;
}

/* The loop body specialised by the compiler for each (state width, power-of-two leak) pair. */
static inline uint32_t lif_loop(const esnn_op_t *op, const esnn_buffer_t *buf, const uint32_t *current,
                                uint32_t *spikes, int bits16, int pow2, unsigned s) {
    const uint32_t C = buf->c, npix = (uint32_t)buf->h * buf->w, m = op->leak_mul;
    const uint8_t *thr = op->bias;
    int16_t *st16 = (int16_t *)op->state;
    int32_t *st32 = (int32_t *)op->state;
    uint32_t p, c, count = 0;
    for (p = 0; p < npix; p++, current += C, spikes += buf->cw) {
        for (c = 0; c < C; c += 32u) {
            const uint32_t nb = C - c < 32u ? C - c : 32u;
            uint32_t word = 0, b;
            for (b = 0; b < nb; b++) {
                const uint32_t i = p * C + c + b;
                const int32_t th = esnn_s32(esnn_rd32(thr + 4u * (c + b)));
                int32_t u;
                if (bits16) {
                    word |= lif_neuron(esnn_s32(current[c + b]), st16[i], th, m, pow2, s, &u) << b;
                    st16[i] = (int16_t)(u > 32767 ? 32767 : u < -32768 ? -32768 : u);
                } else {
                    word |= lif_neuron(esnn_s32(current[c + b]), st32[i], th, m, pow2, s, &u) << b;
                    st32[i] = u;
                }
            }
            spikes[c >> 5] = word;
#if defined(__GNUC__) || defined(__clang__)
            count += (uint32_t)__builtin_popcount(word);
#else
            while (word) {
                word &= word - 1u;
                count++;
            }
#endif
        }
    }
    return count;
}

uint32_t esnn_lif(const esnn_op_t *op, const esnn_buffer_t *buf, const uint32_t *current, uint32_t *spikes) {
    const uint32_t m = op->leak_mul;
    unsigned s = 16;
    if ((m & (m - 1u)) == 0) { /* 2^(16 - s) */
        while ((1u << (16u - s)) != m) s--;
        return op->state_bits == 16 ? lif_loop(op, buf, current, spikes, 1, 1, s)
                                    : lif_loop(op, buf, current, spikes, 0, 1, s);
    }
    return op->state_bits == 16 ? lif_loop(op, buf, current, spikes, 1, 0, 0)
                                : lif_loop(op, buf, current, spikes, 0, 0, 0);
}
