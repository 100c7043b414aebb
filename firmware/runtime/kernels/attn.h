/* ATTN kernel (FORMAT.md 1.3, opcode 3), int64 exactly per spec, over all T steps at once.
 * x, y: uint32 [T][H][W][C] (CURRENT, two's complement). scratch: esnn_attn_scratch() int64 values.
 * Arithmetic is done in uint64 (wrapping, like numpy int64) and shifts are floor shifts. */
#ifndef ESNN_KERNEL_ATTN_H
#define ESNN_KERNEL_ATTN_H
#include "../esnn_internal.h"

/* int64 scratch values needed by an ATTN op on buffer `buf` with T steps. */
uint64_t esnn_attn_scratch(uint8_t dim, uint16_t n, uint16_t hidden, const esnn_buffer_t *buf);
/* Reference: looks the multiplier up for every element. Both may run in place (y == x). */
void esnn_attn_ref(const esnn_op_t *op, const esnn_buffer_t *buf, uint16_t T, const uint32_t *x, uint32_t *y,
                   int64_t *scratch);
/* 1 when every group sum of values |x| <= bound fits int32 and every product m * x (x > 0) fits uint32. */
int esnn_attn_fast32(const esnn_op_t *op, const esnn_buffer_t *buf, uint16_t T, uint32_t bound);
/* One multiplier per group (channel / step / pixel), then one multiply per element: 32-bit sums and products
 * when esnn_attn_fast32 holds for op->bound (int16 input plane with op->in16), else the int64 arithmetic. */
void esnn_attn(const esnn_op_t *op, const esnn_buffer_t *buf, uint16_t T, const uint32_t *x, uint32_t *y,
               int64_t *scratch);
/* The recompute schedule (schedule.c esnn_run, plan.c "segments"): statistics of step t (x: that step's input; t = 0 starts them), then the
 * multipliers once all T steps are in, then the weighting of step t (y may be x). The step's input must be
 * the same both times (its conv recomputed from the same spikes). Bit-exact with esnn_attn. */
void esnn_attn_stats_step(const esnn_op_t *op, const esnn_buffer_t *buf, uint32_t t, const uint32_t *x,
                          int64_t *scratch);
/* The same in parts (row streaming, plan.c "row streams"; T and C attention only, whose groups do not depend
 * on the pixel): start once, then add any run of whole pixels of step t (buf: a shape of those pixels). */
void esnn_attn_stats_start(const esnn_op_t *op, const esnn_buffer_t *buf, int64_t *scratch);
void esnn_attn_stats_add(const esnn_op_t *op, const esnn_buffer_t *buf, uint32_t t, const uint32_t *x,
                         int64_t *scratch);
void esnn_attn_finish(const esnn_op_t *op, const esnn_buffer_t *buf, uint16_t T, int64_t *scratch);
void esnn_attn_apply_step(const esnn_op_t *op, const esnn_buffer_t *buf, uint32_t t, const uint32_t *x,
                          uint32_t *y, const int64_t *scratch);
#endif
