#include "conv_host.h"

/* Cortex-M4 builds compile this file to nothing; ISO C wants at least one declaration. */
typedef int esnn_conv_host_unit;

#if !ESNN_SIMD32
/* Hosts (natural channel order): x86 with SSE2 (the x86-64 baseline) in intrinsics, anything else in
 * fixed-width loops of 8 int16 lanes that compilers vectorise. Per tap, the accumulators of up to 32 channels
 * stay in registers across the spikes. ESNN_NO_ASM selects the portable loops on x86 too (tested). */
#if defined(__SSE2__) && !defined(ESNN_NO_ASM)
#include <emmintrin.h>
#define ESNN_CONV_SSE2 1
/* int8 -> int16 sign extension: bytes into the high halves (unpack with themselves), arithmetic shift 8 */
#define SX_LO(v) _mm_srai_epi16(_mm_unpacklo_epi8((v), (v)), 8)
#define SX_HI(v) _mm_srai_epi16(_mm_unpackhi_epi8((v), (v)), 8)
#define LD(p) _mm_loadu_si128((const __m128i *)(const void *)(p))
#define ST(p, v) _mm_storeu_si128((__m128i *)(void *)(p), (v))
#define LD8(p) _mm_loadl_epi64((const __m128i *)(const void *)(p))
/* cout == 8: 8 taps per pass over the spikes, their accumulators in 8 registers (one movq of weights each). */
static void taps8_group8(int16_t *y, const uint8_t *w, const uint32_t *sp, uint32_t ns, const uint32_t *t) {
    int16_t *const y0 = y + t[0], *const y1 = y + t[2], *const y2 = y + t[4], *const y3 = y + t[6];
    int16_t *const y4 = y + t[8], *const y5 = y + t[10], *const y6 = y + t[12], *const y7 = y + t[14];
    const uint8_t *const w0 = w + t[1], *const w1 = w + t[3], *const w2 = w + t[5], *const w3 = w + t[7];
    const uint8_t *const w4 = w + t[9], *const w5 = w + t[11], *const w6 = w + t[13], *const w7 = w + t[15];
    __m128i a0 = LD(y0), a1 = LD(y1), a2 = LD(y2), a3 = LD(y3), a4 = LD(y4), a5 = LD(y5), a6 = LD(y6);
    __m128i a7 = LD(y7);
    const uint32_t *const end = sp + ns;
    for (; sp != end; sp++) {
        const uint32_t o = *sp;
        __m128i v;
        v = LD8(w0 + o);
        a0 = _mm_add_epi16(a0, SX_LO(v));
        v = LD8(w1 + o);
        a1 = _mm_add_epi16(a1, SX_LO(v));
        v = LD8(w2 + o);
        a2 = _mm_add_epi16(a2, SX_LO(v));
        v = LD8(w3 + o);
        a3 = _mm_add_epi16(a3, SX_LO(v));
        v = LD8(w4 + o);
        a4 = _mm_add_epi16(a4, SX_LO(v));
        v = LD8(w5 + o);
        a5 = _mm_add_epi16(a5, SX_LO(v));
        v = LD8(w6 + o);
        a6 = _mm_add_epi16(a6, SX_LO(v));
        v = LD8(w7 + o);
        a7 = _mm_add_epi16(a7, SX_LO(v));
    }
    ST(y0, a0);
    ST(y1, a1);
    ST(y2, a2);
    ST(y3, a3);
    ST(y4, a4);
    ST(y5, a5);
    ST(y6, a6);
    ST(y7, a7);
}
/* cout == 16: 4 taps per pass, 2 registers each (one 16-byte load of weights per tap and spike). */
static void taps16_group4(int16_t *y, const uint8_t *w, const uint32_t *sp, uint32_t ns, const uint32_t *t) {
    int16_t *const y0 = y + t[0], *const y1 = y + t[2], *const y2 = y + t[4], *const y3 = y + t[6];
    const uint8_t *const w0 = w + t[1], *const w1 = w + t[3], *const w2 = w + t[5], *const w3 = w + t[7];
    __m128i a0 = LD(y0), b0 = LD(y0 + 8), a1 = LD(y1), b1 = LD(y1 + 8), a2 = LD(y2), b2 = LD(y2 + 8);
    __m128i a3 = LD(y3), b3 = LD(y3 + 8);
    const uint32_t *const end = sp + ns;
    for (; sp != end; sp++) {
        const uint32_t o = *sp;
        __m128i v;
        v = LD(w0 + o);
        a0 = _mm_add_epi16(a0, SX_LO(v));
        b0 = _mm_add_epi16(b0, SX_HI(v));
        v = LD(w1 + o);
        a1 = _mm_add_epi16(a1, SX_LO(v));
        b1 = _mm_add_epi16(b1, SX_HI(v));
        v = LD(w2 + o);
        a2 = _mm_add_epi16(a2, SX_LO(v));
        b2 = _mm_add_epi16(b2, SX_HI(v));
        v = LD(w3 + o);
        a3 = _mm_add_epi16(a3, SX_LO(v));
        b3 = _mm_add_epi16(b3, SX_HI(v));
    }
    ST(y0, a0);
    ST(y0 + 8, b0);
    ST(y1, a1);
    ST(y1 + 8, b1);
    ST(y2, a2);
    ST(y2 + 8, b2);
    ST(y3, a3);
    ST(y3 + 8, b3);
}
void esnn_taps_host(int16_t *y, const uint8_t *w, uint32_t cout, const uint32_t *sp, uint32_t ns,
                      const uint32_t *taps) {
    uint32_t nt = *taps++;
    uint32_t t, s, j;
    if (cout == 8u)
        for (; nt >= 8u; nt -= 8u, taps += 16) taps8_group8(y, w, sp, ns, taps);
    else if (cout == 16u)
        for (; nt >= 4u; nt -= 4u, taps += 8) taps16_group4(y, w, sp, ns, taps);
    for (t = 0; t < nt; t++) {
        int16_t *acc = y + taps[2u * t];
        const uint8_t *wt = w + taps[2u * t + 1u];
        j = 0;
        for (; j + 32u <= cout; j += 32u) {
            __m128i a0 = _mm_loadu_si128((const __m128i *)(void *)(acc + j));
            __m128i a1 = _mm_loadu_si128((const __m128i *)(void *)(acc + j + 8u));
            __m128i a2 = _mm_loadu_si128((const __m128i *)(void *)(acc + j + 16u));
            __m128i a3 = _mm_loadu_si128((const __m128i *)(void *)(acc + j + 24u));
            for (s = 0; s < ns; s++) {
                const __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(wt + j + sp[s]));
                const __m128i u = _mm_loadu_si128((const __m128i *)(const void *)(wt + j + sp[s] + 16u));
                a0 = _mm_add_epi16(a0, SX_LO(v));
                a1 = _mm_add_epi16(a1, SX_HI(v));
                a2 = _mm_add_epi16(a2, SX_LO(u));
                a3 = _mm_add_epi16(a3, SX_HI(u));
            }
            _mm_storeu_si128((__m128i *)(void *)(acc + j), a0);
            _mm_storeu_si128((__m128i *)(void *)(acc + j + 8u), a1);
            _mm_storeu_si128((__m128i *)(void *)(acc + j + 16u), a2);
            _mm_storeu_si128((__m128i *)(void *)(acc + j + 24u), a3);
        }
        if (j + 16u <= cout) {
            __m128i a0 = _mm_loadu_si128((const __m128i *)(void *)(acc + j));
            __m128i a1 = _mm_loadu_si128((const __m128i *)(void *)(acc + j + 8u));
            for (s = 0; s < ns; s++) {
                const __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(wt + j + sp[s]));
                a0 = _mm_add_epi16(a0, SX_LO(v));
                a1 = _mm_add_epi16(a1, SX_HI(v));
            }
            _mm_storeu_si128((__m128i *)(void *)(acc + j), a0);
            _mm_storeu_si128((__m128i *)(void *)(acc + j + 8u), a1);
            j += 16u;
        }
        if (j < cout) { /* cout % 8 == 0 (acc16) */
            __m128i a0 = _mm_loadu_si128((const __m128i *)(void *)(acc + j));
            for (s = 0; s < ns; s++) a0 = _mm_add_epi16(a0, SX_LO(LD8(wt + j + sp[s])));
            _mm_storeu_si128((__m128i *)(void *)(acc + j), a0);
        }
    }
}
#else
#define ESNN_CONV_SSE2 0
/* acc[0..8) += the 8 weights at wt + sp[s] for every spike: a fixed-width loop (one vector register). */
static void lanes8(int16_t *restrict acc, const int8_t *restrict wt, const uint32_t *restrict sp, uint32_t ns) {
    int16_t a[8];
    uint32_t s, k;
    memcpy(a, acc, sizeof a);
    for (s = 0; s < ns; s++) {
        const int8_t *ws = wt + sp[s];
        for (k = 0; k < 8u; k++) a[k] = (int16_t)(a[k] + ws[k]);
    }
    memcpy(acc, a, sizeof a);
}
static void lanes16(int16_t *restrict acc, const int8_t *restrict wt, const uint32_t *restrict sp, uint32_t ns) {
    int16_t a[16];
    uint32_t s, k;
    memcpy(a, acc, sizeof a);
    for (s = 0; s < ns; s++) {
        const int8_t *ws = wt + sp[s];
        for (k = 0; k < 16u; k++) a[k] = (int16_t)(a[k] + ws[k]);
    }
    memcpy(acc, a, sizeof a);
}
void esnn_taps_host(int16_t *y, const uint8_t *w, uint32_t cout, const uint32_t *sp, uint32_t ns,
                      const uint32_t *taps) {
    const uint32_t nt = *taps++;
    uint32_t t, j;
    for (t = 0; t < nt; t++) {
        int16_t *acc = y + taps[2u * t];
        const int8_t *wt = (const int8_t *)w + taps[2u * t + 1u];
        for (j = 0; j + 16u <= cout; j += 16u) lanes16(acc + j, wt + j, sp, ns);
        if (j < cout) lanes8(acc + j, wt + j, sp, ns); /* cout % 8 == 0 (acc16) */
    }
}
#endif
#endif
