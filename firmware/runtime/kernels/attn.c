#include "attn.h"

uint64_t esnn_attn_scratch(uint8_t dim, uint16_t n, uint16_t hidden, const esnn_buffer_t *buf) {
    if (dim == ESNN_ATTN_S) return 3u * (uint64_t)buf->h * buf->w;
    return 3u * (uint64_t)n + hidden;
}

/* z(v)[i] = sum_j w2[i][j] * max(0, (sum_k w1[j][k] v[k]) >> shift), written over z[n]. */
static void bottleneck(const esnn_op_t *op, const int64_t *v, int64_t *hid, int64_t *z) {
    const int8_t *w1 = (const int8_t *)op->w, *w2 = (const int8_t *)op->w2;
    uint32_t i, j, k;
    for (j = 0; j < op->hidden; j++) {
        uint64_t a = 0;
        int64_t s;
        for (k = 0; k < op->n; k++) a += (uint64_t)(int64_t)w1[j * op->n + k] * (uint64_t)v[k];
        s = esnn_asr64(esnn_s64(a), op->shift);
        hid[j] = s > 0 ? s : 0;
    }
    for (i = 0; i < op->n; i++) {
        uint64_t a = 0;
        for (j = 0; j < op->hidden; j++) a += (uint64_t)(int64_t)w2[i * op->hidden + j] * (uint64_t)hid[j];
        z[i] = esnn_s64(a);
    }
}

/* Number of breakpoints b (non-decreasing) with score >= b. */
static uint32_t staircase(const uint8_t *table, uint32_t K, int64_t score) {
    uint32_t lo = 0, hi = K;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (score >= esnn_s64(esnn_rd64(table + 8u * mid)))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The multiplier of a group with this score, in Q15: the MA staircase level's multiplier, or for IA 2^15 when
 * the score reaches the group's threshold (pass) and 0 otherwise. Computed once per group, not per element. */
static int64_t group_mult(const esnn_op_t *op, int64_t score, uint32_t g) {
    if (op->kind == ESNN_ATTN_MA)
        return esnn_rd16(op->bias + 8u * op->levels + 2u * staircase(op->bias, op->levels, score));
    return score >= esnn_s64(esnn_rd64(op->bias + 8u * g)) ? 32768 : 0;
}

/* y = max(0, floor(m * x / 2^15)) with m in 0..65535: 0 for x <= 0, else the non-negative product shifted
 * (for IA, m = 2^15 gives x itself). Truncated to 32 bits as the reference stores it. */
static uint32_t scale(uint64_t m, uint32_t xv) {
    return esnn_s32(xv) > 0 ? (uint32_t)((m * xv) >> 15) : 0u;
}

/* Element-wise pass over all T steps; may run in place (y == x). mult: one Q15 multiplier per group. */
static void apply_all(uint8_t dim, const int64_t *mult, uint32_t T, uint32_t HW, uint32_t C, const uint32_t *x,
                      uint32_t *y) {
    uint32_t t, p, c;
    for (t = 0; t < T; t++)
        for (p = 0; p < HW; p++, x += C, y += C) {
            if (dim == ESNN_ATTN_C) {
                for (c = 0; c < C; c++) y[c] = scale((uint64_t)mult[c], x[c]);
            } else {
                const uint64_t m = (uint64_t)mult[dim == ESNN_ATTN_T ? t : p];
                for (c = 0; c < C; c++) y[c] = scale(m, x[c]);
            }
        }
}

void esnn_attn(const esnn_op_t *op, const esnn_buffer_t *buf, uint16_t T, const uint32_t *x, uint32_t *y,
               int64_t *scratch) {
    const uint32_t C = buf->c, HW = (uint32_t)buf->h * buf->w, step = HW * C;
    uint32_t t, p, c;
    if (op->dim == ESNN_ATTN_S) {
        int64_t *sum = scratch, *mx = scratch + HW, *score = scratch + 2 * HW;
        const int8_t *w1 = (const int8_t *)op->w;
        const uint64_t N = (uint64_t)T * C;
        const int32_t k = op->n, r = k / 2;
        int32_t h, w, ky, kx;
        for (p = 0; p < HW; p++) {
            uint64_t s = 0;
            int64_t m = esnn_s32(x[p * C]);
            for (t = 0; t < T; t++)
                for (c = 0; c < C; c++) {
                    int64_t v = esnn_s32(x[t * step + p * C + c]);
                    s += (uint64_t)v;
                    if (v > m) m = v;
                }
            sum[p] = esnn_s64(s);
            mx[p] = m;
        }
        for (h = 0; h < (int32_t)buf->h; h++)
            for (w = 0; w < (int32_t)buf->w; w++) {
                uint64_t a = 0;
                for (ky = 0; ky < k; ky++)
                    for (kx = 0; kx < k; kx++) {
                        int32_t hh = h + ky - r, ww = w + kx - r;
                        uint32_t q;
                        if (hh < 0 || ww < 0 || hh >= (int32_t)buf->h || ww >= (int32_t)buf->w) continue;
                        q = (uint32_t)hh * buf->w + (uint32_t)ww;
                        a += (uint64_t)(int64_t)w1[ky * k + kx] * (uint64_t)sum[q];
                        a += N * (uint64_t)(int64_t)w1[k * k + ky * k + kx] * (uint64_t)mx[q];
                    }
                score[(uint32_t)h * buf->w + (uint32_t)w] = esnn_s64(a);
            }
        for (p = 0; p < HW; p++) score[p] = group_mult(op, score[p], 0);
        apply_all(op->dim, score, T, HW, C, x, y);
        return;
    }
    {
        const uint32_t n = op->n;
        int64_t *sum = scratch, *mx = scratch + n, *z = scratch + 2 * n, *hid = scratch + 3 * n;
        const uint64_t N = op->dim == ESNN_ATTN_T ? (uint64_t)step : (uint64_t)T * HW;
        uint32_t i;
        for (i = 0; i < n; i++) {
            sum[i] = 0;
            mx[i] = op->dim == ESNN_ATTN_T ? esnn_s32(x[i * step]) : esnn_s32(x[i]);
        }
        for (t = 0; t < T; t++)
            for (p = 0; p < HW; p++)
                for (c = 0; c < C; c++) {
                    int64_t v = esnn_s32(x[t * step + p * C + c]);
                    i = op->dim == ESNN_ATTN_T ? t : c;
                    sum[i] = esnn_s64((uint64_t)sum[i] + (uint64_t)v);
                    if (v > mx[i]) mx[i] = v;
                }
        /* score = z(sum) + N * z(max): z(sum) into z, then z(max) into sum (sum no longer needed) */
        bottleneck(op, sum, hid, z);
        bottleneck(op, mx, hid, sum);
        for (i = 0; i < n; i++) z[i] = group_mult(op, esnn_s64((uint64_t)z[i] + N * (uint64_t)sum[i]), i);
        apply_all(op->dim, z, T, HW, C, x, y);
    }
}

/* ---- reference: the multiplier looked up for every element ------------------------------------------ */
static uint32_t apply_ref(const esnn_op_t *op, int64_t score, uint32_t g, uint32_t xv) {
    int64_t x = esnn_s32(xv);
    if (op->kind == ESNN_ATTN_MA) {
        uint32_t j = staircase(op->bias, op->levels, score);
        int64_t m = esnn_rd16(op->bias + 8u * op->levels + 2u * j);
        int64_t r = esnn_asr64(m * x, 15);
        return r > 0 ? (uint32_t)(uint64_t)r : 0;
    }
    if (score >= esnn_s64(esnn_rd64(op->bias + 8u * g))) return x > 0 ? xv : 0;
    return 0;
}

void esnn_attn_ref(const esnn_op_t *op, const esnn_buffer_t *buf, uint16_t T, const uint32_t *x, uint32_t *y,
               int64_t *scratch) {
    const uint32_t C = buf->c, HW = (uint32_t)buf->h * buf->w, step = HW * C;
    uint32_t t, p, c;
    if (op->dim == ESNN_ATTN_S) {
        int64_t *sum = scratch, *mx = scratch + HW, *score = scratch + 2 * HW;
        const int8_t *w1 = (const int8_t *)op->w;
        const uint64_t N = (uint64_t)T * C;
        const int32_t k = op->n, r = k / 2;
        int32_t h, w, ky, kx;
        for (p = 0; p < HW; p++) {
            uint64_t s = 0;
            int64_t m = esnn_s32(x[p * C]);
            for (t = 0; t < T; t++)
                for (c = 0; c < C; c++) {
                    int64_t v = esnn_s32(x[t * step + p * C + c]);
                    s += (uint64_t)v;
                    if (v > m) m = v;
                }
            sum[p] = esnn_s64(s);
            mx[p] = m;
        }
        for (h = 0; h < (int32_t)buf->h; h++)
            for (w = 0; w < (int32_t)buf->w; w++) {
                uint64_t a = 0;
                for (ky = 0; ky < k; ky++)
                    for (kx = 0; kx < k; kx++) {
                        int32_t hh = h + ky - r, ww = w + kx - r;
                        uint32_t q;
                        if (hh < 0 || ww < 0 || hh >= (int32_t)buf->h || ww >= (int32_t)buf->w) continue;
                        q = (uint32_t)hh * buf->w + (uint32_t)ww;
                        a += (uint64_t)(int64_t)w1[ky * k + kx] * (uint64_t)sum[q];
                        a += N * (uint64_t)(int64_t)w1[k * k + ky * k + kx] * (uint64_t)mx[q];
                    }
                score[(uint32_t)h * buf->w + (uint32_t)w] = esnn_s64(a);
            }
        for (t = 0; t < T; t++)
            for (p = 0; p < HW; p++)
                for (c = 0; c < C; c++) y[t * step + p * C + c] = apply_ref(op, score[p], 0, x[t * step + p * C + c]);
        return;
    }
    {
        const uint32_t n = op->n;
        int64_t *sum = scratch, *mx = scratch + n, *z = scratch + 2 * n, *hid = scratch + 3 * n;
        const uint64_t N = op->dim == ESNN_ATTN_T ? (uint64_t)step : (uint64_t)T * HW;
        uint32_t i;
        for (i = 0; i < n; i++) {
            sum[i] = 0;
            mx[i] = op->dim == ESNN_ATTN_T ? esnn_s32(x[i * step]) : esnn_s32(x[i]);
        }
        for (t = 0; t < T; t++)
            for (p = 0; p < HW; p++)
                for (c = 0; c < C; c++) {
                    int64_t v = esnn_s32(x[t * step + p * C + c]);
                    i = op->dim == ESNN_ATTN_T ? t : c;
                    sum[i] = esnn_s64((uint64_t)sum[i] + (uint64_t)v);
                    if (v > mx[i]) mx[i] = v;
                }
        /* score = z(sum) + N * z(max): z(sum) into z, then z(max) into sum (sum no longer needed) */
        bottleneck(op, sum, hid, z);
        bottleneck(op, mx, hid, sum);
        for (i = 0; i < n; i++) z[i] = esnn_s64((uint64_t)z[i] + N * (uint64_t)sum[i]);
        for (t = 0; t < T; t++)
            for (p = 0; p < HW; p++)
                for (c = 0; c < C; c++) {
                    i = op->dim == ESNN_ATTN_T ? t : c;
                    y[t * step + p * C + c] = apply_ref(op, z[i], i, x[t * step + p * C + c]);
                }
    }
}
