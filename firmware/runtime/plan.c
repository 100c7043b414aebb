/* plan.c - the arena plan (int16 planes, fused static layer, segments, placement) and the fast paths chosen
 * once per model; edgesnn/export/passes/memory.py computes the same plan. */
#include "esnn_load.h"
#include "kernels/attn.h"

/* ---- arena plan ------------------------------------------------------------------------------------
 * The schedule runs segments: a maximal run of non-ATTN ops executes time-major (all its ops for step 0,
 * then step 1, ...), an ATTN op is a segment of its own over all T steps. A buffer written and last read
 * in the same segment holds ONE step; one that crosses a segment boundary (an ATTN op's input or output,
 * or a shortcut around it) holds all T. Without LAYER_MAJOR segments split only after LIFs (choose_splits).
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
/* ---- int16 planes ----------------------------------------------------------------------------------
 * The fast kernels keep a CONV's current as an int16 plane for its one reader when every value provably fits
 * (acc16: 8-bit weights on spikes, cout % 8 == 0, |bias| + sum |w| <= 32767) and that reader takes one: a
 * LIF with a 16-bit state, a power-of-two leak and thresholds <= 32767 in 32-channel blocks of 8, 16 or 32
 * channels, or an ATTN whose statistics fit 32 bits (a32), whose own output stays an int16 plane for a LIF
 * that takes one when it fits. The lean plan gives such buffers int16 storage (half the bytes; step slots
 * `stride` words apart); plan_fast_paths below makes the same decisions on the validated ops, and esnn_init
 * checks that they agree. Decided while the ops are parsed (no op storage needed). */
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
void esnn_plan_note_op(loader_t *L, const esnn_op_t *o) {
    note_read(L, o->in0);
    if (o->opcode == ESNN_OP_LOGIC) note_read(L, o->in1);
    if (o->opcode == ESNN_OP_LOGIC || o->opcode == ESNN_OP_MAXPOOL || o->opcode == ESNN_OP_READOUT) {
        set_bit(L->spk_other, o->in0); /* spikes read by more than a spike conv: never T-packed */
        if (o->opcode == ESNN_OP_LOGIC) set_bit(L->spk_other, o->in1);
    }
    if (o->opcode == ESNN_OP_READOUT) return;
    L->bnd[o->out] = 0xFFFFu;
    if (o->opcode == ESNN_OP_CONV) {
        const uint32_t bound = o->in0 != 0 && o->bits == 8 && o->cout % 8u == 0 ? conv_bound(o) : 0xFFFFFFFFu;
        set_bit(L->conv_out, o->out);
        L->src[o->out] = (uint8_t)o->in0; /* 0: a conv on the u8 frame, which streams one row at a time */
        L->wrows[o->out] = (uint8_t)(o->in0 == 0 ? 1u : esnn_stream_rows(o->kh, o->stride, buf_dim(L, o->out, 1)));
        if (o->stride == 1 && buf_dim(L, o->out, 1) == buf_dim(L, o->in0, 1) &&
            buf_dim(L, o->out, 2) == buf_dim(L, o->in0, 2) && 2u * o->pad + 1u == o->kh && o->cout <= 32u * ((o->cin + 31u) / 32u))
            set_bit(L->rowsafe, o->out);
        if (bound <= 32767u) L->bnd[o->out] = (uint16_t)bound;
    } else if (o->opcode == ESNN_OP_LIF) {
        if (lif_takes16(o, buf_dim(L, o->in0, 0))) set_bit(L->lif16, o->in0);
        L->src[o->out] = (uint8_t)o->in0;
        if (bit_set(L->pinned, o->in0) && L->def[o->in0] + 1u == L->def[o->out]) /* right after its conv */
            set_bit(L->static_lif, o->out);
    } else if (o->opcode == ESNN_OP_ATTN) {
        esnn_buffer_t shape;
        set_bit(L->attn_out, o->out);
        L->src[o->out] = (uint8_t)o->in0;
        L->wrows[o->out] = L->wrows[o->in0];
        if (o->dim == ESNN_ATTN_S) set_bit(L->attn_pix, o->out);
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
    if (b == 0) return 1;
    if (!(L->flags & ESNN_FLAG_LAYER_MAJOR)) /* all T only across a split (choose_splits) */
        return seg_start(L, L->def[b]) != seg_start(L, L->last[b]) ? L->T : 1;
    if (L->no_reuse || bit_set(L->solo, L->def[b]) || seg_start(L, L->def[b]) != seg_start(L, L->last[b]))
        return L->T;
    return 1;
}
/* Bytes of one step: int16 for a compact plane, else uint32 words. */
static uint64_t step_bytes(const loader_t *L, uint32_t b) {
    if (bit_set(L->sbuf, b))
        return (bit_set(L->half, b) ? 2u : 4u) * (uint64_t)L->wrows[b] * buf_dim(L, b, 2) * buf_dim(L, b, 0);
    return (bit_set(L->half, b) ? 2u : 4u) * (uint64_t)buffer_words(L, b);
}

/* ---- row streams ------------------------------------------------------------------------------------
 * A CONV whose output is an int16 plane of one step read by the LIF right after it streams (stream.c): its
 * buffer holds esnn_stream_rows() rows, and the LIF runs inside it row by row; so does a conv on the u8 frame
 * read only by the LIF right after it, with an int32 window of one row (it gathers from the whole frame). So does one read by a
 * recomputed T or C ATTN right after it whose int16 output is read by the LIF right after the ATTN (the
 * statistics, then the weighting and the LIF, row by row; the ATTN output shares the window). What the ops
 * inside a stream write is live from the conv on (their rows are written while the conv still reads its
 * input); a LIF's T-step output may take over the storage of the conv's own input only where rows are
 * written behind the rows still to be read (rowsafe). The greedy pass of choose_segments keeps a conv whole
 * (nostream) wherever streaming it does not make the arena smaller: a stream costs calls per row. */
static void decide_streams(loader_t *L) {
    uint32_t b, i;
    for (i = 0; i < 8; i++) L->stream[i] = L->instream[i] = 0;
    for (i = 0; i < (ESNN_MAX_BUFFERS + 31) / 32; i++) L->sbuf[i] = 0;
    if (L->int32_planes || L->no_reuse) return;
    for (b = 1; b < L->nb; b++) { /* b: a LIF's output; a: what it reads; c: the conv */
        uint32_t a, c, k;
        int u8;
        if (!bit_set(L->lif_out, b)) continue;
        a = L->src[b];
        c = bit_set(L->attn_out, a) ? L->src[a] : a;
        k = L->def[c];
        u8 = bit_set(L->conv_out, c) && L->src[c] == 0 && bit_set(L->rd1, c) && !bit_set(L->rdn, c);
        if (!bit_set(L->conv_out, c) || !(bit_set(L->half, c) || u8) || bit_set(L->fused, c) ||
            bit_set(L->pinned, c) || bit_set(L->nostream, k) || buf_steps(L, c) != 1)
            continue;
        if (a == c) { /* conv -> LIF */
            if (L->def[b] != k + 1u) continue;
            set_bit(L->instream, k + 1u);
        } else { /* conv -> recomputed T / C ATTN -> LIF, each right after the other */
            if (u8 || L->def[a] != k + 1u || L->def[b] != k + 2u || !bit_set(L->recomp, k + 1u) ||
                bit_set(L->attn_pix, a) || !bit_set(L->half, a))
                continue;
            set_bit(L->instream, k + 1u);
            set_bit(L->instream, k + 2u);
            set_bit(L->sbuf, a);
        }
        set_bit(L->stream, k);
        set_bit(L->sbuf, c);
    }
}
/* The op a stream's inner op k runs inside (k itself otherwise). */
static uint32_t run_start(const loader_t *L, uint32_t k) {
    while (k > 0 && bit_set(L->instream, k)) k--;
    return k;
}
/* The conv heading the stream whose LIF writes buffer b. */
static uint32_t stream_conv_out(const loader_t *L, uint32_t b) {
    const uint32_t c = L->src[b];
    return bit_set(L->attn_out, c) ? L->src[c] : c;
}
/* ---- T-packed spikes -------------------------------------------------------------------------------
 * A LIF's spikes of at most 16 channels that cross a segment boundary (T steps held), read by spike CONVs
 * alone, keep a pixel's T steps in ceil(T / steps per word) words instead of T (pack.h): a step takes the
 * next power of two >= C bits. The LIF writes a step into a staging area after its membranes (its state item
 * grows by one step of one word per pixel; a fused static LIF writes packed bits directly) and packs it; each
 * reading CONV unpacks the step into a view after its kernel scratch (its scratch item grows by one step), so
 * every kernel sees the ordinary one-step layout. A T-packed buffer shares storage only with T-packed buffers
 * of the same layout (step t's bits are step t's bits); the writer packs after the step's readers unpacked,
 * so no row-order condition applies. Packing costs two passes over one step's words per step: the greedy
 * pass (choose_packs) keeps a storage group unpacked wherever packing it does not make the arena smaller. */
static uint32_t pack_code(uint32_t c) { /* 1 + log2 of the bits per step: 1..5 for c in 1..16 */
    uint32_t k = 1;
    while ((1u << (k - 1u)) < c) k++;
    return k;
}
/* Words per pixel of a T-packed buffer of c channels. */
static uint32_t pack_words(const loader_t *L, uint32_t c) {
    const uint32_t sl = 6u - pack_code(c);
    return ((uint32_t)L->T + (1u << sl) - 1u) >> sl;
}
static void decide_packs(loader_t *L) {
    uint32_t b;
    for (b = 0; b < (ESNN_MAX_BUFFERS + 31) / 32; b++) L->packed[b] = 0;
    if (L->int32_planes || L->no_reuse || L->T < 2) return;
    for (b = 1; b < L->nb; b++)
        if (bit_set(L->lif_out, b) && buf_dim(L, b, 0) <= 16u && buf_steps(L, b) > 1 && !bit_set(L->spk_other, b) &&
            !bit_set(L->nopack, b))
            set_bit(L->packed, b);
}
static uint64_t buf_bytes(const loader_t *L, uint32_t b) {
    if (bit_set(L->packed, b))
        return align8(4u * (uint64_t)buf_dim(L, b, 1) * buf_dim(L, b, 2) * pack_words(L, buf_dim(L, b, 0)));
    return align8(step_bytes(L, b) * buf_steps(L, b));
}
/* A LIF's T-packed output b staged in the view of the conv it streams inside (ESNN_SCHED_STAGED): that conv
 * reads a T-packed input and its output rows land behind the input rows it still reads (rowsafe), as a T-step
 * output may take over its input's storage ("row streams"). Then the LIF's state item holds no staging. */
static int staged_in_view(const loader_t *L, uint32_t b) {
    uint32_t c;
    if (!bit_set(L->packed, b) || !bit_set(L->instream, L->def[b])) return 0;
    c = stream_conv_out(L, b);
    return bit_set(L->rowsafe, c) && bit_set(L->packed, L->src[c]);
}
/* One step of b's spikes at one word per pixel: a LIF's staging or a CONV's view of a T-packed buffer. */
static uint64_t view_bytes(const loader_t *L, uint32_t b) { return 4u * (uint64_t)buf_dim(L, b, 1) * buf_dim(L, b, 2); }
/* The staging of the LIF writing T-packed buffer b: a step; inside a stream, the rows of its conv's window
 * (the LIF runs on at most that many rows at a time and packs them at once); none when fused or STAGED. */
static uint64_t staging_bytes(const loader_t *L, uint32_t b) {
    if (!bit_set(L->packed, b) || bit_set(L->fused_out, b) || staged_in_view(L, b)) return 0;
    if (bit_set(L->instream, L->def[b])) return 4u * (uint64_t)L->wrows[stream_conv_out(L, b)] * buf_dim(L, b, 2);
    return view_bytes(L, b);
}

/* Storage groups of T-step buffers (root[], hi[], cur[]), in op order. */
static int same_pack(const loader_t *L, uint32_t a, uint32_t b) {
    return buf_dim(L, a, 1) == buf_dim(L, b, 1) && buf_dim(L, a, 2) == buf_dim(L, b, 2) &&
           pack_code(buf_dim(L, a, 0)) == pack_code(buf_dim(L, b, 0));
}
static void group_buffers(loader_t *L) {
    uint32_t b, k, r, h0;
    int pk;
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
        h0 = run_start(L, k0);
        pk = bit_set(L->packed, b);
        for (r = 1; r < L->nb; r++) {
            k = L->hi[r];
            if (L->root[r] != r || r == b || buf_steps(L, r) == 1 || k >= k0 || bit_set(L->solo, k) ||
                seg_start(L, k) != seg_start(L, k0) || pk != bit_set(L->packed, L->cur[r]))
                continue;
            if (pk ? !same_pack(L, b, L->cur[r])
                   : step_bytes(L, b) > step_bytes(L, L->cur[r]) ||
                         (k >= h0 && !(k == h0 && bit_set(L->rowsafe, stream_conv_out(L, b)))))
                continue;
            L->root[b] = (uint8_t)r;
            L->hi[r] = L->last[b];
            L->cur[r] = (uint8_t)b;
            break;
        }
    }
}

/* Item i: buffer i (i < nb; only group roots, never buffer 0), or for the op writing buffer i - nb: a LIF's
 * membranes, a CONV's or an ATTN's scratch (the kernels' tap tables, the attention statistics). */
static int item_used(const loader_t *L, uint32_t i) {
    if (i < L->nb) return i > 0 && L->root[i] == i && !bit_set(L->fused, i);
    i -= L->nb;
    if (bit_set(L->lif_out, i)) return L->keep_states || !bit_set(L->fused_out, i);
    if (bit_set(L->conv_out, i) && bit_set(L->packed, L->src[i])) return 1; /* the view of its T-packed input */
    return (bit_set(L->conv_out, i) || bit_set(L->attn_out, i)) && L->oscr[i] > 0;
}
static uint64_t item_bytes(const loader_t *L, uint32_t i) {
    uint64_t n;
    if (i < L->nb) return buf_bytes(L, i);
    i -= L->nb;
    if (!bit_set(L->lif_out, i)) /* a conv's scratch, then the view of its T-packed input */
        return align8(align8(L->oscr[i]) + (bit_set(L->conv_out, i) && bit_set(L->packed, L->src[i]) ? view_bytes(L, L->src[i]) : 0u));
    /* one membrane per neuron of the LIF's output shape, then the staging of a T-packed output */
    n = align8((uint64_t)buf_dim(L, i, 0) * buf_dim(L, i, 1) * buf_dim(L, i, 2) * (bit_set(L->state16, i) ? 2u : 4u));
    return align8(n + staging_bytes(L, i));
}
static void live_range(const loader_t *L, uint32_t i, uint32_t *lo, uint32_t *hi) {
    if (i >= L->nb && bit_set(L->conv_out, i - L->nb)) { /* a conv's scratch: while it runs */
        *lo = *hi = L->def[i - L->nb];
    } else if (i >= L->nb && bit_set(L->attn_out, i - L->nb)) {
        /* ATTN statistics: over its segment (a recomputed conv runs between its two passes) */
        *lo = seg_start(L, L->def[i - L->nb]);
        *hi = seg_end(L, L->def[i - L->nb]);
    } else if (i >= L->nb) {
        *lo = seg_start(L, L->def[i - L->nb]);
        *hi = L->keep_states ? L->nops - 1u : seg_end(L, L->def[i - L->nb]);
    } else if (buf_steps(L, i) > 1 || bit_set(L->pinned, i)) {
        *lo = seg_start(L, L->def[i]);
        *hi = seg_end(L, L->hi[i]);
    } else {
        *lo = run_start(L, L->def[i]);
        *hi = L->hi[i];
    }
}
/* Fills L->off[] and returns the bytes of the planned region. */
static uint64_t plan_buffers(loader_t *L) {
    uint32_t placed[(2 * ESNN_MAX_BUFFERS + 31) / 32];
    const uint32_t n_items = 2u * L->nb;
    uint64_t total = 0;
    uint32_t b, j;
    decide_streams(L);
    decide_packs(L);
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
 * Without LAYER_MAJOR the graph is time-major segments split after LIFs where that saves arena (choose_splits;
 * one segment with ESNN_OPT_REFERENCE and for the unplanned size). With LAYER_MAJOR:
 * - the plain schedule (ESNN_OPT_REFERENCE, and the unplanned size): every ATTN op is a segment of its own
 *   over all T (its input current stored for all T), the runs of other ops between them time-major;
 * - the lean schedule: a segment also ends after a LIF whose T steps of spikes take no more than its state and
 *   one step (the next layer then runs layer-major: one state alive, not all of the run's), and an ATTN whose
 *   input is a non-STATIC conv read by it alone is recomputed: its segment starts at that conv, which runs
 *   twice per step, for the statistics and then for the weighting (no current is kept beyond one step).
 *   Then, deepest first, each recomputed ATTN goes back to storing its input wherever that leaves the arena
 *   no larger (it saves the conv's second run), or with ESNN_OPT_FAST within the budget. */
static void set_solo(loader_t *L, uint32_t k) {
    set_bit(L->solo, k);
    set_bit(L->first, k);
    if (k + 1u < L->nops) set_bit(L->first, k + 1u);
}
/* Then (every schedule), deepest first, each streamed conv back to a whole plane wherever that leaves the
 * arena no larger (ESNN_OPT_FAST: within the budget). */
static void choose_streams(loader_t *L) {
    uint32_t k;
    uint64_t best;
#ifdef ESNN_TEST_STREAM_ALL /* test builds (make streams, qemu-test-streams): every stream the rules allow */
    return;
#endif
    best = plan_buffers(L);
    if (L->region_budget > best) best = L->region_budget; /* ESNN_OPT_FAST: spend the budget */
    for (k = L->nops; k-- > 0;) {
        if (!bit_set(L->stream, k)) continue;
        set_bit(L->nostream, k);
        if (plan_buffers(L) > best) L->nostream[k >> 5] &= ~(1u << (k & 31u));
    }
}
/* Then (every schedule, before the streams), deepest first by writer, each storage group of T-packed buffers
 * back to a word per step, all its members at once (one alone could no longer share the group's storage),
 * wherever that leaves the arena no larger (ESNN_OPT_FAST: within the budget): a budget spends itself on
 * unpacking before it keeps convs whole. */
static void choose_packs(loader_t *L) {
    uint32_t group[(ESNN_MAX_BUFFERS + 31) / 32];
    uint64_t best;
    uint32_t k, b, c, i;
    int stale = 0; /* packed[] and root[] hold a rejected trial, not the choices so far */
#ifdef ESNN_TEST_STREAM_ALL /* test builds: every T-packed buffer the rules allow */
    return;
#endif
    best = plan_buffers(L);
    if (L->region_budget > best) best = L->region_budget;
    for (k = L->nops; k-- > 0;)
        for (b = 1; b < L->nb; b++) {
            if (L->def[b] != k || !bit_set(L->lif_out, b)) continue;
            if (stale) (void)plan_buffers(L);
            stale = 0;
            if (!bit_set(L->packed, b)) continue;
            for (i = 0; i < (ESNN_MAX_BUFFERS + 31) / 32; i++) group[i] = 0;
            for (c = 1; c < L->nb; c++)
                if (bit_set(L->packed, c) && L->root[c] == L->root[b]) set_bit(group, c);
            for (i = 0; i < (ESNN_MAX_BUFFERS + 31) / 32; i++) L->nopack[i] |= group[i];
            if (plan_buffers(L) > best) {
                for (i = 0; i < (ESNN_MAX_BUFFERS + 31) / 32; i++) L->nopack[i] &= ~group[i];
                stale = 1;
            }
        }
}
/* Without LAYER_MAJOR (lean and ESNN_OPT_FAST plans, not ESNN_OPT_REFERENCE's): a segment may start after any
 * LIF when no later op reads the input frames (esnn_step runs the first segment with each frame and the
 * others after the T-th, layer by layer) and T steps of every buffer stay in this runtime's range. Deepest
 * first, each split is dropped again wherever that leaves the arena no larger (or within the budget): a
 * graph that gains nothing stays one time-major segment. Splits cost no instructions: the same kernels run
 * in another order, and the buffers crossing a split hold T steps of bit-packed spikes instead of every
 * later layer's membranes being alive at once. */
static void choose_splits(loader_t *L) {
    const int stat = (L->flags & ESNN_FLAG_STATIC_INPUT) != 0;
    uint64_t best;
    uint32_t b, k;
    for (b = 1; b < L->nb; b++)
        if ((uint64_t)buffer_words(L, b) * L->T > MAX_STEP_WORDS_TOTAL) return;
    for (b = 1; b < L->nb; b++) {
        const uint32_t k0 = L->def[b];
        if (bit_set(L->lif_out, b) && k0 + 1u < L->nops && (stat || L->last[0] <= k0)) set_bit(L->first, k0 + 1u);
    }
    best = plan_buffers(L);
    if (L->region_budget > best) best = L->region_budget; /* ESNN_OPT_FAST: spend the budget */
    for (k = L->nops; k-- > 1;) {
        if (!bit_set(L->first, k)) continue;
        L->first[k >> 5] &= ~(1u << (k & 31u));
        if (plan_buffers(L) > best) set_bit(L->first, k);
    }
}
static void choose_segments(loader_t *L) {
    uint32_t i, k, b;
    uint64_t best;
    for (i = 0; i < 8; i++) L->first[i] = L->solo[i] = L->recomp[i] = L->nostream[i] = 0;
    set_bit(L->first, 0);
    for (i = 0; i < (ESNN_MAX_BUFFERS + 31) / 32; i++) L->nopack[i] = 0;
    if (!(L->flags & ESNN_FLAG_LAYER_MAJOR)) {
        if (!L->int32_planes) choose_splits(L);
        choose_packs(L);
        choose_streams(L);
        return;
    }
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
    if (L->region_budget > best) best = L->region_budget; /* ESNN_OPT_FAST: spend the budget */
#ifdef ESNN_TEST_STREAM_ALL /* and every eligible ATTN recomputed */
    k = 0;
#else
    k = L->nops;
#endif
    for (; k-- > 1;) {
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
    choose_packs(L);
    choose_streams(L);
}

/* Fixed part of the arena (before the buffer data). */
uint64_t esnn_plan_fixed_bytes(const loader_t *L) {
    return align8((uint64_t)ESNN_OP_SLOT * L->nops) + align8((uint64_t)ESNN_BUFFER_SLOT * L->nb) +
           align8(4u * (uint64_t)L->classes) + align8(4u * (uint64_t)L->num_lif);
}

uint64_t esnn_plan_arena(loader_t *L) {
    const uint64_t fixed = esnn_plan_fixed_bytes(L);
    L->region_budget = L->budget > fixed ? L->budget - fixed : 0;
    decide_planes(L);
    decide_fused(L);
    choose_segments(L);
    L->buf_bytes = plan_buffers(L);
    return esnn_plan_fixed_bytes(L) + L->buf_bytes;
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

esnn_status_t esnn_plan_place(loader_t *L, esnn_ctx_t *ctx, uint8_t *base) {
    uint32_t i;
    for (i = 0; i < L->nb; i++) {
        esnn_buffer_t *bf = &ctx->buffers[i];
        bf->kind = (uint8_t)buf_kind(L, i);
        bf->pack = (uint8_t)(bit_set(L->packed, i) ? pack_code(buf_dim(L, i, 0)) : 0u);
        bf->c = (uint16_t)buf_dim(L, i, 0);
        bf->h = (uint16_t)buf_dim(L, i, 1);
        bf->w = (uint16_t)buf_dim(L, i, 2);
        bf->cw = (uint16_t)((bf->c + 31u) / 32u);
        bf->words = buffer_words(L, i);
        bf->steps = buf_steps(L, i);
        bf->stride = bf->pack ? pack_words(L, bf->c) : bit_set(L->half, i) ? bf->words / 2u : bf->words;
        bf->data = i == 0 || bit_set(L->fused, i) ? NULL : (uint32_t *)(void *)(base + L->off[L->root[i]]);
    }
    for (i = 0; i < L->nops; i++) {
        esnn_op_t *o = &ctx->ops[i];
        /* a LIF's membranes, a CONV's or an ATTN's scratch */
        o->state = o->opcode != ESNN_OP_READOUT && item_used(L, L->nb + o->out) ? (void *)(base + L->off[L->nb + o->out])
                                                                                  : NULL;
        o->sched = (uint8_t)(((o->opcode == ESNN_OP_CONV && bit_set(L->fused, o->out)) ||
                              (o->opcode == ESNN_OP_LIF && bit_set(L->fused_out, o->out)))
                                 ? ESNN_SCHED_FUSED
                                 : 0u);
        if (bit_set(L->first, i)) o->sched |= ESNN_SCHED_FIRST;
        if (bit_set(L->recomp, i)) o->sched |= ESNN_SCHED_RECOMPUTE;
        if (bit_set(L->stream, i)) o->sched |= ESNN_SCHED_STREAM;
        if (bit_set(L->instream, i)) o->sched |= ESNN_SCHED_INSTREAM;
        if (o->opcode == ESNN_OP_LIF && staged_in_view(L, o->out)) o->sched |= ESNN_SCHED_STAGED;
    }
    ctx->flags = L->flags;
    ctx->T = L->T;
    ctx->num_classes = L->classes;
    ctx->num_buffers = L->nb;
    ctx->num_ops = L->nops;
    ctx->num_lif = L->num_lif;
    plan_fast_paths(ctx);
    for (i = 0; i < L->nops; i++) { /* the plan's int16 planes are exactly the kernels' (a bug otherwise) */
        const esnn_op_t *o = &ctx->ops[i];
        if (!L->int32_planes && (o->opcode == ESNN_OP_CONV || o->opcode == ESNN_OP_ATTN) &&
            bit_set(L->half, o->out) != (int)o->cur16)
            return esnn_load_fail(L, ESNN_ERR_LIMIT, ESNN_MSG("int16 plane plan differs from the kernels' fast paths"), (int32_t)i, -1);
    }
    return ESNN_OK;
}
