/* loader.c - the loader: every field of the blob validated once (FORMAT.md section 5, firmware/SECURITY.md),
 * op records filled for the scheduler; the arena plan itself is plan.c. */
#include "esnn_load.h"
#include "kernels/attn.h"
#include "kernels/conv.h"
#include "kernels/static_lif.h"

esnn_status_t esnn_load_fail(loader_t *L, esnn_status_t st, const char *field, int32_t op, int32_t buf) {
    if (L->err && L->err->status == ESNN_OK) {
        L->err->status = st;
        L->err->field = field;
        L->err->op = op;
        L->err->buffer = buf;
    }
    return st;
}

static uint64_t weight_bytes(uint64_t count, uint8_t bits) { return bits == 4 ? (count + 1) / 2 : count * (bits / 8u); }
static int is_written(const loader_t *L, uint32_t b) { return (L->written[b >> 5] >> (b & 31u)) & 1u; }
static int same_shape(const loader_t *L, uint32_t a, uint32_t b) {
    return buf_dim(L, a, 0) == buf_dim(L, b, 0) && buf_dim(L, a, 1) == buf_dim(L, b, 1) &&
           buf_dim(L, a, 2) == buf_dim(L, b, 2);
}

/* Array (offset, nbytes) in the data section: 4-aligned and inside; returns NULL when not. */
static const uint8_t *array(const loader_t *L, uint32_t off, uint64_t nbytes) {
    if (off % 4u || (uint64_t)off + nbytes > L->data_size) return NULL;
    return L->b + L->data_off + off;
}

static esnn_status_t check_read(loader_t *L, int32_t op_i, uint32_t b, uint32_t kind_a, uint32_t kind_b) {
    if (b >= L->nb) FAIL(L, op_i, (int32_t)b, ESNN_ERR_GRAPH, "in: buffer does not exist");
    if (!is_written(L, b)) FAIL(L, op_i, (int32_t)b, ESNN_ERR_GRAPH, "in: buffer read before any op writes it");
    if (buf_kind(L, b) != kind_a && buf_kind(L, b) != kind_b) FAIL(L, op_i, (int32_t)b, ESNN_ERR_GRAPH, "in: wrong buffer kind");
    L->last[b] = (uint8_t)op_i;
    return ESNN_OK;
}
static esnn_status_t check_write(loader_t *L, int32_t op_i, uint32_t b, uint32_t kind) {
    if (b >= L->nb) FAIL(L, op_i, (int32_t)b, ESNN_ERR_GRAPH, "out: buffer does not exist");
    if (is_written(L, b)) FAIL(L, op_i, (int32_t)b, ESNN_ERR_GRAPH, "out: buffer already written");
    if (buf_kind(L, b) != kind) FAIL(L, op_i, (int32_t)b, ESNN_ERR_GRAPH, "out: wrong buffer kind");
    L->written[b >> 5] |= 1u << (b & 31u);
    L->def[b] = L->last[b] = (uint8_t)op_i;
    return ESNN_OK;
}
static int32_t out_size(uint32_t size, uint32_t k, uint32_t stride, uint32_t pad) {
    if (size + 2u * pad < k) return 0;
    return (int32_t)((size + 2u * pad - k) / stride) + 1;
}

static esnn_status_t parse_header(loader_t *L) {
    const uint8_t *b = L->b;
    uint32_t ops_off, ops_size, u, i;
    if (!b) FAIL(L, -1, -1, ESNN_ERR_ARG, "blob: NULL");
    if (L->n >= 4 && (b[0] != ESNN_MAGIC[0] || b[1] != ESNN_MAGIC[1] || b[2] != ESNN_MAGIC[2] || b[3] != ESNN_MAGIC[3])) FAIL(L, -1, -1, ESNN_ERR_MAGIC, "magic");
    if (L->n < HEADER_SIZE + CRC_SIZE) FAIL(L, -1, -1, ESNN_ERR_TRUNCATED, "file_size: shorter than header + CRC");
    if (esnn_rd16(b + ESNN_HDR_VERSION_MAJOR_AT) != ESNN_FORMAT_MAJOR) FAIL(L, -1, -1, ESNN_ERR_VERSION, "version_major");
    if (esnn_rd16(b + ESNN_HDR_VERSION_MINOR_AT) > ESNN_FORMAT_MINOR_MAX) FAIL(L, -1, -1, ESNN_ERR_VERSION, "version_minor");
    if (esnn_rd32(b + ESNN_HDR_HEADER_SIZE_AT) != HEADER_SIZE) FAIL(L, -1, -1, ESNN_ERR_HEADER, "header_size");
    if ((uint64_t)esnn_rd32(b + ESNN_HDR_FILE_SIZE_AT) != (uint64_t)L->n) FAIL(L, -1, -1, ESNN_ERR_TRUNCATED, "file_size != blob length");
    if (!L->validated && esnn_rd32(b + L->n - CRC_SIZE) != esnn_crc32(0, b, L->n - CRC_SIZE))
        FAIL(L, -1, -1, ESNN_ERR_CRC, "CRC32");
    L->flags = esnn_rd32(b + ESNN_HDR_FLAGS_AT);
    if (L->flags & ~(ESNN_FLAG_LAYER_MAJOR | ESNN_FLAG_STATIC_INPUT)) FAIL(L, -1, -1, ESNN_ERR_HEADER, "flags: unknown bits");
    L->T = esnn_rd16(b + ESNN_HDR_T_AT);
    L->classes = esnn_rd16(b + ESNN_HDR_NUM_CLASSES_AT);
    L->nb = esnn_rd16(b + ESNN_HDR_NUM_BUFFERS_AT);
    L->nops = esnn_rd16(b + ESNN_HDR_NUM_OPS_AT);
    RANGE(L, -1, -1, L->T, ESNN_HDR_T_MIN, ESNN_HDR_T_MAX, ESNN_ERR_HEADER, "T");
    RANGE(L, -1, -1, L->classes, ESNN_HDR_NUM_CLASSES_MIN, ESNN_HDR_NUM_CLASSES_MAX, ESNN_ERR_HEADER, "num_classes");
    RANGE(L, -1, -1, L->nb, ESNN_HDR_NUM_BUFFERS_MIN, ESNN_HDR_NUM_BUFFERS_MAX, ESNN_ERR_HEADER, "num_buffers");
    RANGE(L, -1, -1, L->nops, ESNN_HDR_NUM_OPS_MIN, ESNN_HDR_NUM_OPS_MAX, ESNN_ERR_HEADER, "num_ops");
    ops_off = esnn_rd32(b + ESNN_HDR_OPS_OFFSET_AT);
    ops_size = esnn_rd32(b + ESNN_HDR_OPS_SIZE_AT);
    L->data_off = esnn_rd32(b + ESNN_HDR_DATA_OFFSET_AT);
    L->data_size = esnn_rd32(b + ESNN_HDR_DATA_SIZE_AT);
    if (ops_off < HEADER_SIZE + ESNN_BUFFER_BYTES * L->nb || ops_off % ESNN_ALIGN) FAIL(L, -1, -1, ESNN_ERR_HEADER, "ops_offset");
    if (L->data_off % ESNN_ALIGN) FAIL(L, -1, -1, ESNN_ERR_HEADER, "data_offset");
    if ((uint64_t)ops_off + ops_size > L->data_off) FAIL(L, -1, -1, ESNN_ERR_HEADER, "ops_size");
    if ((uint64_t)L->data_off + L->data_size != (uint64_t)L->n - CRC_SIZE) FAIL(L, -1, -1, ESNN_ERR_HEADER, "data_size");
    u = esnn_rd32(b + ESNN_HDR_LOGIT_SCALE_AT);
    if (((u >> 23) & 0xFFu) == 0xFFu || (u >> 31) || (u & 0x7FFFFFFFu) == 0) FAIL(L, -1, -1, ESNN_ERR_HEADER, "logit_scale");
    if (esnn_rd32(b + ESNN_HDR_INPUT_SCALE_NUM_AT) < ESNN_HDR_INPUT_SCALE_NUM_MIN) FAIL(L, -1, -1, ESNN_ERR_HEADER, "input_scale_num");
    for (i = ESNN_HDR_RESERVED_AT; i < ESNN_HDR_RESERVED_AT + ESNN_HDR_RESERVED_LEN; i++)
        if (b[i]) FAIL(L, -1, -1, ESNN_ERR_HEADER, "header reserved");
    for (i = 0; i < 8; i++) L->written[i] = 0;
    L->written[0] = 1u;
    return ESNN_OK;
}

#if ESNN_BUFFER_HEIGHT_MIN != ESNN_BUFFER_CHANNELS_MIN || ESNN_BUFFER_WIDTH_MIN != ESNN_BUFFER_CHANNELS_MIN || \
    ESNN_BUFFER_HEIGHT_MAX != ESNN_BUFFER_CHANNELS_MAX || ESNN_BUFFER_WIDTH_MAX != ESNN_BUFFER_CHANNELS_MAX
#error "parse_buffers checks channels, height and width against one range"
#endif
static esnn_status_t parse_buffers(loader_t *L) {
    uint32_t i, d;
    for (i = 0; i < L->nb; i++) {
        const uint8_t *e = buf_entry(L, i);
        uint64_t elems = 1;
        if (e[ESNN_BUFFER_KIND_AT] > ESNN_BUF_CURRENT) FAIL(L, -1, (int32_t)i, ESNN_ERR_BUFFER, "kind");
        if ((e[ESNN_BUFFER_KIND_AT] == ESNN_BUF_INPUT) != (i == 0)) FAIL(L, -1, (int32_t)i, ESNN_ERR_BUFFER, "kind: buffer 0 and only buffer 0 is INPUT_U8");
        if (e[ESNN_BUFFER_RESERVED_AT]) FAIL(L, -1, (int32_t)i, ESNN_ERR_BUFFER, "reserved");
        for (d = 0; d < 3; d++) {
            uint32_t v = esnn_rd16(e + ESNN_BUFFER_CHANNELS_AT + 2 * d);
            if (v < ESNN_BUFFER_CHANNELS_MIN || v > ESNN_BUFFER_CHANNELS_MAX) FAIL(L, -1, (int32_t)i, ESNN_ERR_BUFFER, "channels/height/width");
            elems *= v;
        }
        if (elems > ESNN_MAX_BUFFER_ELEMENTS) FAIL(L, -1, (int32_t)i, ESNN_ERR_LIMIT, "shape: over the reader limit (2^22 elements)");
    }
    return ESNN_OK;
}

/* Validate op record i at *pos (advanced past it) and fill *o. */
static esnn_status_t parse_op(loader_t *L, int32_t op_i, uint32_t *pos, uint32_t end, esnn_op_t *o) {
    static const uint8_t record_size[ESNN_OPCODE_MAX + 1] = ESNN_RECORD_BYTES_BY_OPCODE;
    const uint8_t *r;
    uint32_t size, in0, in1, out, i;
    if ((uint64_t)*pos + ESNN_OP_BYTES > end) FAIL(L, op_i, -1, ESNN_ERR_OP, "record header runs past the op section");
    r = L->b + *pos;
    o->opcode = r[ESNN_OP_OPCODE_AT];
    o->flags = r[ESNN_OP_FLAGS_AT];
    if (o->opcode < ESNN_OP_CONV || o->opcode > ESNN_OPCODE_MAX) FAIL(L, op_i, -1, ESNN_ERR_OP, "opcode");
    size = esnn_rd16(r + ESNN_OP_SIZE_AT);
    if (size != record_size[o->opcode]) FAIL(L, op_i, -1, ESNN_ERR_OP, "size");
    if ((uint64_t)*pos + size > end) FAIL(L, op_i, -1, ESNN_ERR_OP, "size: record runs past the op section");
    *pos += size;
    in0 = o->in0 = esnn_rd16(r + ESNN_OP_IN0_AT);
    in1 = o->in1 = esnn_rd16(r + ESNN_OP_IN1_AT);
    out = o->out = esnn_rd16(r + ESNN_OP_OUT_AT);
    if (esnn_rd16(r + ESNN_OP_RESERVED_AT)) FAIL(L, op_i, -1, ESNN_ERR_OP, "reserved");
    if (o->flags & ~(o->opcode == ESNN_OP_CONV ? ESNN_CONV_FLAGS_KNOWN : 0u)) FAIL(L, op_i, -1, ESNN_ERR_OP, "flags: unknown bits");
    if (o->opcode != ESNN_OP_LOGIC && in1 != UNUSED) FAIL(L, op_i, -1, ESNN_ERR_OP, "in1: must be 0xFFFF");
    if (o->opcode == ESNN_OP_READOUT) {
        if (out != UNUSED) FAIL(L, op_i, -1, ESNN_ERR_OP, "out: must be 0xFFFF for READOUT");
        if (op_i != (int32_t)L->nops - 1) FAIL(L, op_i, -1, ESNN_ERR_GRAPH, "READOUT must be the last op and appear once");
    } else if (op_i == (int32_t)L->nops - 1) {
        FAIL(L, op_i, -1, ESNN_ERR_GRAPH, "the last op must be READOUT");
    }
    switch (o->opcode) {
    case ESNN_OP_CONV: {
        uint32_t woff = esnn_rd32(r + ESNN_CONV_WEIGHT_OFFSET_AT), boff = esnn_rd32(r + ESNN_CONV_BIAS_OFFSET_AT);
        uint64_t count;
        TRY(check_read(L, op_i, in0, ESNN_BUF_INPUT, ESNN_BUF_SPIKES));
        TRY(check_write(L, op_i, out, ESNN_BUF_CURRENT));
        if ((o->flags & ESNN_CONV_STATIC) && !(in0 == 0 && (L->flags & ESNN_FLAG_STATIC_INPUT)))
            FAIL(L, op_i, -1, ESNN_ERR_OP, "flags: STATIC needs in0 = 0 and STATIC_INPUT");
        if (o->flags & ESNN_CONV_STATIC) L->pinned[out >> 5] |= 1u << (out & 31u); /* kept across steps */
        o->cin = esnn_rd16(r + ESNN_CONV_CIN_AT);
        o->cout = esnn_rd16(r + ESNN_CONV_COUT_AT);
        o->kh = r[ESNN_CONV_KH_AT];
        o->kw = r[ESNN_CONV_KW_AT];
        o->stride = r[ESNN_CONV_STRIDE_AT];
        o->pad = r[ESNN_CONV_PAD_AT];
        o->bits = r[ESNN_CONV_WEIGHT_BITS_AT];
        if (o->cin != buf_dim(L, in0, 0)) FAIL(L, op_i, -1, ESNN_ERR_GRAPH, "cin != in0 channels");
        if (o->cout != buf_dim(L, out, 0)) FAIL(L, op_i, -1, ESNN_ERR_GRAPH, "cout != out channels");
        RANGE(L, op_i, -1, o->kh, ESNN_CONV_KH_MIN, ESNN_CONV_KH_MAX, ESNN_ERR_OP, "kh");
        RANGE(L, op_i, -1, o->kw, ESNN_CONV_KW_MIN, ESNN_CONV_KW_MAX, ESNN_ERR_OP, "kw");
        RANGE(L, op_i, -1, o->stride, ESNN_CONV_STRIDE_MIN, ESNN_CONV_STRIDE_MAX, ESNN_ERR_OP, "stride");
        RANGE(L, op_i, -1, o->pad, ESNN_CONV_PAD_MIN, ESNN_CONV_PAD_MAX, ESNN_ERR_OP, "pad");
        if (o->bits != 4 && o->bits != 8 && o->bits != 16) FAIL(L, op_i, -1, ESNN_ERR_OP, "weight_bits");
        if (r[ESNN_CONV_RESERVED_AT] | r[ESNN_CONV_RESERVED_AT + 1] | r[ESNN_CONV_RESERVED_AT + 2]) FAIL(L, op_i, -1, ESNN_ERR_OP, "reserved");
        if (out_size(buf_dim(L, in0, 1), o->kh, o->stride, o->pad) != (int32_t)buf_dim(L, out, 1) ||
            out_size(buf_dim(L, in0, 2), o->kw, o->stride, o->pad) != (int32_t)buf_dim(L, out, 2))
            FAIL(L, op_i, -1, ESNN_ERR_GRAPH, "output size");
        count = (uint64_t)o->cin * o->kh * o->kw * o->cout;
        if (!(o->w = array(L, woff, weight_bytes(count, o->bits)))) FAIL(L, op_i, -1, ESNN_ERR_DATA, "weight_offset");
        if (!(o->bias = array(L, boff, 4u * (uint64_t)o->cout))) FAIL(L, op_i, -1, ESNN_ERR_DATA, "bias_offset");
        L->oscr[out] = esnn_conv_scratch_bytes(o);
        if ((o->flags & ESNN_CONV_STATIC) && esnn_static_conv_lif_scratch_bytes(o) > L->oscr[out])
            L->oscr[out] = esnn_static_conv_lif_scratch_bytes(o); /* it may run fused with its LIF */
        break;
    }
    case ESNN_OP_LIF: {
        uint32_t toff = esnn_rd32(r + ESNN_LIF_THRESHOLD_OFFSET_AT), ch = esnn_rd16(r + ESNN_LIF_CHANNELS_AT);
        TRY(check_read(L, op_i, in0, ESNN_BUF_CURRENT, ESNN_BUF_CURRENT));
        TRY(check_write(L, op_i, out, ESNN_BUF_SPIKES));
        if (ch != buf_dim(L, in0, 0) || ch != buf_dim(L, out, 0)) FAIL(L, op_i, -1, ESNN_ERR_GRAPH, "channels");
        if (!same_shape(L, in0, out)) FAIL(L, op_i, -1, ESNN_ERR_GRAPH, "out: shape != in0 shape");
        o->state_bits = r[ESNN_LIF_STATE_BITS_AT];
        if (o->state_bits != 16 && o->state_bits != 32) FAIL(L, op_i, -1, ESNN_ERR_OP, "state_bits");
        if (r[ESNN_LIF_RESERVED_AT]) FAIL(L, op_i, -1, ESNN_ERR_OP, "reserved");
        o->leak_mul = esnn_rd32(r + ESNN_LIF_LEAK_MUL_AT);
        RANGE(L, op_i, -1, o->leak_mul, ESNN_LIF_LEAK_MUL_MIN, ESNN_LIF_LEAK_MUL_MAX, ESNN_ERR_VALUE, "leak_mul");
        if (!(o->bias = array(L, toff, 4u * (uint64_t)ch))) FAIL(L, op_i, -1, ESNN_ERR_DATA, "threshold_offset");
        for (i = 0; i < ch; i++)
            if (esnn_s32(esnn_rd32(o->bias + 4u * i)) < 1) FAIL(L, op_i, -1, ESNN_ERR_VALUE, "threshold < 1");
        o->lif_index = L->num_lif++;
        L->lif_out[out >> 5] |= 1u << (out & 31u);
        if (o->state_bits == 16) L->state16[out >> 5] |= 1u << (out & 31u);
        break;
    }
    case ESNN_OP_ATTN: {
        uint32_t w1off = esnn_rd32(r + ESNN_ATTN_W1_OFFSET_AT), w2off = esnn_rd32(r + ESNN_ATTN_W2_OFFSET_AT);
        uint32_t toff = esnn_rd32(r + ESNN_ATTN_TABLE_OFFSET_AT), groups;
        esnn_buffer_t shape;
        uint64_t scratch;
        TRY(check_read(L, op_i, in0, ESNN_BUF_CURRENT, ESNN_BUF_CURRENT));
        TRY(check_write(L, op_i, out, ESNN_BUF_CURRENT));
        if (!same_shape(L, in0, out)) FAIL(L, op_i, -1, ESNN_ERR_GRAPH, "out: shape != in0 shape");
        o->dim = r[ESNN_ATTN_DIM_AT];
        o->kind = r[ESNN_ATTN_KIND_AT];
        o->n = esnn_rd16(r + ESNN_ATTN_N_AT);
        o->hidden = esnn_rd16(r + ESNN_ATTN_HIDDEN_AT);
        o->shift = r[ESNN_ATTN_SHIFT_AT];
        o->levels = esnn_rd16(r + ESNN_ATTN_LEVELS_AT);
        if (o->dim > ESNN_ATTN_S) FAIL(L, op_i, -1, ESNN_ERR_OP, "dim");
        if (o->kind > ESNN_ATTN_IA) FAIL(L, op_i, -1, ESNN_ERR_OP, "kind");
        if (r[ESNN_ATTN_RESERVED1_AT] || esnn_rd16(r + ESNN_ATTN_RESERVED2_AT)) FAIL(L, op_i, -1, ESNN_ERR_OP, "reserved");
        if (o->dim == ESNN_ATTN_S) {
            RANGE(L, op_i, -1, o->n, 1, 15, ESNN_ERR_OP, "n");
            if (o->n % 2u == 0) FAIL(L, op_i, -1, ESNN_ERR_OP, "n: kernel size must be odd");
            if (o->hidden || o->shift || w2off) FAIL(L, op_i, -1, ESNN_ERR_OP, "hidden/shift/w2_offset must be 0 for dim S");
            if (!(o->w = array(L, w1off, 2u * o->n * o->n))) FAIL(L, op_i, -1, ESNN_ERR_DATA, "w1_offset");
            o->w2off = 0;
            groups = 1;
        } else {
            if (o->n != (o->dim == ESNN_ATTN_T ? L->T : buf_dim(L, in0, 0))) FAIL(L, op_i, -1, ESNN_ERR_GRAPH, "n");
            RANGE(L, op_i, -1, o->hidden, 1, o->n, ESNN_ERR_OP, "hidden");
            RANGE(L, op_i, -1, o->shift, 0, 62, ESNN_ERR_OP, "shift");
            if (!(o->w = array(L, w1off, (uint64_t)o->hidden * o->n))) FAIL(L, op_i, -1, ESNN_ERR_DATA, "w1_offset");
            if (!array(L, w2off, (uint64_t)o->hidden * o->n)) FAIL(L, op_i, -1, ESNN_ERR_DATA, "w2_offset");
            RANGE(L, op_i, -1, (int64_t)w2off - (int64_t)w1off, -0x7FFFFFFF, 0x7FFFFFFF, ESNN_ERR_LIMIT, "w2_offset: over 2 GiB from w1");
            o->w2off = (int32_t)((int64_t)w2off - (int64_t)w1off);
            groups = o->n;
        }
        if (o->kind == ESNN_ATTN_MA) {
            RANGE(L, op_i, -1, o->levels, 1, 1024, ESNN_ERR_OP, "levels");
            if (!(o->bias = array(L, toff, 8u * o->levels + 2u * (o->levels + 1u)))) FAIL(L, op_i, -1, ESNN_ERR_DATA, "table_offset");
            for (i = 1; i < o->levels; i++)
                if (esnn_s64(esnn_rd64(o->bias + 8u * i)) < esnn_s64(esnn_rd64(o->bias + 8u * (i - 1))))
                    FAIL(L, op_i, -1, ESNN_ERR_VALUE, "breakpoints: not ascending");
        } else {
            if (o->levels) FAIL(L, op_i, -1, ESNN_ERR_OP, "levels: must be 0 for IA");
            if (!(o->bias = array(L, toff, 8u * (uint64_t)groups))) FAIL(L, op_i, -1, ESNN_ERR_DATA, "table_offset");
        }
        shape.h = (uint16_t)buf_dim(L, in0, 1);
        shape.w = (uint16_t)buf_dim(L, in0, 2);
        scratch = esnn_attn_scratch(o->dim, o->n, o->hidden, &shape);
        if (scratch > 0xFFFFFFFFu / 8u) FAIL(L, op_i, -1, ESNN_ERR_LIMIT, "attention scratch: over 4 GiB");
        L->oscr[out] = (uint32_t)(8u * scratch);
        break;
    }
    case ESNN_OP_MAXPOOL:
        TRY(check_read(L, op_i, in0, ESNN_BUF_SPIKES, ESNN_BUF_SPIKES));
        TRY(check_write(L, op_i, out, ESNN_BUF_SPIKES));
        o->kh = r[ESNN_MAXPOOL_KERNEL_AT];
        o->stride = r[ESNN_MAXPOOL_STRIDE_AT];
        o->pad = r[ESNN_MAXPOOL_PAD_AT];
        RANGE(L, op_i, -1, o->kh, ESNN_MAXPOOL_KERNEL_MIN, ESNN_MAXPOOL_KERNEL_MAX, ESNN_ERR_OP, "kernel");
        RANGE(L, op_i, -1, o->stride, ESNN_MAXPOOL_STRIDE_MIN, ESNN_MAXPOOL_STRIDE_MAX, ESNN_ERR_OP, "stride");
        RANGE(L, op_i, -1, o->pad, ESNN_MAXPOOL_PAD_MIN, ESNN_MAXPOOL_PAD_MAX, ESNN_ERR_OP, "pad");
        if (r[ESNN_MAXPOOL_RESERVED_AT]) FAIL(L, op_i, -1, ESNN_ERR_OP, "reserved");
        if (buf_dim(L, in0, 0) != buf_dim(L, out, 0) ||
            out_size(buf_dim(L, in0, 1), o->kh, o->stride, o->pad) != (int32_t)buf_dim(L, out, 1) ||
            out_size(buf_dim(L, in0, 2), o->kh, o->stride, o->pad) != (int32_t)buf_dim(L, out, 2))
            FAIL(L, op_i, -1, ESNN_ERR_GRAPH, "output size");
        break;
    case ESNN_OP_LOGIC:
        TRY(check_read(L, op_i, in0, ESNN_BUF_SPIKES, ESNN_BUF_SPIKES));
        TRY(check_read(L, op_i, in1, ESNN_BUF_SPIKES, ESNN_BUF_SPIKES));
        TRY(check_write(L, op_i, out, ESNN_BUF_SPIKES));
        o->kind = r[ESNN_LOGIC_MODE_AT]; /* the mode */
        if (o->kind > ESNN_LOGIC_IAND) FAIL(L, op_i, -1, ESNN_ERR_OP, "mode");
        if (r[ESNN_LOGIC_RESERVED_AT] | r[ESNN_LOGIC_RESERVED_AT + 1] | r[ESNN_LOGIC_RESERVED_AT + 2]) FAIL(L, op_i, -1, ESNN_ERR_OP, "reserved");
        if (!same_shape(L, in0, in1) || !same_shape(L, in0, out)) FAIL(L, op_i, -1, ESNN_ERR_GRAPH, "shapes must be equal");
        break;
    default: { /* READOUT */
        uint32_t woff = esnn_rd32(r + ESNN_READOUT_WEIGHT_OFFSET_AT), boff = esnn_rd32(r + ESNN_READOUT_BIAS_OFFSET_AT);
        TRY(check_read(L, op_i, in0, ESNN_BUF_SPIKES, ESNN_BUF_SPIKES));
        o->cin = esnn_rd16(r + ESNN_READOUT_CHANNELS_AT);
        o->cout = esnn_rd16(r + ESNN_READOUT_CLASSES_AT);
        o->bits = r[ESNN_READOUT_WEIGHT_BITS_AT];
        if (o->cin != buf_dim(L, in0, 0)) FAIL(L, op_i, -1, ESNN_ERR_GRAPH, "channels != in0 channels");
        if (o->cout != L->classes) FAIL(L, op_i, -1, ESNN_ERR_GRAPH, "classes != num_classes");
        if (o->bits != 4 && o->bits != 8 && o->bits != 16) FAIL(L, op_i, -1, ESNN_ERR_OP, "weight_bits");
        if (r[ESNN_READOUT_RESERVED_AT] | r[ESNN_READOUT_RESERVED_AT + 1] | r[ESNN_READOUT_RESERVED_AT + 2]) FAIL(L, op_i, -1, ESNN_ERR_OP, "reserved");
        if (!(o->w = array(L, woff, weight_bytes((uint64_t)o->cin * o->cout, o->bits)))) FAIL(L, op_i, -1, ESNN_ERR_DATA, "weight_offset");
        if (!(o->bias = array(L, boff, 4u * (uint64_t)o->cout))) FAIL(L, op_i, -1, ESNN_ERR_DATA, "bias_offset");
        break;
    }
    }
    return ESNN_OK;
}

/* Validate everything. With ops != NULL (second pass) also fills ops[]. */
esnn_status_t esnn_load(loader_t *L, esnn_op_t *ops) {
    uint32_t ops_off, end, pos, i;
    int has_attn = 0;
    uint16_t steps;
    TRY(parse_header(L));
    TRY(parse_buffers(L));
    steps = (L->flags & ESNN_FLAG_LAYER_MAJOR) ? L->T : 1;
    L->num_lif = 0;
    if (L->nb > ESNN_MAX_BUFFERS) FAIL(L, -1, -1, ESNN_ERR_LIMIT, "num_buffers: over ESNN_MAX_BUFFERS");
    { /* one sample's input (frame bytes x frames) must stay far inside a 32-bit size_t: every caller and the
       * protocol multiply these (a product of 2^32 would wrap to 0 on a 32-bit MCU) */
        const uint64_t frames = (L->flags & ESNN_FLAG_STATIC_INPUT) ? 1u : L->T;
        if ((uint64_t)buf_dim(L, 0, 0) * buf_dim(L, 0, 1) * buf_dim(L, 0, 2) * frames > ESNN_MAX_SAMPLE_BYTES)
            FAIL(L, -1, 0, ESNN_ERR_LIMIT, "input: frame bytes x frames over ESNN_MAX_SAMPLE_BYTES (2^28)");
    }
    for (i = 0; i < 8; i++) L->attn_ops[i] = 0;
    for (i = 0; i < (ESNN_MAX_BUFFERS + 31) / 32; i++)
        L->pinned[i] = L->lif_out[i] = L->state16[i] = L->rd1[i] = L->rdn[i] = L->lif16[i] = L->attn32[i] =
            L->conv_out[i] = L->attn_out[i] = L->static_lif[i] = L->rowsafe[i] = L->attn_pix[i] = L->spk_other[i] = 0;
    for (i = 1; i < L->nb; i++) {
        uint64_t words = (uint64_t)buffer_words(L, i) * steps;
        if (words > MAX_STEP_WORDS_TOTAL) FAIL(L, -1, (int32_t)i, ESNN_ERR_LIMIT, "shape x steps: over this runtime's limit");
    }
    ops_off = esnn_rd32(L->b + ESNN_HDR_OPS_OFFSET_AT);
    end = ops_off + esnn_rd32(L->b + ESNN_HDR_OPS_SIZE_AT);
    pos = ops_off;
    for (i = 0; i < L->nops; i++) {
        esnn_op_t tmp, *o = ops ? &ops[i] : &tmp;
        TRY(parse_op(L, (int32_t)i, &pos, end, o));
        esnn_plan_note_op(L, o);
        if (o->opcode == ESNN_OP_ATTN) {
            has_attn = 1;
            L->attn_ops[i >> 5] |= 1u << (i & 31u);
        }
    }
    if (pos != end) FAIL(L, -1, -1, ESNN_ERR_HEADER, "ops_size: records do not fill the op section");
    for (i = 1; i < L->nb; i++)
        if (!is_written(L, i)) FAIL(L, -1, (int32_t)i, ESNN_ERR_GRAPH, "buffer never written by any op");
    if (has_attn && !(L->flags & ESNN_FLAG_LAYER_MAJOR)) FAIL(L, -1, -1, ESNN_ERR_HEADER, "flags: ATTN needs LAYER_MAJOR");
    return ESNN_OK;
}
