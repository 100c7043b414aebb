/* A STATIC first conv (u8 input, the same frame at every step) and the LIF that is its one reader, run as one
 * kernel over all T steps at once: each pixel's currents are computed once and stay in registers while the
 * LIF runs T steps, so neither the conv's output plane nor (without ESNN_OPT_FINAL_STATE) the LIF's state ever
 * takes arena. Bit-exact with CONV then T steps of LIF (FORMAT.md 1.3). */
#ifndef ESNN_KERNEL_STATIC_LIF_H
#define ESNN_KERNEL_STATIC_LIF_H
#include "../esnn_internal.h"

/* conv: the CONV op (in0 = 0, STATIC); lif: its LIF (lif->state NULL, or int16/int32 [H][W][C] that receives
 * the final membranes); x: the u8 frame [C][H][W]; spikes: T slots of `stride` words, each bit-packed
 * [H][W][ceil(C/32)]. Returns the spikes emitted over all T steps. */
uint32_t esnn_static_conv_lif(const esnn_op_t *conv, const esnn_op_t *lif, const esnn_buffer_t *in,
                              const esnn_buffer_t *out, const uint8_t *x, uint16_t T, uint32_t *spikes,
                              uint32_t stride, uint32_t *scratch);
/* Scratch bytes of esnn_static_conv_lif (4-aligned): the currents, membranes and thresholds of one 32-channel
 * block, 12 min(32, cout). */
uint32_t esnn_static_conv_lif_scratch_bytes(const esnn_op_t *conv);
#endif
