/* MAXPOOL on spikes (FORMAT.md 1.3, opcode 4): OR over each window; bit-packed [H][W][cw] in and out. */
#ifndef ESNN_KERNEL_MAXPOOL_H
#define ESNN_KERNEL_MAXPOOL_H
#include "../esnn_internal.h"

void esnn_maxpool_ref(const esnn_op_t *op, const esnn_buffer_t *in, const esnn_buffer_t *out, const uint32_t *x,
                      uint32_t *y);
/* Word-wise: ORs whole channel words of each window position. */
void esnn_maxpool(const esnn_op_t *op, const esnn_buffer_t *in, const esnn_buffer_t *out, const uint32_t *x,
                  uint32_t *y);
#endif
