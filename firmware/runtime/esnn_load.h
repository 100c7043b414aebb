/* esnn_load.h - what the loader (loader.c), the planner (plan.c) and the API (esnn.c) share: the loader's state
 * while it validates a blob, the error macros and the planner's entry points (not part of the API). */
#ifndef ESNN_LOAD_H
#define ESNN_LOAD_H

#include "esnn_internal.h"

/* Offsets, sizes and ranges of the format: esnn_format.h, generated from export/schema.toml. */
#define HEADER_SIZE ESNN_HDR_BYTES
#define CRC_SIZE ESNN_CRC_SIZE
#define UNUSED ESNN_UNUSED
#define MAX_STEP_WORDS_TOTAL (1UL << 28) /* per buffer, all steps: keeps every uint32 index in range */
/* Arena bytes reserved per op record and per buffer record, the same on every target so that the arena size
 * is a property of the model alone (edgesnn/export/passes/memory.py uses the same numbers). */
#define ESNN_OP_SLOT 72u
#define ESNN_BUFFER_SLOT 32u
typedef char esnn_op_slot_fits[(sizeof(esnn_op_t) <= ESNN_OP_SLOT) ? 1 : -1];
typedef char esnn_buffer_slot_fits[(sizeof(esnn_buffer_t) <= ESNN_BUFFER_SLOT) ? 1 : -1];

typedef struct {
    const uint8_t *b;
    size_t n;
    esnn_error_t *err;
    uint32_t flags, data_off, data_size;
    uint16_t T, classes, nb, nops;
    uint32_t written[8];
    /* liveness, filled while the ops are parsed: writer op and last reader op per buffer (ops <= 256),
     * ATTN ops, STATIC conv outputs, LIF outputs and 16-bit LIF states as bitsets. The plan (plan.c "arena
     * plan") adds root[] (the buffer whose storage a buffer shares), hi[] / cur[] (last op and live member of
     * a storage group) and off[] (byte offsets: item b < nb is buffer b, item nb + b the state of the LIF
     * writing buffer b, or the scratch of the CONV / ATTN writing it). */
    uint8_t def[ESNN_MAX_BUFFERS], last[ESNN_MAX_BUFFERS];
    uint8_t root[ESNN_MAX_BUFFERS], hi[ESNN_MAX_BUFFERS], cur[ESNN_MAX_BUFFERS];
    uint32_t attn_ops[8], pinned[(ESNN_MAX_BUFFERS + 31) / 32];
    /* the schedule (plan.c "segments"): ops that begin a segment, ATTN ops run alone over all T (their input
     * stored), ATTN ops whose input conv is recomputed */
    uint32_t first[8], solo[8], recomp[8];
    uint32_t lif_out[(ESNN_MAX_BUFFERS + 31) / 32], state16[(ESNN_MAX_BUFFERS + 31) / 32];
    uint32_t off[2 * ESNN_MAX_BUFFERS];
    uint8_t no_reuse;    /* 1: every buffer its own storage, all T steps with LAYER_MAJOR (the unplanned size) */
    uint8_t keep_states; /* ESNN_OPT_FINAL_STATE: LIF states live to the last op, not to their segment's end */
    uint8_t validated;   /* esnn_init's second pass over a blob the first pass validated: no CRC again */
    uint8_t int32_planes; /* ESNN_OPT_REFERENCE (and the unplanned size): no compact int16 planes */
    uint64_t budget;      /* ESNN_OPT_FAST: arena bytes the plan may spend on speed (0: the leanest plan) */
    uint64_t region_budget; /* the same for the planned region (budget less the fixed part) */
    /* compact int16 planes (plan.c "int16 planes"): per buffer the |value| bound of an acc16 CONV's (or its
     * ATTN's) output when it fits int16, else 0xFFFF; the ATTN's input; readers seen once / more than once;
     * read (in0) by a LIF that takes int16 planes / by an ATTN with 32-bit statistics; written by CONV / ATTN;
     * the decision (half) */
    uint16_t bnd[ESNN_MAX_BUFFERS];
    uint8_t src[ESNN_MAX_BUFFERS];
    uint32_t rd1[(ESNN_MAX_BUFFERS + 31) / 32], rdn[(ESNN_MAX_BUFFERS + 31) / 32];
    uint32_t lif16[(ESNN_MAX_BUFFERS + 31) / 32], attn32[(ESNN_MAX_BUFFERS + 31) / 32];
    uint32_t conv_out[(ESNN_MAX_BUFFERS + 31) / 32], attn_out[(ESNN_MAX_BUFFERS + 31) / 32];
    uint32_t half[(ESNN_MAX_BUFFERS + 31) / 32];
    /* fused static layers (plan.c "fused static layer"): LIF outputs whose LIF reads a STATIC conv's output
     * right after it (src[] = that output); the decision for the conv outputs and the LIF outputs */
    uint32_t static_lif[(ESNN_MAX_BUFFERS + 31) / 32];
    uint32_t fused[(ESNN_MAX_BUFFERS + 31) / 32], fused_out[(ESNN_MAX_BUFFERS + 31) / 32];
    /* row streams (plan.c "row streams"): per CONV output the rows of its window (esnn_stream_rows; an ATTN
     * output: its input's), CONV outputs that a stream may write over its input row by row (stride 1, same
     * size, no wider spike words), S-attention outputs; the decision: convs that stream and the ops that run
     * inside them (op bitsets), the buffers kept as windows, convs the greedy pass keeps whole */
    uint8_t wrows[ESNN_MAX_BUFFERS];
    uint32_t rowsafe[(ESNN_MAX_BUFFERS + 31) / 32], attn_pix[(ESNN_MAX_BUFFERS + 31) / 32];
    uint32_t stream[8], instream[8], nostream[8], sbuf[(ESNN_MAX_BUFFERS + 31) / 32];
    /* T-packed spikes (plan.c "T-packed spikes"): buffers some op other than a spike CONV reads; the decision
     * (packed) and the buffers the greedy pass keeps unpacked (nopack) */
    uint32_t spk_other[(ESNN_MAX_BUFFERS + 31) / 32];
    uint32_t packed[(ESNN_MAX_BUFFERS + 31) / 32], nopack[(ESNN_MAX_BUFFERS + 31) / 32];
    uint16_t num_lif;
    /* per output buffer, the scratch bytes of the CONV or ATTN op writing it (esnn_conv_scratch_bytes, a STATIC
     * conv's esnn_static_conv_lif_scratch_bytes, 8 esnn_attn_scratch): an arena item of its own (plan.c) */
    uint32_t oscr[ESNN_MAX_BUFFERS];
    uint64_t buf_bytes;  /* planned region: buffers + LIF states */
} loader_t;

/* Record the first error in L->err (op / buffer index, -1: none); returns st. */
esnn_status_t esnn_load_fail(loader_t *L, esnn_status_t st, const char *field, int32_t op, int32_t buf);
/* Fail with status st naming `field` (a string literal), op index op and buffer index buf (-1: none). */
#define FAIL(L, op, buf, st, field) return esnn_load_fail((L), (st), ESNN_MSG(field), (op), (buf))
/* Fail as FAIL unless lo <= v <= hi. */
#define RANGE(L, op, buf, v, lo, hi, st, field)                                                  \
    do {                                                                                          \
        if ((int64_t)(v) < (int64_t)(lo) || (int64_t)(v) > (int64_t)(hi)) FAIL(L, op, buf, st, field); \
    } while (0)
#define TRY(x)                              \
    do {                                    \
        esnn_status_t st_ = (x);            \
        if (st_ != ESNN_OK) return st_;     \
    } while (0)

static inline uint64_t align8(uint64_t n) { return (n + 7u) & ~(uint64_t)7u; }
static inline int bit_set(const uint32_t *set, uint32_t i) { return (int)((set[i >> 5] >> (i & 31u)) & 1u); }
static inline void set_bit(uint32_t *set, uint32_t i) { set[i >> 5] |= 1u << (i & 31u); }
/* buffer field at table entry i */
static inline const uint8_t *buf_entry(const loader_t *L, uint32_t i) { return L->b + HEADER_SIZE + ESNN_BUFFER_BYTES * i; }
static inline uint32_t buf_kind(const loader_t *L, uint32_t i) { return buf_entry(L, i)[ESNN_BUFFER_KIND_AT]; }
static inline uint32_t buf_dim(const loader_t *L, uint32_t i, uint32_t d) { return esnn_rd16(buf_entry(L, i) + ESNN_BUFFER_CHANNELS_AT + 2u * d); }
/* Layout of buffer i in this runtime: uint32 words per step. */
static inline uint32_t buffer_words(const loader_t *L, uint32_t i) {
    uint32_t c = buf_dim(L, i, 0), hw = buf_dim(L, i, 1) * buf_dim(L, i, 2);
    if (buf_kind(L, i) == ESNN_BUF_SPIKES) return hw * ((c + 31u) / 32u);
    if (buf_kind(L, i) == ESNN_BUF_CURRENT) return hw * c;
    return 0;
}

/* loader.c: validate everything (header, buffers, ops, graph), collecting what the plan needs (liveness,
 * int16 planes through esnn_plan_note_op). With ops != NULL (esnn_init's second pass) also fills ops[]. The
 * caller then plans the arena (esnn_plan_arena): two calls, not nested, so the load stack is the larger of
 * the two, not their sum. */
esnn_status_t esnn_load(loader_t *L, esnn_op_t *ops);

/* plan.c ("int16 planes"): what validated op o tells about int16 planes and fused static layers. */
void esnn_plan_note_op(loader_t *L, const esnn_op_t *o);
/* plan.c: once every op is known: int16 planes, fused layers, segments, offsets (L->off, L->buf_bytes);
 * returns the whole arena's bytes. */
uint64_t esnn_plan_arena(loader_t *L);
/* plan.c: the fixed part of the arena (records, logits, counts, scratch) before the planned region. */
uint64_t esnn_plan_fixed_bytes(const loader_t *L);
/* plan.c: lay buffers and LIF states at base (the planned region), set each op's schedule bits and fast paths
 * ("fast paths"); fails (ESNN_ERR_LIMIT) only when the plan and the kernels disagree on int16 planes (a bug). */
esnn_status_t esnn_plan_place(loader_t *L, esnn_ctx_t *ctx, uint8_t *base);

#endif /* ESNN_LOAD_H */
