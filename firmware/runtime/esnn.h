/*
 * esnn.h - portable C99 runtime for .esnn v1 spiking models (export/FORMAT.md).
 *
 * No malloc, no globals, re-entrant: all state lives in the caller's esnn_ctx_t and arena.
 * The blob is read in place (flash or RAM) and is never written; it must stay alive and
 * unchanged while the context is used.
 *
 * Typical use:
 *
 *     size_t need;
 *     if (esnn_arena_required(blob, len, &need) != ESNN_OK) ...;    // validates the whole blob
 *     esnn_ctx_t ctx;
 *     esnn_status_t st = esnn_init(&ctx, blob, len, arena, arena_len);
 *     st = esnn_run(&ctx, input, input_len);          // whole sample, T frames (1 if STATIC_INPUT)
 *     // or, without LAYER_MAJOR, frame by frame as they arrive:
 *     // esnn_reset(&ctx); for t < T: esnn_step(&ctx, frame, frame_len);
 *     esnn_predicted(&ctx); esnn_logits(&ctx); esnn_spike_counts(&ctx); esnn_final_state(...);
 *
 * Arena layout (one contiguous caller-owned block; esnn_init aligns its start up to 8 bytes,
 * esnn_arena_required() counts from that aligned start, so pass an 8-aligned arena or 7 bytes more).
 * Its size depends on the model only, not on the target (records take fixed slots):
 *
 *     arena (8-aligned)
 *     +--------------------------------------+
 *     | esnn_op_t      [num_ops]  72 B each  |  validated op records (pointers into the blob)
 *     | esnn_buffer_t  [num_buffers] 32 B    |  shapes + data pointers
 *     | int32 logits   [num_classes]         |  READOUT accumulators (start at the bias)
 *     | uint32 spikes  [num_lif]             |  spike count per LIF op
 *     +--------------------------------------+
 *     | planned region                       |  CURRENT: uint32 [steps][H][W][C] (two's complement), or
 *     |                                      |           int16 [steps][H][W][C] when planned as a plane,
 *     |  buffers 1.., LIF membrane states    |           or int16 [rows][W][C]: a streamed conv's window
 *     |  (int16/int32 [H][W][C]) and each    |  SPIKES:  uint32 [steps][H][W][ceil(C/32)] bit-packed,
 *     |  CONV's / ATTN's scratch (tap tables,|           channel c = bit c%32 of word c/32
 *     |  pooled sums, scores) at planned     |  steps = 1, except T for a buffer that crosses a segment
 *     |  offsets; items whose live ranges do |  (LAYER_MAJOR or a split); ATTN in place if it can
 *     |  not intersect share storage         |
 *     +--------------------------------------+  (plan in plan.c "arena plan"; the exporter's RAM figure,
 *                                               edgesnn/export/passes/memory.py, is this same number)
 *
 * Buffer 0 (the u8 input) is never copied: kernels read the caller's frames, [C][H][W] row-major.
 * Trust boundary: firmware/SECURITY.md.
 */
#ifndef ESNN_H
#define ESNN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ESNN_VERSION_MAJOR 0
#define ESNN_VERSION_MINOR 1
#define ESNN_VERSION_PATCH 0
#define ESNN_VERSION_STRING "0.1.0"
/* .esnn format versions this runtime accepts: exactly 1.0 (FORMAT.md: refuse other majors, minor > 0). */
#define ESNN_FORMAT_MAJOR 1
#define ESNN_FORMAT_MINOR_MAX 0

/* This runtime's limit beyond FORMAT.md's ranges (same as the Python reference). */
#define ESNN_MAX_BUFFER_ELEMENTS (1UL << 22)
/* One sample's input bytes (frame size x frames) this runtime accepts, so that every size computed from them
 * fits a 32-bit size_t with room to spare (4096 x 32 x 32 u8 frames x T = 1024 would be 2^32: 0 on an MCU). */
#define ESNN_MAX_SAMPLE_BYTES (1UL << 28)
/* Buffers the arena planner handles (FORMAT.md allows 256). Its tables live on the stack of
 * esnn_validate / esnn_arena_required / esnn_init (about 19 bytes per buffer): worst-case load-time stack on
 * Cortex-M4 -O2 5,168 B at 256, 1,784 B at 64, 1,224 B at 32 (firmware/tools/stack_usage.py); one inference
 * (esnn_run) takes 712 B whatever this is (kernel scratch lives in the arena). A port with small models may build
 * with e.g. -DESNN_MAX_BUFFERS=32 (the conformance vectors use at most 12); larger models are then refused with
 * ESNN_ERR_LIMIT. */
#ifndef ESNN_MAX_BUFFERS
#define ESNN_MAX_BUFFERS 256
#endif
#if ESNN_MAX_BUFFERS < 2 || ESNN_MAX_BUFFERS > 256
#error "ESNN_MAX_BUFFERS must be in 2..256"
#endif

/* The one status list: enum and strings are generated from it. */
#define ESNN_STATUS_LIST(X)                                                                  \
    X(ESNN_OK, "ok")                                                                         \
    X(ESNN_ERR_ARG, "invalid argument (NULL pointer or wrong input length)")                 \
    X(ESNN_ERR_MAGIC, "not an .esnn blob (magic)")                                           \
    X(ESNN_ERR_TRUNCATED, "blob shorter than the header plus CRC")                           \
    X(ESNN_ERR_VERSION, "unsupported format version")                                        \
    X(ESNN_ERR_HEADER, "invalid header field")                                               \
    X(ESNN_ERR_CRC, "CRC32 mismatch (corrupted blob)")                                       \
    X(ESNN_ERR_BUFFER, "invalid buffer table entry")                                         \
    X(ESNN_ERR_OP, "invalid op record")                                                      \
    X(ESNN_ERR_GRAPH, "invalid graph (buffer ids, kinds, order, shapes)")                    \
    X(ESNN_ERR_DATA, "array misaligned or outside the data section")                         \
    X(ESNN_ERR_VALUE, "invalid parameter value")                                             \
    X(ESNN_ERR_LIMIT, "model exceeds this runtime's limits")                                 \
    X(ESNN_ERR_ARENA, "arena too small")                                                     \
    X(ESNN_ERR_STATE, "call not valid now (not initialised, LAYER_MAJOR graph, or step > T)")

#define ESNN_STATUS_ENUM_(name, text) name,
typedef enum { ESNN_STATUS_LIST(ESNN_STATUS_ENUM_) ESNN_STATUS_COUNT } esnn_status_t;
#undef ESNN_STATUS_ENUM_

/* First error of a context: status, the field it names, and the op / buffer index (-1: none). */
typedef struct {
    esnn_status_t status;
    const char *field; /* static string, e.g. "kh"; "" when ESNN_NO_ERRMSG is defined */
    int32_t op;
    int32_t buffer;
} esnn_error_t;

/* Validated op record (internal; its fields are not part of the API). */
typedef struct esnn_op esnn_op_t;
typedef struct esnn_buffer esnn_buffer_t;

/* Kernel set: the optimised kernels (default) or the plain reference kernels. Both are bit-exact. */
typedef enum { ESNN_KERNELS_FAST = 0, ESNN_KERNELS_REFERENCE = 1 } esnn_kernels_t;

typedef struct {
    const uint8_t *blob;
    size_t blob_len;
    esnn_op_t *ops;
    esnn_buffer_t *buffers;
    int32_t *logits;
    uint32_t *spike_counts;
    size_t arena_used;
    uint32_t flags;
    uint16_t T, num_classes, num_buffers, num_ops, num_lif;
    uint16_t t; /* steps done in the current sample */
    uint8_t ready;
    uint8_t kernels; /* esnn_kernels_t */
    uint8_t options; /* ESNN_OPT_* given to esnn_init_ex */
    esnn_error_t error;
} esnn_ctx_t;

/* sizeof(esnn_ctx_t), for bindings that allocate the context themselves. */
size_t esnn_ctx_size(void);
/* Runtime version "major.minor.patch" and the format versions it accepts. */
const char *esnn_version(void);
void esnn_format_versions(uint16_t *major, uint16_t *minor_max);

/* Strings for status codes ("unknown status" out of range). */
const char *esnn_status_name(esnn_status_t st); /* "ESNN_ERR_CRC" */
const char *esnn_status_str(esnn_status_t st);  /* "CRC32 mismatch (corrupted blob)" */

/* Options of esnn_arena_required_ex / esnn_init_ex (bit set). Without ESNN_OPT_FINAL_STATE a LIF op's
 * membrane state lives only while its segment runs (a LAYER_MAJOR graph reuses it for later layers; a fused
 * static first layer keeps none), so esnn_final_state is refused; with it every state survives the run, for
 * verification and debugging, at the cost of more arena. */
#define ESNN_OPT_FINAL_STATE 1u
/* Without ESNN_OPT_REFERENCE a CURRENT buffer whose values provably fit int16 and whose only reader takes an
 * int16 plane (the fast kernels' acc16/cur16 paths) gets int16 storage, and a STATIC first conv runs fused
 * with its LIF over all T (no current plane); the plain reference kernels read int32 currents op by op, so
 * esnn_set_kernels(ESNN_KERNELS_REFERENCE) needs a context made with this option. */
#define ESNN_OPT_REFERENCE 2u
/* Without ESNN_OPT_FAST the plan is the leanest (the least arena; instructions only break ties). With it the
 * plan spends the arena it is given on speed: an attention's input conv stored for all T steps instead of run
 * twice, a conv's whole current plane instead of a window of rows, deepest layers first, while the arena
 * stays within the budget: esnn_init_ex's arena_len, or for esnn_arena_required_ex the *bytes passed in (out:
 * the bytes the plan uses, never more than the budget unless the lean plan alone needs more). Pass the same
 * budget to both: the plan is a function of the blob, the options and the budget. */
#define ESNN_OPT_FAST 4u
#define ESNN_OPT_ALL 7u

/* Validate the whole blob and report the arena bytes esnn_init needs (from an 8-aligned start): the lean plan
 * (options 0), what a device needs to run the model. */
esnn_status_t esnn_arena_required(const uint8_t *blob, size_t len, size_t *bytes);
/* The same for esnn_init_ex with these options (ESNN_ERR_ARG for unknown bits; with ESNN_OPT_FAST, *bytes is
 * also the budget on entry). */
esnn_status_t esnn_arena_required_ex(const uint8_t *blob, size_t len, uint32_t options, size_t *bytes);
/* The arena bytes the same model would need without buffer reuse (every buffer its own storage, all T steps
 * with LAYER_MAJOR): what the plan saves, for reports and tests. */
esnn_status_t esnn_arena_unplanned(const uint8_t *blob, size_t len, size_t *bytes);
/* Same, keeping the first error's detail in *error (may be NULL). */
esnn_status_t esnn_validate(const uint8_t *blob, size_t len, size_t *bytes, esnn_error_t *error);

/* Validate the blob, lay out the arena and reset. On error the ctx keeps the error and refuses to run.
 * esnn_init is esnn_init_ex with options 0 (the lean plan of esnn_arena_required). */
esnn_status_t esnn_init(esnn_ctx_t *ctx, const uint8_t *blob, size_t len, void *arena, size_t arena_len);
esnn_status_t esnn_init_ex(esnn_ctx_t *ctx, const uint8_t *blob, size_t len, void *arena, size_t arena_len,
                           uint32_t options);
/* Choose the kernel set (default ESNN_KERNELS_FAST). ESNN_KERNELS_REFERENCE needs ESNN_OPT_REFERENCE at init
 * (else ESNN_ERR_STATE). */
esnn_status_t esnn_set_kernels(esnn_ctx_t *ctx, esnn_kernels_t kernels);
/* Start a new sample: states 0, spike counts 0, logits = READOUT bias, step 0. */
esnn_status_t esnn_reset(esnn_ctx_t *ctx);
/* One time step. Refused (ESNN_ERR_STATE) for LAYER_MAJOR graphs and after T steps. Runs the plan's first
 * segment at this step; where the plan splits a causal graph after a LIF (less arena: plan.c choose_splits)
 * the later segments run, layer by layer over all T, inside the T-th call (they read no input frame), so
 * the results are valid after the T-th step, as always.
 * frame: u8 [C][H][W] of buffer 0; with STATIC_INPUT pass the same frame at every step. */
esnn_status_t esnn_step(esnn_ctx_t *ctx, const uint8_t *frame, size_t frame_len);
/* A whole sample: reset, then T steps (layer-major for LAYER_MAJOR graphs).
 * input: u8 [frames][C][H][W], frames = 1 with STATIC_INPUT, else T. */
esnn_status_t esnn_run(esnn_ctx_t *ctx, const uint8_t *input, size_t input_len);

/* Results of the current sample (valid after esnn_run, or after T esnn_step calls). */
const int32_t *esnn_logits(const esnn_ctx_t *ctx);     /* num_classes values */
int32_t esnn_predicted(const esnn_ctx_t *ctx);         /* argmax, ties to the lowest index */
const uint32_t *esnn_spike_counts(const esnn_ctx_t *ctx); /* one per LIF op, file order */
uint16_t esnn_num_lif(const esnn_ctx_t *ctx);
/* Neurons of LIF op `lif` (in file order), 0 when out of range. */
uint32_t esnn_state_size(const esnn_ctx_t *ctx, uint16_t lif);
/* Copy LIF op `lif`'s membrane state into out[C][H][W] as int32; n must be esnn_state_size(). Needs
 * ESNN_OPT_FINAL_STATE at init (else ESNN_ERR_STATE). */
esnn_status_t esnn_final_state(const esnn_ctx_t *ctx, uint16_t lif, int32_t *out, size_t n);
/* Input bytes per frame and frames per sample (1 with STATIC_INPUT). */
size_t esnn_frame_size(const esnn_ctx_t *ctx);
uint16_t esnn_input_frames(const esnn_ctx_t *ctx);
size_t esnn_arena_used(const esnn_ctx_t *ctx);
const esnn_error_t *esnn_error(const esnn_ctx_t *ctx);
/* Kernel trace (builds with -DESNN_TRACE only; off by default, and then nothing of it is compiled): which
 * kernel variants ran for op `op` (file order) since the last esnn_reset / esnn_run, as a bit set over
 * esnn_kernel_t (bit k: variant k ran at least once). Path tests assert through it that the intended fast
 * path really ran (tests/firmware/test_conv_paths.py). */
#define ESNN_KERNEL_LIST(X)                                                                             \
    X(ESNN_KERNEL_REFERENCE)       /* a plain reference kernel (esnn_set_kernels REFERENCE) */          \
    X(ESNN_KERNEL_CONV_U8)         /* the first-layer u8 conv */                                        \
    X(ESNN_KERNEL_CONV_SPIKE32)    /* spike conv, int32 accumulators over tap tables */                 \
    X(ESNN_KERNEL_CONV_ACC16)      /* spike conv, int16 accumulators (acc16), portable / SSE2 / taps */ \
    X(ESNN_KERNEL_CONV_K3_M4)      /* spike conv acc16, unrolled 3x3 Cortex-M4 kernels */               \
    X(ESNN_KERNEL_CONV_SO_M4)      /* spike conv acc16, spike-outer Cortex-M4 kernels (cout 16/32/64) */ \
    X(ESNN_KERNEL_STATIC_FUSED)    /* STATIC conv + LIF fused over all T (kernels/static_lif.c) */      \
    X(ESNN_KERNEL_LIF_CUR16)       /* LIF on an int16 plane: portable, SSE2 or Cortex-M4 SIMD/asm */    \
    X(ESNN_KERNEL_LIF_SMALL)       /* LIF, input bounded by 2^30: no 64-bit arithmetic */              \
    X(ESNN_KERNEL_LIF_LOOP)        /* LIF, general loop */                                              \
    X(ESNN_KERNEL_ATTN_FAST32)     /* ATTN, 32-bit sums and products (a32) */                           \
    X(ESNN_KERNEL_ATTN_IN16)       /* ATTN reading an int16 plane (in16) */                             \
    X(ESNN_KERNEL_ATTN_I64)        /* ATTN, int64 arithmetic */                                         \
    X(ESNN_KERNEL_ATTN_RECOMPUTE)  /* ATTN whose input conv runs twice per step */                      \
    X(ESNN_KERNEL_CONV_STREAM)     /* spike conv whose current keeps a window of rows (stream.c) */     \
    X(ESNN_KERNEL_OTHER)           /* MAXPOOL, LOGIC, READOUT fast kernels */
#define ESNN_KERNEL_ENUM_(name) name,
typedef enum { ESNN_KERNEL_LIST(ESNN_KERNEL_ENUM_) ESNN_KERNEL_COUNT } esnn_kernel_t;
#undef ESNN_KERNEL_ENUM_
#ifdef ESNN_TRACE
uint32_t esnn_trace_kernels(const esnn_ctx_t *ctx, uint16_t op);
/* Whether the plan keeps buffer `buffer`'s T steps of spikes T-packed: 1 + log2 of the bits a step takes per
 * pixel, 0 when not (plan.c "T-packed spikes"). */
uint32_t esnn_trace_packed(const esnn_ctx_t *ctx, uint16_t buffer);
#endif

/* What the loader read from the blob header, for callers that report on the model (the serial protocol's
 * INFO): 0 when the context is not initialised. Flags: FORMAT.md header flags (bit 0 LAYER_MAJOR, bit 1
 * STATIC_INPUT). CRC: the blob's CRC32 (its last 4 bytes, checked at load). */
uint32_t esnn_flags(const esnn_ctx_t *ctx);
uint32_t esnn_blob_crc(const esnn_ctx_t *ctx);
uint16_t esnn_num_steps(const esnn_ctx_t *ctx);   /* T */
uint16_t esnn_num_classes(const esnn_ctx_t *ctx);
/* Shape of buffer 0 (the u8 input frame): channels, height, width; each pointer may be NULL. */
void esnn_input_shape(const esnn_ctx_t *ctx, uint16_t *c, uint16_t *h, uint16_t *w);

#ifdef __cplusplus
}
#endif
#endif /* ESNN_H */
