/* T-packed spikes (plan.c "T-packed spikes"): a spike buffer of at most 16 channels that crosses a segment
 * boundary keeps all T steps of a pixel in ceil(T / steps per word) words; its writer (a LIF) stages one step
 * and packs it, each reading conv unpacks one step into a view of the ordinary one-step layout. */
#ifndef ESNN_KERNEL_PACK_H
#define ESNN_KERNEL_PACK_H
#include "../esnn_internal.h"

/* Step t of T-packed buffer b into view (one uint32 word per pixel). */
void esnn_unpack_step(const esnn_buffer_t *b, uint32_t t, uint32_t *view);
/* Rows [r0, r0 + n) of step t, one word per pixel from `rows` on, into step t's bits of b; the other steps'
 * bits stay. */
void esnn_pack_rows(const esnn_buffer_t *b, uint32_t t, const uint32_t *rows, uint32_t r0, uint32_t n);
/* Where a conv reading a T-packed buffer unpacks it: its scratch, after the kernel's own (conv.h). */
uint32_t *esnn_conv_view(const esnn_op_t *conv);
/* Where a LIF writing a T-packed buffer stages a step (inside a stream: the rows of one call): its state, after
 * the membranes of its `in` shape. */
uint32_t *esnn_lif_staging(const esnn_op_t *lif, const esnn_buffer_t *in);
/* A conv's spike input at step t: the buffer's slot, or step t unpacked into the conv's view. */
const uint32_t *esnn_spikes_at(const esnn_op_t *conv, const esnn_buffer_t *in, uint32_t t);
/* Where a LIF writes step t: its output's slot, or when the output is T-packed its staging (after its
 * membranes, or with ESNN_SCHED_STAGED the view of the conv it streams inside); then esnn_pack_rows() once
 * the step (or, inside a stream, the rows) is written. */
uint32_t *esnn_lif_out_at(const esnn_op_t *lif, const esnn_buffer_t *in, const esnn_buffer_t *out, uint32_t t);
#endif
