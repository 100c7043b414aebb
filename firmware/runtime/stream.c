/* stream.c - row streaming (plan.c "row streams"). A conv on the u8 frame computes one output row at a time
 * (stream_u8). A spike conv scatters each input row onto the output rows
 * it reaches; once an output row has received every input row that reaches it, it is final. A streamed conv
 * keeps only a window of esnn_stream_rows() int16 output rows (its buffer's storage): after each input row the
 * final rows go through their readers (the LIF; or the ATTN statistics; or the ATTN weighting and its LIF), then
 * leave the window, and fresh rows (the bias) enter at its end. Bit-exact with the whole plane: every output
 * value receives the same additions, and the readers are elementwise over pixels (T / C attention groups do not
 * depend on the pixel). */
#include "stream.h"
#include "kernels/attn.h"
#include "kernels/conv.h"
#include "kernels/conv_m4.h"
#include "kernels/lif.h"
#include "kernels/pack.h"

/* Output rows final once input rows 0..iy - 1 are scattered (iy = 0: before any; iy = ih: all of them):
 * those with oy * stride - pad + kh - 1 < iy. */
static uint32_t rows_final(const esnn_op_t *op, uint32_t oh, uint32_t ih, uint32_t iy) {
    const int32_t n = (int32_t)iy + (int32_t)op->pad - (int32_t)op->kh;
    uint32_t f;
    if (iy >= ih) return oh;
    if (n < 0) return 0;
    f = (uint32_t)n / op->stride + 1u;
    return f < oh ? f : oh;
}

/* Buffer b's shape n rows high (field by field: a struct copy may become a byte-wise memcpy call). */
static void rows_of(esnn_buffer_t *r, const esnn_buffer_t *b, uint32_t n) {
    r->kind = b->kind;
    r->c = b->c;
    r->w = b->w;
    r->cw = b->cw;
    r->h = (uint16_t)n;
    r->words = n * b->w * (b->kind == ESNN_BUF_SPIKES ? b->cw : b->c);
    r->steps = 1;
    r->stride = b->stride;
    r->data = b->data;
}

/* The LIF over rows [a, a + n) of its input at cur (step t; int16, or int32 after a u8 conv). The kernels take
 * the state from the op record, which lives in the caller's arena: pointed at the rows' first state for the
 * call, then back. A T-packed output is staged (plan.c "T-packed spikes"): these rows in the LIF's staging,
 * packed at once; with ESNN_SCHED_STAGED the whole step in the conv's view, packed after the stream. */
static void lif_rows(esnn_ctx_t *ctx, const esnn_op_t *lif, uint32_t t, const void *cur, uint32_t a, uint32_t n) {
    const esnn_buffer_t *in = &ctx->buffers[lif->in0], *out = &ctx->buffers[lif->out];
    const uint32_t p0 = a * in->w;
    const int rows = out->pack && !(lif->sched & ESNN_SCHED_STAGED);
    esnn_op_t *o = (esnn_op_t *)lif;
    void *state = o->state;
    /* before the state moves (the staging follows it) */
    uint32_t *s = rows ? esnn_lif_staging(lif, in) : esnn_lif_out_at(lif, in, out, t) + p0 * out->cw;
    esnn_buffer_t b;
    rows_of(&b, in, n);
    o->state = (uint8_t *)state + p0 * in->c * (lif->state_bits / 8u); /* states [pixel][C], as the plane */
    ctx->spike_counts[lif->lif_index] += esnn_lif(o, &b, (const uint32_t *)cur, s);
    o->state = state;
    if (rows) esnn_pack_rows(out, t, s, a, n);
}

/* Once a LIF staged in the conv's view (ESNN_SCHED_STAGED) has written step t: into the T-packed buffer. */
static void packed_step(esnn_ctx_t *ctx, const esnn_op_t *lif, uint32_t t) {
    const esnn_buffer_t *out = &ctx->buffers[lif->out];
    if (lif->sched & ESNN_SCHED_STAGED)
        esnn_pack_rows(out, t, esnn_lif_out_at(lif, &ctx->buffers[lif->in0], out, t), 0, out->h);
}

/* A conv on the u8 frame gathers each output row from the frame the caller holds: its int32 window is one
 * row, computed and passed through the LIF row after row. */
static void stream_u8(esnn_ctx_t *ctx, const esnn_op_t *op, uint32_t t, const uint8_t *frame) {
    const esnn_buffer_t *out = &ctx->buffers[op->out];
    uint32_t r;
    ESNN_TRACE_RAN(op, ESNN_KERNEL_CONV_U8);
    for (r = 0; r < out->h; r++) {
        esnn_conv_u8(op, &ctx->buffers[0], out, frame, out->data, r, r + 1u, (uint32_t *)op->state);
        lif_rows(ctx, op + 1, t, out->data, r, 1u);
    }
}

static void consume(esnn_ctx_t *ctx, const esnn_op_t *op, uint32_t t, int mode, int16_t *rows, uint32_t a,
                    uint32_t n) {
    const esnn_op_t *next = op + 1;
    if (mode == ESNN_STREAM_LIF) {
        lif_rows(ctx, next, t, rows, a, n);
    } else {
        esnn_buffer_t b;
        uint32_t *x = (uint32_t *)(void *)rows;
        rows_of(&b, &ctx->buffers[next->in0], n);
        if (mode == ESNN_STREAM_STATS) {
            esnn_attn_stats_add(next, &b, t, x, (int64_t *)next->state);
        } else { /* the weighting in place, then the LIF after the ATTN */
            esnn_attn_apply_step(next, &b, t, x, x, (const int64_t *)next->state);
            lif_rows(ctx, next + 1, t, rows, a, n);
        }
    }
}

void esnn_stream_conv(esnn_ctx_t *ctx, const esnn_op_t *op, uint32_t t, const uint8_t *frame, int mode) {
    const esnn_buffer_t *in = &ctx->buffers[op->in0], *out = &ctx->buffers[op->out];
    const uint32_t oh = out->h, ow = out->w, pitch = ow * op->cout; /* int16 per row */
    const uint32_t wr = esnn_stream_rows(op->kh, op->stride, oh);
    const uint32_t *x;
    int16_t *win = (int16_t *)(void *)out->data;
    uint32_t iy, row0 = 0;
    ESNN_TRACE_RAN(op, ESNN_KERNEL_CONV_STREAM);
    if (op->in0 == 0) {
        stream_u8(ctx, op, t, frame);
        return;
    }
    x = esnn_spikes_at(op, in, t);
    if (mode == ESNN_STREAM_STATS && t == 0) esnn_attn_stats_start(op + 1, &ctx->buffers[op->out], (int64_t *)op[1].state);
    esnn_conv_fill_bias16(op, wr * ow, win);
    for (iy = 0; iy <= in->h; iy++) {
        /* the rows no input row from iy on reaches leave first (at iy = 0: rows of padding alone), so that
         * every row input row iy reaches is in the window */
        const uint32_t fin = rows_final(op, oh, in->h, iy);
        while (row0 < fin) { /* rows below the window (reached by no input row) hold their bias: in chunks */
            const uint32_t n = fin - row0 < wr ? fin - row0 : wr;
            consume(ctx, op, t, mode, win, row0, n);
            if (n < wr) /* the rows still receiving input move to the window's start (pitch % 8 == 0) */
#if ESNN_CONV_ASM
                esnn_copy_down_m4((uint32_t *)(void *)win, (const uint32_t *)(const void *)(win + n * pitch),
                                  (wr - n) * pitch / 8u);
#else
                memmove(win, win + n * pitch, 2u * (wr - n) * pitch);
#endif
            esnn_conv_fill_bias16(op, n * ow, win + (wr - n) * pitch);
            row0 += n;
        }
        if (iy < in->h) esnn_conv_spike16_rows(op, in, out, x, win, row0, iy, iy + 1u, (uint32_t *)op->state);
    }
    if (mode != ESNN_STREAM_STATS) packed_step(ctx, mode == ESNN_STREAM_LIF ? op + 1 : op + 2, t);
}
