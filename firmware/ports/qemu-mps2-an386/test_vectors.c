/* Cortex-M4 test image: runs every conformance vector listed in the file argv[1] (one vector directory per
 * line, read through semihosting file I/O) with both kernel sets, the fast kernels again on the blob at an
 * odd address, and, for graphs without LAYER_MAJOR, the time-major esnn_step path; compares logits, spike counts and final state bit for bit.
 * Lines "expect <STATUS> <dir>" (or "expect <STATUS> <file>.esnn") instead check that the loader refuses that
 * blob with that status.
 * Prints "PASS <dir>" / "FAIL <dir>: <what>" and "esnn-qemu: N/M vectors bit-exact"; exit status 0 only when
 * every vector passes (the pass sentinel). The arena and file buffers are static (this is the test harness,
 * not the runtime). */
#include <stdio.h>
#include <string.h>

#include "esnn.h"

#define BLOB_MAX (256u * 1024u)
#define IO_MAX (256u * 1024u)
#define ARENA_MAX (1024u * 1024u)

static uint8_t blob[BLOB_MAX];
static uint8_t input[IO_MAX];
static uint8_t expect[IO_MAX];
static int32_t state[IO_MAX / 4];
static uint64_t arena[ARENA_MAX / 8];

static long load(const char *dir, const char *name, uint8_t *buf, size_t cap) {
    char path[512];
    FILE *f;
    size_t n;
    if (snprintf(path, sizeof path, "%s%s", dir, name) >= (int)sizeof path) return -1;
    f = fopen(path, "rb");
    if (!f) return -1;
    n = fread(buf, 1, cap, f);
    fclose(f);
    return n == cap ? -1 : (long)n;
}

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* Compare the ctx's results with the vector's expected files (final states only when the ctx kept them);
 * returns NULL or what differs. */
static const char *compare(const char *dir, const esnn_ctx_t *ctx) {
    long n = load(dir, "logits.bin", expect, IO_MAX);
    uint16_t l;
    uint32_t i, off = 0;
    if (n != 4L * ctx->num_classes) return "logits.bin size";
    for (i = 0; i < ctx->num_classes; i++)
        if ((uint32_t)esnn_logits(ctx)[i] != le32(expect + 4 * i)) return "logits";
    n = load(dir, "spike_counts.bin", expect, IO_MAX);
    if (n != 4L * esnn_num_lif(ctx)) return "spike_counts.bin size";
    for (l = 0; l < esnn_num_lif(ctx); l++)
        if (esnn_spike_counts(ctx)[l] != le32(expect + 4 * l)) return "spike_counts";
    if (!(ctx->options & ESNN_OPT_FINAL_STATE)) return NULL;
    n = load(dir, "final_state.bin", expect, IO_MAX);
    for (l = 0; l < esnn_num_lif(ctx); l++) {
        uint32_t sz = esnn_state_size(ctx, l);
        if (n < 0 || 4u * (off + sz) > (unsigned long)n || sz > IO_MAX / 4) return "final_state.bin size";
        if (esnn_final_state(ctx, l, state, sz) != ESNN_OK) return "esnn_final_state";
        for (i = 0; i < sz; i++)
            if ((uint32_t)state[i] != le32(expect + 4 * (off + i))) return "final_state";
        off += sz;
    }
    return 4u * off == (unsigned long)n ? NULL : "final_state.bin size";
}

static const char *run_vector(const char *dir) {
    long blob_len = load(dir, "model.esnn", blob, BLOB_MAX), in_len = load(dir, "input.bin", input, IO_MAX);
    size_t need = 0, need_ref = 0, lean = 0, frame;
    esnn_ctx_t ctx;
    const char *why;
    int k;
    if (blob_len < 0 || in_len < 0) return "cannot read model.esnn / input.bin";
    /* the plans differ (int16 planes or not) and greedy placement is not monotonic: room for both */
    if (esnn_arena_required_ex(blob, (size_t)blob_len, ESNN_OPT_FINAL_STATE, &need) != ESNN_OK ||
        esnn_arena_required_ex(blob, (size_t)blob_len, ESNN_OPT_FINAL_STATE | ESNN_OPT_REFERENCE, &need_ref) != ESNN_OK)
        return "esnn_arena_required_ex";
    if (need_ref > need) need = need_ref;
    if (esnn_arena_required(blob, (size_t)blob_len, &lean) != ESNN_OK) return "esnn_arena_required";
    if (need > sizeof arena) return "arena too small for this image";
    /* the lean plan (what a board runs: LIF states reused after their segment) in exactly its arena */
    if (esnn_init(&ctx, blob, (size_t)blob_len, arena, lean) != ESNN_OK) return "esnn_init (lean)";
    if (esnn_run(&ctx, input, (size_t)in_len) != ESNN_OK) return "esnn_run (lean)";
    if ((why = compare(dir, &ctx)) != NULL) return why;
    /* the plan that spends RAM on speed (ESNN_OPT_FAST), given the whole test arena: attention inputs stored,
     * whole current planes */
    if (esnn_init_ex(&ctx, blob, (size_t)blob_len, arena, sizeof arena, ESNN_OPT_FAST | ESNN_OPT_FINAL_STATE) != ESNN_OK)
        return "esnn_init (fast)";
    if (esnn_run(&ctx, input, (size_t)in_len) != ESNN_OK) return "esnn_run (fast)";
    if ((why = compare(dir, &ctx)) != NULL) return why;
    for (k = 0; k < 2; k++) {
        const uint32_t opt = ESNN_OPT_FINAL_STATE | (k ? ESNN_OPT_REFERENCE : 0u);
        if (esnn_init_ex(&ctx, blob, (size_t)blob_len, arena, need, opt) != ESNN_OK) return "esnn_init";
        if (esnn_set_kernels(&ctx, k ? ESNN_KERNELS_REFERENCE : ESNN_KERNELS_FAST) != ESNN_OK) return "esnn_set_kernels";
        if (esnn_run(&ctx, input, (size_t)in_len) != ESNN_OK) return "esnn_run";
        if ((why = compare(dir, &ctx)) != NULL) return why;
    }
    /* the blob at an odd address (read in place from wherever the caller has it): every array unaligned, so
     * the kernels that need aligned weights (ldrd / ldm) must fall back, never fault */
    if (load(dir, "model.esnn", blob + 1, BLOB_MAX - 1) != blob_len) return "cannot reread model.esnn";
    if (esnn_init_ex(&ctx, blob + 1, (size_t)blob_len, arena, need, ESNN_OPT_FINAL_STATE) != ESNN_OK)
        return "esnn_init (odd address)";
    if (esnn_run(&ctx, input, (size_t)in_len) != ESNN_OK) return "esnn_run (odd address)";
    if ((why = compare(dir, &ctx)) != NULL) return why;
    if (esnn_step(&ctx, input, esnn_frame_size(&ctx)) == ESNN_OK) return "esnn_step accepted step T+1";
    if (esnn_reset(&ctx) != ESNN_OK) return "esnn_reset";
    frame = esnn_frame_size(&ctx);
    if (esnn_step(&ctx, input, frame) == ESNN_OK) { /* time-major path (refused for LAYER_MAJOR graphs) */
        esnn_set_kernels(&ctx, ESNN_KERNELS_FAST);
        for (k = 1; k < ctx.T; k++)
            if (esnn_step(&ctx, esnn_input_frames(&ctx) == 1 ? input : input + (size_t)k * frame, frame) != ESNN_OK)
                return "esnn_step";
        if ((why = compare(dir, &ctx)) != NULL) return why;
    }
    return NULL;
}

/* A line "expect <STATUS> <dir>": the blob in dir must be refused by the loader with that status (a model that
 * is valid by the format but over this runtime's limits, e.g. a sample's size that would wrap a 32-bit size_t). */
static const char *run_expect(const char *spec, const char **dir_out) {
    char status[64];
    const char *dir = strchr(spec, ' ');
    long blob_len;
    esnn_error_t e;
    esnn_status_t st;
    size_t n;
    if (!dir || (size_t)(dir - spec) >= sizeof status) return "malformed expect line";
    n = (size_t)(dir - spec);
    memcpy(status, spec, n);
    status[n] = '\0';
    *dir_out = ++dir;
    n = strlen(dir);
    blob_len = load(dir, n > 5 && strcmp(dir + n - 5, ".esnn") == 0 ? "" : "model.esnn", blob, BLOB_MAX);
    if (blob_len < 0) return "cannot read the blob";
    st = esnn_validate(blob, (size_t)blob_len, NULL, &e);
    if (strcmp(esnn_status_name(st), status) != 0) return esnn_status_name(st);
    return NULL;
}

int main(int argc, char **argv) {
    char line[512];
    FILE *list;
    int total = 0, passed = 0;
    printf("esnn-qemu: runtime %s\n", esnn_version());
    if (argc < 2 || !(list = fopen(argv[1], "r"))) {
        printf("esnn-qemu: usage: esnn_qemu VECTOR_LIST (semihosting arg)\n");
        return 2;
    }
    while (fgets(line, sizeof line, list)) {
        const char *why;
        size_t n = strlen(line);
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ')) line[--n] = '\0';
        if (!n) continue;
        total++;
        if (strncmp(line, "expect ", 7) == 0) {
            const char *dir = line;
            why = run_expect(line + 7, &dir);
            printf(why ? "FAIL %s: %s\n" : "PASS %s%s\n", dir, why ? why : "");
            passed += why == NULL;
            continue;
        }
        why = run_vector(line);
        if (why)
            printf("FAIL %s: %s\n", line, why);
        else {
            printf("PASS %s\n", line);
            passed++;
        }
    }
    fclose(list);
    printf("esnn-qemu: %d/%d vectors bit-exact\n", passed, total);
    return (total > 0 && passed == total) ? 0 : 1;
}
