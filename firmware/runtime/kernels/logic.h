/* LOGIC on spikes (FORMAT.md 1.3, opcode 5): OR a|b, AND a&b, IAND (~a)&b; a = in0, b = in1. */
#ifndef ESNN_KERNEL_LOGIC_H
#define ESNN_KERNEL_LOGIC_H
#include "../esnn_internal.h"

void esnn_logic_ref(uint8_t mode, const esnn_buffer_t *buf, const uint32_t *a, const uint32_t *b, uint32_t *y);
/* Word-wise: padding bits of b are 0, so IAND keeps them 0. */
void esnn_logic(uint8_t mode, const esnn_buffer_t *buf, const uint32_t *a, const uint32_t *b, uint32_t *y);
#endif
