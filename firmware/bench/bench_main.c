/* bench_main - instructions per inference of the event-driven runtime and of a dense int8 ANN of the same
 * topology, for bench/bench_runtime.py. One source for the host (counted by valgrind callgrind, which
 * collects only inside bench_esnn_sample / bench_dense_sample) and the Cortex-M4 QEMU image (-DBENCH_M4:
 * counted with -icount shift=7 and the CMSDK dual timer, DESIGN.md 5a).
 *
 *   bench_main esnn|dense MODEL INPUTS N     INPUTS: N samples of u8 [frames][C][H][W] back to back
 *
 * Prints one line per sample: "<mode> <i> predicted <p> ticks <t>" (ticks: timer ticks on the M4, 0 on the
 * host) and "<mode> calib ticks <t>" (the cost of an empty measurement, to subtract).
 *
 * The dense path is the ANN a CMSIS-NN-style deployment would run once per inference: every CONV a plain
 * C loop with one int8 x int8 MAC per weight per output pixel (int32 accumulators), LIF -> requantise to int8
 * (ReLU), MAXPOOL int8 max, LOGIC saturating add, ATTN a copy, READOUT global sum + FC. Its weights are the
 * model's own int8 weights (read through the runtime's validated op records). This file is the benchmark
 * harness, not the runtime: static buffers are fine here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "esnn_internal.h"

#define BLOB_MAX (512u * 1024u)
#define INPUT_MAX (64u * 1024u)
#define ARENA_MAX (1024u * 1024u)
#define POOL_MAX (1024u * 1024u)

static uint8_t blob[BLOB_MAX];
static uint8_t inputs[INPUT_MAX];
static uint64_t arena[ARENA_MAX / 8];
static int32_t pool[POOL_MAX / 4];
static void *act[256]; /* dense activations per buffer: int8 for INPUT/SPIKES, int32 for CURRENT */
static int32_t logits[256];

#ifdef BENCH_M4
#define TIMER1 ((volatile uint32_t *)0x40002000u) /* LOAD +0, VALUE +4, CONTROL +8 */
static void counter_start(void) {
    TIMER1[2] = 0;
    TIMER1[0] = 0xFFFFFFFFu;
    TIMER1[2] = 0x82u; /* enable, 32-bit, free-running, no prescale */
}
static uint32_t counter_read(void) { return TIMER1[1]; }
#else
static void counter_start(void) {}
static uint32_t counter_read(void) { return 0; }
#endif

#ifdef ESNN_PROFILE
/* -DESNN_PROFILE: timer ticks per opcode (7: the first-layer u8 conv) and per op index, printed after each
 * sample. */
static uint32_t prof_t0, prof_ticks[16], prof_op[256];
void esnn_profile_hook(uint32_t opcode, uint32_t end);
void esnn_profile_hook(uint32_t opcode, uint32_t end) {
    const uint32_t now = counter_read();
    if (!end) prof_t0 = now;
    else {
        prof_ticks[opcode & 15u] += prof_t0 - now;
        prof_op[(opcode >> 8) & 255u] += prof_t0 - now;
    }
}
static void prof_print(void) {
    static const char *const names[8] = {"?", "conv_spike", "lif", "attn", "maxpool", "logic", "readout", "conv_u8"};
    uint32_t k;
    for (k = 0; k < 8; k++)
        if (prof_ticks[k]) printf("profile %s ticks %lu\n", names[k], (unsigned long)prof_ticks[k]);
    for (k = 0; k < 16; k++) prof_ticks[k] = 0;
    for (k = 0; k < 256; k++) {
        if (prof_op[k]) printf("profile op %lu ticks %lu\n", (unsigned long)k, (unsigned long)prof_op[k]);
        prof_op[k] = 0;
    }
}
#else
static void prof_print(void) {}
#endif

static long load(const char *path, uint8_t *buf, size_t cap) {
    FILE *f = fopen(path, "rb");
    size_t n;
    if (!f) return -1;
    n = fread(buf, 1, cap, f);
    fclose(f);
    return n == cap ? -1 : (long)n;
}

__attribute__((noinline)) int32_t bench_esnn_sample(esnn_ctx_t *ctx, const uint8_t *x, size_t len) {
    if (esnn_run(ctx, x, len) != ESNN_OK) return -1;
    return esnn_predicted(ctx);
}

static int8_t sat8(int32_t v) { return (int8_t)(v > 127 ? 127 : (v < -128 ? -128 : v)); }

static void dense_conv(const esnn_op_t *op, const esnn_buffer_t *in, const esnn_buffer_t *out, const int8_t *x,
                       int32_t *y) {
    const int8_t *w = (const int8_t *)op->w;
    uint32_t co, oy, ox, ci, ky, kx;
    for (co = 0; co < op->cout; co++) {
        const int32_t b = esnn_s32(esnn_rd32(op->bias + 4u * co));
        for (oy = 0; oy < out->h; oy++)
            for (ox = 0; ox < out->w; ox++) {
                int32_t acc = b;
                for (ci = 0; ci < op->cin; ci++)
                    for (ky = 0; ky < op->kh; ky++) {
                        const int32_t iy = (int32_t)(oy * op->stride + ky) - op->pad;
                        if (iy < 0 || iy >= (int32_t)in->h) continue;
                        for (kx = 0; kx < op->kw; kx++) {
                            const int32_t ix = (int32_t)(ox * op->stride + kx) - op->pad;
                            if (ix < 0 || ix >= (int32_t)in->w) continue;
                            acc += x[(ci * in->h + (uint32_t)iy) * in->w + (uint32_t)ix] *
                                   w[((ci * op->kh + ky) * op->kw + kx) * op->cout + co];
                        }
                    }
                y[(co * out->h + oy) * out->w + ox] = acc;
            }
    }
}

__attribute__((noinline)) int32_t bench_dense_sample(const esnn_ctx_t *ctx, const uint8_t *x) {
    uint32_t i, k, n, c, p;
    const esnn_buffer_t *b0 = &ctx->buffers[0];
    int8_t *in0 = (int8_t *)act[0];
    int32_t best = 0;
    n = (uint32_t)b0->c * b0->h * b0->w;
    for (k = 0; k < n; k++) in0[k] = (int8_t)(x[k] >> 1);
    for (i = 0; i < ctx->num_ops; i++) {
        const esnn_op_t *op = &ctx->ops[i];
        const esnn_buffer_t *in = &ctx->buffers[op->in0];
        const uint32_t npix = (uint32_t)in->h * in->w, m = in->c * npix;
        switch (op->opcode) {
        case ESNN_OP_CONV:
            dense_conv(op, in, &ctx->buffers[op->out], (const int8_t *)act[op->in0], (int32_t *)act[op->out]);
            break;
        case ESNN_OP_LIF: /* requantise + ReLU */
            for (k = 0; k < m; k++) {
                const int32_t v = ((const int32_t *)act[op->in0])[k] / 256;
                ((int8_t *)act[op->out])[k] = (int8_t)(v < 0 ? 0 : (v > 127 ? 127 : v));
            }
            break;
        case ESNN_OP_ATTN:
            memcpy(act[op->out], act[op->in0], 4u * m);
            break;
        case ESNN_OP_LOGIC:
            for (k = 0; k < m; k++)
                ((int8_t *)act[op->out])[k] = sat8(((const int8_t *)act[op->in0])[k] + ((const int8_t *)act[op->in1])[k]);
            break;
        case ESNN_OP_MAXPOOL: {
            const esnn_buffer_t *out = &ctx->buffers[op->out];
            uint32_t oy, ox, ky, kx;
            for (c = 0; c < in->c; c++)
                for (oy = 0; oy < out->h; oy++)
                    for (ox = 0; ox < out->w; ox++) {
                        int8_t mx = -128;
                        for (ky = 0; ky < op->kh; ky++)
                            for (kx = 0; kx < op->kh; kx++) {
                                const int32_t iy = (int32_t)(oy * op->stride + ky) - op->pad;
                                const int32_t ix = (int32_t)(ox * op->stride + kx) - op->pad;
                                int8_t v;
                                if (iy < 0 || ix < 0 || iy >= (int32_t)in->h || ix >= (int32_t)in->w) continue;
                                v = ((const int8_t *)act[op->in0])[(c * in->h + (uint32_t)iy) * in->w + (uint32_t)ix];
                                if (v > mx) mx = v;
                            }
                        ((int8_t *)act[op->out])[(c * out->h + oy) * out->w + ox] = mx;
                    }
            break;
        }
        default: { /* READOUT: global sum per channel, then FC */
            const int8_t *a = (const int8_t *)act[op->in0], *w = (const int8_t *)op->w;
            for (k = 0; k < op->cout; k++) logits[k] = esnn_s32(esnn_rd32(op->bias + 4u * k));
            for (c = 0; c < in->c; c++) {
                int32_t s = 0;
                for (p = 0; p < npix; p++) s += a[c * npix + p];
                for (k = 0; k < op->cout; k++) logits[k] += s * w[c * op->cout + k];
            }
            for (k = 1; k < op->cout; k++)
                if (logits[k] > logits[best]) best = (int32_t)k;
            break;
        }
        }
    }
    return best;
}

static int dense_setup(const esnn_ctx_t *ctx) {
    uint32_t i, used = 0;
    for (i = 0; i < ctx->num_ops; i++)
        if ((ctx->ops[i].opcode == ESNN_OP_CONV || ctx->ops[i].opcode == ESNN_OP_READOUT) && ctx->ops[i].bits != 8) {
            printf("dense: op %lu has %u-bit weights; the dense baseline needs int8\n", (unsigned long)i, ctx->ops[i].bits);
            return 1;
        }
    for (i = 0; i < ctx->num_buffers; i++) {
        const esnn_buffer_t *b = &ctx->buffers[i];
        const uint32_t n = (uint32_t)b->c * b->h * b->w;
        const uint32_t words = b->kind == ESNN_BUF_CURRENT ? n : (n + 3u) / 4u;
        if (used + words > POOL_MAX / 4) {
            printf("dense: activations do not fit the pool\n");
            return 1;
        }
        act[i] = &pool[used];
        used += words;
    }
    return 0;
}

int main(int argc, char **argv) {
    long blob_len, in_len;
    size_t need, sample, budget;
    esnn_ctx_t ctx;
    unsigned long n, i;
    int dense;
    uint32_t t0, t1;
    if ((argc != 5 && argc != 6) || (strcmp(argv[1], "esnn") != 0 && strcmp(argv[1], "dense") != 0)) {
        printf("usage: bench_main esnn|dense MODEL INPUTS N [ARENA_BUDGET]\n");
        return 1;
    }
    dense = strcmp(argv[1], "dense") == 0;
    n = strtoul(argv[4], NULL, 10);
    blob_len = load(argv[2], blob, BLOB_MAX);
    in_len = load(argv[3], inputs, INPUT_MAX);
    if (blob_len < 0 || in_len < 0 || n == 0) {
        printf("cannot read %s / %s\n", argv[2], argv[3]);
        return 1;
    }
    /* ARENA_BUDGET: the plan of ESNN_OPT_FAST, the fastest within that many bytes; else the leanest */
    budget = argc == 6 ? (size_t)strtoul(argv[5], NULL, 10) : 0u;
    need = budget;
    if (esnn_arena_required_ex(blob, (size_t)blob_len, budget ? ESNN_OPT_FAST : 0u, &need) != ESNN_OK ||
        need > sizeof arena || budget > sizeof arena ||
        esnn_init_ex(&ctx, blob, (size_t)blob_len, arena, budget ? budget : need, budget ? ESNN_OPT_FAST : 0u) !=
            ESNN_OK) {
        printf("esnn_init failed (arena need %lu)\n", (unsigned long)need);
        return 1;
    }
    need = esnn_arena_used(&ctx);
    sample = esnn_frame_size(&ctx) * esnn_input_frames(&ctx);
    if ((size_t)in_len != sample * n) {
        printf("inputs: %ld bytes, expected %lu samples of %lu\n", in_len, n, (unsigned long)sample);
        return 1;
    }
    if (dense && dense_setup(&ctx) != 0) return 1;
    counter_start();
    t0 = counter_read();
    t1 = counter_read();
    printf("%s calib ticks %lu\n", argv[1], (unsigned long)(t0 - t1));
    printf("arena %lu\n", (unsigned long)need);
    for (i = 0; i < n; i++) {
        int32_t p;
        const uint8_t *x = inputs + i * sample;
        counter_start();
        t0 = counter_read();
        p = dense ? bench_dense_sample(&ctx, x) : bench_esnn_sample(&ctx, x, sample);
        t1 = counter_read();
        printf("%s %lu predicted %ld ticks %lu\n", argv[1], i, (long)p, (unsigned long)(t0 - t1));
        prof_print();
    }
    return 0;
}
