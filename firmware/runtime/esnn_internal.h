/* esnn_internal.h - validated model structures and portable integer helpers (not part of the API). */
#ifndef ESNN_INTERNAL_H
#define ESNN_INTERNAL_H

#include <string.h>
#include "esnn.h"
#include "esnn_bytes.h"

/* Enums, flag bits, record sizes and field offsets of the format: generated from export/schema.toml. */
#include "esnn_format.h"
#if ESNN_FORMAT_GENERATOR_VERSION != 1
#error "esnn_format.h comes from another export/gen_format.py: run python export/gen_format.py"
#endif
#if ESNN_FORMAT_SPEC_MAJOR != ESNN_FORMAT_MAJOR || ESNN_FORMAT_SPEC_MINOR > ESNN_FORMAT_MINOR_MAX
#error "export/schema.toml describes a format version this runtime does not accept (esnn.h ESNN_FORMAT_*)"
#endif
/* Error strings, compiled out with -DESNN_NO_ERRMSG (esnn_error_t.field is then ""). */
#ifdef ESNN_NO_ERRMSG
#define ESNN_MSG(s) ""
#else
#define ESNN_MSG(s) s
#endif

/* Schedule bits of a validated op: FUSED, a STATIC conv and its LIF run as one kernel over all T at step 0;
 * FIRST, the op begins a segment (LAYER_MAJOR); RECOMPUTE, an ATTN whose input conv (the op before) runs twice
 * per step instead of storing all T steps. */
#define ESNN_SCHED_FUSED 1u
#define ESNN_SCHED_FIRST 2u
#define ESNN_SCHED_RECOMPUTE 4u
/* STREAM: a CONV whose int16 current lives in a window of rows (stream.c, plan.c "row streams"); INSTREAM: an
 * op (the LIF, or the recomputed ATTN and its LIF) that runs inside that conv, row by row. */
#define ESNN_SCHED_STREAM 8u
#define ESNN_SCHED_INSTREAM 16u
/* STAGED: a LIF inside a stream whose T-packed output steps are staged in the view of that conv's T-packed
 * input (its rows land behind the rows the conv still reads) rather than after its membranes. */
#define ESNN_SCHED_STAGED 32u

struct esnn_buffer {
    uint8_t kind;
    uint8_t pack;      /* T-packed spikes (plan.c "T-packed spikes"): 1 + log2 of the bits a step takes per
                        * pixel (1..5: 1..16 bits); 0: one slot of `words` per step */
    uint16_t c, h, w;
    uint16_t cw;       /* SPIKES: uint32 words per pixel, ceil(c / 32) */
    uint32_t words;    /* uint32 words per step */
    uint16_t steps;    /* steps held: T (LAYER_MAJOR) or 1 */
    uint32_t stride;   /* uint32 words from one step's slot to the next: words, or words / 2 for a compact int16
                        * plane (plan.c "arena plan": CURRENT buffers whose only reader takes int16); T-packed:
                        * words per pixel, all T steps */
    uint32_t *data;    /* NULL for buffer 0 (the caller's input) */
};

struct esnn_op {
    uint8_t opcode, flags;
    uint16_t in0, in1, out;
    /* CONV / READOUT */
    uint16_t cin, cout; /* READOUT: channels, classes */
    uint8_t kh, kw, stride, pad, bits;
    /* LIF */
    uint8_t state_bits;
    /* ATTN (kind: also the LOGIC mode); MAXPOOL: kh = kernel */
    uint8_t dim, kind, shift;
    /* Fast paths chosen at load time from exact bounds (plan.c "fast paths"); the reference kernels ignore
     * them. CONV: acc16 = every accumulator provably fits int16 (|bias| + sum |w| <= 32767): accumulate in
     * int16; cur16 = the output stays an int16 plane (ESNN_CUR16 layout) for its one reader, a LIF.
     * LIF: cur16 = reads that int16 plane, its state (16-bit) in the same layout. ATTN: in16 = its input is
     * such a plane (from an acc16 CONV, at the start of each step's slot), cur16 = its output too (for its one
     * reader, a cur16 LIF; every output value provably in 0..32767); a32 = 32-bit sums and products are exact
     * for its input bound (esnn_attn_fast32; implied by in16). */
    uint8_t acc16, cur16, in16, a32;
    uint8_t sched; /* ESNN_SCHED_* (plan.c "segments", "fused static layer") */
    uint16_t lif_index;
    uint32_t leak_mul;
    uint16_t n, hidden, levels;
#ifdef ESNN_TRACE
    uint16_t ran; /* kernel variants that ran since the last reset, bit set over esnn_kernel_t (in padding) */
#endif
    uint32_t bound; /* CONV/ATTN: bound on |output|, LIF: on |input| (0xFFFFFFFF: none known) */
    int32_t w2off;  /* ATTN T/C: w2 at w + w2off (an offset, not a pointer: the record fits ESNN_OP_SLOT) */
    const uint8_t *w;    /* weights (CONV/READOUT), w1 (ATTN) */
    const uint8_t *bias; /* CONV/READOUT bias (i32 LE), LIF thresholds, ATTN table */
    void *state; /* LIF: membranes; CONV / ATTN: the op's scratch (arena items, plan.c); NULL when none */
};

/* Record that kernel variant k (esnn_kernel_t) ran for op o: ESNN_TRACE builds only, else nothing. The op
 * records live in the caller's arena (never const objects), so the kernels' const pointer may write it. */
#ifdef ESNN_TRACE
typedef char esnn_trace_kernels_fit[(ESNN_KERNEL_COUNT <= 16) ? 1 : -1];
#define ESNN_TRACE_RAN(o, k) (((esnn_op_t *)(o))->ran |= (uint16_t)(1u << (k)))
#else
#define ESNN_TRACE_RAN(o, k) ((void)0)
#endif

/* int16 current planes (CONV acc16 / cur16): [pixel][cout] int16 with, on Cortex-M4 SIMD builds, channels
 * permuted within each group of 4 as (0, 2, 1, 3) so that sxtb16 of a weight word (bytes 0 and 2, then 1 and
 * 3) adds onto one accumulator word. ESNN_CUR16_POS(c): the int16 slot of channel c. */
#if defined(__ARM_FEATURE_SIMD32) && defined(__ARMEL__) && !defined(ESNN_NO_ASM)
#define ESNN_SIMD32 1
#define ESNN_CUR16_POS(c) (((c) & ~3u) | (((c) & 1u) << 1) | (((c) >> 1) & 1u))
#else
#define ESNN_SIMD32 0
#define ESNN_CUR16_POS(c) (c)
#endif

/* Kernels that must stay out of line (their callers keep values in registers the asm kernels clobber). */
#if defined(__GNUC__) || defined(__clang__)
#define ESNN_NOINLINE __attribute__((noinline))
#else
#define ESNN_NOINLINE
#endif

/* Step t's slot of a buffer (one slot when it holds one step); NULL for a buffer without storage (the input,
 * a fused layer's current: pointer arithmetic on NULL, even + 0, is undefined). */
static inline uint32_t *esnn_slot(const esnn_buffer_t *b, uint32_t t) {
    return b->data ? b->data + (b->steps > 1 ? t * b->stride : 0) : NULL;
}
/* T-packed spikes: step t of pixel p in word p * stride + (t >> esnn_pack_shift(b)), at bit
 * (t mod steps per word) * esnn_pack_bits(b). */
static inline uint32_t esnn_pack_bits(const esnn_buffer_t *b) { return 1u << (b->pack - 1u); }
static inline uint32_t esnn_pack_shift(const esnn_buffer_t *b) { return 6u - b->pack; }
/* Output rows a streamed conv keeps (plan.c "row streams"): every output row one input row reaches, at most
 * (kh - 1) / stride + 1, and no more than the map has. */
static inline uint32_t esnn_stream_rows(uint32_t kh, uint32_t stride, uint32_t oh) {
    const uint32_t r = (kh - 1u) / stride + 1u;
    return r < oh ? r : oh;
}

/* Little-endian readers (esnn_rd16/32/64): esnn_bytes.h. */
/* Two's complement reinterpretation without implementation-defined conversions. */
static inline int32_t esnn_s32(uint32_t u) {
    return u <= 0x7FFFFFFFu ? (int32_t)u : (int32_t)(u - 0x80000000u) - 0x7FFFFFFF - 1;
}
static inline int64_t esnn_s64(uint64_t u) {
    return u <= 0x7FFFFFFFFFFFFFFFull ? (int64_t)u
                                      : (int64_t)(u - 0x8000000000000000ull) - 0x7FFFFFFFFFFFFFFFll - 1;
}
static inline int16_t esnn_s16(uint16_t u) { return u <= 0x7FFF ? (int16_t)u : (int16_t)((int32_t)u - 65536); }
/* 4-aligned (in the blob) little-endian int32: one load on little-endian targets (the blob base itself may be
 * unaligned: memcpy lets the compiler pick an unaligned-safe load). */
static inline int32_t esnn_ld32(const uint8_t *p) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    int32_t v;
    memcpy(&v, p, 4);
    return v;
#else
    return esnn_s32(esnn_rd32(p));
#endif
}
/* floor(v / 2^s) for 0 <= s <= 62. GCC and Clang define >> of a negative value as an arithmetic shift (one
 * instruction pair); elsewhere it is written without relying on that (implementation-defined in C99). */
#if defined(__GNUC__) || defined(__clang__)
static inline int64_t esnn_asr64(int64_t v, unsigned s) { return v >> s; }
#else
static inline int64_t esnn_asr64(int64_t v, unsigned s) { return v >= 0 ? v >> s : -1 - ((-1 - v) >> s); }
#endif

/* floor(v / 2^s) for 0 <= s <= 31 in 32 bits (as esnn_asr64). */
#if defined(__GNUC__) || defined(__clang__)
static inline int32_t esnn_asr32(int32_t v, unsigned s) { return v >> s; }
#else
static inline int32_t esnn_asr32(int32_t v, unsigned s) { return v >= 0 ? v >> s : -1 - ((-1 - v) >> s); }
#endif

/* Signed weight i of an array of `bits` (4: two per byte, low nibble first; 8; 16 LE). */
static inline int32_t esnn_weight(const uint8_t *w, uint32_t i, uint8_t bits) {
    if (bits == 8) return ((const int8_t *)w)[i]; /* int8_t is two's complement by definition */
    if (bits == 16) return esnn_s16(esnn_rd16(w + 2u * i));
    {
        uint32_t nib = (i & 1u) ? (uint32_t)(w[i >> 1] >> 4) : (uint32_t)(w[i >> 1] & 0xF);
        return (int32_t)(nib ^ 8u) - 8;
    }
}

static inline unsigned esnn_ctz32(uint32_t x) {
#if defined(__GNUC__) || defined(__clang__)
    return (unsigned)__builtin_ctz(x);
#else
    unsigned n = 0;
    while (!(x & 1u)) { x >>= 1; n++; }
    return n;
#endif
}

static inline uint32_t esnn_popcount32(uint32_t x) {
    x = x - ((x >> 1) & 0x55555555u);
    x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
    x = (x + (x >> 4)) & 0x0F0F0F0Fu;
    return (x * 0x01010101u) >> 24;
}

#endif /* ESNN_INTERNAL_H */
