"""Memory plan of a quantized graph, checked against a device profile.

RAM is exactly the arena the C runtime needs for the emitted blob (`esnn_arena_required`, firmware/runtime
plan.c "arena plan"); this module computes the same plan from the same model, so the report says what a
device really needs:

- fixed part: op records and buffer records (ESNN_OP_SLOT / ESNN_BUFFER_SLOT bytes each, the same on every
  target), READOUT accumulators and one spike counter per LIF op (int32 each), ATTN scratch (int64), kernel
  scratch (the largest `conv_scratch_bytes` over the spike convs: tap tables, not on the stack);
- planned region: every buffer but the input (spikes bit-packed in uint32 words per pixel, currents int32) and
  every LIF membrane state (int16/int32 per neuron). Segments: a maximal run of non-ATTN ops runs time-major,
  an ATTN op is a segment of its own over all T steps (without LAYER_MAJOR, segments split only after LIFs,
  where that lowers the arena: `_choose_splits`). A buffer holds one step unless it crosses a segment boundary
  (then T). Live ranges: [writer, last reader] for one-step buffers, whole segments for T-step buffers and
  STATIC conv outputs, from the start of its segment to the last op for a LIF state. T-step buffers share
  storage in groups (an ATTN op writes in place when its input dies there; a T-step buffer written in a
  time-major segment takes over a T-step group whose live member died earlier in that segment and is at least
  as large per step). A LIF state lives over its own segment (the lean plan a board runs, `esnn_init`); with
  `final_state=True` to the last op (`esnn_init_ex(..., ESNN_OPT_FINAL_STATE)`: esnn_final_state works after
  the run). A LIF's spikes of at most 16 channels held for T steps and read by spike convs alone may be
  T-packed (a pixel's T steps in ceil(T / steps per word) words; the LIF stages a step, each reading conv
  unpacks one: `pack_words`, plan.c "T-packed spikes"). Items are placed largest first at the lowest offset
  free over their live range.

The caller's input frames are not in the arena (the runtime reads them in place). Flash = the blob size.

A profile with runtime = "micropython" is checked with the MicroPython runtime's own figures instead
(`edgesnn.export.micropython_memory`: the heap bound of Model + one run + the protocol board's buffers, and
the model file plus the runtime's .py sources in 4 KiB filesystem blocks), named "MicroPython heap".
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import cast

import numpy as np

from edgesnn.devices import DeviceProfile
from edgesnn.export import ir, micropython_memory
from edgesnn.export.emit import to_model
from edgesnn.export.errors import ExportError
from edgesnn.format.layout import AttnDim, BufferKind
from edgesnn.format.model import Attn, Conv, Lif, Model, Readout

OP_SLOT = 72  # esnn_load.h ESNN_OP_SLOT: arena bytes per op record
BUFFER_SLOT = 32  # esnn_load.h ESNN_BUFFER_SLOT: arena bytes per buffer record


@dataclass(frozen=True)
class LayerMemory:
    name: str
    kind: str
    output_bytes: int  # the buffer this op writes, as planned (one step or T)
    state_bytes: int  # LIF membranes / readout accumulators
    live_bytes: int  # fixed part + every planned item live while this op runs

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "output_bytes": self.output_bytes,
                "state_bytes": self.state_bytes, "live_bytes": self.live_bytes}  # fmt: skip


@dataclass(frozen=True)
class MemoryPlan:
    schedule: str  # "time-major" or "layer-major"
    layers: tuple[LayerMemory, ...]
    peak_ram_bytes: int  # == esnn_arena_required of the emitted blob
    flash_bytes: int
    # the MicroPython runtime's figures (edgesnn.export.micropython_memory): heap bound of Model + run + the
    # protocol board's buffers on a 32-bit port, and the model file + runtime sources on the board's fs
    micropython_heap_bytes: int = 0
    micropython_flash_bytes: int = 0
    # the same with the C runtime inside MicroPython (esnn_native): its lean arena, the blob read into RAM and
    # the board's buffers, the module's code not included (micropython_memory.native_code_bytes per core)
    micropython_native_heap_bytes: int = 0

    def to_dict(self) -> dict:
        d = {"schedule": self.schedule, "peak_ram_bytes": self.peak_ram_bytes,
             "flash_bytes": self.flash_bytes, "layers": [r.to_dict() for r in self.layers]}  # fmt: skip
        if self.micropython_heap_bytes:
            d["micropython_heap_bytes"] = self.micropython_heap_bytes
            d["micropython_flash_bytes"] = self.micropython_flash_bytes
            d["micropython_native_heap_bytes"] = self.micropython_native_heap_bytes
        return d


@dataclass(frozen=True)
class ArenaItem:
    name: str  # "buffer <id>" or "state <op>"
    bytes: int
    first: int  # live range in op indices, inclusive
    last: int
    offset: int  # byte offset in the planned region


@dataclass(frozen=True)
class ArenaPlan:
    fixed_bytes: int
    region_bytes: int
    items: tuple[ArenaItem, ...]
    buffer_bytes: dict[int, int]  # buffer id -> planned bytes (one step or T), for every buffer but 0
    segments: Segments | None = None
    streams: Streams | None = None
    packed: frozenset[int] = frozenset()  # T-packed spike buffers (plan.c "T-packed spikes")

    @property
    def total_bytes(self) -> int:
        return self.fixed_bytes + self.region_bytes


def conv_scratch_bytes(op: Conv) -> int:
    """Kernel scratch of a conv (kernels/conv.c esnn_conv_scratch_bytes): spike list, axis taps and tap tables
    of a spike conv, tap offsets of the u8-input conv; from the geometry alone."""
    cin, kh, kw, cout = op.weights.shape
    if op.in0 == 0:  # the interior kernel's tap offsets
        return 8 * cin * kh * kw if op.weight_bits == 8 and cout % 4 == 0 and cin * kh * kw <= 64 else 0
    s = op.stride
    nr, nc = -(-kh // s), -(-kw // s)
    ncls = min(s, kw) + 2 * nr * kw
    if s == 1 and kw >= 2 and cout == 8 and cin <= 32:
        ncls = max(ncls, 32 + 2 * nr * (kw // 2))
    return 4 * (min(64, cin) + 2 * nr + 2 * nc + 2 * s + ncls + 1 + 2 * nr * nc)


def op_scratch_bytes(model: Model, op) -> int:
    """Scratch of a CONV (conv_scratch_bytes; a STATIC one may run fused with its LIF: kernels/static_lif.c)
    or an ATTN (int64 statistics and multipliers, kernels/attn.c esnn_attn_scratch); 0 for other ops. Each
    is an arena item of its own (loader.c L->oscr)."""
    if isinstance(op, Conv):
        size = conv_scratch_bytes(op)
        return max(size, 12 * min(32, op.weights.shape[3])) if op.static else size
    if isinstance(op, Attn):
        buf = model.buffers[op.in0]
        if op.dim == AttnDim.S:
            return 8 * 3 * buf.height * buf.width
        n = model.T if op.dim == AttnDim.T else buf.channels
        return 8 * (3 * n + int(op.w1.shape[0]))
    return 0


def _align8(n: int) -> int:
    return (n + 7) // 8 * 8


def _words(model: Model, b: int) -> int:
    buf = model.buffers[b]
    hw = buf.height * buf.width
    if buf.kind == BufferKind.SPIKES:
        return hw * ((buf.channels + 31) // 32)
    return hw * buf.channels if buf.kind == BufferKind.CURRENT else 0


def _conv_bound(op: Conv) -> int:
    """max over co of |bias| + vmax * sum |w| (plan.c conv_bound; vmax 255 for the u8 input, 1 for spikes)."""
    w = np.abs(op.weights.astype(np.int64)).reshape(-1, op.weights.shape[-1]).sum(axis=0)
    vmax = 255 if op.in0 == 0 else 1
    return int((np.abs(op.bias.astype(np.int64)) + vmax * w).max())


def _lif_takes16(op: Lif, channels: int) -> bool:
    """plan.c lif_takes16: a LIF that reads int16 planes (kernels/lif.c lif_cur16*)."""
    c = channels
    blocks_ok = c % 8 == 0 and not (c > 32 and c % 32) and c != 24
    return (
        op.state_bits == 16 and op.leak_mul & (op.leak_mul - 1) == 0 and blocks_ok
        and int(op.thresholds.max()) <= 32767
    )  # fmt: skip


def _attn_group_size(op: Attn, buf, T: int) -> int:
    hw = buf.height * buf.width
    return {AttnDim.T: hw * buf.channels, AttnDim.C: T * hw, AttnDim.S: T * buf.channels}[op.dim]


def half_planes(model: Model) -> set[int]:
    """CURRENT buffers the lean plan stores as int16 planes (plan.c "int16 planes", esnn_plan_note_op and
    decide_planes): an acc16 CONV output read once by a LIF or a 32-bit-statistics ATTN that takes it, and
    such an ATTN's output when it fits int16 and is read once by a LIF that takes it."""
    reads: dict[int, int] = {}
    bnd: dict[int, int] = {}
    lif16: set[int] = set()
    attn32: set[int] = set()
    conv_out: set[int] = set()
    attn_src: dict[int, int] = {}
    for op in model.ops:
        for b in (op.in0, getattr(op, "in1", None)):
            if b is not None:
                reads[b] = reads.get(b, 0) + 1
        if isinstance(op, Conv):
            conv_out.add(op.out)
            acc16 = op.in0 != 0 and op.weight_bits == 8 and op.weights.shape[-1] % 8 == 0
            if acc16 and (bound := _conv_bound(op)) <= 32767:
                bnd[op.out] = bound
        elif isinstance(op, Lif):
            if _lif_takes16(op, model.buffers[op.in0].channels):
                lif16.add(op.in0)
        elif isinstance(op, Attn):
            attn_src[op.out] = op.in0
            in_bound = bnd.get(op.in0)
            buf = model.buffers[op.in0]
            if (
                in_bound is not None
                and in_bound <= 65537
                and _attn_group_size(op, buf, model.T) * in_bound <= 0x7FFFFFFF
            ):
                attn32.add(op.in0)
                # = kind MA: Attn holds levels exactly for MA (its __post_init__ checks)
                mult = int(op.levels.max()) if op.levels is not None else 32768
                if (ob := in_bound * mult >> 15) <= 32767:
                    bnd[op.out] = ob
    half = {b for b in conv_out if b in bnd and reads.get(b) == 1 and (b in lif16 or b in attn32)}
    half |= {
        b for b, src in attn_src.items()
        if src in half and src in attn32 and b in bnd and reads.get(b) == 1 and b in lif16
    }  # fmt: skip
    return half


def fused_static(model: Model) -> set[int]:
    """LIF outputs of fused static first layers (plan.c decide_fused): a LIF right after the STATIC conv it
    alone reads, when T steps of its spikes are no larger than the current plane + state + one step."""
    reads: dict[int, int] = {}
    for op in model.ops:
        for b in (op.in0, getattr(op, "in1", None)):
            if b is not None:
                reads[b] = reads.get(b, 0) + 1
    out = set()
    for prev, op in zip(model.ops, model.ops[1:], strict=False):
        if not (isinstance(op, Lif) and isinstance(prev, Conv) and prev.static and prev.out == op.in0):
            continue
        buf = model.buffers[op.out]
        hw = buf.height * buf.width
        spk, cur = 4 * hw * ((buf.channels + 31) // 32), 4 * hw * model.buffers[op.in0].channels
        state = op.state_bits // 8 * hw * buf.channels
        if reads[op.in0] == 1 and model.T * spk <= cur + state + spk:
            out.add(op.out)
    return out


@dataclass(frozen=True)
class Segments:
    """The schedule of a LAYER_MAJOR graph (plan.c "segments"): the ops that begin a segment, the ATTN ops
    run alone over all T steps (input stored), and the ATTN ops whose input conv is recomputed; `whole`: the
    convs the greedy pass keeps as whole planes although they could stream (plan.c "row streams")."""

    first: frozenset[int]
    solo: frozenset[int]
    recompute: frozenset[int]
    whole: frozenset[int] = frozenset()
    unpacked: frozenset[int] = frozenset()  # buffers the greedy pass keeps at a word per step (choose_packs)


def stream_rows(op: Conv, out_height: int) -> int:
    """Output rows a streamed conv keeps (esnn_internal.h esnn_stream_rows): all one input row reaches; one
    for a conv on the u8 frame (it gathers each output row from the frame the caller holds)."""
    if op.in0 == 0:
        return 1
    return min((op.weights.shape[1] - 1) // op.stride + 1, out_height)


@dataclass(frozen=True)
class Streams:
    """plan.c decide_streams: the convs that stream (op indices), the ops that run inside them, and the
    buffers kept as windows of rows."""

    convs: frozenset[int]
    inner: frozenset[int]
    windows: frozenset[int]


def decide_streams(model: Model, seg: Segments, half: set[int], fused_in: set[int], steps) -> Streams:
    """A CONV whose int16 plane of one step is read by the LIF right after it streams; so does one read by a
    recomputed T or C ATTN right after it whose int16 output is read by the LIF right after the ATTN, and a
    conv on the u8 frame read only by the LIF right after it (an int32 window of one row)."""
    ops, convs, inner, windows, reads = model.ops, set(), set(), set(), _reads(model)
    for k, op in enumerate(ops):
        if not isinstance(op, Conv):
            continue
        b = op.out
        u8 = op.in0 == 0 and reads.get(b) == 1
        if not (b in half or u8) or b in fused_in or op.static or k in seg.whole:
            continue
        if k + 1 >= len(ops) or steps(b) != 1:
            continue
        nxt = ops[k + 1]
        if isinstance(nxt, Lif) and nxt.in0 == b and (u8 or b in half):
            convs.add(k)
            inner.add(k + 1)
            windows.add(b)
            continue
        if u8 or not (
            isinstance(nxt, Attn) and nxt.in0 == b and k + 1 in seg.recompute and nxt.dim != AttnDim.S
            and nxt.out in half and k + 2 < len(ops)
        ):  # fmt: skip
            continue
        lif = ops[k + 2]
        if isinstance(lif, Lif) and lif.in0 == nxt.out:
            convs.add(k)
            inner.update((k + 1, k + 2))
            windows.update((b, nxt.out))
    return Streams(frozenset(convs), frozenset(inner), frozenset(windows))


def _rowsafe(model: Model, op: Conv) -> bool:
    """plan.c esnn_plan_note_op: a stream may write its LIF's spikes over its own input row by row (stride 1,
    same size, no wider spike words)."""
    cin, kh, _, cout = op.weights.shape
    i, o = model.buffers[op.in0], model.buffers[op.out]
    return (
        op.stride == 1 and (o.height, o.width) == (i.height, i.width) and 2 * op.pad + 1 == kh
        and -(-cout // 32) <= -(-cin // 32)
    )  # fmt: skip


def _reads(model: Model) -> dict[int, int]:
    reads: dict[int, int] = {}
    for op in model.ops:
        for b in (op.in0, getattr(op, "in1", None)):
            if b is not None:
                reads[b] = reads.get(b, 0) + 1
    return reads


def choose_segments(
    model: Model,
    final_state: bool = False,
    reference: bool = False,
    every_stream: bool = False,
    budget: int | None = None,
) -> Segments:
    """plan.c choose_segments: without LAYER_MAJOR, splits after LIFs where they lower the arena (one segment
    with `reference`); with it, the plain schedule (every ATTN alone) with
    `reference`; else splits after LIFs whose T steps of spikes take no more than state + one step, every
    eligible ATTN recomputed, then (deepest first) stored again wherever the arena does not grow; then the
    same for T-packed spikes and streams. `every_stream`: the test builds' plan (plan.c ESNN_TEST_STREAM_ALL):
    no greedy pass, every eligible ATTN recomputed, every eligible conv streamed and every eligible buffer
    T-packed. `budget` (arena bytes, ESNN_OPT_FAST): the greedy passes accept any step that keeps the arena
    within it (the fastest plan that fits)."""
    nops = len(model.ops)
    first, solo, recompute = {0}, set(), set()
    attn = [k for k, op in enumerate(model.ops) if isinstance(op, Attn)]

    def set_solo(k: int) -> None:
        solo.add(k)
        first.update(j for j in (k, k + 1) if j < nops)

    if not model.layer_major:
        if not reference:
            first = _choose_splits(model, final_state, budget)
        seg = Segments(frozenset(first), frozenset(), frozenset())
        if every_stream:
            return seg
        return _choose_streams(model, _choose_packs(model, seg, final_state, budget), final_state, budget)
    if reference:
        for k in attn:
            set_solo(k)
        return Segments(frozenset(first), frozenset(solo), frozenset())
    reads, writer = (
        _reads(model),
        {op.out: k for k, op in enumerate(model.ops) if not isinstance(op, Readout)},
    )
    for k, op in enumerate(model.ops):
        if isinstance(op, Lif) and k + 1 < nops:
            buf = model.buffers[op.out]
            hw = buf.height * buf.width
            spk, state = 4 * hw * ((buf.channels + 31) // 32), op.state_bits // 8 * hw * buf.channels
            if model.T * spk <= state + spk:
                first.add(k + 1)
        if isinstance(op, Attn):
            src = model.ops[writer[op.in0]]
            if writer[op.in0] == k - 1 and isinstance(src, Conv) and reads[op.in0] == 1 and not src.static:
                recompute.add(k)
                first.add(k - 1)
            else:
                set_solo(k)
    if every_stream:
        return Segments(frozenset(first), frozenset(solo), frozenset(recompute))
    best = _budgeted(
        _plan(model, Segments(frozenset(first), frozenset(solo), frozenset(recompute)), final_state, False),
        budget,
    )
    for k in sorted(recompute, reverse=True):
        keep = set(first)
        recompute.discard(k)
        set_solo(k)
        trial = Segments(frozenset(first), frozenset(solo), frozenset(recompute))
        if _plan(model, trial, final_state, False)[1] > best:  # storing it would grow the arena: recompute
            first.clear()
            first.update(keep)
            solo.discard(k)
            recompute.add(k)
    seg = Segments(frozenset(first), frozenset(solo), frozenset(recompute))
    return _choose_streams(model, _choose_packs(model, seg, final_state, budget), final_state, budget)


def _choose_splits(model: Model, final_state: bool, budget: int | None) -> set[int]:
    """plan.c choose_splits (graphs without LAYER_MAJOR): a segment may start after any LIF that no later op's
    reading of the input frames follows (unless STATIC_INPUT) while T steps of every buffer stay within 2^28
    words; deepest first, each split is dropped wherever the arena does not grow (or stays within the
    budget)."""
    first = {0}
    if any(_words(model, b) * model.T > 1 << 28 for b in range(1, len(model.buffers))):
        return first
    reads_input = [k for k, op in enumerate(model.ops) if 0 in (op.in0, getattr(op, "in1", None))]
    last_input = max(reads_input, default=0)
    for k, op in enumerate(model.ops):
        if isinstance(op, Lif) and k + 1 < len(model.ops) and (model.static_input or last_input <= k):
            first.add(k + 1)

    def planned(starts: set[int]) -> tuple:
        return _plan(model, Segments(frozenset(starts), frozenset(), frozenset()), final_state, False)

    best = _budgeted(planned(first), budget)
    for k in sorted(first - {0}, reverse=True):
        first.discard(k)
        if planned(first)[1] > best:
            first.add(k)
    return first


def _budgeted(planned: tuple, budget: int | None) -> int:
    """The region bytes a greedy step may reach: the plan's own, or the budget less the fixed part."""
    fixed, region = planned[0], planned[1]
    return max(region, budget - fixed) if budget else region


def _choose_streams(model: Model, seg: Segments, final_state: bool, budget: int | None = None) -> Segments:
    """plan.c choose_streams: deepest first, each streamed conv back to a whole plane wherever that leaves
    the arena no larger (or within the budget)."""
    best, whole = _budgeted(_plan(model, seg, final_state, False), budget), set()
    for k in sorted(_plan(model, seg, final_state, False)[5].convs, reverse=True):
        whole.add(k)
        if _plan(model, replace(seg, whole=frozenset(whole)), final_state, False)[1] > best:
            whole.discard(k)
    return replace(seg, whole=frozenset(whole))


def _choose_packs(model: Model, seg: Segments, final_state: bool, budget: int | None) -> Segments:
    """plan.c choose_packs: deepest first (by writer op), each storage group of T-packed buffers back to a
    word per step, all its members at once (one alone could no longer share the group's storage), wherever
    that leaves the arena no larger (or within the budget)."""
    now = _plan(model, seg, final_state, False)  # the plan of the choices so far
    best, unpacked = _budgeted(now, budget), set[int]()
    writer = {op.out: k for k, op in enumerate(model.ops) if not isinstance(op, Readout)}
    for b in sorted(now[6], key=lambda b: writer[b], reverse=True):
        if b not in now[6]:
            continue
        group = {c for c in now[6] if now[7][c] == now[7][b]}
        trial = _plan(model, replace(seg, unpacked=frozenset(unpacked | group)), final_state, False)
        if trial[1] <= best:
            unpacked, now = unpacked | group, trial
    return replace(seg, unpacked=frozenset(unpacked))


def pack_code(channels: int) -> int:
    """plan.c pack_code: 1 + log2 of the bits a step of a T-packed buffer takes per pixel (the next power of
    two >= channels)."""
    k = 1
    while 1 << (k - 1) < channels:
        k += 1
    return k


def pack_words(T: int, channels: int) -> int:
    """Words per pixel of a T-packed buffer: all T steps, 2^(6 - pack_code) steps per word."""
    sl = 6 - pack_code(channels)
    return (T + (1 << sl) - 1) >> sl


def plan_arena(
    model: Model,
    final_state: bool = False,
    reference: bool = False,
    every_stream: bool = False,
    budget: int | None = None,
) -> ArenaPlan:
    """The C runtime's arena plan for `model` (plan.c plan_buffers, same order and tie-breaks): the lean plan
    of `esnn_arena_required`, or with `final_state` / `reference` the plan of ESNN_OPT_FINAL_STATE /
    ESNN_OPT_REFERENCE (every current int32, as the reference kernels need); with a `budget` (arena bytes)
    the plan of ESNN_OPT_FAST, the fastest within it."""
    seg = choose_segments(model, final_state, reference, every_stream, budget)
    fixed, total, items, offsets, sizes, streams, packed, _ = _plan(model, seg, final_state, reference)
    arena_items = tuple(
        ArenaItem(name, size, lo, up, offsets[i]) for i, (name, size, lo, up) in sorted(items.items())
    )
    return ArenaPlan(fixed, total, arena_items, sizes, seg, streams, packed)


def _plan(model: Model, seg: Segments, final_state: bool, reference: bool):
    """(fixed bytes, planned region bytes, items, offsets, bytes per buffer, streams, T-packed buffers,
    storage group root per buffer) for the schedule `seg`."""
    nops, nb, T = len(model.ops), len(model.buffers), model.T
    half = set() if reference else half_planes(model)
    fused = set() if reference else fused_static(model)  # LIF outputs; their convs' outputs take no arena
    fused_in = {op.in0 for op in model.ops if isinstance(op, Lif) and op.out in fused}
    attn_src = {op.out: op.in0 for op in model.ops if isinstance(op, Attn)}

    def seg_start(k: int) -> int:
        while k > 0 and k not in seg.first:
            k -= 1
        return k

    def seg_end(k: int) -> int:
        while k + 1 < nops and k + 1 not in seg.first:
            k += 1
        return k

    define: dict[int, int] = {}
    last: dict[int, int] = {}
    pinned: set[int] = set()
    lif_of: dict[int, Lif] = {}  # LIF output buffer -> op
    for k, op in enumerate(model.ops):
        for b in (op.in0, getattr(op, "in1", None)):
            if b is not None:
                last[b] = k
        if isinstance(op, Readout):
            continue
        define[op.out] = last[op.out] = k
        if isinstance(op, Conv) and op.static:
            pinned.add(op.out)
        if isinstance(op, Lif):
            lif_of[op.out] = op

    def steps(b: int) -> int:
        if b in fused:  # written whole at step 0
            return T
        return T if define[b] in seg.solo or seg_start(define[b]) != seg_start(last[b]) else 1

    # the plain schedule (reference kernels) streams nothing
    empty = frozenset[int]()
    streams = Streams(empty, empty, empty) if reference else decide_streams(model, seg, half, fused_in, steps)
    window_rows = {}
    for k in streams.convs:
        op = cast(Conv, model.ops[k])  # decide_streams picks convs
        window_rows[op.out] = stream_rows(op, model.buffers[op.out].height)
        if isinstance(nxt := model.ops[k + 1], Attn):
            window_rows[nxt.out] = window_rows[op.out]

    def step_bytes(b: int) -> int:  # int16 for a compact plane, else uint32 words; a window: its rows
        if b in window_rows:
            buf = model.buffers[b]
            return (2 if b in half else 4) * window_rows[b] * buf.width * buf.channels
        return (2 if b in half else 4) * _words(model, b)

    def run_start(k: int) -> int:  # the op a stream's inner op runs inside
        while k > 0 and k in streams.inner:
            k -= 1
        return k

    def stream_conv(b: int) -> Conv:  # the conv heading the stream whose LIF writes b
        c = model.ops[define[b]].in0
        head = model.ops[define[c]].in0 if isinstance(model.ops[define[c]], Attn) else c
        return cast(Conv, model.ops[define[head]])

    # T-packed spikes (plan.c decide_packs): a LIF's spikes of <= 16 channels held for T steps, read by spike
    # convs alone; the LIF stages a step after its membranes, each reading conv unpacks one into a view
    other_reads = {
        b for op in model.ops if not isinstance(op, Conv) for b in (op.in0, getattr(op, "in1", None))
    }  # fmt: skip
    packed = frozenset(
        b for b in lif_of
        if not reference and T >= 2 and model.buffers[b].channels <= 16 and steps(b) > 1
        and b not in other_reads and b not in seg.unpacked
    )  # fmt: skip

    def hw(b: int) -> int:
        return model.buffers[b].height * model.buffers[b].width

    def same_pack(a: int, b: int) -> bool:
        ba, bb = model.buffers[a], model.buffers[b]
        return (ba.height, ba.width, pack_code(ba.channels)) == (bb.height, bb.width, pack_code(bb.channels))

    def buf_bytes(b: int) -> int:
        if b in packed:
            return _align8(4 * hw(b) * pack_words(T, model.buffers[b].channels))
        return _align8(step_bytes(b) * steps(b))

    # storage groups, in buffer id order (plan.c group_buffers)
    root = list(range(nb))
    hi = [last.get(b, 0) for b in range(nb)]
    cur = list(range(nb))
    for b in range(1, nb):
        k0 = define[b]
        if b in attn_src and (steps(b) > 1) == (steps(attn_src[b]) > 1):  # ATTN in place (T steps, or one)
            r = root[attn_src[b]]
            if hi[r] == k0 and step_bytes(b) <= step_bytes(attn_src[b]):
                root[b], hi[r], cur[r] = r, last[b], b
            continue
        if steps(b) == 1 or b in fused:  # a fused output is written whole: a group of its own
            continue
        h0, pk = run_start(k0), b in packed
        for r in range(1, nb):
            k = hi[r]
            if (
                root[r] != r or r == b or steps(r) == 1 or k >= k0 or k in seg.solo
                or seg_start(k) != seg_start(k0) or pk != (cur[r] in packed)
            ):  # fmt: skip
                continue
            if not same_pack(b, cur[r]) if pk else (
                step_bytes(b) > step_bytes(cur[r])
                or (k >= h0 and not (k == h0 and _rowsafe(model, stream_conv(b))))
            ):  # fmt: skip
                continue
            root[b], hi[r], cur[r] = r, last[b], b
            break

    # items: buffer b (group roots), then the state of the LIF writing buffer b; numbered like plan.c
    items: dict[int, tuple[str, int, int, int]] = {}
    for b in range(1, nb):
        if root[b] != b or b in fused_in:
            continue
        if steps(b) > 1 or b in pinned:
            lo, up = seg_start(define[b]), seg_end(hi[b])
        else:
            lo, up = run_start(define[b]), hi[b]
        items[b] = (f"buffer {b}", buf_bytes(b), lo, up)
    for b, op in lif_of.items():
        if b in fused and not final_state:  # its membranes stay in registers
            continue
        neurons = model.buffers[b].channels * hw(b)
        # a step of a T-packed output, unless staged in the view of the conv it streams inside (plan.c
        # staged_in_view: that conv reads a T-packed input and writes its rows behind the rows it reads)
        # inside a stream, only the rows of the conv's window (the LIF packs each call's rows at once)
        k0, staging = define[b], 0
        if b in packed and b not in fused:
            inner = k0 in streams.inner
            if not inner:
                staging = 4 * hw(b)
            elif not ((c := stream_conv(b)).in0 in packed and _rowsafe(model, c)):
                staging = 4 * window_rows[c.out] * model.buffers[b].width
        size = _align8(_align8(neurons * op.state_bits // 8) + staging)
        up = nops - 1 if final_state else seg_end(define[b])
        items[nb + b] = (f"state {define[b]}", size, seg_start(define[b]), up)
    for k, op in enumerate(model.ops):  # kernel scratch: a conv's while it runs, an ATTN's over its segment
        if isinstance(op, Readout):  # none, and no output
            continue
        view = 4 * hw(op.in0) if isinstance(op, Conv) and op.in0 in packed else 0  # its T-packed input's step
        if (size := op_scratch_bytes(model, op)) == 0 and not view:
            continue
        lo, up = (k, k) if isinstance(op, Conv) else (seg_start(k), seg_end(k))
        items[nb + op.out] = (f"scratch {k}", _align8(_align8(size) + view), lo, up)

    offsets: dict[int, int] = {}
    total = 0
    for i in sorted(items, key=lambda i: (-items[i][1], i)):
        _, size, lo, up = items[i]
        off, moved = 0, True
        while moved:
            moved = False
            for j in sorted(offsets):
                _, size2, lo2, up2 = items[j]
                if lo2 <= up and lo <= up2 and offsets[j] < off + size and off < offsets[j] + size2:
                    off, moved = offsets[j] + size2, True
        offsets[i] = off
        total = max(total, off + size)

    fixed = (
        _align8(OP_SLOT * nops) + _align8(BUFFER_SLOT * nb) + _align8(4 * model.num_classes)
        + _align8(4 * len(lif_of))
    )  # fmt: skip
    sizes = {b: 0 if b in fused_in else buf_bytes(b) for b in range(1, nb)}
    return fixed, total, items, offsets, sizes, streams, packed, root


def board_io_bytes(model: Model) -> int:
    """A protocol board's buffers besides the arena: one sample's u8 input and the receive buffer for it
    (header and CRC included)."""
    c, h, w = model.input.shape
    sample = (1 if model.static_input else model.T) * c * h * w
    return sample + 10 + 4 + sample


FASTEST = 1 << 31  # a budget no plan reaches: every speed choice made


def board_arena_budget(model: Model, model_ram: int) -> int | None:
    """The arena a C board gives the model (firmware/ports/common/board_config.c ARENA_BUDGET): the RAM it
    has for the model less its I/O buffers, but no more than the fastest plan uses, in whole 8-byte words;
    the board then runs ESNN_OPT_FAST's plan for that budget (plan_arena(model, budget=...)). None when
    that is no more than the lean plan: the board runs the lean plan."""
    room = (model_ram - board_io_bytes(model)) // 8 * 8
    fastest = -(-plan_arena(model, budget=FASTEST).total_bytes // 8) * 8
    budget = min(room, fastest)
    return budget if budget > plan_arena(model).total_bytes else None


def plan_memory(graph: ir.Graph, blob_size: int) -> MemoryPlan:
    model = to_model(graph)
    if len(model.ops) != len(graph.nodes):
        raise ExportError(f"memory plan: {len(graph.nodes)} graph nodes but {len(model.ops)} blob ops")
    arena = plan_arena(model)
    rows = []
    for k, (node, op) in enumerate(zip(graph.nodes, model.ops, strict=True)):
        out = 0 if isinstance(op, Readout) else arena.buffer_bytes[op.out]
        if isinstance(op, Lif):
            state = next((it.bytes for it in arena.items if it.name == f"state {k}"), 0)  # 0: fused
        elif isinstance(op, Readout):
            state = 4 * model.num_classes
        else:
            state = 0
        live = arena.fixed_bytes + sum(it.bytes for it in arena.items if it.first <= k <= it.last)
        rows.append(LayerMemory(node.name, node.kind, out, state, live))
    schedule = "layer-major" if model.layer_major else "time-major"
    heap = micropython_memory.model_heap_bytes(model, blob_size, board=True)
    mp_flash = micropython_memory.flash_bytes(blob_size)
    native = micropython_memory.native_heap_bytes(model, arena.total_bytes, blob_size, board=True)
    return MemoryPlan(schedule, tuple(rows), arena.total_bytes, blob_size, heap, mp_flash, native)


def micropython_ram(plan: MemoryPlan, device: DeviceProfile) -> tuple[int, str]:
    """The heap a MicroPython profile needs for the model and what it is: the C runtime as esnn_native when a
    module is shipped for the profile's core (its code copied into RAM on import), else the viper kernels."""
    code = micropython_memory.native_code_bytes(device.core)
    if code and plan.micropython_native_heap_bytes:
        arch = micropython_memory.NATIVE_ARCH[device.core]
        what = f"MicroPython heap (esnn_native {arch}, {code} B code)"
        return plan.micropython_native_heap_bytes + code, what
    return plan.micropython_heap_bytes, "MicroPython heap (viper kernels)"


def check_fit(plan: MemoryPlan, device: DeviceProfile) -> None:
    """Fail with required vs available bytes when the model does not fit the device. A profile with
    runtime = "micropython" is checked with the MicroPython runtime's figures (heap bound, model file +
    runtime sources); the others with the C runtime's arena and the blob."""
    problems = []
    if device.runtime == "micropython":
        (ram, ram_what), flash = micropython_ram(plan, device), plan.micropython_flash_bytes
        flash_what = "flash (model + runtime files)"
    else:
        ram, flash = plan.peak_ram_bytes, plan.flash_bytes
        ram_what, flash_what = "RAM", "flash"
    if ram > device.model_ram_bytes:
        problems.append(f"{ram_what} {ram} B required, {device.model_ram_bytes} B available")
    if flash > device.model_flash_bytes:
        problems.append(f"{flash_what} {flash} B required, {device.model_flash_bytes} B available")
    if problems:
        raise ExportError(f"the model does not fit {device.name}: " + "; ".join(problems))
