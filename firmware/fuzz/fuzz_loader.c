/* fuzz_loader.c - libFuzzer harness: the C loader and one inference, differentially.
 *
 * Every input is a blob. When the loader accepts it, one sample is cheap (MAX_WORK) and the blob's CRC is a
 * multiple of 4 (every one with ESNN_FUZZ_EVERY set), the sample runs three ways: the lean plan with the fast kernels, the int32 plan with the reference kernels (ESNN_OPT_REFERENCE)
 * and the plan that spends a roomy arena on speed (ESNN_OPT_FAST); logits and spike counts must agree bit for
 * bit, else the harness traps. Built with ASan + UBSan (make -C firmware fuzz), so any memory error or
 * undefined behaviour in the loader, the planner or a kernel is a crash. The loader must also agree with
 * itself: esnn_arena_required and esnn_init accept the same blobs. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "esnn_internal.h"

#define ARENA_CAP (1u << 20)      /* blobs that need more arena are only validated */
#define INPUT_CAP (64u << 10)     /* nor run when a sample's input is larger */
#define MAX_WORK 2000000ull       /* dense upper bound of a sample's multiply-adds (a 500-byte blob can ask for
                                   * hours of compute: fault 7 of issue 18, bounded here, not by the runtime) */

static uint64_t work_of(const esnn_ctx_t *ctx) {
    uint64_t w = 0;
    uint32_t i;
    for (i = 0; i < ctx->num_ops; i++) {
        const esnn_op_t *o = &ctx->ops[i];
        const esnn_buffer_t *out = &ctx->buffers[o->opcode == ESNN_OP_READOUT ? o->in0 : o->out];
        uint64_t per = (uint64_t)out->c * out->h * out->w + 1u;
        if (o->opcode == ESNN_OP_CONV) per *= (uint64_t)o->cin * o->kh * o->kw + 1u;
        if (o->opcode == ESNN_OP_READOUT) per *= (uint64_t)o->cout + 1u;
        if (o->opcode == ESNN_OP_ATTN) per *= (uint64_t)o->n * o->n + o->hidden + 8u;
        w += per * ctx->T;
    }
    return w;
}

typedef struct {
    int32_t logits[65536];
    uint32_t counts[65536];
    uint16_t classes, lifs;
} outcome_t;

static outcome_t g_out[2];

/* One sample with `options` in an arena of `cap` bytes; 0 when it ran (results in *r). */
static int run(const uint8_t *blob, size_t len, uint32_t options, size_t cap, int reference, const uint8_t *x,
               size_t xlen, outcome_t *r) {
    esnn_ctx_t ctx;
    void *arena = malloc(cap ? cap : 1);
    int rc = 1;
    if (!arena) return 1;
    if (esnn_init_ex(&ctx, blob, len, arena, cap, options) == ESNN_OK &&
        esnn_set_kernels(&ctx, reference ? ESNN_KERNELS_REFERENCE : ESNN_KERNELS_FAST) == ESNN_OK &&
        esnn_frame_size(&ctx) * esnn_input_frames(&ctx) == xlen && esnn_run(&ctx, x, xlen) == ESNN_OK) {
        r->classes = ctx.num_classes;
        r->lifs = esnn_num_lif(&ctx);
        memcpy(r->logits, esnn_logits(&ctx), 4u * r->classes);
        memcpy(r->counts, esnn_spike_counts(&ctx), 4u * r->lifs);
        rc = 0;
    }
    free(arena);
    return rc;
}

static void same(const outcome_t *a, const outcome_t *b) {
    if (a->classes != b->classes || a->lifs != b->lifs || memcmp(a->logits, b->logits, 4u * a->classes) != 0 ||
        memcmp(a->counts, b->counts, 4u * a->lifs) != 0)
        __builtin_trap(); /* two plans or kernel sets disagree: a bug */
}

static int one(const uint8_t *data, size_t size);
static int g_every; /* ESNN_FUZZ_EVERY set: every accepted, cheap blob runs the inference (regression replay) */

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    g_every = getenv("ESNN_FUZZ_EVERY") != NULL;
    return 0;
}

/* Most inputs get their CRC32 recomputed, so that mutations reach the validation behind the CRC check (a
 * mutated blob almost never carries a valid CRC); sizes that are multiples of 7 keep theirs, for the check
 * itself. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *copy;
    uint32_t crc;
    int rc;
    if (size < 8u || size % 7u == 0) return one(data, size);
    copy = (uint8_t *)malloc(size);
    if (!copy) return 0;
    memcpy(copy, data, size);
    crc = esnn_crc32(0, copy, size - 4u);
    copy[size - 4u] = (uint8_t)crc;
    copy[size - 3u] = (uint8_t)(crc >> 8);
    copy[size - 2u] = (uint8_t)(crc >> 16);
    copy[size - 1u] = (uint8_t)(crc >> 24);
    rc = one(copy, size);
    free(copy);
    return rc;
}

static int one(const uint8_t *data, size_t size) {
    size_t need = 0, need_ref = 0, xlen, i;
    esnn_ctx_t probe;
    uint8_t *x, *arena;
    if (esnn_arena_required(data, size, &need) != ESNN_OK) {
        /* refused: esnn_init must refuse it too, with the arena it would have been given */
        uint8_t small[64];
        if (esnn_init(&probe, data, size, small, sizeof small) == ESNN_OK) __builtin_trap();
        return 0;
    }
    /* the int32 plan may pass a limit the lean one stays under (its arena over 4 GiB): then only the lean */
    if (esnn_arena_required_ex(data, size, ESNN_OPT_REFERENCE, &need_ref) != ESNN_OK || need > ARENA_CAP ||
        need_ref > ARENA_CAP)
        return 0;
    arena = (uint8_t *)malloc(need_ref > need ? need_ref : need);
    if (!arena) return 0;
    if (esnn_init(&probe, data, size, arena, need) != ESNN_OK) __builtin_trap(); /* accepted, then refused */
    xlen = esnn_frame_size(&probe) * esnn_input_frames(&probe);
    /* one accepted blob in four (by its CRC) runs the three-way inference: the loader and the planner see
     * four times as many blobs per second, the kernels still tens of thousands in a short run */
    if (xlen == 0 || xlen > INPUT_CAP || work_of(&probe) > MAX_WORK || (!g_every && esnn_blob_crc(&probe) % 4u)) {
        free(arena);
        return 0;
    }
    free(arena);
    x = (uint8_t *)malloc(xlen);
    if (!x) return 0;
    for (i = 0; i < xlen; i++) x[i] = (uint8_t)(i * 37u + 11u + (i % 5u == 0 ? 0u : 128u)); /* sparse-ish */
    if (run(data, size, 0u, need, 0, x, xlen, &g_out[0]) != 0) __builtin_trap();
    if (run(data, size, ESNN_OPT_REFERENCE, need_ref, 1, x, xlen, &g_out[1]) != 0) __builtin_trap();
    same(&g_out[0], &g_out[1]);
    if (run(data, size, ESNN_OPT_FAST, 2u * need + 4096u, 0, x, xlen, &g_out[1]) != 0) __builtin_trap();
    same(&g_out[0], &g_out[1]);
    free(x);
    return 0;
}
