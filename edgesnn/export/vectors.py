"""Conformance vectors: small `.esnn` models + inputs + the reference's outputs, which every runtime
(C, MicroPython, ONNX) must reproduce bit for bit. Layout: FORMAT.md section 4.

Every vector is built from seeded integers only (no torch, no floats in the model), so regeneration is
byte-identical on any machine. Thresholds and attention breakpoints are calibrated on the vector's own
input with the reference kernels, so that every LIF layer really fires (and real ties occur where a
vector is about ties): a vector in which nothing spikes would test nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgesnn import __version__
from edgesnn.export.passes.memory import choose_segments, fused_static, half_planes, plan_arena
from edgesnn.reference import (
    Attn,
    AttnDim,
    AttnKind,
    Buffer,
    BufferKind,
    Conv,
    Lif,
    Logic,
    LogicMode,
    MaxPool,
    Model,
    Readout,
    parse,
    run,
    to_bytes,
)
from edgesnn.reference import kernels as K

FORMAT_DIR = "v1"
GENERATOR = "export/make_vectors.py"
SEED = 20261125
_QMAX = {4: 7, 8: 127, 16: 32767}


class Builder:
    """Adds ops one at a time and keeps every buffer's value for the vector's input ([1, T, H, W, C])."""

    def __init__(
        self, rng: np.random.Generator, T: int, c: int, h: int, w: int, static: bool, density: float
    ):
        self.rng, self.T, self.static = rng, T, static
        frames = 1 if static else T
        raw = rng.integers(1, 256, (frames, c, h, w))
        keep = rng.random((frames, c, h, w)) < density
        self.input = np.where(keep, raw, 0).astype(np.uint8)  # [T or 1, C, H, W]
        x = np.broadcast_to(self.input, (T, c, h, w)).transpose(0, 2, 3, 1)[None]
        self.buffers = [Buffer(BufferKind.INPUT_U8, c, h, w)]
        self.values: list[np.ndarray] = [x.astype(np.int64)]
        self.ops: list = []
        self.layer_major = False

    def _new(self, kind: BufferKind, value: np.ndarray) -> int:
        _, _, h, w, c = value.shape
        self.buffers.append(Buffer(kind, c, h, w))
        self.values.append(value)
        return len(self.buffers) - 1

    def conv(
        self, src: int, cout: int, k: int, stride: int = 1, pad: int | None = None, bits: int = 8
    ) -> int:
        cin = self.buffers[src].channels
        pad = k // 2 if pad is None else pad
        q = _QMAX[bits] if bits != 16 else 3000  # int16: large enough to need 16 bits, small enough for int32
        w = self.rng.integers(-q, q + 1, (cin, k, k, cout))
        b = self.rng.integers(-4 * q, 4 * q + 1, cout)
        static = src == 0 and self.static
        op = Conv(src, -1, w, b, stride=stride, pad=pad, weight_bits=bits, static=static)
        spikes = self.buffers[src].kind == BufferKind.SPIKES
        value = K.conv(op, self.values[src], spikes).astype(np.int64)
        out = self._new(BufferKind.CURRENT, value)
        self.ops.append(Conv(src, out, w, b, stride=stride, pad=pad, weight_bits=bits, static=static))
        return out

    def lif(
        self, src: int, rate: float = 0.2, leak_mul: int = 32768, state_bits: int = 32, tie: bool = False
    ):
        cur = self.values[src]
        c = cur.shape[-1]
        u0 = (cur[:, 0] * leak_mul) >> 16  # membrane after the first step, per channel
        per_channel = u0.reshape(-1, c)
        thr = np.maximum(1, np.quantile(per_channel, 1 - rate, axis=0, method="lower")).astype(np.int64)
        if tie:  # thresholds equal to membrane values that occur: exact ties must fire
            thr = np.maximum(1, np.sort(per_channel, axis=0)[(len(per_channel) * 3) // 4])
        op = Lif(src, -1, thr, leak_mul=leak_mul, state_bits=state_bits)
        spikes, _ = K.lif(op, cur)
        out = self._new(BufferKind.SPIKES, spikes.astype(np.int64))
        self.ops.append(Lif(src, out, thr, leak_mul=leak_mul, state_bits=state_bits))
        return out

    def attn(self, src: int, dim: AttnDim, kind: AttnKind, levels: int = 16) -> int:
        self.layer_major = True
        x = self.values[src]
        _, T, _h, _w, c = x.shape
        if dim == AttnDim.S:
            k = 3
            w1, w2, n, shift = self.rng.integers(-20, 21, (2, k, k)), None, k, 0
        else:
            n = T if dim == AttnDim.T else c
            hidden = max(1, n // 2)
            w1, w2 = self.rng.integers(-60, 61, (hidden, n)), self.rng.integers(-60, 61, (n, hidden))
            shift = 6
        gates = 1 if dim == AttnDim.S or kind == AttnKind.MA else n
        probe_levels = np.zeros(2, dtype=np.int64) if kind == AttnKind.MA else None
        probe = Attn(
            src, src, dim, kind, w1, np.zeros(gates, np.int64), w2=w2, levels=probe_levels, shift=shift
        )
        score = K.attn_score(probe, x).ravel()
        if kind == AttnKind.MA:  # breakpoints spread over the observed scores, levels rising to 1.0
            table = np.quantile(score, np.linspace(0.05, 0.95, levels), method="lower").astype(np.int64)
            lv = np.round(np.linspace(0, 32768, levels + 1)).astype(np.int64)
        else:  # gates: about half open
            g = 1 if dim == AttnDim.S else n
            table = np.full(g, int(np.median(score)), dtype=np.int64)
            lv = None
        op = Attn(src, -1, dim, kind, w1, table, w2=w2, levels=lv, shift=shift)
        out = self._new(BufferKind.CURRENT, K.attn(op, x))
        self.ops.append(Attn(src, out, dim, kind, w1, table, w2=w2, levels=lv, shift=shift))
        return out

    def maxpool(self, src: int, k: int = 3, stride: int = 2, pad: int = 1) -> int:
        op = MaxPool(src, -1, k, stride, pad)
        out = self._new(BufferKind.SPIKES, K.maxpool(op, self.values[src].astype(np.uint8)).astype(np.int64))
        self.ops.append(MaxPool(src, out, k, stride, pad))
        return out

    def logic(self, a: int, b: int, mode: LogicMode) -> int:
        op = Logic(a, b, -1, mode)
        value = K.logic(op, self.values[a].astype(np.uint8), self.values[b].astype(np.uint8))
        out = self._new(BufferKind.SPIKES, value.astype(np.int64))
        self.ops.append(Logic(a, b, out, mode))
        return out

    def readout(self, src: int, classes: int = 5, bits: int = 8) -> Builder:
        c = self.buffers[src].channels
        q = _QMAX[bits]
        self.ops.append(Readout(src, self.rng.integers(-q, q + 1, (c, classes)),
                                self.rng.integers(-100, 101, classes), weight_bits=bits))  # fmt: skip
        return self

    def to_model(self) -> Model:
        return Model(T=self.T, num_classes=len(self.ops[-1].bias), buffers=tuple(self.buffers),
                     ops=tuple(self.ops), layer_major=self.layer_major, static_input=self.static,
                     logit_scale=0.01)  # fmt: skip


# --- the vectors ---------------------------------------------------------------------------------


def _dense_static(rng: np.random.Generator) -> Builder:
    b = Builder(rng, T=4, c=1, h=12, w=12, static=True, density=0.6)
    x = b.lif(b.conv(0, 6, 3))
    x = b.lif(b.conv(x, 8, 3, stride=2))
    return b.readout(x)


def _spike_convs(rng: np.random.Generator) -> Builder:
    b = Builder(rng, T=4, c=2, h=16, w=16, static=False, density=0.15)
    x = b.lif(b.conv(0, 4, 7, stride=2, pad=3))
    x = b.maxpool(x)
    x = b.lif(b.conv(x, 6, 3, stride=1, pad=1))
    x = b.lif(b.conv(x, 8, 1, stride=2, pad=0))
    return b.readout(x)


def _residual(mode: LogicMode) -> Callable[[np.random.Generator], Builder]:
    def build(rng: np.random.Generator) -> Builder:
        b = Builder(rng, T=4, c=1, h=10, w=10, static=True, density=0.7)
        x = b.lif(b.conv(0, 4, 3))
        bb = b.lif(b.conv(b.lif(b.conv(x, 6, 3, stride=2)), 6, 3))
        sc = b.lif(b.conv(x, 6, 1, stride=2, pad=0), rate=0.3)
        y = b.lif(b.conv(b.logic(bb, sc, mode), 6, 3))
        return b.readout(y)

    return build


def _attention(dim: AttnDim, kind: AttnKind) -> Callable[[np.random.Generator], Builder]:
    def build(rng: np.random.Generator) -> Builder:
        b = Builder(rng, T=4, c=1, h=8, w=8, static=True, density=0.7)
        x = b.lif(b.conv(0, 4, 3))
        x = b.lif(b.attn(b.conv(x, 6, 3), dim, kind))
        return b.readout(x)

    return build


def _chain(T: int, bits: int, static: bool = True) -> Callable[[np.random.Generator], Builder]:
    def build(rng: np.random.Generator) -> Builder:
        b = Builder(rng, T=T, c=1, h=10, w=10, static=static, density=0.5)
        x = b.lif(b.conv(0, 4, 3, bits=bits))
        x = b.lif(b.conv(x, 6, 3, stride=2, bits=bits))
        return b.readout(x, bits=bits)

    return build


def _int16_planes(dim: AttnDim, kind: AttnKind) -> Callable[[np.random.Generator], Builder]:
    """Convs whose currents provably fit int16 feeding 16-bit LIFs and a 32-bit-statistics ATTN: the lean C
    plan stores them as compact int16 planes (one step, and all T around the ATTN)."""

    def build(rng: np.random.Generator) -> Builder:
        b = Builder(rng, T=4, c=1, h=8, w=8, static=True, density=0.7)
        x = b.lif(b.conv(0, 8, 3))  # u8 input: int32 current
        x = b.lif(b.conv(x, 8, 3), state_bits=16)  # spikes, int8: an int16 plane for the LIF
        x = b.lif(b.attn(b.conv(x, 16, 3), dim, kind), state_bits=16)  # planes into and out of the ATTN
        x = b.lif(b.conv(x, 16, 3, stride=2), state_bits=16)
        return b.readout(x)

    return build


def _attn_recompute_and_store(rng: np.random.Generator) -> Builder:
    """Two attention layers: the lean C schedule recomputes the big one's input conv (its T steps of current
    would set the peak) and stores the small one's (free under that peak)."""
    b = Builder(rng, T=4, c=1, h=16, w=16, static=True, density=0.7)
    x = b.lif(b.conv(0, 8, 3))
    x = b.lif(b.attn(b.conv(x, 8, 3), AttnDim.C, AttnKind.MA), state_bits=16)
    x = b.lif(b.conv(x, 16, 3, stride=2), state_bits=16)
    x = b.lif(b.conv(x, 16, 3, stride=2), state_bits=16)
    x = b.lif(b.attn(b.conv(x, 16, 3), AttnDim.T, AttnKind.IA), state_bits=16)
    return b.readout(x)


def _row_streams(rng: np.random.Generator) -> Builder:
    """Spike convs of every window shape streaming their int16 currents row by row (plan.c "row streams"):
    5x5 and 3x3 "same" convs whose spikes go over their own input, stride 2 (two-row window), a 1x1 conv
    with padding (rows that only hold the bias, below the window), and C / T attention streamed through
    its statistics and its weighting."""
    b = Builder(rng, T=4, c=1, h=16, w=16, static=True, density=0.7)
    x = b.lif(b.conv(0, 8, 3))
    x = b.lif(b.conv(x, 8, 5), state_bits=16)
    x = b.lif(b.conv(x, 8, 3), state_bits=16)
    x = b.lif(b.conv(x, 16, 3, stride=2), state_bits=16)
    x = b.lif(b.conv(x, 16, 1, pad=1), state_bits=16)
    x = b.lif(b.attn(b.conv(x, 16, 3), AttnDim.C, AttnKind.IA), state_bits=16)
    x = b.lif(b.attn(b.conv(x, 16, 3, stride=2), AttnDim.T, AttnKind.MA), state_bits=16)
    return b.readout(x)


def _layer_splits(rng: np.random.Generator) -> Builder:
    """Event frames through a causal graph (no ATTN) that the lean C plan splits after LIFs (plan.c
    choose_splits): later layers run over all T steps one after the other, the spikes crossing a split
    held for all T (two words per pixel at 40 channels, spike bits 30-31 in use), and esnn_step runs the
    first segment frame by frame and the rest after the last frame."""
    b = Builder(rng, T=4, c=2, h=12, w=12, static=False, density=0.4)
    x = b.lif(b.conv(0, 8, 3))
    x = b.lif(b.conv(x, 40, 3), state_bits=16)
    x = b.lif(b.conv(x, 40, 3), rate=0.3)
    x = b.lif(b.conv(x, 40, 3), state_bits=16)
    x = b.lif(b.conv(x, 16, 3, stride=2), state_bits=16)
    return b.readout(x)


def _t_packed_spikes(rng: np.random.Generator) -> Builder:
    """Event frames through a causal graph whose spikes cross segment splits T-packed (plan.c "T-packed
    spikes"): 8 channels written by the LIF inside the streamed conv on the u8 frame (staged a row at a
    time), then 5 channels (8 bits a step); T = 5, so both take two words per pixel, the second word holding
    one step."""
    b = Builder(rng, T=5, c=2, h=20, w=20, static=False, density=0.4)
    x = b.lif(b.conv(0, 8, 3))
    x = b.lif(b.conv(x, 5, 3), state_bits=16)
    x = b.lif(b.conv(x, 16, 3, stride=2), state_bits=16)
    return b.readout(x)


def _edge_cases(rng: np.random.Generator) -> Builder:
    b = Builder(rng, T=6, c=1, h=8, w=8, static=False, density=0.5)
    x = b.lif(b.conv(0, 4, 3), tie=True)  # exact-threshold ties at the first step
    cur = b.conv(x, 4, 3, bits=16)
    neg = b.lif(cur, rate=0.1, leak_mul=16384)  # tau = 4, mostly negative membranes
    sat = b.lif(b.conv(0, 4, 3, bits=16), rate=0.05, state_bits=16)  # int16 state that saturates
    y = b.logic(neg, sat, LogicMode.OR)
    return b.readout(y)


VECTORS: dict[str, tuple[str, Callable[[np.random.Generator], Builder]]] = {
    "dense_static_t4": ("dense first conv on a static u8 image, spike conv stride 2", _dense_static),
    "spike_convs_k7_k3_k1": ("event frames; conv 7x7/s2/p3, max-pool as OR, 3x3, 1x1/s2", _spike_convs),
    "residual_or": ("OR residual kept (live shortcut)", _residual(LogicMode.OR)),
    "residual_and": ("AND residual", _residual(LogicMode.AND)),
    "residual_iand": ("IAND residual", _residual(LogicMode.IAND)),
    **{
        f"attn_{kind.name.lower()}_{dim.name.lower()}": (
            f"{kind.name} attention along {dim.name}",
            _attention(dim, kind),
        )
        for kind in (AttnKind.MA, AttnKind.IA)
        for dim in (AttnDim.T, AttnDim.C, AttnDim.S)
    },
    **{
        f"int16_planes_{kind.name.lower()}_{dim.name.lower()}": (
            f"int16 current planes (lean C plan) around {kind.name} attention along {dim.name}",
            _int16_planes(dim, kind),
        )
        for kind, dim in ((AttnKind.MA, AttnDim.C), (AttnKind.IA, AttnDim.T), (AttnKind.MA, AttnDim.S))
    },
    "attn_recompute_and_store": (
        "two ATTN layers: the lean schedule recomputes one input conv and stores the other",
        _attn_recompute_and_store,
    ),
    "row_streams": ("spike convs streaming their currents row by row, every window shape", _row_streams),
    "layer_splits": ("event frames, causal graph run in segments split after LIFs", _layer_splits),
    "t_packed_spikes": ("event frames, split spikes T-packed in two words per pixel", _t_packed_spikes),
    "t1_int8": ("a single time step", _chain(1, 8)),
    "t16_int8_frames": ("16 steps of changing frames (time-major schedule)", _chain(16, 8, static=False)),
    "int4_weights": ("int4 weights (packed nibbles) in convs and readout", _chain(4, 4)),
    "int16_weights": ("int16 weights", _chain(4, 16)),
    "edge_ties_negative_saturation": (
        "exact-threshold ties, tau=4 leak with negative membranes, int16 state saturation, OR",
        _edge_cases,
    ),
}


@dataclass(frozen=True)
class Vector:
    name: str
    files: dict[str, bytes]


def build_vector(name: str) -> Vector:
    description, build = VECTORS[name]
    rng = np.random.default_rng([SEED, sum(name.encode())])
    b = build(rng)
    blob = to_bytes(b.to_model())
    result = run(blob, b.input)
    spikes = np.asarray(result.spike_counts, dtype=np.uint32)
    if (spikes == 0).any():
        raise AssertionError(
            f"vector {name}: a LIF layer never fires ({spikes.tolist()}); it would test nothing"
        )
    lean = plan_arena(parse(blob))
    streams = lean.streams
    assert streams is not None  # plan_arena sets it
    meta = {
        "name": name,
        "covers": description,
        "T": b.T,
        "static_input": b.static,
        "layer_major": b.layer_major,
        "predicted": int(result.predicted),
        "spike_counts": spikes.tolist(),
        "generator": GENERATOR,
        "edgesnn_version": __version__,
        "seed": [SEED, sum(name.encode())],
        # schedule choices a runtime must make (a vector whose plan silently falls back fails its test)
        "int16_planes": sorted(half_planes(parse(blob))),
        "fused_static": sorted(fused_static(parse(blob))),
        "attn_recomputed": sorted(choose_segments(parse(blob)).recompute),
        "attn_stored": sorted(choose_segments(parse(blob)).solo),
        "streamed_convs": sorted(streams.convs),
        "segment_starts": sorted(choose_segments(parse(blob)).first),
        "packed_spikes": sorted(lean.packed),
    }
    files = {
        "model.esnn": blob,
        "input.bin": b.input.tobytes(),
        "logits.bin": np.asarray(result.logits, dtype="<i4").tobytes(),
        "spike_counts.bin": spikes.astype("<u4").tobytes(),
        "final_state.bin": np.concatenate(
            [np.asarray(s, "<i4").ravel() for s in result.final_state]
        ).tobytes(),
        "vector.json": (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode(),
    }
    return Vector(name, files)


def write_vectors(out_dir: str | Path, force: bool = False) -> list[Path]:
    """Write every vector under ``out_dir/<name>/``; refuses to overwrite unless ``force``."""
    out = Path(out_dir)
    written = []
    for name in VECTORS:
        folder = out / name
        if folder.exists() and not force:
            raise FileExistsError(f"{folder} exists: regenerating goldens needs --force")
        folder.mkdir(parents=True, exist_ok=True)
        for fname, data in build_vector(name).files.items():
            (folder / fname).write_bytes(data)
        written.append(folder)
    return written
