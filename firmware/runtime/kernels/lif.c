#include "lif.h"

static int32_t wrap32(int64_t v) { return esnn_s32((uint32_t)(uint64_t)v); }

/* Reference: floor division written out with C99's truncating '/' and a correction. */
uint32_t esnn_lif_ref(const esnn_op_t *op, const esnn_buffer_t *buf, const uint32_t *current, uint32_t *spikes) {
    uint32_t p, c, count = 0, npix = (uint32_t)buf->h * buf->w;
    for (p = 0; p < npix; p++) {
        for (c = 0; c < buf->c; c++) {
            /* the state layout is shared with the fast kernel (ESNN_CUR16_POS when op->cur16) */
            uint32_t i = p * buf->c + c, si = p * buf->c + (op->cur16 ? ESNN_CUR16_POS(c) : c);
            int64_t h = op->state_bits == 16 ? ((int16_t *)op->state)[si] : ((int32_t *)op->state)[si];
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
                ((int16_t *)op->state)[si] = (int16_t)u;
            } else {
                ((int32_t *)op->state)[si] = wrap32(u);
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
            count += esnn_popcount32(word);
        }
    }
    return count;
}

/* int32 currents with |I| < 2^30 (op->bound, proven at load time) and a power-of-two leak: U = H + ((I - H) >> s)
 * without 64-bit arithmetic (U lies between H and I, so |H| < 2^30 too and I - H cannot overflow). */
#define asr32 esnn_asr32

static inline uint32_t lif_small(const esnn_op_t *op, const esnn_buffer_t *buf, const uint32_t *current,
                                 uint32_t *spikes, int bits16, int sat, unsigned s) {
    const uint32_t C = buf->c, npix = (uint32_t)buf->h * buf->w;
    const uint8_t *thr = op->bias;
    int16_t *st16 = (int16_t *)op->state;
    int32_t *st32 = (int32_t *)op->state;
    uint32_t p, c, count = 0;
    for (p = 0; p < npix; p++, current += C, spikes += buf->cw, st16 += C, st32 += C) {
        for (c = 0; c < C; c += 32u) {
            const uint32_t nb = C - c < 32u ? C - c : 32u;
            uint32_t word = 0, b;
            for (b = 0; b < nb; b++) {
                const int32_t I = (int32_t)current[c + b], h = bits16 ? st16[c + b] : st32[c + b];
                const int32_t u = h + asr32(I - h, s);
                const uint32_t f = u >= esnn_ld32(thr + 4u * (c + b));
                const int32_t keep = f ? 0 : u;
                if (bits16)
                    st16[c + b] = (int16_t)(sat ? (keep > 32767 ? 32767 : keep < -32768 ? -32768 : keep) : keep);
                else
                    st32[c + b] = keep;
                word |= f << b;
            }
            spikes[c >> 5] = word;
            count += esnn_popcount32(word);
        }
    }
    return count;
}

/* int16 current plane from a CONV with acc16 (op->cur16), 16-bit state in the same layout, power-of-two leak:
 * U = H + ((I - H) >> s) stays between H and I, so it is exact in int32 and never saturates. C % 8 == 0 and
 * every threshold <= 32767 (checked at load time). */
static uint32_t lif_cur16(const esnn_op_t *op, const esnn_buffer_t *buf, const uint32_t *current, uint32_t *spikes,
                          unsigned s) {
    const uint32_t C = buf->c, npix = (uint32_t)buf->h * buf->w;
    const uint8_t *thr = op->bias;
    const int16_t *I16 = (const int16_t *)(const void *)current;
    int16_t *st = (int16_t *)op->state;
    uint32_t p, c, count = 0;
    for (p = 0; p < npix; p++, I16 += C, st += C, spikes += buf->cw) {
        for (c = 0; c < C; c += 32u) {
            const uint32_t nb = C - c < 32u ? C - c : 32u;
            uint32_t word = 0, b;
            for (b = 0; b < nb; b++) {
                const uint32_t k = c + ESNN_CUR16_POS(b);
                const int32_t h = st[k], u = h + asr32((int32_t)I16[k] - h, s);
                const uint32_t f = u >= esnn_ld32(thr + 4u * (c + b));
                st[k] = (int16_t)(f ? 0 : u);
                word |= f << b;
            }
            spikes[c >> 5] = word;
            count += esnn_popcount32(word);
        }
    }
    return count;
}

#if !ESNN_SIMD32 && defined(__SSE2__) && !defined(ESNN_NO_ASM)
#include <emmintrin.h>
#define ESNN_LIF_SSE2 1
/* x86 SSE2, 8 neurons per step: U = H + ((I - H) >> s) in int32 lanes (exact), packed back to int16 (U lies
 * between H and I); thresholds packed to int16 with saturation (every threshold <= 32767; one below -32768 is
 * reached by every U, as -32768 is); the spike bits from the compare mask. */
static uint32_t lif_cur16_sse2(const esnn_op_t *op, const esnn_buffer_t *buf, const uint32_t *current,
                               uint32_t *spikes, unsigned s) {
    const uint32_t C = buf->c, npix = (uint32_t)buf->h * buf->w;
    const int16_t *I16 = (const int16_t *)(const void *)current;
    int16_t *st = (int16_t *)op->state;
    const __m128i sh = _mm_cvtsi32_si128((int)s);
    uint32_t p, c, b, count = 0;
    for (p = 0; p < npix; p++, I16 += C, st += C, spikes += buf->cw) {
        for (c = 0; c < C; c += 32u) {
            const uint32_t nb = C - c < 32u ? C - c : 32u; /* C % 8 == 0 */
            uint32_t word = 0;
            for (b = 0; b < nb; b += 8u) {
                const __m128i h = _mm_loadu_si128((const __m128i *)(void *)(st + c + b));
                const __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(I16 + c + b));
                const __m128i hl = _mm_srai_epi32(_mm_unpacklo_epi16(h, h), 16);
                const __m128i hh = _mm_srai_epi32(_mm_unpackhi_epi16(h, h), 16);
                const __m128i xl = _mm_srai_epi32(_mm_unpacklo_epi16(x, x), 16);
                const __m128i xh = _mm_srai_epi32(_mm_unpackhi_epi16(x, x), 16);
                const __m128i ul = _mm_add_epi32(hl, _mm_sra_epi32(_mm_sub_epi32(xl, hl), sh));
                const __m128i uh = _mm_add_epi32(hh, _mm_sra_epi32(_mm_sub_epi32(xh, hh), sh));
                const __m128i u = _mm_packs_epi32(ul, uh);
                const __m128i th = _mm_packs_epi32(_mm_loadu_si128((const __m128i *)(const void *)(op->bias + 4u * (c + b))),
                                                   _mm_loadu_si128((const __m128i *)(const void *)(op->bias + 4u * (c + b) + 16u)));
                const __m128i below = _mm_cmpgt_epi16(th, u); /* not fired */
                _mm_storeu_si128((__m128i *)(void *)(st + c + b), _mm_and_si128(below, u));
                word |= (uint32_t)(~_mm_movemask_epi8(_mm_packs_epi16(below, below)) & 0xFF) << b;
            }
            spikes[c >> 5] = word;
            count += esnn_popcount32(word);
        }
    }
    return count;
}
#endif

#if ESNN_SIMD32
#include <arm_acle.h>
/* Cortex-M4 SIMD, leak 1/2 (s = 1): two neurons per instruction. Per word j of a 32-channel block (channels
 * (4g + e, 4g + e + 2) for j = 2g + e): U = shadd16(H, I) = floor((H + I) / 2) exactly; ssub16(U, TH) sets GE
 * where U >= TH; sel gives the reset state and a 0x8000 mark per spike, shifted into A (low half bit j: channel
 * 4g + e, high half: 4g + e + 2); a 2-bit perfect shuffle puts channel c at bit c. Thumb-2 builds run C = 8..64
 * in the assembly kernels below (lif_cur16_m4). */
static uint32_t lif_cur16_simd(const esnn_op_t *op, const esnn_buffer_t *buf, const uint32_t *current,
                               uint32_t *spikes) {
    const uint32_t C = buf->c, npix = (uint32_t)buf->h * buf->w, cw = buf->cw;
    uint32_t thp[16], c, count = 0;
    for (c = 0; c < C; c += 32u) {
        const uint32_t nb = C - c < 32u ? C - c : 32u, nw = nb / 2u, pw = C / 2u;
        const uint32_t *ip = current + c / 2u;
        uint32_t *hp = (uint32_t *)op->state + c / 2u, *sp = spikes + (c >> 5);
        uint32_t j, p, cnt = 0;
        for (j = 0; j < nw; j++) {
            const uint32_t lo = c + 4u * (j >> 1) + (j & 1u);
            thp[j] = ((uint32_t)esnn_ld32(op->bias + 4u * lo) & 0xFFFFu) |
                     ((uint32_t)esnn_ld32(op->bias + 4u * (lo + 2u)) << 16);
        }
        for (p = 0; p < npix; p++, ip += pw, hp += pw, sp += cw) {
            uint32_t a = 0, x, t;
            for (j = 0; j < nw; j++) {
                const int16x2_t u = __shadd16((int16x2_t)hp[j], (int16x2_t)ip[j]);
                (void)__ssub16(u, (int16x2_t)thp[j]);
                hp[j] = (uint32_t)__sel(0, (uint8x4_t)u);
                t = (uint32_t)__sel((uint8x4_t)0x80008000u, 0);
                cnt = __usada8((uint8x4_t)t, 0, cnt);
                a = (a >> 1) | t;
            }
            if ((p & 0x3FFFu) == 0x3FFFu) { /* cnt <= 2^14 pixels x 16 words x 256: no overflow */
                count += cnt >> 7;
                cnt = 0;
            }
            x = (a >> (16u - nw) & 0xFFFFu) | ((a >> 16) >> (16u - nw) << nw);
            if (nw == 16u) {
                t = (x ^ (x >> 8)) & 0x0000FF00u;
                x ^= t ^ (t << 8);
            }
            if (nw >= 8u) {
                t = (x ^ (x >> 4)) & 0x00F000F0u;
                x ^= t ^ (t << 4);
            }
            t = (x ^ (x >> 2)) & 0x0C0C0C0Cu;
            x ^= t ^ (t << 2);
            *sp = x;
        }
        count += cnt >> 7;
    }
    return count;
}
#endif

#if ESNN_SIMD32 && defined(__GNUC__) && defined(__thumb2__)
#define ESNN_LIF_ASM 1
/* Spikes in a byte (the spike count of an 8-channel pixel: one ldrb instead of a popcount). */
#define POP2(n) (n), (n) + 1, (n) + 1, (n) + 2
#define POP4(n) POP2(n), POP2((n) + 1), POP2((n) + 1), POP2((n) + 2)
#define POP6(n) POP4(n), POP4((n) + 1), POP4((n) + 1), POP4((n) + 2)
static const uint8_t lif_pop8[256] = {POP6(0), POP6(1), POP6(1), POP6(2)};
#undef POP2
#undef POP4
#undef POP6

/* Loops of four pixels (labels 1..4) entered at pixel (4 - R) % 4, R = npix % 4, so that they end on a
 * multiple of four after the first pass. */
#define LIF_ENTRY(R)                                                                                            \
    "cmp " R ", #1\n\t"                                                                                        \
    "beq 4f\n\t"                                                                                               \
    "cmp " R ", #2\n\t"                                                                                        \
    "beq 3f\n\t"                                                                                               \
    "cmp " R ", #3\n\t"                                                                                        \
    "beq 2f\n"
/* One neuron of lif_i32_c8 (S = I + H in r4..r7, threshold 2 * th in r8..r11): d = S - 2 th saturated (its
 * sign exact), m = d >> 31 = -1 when it does not fire; PUT puts m's bit 0 into the word r3 of non-fired bits,
 * the state register gets (S >> 1) & m. */
#define LIF32_N(S, T, PUT)                                                                                      \
    "qsub " T ", " S ", " T "\n\t"                                                                             \
    "asr " T ", " T ", #31\n\t" PUT                                                                            \
    "and " T ", " T ", " S ", asr #1\n\t"
#define LIF32_BIT(T, B) "bfi r3, " T ", #" B ", #1\n\t"
/* Four neurons: currents and states by one ldm each, S = I + H, the thresholds (TH: one ldm or two ldrd from
 * the stack), the new states by one stm. */
#define LIF32_4(TH, P0, B1, B2, B3)                                                                             \
    "ldm r0!, {r4, r5, r6, r7}\n\t"                                                                            \
    "ldm r1, {r8, r9, r10, r11}\n\t"                                                                           \
    "add r4, r8\n\t"                                                                                           \
    "add r5, r9\n\t"                                                                                           \
    "add r6, r10\n\t"                                                                                          \
    "add r7, r11\n\t" TH LIF32_N("r4", "r8", P0) LIF32_N("r5", "r9", LIF32_BIT("r9", B1))                      \
        LIF32_N("r6", "r10", LIF32_BIT("r10", B2)) LIF32_N("r7", "r11", LIF32_BIT("r11", B3))                  \
            "stm r1!, {r8, r9, r10, r11}\n\t"
/* One pixel: the non-fired bits (bit 0 by an and, which clears the rest of r3), inverted, are the spike word. */
#define LIF32_PIXEL                                                                                             \
    LIF32_4("ldm sp, {r8, r9, r10, r11}\n\t", "and r3, r8, #1\n\t", "1", "2", "3")                             \
    LIF32_4("ldrd r8, r9, [sp, #16]\n\tldrd r10, r11, [sp, #24]\n\t", LIF32_BIT("r8", "4"), "5", "6", "7")     \
    "eor r3, r3, #255\n\t"                                                                                     \
    "str r3, [r2], #4\n\t"                                                                                     \
    "ldrb r3, [lr, r3]\n\t"                                                                                    \
    "add r12, r3\n\t"
typedef struct {
    const int32_t *I;
    int32_t *H;
    uint32_t *spikes;
    const int32_t *end; /* I + 8 * npix, npix >= 1 */
    const uint8_t *pop;
    uint32_t count;
    uint32_t rem;   /* npix % 4: the loop of four pixels starts at its (4 - rem) % 4-th */
    int32_t th2[8]; /* 2 * threshold, clamped to int32 */
} lif32_args_t;
/* int32 currents with |I| < 2^30, 32-bit state, leak 1/2, C == 8 (one spike word per pixel), Cortex-M4:
 * U = H + floor((I - H) / 2) = floor((I + H) / 2) with I + H exact in int32 (|H| < 2^30 as well, see
 * lif_small); U >= th <=> I + H >= 2 * th, and clamping 2 * th to int32 keeps that (|I + H| < 2^31 - 1).
 * 6.75 instructions per neuron-step. The thresholds live on the stack (sp[0..31]), with the args pointer
 * (sp[32]) and the end (sp[36]); r12 counts the spikes, lr points at the byte table. */
static void lif_i32_c8_m4(lif32_args_t *a) {
    register lif32_args_t *r0 __asm__("r0") = a;
    __asm__ volatile("ldr r3, [r0, #12]\n\t"
                     "push {r0, r3}\n\t"
                     "add r1, r0, #28\n\t"
                     "ldm r1, {r4, r5, r6, r7, r8, r9, r10, r11}\n\t"
                     "push {r4, r5, r6, r7, r8, r9, r10, r11}\n\t"
                     "ldr lr, [r0, #16]\n\t"
                     "ldr r12, [r0, #20]\n\t"
                     "ldr r3, [r0, #24]\n\t"
                     "ldm r0, {r0, r1, r2}\n\t" LIF_ENTRY("r3")
                     "1:\n\t" LIF32_PIXEL
                     "2:\n\t" LIF32_PIXEL
                     "3:\n\t" LIF32_PIXEL
                     "4:\n\t" LIF32_PIXEL
                     "ldr r3, [sp, #36]\n\t"
                     "cmp r0, r3\n\t"
                     "bne 1b\n\t"
                     "ldr r0, [sp, #32]\n\t"
                     "add sp, sp, #40\n\t"
                     "str r12, [r0, #20]\n"
                     : "+r"(r0)
                     :
                     : "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr", "cc",
                       "memory");
}
#undef LIF32_BIT
#undef LIF32_PIXEL
#undef LIF32_N
#undef LIF32_4
static uint32_t lif_i32_c8(const esnn_op_t *op, const esnn_buffer_t *buf, const uint32_t *current,
                           uint32_t *spikes) {
    const uint32_t npix = (uint32_t)buf->h * buf->w;
    lif32_args_t a;
    uint32_t c;
    if (npix == 0) return 0;
    for (c = 0; c < 8u; c++) {
        const int32_t th = esnn_ld32(op->bias + 4u * c);
        a.th2[c] = th > 0x3FFFFFFF ? 0x7FFFFFFF : th < -0x40000000 ? (-0x7FFFFFFF - 1) : 2 * th;
    }
    a.I = (const int32_t *)(const void *)current;
    a.H = (int32_t *)op->state;
    a.spikes = spikes;
    a.end = a.I + 8u * npix;
    a.pop = lif_pop8;
    a.count = 0;
    a.rem = npix & 3u;
    lif_i32_c8_m4(&a);
    return a.count;
}

/* int16 planes (op->cur16), leak 1/2, C = 8, 16, 32 or 64, Cortex-M4: lif_cur16_simd in blocks of 8 channels
 * (4 words, channels (4g + e, 4g + e + 2) in word 2g + e), each block's currents, states and packed
 * thresholds loaded by one ldm / two ldrd and its states stored by one stm. The spike marks sel(K, 0), K =
 * 0x80002000 (bit 13: low half, 31: high half), are gathered into r4 by a >> 1, 3, 1 between the words so that
 * channel c of the block lands at bit 8 + c (low halves, byte 1) or 24 + c (high halves, byte 3); usad8 adds
 * the bytes, disjoint bits, into the block's spike byte, a byte table gives its spike count. Registers: r0
 * currents, r1 states, r2 spikes, r3 zero, r12 K, lr count; the stack holds the packed thresholds (sp[0..])
 * then the args pointer, the table and the end of the currents (ARGS, ARGS + 4, ARGS + 8). */
#define C16_WORD(T, U, SH)                                                                                      \
    "ssub16 " T ", " U ", " T "\n\t"                                                                            \
    "sel " U ", r3, " U "\n\t"                                                                                  \
    "sel " T ", r12, r3\n\t"                                                                                    \
    "orr r4, " T ", r4, lsr #" SH "\n\t"
#define C16_BLOCK(TH, TAB, STORE)                                                                               \
    "ldm r0!, {r4, r5, r6, r7}\n\t"                                                                            \
    "ldm r1, {r8, r9, r10, r11}\n\t"                                                                           \
    "shadd16 r8, r8, r4\n\t"                                                                                   \
    "shadd16 r9, r9, r5\n\t"                                                                                   \
    "shadd16 r10, r10, r6\n\t"                                                                                 \
    "shadd16 r11, r11, r7\n\t" TH                                                                              \
    "ssub16 r4, r8, r4\n\t"                                                                                    \
    "sel r8, r3, r8\n\t"                                                                                       \
    "sel r4, r12, r3\n\t" C16_WORD("r5", "r9", "1") C16_WORD("r6", "r10", "3") C16_WORD("r7", "r11", "1")     \
    "stm r1!, {r8, r9, r10, r11}\n\t"                                                                          \
    "usad8 r4, r4, r3\n\t"                                                                                     \
    "ldr r5, [sp, #" TAB "]\n\t"                                                                               \
    "ldrb r5, [r5, r4]\n\t"                                                                                    \
    "add lr, r5\n\t" STORE
/* thresholds of block b (16 bytes at sp + 16 b) */
#define C16_TH0 "ldm sp, {r4, r5, r6, r7}\n\t"
#define C16_TH(OFF, OFF8) "ldrd r4, r5, [sp, #" OFF "]\n\tldrd r6, r7, [sp, #" OFF8 "]\n\t"
/* PUSH: copies the packed thresholds from args->th (offset 28) to the stack, last chunk first */
#define C16_ENTER(PUSH)                                                                                         \
    "ldr r3, [r0, #12]\n\t"                                                                                    \
    "ldr r2, [r0, #16]\n\t"                                                                                    \
    "push {r0, r2, r3}\n\t" PUSH                                                                               \
    "ldr lr, [r0, #20]\n\t"                                                                                    \
    "ldr r4, [r0, #24]\n\t"                                                                                    \
    "movs r3, #0\n\t"                                                                                          \
    "movw r12, #0x2000\n\t"                                                                                    \
    "movt r12, #0x8000\n\t"                                                                                    \
    "ldm r0, {r0, r1, r2}\n\t"
#define C16_PUSH8(OFF)                                                                                          \
    "add r1, r0, #" OFF "\n\t"                                                                                 \
    "ldm r1, {r4, r5, r6, r7, r8, r9, r10, r11}\n\t"                                                           \
    "push {r4, r5, r6, r7, r8, r9, r10, r11}\n\t"
#define C16_NEXT(END) "ldr r5, [sp, #" END "]\n\tcmp r0, r5\n\tbne 1b\n\t"
#define C16_LEAVE(ARGS, SP)                                                                                     \
    "ldr r0, [sp, #" ARGS "]\n\t"                                                                              \
    "add sp, sp, #" SP "\n\t"                                                                                  \
    "str lr, [r0, #20]\n"
#define C16_CLOBBER "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr", "cc", "memory"
typedef struct {
    const uint32_t *I;
    uint32_t *H;
    uint32_t *spikes;
    const uint32_t *end; /* npix >= 1 */
    const uint8_t *pop;
    uint32_t count;
    uint32_t rem;    /* C == 8: npix % 4 (the loop of four pixels starts at its (4 - rem) % 4-th) */
    uint32_t th[32]; /* packed thresholds, word j of block b at 4 b + j */
} lif16_args_t;
static void lif_cur16_c8_m4(lif16_args_t *a) {
    register lif16_args_t *r0 __asm__("r0") = a;
    __asm__ volatile(C16_ENTER("add r1, r0, #28\n\tldm r1, {r4, r5, r6, r7}\n\tpush {r4, r5, r6, r7}\n\t")
                     LIF_ENTRY("r4")
                     "1:\n\t" C16_BLOCK(C16_TH0, "20", "str r4, [r2], #4\n")
                     "2:\n\t" C16_BLOCK(C16_TH0, "20", "str r4, [r2], #4\n")
                     "3:\n\t" C16_BLOCK(C16_TH0, "20", "str r4, [r2], #4\n")
                     "4:\n\t" C16_BLOCK(C16_TH0, "20", "str r4, [r2], #4\n\t")
                     C16_NEXT("24") C16_LEAVE("16", "28")
                     : "+r"(r0) : : C16_CLOBBER);
}
static void lif_cur16_c16_m4(lif16_args_t *a) {
    register lif16_args_t *r0 __asm__("r0") = a;
    __asm__ volatile(C16_ENTER(C16_PUSH8("28"))
                     "1:\n\t" C16_BLOCK(C16_TH0, "36", "strb r4, [r2], #1\n\t")
                     C16_BLOCK(C16_TH("16", "24"), "36", "strb r4, [r2], #1\n\t")
                     "strh r3, [r2], #2\n\t"
                     C16_NEXT("40") C16_LEAVE("32", "44")
                     : "+r"(r0) : : C16_CLOBBER);
}
static void lif_cur16_c32_m4(lif16_args_t *a) {
    register lif16_args_t *r0 __asm__("r0") = a;
    __asm__ volatile(C16_ENTER(C16_PUSH8("60") C16_PUSH8("28"))
                     "1:\n\t" C16_BLOCK(C16_TH0, "68", "strb r4, [r2], #1\n\t")
                     C16_BLOCK(C16_TH("16", "24"), "68", "strb r4, [r2], #1\n\t")
                     C16_BLOCK(C16_TH("32", "40"), "68", "strb r4, [r2], #1\n\t")
                     C16_BLOCK(C16_TH("48", "56"), "68", "strb r4, [r2], #1\n\t")
                     C16_NEXT("72") C16_LEAVE("64", "76")
                     : "+r"(r0) : : C16_CLOBBER);
}
static void lif_cur16_c64_m4(lif16_args_t *a) {
    register lif16_args_t *r0 __asm__("r0") = a;
    __asm__ volatile(C16_ENTER(C16_PUSH8("124") C16_PUSH8("92") C16_PUSH8("60") C16_PUSH8("28"))
                     "1:\n\t" C16_BLOCK(C16_TH0, "132", "strb r4, [r2], #1\n\t")
                     C16_BLOCK(C16_TH("16", "24"), "132", "strb r4, [r2], #1\n\t")
                     C16_BLOCK(C16_TH("32", "40"), "132", "strb r4, [r2], #1\n\t")
                     C16_BLOCK(C16_TH("48", "56"), "132", "strb r4, [r2], #1\n\t")
                     C16_BLOCK(C16_TH("64", "72"), "132", "strb r4, [r2], #1\n\t")
                     C16_BLOCK(C16_TH("80", "88"), "132", "strb r4, [r2], #1\n\t")
                     C16_BLOCK(C16_TH("96", "104"), "132", "strb r4, [r2], #1\n\t")
                     C16_BLOCK(C16_TH("112", "120"), "132", "strb r4, [r2], #1\n\t")
                     C16_NEXT("136") C16_LEAVE("128", "140")
                     : "+r"(r0) : : C16_CLOBBER);
}
#undef C16_WORD
#undef C16_BLOCK
#undef C16_TH0
#undef C16_TH
#undef C16_ENTER
#undef C16_PUSH8
#undef C16_NEXT
#undef C16_LEAVE
#undef C16_CLOBBER
#undef LIF_ENTRY
/* C == 8, 16, 32 or 64 (the caller checks); the spike words of a pixel are written bytewise (cw words). */
static uint32_t lif_cur16_m4(const esnn_op_t *op, const esnn_buffer_t *buf, const uint32_t *current,
                             uint32_t *spikes) {
    const uint32_t C = buf->c, npix = (uint32_t)buf->h * buf->w;
    lif16_args_t a;
    const uint8_t *t = op->bias;
    uint32_t *th = a.th;
    if (npix == 0) return 0;
    for (; th != a.th + C / 2u; th += 4, t += 32) { /* block of 8: words (0, 2), (1, 3), (4, 6), (5, 7) */
#define PK(x, y) (((uint32_t)esnn_ld32(t + 4u * (x)) & 0xFFFFu) | ((uint32_t)esnn_ld32(t + 4u * (y)) << 16))
        th[0] = PK(0, 2);
        th[1] = PK(1, 3);
        th[2] = PK(4, 6);
        th[3] = PK(5, 7);
#undef PK
    }
    a.I = current;
    a.H = (uint32_t *)op->state;
    a.spikes = spikes;
    a.end = current + C / 2u * npix;
    a.pop = lif_pop8;
    a.count = 0;
    a.rem = npix & 3u;
    if (C == 8u) lif_cur16_c8_m4(&a);
    else if (C == 16u) lif_cur16_c16_m4(&a);
    else if (C == 32u) lif_cur16_c32_m4(&a);
    else lif_cur16_c64_m4(&a);
    return a.count;
}
#endif

uint32_t esnn_lif(const esnn_op_t *op, const esnn_buffer_t *buf, const uint32_t *current, uint32_t *spikes) {
    const uint32_t m = op->leak_mul;
    if ((m & (m - 1u)) == 0) { /* 2^(16 - s) (m >= 1) */
        const unsigned s = 16u - esnn_ctz32(m);
        if (op->cur16) {
            ESNN_TRACE_RAN(op, ESNN_KERNEL_LIF_CUR16);
#ifdef ESNN_LIF_ASM
            if (s == 1 && (buf->c == 8u || buf->c == 16u || buf->c == 32u || buf->c == 64u))
                return lif_cur16_m4(op, buf, current, spikes);
#endif
#if ESNN_SIMD32
            if (s == 1) return lif_cur16_simd(op, buf, current, spikes);
#endif
#ifdef ESNN_LIF_SSE2
            return lif_cur16_sse2(op, buf, current, spikes, s);
#endif
            return lif_cur16(op, buf, current, spikes, s);
        }
        if (op->bound < (1u << 30)) {
            ESNN_TRACE_RAN(op, ESNN_KERNEL_LIF_SMALL);
#ifdef ESNN_LIF_ASM
            if (s == 1 && op->state_bits == 32 && buf->c == 8u) return lif_i32_c8(op, buf, current, spikes);
#endif
            if (op->state_bits == 32) return lif_small(op, buf, current, spikes, 0, 0, s);
            return op->bound <= 32767u ? lif_small(op, buf, current, spikes, 1, 0, s)
                                       : lif_small(op, buf, current, spikes, 1, 1, s);
        }
        ESNN_TRACE_RAN(op, ESNN_KERNEL_LIF_LOOP);
        return op->state_bits == 16 ? lif_loop(op, buf, current, spikes, 1, 1, s)
                                    : lif_loop(op, buf, current, spikes, 0, 1, s);
    }
    ESNN_TRACE_RAN(op, ESNN_KERNEL_LIF_LOOP);
    return op->state_bits == 16 ? lif_loop(op, buf, current, spikes, 1, 0, 0)
                                : lif_loop(op, buf, current, spikes, 0, 0, 0);
}
