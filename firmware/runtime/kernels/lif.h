/* LIF kernel (FORMAT.md 1.3, opcode 2): U = H + floor((I - H) * leak_mul / 2^16) in int64; spike if
 * U >= threshold[c]; hard reset; 16-bit state saturates after the spike decision.
 * Input current uint32 [H][W][C], state int16/int32 [H][W][C], spikes bit-packed [H][W][ceil(C/32)].
 * Returns the number of spikes emitted. */
#ifndef ESNN_KERNEL_LIF_H
#define ESNN_KERNEL_LIF_H
#include "../esnn_internal.h"

uint32_t esnn_lif_ref(const esnn_op_t *op, const esnn_buffer_t *buf, const uint32_t *current, uint32_t *spikes);
uint32_t esnn_lif(const esnn_op_t *op, const esnn_buffer_t *buf, const uint32_t *current, uint32_t *spikes);
#endif
