/* Cortex-M4 (ARMv7E-M DSP) inline-assembly kernels of the spike and first-layer convolutions (conv.c chooses
 * among them; the plain C kernels there stay the reference). Accumulator planes are int16 in the
 * ESNN_CUR16_POS layout unless named i32; spike entries are the addresses of the spiking channels' weight
 * blocks; tap tables hold a count, then per tap the accumulator byte offset and the weight byte offset. */
#ifndef ESNN_KERNEL_CONV_M4_H
#define ESNN_KERNEL_CONV_M4_H
#include "../esnn_internal.h"

#if defined(__GNUC__) && defined(__thumb2__) && defined(__ARM_ARCH_7EM__) && !defined(ESNN_NO_ASM) && \
    defined(__ARMEL__)
#define ESNN_CONV_ASM 1
/* int32 accumulators: acc[0..8) += the 8 weights at wt + s for every spike entry s in [sp, end). */
void esnn_chunk8_i32_m4(uint32_t *acc, const uint8_t *wt, const uint32_t *sp, const uint32_t *end);
#else
#define ESNN_CONV_ASM 0
#endif

#if ESNN_SIMD32
/* First-layer u8 conv, outputs [oy0, oy1) x [ox0, ox1) whose windows lie inside the input (bias already in y,
 * which holds the rows from row0 on); returns 0 when the op does not qualify. scratch: 2 * cin * kh * kw words
 * (esnn_conv_scratch_bytes). */
int esnn_conv_u8_interior_m4(const esnn_op_t *op, const esnn_buffer_t *in, const esnn_buffer_t *out,
                             const uint8_t *x, uint32_t *y, uint32_t row0, uint32_t oy0, uint32_t oy1, uint32_t ox0,
                             uint32_t ox1, uint32_t *scratch);
/* Tap-outer: for each tap, its accumulators in registers across the spikes (many spikes per pixel). */
void esnn_chunk16_m4(int16_t *acc, uint32_t wt, const uint32_t *sp, const uint32_t *end);
void esnn_chunk8_m4(int16_t *acc, uint32_t wt, const uint32_t *sp, const uint32_t *end);
void esnn_taps8_m4(const uint32_t *taps, int16_t *base, const uint32_t *spk, const uint32_t *end);
void esnn_pairs8_m4(const uint32_t *pairs, int16_t *base, const uint32_t *spk, const uint32_t *end);
void esnn_taps16_m4(const uint32_t *taps, int16_t *base, const uint32_t *spk, const uint32_t *end);
/* Spike-outer over a tap table, cout 16 / 32 / 64 (few spikes per pixel); 4-aligned weights. */
void esnn_so16_m4(const uint32_t *taps, int16_t *base, const uint32_t *spk, const uint32_t *end);
void esnn_so32_m4(const uint32_t *taps, int16_t *base, const uint32_t *spk, const uint32_t *end);
void esnn_so64_m4(const uint32_t *taps, int16_t *base, const uint32_t *spk, const uint32_t *end);
/* 3x3 / stride 1 / pad 1 "same" convs, cout 8 / 16 / 32, one spike word per pixel, 4-aligned weights: the
 * pixels ix0 .. ix1 - 1 of input row iy (spike words prow) of a map h high and ow wide, all of one column case
 * (interior, or the left / right edge pixel), with the 9 taps unrolled; y16 holds output rows row0 ... */
enum { ESNN_K3_INTERIOR = 0, ESNN_K3_LEFT = 1, ESNN_K3_RIGHT = 2 };
void esnn_k3_run(const uint8_t *w, int16_t *y16, uint32_t row0, uint32_t cout, uint32_t ow, uint32_t h, uint32_t iy,
                 const uint32_t *prow, uint32_t ix0, uint32_t ix1, int cols);
/* n stores (n may be 0) of the 8 words at pattern, step bytes apart from p, one stm each. */
void esnn_fill8_m4(uint32_t *p, const uint32_t *pattern, uint32_t n, uint32_t step);
/* n4 groups of 4 words from src down to dst <= src (overlap allowed). */
void esnn_copy_down_m4(uint32_t *dst, const uint32_t *src, uint32_t n4);
#endif
#endif
