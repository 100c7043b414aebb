"""Run a validated `.esnn` model on u8 input with the exact integer semantics (FORMAT.md section 2).

Execution is layer-major (every step of op 1, then op 2, ...), which is correct for every model, and
batched over samples. `run` takes one sample; `run_batch` many at once (much faster per sample).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgesnn.format import limits
from edgesnn.format.blob import load
from edgesnn.format.model import Attn, Conv, Lif, Logic, MaxPool, Model, Readout
from edgesnn.format.registry import OpTable
from edgesnn.format.writer import to_bytes
from edgesnn.reference import kernels

ModelSource = Model | bytes | bytearray | memoryview | str | Path


@dataclass(frozen=True, eq=False)
class Result:
    """One sample's outputs.

    `spike_counts[i]` and `final_state[i]` belong to the i-th LIF op in file order; `final_state[i]` is
    int32 [C, H, W]. With `trace=True`, `traces[k]` is op k's output for every step, `[T, C, H, W]`
    (uint8 spikes, int32/int64 currents); for READOUT the running logits after each step, `[T, classes]`.
    """

    logits: np.ndarray
    predicted: int
    spike_counts: np.ndarray
    final_state: tuple[np.ndarray, ...]
    traces: tuple[np.ndarray, ...] | None = None


@dataclass(frozen=True, eq=False)
class BatchResult:
    """Outputs of N samples: logits int32 [N, classes], predicted [N], spike_counts int64 [N, num_lif],
    final_state per LIF op int32 [N, C, H, W], traces per op `[N, T, ...]` when asked."""

    logits: np.ndarray
    predicted: np.ndarray
    spike_counts: np.ndarray
    final_state: tuple[np.ndarray, ...]
    traces: tuple[np.ndarray, ...] | None = None

    def sample(self, i: int) -> Result:
        return Result(
            logits=self.logits[i],
            predicted=int(self.predicted[i]),
            spike_counts=self.spike_counts[i],
            final_state=tuple(s[i] for s in self.final_state),
            traces=None if self.traces is None else tuple(tr[i] for tr in self.traces),
        )


def as_model(source: ModelSource) -> Model:
    """A validated model: blobs and paths go through the loader, `Model` objects through the writer."""
    if isinstance(source, Model):
        return load(to_bytes(source))
    return load(source)


def _input(model: Model, x: np.ndarray, batched: bool) -> np.ndarray:
    """Check the input and return it as uint8 [N, T, C, H, W] (a broadcast view for STATIC_INPUT)."""
    arr = np.asarray(x)
    shape = model.input.shape
    frames = 1 if model.static_input else model.T
    if not batched:
        arr = arr[None]
    if arr.ndim == 4 and frames == 1:
        arr = arr[:, None]
    want = (
        f"[N, {frames}, {', '.join(map(str, shape))}]"
        if batched
        else f"[{frames}, {', '.join(map(str, shape))}]"
    )
    if arr.ndim != 5 or arr.shape[2:] != shape or arr.shape[1] not in (frames, model.T):
        raise ValueError(f"input: shape {np.asarray(x).shape}, expected {want}")
    if arr.dtype != np.uint8:
        if arr.dtype.kind not in "iu" or (arr.size and (arr.min() < 0 or arr.max() > 255)):
            raise ValueError(f"input: expected u8 values, got dtype {arr.dtype}")
        arr = arr.astype(np.uint8)
    if arr.shape[1] != model.T:
        arr = np.broadcast_to(arr, (arr.shape[0], model.T, *shape))
    return arr


def _last_use(model: Model) -> dict[int, int]:
    last: dict[int, int] = {}
    for k, op in enumerate(model.ops):
        last[op.in0] = k
        if isinstance(op, Logic):
            last[op.in1] = k
    return last


def run_batch(model: ModelSource, inputs: np.ndarray, trace: bool = False) -> BatchResult:
    """Run N samples `inputs` u8 [N, T, C, H, W] (or [N, 1, C, H, W] / [N, C, H, W] with STATIC_INPUT)."""
    m = as_model(model)
    return _execute(m, _input(m, inputs, batched=True), trace)


@dataclass
class _State:
    """What one pass over the ops accumulates besides the buffers: LIF counts and states, the logits."""

    m: Model
    bufs: dict[int, np.ndarray]
    counts: list[np.ndarray]
    states: list[np.ndarray]
    logits: np.ndarray


# op type -> (op, its input [N, T, H, W, C] channels-last, state) -> its output
OPS: OpTable[Callable[[Any, np.ndarray, _State], np.ndarray]] = OpTable("reference interpreter")


@OPS.register(Conv)
def _conv(op: Conv, x: np.ndarray, st: _State) -> np.ndarray:
    if op.static:  # the input is one frame repeated: compute once, broadcast over T
        once = kernels.conv(op, x[:, :1], spikes=op.in0 != 0)
        return np.broadcast_to(once, (once.shape[0], st.m.T, *once.shape[2:]))
    return kernels.conv(op, x, spikes=op.in0 != 0)


@OPS.register(Lif)
def _lif(op: Lif, x: np.ndarray, st: _State) -> np.ndarray:
    out, state = kernels.lif(op, x)
    st.counts.append(out.sum(axis=(1, 2, 3, 4), dtype=np.int64))
    st.states.append(state.transpose(0, 3, 1, 2))
    return out


@OPS.register(Attn)
def _attn(op: Attn, x: np.ndarray, st: _State) -> np.ndarray:
    return kernels.attn(op, x)


@OPS.register(MaxPool)
def _maxpool(op: MaxPool, x: np.ndarray, st: _State) -> np.ndarray:
    return kernels.maxpool(op, x)


@OPS.register(Logic)
def _logic(op: Logic, x: np.ndarray, st: _State) -> np.ndarray:
    return kernels.logic(op, x, st.bufs[op.in1])


@OPS.register(Readout)
def _readout(op: Readout, x: np.ndarray, st: _State) -> np.ndarray:
    out = kernels.readout(op, x)
    st.logits = out[:, -1]
    return out


def _execute(m: Model, x0: np.ndarray, trace: bool) -> BatchResult:
    limits.check(m, limits.reference_bytes(m), "reference buffers")  # per sample: an untrusted blob
    st = _State(m, {0: x0.transpose(0, 1, 3, 4, 2)}, [], [], np.empty(0, dtype=np.int32))  # channels-last
    bufs = st.bufs
    last = _last_use(m)
    traces: list[np.ndarray] = []
    for k, op in enumerate(m.ops):
        out = OPS.of(op)(op, bufs[op.in0], st)
        readout = isinstance(op, Readout)  # the one op without an output buffer: logits, not [.., H, W, C]
        if trace:
            traces.append(out if readout else out.transpose(0, 1, 4, 2, 3))
        if not isinstance(op, Readout):  # = not readout, spelled so that it narrows op's type
            bufs[op.out] = out
        for b in (op.in0, getattr(op, "in1", None)):
            if b is not None and last.get(b) == k:
                bufs.pop(b, None)
    logits = st.logits
    return BatchResult(
        logits=logits,
        predicted=np.argmax(logits, axis=1),  # first maximum: ties go to the lowest index
        spike_counts=np.stack(st.counts, axis=1) if st.counts else np.zeros((logits.shape[0], 0), np.int64),
        final_state=tuple(st.states),
        traces=tuple(traces) if trace else None,
    )


def run(model: ModelSource, input_u8: np.ndarray, trace: bool = False) -> Result:
    """Run one sample `input_u8` u8 [T, C, H, W] (or [1, C, H, W] / [C, H, W] with STATIC_INPUT)."""
    m = as_model(model)
    return _execute(m, _input(m, input_u8, batched=False), trace).sample(0)
