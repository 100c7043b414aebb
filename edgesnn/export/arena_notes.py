"""The C runtime's arena plan (edgesnn.export.passes.memory.plan_arena) described by layer, in words: what
lives at the peak (for a fit error) and what the lean plan chose per layer (for the report).

Items of the plan are named "buffer <id>" (a buffer, or the storage group it heads), "state <op>" (a LIF's
membranes) and "scratch <op>" (a conv's tap tables, an attention's statistics); each is attributed to the op
that writes it, named by the caller (graph node names, or "op k" for a bare blob).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from edgesnn.export.passes.memory import (
    ArenaPlan,
    fused_static,
    half_planes,
    pack_words,
    plan_arena,
    stream_rows,
)
from edgesnn.format.layout import BufferKind
from edgesnn.format.model import Conv, Lif, Model, Readout


@dataclass(frozen=True)
class LiveItem:
    op: int  # index of the op that writes it
    what: str  # "current of 1 step int16", "spikes of 4 steps (T-packed)", "int16 LIF state"
    bytes: int


@dataclass(frozen=True)
class Peak:
    op: int  # the op at which the most planned bytes are live
    fixed_bytes: int  # op/buffer records, logits, spike counters: live throughout
    items: tuple[LiveItem, ...]  # live at `op`, largest first


def op_names(model: Model) -> list[str]:
    """Names for a model without graph node names: "op 3 (LIF)"."""
    return [f"op {k} ({type(op).__name__.upper()})" for k, op in enumerate(model.ops)]


def _writers(model: Model) -> dict[int, int]:
    out: dict[int, int] = {}
    for k, op in enumerate(model.ops):
        if not isinstance(op, Readout):
            out.setdefault(op.out, k)
    return out


def _step_bytes(model: Model, b: int, half: set[int]) -> int:
    buf = model.buffers[b]
    hw = buf.height * buf.width
    if buf.kind == BufferKind.SPIKES:
        return 4 * hw * ((buf.channels + 31) // 32)
    return (2 if b in half else 4) * hw * buf.channels


def _describe(
    model: Model, name: str, size: int, half: set[int], writers: dict[int, int], arena: ArenaPlan
) -> LiveItem:
    kind, num = name.split()
    if kind == "state":
        k = int(num)  # "state k": op k is a LIF
        lif = cast(Lif, model.ops[k])
        buf = model.buffers[lif.out]
        membranes = -(-buf.channels * buf.height * buf.width * lif.state_bits // 8 // 8) * 8
        staged = " and a staged step of spikes" if size > membranes else ""  # its T-packed output's
        return LiveItem(k, f"int{lif.state_bits} LIF state{staged}", size)
    if kind == "scratch":
        k = int(num)
        op = model.ops[k]
        what = "kernel scratch" if isinstance(op, Conv) else "attention statistics"
        if isinstance(op, Conv) and op.in0 in arena.packed:
            what += " and an unpacked step of its input"
        return LiveItem(k, what, size)
    b = int(num)
    if b in arena.packed:
        return LiveItem(writers[b], f"spikes of {model.T} steps T-packed", size)
    if arena.streams is not None and b in arena.streams.windows:
        rows = size // max(1, 2 * model.buffers[b].width * model.buffers[b].channels)
        return LiveItem(writers[b], f"current rows ({rows} of {model.buffers[b].height}) int16", size)
    n = max(1, round(size / max(1, _step_bytes(model, b, half))))
    steps = f"{n} step{'s' if n > 1 else ''}"
    if model.buffers[b].kind == BufferKind.SPIKES:
        return LiveItem(writers[b], f"spikes of {steps}", size)
    return LiveItem(writers[b], f"current of {steps} int{16 if b in half else 32}", size)


def peak(model: Model, arena: ArenaPlan | None = None, reference: bool = False) -> Peak:
    """The op where the most planned bytes are live, and those items (lean plan unless `reference`)."""
    arena = arena or plan_arena(model, reference=reference)
    half = set() if reference else half_planes(model)
    live = [sum(it.bytes for it in arena.items if it.first <= k <= it.last) for k in range(len(model.ops))]
    k = max(range(len(live)), key=live.__getitem__) if live else 0
    writers = _writers(model)
    items = [
        _describe(model, it.name, it.bytes, half, writers, arena)
        for it in sorted(arena.items, key=lambda it: -it.bytes)
        if it.first <= k <= it.last
    ]
    return Peak(k, arena.fixed_bytes, tuple(items))


def describe_peak(p: Peak, names: Sequence[str], top: int = 4) -> str:
    """ "at the peak (features.1.attention): features.0.lif spikes of 4 steps 50176 B, ...; records ..." """
    parts = [f"{names[it.op]} {it.what} {it.bytes} B" for it in p.items[:top]]
    rest = p.items[top:]
    if rest:
        parts.append(f"{len(rest)} more {sum(it.bytes for it in rest)} B")
    parts.append(f"op/buffer records {p.fixed_bytes} B")
    return f"live at the peak ({names[p.op]}): " + ", ".join(parts)


def layer_choices(model: Model, arena: ArenaPlan | None = None) -> list[str]:
    """Per op, what the lean plan chose for it: "int16 plane" (its current stored as int16), "fused first
    layer" (a STATIC conv run with its LIF over all T: no current, no state), for an attention whether its
    input conv is recomputed (memory.choose_segments) or stored, "spikes T-packed" (a LIF's T steps of
    spikes in fewer words), "state freed after its segment" (a LIF state whose bytes other items reuse
    later); "" when nothing applies."""
    arena = arena or plan_arena(model)
    seg = arena.segments
    assert seg is not None  # plan_arena sets it
    half, fused = half_planes(model), fused_static(model)
    ends = {it.name: it.last for it in arena.items}
    last_op = len(model.ops) - 1
    out = []
    for k, op in enumerate(model.ops):
        notes = []
        if not isinstance(op, Readout) and op.out in half:
            notes.append("int16 plane")
        fused_conv = isinstance(op, Conv) and any(
            isinstance(o, Lif) and o.in0 == op.out and o.out in fused for o in model.ops
        )
        if fused_conv or (isinstance(op, Lif) and op.out in fused):
            notes.append("fused first layer")
        if k + 1 in seg.recompute:  # the conv feeding a recomputed ATTN
            notes.append("recomputed by its attention (one step of current)")
        if arena.streams is not None and k in arena.streams.convs:
            conv = cast(Conv, op)  # decide_streams picks convs
            rows = stream_rows(conv, model.buffers[conv.out].height)
            notes.append(f"streamed: {rows} of {model.buffers[conv.out].height} rows of current")
        if k in seg.recompute:
            notes.append("input recomputed: statistics pass, then weighting pass")
        elif k in seg.solo:
            notes.append("input stored for all T steps")
        if isinstance(op, Lif) and op.out in arena.packed:
            words = pack_words(model.T, model.buffers[op.out].channels)
            unit = "word" if words == 1 else "words"
            notes.append(f"spikes T-packed: {model.T} steps in {words} {unit} per pixel")
        if isinstance(op, Lif) and ends.get(f"state {k}", last_op) < last_op:
            notes.append("state freed after its segment")
        out.append(", ".join(notes))
    return out


def layer_bytes(model: Model, arena: ArenaPlan) -> list[int]:
    """Per op, the planned bytes it owns in `arena`: its output buffer (as planned) + its LIF state (kernel
    scratch, a few hundred bytes, is not counted)."""
    states = {it.name: it.bytes for it in arena.items}
    return [
        (0 if isinstance(op, Readout) else arena.buffer_bytes.get(op.out, 0)) + states.get(f"state {k}", 0)
        for k, op in enumerate(model.ops)
    ]
