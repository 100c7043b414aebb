/* esnn.c - loader (validation of every field, FORMAT.md section 5), arena layout and the schedule. */
#include <stdlib.h>
#include "esnn_internal.h"
#include "kernels/attn.h"
#include "kernels/conv.h"
#include "kernels/lif.h"
#include "kernels/logic.h"
#include "kernels/maxpool.h"
#include "kernels/readout.h"
#include "kernels/static_lif.h"

/* Bench builds only (-DESNN_PROFILE, firmware/bench/bench_main.c): called before (end 0) and after (end 1)
 * each op with its opcode (7: the first-layer u8 conv) | op index << 8; the library never defines it, so
 * normal builds reference nothing. */
#ifdef ESNN_PROFILE
void esnn_profile_hook(uint32_t opcode, uint32_t end);
#define ESNN_PROF(op, e) esnn_profile_hook((op), (e))
#else
#define ESNN_PROF(op, e) ((void)0)
#endif

#ifdef ESNN_NO_ERRMSG
#define ESNN_MSG(s) ""
#else
#define ESNN_MSG(s) s
#endif

/* ---- status strings, from the one list ---------------------------------------------------------- */
#define ESNN_STATUS_NAME_(name, text) #name,
#define ESNN_STATUS_TEXT_(name, text) ESNN_MSG(text),
static const char *const status_names[] = {ESNN_STATUS_LIST(ESNN_STATUS_NAME_)};
static const char *const status_texts[] = {ESNN_STATUS_LIST(ESNN_STATUS_TEXT_)};
/* C99 static assert: both tables have exactly one entry per status. */
typedef char esnn_status_names_match[(sizeof status_names / sizeof status_names[0] == ESNN_STATUS_COUNT) ? 1 : -1];
typedef char esnn_status_texts_match[(sizeof status_texts / sizeof status_texts[0] == ESNN_STATUS_COUNT) ? 1 : -1];

const char *esnn_status_name(esnn_status_t st) {
    return ((unsigned)st < ESNN_STATUS_COUNT) ? status_names[st] : "ESNN_UNKNOWN";
}
const char *esnn_status_str(esnn_status_t st) {
    return ((unsigned)st < ESNN_STATUS_COUNT) ? status_texts[st] : ESNN_MSG("unknown status");
}
size_t esnn_ctx_size(void) { return sizeof(esnn_ctx_t); }
const char *esnn_version(void) { return ESNN_VERSION_STRING; }
void esnn_format_versions(uint16_t *major, uint16_t *minor_max) {
    if (major) *major = ESNN_FORMAT_MAJOR;
    if (minor_max) *minor_max = ESNN_FORMAT_MINOR_MAX;
}

/* ---- CRC32 (IEEE 802.3, as zlib.crc32), nibble table in flash ------------------------------------ */
static uint32_t crc32_ieee(const uint8_t *p, size_t n) {
    static const uint32_t tab[16] = {0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u,
                                     0x4DB26158u, 0x5005713Cu, 0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
                                     0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu};
    uint32_t crc = 0xFFFFFFFFu;
    size_t i;
    for (i = 0; i < n; i++) {
        crc ^= p[i];
        crc = (crc >> 4) ^ tab[crc & 15u];
        crc = (crc >> 4) ^ tab[crc & 15u];
    }
    return crc ^ 0xFFFFFFFFu;
}

/* ---- loader --------------------------------------------------------------------------------------- */
/* Offsets, sizes and ranges of the format: esnn_format.h, generated from export/schema.toml. */
#define HEADER_SIZE ESNN_HDR_BYTES
#define CRC_SIZE ESNN_CRC_SIZE
#define UNUSED ESNN_UNUSED
#define MAX_STEP_WORDS_TOTAL (1UL << 28) /* per buffer, all steps: keeps every uint32 index in range */
/* Arena bytes reserved per op record and per buffer record, the same on every target so that the arena size
 * is a property of the model alone (edgesnn/export/passes/memory.py uses the same numbers). */
#define ESNN_OP_SLOT 80u
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
     * ATTN ops, STATIC conv outputs, LIF outputs and 16-bit LIF states as bitsets. The plan (esnn.c "arena
     * plan") adds root[] (the buffer whose storage a buffer shares), hi[] / cur[] (last op and live member of
     * a storage group) and off[] (byte offsets: item b < nb is buffer b, item nb + b the state of the LIF
     * writing buffer b). */
    uint8_t def[ESNN_MAX_BUFFERS], last[ESNN_MAX_BUFFERS];
    uint8_t root[ESNN_MAX_BUFFERS], hi[ESNN_MAX_BUFFERS], cur[ESNN_MAX_BUFFERS];
    uint32_t attn_ops[8], pinned[(ESNN_MAX_BUFFERS + 31) / 32];
    /* the schedule (esnn.c "segments"): ops that begin a segment, ATTN ops run alone over all T (their input
     * stored), ATTN ops whose input conv is recomputed */
    uint32_t first[8], solo[8], recomp[8];
    uint32_t lif_out[(ESNN_MAX_BUFFERS + 31) / 32], state16[(ESNN_MAX_BUFFERS + 31) / 32];
    uint32_t off[2 * ESNN_MAX_BUFFERS];
    uint8_t no_reuse;    /* 1: every buffer its own storage, all T steps with LAYER_MAJOR (the unplanned size) */
    uint8_t keep_states; /* ESNN_OPT_FINAL_STATE: LIF states live to the last op, not to their segment's end */
    uint8_t int32_planes; /* ESNN_OPT_REFERENCE (and the unplanned size): no compact int16 planes */
    /* compact int16 planes (esnn.c "int16 planes"): per buffer the |value| bound of an acc16 CONV's (or its
     * ATTN's) output when it fits int16, else 0xFFFF; the ATTN's input; readers seen once / more than once;
     * read (in0) by a LIF that takes int16 planes / by an ATTN with 32-bit statistics; written by CONV / ATTN;
     * the decision (half) */
    uint16_t bnd[ESNN_MAX_BUFFERS];
    uint8_t src[ESNN_MAX_BUFFERS];
    uint32_t rd1[(ESNN_MAX_BUFFERS + 31) / 32], rdn[(ESNN_MAX_BUFFERS + 31) / 32];
    uint32_t lif16[(ESNN_MAX_BUFFERS + 31) / 32], attn32[(ESNN_MAX_BUFFERS + 31) / 32];
    uint32_t conv_out[(ESNN_MAX_BUFFERS + 31) / 32], attn_out[(ESNN_MAX_BUFFERS + 31) / 32];
    uint32_t half[(ESNN_MAX_BUFFERS + 31) / 32];
    /* fused static layers (esnn.c "fused static layer"): LIF outputs whose LIF reads a STATIC conv's output
     * right after it (src[] = that output); the decision for the conv outputs and the LIF outputs */
    uint32_t static_lif[(ESNN_MAX_BUFFERS + 31) / 32];
    uint32_t fused[(ESNN_MAX_BUFFERS + 31) / 32], fused_out[(ESNN_MAX_BUFFERS + 31) / 32];
    uint16_t num_lif;
    uint64_t scratch;    /* int64 values */
    uint32_t kscratch;   /* kernel scratch bytes: max over ops (esnn_conv_scratch_bytes, a STATIC conv's
                          * esnn_static_conv_lif_scratch_bytes) */
    uint64_t buf_bytes;  /* planned region: buffers + LIF states */
} loader_t;

static esnn_status_t fail(loader_t *L, esnn_status_t st, const char *field, int32_t op, int32_t buf) {
    if (L->err && L->err->status == ESNN_OK) {
        L->err->status = st;
        L->err->field = field;
        L->err->op = op;
        L->err->buffer = buf;
    }
    return st;
}
#define FAIL(st, field) return fail(L, st, ESNN_MSG(field), op_i, buf_i)
#define RANGE(v, lo, hi, st, field) \
    do {                            \
        if ((int64_t)(v) < (int64_t)(lo) || (int64_t)(v) > (int64_t)(hi)) FAIL(st, field); \
    } while (0)

static uint64_t align8(uint64_t n) { return (n + 7u) & ~(uint64_t)7u; }
static uint64_t weight_bytes(uint64_t count, uint8_t bits) { return bits == 4 ? (count + 1) / 2 : count * (bits / 8u); }
static int is_written(const loader_t *L, uint32_t b) { return (L->written[b >> 5] >> (b & 31u)) & 1u; }

/* buffer field at table entry i */
static const uint8_t *buf_entry(const loader_t *L, uint32_t i) { return L->b + HEADER_SIZE + ESNN_BUFFER_BYTES * i; }
static uint32_t buf_kind(const loader_t *L, uint32_t i) { return buf_entry(L, i)[ESNN_BUFFER_KIND_AT]; }
static uint32_t buf_dim(const loader_t *L, uint32_t i, uint32_t d) { return esnn_rd16(buf_entry(L, i) + ESNN_BUFFER_CHANNELS_AT + 2u * d); }
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
    int32_t buf_i = (int32_t)b;
    if (b >= L->nb) FAIL(ESNN_ERR_GRAPH, "in: buffer does not exist");
    if (!is_written(L, b)) FAIL(ESNN_ERR_GRAPH, "in: buffer read before any op writes it");
    if (buf_kind(L, b) != kind_a && buf_kind(L, b) != kind_b) FAIL(ESNN_ERR_GRAPH, "in: wrong buffer kind");
    L->last[b] = (uint8_t)op_i;
    return ESNN_OK;
}
static esnn_status_t check_write(loader_t *L, int32_t op_i, uint32_t b, uint32_t kind) {
    int32_t buf_i = (int32_t)b;
    if (b >= L->nb) FAIL(ESNN_ERR_GRAPH, "out: buffer does not exist");
    if (is_written(L, b)) FAIL(ESNN_ERR_GRAPH, "out: buffer already written");
    if (buf_kind(L, b) != kind) FAIL(ESNN_ERR_GRAPH, "out: wrong buffer kind");
    L->written[b >> 5] |= 1u << (b & 31u);
    L->def[b] = L->last[b] = (uint8_t)op_i;
    return ESNN_OK;
}
#define TRY(x)                              \
    do {                                    \
        esnn_status_t st_ = (x);            \
        if (st_ != ESNN_OK) return st_;     \
    } while (0)

static int32_t out_size(uint32_t size, uint32_t k, uint32_t stride, uint32_t pad) {
    if (size + 2u * pad < k) return 0;
    return (int32_t)((size + 2u * pad - k) / stride) + 1;
}

static esnn_status_t parse_header(loader_t *L) {
    const uint8_t *b = L->b;
    int32_t op_i = -1, buf_i = -1;
    uint32_t ops_off, ops_size, u, i;
    if (!b) FAIL(ESNN_ERR_ARG, "blob: NULL");
    if (L->n >= 4 && (b[0] != ESNN_MAGIC[0] || b[1] != ESNN_MAGIC[1] || b[2] != ESNN_MAGIC[2] || b[3] != ESNN_MAGIC[3])) FAIL(ESNN_ERR_MAGIC, "magic");
    if (L->n < HEADER_SIZE + CRC_SIZE) FAIL(ESNN_ERR_TRUNCATED, "file_size: shorter than header + CRC");
    if (esnn_rd16(b + ESNN_HDR_VERSION_MAJOR_AT) != ESNN_FORMAT_MAJOR) FAIL(ESNN_ERR_VERSION, "version_major");
    if (esnn_rd16(b + ESNN_HDR_VERSION_MINOR_AT) > ESNN_FORMAT_MINOR_MAX) FAIL(ESNN_ERR_VERSION, "version_minor");
    if (esnn_rd32(b + ESNN_HDR_HEADER_SIZE_AT) != HEADER_SIZE) FAIL(ESNN_ERR_HEADER, "header_size");
    if ((uint64_t)esnn_rd32(b + ESNN_HDR_FILE_SIZE_AT) != (uint64_t)L->n) FAIL(ESNN_ERR_TRUNCATED, "file_size != blob length");
    if (esnn_rd32(b + L->n - CRC_SIZE) != crc32_ieee(b, L->n - CRC_SIZE)) FAIL(ESNN_ERR_CRC, "CRC32");
    L->flags = esnn_rd32(b + ESNN_HDR_FLAGS_AT);
    if (L->flags & ~(ESNN_FLAG_LAYER_MAJOR | ESNN_FLAG_STATIC_INPUT)) FAIL(ESNN_ERR_HEADER, "flags: unknown bits");
    L->T = esnn_rd16(b + ESNN_HDR_T_AT);
    L->classes = esnn_rd16(b + ESNN_HDR_NUM_CLASSES_AT);
    L->nb = esnn_rd16(b + ESNN_HDR_NUM_BUFFERS_AT);
    L->nops = esnn_rd16(b + ESNN_HDR_NUM_OPS_AT);
    RANGE(L->T, ESNN_HDR_T_MIN, ESNN_HDR_T_MAX, ESNN_ERR_HEADER, "T");
    RANGE(L->classes, ESNN_HDR_NUM_CLASSES_MIN, ESNN_HDR_NUM_CLASSES_MAX, ESNN_ERR_HEADER, "num_classes");
    RANGE(L->nb, ESNN_HDR_NUM_BUFFERS_MIN, ESNN_HDR_NUM_BUFFERS_MAX, ESNN_ERR_HEADER, "num_buffers");
    RANGE(L->nops, ESNN_HDR_NUM_OPS_MIN, ESNN_HDR_NUM_OPS_MAX, ESNN_ERR_HEADER, "num_ops");
    ops_off = esnn_rd32(b + ESNN_HDR_OPS_OFFSET_AT);
    ops_size = esnn_rd32(b + ESNN_HDR_OPS_SIZE_AT);
    L->data_off = esnn_rd32(b + ESNN_HDR_DATA_OFFSET_AT);
    L->data_size = esnn_rd32(b + ESNN_HDR_DATA_SIZE_AT);
    if (ops_off < HEADER_SIZE + ESNN_BUFFER_BYTES * L->nb || ops_off % ESNN_ALIGN) FAIL(ESNN_ERR_HEADER, "ops_offset");
    if (L->data_off % ESNN_ALIGN) FAIL(ESNN_ERR_HEADER, "data_offset");
    if ((uint64_t)ops_off + ops_size > L->data_off) FAIL(ESNN_ERR_HEADER, "ops_size");
    if ((uint64_t)L->data_off + L->data_size != (uint64_t)L->n - CRC_SIZE) FAIL(ESNN_ERR_HEADER, "data_size");
    u = esnn_rd32(b + ESNN_HDR_LOGIT_SCALE_AT);
    if (((u >> 23) & 0xFFu) == 0xFFu || (u >> 31) || (u & 0x7FFFFFFFu) == 0) FAIL(ESNN_ERR_HEADER, "logit_scale");
    if (esnn_rd32(b + ESNN_HDR_INPUT_SCALE_NUM_AT) < ESNN_HDR_INPUT_SCALE_NUM_MIN) FAIL(ESNN_ERR_HEADER, "input_scale_num");
    for (i = ESNN_HDR_RESERVED_AT; i < ESNN_HDR_RESERVED_AT + ESNN_HDR_RESERVED_LEN; i++)
        if (b[i]) FAIL(ESNN_ERR_HEADER, "header reserved");
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
    int32_t op_i = -1, buf_i;
    for (i = 0; i < L->nb; i++) {
        const uint8_t *e = buf_entry(L, i);
        uint64_t elems = 1;
        buf_i = (int32_t)i;
        if (e[ESNN_BUFFER_KIND_AT] > ESNN_BUF_CURRENT) FAIL(ESNN_ERR_BUFFER, "kind");
        if ((e[ESNN_BUFFER_KIND_AT] == ESNN_BUF_INPUT) != (i == 0)) FAIL(ESNN_ERR_BUFFER, "kind: buffer 0 and only buffer 0 is INPUT_U8");
        if (e[ESNN_BUFFER_RESERVED_AT]) FAIL(ESNN_ERR_BUFFER, "reserved");
        for (d = 0; d < 3; d++) {
            uint32_t v = esnn_rd16(e + ESNN_BUFFER_CHANNELS_AT + 2 * d);
            if (v < ESNN_BUFFER_CHANNELS_MIN || v > ESNN_BUFFER_CHANNELS_MAX) FAIL(ESNN_ERR_BUFFER, "channels/height/width");
            elems *= v;
        }
        if (elems > ESNN_MAX_BUFFER_ELEMENTS) FAIL(ESNN_ERR_LIMIT, "shape: over the reader limit (2^22 elements)");
    }
    return ESNN_OK;
}

/* Layout of buffer i in this runtime: words per step and steps held. */
static uint32_t buffer_words(const loader_t *L, uint32_t i) {
    uint32_t c = buf_dim(L, i, 0), hw = buf_dim(L, i, 1) * buf_dim(L, i, 2);
    if (buf_kind(L, i) == ESNN_BUF_SPIKES) return hw * ((c + 31u) / 32u);
    if (buf_kind(L, i) == ESNN_BUF_CURRENT) return hw * c;
    return 0;
}

/* Validate op record i at *pos (advanced past it) and fill *o. */
static esnn_status_t parse_op(loader_t *L, int32_t op_i, uint32_t *pos, uint32_t end, esnn_op_t *o) {
    static const uint8_t record_size[ESNN_OPCODE_MAX + 1] = ESNN_RECORD_BYTES_BY_OPCODE;
    const uint8_t *r;
    int32_t buf_i = -1;
    uint32_t size, in0, in1, out, i;
    if ((uint64_t)*pos + ESNN_OP_BYTES > end) FAIL(ESNN_ERR_OP, "record header runs past the op section");
    r = L->b + *pos;
    o->opcode = r[ESNN_OP_OPCODE_AT];
    o->flags = r[ESNN_OP_FLAGS_AT];
    if (o->opcode < ESNN_OP_CONV || o->opcode > ESNN_OPCODE_MAX) FAIL(ESNN_ERR_OP, "opcode");
    size = esnn_rd16(r + ESNN_OP_SIZE_AT);
    if (size != record_size[o->opcode]) FAIL(ESNN_ERR_OP, "size");
    if ((uint64_t)*pos + size > end) FAIL(ESNN_ERR_OP, "size: record runs past the op section");
    *pos += size;
    in0 = o->in0 = esnn_rd16(r + ESNN_OP_IN0_AT);
    in1 = o->in1 = esnn_rd16(r + ESNN_OP_IN1_AT);
    out = o->out = esnn_rd16(r + ESNN_OP_OUT_AT);
    if (esnn_rd16(r + ESNN_OP_RESERVED_AT)) FAIL(ESNN_ERR_OP, "reserved");
    if (o->flags & ~(o->opcode == ESNN_OP_CONV ? ESNN_CONV_FLAGS_KNOWN : 0u)) FAIL(ESNN_ERR_OP, "flags: unknown bits");
    if (o->opcode != ESNN_OP_LOGIC && in1 != UNUSED) FAIL(ESNN_ERR_OP, "in1: must be 0xFFFF");
    if (o->opcode == ESNN_OP_READOUT) {
        if (out != UNUSED) FAIL(ESNN_ERR_OP, "out: must be 0xFFFF for READOUT");
        if (op_i != (int32_t)L->nops - 1) FAIL(ESNN_ERR_GRAPH, "READOUT must be the last op and appear once");
    } else if (op_i == (int32_t)L->nops - 1) {
        FAIL(ESNN_ERR_GRAPH, "the last op must be READOUT");
    }
    switch (o->opcode) {
    case ESNN_OP_CONV: {
        uint32_t woff = esnn_rd32(r + ESNN_CONV_WEIGHT_OFFSET_AT), boff = esnn_rd32(r + ESNN_CONV_BIAS_OFFSET_AT);
        uint64_t count;
        TRY(check_read(L, op_i, in0, ESNN_BUF_INPUT, ESNN_BUF_SPIKES));
        TRY(check_write(L, op_i, out, ESNN_BUF_CURRENT));
        if ((o->flags & ESNN_CONV_STATIC) && !(in0 == 0 && (L->flags & ESNN_FLAG_STATIC_INPUT)))
            FAIL(ESNN_ERR_OP, "flags: STATIC needs in0 = 0 and STATIC_INPUT");
        if (o->flags & ESNN_CONV_STATIC) L->pinned[out >> 5] |= 1u << (out & 31u); /* kept across steps */
        o->cin = esnn_rd16(r + ESNN_CONV_CIN_AT);
        o->cout = esnn_rd16(r + ESNN_CONV_COUT_AT);
        o->kh = r[ESNN_CONV_KH_AT];
        o->kw = r[ESNN_CONV_KW_AT];
        o->stride = r[ESNN_CONV_STRIDE_AT];
        o->pad = r[ESNN_CONV_PAD_AT];
        o->bits = r[ESNN_CONV_WEIGHT_BITS_AT];
        if (o->cin != buf_dim(L, in0, 0)) FAIL(ESNN_ERR_GRAPH, "cin != in0 channels");
        if (o->cout != buf_dim(L, out, 0)) FAIL(ESNN_ERR_GRAPH, "cout != out channels");
        RANGE(o->kh, ESNN_CONV_KH_MIN, ESNN_CONV_KH_MAX, ESNN_ERR_OP, "kh");
        RANGE(o->kw, ESNN_CONV_KW_MIN, ESNN_CONV_KW_MAX, ESNN_ERR_OP, "kw");
        RANGE(o->stride, ESNN_CONV_STRIDE_MIN, ESNN_CONV_STRIDE_MAX, ESNN_ERR_OP, "stride");
        RANGE(o->pad, ESNN_CONV_PAD_MIN, ESNN_CONV_PAD_MAX, ESNN_ERR_OP, "pad");
        if (o->bits != 4 && o->bits != 8 && o->bits != 16) FAIL(ESNN_ERR_OP, "weight_bits");
        if (r[ESNN_CONV_RESERVED_AT] | r[ESNN_CONV_RESERVED_AT + 1] | r[ESNN_CONV_RESERVED_AT + 2]) FAIL(ESNN_ERR_OP, "reserved");
        if (out_size(buf_dim(L, in0, 1), o->kh, o->stride, o->pad) != (int32_t)buf_dim(L, out, 1) ||
            out_size(buf_dim(L, in0, 2), o->kw, o->stride, o->pad) != (int32_t)buf_dim(L, out, 2))
            FAIL(ESNN_ERR_GRAPH, "output size");
        count = (uint64_t)o->cin * o->kh * o->kw * o->cout;
        if (!(o->w = array(L, woff, weight_bytes(count, o->bits)))) FAIL(ESNN_ERR_DATA, "weight_offset");
        if (!(o->bias = array(L, boff, 4u * (uint64_t)o->cout))) FAIL(ESNN_ERR_DATA, "bias_offset");
        if (esnn_conv_scratch_bytes(o) > L->kscratch) L->kscratch = esnn_conv_scratch_bytes(o);
        if ((o->flags & ESNN_CONV_STATIC) && esnn_static_conv_lif_scratch_bytes(o, L->T) > L->kscratch)
            L->kscratch = esnn_static_conv_lif_scratch_bytes(o, L->T); /* it may run fused with its LIF */
        break;
    }
    case ESNN_OP_LIF: {
        uint32_t toff = esnn_rd32(r + ESNN_LIF_THRESHOLD_OFFSET_AT), ch = esnn_rd16(r + ESNN_LIF_CHANNELS_AT);
        TRY(check_read(L, op_i, in0, ESNN_BUF_CURRENT, ESNN_BUF_CURRENT));
        TRY(check_write(L, op_i, out, ESNN_BUF_SPIKES));
        if (ch != buf_dim(L, in0, 0) || ch != buf_dim(L, out, 0)) FAIL(ESNN_ERR_GRAPH, "channels");
        if (!same_shape(L, in0, out)) FAIL(ESNN_ERR_GRAPH, "out: shape != in0 shape");
        o->state_bits = r[ESNN_LIF_STATE_BITS_AT];
        if (o->state_bits != 16 && o->state_bits != 32) FAIL(ESNN_ERR_OP, "state_bits");
        if (r[ESNN_LIF_RESERVED_AT]) FAIL(ESNN_ERR_OP, "reserved");
        o->leak_mul = esnn_rd32(r + ESNN_LIF_LEAK_MUL_AT);
        RANGE(o->leak_mul, ESNN_LIF_LEAK_MUL_MIN, ESNN_LIF_LEAK_MUL_MAX, ESNN_ERR_VALUE, "leak_mul");
        if (!(o->bias = array(L, toff, 4u * (uint64_t)ch))) FAIL(ESNN_ERR_DATA, "threshold_offset");
        for (i = 0; i < ch; i++)
            if (esnn_s32(esnn_rd32(o->bias + 4u * i)) < 1) FAIL(ESNN_ERR_VALUE, "threshold < 1");
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
        if (!same_shape(L, in0, out)) FAIL(ESNN_ERR_GRAPH, "out: shape != in0 shape");
        o->dim = r[ESNN_ATTN_DIM_AT];
        o->kind = r[ESNN_ATTN_KIND_AT];
        o->n = esnn_rd16(r + ESNN_ATTN_N_AT);
        o->hidden = esnn_rd16(r + ESNN_ATTN_HIDDEN_AT);
        o->shift = r[ESNN_ATTN_SHIFT_AT];
        o->levels = esnn_rd16(r + ESNN_ATTN_LEVELS_AT);
        if (o->dim > ESNN_ATTN_S) FAIL(ESNN_ERR_OP, "dim");
        if (o->kind > ESNN_ATTN_IA) FAIL(ESNN_ERR_OP, "kind");
        if (r[ESNN_ATTN_RESERVED1_AT] || esnn_rd16(r + ESNN_ATTN_RESERVED2_AT)) FAIL(ESNN_ERR_OP, "reserved");
        if (o->dim == ESNN_ATTN_S) {
            RANGE(o->n, 1, 15, ESNN_ERR_OP, "n");
            if (o->n % 2u == 0) FAIL(ESNN_ERR_OP, "n: kernel size must be odd");
            if (o->hidden || o->shift || w2off) FAIL(ESNN_ERR_OP, "hidden/shift/w2_offset must be 0 for dim S");
            if (!(o->w = array(L, w1off, 2u * o->n * o->n))) FAIL(ESNN_ERR_DATA, "w1_offset");
            o->w2 = NULL;
            groups = 1;
        } else {
            if (o->n != (o->dim == ESNN_ATTN_T ? L->T : buf_dim(L, in0, 0))) FAIL(ESNN_ERR_GRAPH, "n");
            RANGE(o->hidden, 1, o->n, ESNN_ERR_OP, "hidden");
            RANGE(o->shift, 0, 62, ESNN_ERR_OP, "shift");
            if (!(o->w = array(L, w1off, (uint64_t)o->hidden * o->n))) FAIL(ESNN_ERR_DATA, "w1_offset");
            if (!(o->w2 = array(L, w2off, (uint64_t)o->hidden * o->n))) FAIL(ESNN_ERR_DATA, "w2_offset");
            groups = o->n;
        }
        if (o->kind == ESNN_ATTN_MA) {
            RANGE(o->levels, 1, 1024, ESNN_ERR_OP, "levels");
            if (!(o->bias = array(L, toff, 8u * o->levels + 2u * (o->levels + 1u)))) FAIL(ESNN_ERR_DATA, "table_offset");
            for (i = 1; i < o->levels; i++)
                if (esnn_s64(esnn_rd64(o->bias + 8u * i)) < esnn_s64(esnn_rd64(o->bias + 8u * (i - 1))))
                    FAIL(ESNN_ERR_VALUE, "breakpoints: not ascending");
        } else {
            if (o->levels) FAIL(ESNN_ERR_OP, "levels: must be 0 for IA");
            if (!(o->bias = array(L, toff, 8u * (uint64_t)groups))) FAIL(ESNN_ERR_DATA, "table_offset");
        }
        shape.h = (uint16_t)buf_dim(L, in0, 1);
        shape.w = (uint16_t)buf_dim(L, in0, 2);
        scratch = esnn_attn_scratch(o->dim, o->n, o->hidden, &shape);
        if (scratch > L->scratch) L->scratch = scratch;
        break;
    }
    case ESNN_OP_MAXPOOL:
        TRY(check_read(L, op_i, in0, ESNN_BUF_SPIKES, ESNN_BUF_SPIKES));
        TRY(check_write(L, op_i, out, ESNN_BUF_SPIKES));
        o->kh = r[ESNN_MAXPOOL_KERNEL_AT];
        o->stride = r[ESNN_MAXPOOL_STRIDE_AT];
        o->pad = r[ESNN_MAXPOOL_PAD_AT];
        RANGE(o->kh, ESNN_MAXPOOL_KERNEL_MIN, ESNN_MAXPOOL_KERNEL_MAX, ESNN_ERR_OP, "kernel");
        RANGE(o->stride, ESNN_MAXPOOL_STRIDE_MIN, ESNN_MAXPOOL_STRIDE_MAX, ESNN_ERR_OP, "stride");
        RANGE(o->pad, ESNN_MAXPOOL_PAD_MIN, ESNN_MAXPOOL_PAD_MAX, ESNN_ERR_OP, "pad");
        if (r[ESNN_MAXPOOL_RESERVED_AT]) FAIL(ESNN_ERR_OP, "reserved");
        if (buf_dim(L, in0, 0) != buf_dim(L, out, 0) ||
            out_size(buf_dim(L, in0, 1), o->kh, o->stride, o->pad) != (int32_t)buf_dim(L, out, 1) ||
            out_size(buf_dim(L, in0, 2), o->kh, o->stride, o->pad) != (int32_t)buf_dim(L, out, 2))
            FAIL(ESNN_ERR_GRAPH, "output size");
        break;
    case ESNN_OP_LOGIC:
        TRY(check_read(L, op_i, in0, ESNN_BUF_SPIKES, ESNN_BUF_SPIKES));
        TRY(check_read(L, op_i, in1, ESNN_BUF_SPIKES, ESNN_BUF_SPIKES));
        TRY(check_write(L, op_i, out, ESNN_BUF_SPIKES));
        o->mode = r[ESNN_LOGIC_MODE_AT];
        if (o->mode > ESNN_LOGIC_IAND) FAIL(ESNN_ERR_OP, "mode");
        if (r[ESNN_LOGIC_RESERVED_AT] | r[ESNN_LOGIC_RESERVED_AT + 1] | r[ESNN_LOGIC_RESERVED_AT + 2]) FAIL(ESNN_ERR_OP, "reserved");
        if (!same_shape(L, in0, in1) || !same_shape(L, in0, out)) FAIL(ESNN_ERR_GRAPH, "shapes must be equal");
        break;
    default: { /* READOUT */
        uint32_t woff = esnn_rd32(r + ESNN_READOUT_WEIGHT_OFFSET_AT), boff = esnn_rd32(r + ESNN_READOUT_BIAS_OFFSET_AT);
        TRY(check_read(L, op_i, in0, ESNN_BUF_SPIKES, ESNN_BUF_SPIKES));
        o->cin = esnn_rd16(r + ESNN_READOUT_CHANNELS_AT);
        o->cout = esnn_rd16(r + ESNN_READOUT_CLASSES_AT);
        o->bits = r[ESNN_READOUT_WEIGHT_BITS_AT];
        if (o->cin != buf_dim(L, in0, 0)) FAIL(ESNN_ERR_GRAPH, "channels != in0 channels");
        if (o->cout != L->classes) FAIL(ESNN_ERR_GRAPH, "classes != num_classes");
        if (o->bits != 4 && o->bits != 8 && o->bits != 16) FAIL(ESNN_ERR_OP, "weight_bits");
        if (r[ESNN_READOUT_RESERVED_AT] | r[ESNN_READOUT_RESERVED_AT + 1] | r[ESNN_READOUT_RESERVED_AT + 2]) FAIL(ESNN_ERR_OP, "reserved");
        if (!(o->w = array(L, woff, weight_bytes((uint64_t)o->cin * o->cout, o->bits)))) FAIL(ESNN_ERR_DATA, "weight_offset");
        if (!(o->bias = array(L, boff, 4u * (uint64_t)o->cout))) FAIL(ESNN_ERR_DATA, "bias_offset");
        break;
    }
    }
    return ESNN_OK;
}

/* ---- arena plan ------------------------------------------------------------------------------------
 * The schedule runs segments: a maximal run of non-ATTN ops executes time-major (all its ops for step 0,
 * then step 1, ...), an ATTN op is a segment of its own over all T steps. A buffer written and last read
 * in the same segment holds ONE step; one that crosses a segment boundary (an ATTN op's input or output,
 * or a shortcut around it) holds all T. Without LAYER_MAJOR the whole graph is one segment.
 *
 * Items: buffers 1.. and the membrane state of each LIF op. Live ranges in op order: [writer, last reader]
 * for one-step buffers; whole segments for T-step buffers and STATIC conv outputs (kept across steps);
 * a LIF state over its segment (it carries across the steps of the segment); with ESNN_OPT_FINAL_STATE from
 * the start of its segment to the last op (esnn_final_state reads it after the run).
 *
 * T-step buffers share storage in groups (root[]): an ATTN op whose input is last read by it writes its
 * output in place; a T-step buffer written in a time-major segment takes the storage of a T-step group
 * whose live member is last read earlier in the same segment and is at least as large per step (at step t
 * the new buffer's slot t lies inside the old member's slots 0..t, all consumed by then).
 *
 * Placement: largest item first (ties: lowest item number), each at the lowest offset that does not overlap
 * a placed item with an intersecting live range. edgesnn/export/passes/memory.py computes the same plan. */
static int bit_set(const uint32_t *set, uint32_t i) { return (int)((set[i >> 5] >> (i & 31u)) & 1u); }
/* ---- int16 planes ----------------------------------------------------------------------------------
 * The fast kernels keep a CONV's current as an int16 plane for its one reader when every value provably fits
 * (acc16: 8-bit weights on spikes, cout % 8 == 0, |bias| + sum |w| <= 32767) and that reader takes one: a
 * LIF with a 16-bit state, a power-of-two leak and thresholds <= 32767 in 32-channel blocks of 8, 16 or 32
 * channels, or an ATTN whose statistics fit 32 bits (a32), whose own output stays an int16 plane for a LIF
 * that takes one when it fits. The lean plan gives such buffers int16 storage (half the bytes; step slots
 * `stride` words apart); plan_fast_paths below makes the same decisions on the validated ops, and esnn_init
 * checks that they agree. Decided while the ops are parsed (no op storage needed). */
static void set_bit(uint32_t *set, uint32_t i) { set[i >> 5] |= 1u << (i & 31u); }
/* max over co of |bias| + vmax * sum |w| (vmax 255 for the u8 input, 1 for spikes), saturated to 2^32 - 1 */
static uint32_t conv_bound(const esnn_op_t *o) {
    const uint32_t per_co = (uint32_t)o->cin * o->kh * o->kw;
    const uint64_t vmax = o->in0 == 0 ? 255u : 1u;
    uint64_t best = 0;
    uint32_t co, k;
    for (co = 0; co < o->cout; co++) {
        const int64_t b = esnn_s32(esnn_rd32(o->bias + 4u * co));
        uint64_t sum = 0;
        for (k = 0; k < per_co; k++) {
            const int32_t w = esnn_weight(o->w, k * o->cout + co, o->bits);
            sum += (uint64_t)(w < 0 ? -w : w);
        }
        sum = (uint64_t)(b < 0 ? -b : b) + vmax * sum;
        if (sum > best) best = sum;
    }
    return best > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)best;
}
/* Largest ATTN multiplier (Q15): the largest MA level, 2^15 for IA. */
static uint32_t attn_max_mult(const esnn_op_t *o) {
    uint32_t j, m = 0;
    if (o->kind != ESNN_ATTN_MA) return 32768u;
    for (j = 0; j <= o->levels; j++)
        if (esnn_rd16(o->bias + 8u * o->levels + 2u * j) > m) m = esnn_rd16(o->bias + 8u * o->levels + 2u * j);
    return m;
}
/* A LIF of C channels that reads int16 planes (kernels/lif.c lif_cur16*). */
static int lif_takes16(const esnn_op_t *o, uint32_t C) {
    uint32_t c;
    if (o->state_bits != 16 || (o->leak_mul & (o->leak_mul - 1u)) != 0) return 0;
    if (C % 8u || (C > 32u && C % 32u) || C == 24u) return 0; /* 32-channel blocks of 8, 16 or 32 */
    for (c = 0; c < C; c++)
        if (esnn_s32(esnn_rd32(o->bias + 4u * c)) > 32767) return 0;
    return 1;
}
static void note_read(loader_t *L, uint32_t b) {
    if (bit_set(L->rd1, b)) set_bit(L->rdn, b);
    else set_bit(L->rd1, b);
}
/* What op o (validated) tells about int16 planes. */
static void note_planes(loader_t *L, const esnn_op_t *o) {
    note_read(L, o->in0);
    if (o->opcode == ESNN_OP_LOGIC) note_read(L, o->in1);
    if (o->opcode == ESNN_OP_READOUT) return;
    L->bnd[o->out] = 0xFFFFu;
    if (o->opcode == ESNN_OP_CONV) {
        const uint32_t bound = o->in0 != 0 && o->bits == 8 && o->cout % 8u == 0 ? conv_bound(o) : 0xFFFFFFFFu;
        set_bit(L->conv_out, o->out);
        if (bound <= 32767u) L->bnd[o->out] = (uint16_t)bound;
    } else if (o->opcode == ESNN_OP_LIF) {
        if (lif_takes16(o, buf_dim(L, o->in0, 0))) set_bit(L->lif16, o->in0);
        if (bit_set(L->pinned, o->in0) && L->def[o->in0] + 1u == L->def[o->out]) { /* right after its conv */
            set_bit(L->static_lif, o->out);
            L->src[o->out] = (uint8_t)o->in0;
        }
    } else if (o->opcode == ESNN_OP_ATTN) {
        esnn_buffer_t shape;
        set_bit(L->attn_out, o->out);
        L->src[o->out] = (uint8_t)o->in0;
        shape.c = (uint16_t)buf_dim(L, o->in0, 0);
        shape.h = (uint16_t)buf_dim(L, o->in0, 1);
        shape.w = (uint16_t)buf_dim(L, o->in0, 2);
        if (L->bnd[o->in0] != 0xFFFFu && esnn_attn_fast32(o, &shape, L->T, L->bnd[o->in0])) {
            const uint64_t ob = ((uint64_t)L->bnd[o->in0] * attn_max_mult(o)) >> 15;
            set_bit(L->attn32, o->in0);
            if (ob <= 32767u) L->bnd[o->out] = (uint16_t)ob;
        }
    }
}
/* ---- fused static layer -----------------------------------------------------------------------------
 * A STATIC conv (the u8 frame repeated T times) whose output's one reader is the LIF right after it runs
 * with that LIF as one kernel over all T at step 0 (kernels/static_lif.c): the conv's output plane takes no
 * arena, the LIF's state only with ESNN_OPT_FINAL_STATE, and the LIF's output holds all T steps (written at
 * once, so it never takes over another buffer's storage). Chosen when the T steps of spikes are no larger
 * than the current plane + state + one step of spikes, and never with ESNN_OPT_REFERENCE (the plain kernels
 * run the two ops one after the other). */
static void decide_fused(loader_t *L) {
    uint32_t b;
    for (b = 0; b < (ESNN_MAX_BUFFERS + 31) / 32; b++) L->fused[b] = L->fused_out[b] = 0;
    if (L->int32_planes) return;
    for (b = 1; b < L->nb; b++) {
        const uint32_t c = L->src[b];
        uint64_t hw, spk, cur, state;
        if (!bit_set(L->static_lif, b) || !bit_set(L->rd1, c) || bit_set(L->rdn, c)) continue;
        hw = (uint64_t)buf_dim(L, b, 1) * buf_dim(L, b, 2);
        spk = 4u * hw * ((buf_dim(L, b, 0) + 31u) / 32u);
        cur = 4u * hw * buf_dim(L, c, 0);
        state = (bit_set(L->state16, b) ? 2u : 4u) * hw * buf_dim(L, b, 0);
        if ((uint64_t)L->T * spk > cur + state + spk) continue;
        set_bit(L->fused, c);
        set_bit(L->fused_out, b);
    }
}

/* The decision, once every reader is known: a CONV output read once by a LIF or ATTN that takes the plane; an
 * ATTN output whose input is such a plane, that fits, read once by a LIF that takes it. */
static void decide_planes(loader_t *L) {
    uint32_t b;
    for (b = 0; b < (ESNN_MAX_BUFFERS + 31) / 32; b++) L->half[b] = 0;
    if (L->int32_planes) return;
    for (b = 1; b < L->nb; b++)
        if (bit_set(L->conv_out, b) && L->bnd[b] != 0xFFFFu && bit_set(L->rd1, b) && !bit_set(L->rdn, b) &&
            (bit_set(L->lif16, b) || bit_set(L->attn32, b)))
            set_bit(L->half, b);
    for (b = 1; b < L->nb; b++)
        if (bit_set(L->attn_out, b) && bit_set(L->half, L->src[b]) && bit_set(L->attn32, L->src[b]) &&
            L->bnd[b] != 0xFFFFu && bit_set(L->rd1, b) && !bit_set(L->rdn, b) && bit_set(L->lif16, b))
            set_bit(L->half, b);
}
static uint32_t seg_start(const loader_t *L, uint32_t k) {
    while (k > 0 && !bit_set(L->first, k)) k--;
    return k;
}
static uint32_t seg_end(const loader_t *L, uint32_t k) {
    while (k + 1u < L->nops && !bit_set(L->first, k + 1u)) k++;
    return k;
}
static uint16_t buf_steps(const loader_t *L, uint32_t b) {
    if (b > 0 && bit_set(L->fused_out, b)) return L->T;
    if (b == 0 || !(L->flags & ESNN_FLAG_LAYER_MAJOR)) return 1;
    if (L->no_reuse || bit_set(L->solo, L->def[b]) || seg_start(L, L->def[b]) != seg_start(L, L->last[b]))
        return L->T;
    return 1;
}
/* Bytes of one step: int16 for a compact plane, else uint32 words. */
static uint64_t step_bytes(const loader_t *L, uint32_t b) {
    return (bit_set(L->half, b) ? 2u : 4u) * (uint64_t)buffer_words(L, b);
}
static uint64_t buf_bytes(const loader_t *L, uint32_t b) { return align8(step_bytes(L, b) * buf_steps(L, b)); }

/* Storage groups of T-step buffers (root[], hi[], cur[]), in op order. */
static void group_buffers(loader_t *L) {
    uint32_t b, k, r;
    for (b = 0; b < L->nb; b++) {
        L->root[b] = (uint8_t)b;
        L->hi[b] = L->last[b];
        L->cur[b] = (uint8_t)b;
    }
    if (L->no_reuse) return;
    for (b = 1; b < L->nb; b++) {
        const uint32_t k0 = L->def[b];
        if (bit_set(L->attn_out, b) && (buf_steps(L, b) > 1) == (buf_steps(L, L->src[b]) > 1)) {
            /* ATTN in place (all T, or one step of the recompute schedule): its input's group is last read here */
            const uint32_t in0 = L->src[b];
            r = L->root[in0];
            if (L->hi[r] == k0 && step_bytes(L, b) <= step_bytes(L, in0)) { /* an int32 out needs more room */
                L->root[b] = (uint8_t)r;
                L->hi[r] = L->last[b];
                L->cur[r] = (uint8_t)b;
            }
            continue;
        }
        if (buf_steps(L, b) == 1 || bit_set(L->fused_out, b)) continue; /* written whole: a group of its own */
        for (r = 1; r < L->nb; r++) {
            k = L->hi[r];
            if (L->root[r] != r || r == b || buf_steps(L, r) == 1 || k >= k0 || bit_set(L->solo, k) ||
                seg_start(L, k) != seg_start(L, k0) || step_bytes(L, b) > step_bytes(L, L->cur[r]))
                continue;
            L->root[b] = (uint8_t)r;
            L->hi[r] = L->last[b];
            L->cur[r] = (uint8_t)b;
            break;
        }
    }
}

/* Item i: buffer i (i < nb; only group roots, never buffer 0) or the state of the LIF writing buffer i - nb. */
static int item_used(const loader_t *L, uint32_t i) {
    if (i < L->nb) return i > 0 && L->root[i] == i && !bit_set(L->fused, i);
    return bit_set(L->lif_out, i - L->nb) && (L->keep_states || !bit_set(L->fused_out, i - L->nb));
}
static uint64_t item_bytes(const loader_t *L, uint32_t i) {
    if (i < L->nb) return buf_bytes(L, i);
    i -= L->nb; /* one membrane per neuron of the LIF's output shape */
    return align8((uint64_t)buf_dim(L, i, 0) * buf_dim(L, i, 1) * buf_dim(L, i, 2) * (bit_set(L->state16, i) ? 2u : 4u));
}
static void live_range(const loader_t *L, uint32_t i, uint32_t *lo, uint32_t *hi) {
    if (i >= L->nb) {
        *lo = seg_start(L, L->def[i - L->nb]);
        *hi = L->keep_states ? L->nops - 1u : seg_end(L, L->def[i - L->nb]);
    } else if (buf_steps(L, i) > 1 || bit_set(L->pinned, i)) {
        *lo = seg_start(L, L->def[i]);
        *hi = seg_end(L, L->hi[i]);
    } else {
        *lo = L->def[i];
        *hi = L->hi[i];
    }
}
/* Fills L->off[] and returns the bytes of the planned region. */
static uint64_t plan_buffers(loader_t *L) {
    uint32_t placed[(2 * ESNN_MAX_BUFFERS + 31) / 32];
    const uint32_t n_items = 2u * L->nb;
    uint64_t total = 0;
    uint32_t b, j;
    group_buffers(L);
    for (b = 0; b < (2 * ESNN_MAX_BUFFERS + 31) / 32; b++) placed[b] = 0;
    if (L->no_reuse) {
        for (b = 1; b < n_items; b++)
            if (item_used(L, b)) {
                L->off[b] = (uint32_t)total;
                total += item_bytes(L, b);
                if (total > 0xFFFFFFFFu) return total;
            }
        return total;
    }
    for (;;) {
        uint32_t best = 0, lo, hi;
        uint64_t size = 0, off = 0;
        int moved;
        for (b = 1; b < n_items; b++)
            if (item_used(L, b) && !bit_set(placed, b) && (best == 0 || item_bytes(L, b) > size)) {
                best = b;
                size = item_bytes(L, b);
            }
        if (best == 0) break;
        live_range(L, best, &lo, &hi);
        do {
            moved = 0;
            for (j = 1; j < n_items; j++) {
                uint32_t lo2, hi2;
                uint64_t end2;
                if (!bit_set(placed, j)) continue;
                live_range(L, j, &lo2, &hi2);
                end2 = (uint64_t)L->off[j] + item_bytes(L, j);
                if (lo2 <= hi && lo <= hi2 && L->off[j] < off + size && off < end2) {
                    off = end2;
                    moved = 1;
                }
            }
        } while (moved);
        if (off + size > 0xFFFFFFFFu) return off + size;
        L->off[best] = (uint32_t)off;
        placed[best >> 5] |= 1u << (best & 31u);
        if (off + size > total) total = off + size;
    }
    return total;
}

/* ---- segments ---------------------------------------------------------------------------------------
 * Without LAYER_MAJOR the graph is one time-major segment (esnn_step streams it). With LAYER_MAJOR:
 * - the plain schedule (ESNN_OPT_REFERENCE, and the unplanned size): every ATTN op is a segment of its own
 *   over all T (its input current stored for all T), the runs of other ops between them time-major;
 * - the lean schedule: a segment also ends after a LIF whose T steps of spikes take no more than its state and
 *   one step (the next layer then runs layer-major: one state alive, not all of the run's), and an ATTN whose
 *   input is a non-STATIC conv read by it alone is recomputed: its segment starts at that conv, which runs
 *   twice per step, for the statistics and then for the weighting (no current is kept beyond one step).
 *   Then, deepest first, each recomputed ATTN goes back to storing its input wherever that leaves the arena
 *   no larger (it saves the conv's second run). */
static void set_solo(loader_t *L, uint32_t k) {
    set_bit(L->solo, k);
    set_bit(L->first, k);
    if (k + 1u < L->nops) set_bit(L->first, k + 1u);
}
static void choose_segments(loader_t *L) {
    uint32_t i, k, b;
    uint64_t best;
    for (i = 0; i < 8; i++) L->first[i] = L->solo[i] = L->recomp[i] = 0;
    set_bit(L->first, 0);
    if (!(L->flags & ESNN_FLAG_LAYER_MAJOR)) return;
    if (L->int32_planes) {
        for (k = 0; k < L->nops; k++)
            if (bit_set(L->attn_ops, k)) set_solo(L, k);
        return;
    }
    for (b = 1; b < L->nb; b++) {
        const uint32_t k0 = L->def[b];
        if (bit_set(L->lif_out, b) && k0 + 1u < L->nops) { /* split after this LIF when its spikes are small */
            const uint64_t hw = (uint64_t)buf_dim(L, b, 1) * buf_dim(L, b, 2), c = buf_dim(L, b, 0);
            const uint64_t spk = 4u * hw * ((c + 31u) / 32u), state = (bit_set(L->state16, b) ? 2u : 4u) * hw * c;
            if ((uint64_t)L->T * spk <= state + spk) set_bit(L->first, k0 + 1u);
        }
        if (bit_set(L->attn_out, b)) {
            const uint32_t in = L->src[b];
            if (bit_set(L->conv_out, in) && L->def[in] + 1u == k0 && bit_set(L->rd1, in) && !bit_set(L->rdn, in) &&
                !bit_set(L->pinned, in)) {
                set_bit(L->recomp, k0);
                set_bit(L->first, k0 - 1u);
            } else {
                set_solo(L, k0);
            }
        }
    }
    best = plan_buffers(L);
    for (k = L->nops; k-- > 1;) {
        uint32_t first[8], i2;
        if (!bit_set(L->recomp, k)) continue;
        for (i2 = 0; i2 < 8; i2++) first[i2] = L->first[i2];
        L->recomp[k >> 5] &= ~(1u << (k & 31u));
        set_solo(L, k);
        if (plan_buffers(L) > best) { /* storing it would grow the arena: recompute */
            for (i2 = 0; i2 < 8; i2++) L->first[i2] = first[i2];
            L->solo[k >> 5] &= ~(1u << (k & 31u));
            set_bit(L->recomp, k);
        }
    }
}

/* Fixed part of the arena (before the buffer data). */
static uint64_t fixed_bytes(const loader_t *L) {
    return align8((uint64_t)ESNN_OP_SLOT * L->nops) + align8((uint64_t)ESNN_BUFFER_SLOT * L->nb) +
           align8(4u * (uint64_t)L->classes) + align8(4u * (uint64_t)L->num_lif) + 8u * L->scratch +
           align8(L->kscratch);
}

/* Validate everything. With ops != NULL (second pass) also fills ops[]. */
static esnn_status_t parse(loader_t *L, esnn_op_t *ops, uint64_t *need) {
    uint32_t ops_off, end, pos, i;
    int32_t op_i = -1, buf_i = -1;
    int has_attn = 0;
    uint16_t steps;
    TRY(parse_header(L));
    TRY(parse_buffers(L));
    steps = (L->flags & ESNN_FLAG_LAYER_MAJOR) ? L->T : 1;
    L->num_lif = 0;
    L->scratch = 0;
    L->kscratch = 0;
    if (L->nb > ESNN_MAX_BUFFERS) FAIL(ESNN_ERR_LIMIT, "num_buffers: over ESNN_MAX_BUFFERS");
    { /* one sample's input (frame bytes x frames) must stay far inside a 32-bit size_t: every caller and the
       * protocol multiply these (a product of 2^32 would wrap to 0 on a 32-bit MCU) */
        const uint64_t frames = (L->flags & ESNN_FLAG_STATIC_INPUT) ? 1u : L->T;
        buf_i = 0;
        if ((uint64_t)buf_dim(L, 0, 0) * buf_dim(L, 0, 1) * buf_dim(L, 0, 2) * frames > ESNN_MAX_SAMPLE_BYTES)
            FAIL(ESNN_ERR_LIMIT, "input: frame bytes x frames over ESNN_MAX_SAMPLE_BYTES (2^28)");
        buf_i = -1;
    }
    for (i = 0; i < 8; i++) L->attn_ops[i] = 0;
    for (i = 0; i < (ESNN_MAX_BUFFERS + 31) / 32; i++)
        L->pinned[i] = L->lif_out[i] = L->state16[i] = L->rd1[i] = L->rdn[i] = L->lif16[i] = L->attn32[i] =
            L->conv_out[i] = L->attn_out[i] = L->static_lif[i] = 0;
    for (i = 1; i < L->nb; i++) {
        uint64_t words = (uint64_t)buffer_words(L, i) * steps;
        buf_i = (int32_t)i;
        if (words > MAX_STEP_WORDS_TOTAL) FAIL(ESNN_ERR_LIMIT, "shape x steps: over this runtime's limit");
    }
    buf_i = -1;
    ops_off = esnn_rd32(L->b + ESNN_HDR_OPS_OFFSET_AT);
    end = ops_off + esnn_rd32(L->b + ESNN_HDR_OPS_SIZE_AT);
    pos = ops_off;
    for (i = 0; i < L->nops; i++) {
        esnn_op_t tmp, *o = ops ? &ops[i] : &tmp;
        TRY(parse_op(L, (int32_t)i, &pos, end, o));
        note_planes(L, o);
        if (o->opcode == ESNN_OP_ATTN) {
            has_attn = 1;
            L->attn_ops[i >> 5] |= 1u << (i & 31u);
        }
    }
    if (pos != end) FAIL(ESNN_ERR_HEADER, "ops_size: records do not fill the op section");
    for (i = 1; i < L->nb; i++)
        if (!is_written(L, i)) {
            buf_i = (int32_t)i;
            FAIL(ESNN_ERR_GRAPH, "buffer never written by any op");
        }
    if (has_attn && !(L->flags & ESNN_FLAG_LAYER_MAJOR)) FAIL(ESNN_ERR_HEADER, "flags: ATTN needs LAYER_MAJOR");
    decide_planes(L);
    decide_fused(L);
    choose_segments(L);
    L->buf_bytes = plan_buffers(L);
    *need = fixed_bytes(L) + L->buf_bytes;
    if (*need > (uint64_t)(size_t)-1 || *need > 0xFFFFFFFFu) FAIL(ESNN_ERR_LIMIT, "arena size over 4 GiB");
    return ESNN_OK;
}

static esnn_status_t validate(const uint8_t *blob, size_t len, size_t *bytes, esnn_error_t *error, uint8_t no_reuse,
                              uint32_t options) {
    loader_t L;
    uint64_t need = 0;
    esnn_status_t st;
    esnn_error_t local;
    local.status = ESNN_OK;
    local.field = "";
    local.op = local.buffer = -1;
    L.b = blob;
    L.n = len;
    L.err = &local;
    L.no_reuse = no_reuse;
    L.keep_states = (uint8_t)(options & ESNN_OPT_FINAL_STATE);
    L.int32_planes = (uint8_t)(no_reuse || (options & ESNN_OPT_REFERENCE));
    st = parse(&L, NULL, &need);
    if (bytes) *bytes = st == ESNN_OK ? (size_t)need : 0;
    if (error) *error = local;
    return st;
}

esnn_status_t esnn_validate(const uint8_t *blob, size_t len, size_t *bytes, esnn_error_t *error) {
    return validate(blob, len, bytes, error, 0, 0);
}

esnn_status_t esnn_arena_required(const uint8_t *blob, size_t len, size_t *bytes) {
    return validate(blob, len, bytes, NULL, 0, 0);
}

esnn_status_t esnn_arena_required_ex(const uint8_t *blob, size_t len, uint32_t options, size_t *bytes) {
    if (options & ~ESNN_OPT_ALL) {
        if (bytes) *bytes = 0;
        return ESNN_ERR_ARG;
    }
    return validate(blob, len, bytes, NULL, 0, options);
}

esnn_status_t esnn_arena_unplanned(const uint8_t *blob, size_t len, size_t *bytes) {
    return validate(blob, len, bytes, NULL, 1, ESNN_OPT_FINAL_STATE | ESNN_OPT_REFERENCE);
}

static void *bump(uint8_t **p, uint64_t bytes) {
    void *r = *p;
    *p += (size_t)align8(bytes);
    return r;
}

/* ---- fast paths, chosen once per model from exact bounds ------------------------------------------------
 * CONV: the largest |output| = max over co of |bias| + vmax * sum |w| (vmax 255 for u8 input, 1 for spikes);
 * ATTN: 0 <= y <= max(m) |x| / 2^15 (Q15 multipliers). A spike conv of 8-bit weights whose bound
 * is <= 32767 accumulates in int16 (acc16); when its output's only reader is a 16-bit LIF with a
 * power-of-two leak and thresholds <= 32767, the plane stays int16 for that LIF (cur16). When its only reader
 * is an ATTN, the plane stays int16 for the ATTN (in16), and the ATTN's output stays int16 too when it
 * provably fits and its only reader is such a LIF. A LIF whose input is bounded by 2^30 runs without 64-bit
 * arithmetic; the ATTN kernel picks 32-bit sums and products from the bound (kernels/attn.c). */
static const esnn_op_t *writer_of(const esnn_ctx_t *ctx, uint32_t b) {
    uint32_t i;
    for (i = 0; i < ctx->num_ops; i++)
        if (ctx->ops[i].opcode != ESNN_OP_READOUT && ctx->ops[i].out == b) return &ctx->ops[i];
    return NULL;
}
static uint32_t readers_of(const esnn_ctx_t *ctx, uint32_t b) {
    uint32_t i, n = 0;
    for (i = 0; i < ctx->num_ops; i++) {
        const esnn_op_t *o = &ctx->ops[i];
        n += (o->in0 == b) + (o->opcode == ESNN_OP_LOGIC && o->in1 == b);
    }
    return n;
}
/* The op after `i` reading its output when that is the output's only reader, else NULL. */
static esnn_op_t *only_reader(esnn_ctx_t *ctx, uint32_t i) {
    const uint32_t b = ctx->ops[i].out;
    uint32_t j;
    if (ctx->ops[i].opcode == ESNN_OP_READOUT || readers_of(ctx, b) != 1) return NULL;
    for (j = i + 1; j < ctx->num_ops; j++)
        if (ctx->ops[j].in0 == b) return &ctx->ops[j];
    return NULL;
}
static void plan_fast_paths(esnn_ctx_t *ctx) {
    uint32_t i;
    for (i = 0; i < ctx->num_ops; i++) {
        esnn_op_t *o = &ctx->ops[i];
        const esnn_op_t *src;
        o->acc16 = o->cur16 = o->in16 = o->a32 = 0;
        o->bound = 0xFFFFFFFFu;
        switch (o->opcode) {
        case ESNN_OP_CONV:
            o->bound = conv_bound(o);
            o->acc16 = (uint8_t)(o->in0 != 0 && o->bits == 8 && o->cout % 8u == 0 && o->bound <= 32767u);
            break;
        case ESNN_OP_ATTN:
        case ESNN_OP_LIF:
            src = writer_of(ctx, o->in0);
            if (!src || src->bound == 0xFFFFFFFFu) break;
            o->bound = src->bound;
            if (o->opcode == ESNN_OP_ATTN) o->a32 = (uint8_t)esnn_attn_fast32(o, &ctx->buffers[o->in0], ctx->T, o->bound);
            if (o->opcode == ESNN_OP_ATTN) /* y = max(0, floor(m x / 2^15)) <= floor(max(m) |x| / 2^15) */
                o->bound = (uint32_t)(((uint64_t)o->bound * attn_max_mult(o)) >> 16 >= 0x8000u
                                          ? 0xFFFFFFFFu : ((uint64_t)o->bound * attn_max_mult(o)) >> 15);
            break;
        default:
            break;
        }
    }
    for (i = 0; i < ctx->num_ops; i++) {
        esnn_op_t *o = &ctx->ops[i], *r;
        if (o->opcode != ESNN_OP_CONV || !o->acc16 || !(r = only_reader(ctx, i))) continue;
        if (r->opcode == ESNN_OP_LIF && lif_takes16(r, ctx->buffers[r->in0].c)) o->cur16 = r->cur16 = 1;
        if (r->opcode == ESNN_OP_ATTN && r->a32) {
            /* the ATTN reads the int16 plane; its output stays int16 for a cur16 LIF when it fits */
            esnn_op_t *l = only_reader(ctx, (uint32_t)(r - ctx->ops));
            o->cur16 = r->in16 = 1;
            if (l && l->opcode == ESNN_OP_LIF && r->bound <= 32767u && lif_takes16(l, ctx->buffers[l->in0].c))
                r->cur16 = l->cur16 = 1;
        }
    }
}

esnn_status_t esnn_init(esnn_ctx_t *ctx, const uint8_t *blob, size_t len, void *arena, size_t arena_len) {
    return esnn_init_ex(ctx, blob, len, arena, arena_len, 0);
}

esnn_status_t esnn_init_ex(esnn_ctx_t *ctx, const uint8_t *blob, size_t len, void *arena, size_t arena_len,
                           uint32_t options) {
    loader_t L;
    uint64_t need = 0;
    esnn_status_t st;
    uint8_t *p, *base;
    size_t adjust;
    uint32_t i;
    if (!ctx) return ESNN_ERR_ARG;
    ctx->ready = 0;
    ctx->kernels = ESNN_KERNELS_FAST;
    ctx->options = (uint8_t)(options & ESNN_OPT_ALL);
    ctx->error.status = ESNN_OK;
    ctx->error.field = "";
    ctx->error.op = ctx->error.buffer = -1;
    L.b = blob;
    L.n = len;
    L.err = &ctx->error;
    L.no_reuse = 0;
    L.keep_states = (uint8_t)(options & ESNN_OPT_FINAL_STATE);
    L.int32_planes = (uint8_t)((options & ESNN_OPT_REFERENCE) != 0);
    if (options & ~ESNN_OPT_ALL) return fail(&L, ESNN_ERR_ARG, ESNN_MSG("options: unknown bits"), -1, -1);
    st = parse(&L, NULL, &need);
    if (st != ESNN_OK) return st;
    if (!arena) return fail(&L, ESNN_ERR_ARG, ESNN_MSG("arena: NULL"), -1, -1);
    adjust = (size_t)((8u - ((uintptr_t)arena & 7u)) & 7u);
    if (arena_len < adjust || arena_len - adjust < need) return fail(&L, ESNN_ERR_ARENA, ESNN_MSG("arena_len"), -1, -1);
    p = (uint8_t *)arena + adjust;
    ctx->ops = (esnn_op_t *)bump(&p, (uint64_t)ESNN_OP_SLOT * L.nops);
    ctx->buffers = (esnn_buffer_t *)bump(&p, (uint64_t)ESNN_BUFFER_SLOT * L.nb);
    ctx->logits = (int32_t *)bump(&p, 4u * (uint64_t)L.classes);
    ctx->spike_counts = (uint32_t *)bump(&p, 4u * (uint64_t)L.num_lif);
    ctx->scratch = (int64_t *)bump(&p, 8u * L.scratch);
    ctx->kscratch = (uint32_t *)bump(&p, L.kscratch);
    st = parse(&L, ctx->ops, &need); /* second pass fills the op records; it cannot fail differently */
    if (st != ESNN_OK) return st;
    base = p;
    p += (size_t)L.buf_bytes;
    for (i = 0; i < L.nb; i++) {
        esnn_buffer_t *bf = &ctx->buffers[i];
        bf->kind = (uint8_t)buf_kind(&L, i);
        bf->c = (uint16_t)buf_dim(&L, i, 0);
        bf->h = (uint16_t)buf_dim(&L, i, 1);
        bf->w = (uint16_t)buf_dim(&L, i, 2);
        bf->cw = (uint16_t)((bf->c + 31u) / 32u);
        bf->words = buffer_words(&L, i);
        bf->steps = buf_steps(&L, i);
        bf->stride = bit_set(L.half, i) ? bf->words / 2u : bf->words;
        bf->data = i == 0 || bit_set(L.fused, i) ? NULL : (uint32_t *)(void *)(base + L.off[L.root[i]]);
    }
    for (i = 0; i < L.nops; i++) {
        esnn_op_t *o = &ctx->ops[i];
        o->state = o->opcode == ESNN_OP_LIF && item_used(&L, L.nb + o->out) ? (void *)(base + L.off[L.nb + o->out])
                                                                                : NULL;
        o->sched = (uint8_t)(((o->opcode == ESNN_OP_CONV && bit_set(L.fused, o->out)) ||
                              (o->opcode == ESNN_OP_LIF && bit_set(L.fused_out, o->out)))
                                 ? ESNN_SCHED_FUSED
                                 : 0u);
        if (bit_set(L.first, i)) o->sched |= ESNN_SCHED_FIRST;
        if (bit_set(L.recomp, i)) o->sched |= ESNN_SCHED_RECOMPUTE;
    }
    ctx->blob = blob;
    ctx->blob_len = len;
    ctx->arena_used = (size_t)(p - (uint8_t *)arena);
    ctx->flags = L.flags;
    ctx->T = L.T;
    ctx->num_classes = L.classes;
    ctx->num_buffers = L.nb;
    ctx->num_ops = L.nops;
    ctx->num_lif = L.num_lif;
    plan_fast_paths(ctx);
    for (i = 0; i < L.nops; i++) { /* the plan's int16 planes are exactly the kernels' (a bug otherwise) */
        const esnn_op_t *o = &ctx->ops[i];
        if (!L.int32_planes && (o->opcode == ESNN_OP_CONV || o->opcode == ESNN_OP_ATTN) &&
            bit_set(L.half, o->out) != (int)o->cur16)
            return fail(&L, ESNN_ERR_LIMIT, ESNN_MSG("int16 plane plan differs from the kernels' fast paths"), (int32_t)i, -1);
    }
    ctx->ready = 1;
    return esnn_reset(ctx);
}

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
    ctx->t = 0;
    return ESNN_OK;
}

static uint32_t *slot(const esnn_buffer_t *b, uint32_t t) { return b->data + (b->steps > 1 ? t * b->stride : 0); }

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
            if (t == 0) ctx->spike_counts[lif->lif_index] += esnn_static_conv_lif(op, lif, in, s, frame, ctx->T, s->data, s->stride, ctx->kscratch);
            return;
        }
        if ((op->flags & ESNN_CONV_STATIC) && t > 0) { /* same output at every step: computed at step 0 */
            if (out->steps > 1)
                for (k = 0; k < out->words; k++) y[k] = out->data[k];
            return;
        }
        if (op->in0 == 0 && ref)
            esnn_conv_u8_ref(op, in, out, frame, y);
        else if (op->in0 == 0)
            esnn_conv_u8(op, in, out, frame, y, ctx->kscratch);
        else if (ref)
            esnn_conv_spike_ref(op, in, out, slot(in, t), y);
        else
            esnn_conv_spike(op, in, out, slot(in, t), y, ctx->kscratch);
        break;
    }
    case ESNN_OP_LIF:
        if (op->sched & ESNN_SCHED_FUSED) return; /* ran with its conv */
        ctx->spike_counts[op->lif_index] +=
            (ref ? esnn_lif_ref : esnn_lif)(op, in, slot(in, t), slot(&ctx->buffers[op->out], t));
        break;
    case ESNN_OP_MAXPOOL:
        (ref ? esnn_maxpool_ref : esnn_maxpool)(op, in, &ctx->buffers[op->out], slot(in, t),
                                                 slot(&ctx->buffers[op->out], t));
        break;
    case ESNN_OP_LOGIC:
        (ref ? esnn_logic_ref : esnn_logic)(op->mode, in, slot(in, t), slot(&ctx->buffers[op->in1], t),
                                             slot(&ctx->buffers[op->out], t));
        break;
    case ESNN_OP_READOUT:
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

esnn_status_t esnn_step(esnn_ctx_t *ctx, const uint8_t *frame, size_t frame_len) {
    uint32_t i;
    if (!ctx || !ctx->ready) return ESNN_ERR_STATE;
    if (ctx->flags & ESNN_FLAG_LAYER_MAJOR)
        return state_error(ctx, ESNN_ERR_STATE, ESNN_MSG("esnn_step: LAYER_MAJOR graph, use esnn_run"));
    if (ctx->t >= ctx->T) return state_error(ctx, ESNN_ERR_STATE, ESNN_MSG("esnn_step: T steps done, reset"));
    if (!frame || frame_len != esnn_frame_size(ctx)) return ESNN_ERR_ARG;
    for (i = 0; i < ctx->num_ops; i++) exec_op(ctx, &ctx->ops[i], ctx->t, frame);
    ctx->t++;
    return ESNN_OK;
}

esnn_status_t esnn_run(esnn_ctx_t *ctx, const uint8_t *input, size_t input_len) {
    size_t frame;
    uint32_t i, t;
    esnn_status_t st;
    if (!ctx || !ctx->ready) return ESNN_ERR_STATE;
    frame = esnn_frame_size(ctx);
    if (!input || input_len != frame * esnn_input_frames(ctx)) return ESNN_ERR_ARG;
    st = esnn_reset(ctx);
    if (st != ESNN_OK) return st;
    if (!(ctx->flags & ESNN_FLAG_LAYER_MAJOR)) {
        const int stat = (ctx->flags & ESNN_FLAG_STATIC_INPUT) != 0;
        for (t = 0; t < ctx->T; t++) {
            st = esnn_step(ctx, stat ? input : input + t * frame, frame);
            if (st != ESNN_OK) return st;
        }
        return ESNN_OK;
    }
    /* LAYER_MAJOR: segment by segment (esnn.c "segments"): an ATTN alone over all T steps; a recomputed ATTN's
     * segment in two passes; any other segment time-major (the plan gives buffers that stay inside a segment
     * one step of storage). */
    i = 0;
    while (i < ctx->num_ops) {
        uint32_t e = i, k;
        esnn_op_t *op = &ctx->ops[i];
        const int rec = i + 1u < ctx->num_ops && (ctx->ops[i + 1u].sched & ESNN_SCHED_RECOMPUTE);
        while (e + 1u < ctx->num_ops && !(ctx->ops[e + 1u].sched & ESNN_SCHED_FIRST)) e++;
        if (op->opcode == ESNN_OP_ATTN) {
            ESNN_PROF(op->opcode | i << 8, 0);
            (ctx->kernels == ESNN_KERNELS_REFERENCE ? esnn_attn_ref : esnn_attn)(
                op, &ctx->buffers[op->in0], ctx->T, ctx->buffers[op->in0].data, ctx->buffers[op->out].data,
                ctx->scratch);
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
            for (t = 0; t < ctx->T; t++) {
                exec_op(ctx, op, t, (ctx->flags & ESNN_FLAG_STATIC_INPUT) ? input : input + t * frame);
                ESNN_PROF(a->opcode | (i + 1u) << 8, 0);
                esnn_attn_stats_step(a, x, t, slot(x, t), ctx->scratch);
                ESNN_PROF(a->opcode | (i + 1u) << 8, 1);
            }
            esnn_attn_finish(a, x, ctx->T, ctx->scratch);
        }
        for (t = 0; t < ctx->T; t++)
            for (k = i; k <= e; k++) {
                const esnn_op_t *o = &ctx->ops[k];
                if (rec && k == i + 1u) {
                    ESNN_PROF(o->opcode | k << 8, 0);
                    esnn_attn_apply_step(o, &ctx->buffers[o->in0], t, slot(&ctx->buffers[o->in0], t),
                                         slot(&ctx->buffers[o->out], t), ctx->scratch);
                    ESNN_PROF(o->opcode | k << 8, 1);
                    continue;
                }
                exec_op(ctx, &ctx->ops[k], t, (ctx->flags & ESNN_FLAG_STATIC_INPUT) ? input : input + t * frame);
            }
        i = e + 1u;
    }
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
