/* schedule.c - the scheduler: reset, one op at one step, esnn_step (the first segment step by step), esnn_run
 * (segments, recomputed ATTN), and the results of a sample. */
#include "esnn_internal.h"
#include "kernels/attn.h"
#include "kernels/conv.h"
#include "kernels/lif.h"
#include "kernels/logic.h"
#include "kernels/maxpool.h"
#include "kernels/pack.h"
#include "kernels/readout.h"
#include "kernels/static_lif.h"
#include "stream.h"

/* Bench builds only (-DESNN_PROFILE, firmware/bench/bench_main.c): called before (end 0) and after (end 1)
 * each op with its opcode (7: the first-layer u8 conv) | op index << 8; the library never defines it, so
 * normal builds reference nothing. */
#ifdef ESNN_PROFILE
void esnn_profile_hook(uint32_t opcode, uint32_t end);
#define ESNN_PROF(op, e) esnn_profile_hook((op), (e))
#else
#define ESNN_PROF(op, e) ((void)0)
#endif

/* ---- execution ------------------------------------------------------------------------------------ */
static esnn_status_t state_error(esnn_ctx_t *ctx, esnn_status_t st, const char *field) {
    if (ctx->error.status == ESNN_OK) {
        ctx->error.status = st;
        ctx->error.field = field;
        ctx->error.op = ctx->error.buffer = -1;
    }
    return st;
}

esnn_status_t esnn_set_kernels(esnn_ctx_t *ctx, esnn_kernels_t kernels) {
    if (!ctx || (kernels != ESNN_KERNELS_FAST && kernels != ESNN_KERNELS_REFERENCE)) return ESNN_ERR_ARG;
    if (kernels == ESNN_KERNELS_REFERENCE && !(ctx->options & ESNN_OPT_REFERENCE))
        return state_error(ctx, ESNN_ERR_STATE, ESNN_MSG("esnn_set_kernels: reference kernels need ESNN_OPT_REFERENCE"));
    ctx->kernels = (uint8_t)kernels;
    return ESNN_OK;
}

static void zero_state(const esnn_ctx_t *ctx, const esnn_op_t *o) {
    uint32_t k, n = ctx->buffers[o->in0].words;
    if (!o->state) return; /* a fused static layer keeps its membranes in registers */
    if (o->state_bits == 16)
        for (k = 0; k < n; k++) ((int16_t *)o->state)[k] = 0;
    else
        for (k = 0; k < n; k++) ((int32_t *)o->state)[k] = 0;
}

esnn_status_t esnn_reset(esnn_ctx_t *ctx) {
    uint32_t i, k;
    if (!ctx || !ctx->ready) return ESNN_ERR_STATE;
    for (i = 0; i < ctx->num_ops; i++) {
        const esnn_op_t *o = &ctx->ops[i];
        if (o->opcode == ESNN_OP_LIF) {
            zero_state(ctx, o);
        } else if (o->opcode == ESNN_OP_READOUT) {
            for (k = 0; k < o->cout; k++) ctx->logits[k] = esnn_s32(esnn_rd32(o->bias + 4u * k));
        }
    }
    for (i = 0; i < ctx->num_lif; i++) ctx->spike_counts[i] = 0;
#ifdef ESNN_TRACE
    for (i = 0; i < ctx->num_ops; i++) ctx->ops[i].ran = 0;
#endif
    ctx->t = 0;
    return ESNN_OK;
}

#define slot esnn_slot

static void exec_op_(esnn_ctx_t *ctx, esnn_op_t *op, uint32_t t, const uint8_t *frame, const esnn_buffer_t *in,
                     int ref);
/* One op at step t (not ATTN). frame: buffer 0 at this step. */
static void exec_op(esnn_ctx_t *ctx, esnn_op_t *op, uint32_t t, const uint8_t *frame) {
    const esnn_buffer_t *in = &ctx->buffers[op->in0];
    const int ref = ctx->kernels == ESNN_KERNELS_REFERENCE;
#ifdef ESNN_PROFILE
    const uint32_t tag = (op->opcode + (op->opcode == ESNN_OP_CONV && op->in0 == 0 ? 6u : 0u)) |
                         (uint32_t)(op - ctx->ops) << 8;
#endif
    ESNN_PROF(tag, 0);
    exec_op_(ctx, op, t, frame, in, ref);
    ESNN_PROF(tag, 1);
}

static void exec_op_(esnn_ctx_t *ctx, esnn_op_t *op, uint32_t t, const uint8_t *frame, const esnn_buffer_t *in,
                     int ref) {
    switch (op->opcode) {
    case ESNN_OP_CONV: {
        const esnn_buffer_t *out = &ctx->buffers[op->out];
        uint32_t *y = slot(out, t), k;
        if (op->sched & ESNN_SCHED_FUSED) { /* with its LIF (the next op) over all T at step 0 */
            const esnn_op_t *lif = op + 1;
            const esnn_buffer_t *s = &ctx->buffers[lif->out];
            ESNN_TRACE_RAN(op, ESNN_KERNEL_STATIC_FUSED);
            ESNN_TRACE_RAN(lif, ESNN_KERNEL_STATIC_FUSED);
            if (t == 0) ctx->spike_counts[lif->lif_index] += esnn_static_conv_lif(op, lif, in, s, frame, ctx->T, s->data, s->stride, (uint32_t *)op->state);
            return;
        }
        if (op->sched & ESNN_SCHED_STREAM) { /* with its LIF, row by row (stream.c) */
            esnn_stream_conv(ctx, op, t, frame, ESNN_STREAM_LIF);
            return;
        }
        if ((op->flags & ESNN_CONV_STATIC) && t > 0) { /* same output at every step: computed at step 0 */
            if (out->steps > 1)
                for (k = 0; k < out->words; k++) y[k] = out->data[k];
            return;
        }
        if (ref) ESNN_TRACE_RAN(op, ESNN_KERNEL_REFERENCE);
        else if (op->in0 == 0) ESNN_TRACE_RAN(op, ESNN_KERNEL_CONV_U8);
        if (op->in0 == 0 && ref)
            esnn_conv_u8_ref(op, in, out, frame, y);
        else if (op->in0 == 0)
            esnn_conv_u8(op, in, out, frame, y, 0, out->h, (uint32_t *)op->state);
        else if (ref)
            esnn_conv_spike_ref(op, in, out, esnn_spikes_at(op, in, t), y);
        else
            esnn_conv_spike(op, in, out, esnn_spikes_at(op, in, t), y, (uint32_t *)op->state);
        break;
    }
    case ESNN_OP_LIF: {
        const esnn_buffer_t *out = &ctx->buffers[op->out];
        uint32_t *s;
        if (op->sched & (ESNN_SCHED_FUSED | ESNN_SCHED_INSTREAM)) return; /* ran with its conv */
        s = esnn_lif_out_at(op, in, out, t);
        if (ref) ESNN_TRACE_RAN(op, ESNN_KERNEL_REFERENCE);
        ctx->spike_counts[op->lif_index] += (ref ? esnn_lif_ref : esnn_lif)(op, in, slot(in, t), s);
        if (out->pack) esnn_pack_rows(out, t, s, 0, out->h);
        break;
    }
    case ESNN_OP_MAXPOOL:
        ESNN_TRACE_RAN(op, ref ? ESNN_KERNEL_REFERENCE : ESNN_KERNEL_OTHER);
        (ref ? esnn_maxpool_ref : esnn_maxpool)(op, in, &ctx->buffers[op->out], slot(in, t),
                                                 slot(&ctx->buffers[op->out], t));
        break;
    case ESNN_OP_LOGIC:
        ESNN_TRACE_RAN(op, ref ? ESNN_KERNEL_REFERENCE : ESNN_KERNEL_OTHER);
        (ref ? esnn_logic_ref : esnn_logic)(op->kind, in, slot(in, t), slot(&ctx->buffers[op->in1], t),
                                             slot(&ctx->buffers[op->out], t));
        break;
    case ESNN_OP_READOUT:
        ESNN_TRACE_RAN(op, ref ? ESNN_KERNEL_REFERENCE : ESNN_KERNEL_OTHER);
        (ref ? esnn_readout_ref : esnn_readout)(op, in, slot(in, t), ctx->logits);
        break;
    default:
        break;
    }
}

size_t esnn_frame_size(const esnn_ctx_t *ctx) {
    if (!ctx || !ctx->ready) return 0;
    return (size_t)ctx->buffers[0].c * ctx->buffers[0].h * ctx->buffers[0].w;
}
uint16_t esnn_input_frames(const esnn_ctx_t *ctx) {
    if (!ctx || !ctx->ready) return 0;
    return (ctx->flags & ESNN_FLAG_STATIC_INPUT) ? 1 : ctx->T;
}

/* Ops from i on, segment by segment (plan.c "segments"): an ATTN alone over all T steps; a recomputed ATTN's
 * segment in two passes; any other segment time-major (the plan gives buffers that stay inside a segment one
 * step of storage). input + t * stride: buffer 0 at step t (stride 0: the same frame at every step). */
static void run_segments(esnn_ctx_t *ctx, uint32_t i, const uint8_t *input, size_t stride) {
    uint32_t t;
    while (i < ctx->num_ops) {
        uint32_t e = i, k;
        esnn_op_t *op = &ctx->ops[i];
        const int rec = i + 1u < ctx->num_ops && (ctx->ops[i + 1u].sched & ESNN_SCHED_RECOMPUTE);
        while (e + 1u < ctx->num_ops && !(ctx->ops[e + 1u].sched & ESNN_SCHED_FIRST)) e++;
        if (op->opcode == ESNN_OP_ATTN) {
            ESNN_PROF(op->opcode | i << 8, 0);
            if (ctx->kernels == ESNN_KERNELS_REFERENCE) ESNN_TRACE_RAN(op, ESNN_KERNEL_REFERENCE);
            (ctx->kernels == ESNN_KERNELS_REFERENCE ? esnn_attn_ref : esnn_attn)(
                op, &ctx->buffers[op->in0], ctx->T, ctx->buffers[op->in0].data, ctx->buffers[op->out].data,
                (int64_t *)op->state);
            ESNN_PROF(op->opcode | i << 8, 1);
            i = e + 1u;
            continue;
        }
        /* the plan lets a LIF state share storage with items that die before its segment starts (and, without
         * ESNN_OPT_FINAL_STATE, with items born after it ends) */
        for (k = i; k <= e; k++)
            if (ctx->ops[k].opcode == ESNN_OP_LIF) zero_state(ctx, &ctx->ops[k]);
        if (rec) { /* the conv for the statistics of every step, then again for the weighting */
            const esnn_op_t *a = &ctx->ops[i + 1u];
            const esnn_buffer_t *x = &ctx->buffers[a->in0];
            ESNN_TRACE_RAN(a, ESNN_KERNEL_ATTN_RECOMPUTE);
            for (t = 0; t < ctx->T; t++) {
                if (op->sched & ESNN_SCHED_STREAM) { /* the statistics row by row */
                    ESNN_PROF(op->opcode | i << 8, 0);
                    esnn_stream_conv(ctx, op, t, NULL, ESNN_STREAM_STATS);
                    ESNN_PROF(op->opcode | i << 8, 1);
                    continue;
                }
                exec_op(ctx, op, t, input + t * stride);
                ESNN_PROF(a->opcode | (i + 1u) << 8, 0);
                esnn_attn_stats_step(a, x, t, slot(x, t), (int64_t *)a->state);
                ESNN_PROF(a->opcode | (i + 1u) << 8, 1);
            }
            esnn_attn_finish(a, x, ctx->T, (int64_t *)a->state);
        }
        for (t = 0; t < ctx->T; t++)
            for (k = i; k <= e; k++) {
                const esnn_op_t *o = &ctx->ops[k];
                if (rec && k == i && (o->sched & ESNN_SCHED_STREAM)) { /* weighting and LIF row by row */
                    ESNN_PROF(o->opcode | k << 8, 0);
                    esnn_stream_conv(ctx, o, t, NULL, ESNN_STREAM_APPLY);
                    ESNN_PROF(o->opcode | k << 8, 1);
                    continue;
                }
                if (o->sched & ESNN_SCHED_INSTREAM) continue;
                if (rec && k == i + 1u) {
                    ESNN_PROF(o->opcode | k << 8, 0);
                    esnn_attn_apply_step(o, &ctx->buffers[o->in0], t, slot(&ctx->buffers[o->in0], t),
                                         slot(&ctx->buffers[o->out], t), (int64_t *)o->state);
                    ESNN_PROF(o->opcode | k << 8, 1);
                    continue;
                }
                exec_op(ctx, &ctx->ops[k], t, input + t * stride);
            }
        i = e + 1u;
    }
}

/* Without LAYER_MAJOR: the first segment at this step; after the T-th step the later segments (a graph the
 * plan split after a LIF, choose_splits), which read no input frame. */
esnn_status_t esnn_step(esnn_ctx_t *ctx, const uint8_t *frame, size_t frame_len) {
    uint32_t i, e = 0;
    if (!ctx || !ctx->ready) return ESNN_ERR_STATE;
    if (ctx->flags & ESNN_FLAG_LAYER_MAJOR)
        return state_error(ctx, ESNN_ERR_STATE, ESNN_MSG("esnn_step: LAYER_MAJOR graph, use esnn_run"));
    if (ctx->t >= ctx->T) return state_error(ctx, ESNN_ERR_STATE, ESNN_MSG("esnn_step: T steps done, reset"));
    if (!frame || frame_len != esnn_frame_size(ctx)) return ESNN_ERR_ARG;
    while (e + 1u < ctx->num_ops && !(ctx->ops[e + 1u].sched & ESNN_SCHED_FIRST)) e++;
    for (i = 0; i <= e; i++) exec_op(ctx, &ctx->ops[i], ctx->t, frame);
    ctx->t++;
    if (ctx->t == ctx->T && e + 1u < ctx->num_ops) run_segments(ctx, e + 1u, frame, 0);
    return ESNN_OK;
}

esnn_status_t esnn_run(esnn_ctx_t *ctx, const uint8_t *input, size_t input_len) {
    size_t frame;
    esnn_status_t st;
    if (!ctx || !ctx->ready) return ESNN_ERR_STATE;
    frame = esnn_frame_size(ctx);
    if (!input || input_len != frame * esnn_input_frames(ctx)) return ESNN_ERR_ARG;
    st = esnn_reset(ctx);
    if (st != ESNN_OK) return st;
    run_segments(ctx, 0, input, (ctx->flags & ESNN_FLAG_STATIC_INPUT) ? 0 : frame);
    ctx->t = ctx->T;
    return ESNN_OK;
}

/* ---- results -------------------------------------------------------------------------------------- */
const int32_t *esnn_logits(const esnn_ctx_t *ctx) { return ctx && ctx->ready ? ctx->logits : NULL; }
int32_t esnn_predicted(const esnn_ctx_t *ctx) {
    int32_t best = 0;
    uint32_t k;
    if (!ctx || !ctx->ready) return -1;
    for (k = 1; k < ctx->num_classes; k++)
        if (ctx->logits[k] > ctx->logits[best]) best = (int32_t)k;
    return best;
}
const uint32_t *esnn_spike_counts(const esnn_ctx_t *ctx) { return ctx && ctx->ready ? ctx->spike_counts : NULL; }
uint16_t esnn_num_lif(const esnn_ctx_t *ctx) { return ctx && ctx->ready ? ctx->num_lif : 0; }
size_t esnn_arena_used(const esnn_ctx_t *ctx) { return ctx && ctx->ready ? ctx->arena_used : 0; }
const esnn_error_t *esnn_error(const esnn_ctx_t *ctx) { return ctx ? &ctx->error : NULL; }

static const esnn_op_t *lif_op(const esnn_ctx_t *ctx, uint16_t lif) {
    uint32_t i;
    if (!ctx || !ctx->ready) return NULL;
    for (i = 0; i < ctx->num_ops; i++)
        if (ctx->ops[i].opcode == ESNN_OP_LIF && ctx->ops[i].lif_index == lif) return &ctx->ops[i];
    return NULL;
}

uint32_t esnn_state_size(const esnn_ctx_t *ctx, uint16_t lif) {
    const esnn_op_t *op = lif_op(ctx, lif);
    return op ? ctx->buffers[op->in0].words : 0;
}

esnn_status_t esnn_final_state(const esnn_ctx_t *ctx, uint16_t lif, int32_t *out, size_t n) {
    const esnn_op_t *op = lif_op(ctx, lif);
    const esnn_buffer_t *b;
    uint32_t c, p, npix;
    if (!op || !out) return ESNN_ERR_ARG;
    /* the lean plan reuses a state's storage after its segment, or keeps none (a fused static layer) */
    if (!(ctx->options & ESNN_OPT_FINAL_STATE) || !op->state) return ESNN_ERR_STATE;
    b = &ctx->buffers[op->in0];
    if (n != b->words) return ESNN_ERR_ARG;
    npix = (uint32_t)b->h * b->w;
    for (c = 0; c < b->c; c++)
        for (p = 0; p < npix; p++) {
            uint32_t i = p * b->c + (op->cur16 ? ESNN_CUR16_POS(c) : c);
            out[c * npix + p] = op->state_bits == 16 ? ((const int16_t *)op->state)[i] : ((const int32_t *)op->state)[i];
        }
    return ESNN_OK;
}

#ifdef ESNN_TRACE
uint32_t esnn_trace_kernels(const esnn_ctx_t *ctx, uint16_t op) {
    return ctx && ctx->ready && op < ctx->num_ops ? ctx->ops[op].ran : 0u;
}
uint32_t esnn_trace_packed(const esnn_ctx_t *ctx, uint16_t buffer) {
    return ctx && ctx->ready && buffer < ctx->num_buffers ? ctx->buffers[buffer].pack : 0u;
}
#endif
