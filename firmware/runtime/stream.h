/* stream.h - row streaming (stream.c): a spike conv whose int16 current keeps only the rows still receiving
 * input, each finished row going at once through the op(s) that read it. */
#ifndef ESNN_STREAM_H
#define ESNN_STREAM_H
#include "esnn_internal.h"

/* What reads the conv's rows: its LIF (the op after); the statistics of the recomputed ATTN after it; that
 * ATTN's weighting and then its LIF (the op after the ATTN). */
enum { ESNN_STREAM_LIF = 0, ESNN_STREAM_STATS = 1, ESNN_STREAM_APPLY = 2 };

/* Step t of streamed conv `op` (ESNN_SCHED_STREAM) and its readers; frame: buffer 0 at step t (read by a conv
 * on the u8 input only). */
void esnn_stream_conv(esnn_ctx_t *ctx, const esnn_op_t *op, uint32_t t, const uint8_t *frame, int mode);
#endif
