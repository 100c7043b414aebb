/* READOUT (FORMAT.md 1.3, opcode 6), accumulate only: every input spike of channel c adds row w[c][:] to the
 * logits (global average pool, FC and mean over T folded away). logits: int32 [classes], wrapping. */
#ifndef ESNN_KERNEL_READOUT_H
#define ESNN_KERNEL_READOUT_H
#include "../esnn_internal.h"

void esnn_readout_ref(const esnn_op_t *op, const esnn_buffer_t *in, const uint32_t *x, int32_t *logits);
/* Scans set bits only (count trailing zeros). */
void esnn_readout(const esnn_op_t *op, const esnn_buffer_t *in, const uint32_t *x, int32_t *logits);
#endif
