#include "attn.h"
#if ESNN_SIMD32
#include <arm_acle.h>
#endif
/* Hosts: x86 SSE2 (the x86-64 baseline) for the int16-plane channel statistics and apply passes; ESNN_NO_ASM
 * selects the portable loops (tested under make portable). */
#if !ESNN_SIMD32 && defined(__SSE2__) && !defined(ESNN_NO_ASM)
#include <emmintrin.h>
#define ESNN_ATTN_SSE2 1
#else
#define ESNN_ATTN_SSE2 0
#endif

uint64_t esnn_attn_scratch(uint8_t dim, uint16_t n, uint16_t hidden, const esnn_buffer_t *buf) {
    if (dim == ESNN_ATTN_S) return 3u * (uint64_t)buf->h * buf->w;
    return 3u * (uint64_t)n + hidden;
}

/* z(v)[i] = sum_j w2[i][j] * max(0, (sum_k w1[j][k] v[k]) >> shift), written over z[n]. */
static void bottleneck(const esnn_op_t *op, const int64_t *v, int64_t *hid, int64_t *z) {
    const int8_t *w1 = (const int8_t *)op->w, *w2 = (const int8_t *)op->w + op->w2off;
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

/* score[i] = z(sum)[i] + N * z(max)[i] when every sum and max fits int32 (op->a32), into z[n]. z is linear
 * modulo 2^64, so this is sum_j w2[i][j] * h[j] with h[j] = hid(sum)[j] + N * hid(max)[j]: one second layer
 * instead of two. First layer: 32 x 32 -> 64-bit MACs (smlal on Cortex-M4; |sum| < 2^31 * 128 * n, no
 * overflow). Second layer: h = hi * 2^32 + lo with lo the signed low word (hi adjusted for it), so that
 * w * h = w * lo + 2^32 * (w * hi) modulo 2^64: one 32 x 32 -> 64 MAC and one 32-bit MAC per weight. */
static void bottleneck32(const esnn_op_t *op, const int64_t *sum, const int64_t *mx, uint64_t N, uint32_t *h,
                         int64_t *z) {
    const int8_t *w1 = (const int8_t *)op->w, *w2 = (const int8_t *)op->w + op->w2off;
    const uint32_t n = op->n, hidden = op->hidden;
    uint32_t i, j, k;
    for (j = 0; j < hidden; j++) {
        const int8_t *w = w1 + j * n;
        int64_t as = 0, am = 0, hs, hm;
        uint64_t v;
#define ESNN_L1(K)                                                                                        \
    do {                                                                                                  \
        const int32_t wk = w[K];                                                                          \
        as += (int64_t)wk * (int32_t)sum[K];                                                              \
        am += (int64_t)wk * (int32_t)mx[K];                                                               \
    } while (0)
        for (k = 0; k + 4u <= n; k += 4u) { /* unrolled: the loop overhead is most of a MAC */
            ESNN_L1(k);
            ESNN_L1(k + 1u);
            ESNN_L1(k + 2u);
            ESNN_L1(k + 3u);
        }
        for (; k < n; k++) ESNN_L1(k);
#undef ESNN_L1
        hs = esnn_asr64(as, op->shift);
        hm = esnn_asr64(am, op->shift);
        v = (uint64_t)(hs > 0 ? hs : 0) + N * (uint64_t)(hm > 0 ? hm : 0);
        h[2u * j] = (uint32_t)v;                                              /* lo, read as int32 */
        h[2u * j + 1u] = (uint32_t)(v >> 32) + ((uint32_t)v >> 31);           /* hi + (lo < 0) */
    }
    for (i = 0; i < n; i++) {
        const int8_t *w = w2 + i * hidden;
        uint64_t a = 0;
        uint32_t b = 0;
#define ESNN_L2(J)                                                                                        \
    do {                                                                                                  \
        const int32_t wj = w[J];                                                                          \
        a += (uint64_t)((int64_t)wj * esnn_s32(h[2u * (J)]));                                             \
        b += (uint32_t)wj * h[2u * (J) + 1u];                                                             \
    } while (0)
        for (j = 0; j + 4u <= hidden; j += 4u) {
            ESNN_L2(j);
            ESNN_L2(j + 1u);
            ESNN_L2(j + 2u);
            ESNN_L2(j + 3u);
        }
        for (; j < hidden; j++) ESNN_L2(j);
#undef ESNN_L2
        z[i] = esnn_s64(a + ((uint64_t)b << 32));
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

/* int64 statistics (sum, max per group) of an int32 input, exactly as the spec writes them. */
static void stats64(const esnn_op_t *op, const esnn_buffer_t *buf, uint16_t T, const uint32_t *x, int64_t *sum,
                    int64_t *mx) {
    const uint32_t C = buf->c, HW = (uint32_t)buf->h * buf->w, step = HW * C;
    uint32_t t, p, c, i;
    if (op->dim == ESNN_ATTN_S) {
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
        return;
    }
    for (i = 0; i < op->n; i++) {
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
}

/* Values per score group: T: C*H*W, C: T*H*W, S: T*C. */
static uint64_t group_size(uint8_t dim, const esnn_buffer_t *buf, uint16_t T) {
    const uint64_t HW = (uint64_t)buf->h * buf->w;
    return dim == ESNN_ATTN_T ? HW * buf->c : dim == ESNN_ATTN_C ? (uint64_t)T * HW : (uint64_t)T * buf->c;
}

int esnn_attn_fast32(const esnn_op_t *op, const esnn_buffer_t *buf, uint16_t T, uint32_t bound) {
    return bound <= 65537u && group_size(op->dim, buf, T) * bound <= 0x7FFFFFFFu;
}

/* Element k of step t: int16 plane (in16, ESNN_CUR16_POS slots) or int32 values. */
static inline int32_t elem(const uint32_t *x, uint32_t words, int in16, uint32_t t, uint32_t k) {
    return in16 ? ((const int16_t *)(const void *)(x + t * words))[k] : (int32_t)x[t * words + k];
}

#if ESNN_SIMD32
#define ESNN_ATTN_INLINE static inline __attribute__((always_inline))
/* floor(a * bottom/top halfword of b / 2^16), signed 32 x 16 bits (exact). */
static inline int32_t smulwb(int32_t a, uint32_t b) {
    int32_t r;
    __asm__("smulwb %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
static inline int32_t smulwt(int32_t a, uint32_t b) {
    int32_t r;
    __asm__("smulwt %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
/* Bottom halfword of lo, top halfword from the bottom halfword of hi. */
static inline uint32_t pkhbt16(int32_t lo, int32_t hi) {
    uint32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(lo), "r"(hi));
    return r;
}
static inline uint32_t max16x2(uint32_t v, uint32_t m) { /* per halfword: GE from v - m, then pick */
    (void)__ssub16((int16x2_t)v, (int16x2_t)m);
    return (uint32_t)__sel((uint8x4_t)v, (uint8x4_t)m);
}

/* o[W] = a, o[W + 1] = b in one strd (GCC pairs these stores and loads only at times). */
#define ESNN_STRD(o, W, a, b) \
    __asm__ volatile("strd %1, %2, [%0, %3]" : : "r"(o), "r"(a), "r"(b), "i"(4 * (W)) : "memory")
/* a = q[W], b = q[W + 1] in one ldrd; volatile and the clobber keep loads and stores in program order (in
 * place, y == x). */
#define ESNN_LDRD(q, W, a, b) \
    __asm__ volatile("ldrd %0, %1, [%2, %3]" : "=r"(a), "=r"(b) : "r"(q), "i"(4 * (W)) : "memory")

/* Sums and maxima of the int16 pairs of words q[0], q[1] over T steps (each `words` words from the last) of
 * `rows` rows of pw words (cpw: pw a constant, ldrd with immediate offsets): four rows per iteration. s: slots
 * 0..3 in order; m: the two max words. */
ESNN_ATTN_INLINE void stats_cols(const uint32_t *q, uint32_t T, uint32_t words, uint32_t rows, uint32_t pw,
                                 int32_t *s, uint32_t *m, int cpw) {
    const uint32_t *const q0 = q, *qe;
    int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    uint32_t m0 = q[0], m1 = q[1], t;
    for (t = 0; t < T; t++) {
        uint32_t r;
        q = q0 + t * words;
        qe = q + (rows & ~3u) * pw;
#define ESNN_STATS_ROW(W)                                                                                 \
    do {                                                                                                  \
        uint32_t v0, v1;                                                                                  \
        if (cpw) {                                                                                        \
            ESNN_LDRD(q, W, v0, v1);                                                                      \
        } else {                                                                                          \
            v0 = q[W];                                                                                    \
            v1 = q[(W) + 1u];                                                                             \
        }                                                                                                 \
        s0 += (int16_t)v0;                                                                                \
        s1 += (int32_t)v0 >> 16;                                                                          \
        s2 += (int16_t)v1;                                                                                \
        s3 += (int32_t)v1 >> 16;                                                                          \
        m0 = max16x2(v0, m0);                                                                             \
        m1 = max16x2(v1, m1);                                                                             \
    } while (0)
        for (; q != qe; q += 4u * pw) {
            ESNN_STATS_ROW(0u);
            ESNN_STATS_ROW(pw);
            ESNN_STATS_ROW(2u * pw);
            ESNN_STATS_ROW(3u * pw);
        }
        for (r = rows & 3u; r > 0; r--, q += pw) ESNN_STATS_ROW(0u);
#undef ESNN_STATS_ROW
    }
    s[0] = s0;
    s[1] = s1;
    s[2] = s2;
    s[3] = s3;
    m[0] = m0;
    m[1] = m1;
}

/* One word of 2 slots: max(0, x) by usat16, then (2m * x) >> 16 = (m * x) >> 15 per halfword (smulw: exact,
 * every output <= 32767 as cur16 guarantees). */
static inline uint32_t scale16x2(uint32_t v, int32_t ma, int32_t mb) {
    const uint32_t p = (uint32_t)__usat16((int16x2_t)v, 15);
    return pkhbt16(smulwb(ma, p), smulwt(mb, p));
}


/* Output word of input word v: multipliers ma, mb (2m) per halfword, or with gate (every m 0 or 2^15: pass or
 * zero, no multiply) max(0, x) masked by mk. */
ESNN_ATTN_INLINE uint32_t out16x2(uint32_t v, int32_t ma, int32_t mb, uint32_t mk, int gate) {
    return gate ? (uint32_t)__usat16((int16x2_t)v, 15) & mk : scale16x2(v, ma, mb);
}

/* Apply the multipliers m[0..3] (slots 0..3) to words q[0], q[1] of `rows` rows of pw words, into o (one
 * step); cpw: pw is a constant (ldrd/strd with immediate offsets). */
ESNN_ATTN_INLINE void apply_cols(const uint32_t *q, uint32_t *o, uint32_t rows, uint32_t pw, const uint32_t *m,
                                 int cpw, int gate) {
    const uint32_t step = cpw ? 4u : 2u; /* rows per iteration: 4 with immediate offsets (3 pw * 4 <= 1020) */
    const uint32_t *const qe = q + (rows & ~(step - 1u)) * pw;
    const int32_t m0 = (int32_t)(2u * m[0]), m1 = (int32_t)(2u * m[1]), m2 = (int32_t)(2u * m[2]),
                  m3 = (int32_t)(2u * m[3]);
    const uint32_t k0 = (m[0] ? 0xFFFFu : 0u) | (m[1] ? 0xFFFF0000u : 0u),
                   k1 = (m[2] ? 0xFFFFu : 0u) | (m[3] ? 0xFFFF0000u : 0u);
    uint32_t r;
    for (; q != qe; q += step * pw, o += step * pw) {
        uint32_t v0, v1, u0, u1;
        if (cpw) {
            ESNN_LDRD(q, 0, v0, v1);
            ESNN_LDRD(q, pw, u0, u1);
            ESNN_STRD(o, 0, out16x2(v0, m0, m1, k0, gate), out16x2(v1, m2, m3, k1, gate));
            ESNN_STRD(o, pw, out16x2(u0, m0, m1, k0, gate), out16x2(u1, m2, m3, k1, gate));
            ESNN_LDRD(q, 2u * pw, v0, v1);
            ESNN_LDRD(q, 3u * pw, u0, u1);
            ESNN_STRD(o, 2u * pw, out16x2(v0, m0, m1, k0, gate), out16x2(v1, m2, m3, k1, gate));
            ESNN_STRD(o, 3u * pw, out16x2(u0, m0, m1, k0, gate), out16x2(u1, m2, m3, k1, gate));
        } else {
            v0 = q[0];
            v1 = q[1];
            u0 = q[pw];
            u1 = q[pw + 1u];
            o[0] = out16x2(v0, m0, m1, k0, gate);
            o[1] = out16x2(v1, m2, m3, k1, gate);
            o[pw] = out16x2(u0, m0, m1, k0, gate);
            o[pw + 1u] = out16x2(u1, m2, m3, k1, gate);
        }
    }
    for (r = rows & (step - 1u); r > 0; r--, q += pw, o += pw) {
        const uint32_t v0 = q[0], v1 = q[1];
        o[0] = out16x2(v0, m0, m1, k0, gate);
        o[1] = out16x2(v1, m2, m3, k1, gate);
    }
}
/* One out-of-line copy per row stride (words) 4, 8, 16, 32 (C = 8 .. 64) and one for any stride: each loop
 * gets the registers to itself and constant ldrd/strd offsets. gate_*: apply_* for multipliers 0 / 2^15. */
#define ESNN_ATTN_COLS(PW, NAME, CPW)                                                                     \
    static __attribute__((noinline)) void stats_##NAME(const uint32_t *q, uint32_t T, uint32_t words,     \
                                                       uint32_t rows, uint32_t pw, int32_t *s,            \
                                                       uint32_t *m) {                                     \
        (void)pw;                                                                                         \
        stats_cols(q, T, words, rows, PW, s, m, CPW);                                                        \
    }                                                                                                     \
    static __attribute__((noinline)) void apply_##NAME(const uint32_t *q, uint32_t *o, uint32_t T,        \
                                                       uint32_t words, uint32_t rows, uint32_t pw,        \
                                                       const uint32_t *m) {                               \
        uint32_t t;                                                                                       \
        (void)pw;                                                                                         \
        for (t = 0; t < T; t++) apply_cols(q + t * words, o + t * words, rows, PW, m, CPW, 0);            \
    }                                                                                                     \
    static __attribute__((noinline)) void gate_##NAME(const uint32_t *q, uint32_t *o, uint32_t T,         \
                                                      uint32_t words, uint32_t rows, uint32_t pw,         \
                                                      const uint32_t *m) {                                \
        uint32_t t;                                                                                       \
        (void)pw;                                                                                         \
        for (t = 0; t < T; t++) apply_cols(q + t * words, o + t * words, rows, PW, m, CPW, 1);            \
    }
ESNN_ATTN_COLS(4u, pw4, 1)
ESNN_ATTN_COLS(8u, pw8, 1)
ESNN_ATTN_COLS(16u, pw16, 1)
ESNN_ATTN_COLS(32u, pw32, 1)
ESNN_ATTN_COLS(pw, any, 0)
#undef ESNN_ATTN_COLS
#endif

/* 32-bit statistics: every |x| <= op->bound and group_size * bound < 2^31 (esnn_attn_fast32), so no partial
 * sum leaves int32. For C over an int16 plane, slot k holds channel ESNN_CUR16_POS(k) (an involution). */
static void stats32(const esnn_op_t *op, const esnn_buffer_t *buf, uint16_t T, const uint32_t *x, int in16,
                    int64_t *sum, int64_t *mx, int32_t *tmp) {
    /* words: the stride between step slots (a compact int16 plane's is half its values) */
    const uint32_t C = buf->c, HW = (uint32_t)buf->h * buf->w, words = buf->stride, n = HW * C;
    uint32_t t, p, k;
    if (op->dim == ESNN_ATTN_C) {
        int32_t *s = tmp, *m = tmp + C;
#if ESNN_SIMD32
        if (in16) { /* 2 words (4 slots) at a time over the T * HW rows, with a constant row stride for C = 8 ..
                     * 64 (ldrd with immediate offsets) */
            const uint32_t pw = C / 2u;
            uint32_t j;
            for (j = 0; j < pw; j += 2u) {
                int32_t sv[4];
                uint32_t mv[2];
                switch (pw) {
                case 4u: stats_pw4(x + j, T, words, HW, 4u, sv, mv); break;
                case 8u: stats_pw8(x + j, T, words, HW, 8u, sv, mv); break;
                case 16u: stats_pw16(x + j, T, words, HW, 16u, sv, mv); break;
                case 32u: stats_pw32(x + j, T, words, HW, 32u, sv, mv); break;
                default: stats_any(x + j, T, words, HW, pw, sv, mv); break;
                }
                sum[ESNN_CUR16_POS(2u * j)] = sv[0];
                sum[ESNN_CUR16_POS(2u * j + 1u)] = sv[1];
                sum[ESNN_CUR16_POS(2u * j + 2u)] = sv[2];
                sum[ESNN_CUR16_POS(2u * j + 3u)] = sv[3];
                mx[ESNN_CUR16_POS(2u * j)] = (int16_t)mv[0];
                mx[ESNN_CUR16_POS(2u * j + 1u)] = (int32_t)mv[0] >> 16;
                mx[ESNN_CUR16_POS(2u * j + 2u)] = (int16_t)mv[1];
                mx[ESNN_CUR16_POS(2u * j + 3u)] = (int32_t)mv[1] >> 16;
            }
            return;
        }
#endif
#if ESNN_ATTN_SSE2
        if (in16 && C % 8u == 0) { /* 8 channels at a time over every (t, p): int32 sums, int16 maxima */
            uint32_t j;
            for (j = 0; j < C; j += 8u) {
                __m128i slo = _mm_setzero_si128(), shi = slo;
                __m128i mv = _mm_loadu_si128((const __m128i *)(const void *)((const int16_t *)(const void *)x + j));
                int32_t lanes[8];
                int16_t ml[8];
                for (t = 0; t < T; t++) {
                    const int16_t *q = (const int16_t *)(const void *)(x + t * words) + j;
                    for (p = 0; p < HW; p++, q += C) {
                        const __m128i v = _mm_loadu_si128((const __m128i *)(const void *)q);
                        mv = _mm_max_epi16(mv, v);
                        slo = _mm_add_epi32(slo, _mm_srai_epi32(_mm_unpacklo_epi16(v, v), 16));
                        shi = _mm_add_epi32(shi, _mm_srai_epi32(_mm_unpackhi_epi16(v, v), 16));
                    }
                }
                _mm_storeu_si128((__m128i *)(void *)lanes, slo);
                _mm_storeu_si128((__m128i *)(void *)(lanes + 4), shi);
                _mm_storeu_si128((__m128i *)(void *)ml, mv);
                for (k = 0; k < 8u; k++) {
                    sum[j + k] = lanes[k];
                    mx[j + k] = ml[k];
                }
            }
            (void)s;
            (void)m;
            return;
        }
#endif
        for (k = 0; k < C; k++) {
            s[k] = 0;
            m[k] = elem(x, words, in16, 0, k);
        }
        for (t = 0; t < T; t++)
            for (p = 0; p < HW; p++)
                for (k = 0; k < C; k++) {
                    const int32_t v = elem(x, words, in16, t, p * C + k);
                    s[k] += v;
                    m[k] = v > m[k] ? v : m[k];
                }
        for (k = 0; k < C; k++) {
            const uint32_t c = in16 ? ESNN_CUR16_POS(k) : k;
            sum[c] = s[k];
            mx[c] = m[k];
        }
        return;
    }
    if (op->dim == ESNN_ATTN_T) {
        for (t = 0; t < T; t++) {
            int32_t s = 0, m = elem(x, words, in16, t, 0);
            for (k = 0; k < n; k++) {
                const int32_t v = elem(x, words, in16, t, k);
                s += v;
                m = v > m ? v : m;
            }
            sum[t] = s;
            mx[t] = m;
        }
        return;
    }
    for (p = 0; p < HW; p++) {
        int32_t s = 0, m = elem(x, words, in16, 0, p * C);
        for (t = 0; t < T; t++)
            for (k = p * C; k < p * C + C; k++) {
                const int32_t v = elem(x, words, in16, t, k);
                s += v;
                m = v > m ? v : m;
            }
        sum[p] = s;
        mx[p] = m;
    }
}

/* Scores from the statistics, then one Q15 multiplier per group (0..65535), as uint32 over mult[groups]. */
static void multipliers(const esnn_op_t *op, const esnn_buffer_t *buf, uint16_t T, int64_t *scratch, uint32_t *mult) {
    const uint32_t C = buf->c, HW = (uint32_t)buf->h * buf->w;
    uint32_t p;
    if (op->dim == ESNN_ATTN_S) {
        int64_t *sum = scratch, *mx = scratch + HW, *score = scratch + 2 * HW;
        const int8_t *w1 = (const int8_t *)op->w;
        const uint64_t N = (uint64_t)T * C;
        const int32_t k = op->n, r = k / 2;
        int32_t h, w, ky, kx;
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
        /* mult (uint32) overlays sum (int64): entry p is written after every sum[q] is read */
        for (p = 0; p < HW; p++) mult[p] = (uint32_t)group_mult(op, score[p], 0);
        return;
    }
    {
        const uint32_t n = op->n;
        int64_t *sum = scratch, *mx = scratch + n, *z = scratch + 2 * n, *hid = scratch + 3 * n;
        const uint64_t N = op->dim == ESNN_ATTN_T ? (uint64_t)HW * C : (uint64_t)T * HW;
        uint32_t i;
        if (op->a32) { /* scores into z; mult overlays sum, read only by the first layer */
            bottleneck32(op, sum, mx, N, (uint32_t *)(void *)hid, z);
            for (i = 0; i < n; i++) mult[i] = (uint32_t)group_mult(op, z[i], i);
            return;
        }
        /* score = z(sum) + N * z(max): z(sum) into z, then z(max) into sum (sum no longer needed) */
        bottleneck(op, sum, hid, z);
        bottleneck(op, mx, hid, sum);
        for (i = 0; i < n; i++) z[i] = group_mult(op, esnn_s64((uint64_t)z[i] + N * (uint64_t)sum[i]), i);
        for (i = 0; i < n; i++) mult[i] = (uint32_t)z[i]; /* mult overlays sum: entry i after z[i] */
    }
}

/* y = max(0, floor(m x / 2^15)) for 0 <= x <= 65537 and m <= 65535: the product fits uint32. */
static inline uint32_t scale32(uint32_t m, int32_t x) { return x > 0 ? (m * (uint32_t)x) >> 15 : 0u; }


/* The multiplier index of element k (a slot of an in16 plane, else a channel-ordered value) at (t, p). */
static inline uint32_t group_of(uint8_t dim, uint32_t t, uint32_t p, uint32_t k, int in16) {
    return dim == ESNN_ATTN_T ? t : dim == ESNN_ATTN_S ? p : in16 ? ESNN_CUR16_POS(k) : k;
}

/* Element-wise pass over all T steps with 32-bit products; may run in place (y == x). in16 -> int16 plane out
 * (op->cur16: every output <= 32767, same slots) or int32 channel-ordered out (widened backwards, so that
 * in place no int16 value is overwritten before it is read); int32 -> int32. */
static void apply32(const esnn_op_t *op, const esnn_buffer_t *buf, uint16_t T, const uint32_t *x, uint32_t *y,
                    const uint32_t *mult) {
    /* words: the input's stride between step slots; an int16 output plane has the same, an int32 output n */
    const uint32_t C = buf->c, HW = (uint32_t)buf->h * buf->w, words = buf->stride, n = HW * C;
    uint32_t t, p, k;
    if (!op->in16) {
        for (t = 0; t < T; t++)
            for (p = 0; p < HW; p++)
                for (k = 0; k < C; k++) {
                    const uint32_t i = t * n + p * C + k;
                    y[i] = scale32(mult[group_of(op->dim, t, p, k, 0)], (int32_t)x[i]);
                }
        return;
    }
    if (op->cur16) {
#if ESNN_SIMD32
        if (op->dim == ESNN_ATTN_C) { /* 2 words (4 slots) at a time over the T * HW rows, multipliers in
                                       * registers; constant row strides for C = 8 .. 64 */
            const uint32_t pw = C / 2u;
            uint32_t j;
            for (j = 0; j < pw; j += 2u) {
                uint32_t m[4], gate = 1;
                for (k = 0; k < 4u; k++) {
                    m[k] = mult[ESNN_CUR16_POS(2u * j + k)];
                    gate &= m[k] == 0 || m[k] == 32768u; /* IA, or MA at its 0 / 1.0 levels */
                }
                switch (pw) {
                case 4u: (gate ? gate_pw4 : apply_pw4)(x + j, y + j, T, words, HW, 4u, m); break;
                case 8u: (gate ? gate_pw8 : apply_pw8)(x + j, y + j, T, words, HW, 8u, m); break;
                case 16u: (gate ? gate_pw16 : apply_pw16)(x + j, y + j, T, words, HW, 16u, m); break;
                case 32u: (gate ? gate_pw32 : apply_pw32)(x + j, y + j, T, words, HW, 32u, m); break;
                default: (gate ? gate_any : apply_any)(x + j, y + j, T, words, HW, pw, m); break;
                }
            }
            return;
        }
#endif
#if ESNN_ATTN_SSE2
        if (op->dim == ESNN_ATTN_C && C % 8u == 0) {
            /* 8 channels with their multipliers m (0..65535) in one register: (m * max(0, x)) >> 15 from the
             * high and low 16 bits of the unsigned 16 x 16 products, truncated to int16 as the C loop */
            const __m128i zero = _mm_setzero_si128();
            uint32_t j;
            for (j = 0; j < C; j += 8u) {
                const __m128i mv = _mm_set_epi16(
                    esnn_s16((uint16_t)mult[j + 7u]), esnn_s16((uint16_t)mult[j + 6u]),
                    esnn_s16((uint16_t)mult[j + 5u]), esnn_s16((uint16_t)mult[j + 4u]),
                    esnn_s16((uint16_t)mult[j + 3u]), esnn_s16((uint16_t)mult[j + 2u]),
                    esnn_s16((uint16_t)mult[j + 1u]), esnn_s16((uint16_t)mult[j]));
                for (t = 0; t < T; t++) {
                    const int16_t *q = (const int16_t *)(const void *)(x + t * words) + j;
                    int16_t *o = (int16_t *)(void *)(y + t * words) + j;
                    for (p = 0; p < HW; p++, q += C, o += C) {
                        const __m128i v =
                            _mm_max_epi16(_mm_loadu_si128((const __m128i *)(const void *)q), zero);
                        const __m128i hi = _mm_mulhi_epu16(v, mv), lo = _mm_mullo_epi16(v, mv);
                        _mm_storeu_si128((__m128i *)(void *)o,
                                         _mm_or_si128(_mm_slli_epi16(hi, 1), _mm_srli_epi16(lo, 15)));
                    }
                }
            }
            return;
        }
#endif
        for (t = 0; t < T; t++) {
            const int16_t *q = (const int16_t *)(const void *)(x + t * words);
            int16_t *o = (int16_t *)(void *)(y + t * words);
            for (p = 0; p < HW; p++)
                for (k = 0; k < C; k++)
                    o[p * C + k] = (int16_t)scale32(mult[group_of(op->dim, t, p, k, 1)], q[p * C + k]);
        }
        return;
    }
    for (t = 0; t < T; t++) {
        const int16_t *q = (const int16_t *)(const void *)(x + t * words);
        uint32_t *o = y + t * n;
        for (p = HW; p-- > 0;)
            for (k = C; k-- > 0;) { /* channel k from slot ESNN_CUR16_POS(k) */
                const uint32_t g = op->dim == ESNN_ATTN_T ? t : op->dim == ESNN_ATTN_S ? p : k;
                o[p * C + k] = scale32(mult[g], q[p * C + ESNN_CUR16_POS(k)]);
            }
    }
}

void esnn_attn(const esnn_op_t *op, const esnn_buffer_t *buf, uint16_t T, const uint32_t *x, uint32_t *y,
               int64_t *scratch) {
    const uint32_t groups = op->dim == ESNN_ATTN_S ? (uint32_t)buf->h * buf->w : op->n;
    int64_t *sum = scratch, *mx = scratch + groups;
    if (op->a32) { /* set by esnn_init from the input's bound; in16 implies it */
        ESNN_TRACE_RAN(op, ESNN_KERNEL_ATTN_FAST32);
        if (op->in16) ESNN_TRACE_RAN(op, ESNN_KERNEL_ATTN_IN16);
        stats32(op, buf, T, x, op->in16, sum, mx, (int32_t *)(void *)(scratch + 2u * groups));
        multipliers(op, buf, T, scratch, (uint32_t *)(void *)scratch);
        apply32(op, buf, T, x, y, (const uint32_t *)(const void *)scratch);
        return;
    }
    ESNN_TRACE_RAN(op, ESNN_KERNEL_ATTN_I64);
    stats64(op, buf, T, x, sum, mx);
    multipliers(op, buf, T, scratch, (uint32_t *)(void *)scratch);
    {
        const uint32_t *mult = (const uint32_t *)(const void *)scratch;
        const uint32_t C = buf->c, HW = (uint32_t)buf->h * buf->w;
        uint32_t t, p, c;
        for (t = 0; t < T; t++)
            for (p = 0; p < HW; p++, x += C, y += C)
                for (c = 0; c < C; c++) y[c] = scale((uint64_t)mult[group_of(op->dim, t, p, c, 0)], x[c]);
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

/* ---- the recompute schedule: statistics and weighting one step at a time -----------------------------
 * The input conv runs twice (plan.c "segments"): once per step for the statistics, then again per step for the
 * weighting, so no step of its current is kept. The sums and maxima are exact in int64 in any order. */
/* Value of slot i of one step: int16 plane or int32. */
static inline int32_t step_val(const uint32_t *x, int in16, uint32_t i) {
    return in16 ? ((const int16_t *)(const void *)x)[i] : (int32_t)x[i];
}

void esnn_attn_stats_step(const esnn_op_t *op, const esnn_buffer_t *buf, uint32_t t, const uint32_t *x,
                          int64_t *scratch) {
    if (t == 0) esnn_attn_stats_start(op, buf, scratch);
    esnn_attn_stats_add(op, buf, t, x, scratch);
}

void esnn_attn_stats_start(const esnn_op_t *op, const esnn_buffer_t *buf, int64_t *scratch) {
    const uint32_t groups = op->dim == ESNN_ATTN_S ? (uint32_t)buf->h * buf->w : op->n;
    uint32_t g;
    for (g = 0; g < groups; g++) {
        scratch[g] = 0;
        scratch[groups + g] = -0x7FFFFFFFFFFFFFFFll - 1; /* every value is larger: the max is the largest value */
    }
}

void esnn_attn_stats_add(const esnn_op_t *op, const esnn_buffer_t *buf, uint32_t t, const uint32_t *x,
                         int64_t *scratch) {
    const uint32_t C = buf->c, HW = (uint32_t)buf->h * buf->w, groups = op->dim == ESNN_ATTN_S ? HW : op->n;
    int64_t *sum = scratch, *mx = scratch + groups;
    const int in16 = op->in16;
    uint32_t p, k, g;
    if (!op->a32) { /* int64 sums, as the spec writes them */
        for (p = 0; p < HW; p++)
            for (k = 0; k < C; k++) {
                const int64_t v = step_val(x, in16, p * C + k);
                g = group_of(op->dim, t, p, k, in16);
                sum[g] += v;
                if (v > mx[g]) mx[g] = v;
            }
        return;
    }
    /* a32: every group's sum over all T fits int32 (esnn_attn_fast32), so partial sums of a step do too */
    if (op->dim == ESNN_ATTN_C) {
        uint32_t c0, j;
#if ESNN_SIMD32
        if (in16) { /* the all-T kernel's column sums over one step: 4 slots (2 words) at a time */
            const uint32_t pw = C / 2u;
            for (j = 0; j < pw; j += 2u) {
                int32_t sv[4];
                uint32_t mv[2], q;
                int32_t m4[4];
                switch (pw) {
                case 4u: stats_pw4(x + j, 1, pw * HW, HW, 4u, sv, mv); break;
                case 8u: stats_pw8(x + j, 1, pw * HW, HW, 8u, sv, mv); break;
                case 16u: stats_pw16(x + j, 1, pw * HW, HW, 16u, sv, mv); break;
                case 32u: stats_pw32(x + j, 1, pw * HW, HW, 32u, sv, mv); break;
                default: stats_any(x + j, 1, pw * HW, HW, pw, sv, mv); break;
                }
                m4[0] = (int16_t)mv[0];
                m4[1] = (int32_t)mv[0] >> 16;
                m4[2] = (int16_t)mv[1];
                m4[3] = (int32_t)mv[1] >> 16;
                for (q = 0; q < 4u; q++) {
                    g = ESNN_CUR16_POS(2u * j + q);
                    sum[g] += sv[q];
                    if (m4[q] > mx[g]) mx[g] = m4[q];
                }
            }
            return;
        }
#endif
        for (c0 = 0; c0 < C; c0 += 8u) { /* 8 slots in registers per pass over the pixels */
            const uint32_t n = C - c0 < 8u ? C - c0 : 8u;
            int32_t sv[8], mv[8];
            for (j = 0; j < n; j++) sv[j] = 0, mv[j] = step_val(x, in16, c0 + j);
            for (p = 0; p < HW; p++)
                for (j = 0; j < n; j++) {
                    const int32_t v = step_val(x, in16, p * C + c0 + j);
                    sv[j] += v;
                    mv[j] = v > mv[j] ? v : mv[j];
                }
            for (j = 0; j < n; j++) { /* slot c0 + j holds channel ESNN_CUR16_POS(c0 + j) of an int16 plane */
                g = in16 ? ESNN_CUR16_POS(c0 + j) : c0 + j;
                sum[g] += sv[j];
                if (mv[j] > mx[g]) mx[g] = mv[j];
            }
        }
        return;
    }
    for (p = 0; p < HW; p++) { /* T: one group for the step; S: one per pixel */
        int32_t sv = 0, mv = step_val(x, in16, p * C);
        for (k = 0; k < C; k++) {
            const int32_t v = step_val(x, in16, p * C + k);
            sv += v;
            mv = v > mv ? v : mv;
        }
        g = op->dim == ESNN_ATTN_T ? t : p;
        sum[g] += sv;
        if (mv > mx[g]) mx[g] = mv;
    }
}

void esnn_attn_finish(const esnn_op_t *op, const esnn_buffer_t *buf, uint16_t T, int64_t *scratch) {
    multipliers(op, buf, T, scratch, (uint32_t *)(void *)scratch);
}

void esnn_attn_apply_step(const esnn_op_t *op, const esnn_buffer_t *buf, uint32_t t, const uint32_t *x,
                          uint32_t *y, const int64_t *scratch) {
    /* T attention: step t has one multiplier, mult[t]; the one-step kernels read group 0 of their pointer */
    const uint32_t *mult = (const uint32_t *)(const void *)scratch + (op->dim == ESNN_ATTN_T ? t : 0u);
    if (op->a32) {
        apply32(op, buf, 1, x, y, mult);
    } else {
        const uint32_t C = buf->c, HW = (uint32_t)buf->h * buf->w;
        uint32_t p, c;
        for (p = 0; p < HW; p++, x += C, y += C)
            for (c = 0; c < C; c++) y[c] = scale((uint64_t)mult[group_of(op->dim, 0, p, c, 0)], x[c]);
    }
}
