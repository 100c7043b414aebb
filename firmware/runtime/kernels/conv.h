/* CONV kernels (FORMAT.md 1.3, opcode 1). Output: uint32 [Ho][Wo][Cout] (two's complement, wrapping adds).
 * u8 input: [Cin][H][W] bytes. Spike input: bit-packed uint32 [H][W][ceil(Cin/32)]. */
#ifndef ESNN_KERNEL_CONV_H
#define ESNN_KERNEL_CONV_H
#include "../esnn_internal.h"

/* Plain reference: one output at a time, every (ci, ky, kx) term. */
void esnn_conv_u8_ref(const esnn_op_t *op, const esnn_buffer_t *in, const esnn_buffer_t *out, const uint8_t *x,
                      uint32_t *y);
void esnn_conv_spike_ref(const esnn_op_t *op, const esnn_buffer_t *in, const esnn_buffer_t *out,
                         const uint32_t *x, uint32_t *y);
/* Dense first-layer conv: per output pixel, adds v * weight row [cout] for each non-zero input value. Output
 * rows [r0, r1) only, y pointing at row r0 (a streamed conv's window: stream.c); the whole plane is (0, h). */
void esnn_conv_u8(const esnn_op_t *op, const esnn_buffer_t *in, const esnn_buffer_t *out, const uint8_t *x,
                  uint32_t *y, uint32_t r0, uint32_t r1, uint32_t *scratch);
/* Event-driven conv: for each input spike, scatter-adds weight rows [cout] to the outputs it reaches;
 * cost = output init + (spikes x reached outputs x cout). scratch: esnn_conv_scratch_bytes(op) bytes,
 * 4-aligned (the arena's kernel scratch): spike lists, axis taps and tap tables, nothing kept between calls. */
void esnn_conv_spike(const esnn_op_t *op, const esnn_buffer_t *in, const esnn_buffer_t *out, const uint32_t *x,
                     uint32_t *y, uint32_t *scratch);
/* Row streaming (plan.c "row streams"), acc16 convs only: input rows [iy0, iy1) scatter-added onto the int16
 * rows at y16, which hold output rows row0 .. (every output row those input rows reach must be held);
 * esnn_conv_fill_bias16 writes the bias into npix pixels of such rows. */
void esnn_conv_spike16_rows(const esnn_op_t *op, const esnn_buffer_t *in, const esnn_buffer_t *out,
                            const uint32_t *x, int16_t *y16, uint32_t row0, uint32_t iy0, uint32_t iy1,
                            uint32_t *scratch);
void esnn_conv_fill_bias16(const esnn_op_t *op, uint32_t npix, int16_t *y16);
/* Scratch bytes esnn_conv_spike / esnn_conv_u8 need for this op, from its geometry only (kh, kw, stride, cin,
 * cout, weight bits), the same on every target (u8 input: the interior kernel's tap offsets, 8 bytes per tap
 * for 8-bit weights, cout % 4 == 0 and at most 64 taps, else 0): edgesnn/export/passes/memory.py
 * conv_scratch_bytes mirrors it. */
uint32_t esnn_conv_scratch_bytes(const esnn_op_t *op);
#endif
