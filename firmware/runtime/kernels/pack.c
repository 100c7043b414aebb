/* pack.c - T-packed spikes (pack.h). */
#include "pack.h"
#include "conv.h"

/* Both run once per step over a whole map (a few instructions per pixel): with all T steps in one word per
 * pixel (pw = 1, e.g. T = 4 at 8 channels), four pixels per iteration so that the loads and stores pair. */
void esnn_unpack_step(const esnn_buffer_t *b, uint32_t t, uint32_t *view) {
    const uint32_t n = (uint32_t)b->h * b->w, pw = b->stride, bits = esnn_pack_bits(b);
    const uint32_t sh = (t & ((1u << esnn_pack_shift(b)) - 1u)) * bits, mask = (1u << bits) - 1u;
    const uint32_t *src = b->data + (t >> esnn_pack_shift(b));
    uint32_t p = 0;
    if (pw == 1u)
        for (; p + 4u <= n; p += 4u) {
            const uint32_t a = src[p], c = src[p + 1u], d = src[p + 2u], e = src[p + 3u];
            view[p] = (a >> sh) & mask;
            view[p + 1u] = (c >> sh) & mask;
            view[p + 2u] = (d >> sh) & mask;
            view[p + 3u] = (e >> sh) & mask;
        }
    for (; p < n; p++) view[p] = (src[p * pw] >> sh) & mask;
}

void esnn_pack_rows(const esnn_buffer_t *b, uint32_t t, const uint32_t *rows, uint32_t r0, uint32_t n) {
    const uint32_t np = n * b->w, pw = b->stride, bits = esnn_pack_bits(b);
    const uint32_t sh = (t & ((1u << esnn_pack_shift(b)) - 1u)) * bits, keep = ~(((1u << bits) - 1u) << sh);
    uint32_t *dst = b->data + r0 * b->w * pw + (t >> esnn_pack_shift(b));
    uint32_t p = 0;
    if (pw == 1u)
        for (; p + 4u <= np; p += 4u) {
            const uint32_t a = dst[p], c = dst[p + 1u], d = dst[p + 2u], e = dst[p + 3u];
            dst[p] = (a & keep) | (rows[p] << sh);
            dst[p + 1u] = (c & keep) | (rows[p + 1u] << sh);
            dst[p + 2u] = (d & keep) | (rows[p + 2u] << sh);
            dst[p + 3u] = (e & keep) | (rows[p + 3u] << sh);
        }
    for (; p < np; p++) dst[p * pw] = (dst[p * pw] & keep) | (rows[p] << sh);
}

uint32_t *esnn_conv_view(const esnn_op_t *conv) {
    return (uint32_t *)(void *)((uint8_t *)conv->state + ((esnn_conv_scratch_bytes(conv) + 7u) & ~7u));
}

uint32_t *esnn_lif_staging(const esnn_op_t *lif, const esnn_buffer_t *in) {
    const uint32_t membranes = in->words * (lif->state_bits / 8u);
    return (uint32_t *)(void *)((uint8_t *)lif->state + ((membranes + 7u) & ~7u));
}

const uint32_t *esnn_spikes_at(const esnn_op_t *conv, const esnn_buffer_t *in, uint32_t t) {
    uint32_t *view;
    if (!in->pack) return esnn_slot(in, t);
    view = esnn_conv_view(conv);
    esnn_unpack_step(in, t, view);
    return view;
}

uint32_t *esnn_lif_out_at(const esnn_op_t *lif, const esnn_buffer_t *in, const esnn_buffer_t *out, uint32_t t) {
    if (!out->pack) return esnn_slot(out, t);
    if (lif->sched & ESNN_SCHED_STAGED) /* the conv it streams inside: right before it, or before its ATTN */
        return esnn_conv_view(lif[-1].opcode == ESNN_OP_CONV ? lif - 1 : lif - 2);
    return esnn_lif_staging(lif, in);
}
