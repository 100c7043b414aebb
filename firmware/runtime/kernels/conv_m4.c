#include "conv_m4.h"
#if ESNN_SIMD32
#include <arm_acle.h>
#endif

/* Hosts compile this file to nothing; ISO C wants at least one declaration. */
typedef int esnn_conv_m4_unit;

#if ESNN_SIMD32
typedef struct {
    uint32_t w, rstep, px, pxend, accbase;
} k3_args_t;
enum { K3_FULL = 0, K3_TOP = 1, K3_BOTTOM = 2, K3_LEFT = ESNN_K3_LEFT, K3_RIGHT = ESNN_K3_RIGHT };
#endif

/* Cortex-M4 (ARMv7E-M, Thumb-2): the same 8-wide chunk with the accumulators loaded and stored by one
 * ldm / stm and each weight byte sign-extended and added by one sxtab (ror 0/8/16/24): 14 instructions per
 * spike and 8 outputs. Little-endian only; the weight loads may be unaligned (allowed for ldr on M4). */
#if ESNN_CONV_ASM
void esnn_chunk8_i32_m4(uint32_t *acc, const uint8_t *wt, const uint32_t *sp, const uint32_t *end) {
    __asm__ volatile(
        "ldm %[acc], {r4, r5, r6, r7, r8, r9, r10, r11}\n"
        "1:\n\t"
        "ldr r12, [%[sp]], #4\n\t"
        "add r12, r12, %[wt]\n\t"
        "ldr lr, [r12]\n\t"
        "ldr r12, [r12, #4]\n\t"
        "sxtab r4, r4, lr\n\t"
        "sxtab r5, r5, lr, ror #8\n\t"
        "sxtab r6, r6, lr, ror #16\n\t"
        "sxtab r7, r7, lr, ror #24\n\t"
        "sxtab r8, r8, r12\n\t"
        "sxtab r9, r9, r12, ror #8\n\t"
        "sxtab r10, r10, r12, ror #16\n\t"
        "sxtab r11, r11, r12, ror #24\n\t"
        "cmp %[sp], %[end]\n\t"
        "bne 1b\n\t"
        "stm %[acc], {r4, r5, r6, r7, r8, r9, r10, r11}\n"
        : [sp] "+r"(sp)
        : [acc] "r"(acc), [wt] "r"(wt), [end] "r"(end)
        : "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr", "cc", "memory");
}

/* Cortex-M4, 8-bit weights, cout % 4 == 0, at most 64 taps (cin * kh * kw): the outputs whose window lies inside
 * the input, 4 channels at a time in registers. Per non-zero input value: one ldr of 4 weights, two sxtb16
 * and four smlabb / smlabt (one MAC each, wrapping 32-bit adds as the reference's uint32 sums). Returns 0 when
 * the op does not qualify (the caller's loop then does every output). */
int esnn_conv_u8_interior_m4(const esnn_op_t *op, const esnn_buffer_t *in, const esnn_buffer_t *out,
                               const uint8_t *x, uint32_t *y, uint32_t row0, uint32_t oy0, uint32_t oy1,
                               uint32_t ox0, uint32_t ox1, uint32_t *scratch) {
    const uint32_t cout = op->cout, ntaps = (uint32_t)op->cin * op->kh * op->kw, s = op->stride;
    uint32_t *const xoff = scratch, *const woff = scratch + ntaps, t, ci, ky, kx, oy, ox, g;
    if (op->bits != 8 || (cout & 3u) || ntaps > 64u) return 0;
    for (t = 0, ci = 0; ci < op->cin; ci++)
        for (ky = 0; ky < op->kh; ky++)
            for (kx = 0; kx < op->kw; kx++, t++) {
                xoff[t] = (ci * in->h + ky) * in->w + kx;
                woff[t] = t * cout;
            }
    for (oy = oy0; oy < oy1; oy++)
        for (ox = ox0; ox < ox1; ox++) {
            const uint8_t *xp = x + (oy * s - op->pad) * in->w + (ox * s - op->pad);
            uint32_t *acc = y + ((oy - row0) * out->w + ox) * cout;
            for (g = 0; g < cout; g += 4u) {
                const uint8_t *wg = op->w + g;
                int32_t a0 = (int32_t)acc[g], a1 = (int32_t)acc[g + 1u], a2 = (int32_t)acc[g + 2u];
                int32_t a3 = (int32_t)acc[g + 3u];
                for (t = 0; t < ntaps; t++) {
                    const int32_t v = xp[xoff[t]];
                    uint32_t wv;
                    int16x2_t lo, hi;
                    if (!v) continue;
                    wv = (uint32_t)esnn_ld32(wg + woff[t]);
                    lo = __sxtb16((int8x4_t)wv);                      /* channels g, g + 2 */
                    hi = __sxtb16((int8x4_t)((wv >> 8) | (wv << 24))); /* g + 1, g + 3 */
                    a0 = __smlabb(v, (int32_t)lo, a0);
                    a2 = __smlabt(v, (int32_t)lo, a2);
                    a1 = __smlabb(v, (int32_t)hi, a1);
                    a3 = __smlabt(v, (int32_t)hi, a3);
                }
                acc[g] = (uint32_t)a0;
                acc[g + 1u] = (uint32_t)a1;
                acc[g + 2u] = (uint32_t)a2;
                acc[g + 3u] = (uint32_t)a3;
            }
        }
    return 1;
}

/* 16 outputs (8 accumulator words) per spike: ldr weight word, sxtb16 (bytes 0, 2) + sadd16, sxtb16 ror 8
 * (bytes 1, 3) + sadd16: 24 instructions per spike and 16 outputs. The acc pointer register is saved on the
 * stack and used as a temporary inside the loop. */
ESNN_NOINLINE void esnn_chunk16_m4(int16_t *acc, uint32_t wt, const uint32_t *sp, const uint32_t *end) {
    __asm__ volatile(
        "push {%[acc]}\n\t"
        "ldm %[acc], {r4, r5, r6, r7, r8, r9, r10, r11}\n"
        "1:\n\t"
        "ldr r12, [%[sp]], #4\n\t"
        "add r12, r12, %[wt]\n\t"
        "ldr lr, [r12]\n\t"
        "sxtab16 r4, r4, lr\n\t"
        "sxtab16 r5, r5, lr, ror #8\n\t"
        "ldr lr, [r12, #4]\n\t"
        "sxtab16 r6, r6, lr\n\t"
        "sxtab16 r7, r7, lr, ror #8\n\t"
        "ldr lr, [r12, #8]\n\t"
        "sxtab16 r8, r8, lr\n\t"
        "sxtab16 r9, r9, lr, ror #8\n\t"
        "ldr lr, [r12, #12]\n\t"
        "sxtab16 r10, r10, lr\n\t"
        "sxtab16 r11, r11, lr, ror #8\n\t"
        "cmp %[sp], %[end]\n\t"
        "bne 1b\n\t"
        "pop {%[acc]}\n\t"
        "stm %[acc], {r4, r5, r6, r7, r8, r9, r10, r11}\n"
        : [sp] "+r"(sp)
        : [acc] "r"(acc), [wt] "r"(wt), [end] "r"(end)
        : "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr", "cc", "memory");
}
/* cout == 8: every tap of the pixel in one loop. taps[0] = number of taps, then per tap the byte offset of its
 * accumulator row from `base` and its weight offset (added to the spike entries, the addresses of the spiking
 * channels' weight blocks). Per tap ldrd / add / ldm / mov / stm / ldr / cmp / bne (8), per spike 14 (8
 * outputs). The end of the table is kept on the stack (no register left). */
ESNN_NOINLINE void esnn_taps8_m4(const uint32_t *taps, int16_t *base, const uint32_t *spk, const uint32_t *end) {
    __asm__ volatile(
        "ldr r8, [%[taps]], #4\n\t"
        "add r8, %[taps], r8, lsl #3\n\t"
        "push {r8}\n"
        "2:\n\t"
        "ldrd r9, r10, [%[taps]], #8\n\t"
        "add r9, r9, %[base]\n\t"
        "ldm r9, {r4, r5, r6, r7}\n\t"
        "mov r11, %[spk]\n"
        "1:\n\t"
        "ldr r12, [r11], #4\n\t"
        "add r12, r12, r10\n\t"
        "ldr lr, [r12]\n\t"
        "ldr r12, [r12, #4]\n\t"
        "sxtab16 r4, r4, lr\n\t"
        "sxtab16 r5, r5, lr, ror #8\n\t"
        "sxtab16 r6, r6, r12\n\t"
        "sxtab16 r7, r7, r12, ror #8\n\t"
        "cmp r11, %[end]\n\t"
        "bne 1b\n\t"
        "stm r9, {r4, r5, r6, r7}\n\t"
        "ldr r8, [sp]\n\t"
        "cmp %[taps], r8\n\t"
        "bne 2b\n\t"
        "add sp, sp, #4\n"
        : [taps] "+r"(taps)
        : [base] "r"(base), [spk] "r"(spk), [end] "r"(end)
        : "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr", "cc", "memory");
}
/* 8 outputs (4 words) per spike: 14 instructions. */
ESNN_NOINLINE void esnn_chunk8_m4(int16_t *acc, uint32_t wt, const uint32_t *sp, const uint32_t *end) {
    __asm__ volatile(
        "ldm %[acc], {r4, r5, r6, r7}\n"
        "1:\n\t"
        "ldr r12, [%[sp]], #4\n\t"
        "add r12, r12, %[wt]\n\t"
        "ldr lr, [r12]\n\t"
        "ldr r12, [r12, #4]\n\t"
        "sxtab16 r4, r4, lr\n\t"
        "sxtab16 r5, r5, lr, ror #8\n\t"
        "sxtab16 r6, r6, r12\n\t"
        "sxtab16 r7, r7, r12, ror #8\n\t"
        "cmp %[sp], %[end]\n\t"
        "bne 1b\n\t"
        "stm %[acc], {r4, r5, r6, r7}\n"
        : [sp] "+r"(sp)
        : [acc] "r"(acc), [wt] "r"(wt), [end] "r"(end)
        : "r4", "r5", "r6", "r7", "r8", "r12", "lr", "cc", "memory");
}

/* cout == 8, stride 1: the column taps m + 1 and m of one kernel row in one pass over the spikes. Their
 * accumulators are adjacent (output columns c, c + 1: 8 words, one ldm / stm) and so are their weights (kx,
 * kx + 1 reversed: bytes 8..15 for column c, 0..7 for column c + 1). pairs[0] = number of pairs, then per pair
 * the byte offset of its accumulators from `base` and the weight offset of column c + 1. Per spike 24
 * instructions for 16 outputs (two single taps: 28); per pair 14. Base, spike list, table end, table pointer
 * and accumulator pointer live on the stack (every register holds a sum or a loop value). */
ESNN_NOINLINE void esnn_pairs8_m4(const uint32_t *pairs, int16_t *base, const uint32_t *spk,
                                      const uint32_t *end) {
    __asm__ volatile(
        "ldr r12, [%[t]], #4\n\t"
        "add r12, %[t], r12, lsl #3\n\t"
        "sub sp, sp, #24\n\t"
        "str %[b], [sp]\n\t"
        "str %[s], [sp, #4]\n\t"
        "str r12, [sp, #8]\n"
        "2:\n\t"
        "ldrd r12, lr, [%[t]], #8\n\t"
        "str %[t], [sp, #12]\n\t"
        "ldr %[t], [sp]\n\t"
        "add r12, r12, %[t]\n\t"
        "str r12, [sp, #16]\n\t"
        "ldm r12, {r4, r5, r6, r7, r8, r9, r10, r11}\n\t"
        "mov %[b], lr\n\t"
        "ldr %[t], [sp, #4]\n"
        "1:\n\t"
        "ldr r12, [%[t]], #4\n\t"
        "add r12, r12, %[b]\n\t"
        "ldr lr, [r12, #8]\n\t"
        "sxtab16 r4, r4, lr\n\t"
        "sxtab16 r5, r5, lr, ror #8\n\t"
        "ldr lr, [r12, #12]\n\t"
        "sxtab16 r6, r6, lr\n\t"
        "sxtab16 r7, r7, lr, ror #8\n\t"
        "ldr lr, [r12]\n\t"
        "ldr r12, [r12, #4]\n\t"
        "sxtab16 r8, r8, lr\n\t"
        "sxtab16 r9, r9, lr, ror #8\n\t"
        "sxtab16 r10, r10, r12\n\t"
        "sxtab16 r11, r11, r12, ror #8\n\t"
        "cmp %[t], %[e]\n\t"
        "bne 1b\n\t"
        "ldr r12, [sp, #16]\n\t"
        "stm r12, {r4, r5, r6, r7, r8, r9, r10, r11}\n\t"
        "ldr %[t], [sp, #12]\n\t"
        "ldr r12, [sp, #8]\n\t"
        "cmp %[t], r12\n\t"
        "bne 2b\n\t"
        "add sp, sp, #24\n"
        : [t] "+r"(pairs), [b] "+r"(base), [s] "+r"(spk)
        : [e] "r"(end)
        : "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr", "cc", "memory");
}
/* cout == 16: every tap of the pixel (table as in esnn_taps8_m4) with its 16 accumulators (8 words) in registers:
 * the loop of esnn_pairs8_m4 with the weight words in order. Per spike 24 instructions for 16 outputs, per tap 14. */
ESNN_NOINLINE void esnn_taps16_m4(const uint32_t *taps, int16_t *base, const uint32_t *spk,
                                      const uint32_t *end) {
    __asm__ volatile(
        "ldr r12, [%[t]], #4\n\t"
        "add r12, %[t], r12, lsl #3\n\t"
        "sub sp, sp, #24\n\t"
        "str %[b], [sp]\n\t"
        "str %[s], [sp, #4]\n\t"
        "str r12, [sp, #8]\n"
        "2:\n\t"
        "ldrd r12, lr, [%[t]], #8\n\t"
        "str %[t], [sp, #12]\n\t"
        "ldr %[t], [sp]\n\t"
        "add r12, r12, %[t]\n\t"
        "str r12, [sp, #16]\n\t"
        "ldm r12, {r4, r5, r6, r7, r8, r9, r10, r11}\n\t"
        "mov %[b], lr\n\t"
        "ldr %[t], [sp, #4]\n"
        "1:\n\t"
        "ldr r12, [%[t]], #4\n\t"
        "add r12, r12, %[b]\n\t"
        "ldr lr, [r12]\n\t"
        "sxtab16 r4, r4, lr\n\t"
        "sxtab16 r5, r5, lr, ror #8\n\t"
        "ldr lr, [r12, #4]\n\t"
        "sxtab16 r6, r6, lr\n\t"
        "sxtab16 r7, r7, lr, ror #8\n\t"
        "ldr lr, [r12, #8]\n\t"
        "ldr r12, [r12, #12]\n\t"
        "sxtab16 r8, r8, lr\n\t"
        "sxtab16 r9, r9, lr, ror #8\n\t"
        "sxtab16 r10, r10, r12\n\t"
        "sxtab16 r11, r11, r12, ror #8\n\t"
        "cmp %[t], %[e]\n\t"
        "bne 1b\n\t"
        "ldr r12, [sp, #16]\n\t"
        "stm r12, {r4, r5, r6, r7, r8, r9, r10, r11}\n\t"
        "ldr %[t], [sp, #12]\n\t"
        "ldr r12, [sp, #8]\n\t"
        "cmp %[t], r12\n\t"
        "bne 2b\n\t"
        "add sp, sp, #24\n"
        : [t] "+r"(taps), [b] "+r"(base), [s] "+r"(spk)
        : [e] "r"(end)
        : "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr", "cc", "memory");
}

/* ---- 3x3, stride 1, pad 1, interior input pixels: spike-outer scatter with the 9 taps unrolled ----------------
 * Each spike of an input pixel adds its 9 weight rows to the 3x3 block of outputs around it. With the taps at
 * fixed offsets (immediates) and ldm / stm moving 8 accumulator words per instruction, no tap table and no
 * per-tap loop is needed: per spike and 16 outputs ldm, 2 ldrd, 8 sxtab16, stm (about 0.8 instructions per
 * SOP), plus a few per spike and per pixel. Output (iy + 1 - ky, ix + 1 - kx) gets tap (ky, kx), so the top
 * output row takes kernel row 2 and the left column kernel column 2. Needs 4-aligned weights (ldrd).
 * Zero input words cost 5 instructions (r1, r2: word pointer and end). State on the stack: [sp] weights,
 * [sp, #4] row step, [sp, #8] word pointer past the current pixel, [sp, #12] end, [sp, #16] accbase: the
 * accumulators of a pixel's top-left output are accbase + (pointer past its word) * cout / 2 (mod 2^32),
 * [sp, #20] those of the current pixel. In the spike loop r3: spikes left, r2: the spike's weight block,
 * r0: accumulator pointer, r1: row step. */

/* cout 8: output columns ix - 1 and ix in one ldm / stm (8 words), ix + 1 by ldrd / strd. R: kernel row offset. */
#define K3_ROW8(R)                                                                                              \
    "ldm r0, {r4, r5, r6, r7, r8, r9, r10, r11}\n\t"                                                        \
    "ldrd r12, lr, [r2, #(" R "+16)]\n\t"                                                                   \
    "sxtab16 r4, r4, r12\n\t"                                                                               \
    "sxtab16 r5, r5, r12, ror #8\n\t"                                                                       \
    "sxtab16 r6, r6, lr\n\t"                                                                                \
    "sxtab16 r7, r7, lr, ror #8\n\t"                                                                        \
    "ldrd r12, lr, [r2, #(" R "+8)]\n\t"                                                                    \
    "sxtab16 r8, r8, r12\n\t"                                                                               \
    "sxtab16 r9, r9, r12, ror #8\n\t"                                                                       \
    "sxtab16 r10, r10, lr\n\t"                                                                              \
    "sxtab16 r11, r11, lr, ror #8\n\t"                                                                      \
    "stm r0, {r4, r5, r6, r7, r8, r9, r10, r11}\n\t"                                                        \
    "ldrd r4, r5, [r0, #32]\n\t"                                                                            \
    "ldrd r6, r7, [r0, #40]\n\t"                                                                            \
    "ldrd r12, lr, [r2, #(" R ")]\n\t"                                                                      \
    "sxtab16 r4, r4, r12\n\t"                                                                               \
    "sxtab16 r5, r5, r12, ror #8\n\t"                                                                       \
    "sxtab16 r6, r6, lr\n\t"                                                                                \
    "sxtab16 r7, r7, lr, ror #8\n\t"                                                                        \
    "strd r4, r5, [r0, #32]\n\t"                                                                            \
    "strd r6, r7, [r0, #40]\n\t"
/* cout 8, edge columns: two output columns (one ldm / stm) from the kernel columns at bytes A and B of row R. */
#define K3_PAIR8(R, A, B)                                                                                       \
    "ldm r0, {r4, r5, r6, r7, r8, r9, r10, r11}\n\t"                                                        \
    "ldrd r12, lr, [r2, #(" R "+" A ")]\n\t"                                                                \
    "sxtab16 r4, r4, r12\n\t"                                                                               \
    "sxtab16 r5, r5, r12, ror #8\n\t"                                                                       \
    "sxtab16 r6, r6, lr\n\t"                                                                                \
    "sxtab16 r7, r7, lr, ror #8\n\t"                                                                        \
    "ldrd r12, lr, [r2, #(" R "+" B ")]\n\t"                                                                \
    "sxtab16 r8, r8, r12\n\t"                                                                               \
    "sxtab16 r9, r9, r12, ror #8\n\t"                                                                       \
    "sxtab16 r10, r10, lr\n\t"                                                                              \
    "sxtab16 r11, r11, lr, ror #8\n\t"                                                                      \
    "stm r0, {r4, r5, r6, r7, r8, r9, r10, r11}\n\t"
/* 16 outputs at r0 from the 16 weights at byte W of the block; r0 moves on by 32 bytes. */
#define K3_C16(W)                                                                                               \
    "ldm r0, {r4, r5, r6, r7, r8, r9, r10, r11}\n\t"                                                        \
    "ldrd r12, lr, [r2, #(" W ")]\n\t"                                                                      \
    "sxtab16 r4, r4, r12\n\t"                                                                               \
    "sxtab16 r5, r5, r12, ror #8\n\t"                                                                       \
    "sxtab16 r6, r6, lr\n\t"                                                                                \
    "sxtab16 r7, r7, lr, ror #8\n\t"                                                                        \
    "ldrd r12, lr, [r2, #(" W "+8)]\n\t"                                                                    \
    "sxtab16 r8, r8, r12\n\t"                                                                               \
    "sxtab16 r9, r9, r12, ror #8\n\t"                                                                       \
    "sxtab16 r10, r10, lr\n\t"                                                                              \
    "sxtab16 r11, r11, lr, ror #8\n\t"                                                                      \
    "stm r0, {r4, r5, r6, r7, r8, r9, r10, r11}\n\t"                                                        \
    "add r0, r0, #32\n\t"
/* cout 16 / 32: the output columns in 16-output chunks, then down one output row (r1: the row step less the
 * bytes the columns moved r0). Full rows take kernel columns 2, 1, 0; the left edge pixel (ix = 0) only 1, 0
 * (from output column 0), the right one (ix = W - 1) only 2, 1. */
#define K3_ROW16(R) K3_C16(R "+32") K3_C16(R "+16") K3_C16(R) "add r0, r0, r1\n\t"
#define K3_LEFT16(R) K3_C16(R "+16") K3_C16(R) "add r0, r0, r1\n\t"
#define K3_RIGHT16(R) K3_C16(R "+32") K3_C16(R "+16") "add r0, r0, r1\n\t"
#define K3_ROW32(R) K3_C16(R "+64") K3_C16(R "+80") K3_C16(R "+32") K3_C16(R "+48") K3_C16(R) K3_C16(R "+16") \
    "add r0, r0, r1\n\t"
#define K3_LEFT32(R) K3_C16(R "+32") K3_C16(R "+48") K3_C16(R) K3_C16(R "+16") "add r0, r0, r1\n\t"
#define K3_RIGHT32(R) K3_C16(R "+64") K3_C16(R "+80") K3_C16(R "+32") K3_C16(R "+48") "add r0, r0, r1\n\t"
#define K3_LEFT8(R) K3_PAIR8(R, "8", "0")
#define K3_RIGHT8(R) K3_PAIR8(R, "16", "8")
/* Pixel loop and spike loop around the rows. SHIFTS: the two shifts whose sum times ci is the block offset
 * (ci * 9 * cout). */
#define K3_LOOP(SH1, SH2, PS, ROWS)                                                                             \
    "ldm r0, {r1, r2, r3, r12, lr}\n\t"                                                                     \
    "sub sp, sp, #24\n\t"                                                                                   \
    "stm sp, {r1, r2, r3, r12, lr}\n\t"                                                                     \
    "mov r1, r3\n\t"                                                                                        \
    "mov r2, r12\n"                                                                                         \
    "4:\n\t"                                                                                                \
    "cmp r1, r2\n\t"                                                                                        \
    "beq 9f\n\t"                                                                                            \
    "ldr r3, [r1], #4\n\t"                                                                                  \
    "cmp r3, #0\n\t"                                                                                        \
    "beq 4b\n\t"                                                                                            \
    "str r1, [sp, #8]\n\t"                                                                                  \
    "ldr r0, [sp, #16]\n\t"                                                                                 \
    "add r0, r0, r1, lsl #" PS "\n\t"                                                                       \
    "str r0, [sp, #20]\n"                                                                                   \
    "1:\n\t"                                                                                                \
    "rbit r12, r3\n\t"                                                                                      \
    "clz r12, r12\n\t"                                                                                      \
    "sub r1, r3, #1\n\t"                                                                                    \
    "and r3, r3, r1\n\t"                                                                                    \
    "ldr r2, [sp]\n\t"                                                                                      \
    "add r2, r2, r12, lsl #" SH1 "\n\t"                                                                     \
    "add r2, r2, r12, lsl #" SH2 "\n\t"                                                                     \
    "ldr r1, [sp, #4]\n\t"                                                                                  \
    "ldr r0, [sp, #20]\n\t"                                                                                 \
    ROWS                                                                                                    \
    "cmp r3, #0\n\t"                                                                                        \
    "bne 1b\n\t"                                                                                            \
    "ldrd r1, r2, [sp, #8]\n\t"                                                                             \
    "b 4b\n"                                                                                                \
    "9:\n\t"                                                                                                \
    "add sp, sp, #24\n"

/* ---- any kernel / stride, cout 16, 32 or 64: spike-outer over a tap table --------------------------------
 * The tap-outer kernels (esnn_taps16_m4) keep a tap's accumulators in registers across the spikes of a pixel and
 * pay about 14 instructions per tap; with few spikes per pixel (stride-2 layers, sparse input) that overhead
 * dominates. Here each spike walks the pixel's table (as in esnn_taps8_m4: count, then accumulator byte offset and
 * weight offset per tap) and each tap moves its accumulators with ldm / stm: per tap 7 + 13 per 16 outputs,
 * per spike 4. r3: the spike's weight block, r1: the table pointer. Stack: [sp] table, [sp, #4] its end,
 * [sp, #8] accumulator base, [sp, #12] spike pointer, [sp, #16] spike end. Needs a non-empty table and spike
 * list and 4-aligned weights (ldrd). */
#define SO_ASM(CHUNKS)                                                                                          \
    do {                                                                                                        \
        register const uint32_t *r0 __asm__("r0") = taps;                                                       \
        register int16_t *r1 __asm__("r1") = base;                                                              \
        register const uint32_t *r2 __asm__("r2") = spk;                                                        \
        register const uint32_t *r3 __asm__("r3") = end;                                                        \
        __asm__ volatile("ldr r12, [r0], #4\n\t"                                                                \
                         "add r12, r0, r12, lsl #3\n\t"                                                         \
                         "sub sp, sp, #24\n\t"                                                                  \
                         "str r0, [sp]\n\t"                                                                     \
                         "str r12, [sp, #4]\n\t"                                                                \
                         "str r1, [sp, #8]\n\t"                                                                 \
                         "str r2, [sp, #12]\n\t"                                                                \
                         "str r3, [sp, #16]\n"                                                                  \
                         "6:\n\t"                                                                               \
                         "ldr r12, [sp, #12]\n\t"                                                               \
                         "ldr r3, [r12], #4\n\t"                                                                \
                         "str r12, [sp, #12]\n\t"                                                               \
                         "ldr r1, [sp]\n"                                                                       \
                         "5:\n\t"                                                                               \
                         "ldrd r0, r2, [r1], #8\n\t"                                                            \
                         "ldr r12, [sp, #8]\n\t"                                                                \
                         "add r0, r0, r12\n\t"                                                                  \
                         "add r2, r2, r3\n\t" CHUNKS "ldr r12, [sp, #4]\n\t"                                    \
                         "cmp r1, r12\n\t"                                                                      \
                         "bne 5b\n\t"                                                                           \
                         "ldrd r12, lr, [sp, #12]\n\t"                                                          \
                         "cmp r12, lr\n\t"                                                                      \
                         "bne 6b\n\t"                                                                           \
                         "add sp, sp, #24\n"                                                                    \
                         : "+r"(r0), "+r"(r1), "+r"(r2), "+r"(r3)                                               \
                         :                                                                                      \
                         : "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr", "cc", "memory");      \
    } while (0)
ESNN_NOINLINE void esnn_so16_m4(const uint32_t *taps, int16_t *base, const uint32_t *spk,
                                    const uint32_t *end) {
    SO_ASM(K3_C16("0"));
}
ESNN_NOINLINE void esnn_so32_m4(const uint32_t *taps, int16_t *base, const uint32_t *spk,
                                    const uint32_t *end) {
    SO_ASM(K3_C16("0") K3_C16("16"));
}
ESNN_NOINLINE void esnn_so64_m4(const uint32_t *taps, int16_t *base, const uint32_t *spk,
                                    const uint32_t *end) {
    SO_ASM(K3_C16("0") K3_C16("16") K3_C16("32") K3_C16("48"));
}

/* One kernel per (cout, row case, column case): rows 1 .. H-2 take kernel rows 2, 1, 0; row 0 only 1, 0 (its
 * accumulator pointer starts at output row 0); row H-1 only 2, 1. Columns as K3_ROW16 says. */
#define K3_ASM(SH1, SH2, PS, ROWS)                                                                              \
    do {                                                                                                        \
        register const k3_args_t *r0 __asm__("r0") = a;                                                         \
        __asm__ volatile(K3_LOOP(SH1, SH2, PS, ROWS)                                                            \
                         : "+r"(r0)                                                                             \
                         :                                                                                      \
                         : "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr",     \
                           "cc", "memory");                                                                     \
    } while (0)
#define K3_NEXT "add r0, r0, r1\n\t"
/* row cases of cout 8 (rows apart by K3_NEXT) and of cout 16 / 32 (each row moves on itself) */
#define K3_FULL8(X) X("48") K3_NEXT X("24") K3_NEXT X("0")
#define K3_TOP8(X) X("24") K3_NEXT X("0")
#define K3_BOTTOM8(X) X("48") K3_NEXT X("24")
#define K3_FULL16(X) X("96") X("48") X("0")
#define K3_TOP16(X) X("48") X("0")
#define K3_BOTTOM16(X) X("96") X("48")
#define K3_FULL32(X) X("192") X("96") X("0")
#define K3_TOP32(X) X("96") X("0")
#define K3_BOTTOM32(X) X("192") X("96")
#define K3_FN(NAME, SH1, SH2, PS, ROWS) \
    static void NAME(const k3_args_t *a) { K3_ASM(SH1, SH2, PS, ROWS); }
K3_FN(k3_8_ff, "6", "3", "2", K3_FULL8(K3_ROW8))
K3_FN(k3_8_tf, "6", "3", "2", K3_TOP8(K3_ROW8))
K3_FN(k3_8_bf, "6", "3", "2", K3_BOTTOM8(K3_ROW8))
K3_FN(k3_8_fl, "6", "3", "2", K3_FULL8(K3_LEFT8))
K3_FN(k3_8_tl, "6", "3", "2", K3_TOP8(K3_LEFT8))
K3_FN(k3_8_bl, "6", "3", "2", K3_BOTTOM8(K3_LEFT8))
K3_FN(k3_8_fr, "6", "3", "2", K3_FULL8(K3_RIGHT8))
K3_FN(k3_8_tr, "6", "3", "2", K3_TOP8(K3_RIGHT8))
K3_FN(k3_8_br, "6", "3", "2", K3_BOTTOM8(K3_RIGHT8))
K3_FN(k3_16_ff, "7", "4", "3", K3_FULL16(K3_ROW16))
K3_FN(k3_16_tf, "7", "4", "3", K3_TOP16(K3_ROW16))
K3_FN(k3_16_bf, "7", "4", "3", K3_BOTTOM16(K3_ROW16))
K3_FN(k3_16_fl, "7", "4", "3", K3_FULL16(K3_LEFT16))
K3_FN(k3_16_tl, "7", "4", "3", K3_TOP16(K3_LEFT16))
K3_FN(k3_16_bl, "7", "4", "3", K3_BOTTOM16(K3_LEFT16))
K3_FN(k3_16_fr, "7", "4", "3", K3_FULL16(K3_RIGHT16))
K3_FN(k3_16_tr, "7", "4", "3", K3_TOP16(K3_RIGHT16))
K3_FN(k3_16_br, "7", "4", "3", K3_BOTTOM16(K3_RIGHT16))
K3_FN(k3_32_ff, "8", "5", "4", K3_FULL32(K3_ROW32))
K3_FN(k3_32_tf, "8", "5", "4", K3_TOP32(K3_ROW32))
K3_FN(k3_32_bf, "8", "5", "4", K3_BOTTOM32(K3_ROW32))
K3_FN(k3_32_fl, "8", "5", "4", K3_FULL32(K3_LEFT32))
K3_FN(k3_32_tl, "8", "5", "4", K3_TOP32(K3_LEFT32))
K3_FN(k3_32_bl, "8", "5", "4", K3_BOTTOM32(K3_LEFT32))
K3_FN(k3_32_fr, "8", "5", "4", K3_FULL32(K3_RIGHT32))
K3_FN(k3_32_tr, "8", "5", "4", K3_TOP32(K3_RIGHT32))
K3_FN(k3_32_br, "8", "5", "4", K3_BOTTOM32(K3_RIGHT32))
/* [cout 8, 16, 32][row case: full, top, bottom][column case: full, left, right] */
static void (*const k3_kernels[3][3][3])(const k3_args_t *) = {
    {{k3_8_ff, k3_8_fl, k3_8_fr}, {k3_8_tf, k3_8_tl, k3_8_tr}, {k3_8_bf, k3_8_bl, k3_8_br}},
    {{k3_16_ff, k3_16_fl, k3_16_fr}, {k3_16_tf, k3_16_tl, k3_16_tr}, {k3_16_bf, k3_16_bl, k3_16_br}},
    {{k3_32_ff, k3_32_fl, k3_32_fr}, {k3_32_tf, k3_32_tl, k3_32_tr}, {k3_32_bf, k3_32_bl, k3_32_br}}};

/* Pixels ix0 .. ix1 - 1 of input row iy (spike words prow) with one row and column case. */
void esnn_k3_run(const uint8_t *w, int16_t *y16, uint32_t row0, uint32_t cout, uint32_t ow, uint32_t h, uint32_t iy,
                   const uint32_t *prow, uint32_t ix0, uint32_t ix1, int cols) {
    const int rows = iy == 0 ? K3_TOP : iy + 1u == h ? K3_BOTTOM : K3_FULL;
    const uint32_t oy0 = iy == 0 ? 0u : iy - 1u, ox0 = cols == K3_LEFT ? ix0 : ix0 - 1u; /* first output */
    const uint32_t ncols = cols == K3_FULL ? 3u : 2u;
    k3_args_t a;
    a.w = (uint32_t)(uintptr_t)w;
    a.rstep = cout == 8u ? 2u * ow * cout : 2u * (ow - ncols) * cout;
    a.px = (uint32_t)(uintptr_t)(prow + ix0);
    a.pxend = (uint32_t)(uintptr_t)(prow + ix1);
    a.accbase = (uint32_t)(uintptr_t)(y16 + ((oy0 - row0) * ow + ox0) * cout) - (a.px + 4u) * (cout / 2u);
    k3_kernels[cout == 8u ? 0 : cout == 16u ? 1 : 2][rows][cols](&a);
}

/* n stores of the 8 words at `pattern` (which does not overlap them), step bytes apart from p: one stm each. */
void esnn_fill8_m4(uint32_t *p, const uint32_t *pattern, uint32_t n, uint32_t step) {
    register uint32_t *r0 __asm__("r0") = p;
    register const uint32_t *r1 __asm__("r1") = pattern;
    register uint32_t r2 __asm__("r2") = n;
    register uint32_t r3 __asm__("r3") = step;
    if (!n) return;
    __asm__ volatile("ldm r1, {r4, r5, r6, r7, r8, r9, r10, r11}\n"
                     "1:\n\t"
                     "stm r0, {r4, r5, r6, r7, r8, r9, r10, r11}\n\t"
                     "add r0, r0, r3\n\t"
                     "subs r2, r2, #1\n\t"
                     "bne 1b\n"
                     : "+r"(r0), "+r"(r1), "+r"(r2), "+r"(r3)
                     :
                     : "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "cc", "memory");
}

/* Copies n4 groups of 4 words from src to dst <= src (regions may overlap): 8 words per ldm / stm, then one
 * group of 4 when n4 is odd. A forward copy is safe for dst <= src: every word is read before it is
 * overwritten. (newlib-nano's memmove copies bytes.) */
void esnn_copy_down_m4(uint32_t *dst, const uint32_t *src, uint32_t n4) {
    register uint32_t *r0 __asm__("r0") = dst;
    register const uint32_t *r1 __asm__("r1") = src;
    register uint32_t r2 __asm__("r2") = n4 >> 1;
    if (r2)
        __asm__ volatile("1:\n\t"
                         "ldm r1!, {r4, r5, r6, r7, r8, r9, r10, r11}\n\t"
                         "stm r0!, {r4, r5, r6, r7, r8, r9, r10, r11}\n\t"
                         "subs r2, r2, #1\n\t"
                         "bne 1b\n"
                         : "+r"(r0), "+r"(r1), "+r"(r2)
                         :
                         : "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "cc", "memory");
    if (n4 & 1u) {
        const uint32_t a = r1[0], b = r1[1], c = r1[2], d = r1[3];
        r0[0] = a;
        r0[1] = b;
        r0[2] = c;
        r0[3] = d;
    }
}
#endif
