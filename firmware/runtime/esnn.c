/* esnn.c - the API around the loader (loader.c), the planner (plan.c) and the scheduler (schedule.c): status
 * strings, versions, validation and arena sizes, esnn_init. */
#include "esnn_load.h"

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

/* Validate (loader.c), then plan the arena (plan.c): *need, the arena bytes. */
static esnn_status_t load(loader_t *L, esnn_op_t *ops, uint64_t *need) {
    TRY(esnn_load(L, ops));
    *need = esnn_plan_arena(L);
    if (*need > (uint64_t)(size_t)-1 || *need > 0xFFFFFFFFu)
        return esnn_load_fail(L, ESNN_ERR_LIMIT, ESNN_MSG("arena size over 4 GiB"), -1, -1);
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
    L.validated = 0;
    L.keep_states = (uint8_t)(options & ESNN_OPT_FINAL_STATE);
    L.int32_planes = (uint8_t)(no_reuse || (options & ESNN_OPT_REFERENCE));
    L.budget = (options & ESNN_OPT_FAST) && bytes ? (uint64_t)*bytes : 0u; /* in: the budget */
    st = load(&L, NULL, &need);
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
    L.validated = 0;
    L.keep_states = (uint8_t)(options & ESNN_OPT_FINAL_STATE);
    L.int32_planes = (uint8_t)((options & ESNN_OPT_REFERENCE) != 0);
    adjust = (size_t)((8u - ((uintptr_t)arena & 7u)) & 7u);
    L.budget = (options & ESNN_OPT_FAST) && arena_len > adjust ? (uint64_t)(arena_len - adjust) : 0u;
    if (options & ~ESNN_OPT_ALL) return esnn_load_fail(&L, ESNN_ERR_ARG, ESNN_MSG("options: unknown bits"), -1, -1);
    st = load(&L, NULL, &need);
    if (st != ESNN_OK) return st;
    if (!arena) return esnn_load_fail(&L, ESNN_ERR_ARG, ESNN_MSG("arena: NULL"), -1, -1);
    if (arena_len < adjust || arena_len - adjust < need) return esnn_load_fail(&L, ESNN_ERR_ARENA, ESNN_MSG("arena_len"), -1, -1);
    p = (uint8_t *)arena + adjust;
    ctx->ops = (esnn_op_t *)bump(&p, (uint64_t)ESNN_OP_SLOT * L.nops);
    ctx->buffers = (esnn_buffer_t *)bump(&p, (uint64_t)ESNN_BUFFER_SLOT * L.nb);
    ctx->logits = (int32_t *)bump(&p, 4u * (uint64_t)L.classes);
    ctx->spike_counts = (uint32_t *)bump(&p, 4u * (uint64_t)L.num_lif);
    /* second pass: fills the op records. The blob is the one just validated (CRC and all) and planned: the plan
     * in L stays, only the records are read again */
    L.validated = 1;
    st = esnn_load(&L, ctx->ops);
    if (st != ESNN_OK) return st;
    base = p;
    p += (size_t)L.buf_bytes;
    ctx->blob = blob;
    ctx->blob_len = len;
    ctx->arena_used = (size_t)(p - (uint8_t *)arena);
    st = esnn_plan_place(&L, ctx, base);
    if (st != ESNN_OK) return st;
    ctx->ready = 1;
    return esnn_reset(ctx);
}


/* ---- what the loader read, for reports ------------------------------------------------------------ */
uint32_t esnn_flags(const esnn_ctx_t *ctx) { return ctx && ctx->ready ? ctx->flags : 0u; }
uint32_t esnn_blob_crc(const esnn_ctx_t *ctx) {
    return ctx && ctx->ready ? esnn_rd32(ctx->blob + ctx->blob_len - CRC_SIZE) : 0u;
}
uint16_t esnn_num_steps(const esnn_ctx_t *ctx) { return ctx && ctx->ready ? ctx->T : 0; }
uint16_t esnn_num_classes(const esnn_ctx_t *ctx) { return ctx && ctx->ready ? ctx->num_classes : 0; }
void esnn_input_shape(const esnn_ctx_t *ctx, uint16_t *c, uint16_t *h, uint16_t *w) {
    const int ok = ctx && ctx->ready;
    if (c) *c = ok ? ctx->buffers[0].c : 0;
    if (h) *h = ok ? ctx->buffers[0].h : 0;
    if (w) *w = ok ? ctx->buffers[0].w : 0;
}
