/* esnn_run - host CLI over the runtime, used by the Python tests.
 *
 *   esnn_run [--ref] [--step] [-o DIR] MODEL INPUT   run one sample; print predicted, logits, spike counts;
 *                                                   -o writes logits.bin, spike_counts.bin, final_state.bin
 *                                                   (and, built with -DESNN_TRACE, kernels.bin)
 *   esnn_run --validate FILE...                      one line per blob: FILE STATUS op buffer field
 *                                                   need field; an accepted blob also runs once on zero
 *                                                   input ("FILE run-failed STATUS" when that fails)
 *
 * The blob may be untrusted: a run does not allocate an arena over ESNN_RUN_MAX_ARENA bytes (256 MiB, the
 * Python host's limit too: edgesnn/format/limits.py); --max-arena BYTES raises it.
 * Exit status: 0 ok, 1 usage or I/O error, 2 the runtime returned an error status, 3 over the arena limit.
 * Files are read into buffers of their exact size, so a sanitizer build catches any overread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "esnn.h"

#define ESNN_RUN_MAX_ARENA (256ul << 20)

static unsigned char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    long n;
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return NULL;
    }
    buf = (unsigned char *)malloc(n > 0 ? (size_t)n : 1u);
    if (buf && n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static int write_file(const char *dir, const char *name, const void *data, size_t len) {
    char path[4096];
    FILE *f;
    size_t ok;
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) return 1;
    f = fopen(path, "wb");
    if (!f) return 1;
    ok = len ? fwrite(data, 1, len, f) : 0;
    return (fclose(f) != 0 || ok != len) ? 1 : 0;
}

static void put_le32(unsigned char *p, unsigned long v) {
    p[0] = (unsigned char)(v & 0xFF);
    p[1] = (unsigned char)((v >> 8) & 0xFF);
    p[2] = (unsigned char)((v >> 16) & 0xFF);
    p[3] = (unsigned char)((v >> 24) & 0xFF);
}

static int report(const char *what, esnn_status_t st, const esnn_error_t *e) {
    fprintf(stderr, "esnn_run: %s: %s: %s (field '%s', op %ld, buffer %ld)\n", what, esnn_status_name(st),
            esnn_status_str(st), e ? e->field : "", e ? (long)e->op : -1L, e ? (long)e->buffer : -1L);
    return 2;
}

static int validate(int argc, char **argv) {
    int i;
    for (i = 0; i < argc; i++) {
        size_t len = 0, need = 0;
        esnn_error_t e;
        unsigned char *blob = read_file(argv[i], &len);
        esnn_status_t st;
        if (!blob) {
            fprintf(stderr, "esnn_run: cannot read %s\n", argv[i]);
            return 1;
        }
        st = esnn_validate(blob, len, &need, &e);
        printf("%s %s %ld %ld %lu %s\n", argv[i], esnn_status_name(st), (long)e.op, (long)e.buffer,
               (unsigned long)need, e.field);
        if (st == ESNN_OK) { /* also run it once on zero input through init + run */
            void *arena = malloc(need ? need : 1u);
            esnn_ctx_t ctx;
            st = esnn_init(&ctx, blob, len, arena, need);
            if (st == ESNN_OK) {
                size_t n = esnn_frame_size(&ctx) * esnn_input_frames(&ctx);
                unsigned char *in = (unsigned char *)calloc(n ? n : 1u, 1);
                st = in ? esnn_run(&ctx, in, n) : ESNN_ERR_ARG;
                free(in);
            }
            if (st != ESNN_OK) printf("%s run-failed %s\n", argv[i], esnn_status_name(st));
            free(arena);
        }
        free(blob);
    }
    return 0;
}

int main(int argc, char **argv) {
    const char *outdir = NULL;
    int ref = 0, step = 0, a = 1, rc = 0;
    size_t blob_len = 0, in_len = 0, need = 0, n, i;
    unsigned char *blob, *input, *buf;
    void *arena;
    esnn_ctx_t ctx;
    esnn_status_t st;
    uint16_t l;
    uint32_t opt;
    unsigned long max_arena = ESNN_RUN_MAX_ARENA;
    if (argc > 1 && strcmp(argv[1], "--validate") == 0) return validate(argc - 2, argv + 2);
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        uint16_t maj, min;
        esnn_format_versions(&maj, &min);
        printf("esnn runtime %s, format %u.0..%u.%u\n", esnn_version(), maj, maj, min);
        return 0;
    }
    for (; a < argc && argv[a][0] == '-'; a++) {
        if (strcmp(argv[a], "--ref") == 0)
            ref = 1;
        else if (strcmp(argv[a], "--step") == 0)
            step = 1;
        else if (strcmp(argv[a], "-o") == 0 && a + 1 < argc)
            outdir = argv[++a];
        else if (strcmp(argv[a], "--max-arena") == 0 && a + 1 < argc)
            max_arena = strtoul(argv[++a], NULL, 10);
        else
            break;
    }
    if (argc - a != 2) {
        fprintf(stderr, "usage: esnn_run [--ref] [--step] [--max-arena BYTES] [-o DIR] MODEL INPUT | --validate FILE... "
                        "| --version\n");
        return 1;
    }
    blob = read_file(argv[a], &blob_len);
    input = read_file(argv[a + 1], &in_len);
    if (!blob || !input) {
        fprintf(stderr, "esnn_run: cannot read %s\n", blob ? argv[a + 1] : argv[a]);
        return 1;
    }
    /* final states are written with -o: keep them (ESNN_OPT_FINAL_STATE); --ref needs int32 currents
     * (ESNN_OPT_REFERENCE); otherwise the lean plan a board runs */
    opt = (outdir ? ESNN_OPT_FINAL_STATE : 0u) | (ref ? ESNN_OPT_REFERENCE : 0u);
    st = esnn_arena_required_ex(blob, blob_len, opt, &need);
    if (st != ESNN_OK) {
        esnn_error_t e;
        esnn_validate(blob, blob_len, NULL, &e);
        return report(argv[a], st, &e);
    }
    if (need > max_arena) {
        fprintf(stderr, "esnn_run: %s: the arena needs %lu B, over the limit of %lu B (--max-arena BYTES raises it)\n",
                argv[a], (unsigned long)need, max_arena);
        return 3;
    }
    arena = malloc(need);
    st = esnn_init_ex(&ctx, blob, blob_len, arena, need, opt);
    if (st == ESNN_OK && ref) st = esnn_set_kernels(&ctx, ESNN_KERNELS_REFERENCE);
    if (st == ESNN_OK && !step) st = esnn_run(&ctx, input, in_len);
    if (st == ESNN_OK && step) {
        size_t frame = esnn_frame_size(&ctx), frames = esnn_input_frames(&ctx), t;
        if (in_len != frame * frames) st = ESNN_ERR_ARG;
        for (t = 0; st == ESNN_OK && t < ctx.T; t++) st = esnn_step(&ctx, input + (frames == 1 ? 0 : t * frame), frame);
    }
    if (st != ESNN_OK) return report(argv[a], st, esnn_error(&ctx));
    printf("predicted %ld\nlogits", (long)esnn_predicted(&ctx));
    for (i = 0; i < ctx.num_classes; i++) printf(" %ld", (long)esnn_logits(&ctx)[i]);
    printf("\nspike_counts");
    for (l = 0; l < esnn_num_lif(&ctx); l++) printf(" %lu", (unsigned long)esnn_spike_counts(&ctx)[l]);
    printf("\narena %lu\n", (unsigned long)esnn_arena_used(&ctx));
    if (outdir) {
        size_t total = 0;
        for (l = 0; l < esnn_num_lif(&ctx); l++) total += esnn_state_size(&ctx, l);
        buf = (unsigned char *)malloc(4 * (total + ctx.num_classes + esnn_num_lif(&ctx)) + 4);
        for (i = 0; i < ctx.num_classes; i++) put_le32(buf + 4 * i, (unsigned long)(uint32_t)esnn_logits(&ctx)[i]);
        rc |= write_file(outdir, "logits.bin", buf, 4 * (size_t)ctx.num_classes);
        for (l = 0; l < esnn_num_lif(&ctx); l++) put_le32(buf + 4 * l, esnn_spike_counts(&ctx)[l]);
        rc |= write_file(outdir, "spike_counts.bin", buf, 4 * (size_t)esnn_num_lif(&ctx));
        n = 0;
        for (l = 0; l < esnn_num_lif(&ctx); l++) {
            size_t k, sz = esnn_state_size(&ctx, l);
            int32_t *tmp = (int32_t *)malloc(4 * sz);
            esnn_final_state(&ctx, l, tmp, sz);
            for (k = 0; k < sz; k++) put_le32(buf + 4 * (n + k), (unsigned long)(uint32_t)tmp[k]);
            n += sz;
            free(tmp);
        }
        rc |= write_file(outdir, "final_state.bin", buf, 4 * n);
        free(buf);
#ifdef ESNN_TRACE /* trace builds: the kernel variants each op ran (esnn_trace_kernels), uint32 per op */
        buf = (unsigned char *)malloc(4 * (size_t)ctx.num_ops + 4);
        for (i = 0; i < ctx.num_ops; i++) put_le32(buf + 4 * i, esnn_trace_kernels(&ctx, (uint16_t)i));
        rc |= write_file(outdir, "kernels.bin", buf, 4 * (size_t)ctx.num_ops);
        free(buf);
#endif
    }
    free(arena);
    free(blob);
    free(input);
    return rc ? 1 : 0;
}
