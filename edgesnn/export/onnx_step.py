"""ONNX writer for `.esnn` models and a driver that runs it with onnxruntime (issue 6, item 3).

The graph is built from the loaded `.esnn` `Model` (never from PyTorch) with standard ONNX ops only
(opset 17) and reproduces `edgesnn.reference` bit for bit; the exactness argument of every op is in
`edgesnn.export.onnx_ops`. Two graph kinds, recorded in the metadata key `edgesnn.graph`:

* ``step`` (causal graphs, header flag LAYER_MAJOR clear): ONE time step. Inputs: ``input`` uint8
  ``[N, C, H, W]`` (the frame of this step), ``state_<i>`` int32 ``[N, C, H, W]`` per LIF op i (membrane H,
  0 at the start of a sample) and ``logits_in`` int32 ``[N, classes]`` (the READOUT accumulator, the
  READOUT bias at the start; the bias is in the metadata key ``edgesnn.readout_bias``). Outputs:
  ``state_<i>_out``, ``logits_out`` and ``spike_counts`` int64 ``[N, num_lif]`` (spikes of this step).
  A STATIC_INPUT model is fed the same frame at every step; its static conv is simply recomputed.
* ``sequence`` (graphs with ATTN, LAYER_MAJOR set): attention pools over all T steps, so one step cannot
  be expressed; the graph takes the WHOLE sequence ``input`` uint8 ``[N, T, C, H, W]`` and returns
  ``logits`` int32 ``[N, classes]``, ``spike_counts`` int64 ``[N, num_lif]`` and ``final_state_<i>`` int32.
  Each LIF runs as a `Scan` over T.

`run_onnx(source, input_u8)` loops the steps (or runs the sequence graph once) and returns the
reference's `Result`; `run_onnx_batch` does N samples and returns a `BatchResult`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edgesnn.export import onnx_ops as ops
from edgesnn.export.onnx_ops import INSTALL_HINT, GraphBuilder, require_onnx
from edgesnn.format.layout import MAGIC
from edgesnn.format.model import Attn, Conv, Lif, Logic, MaxPool, Model, Readout
from edgesnn.format.registry import OpTable
from edgesnn.reference.interpreter import BatchResult, Result, as_model

OPSET = 17
STEP, SEQUENCE = "step", "sequence"
OnnxSource = Any  # an esnn Model, .esnn bytes/path, an onnx.ModelProto or .onnx bytes/path


def _info(name: str, elem: int, shape: list[int | str] | None) -> Any:  # None: shape not declared
    return require_onnx()[0].helper.make_tensor_value_info(name, elem, shape)


class _Io:
    """Graph inputs and outputs with their declared types and shapes."""

    def __init__(self, g: GraphBuilder) -> None:
        self.g, self.inputs, self.outputs = g, [], []  # type: ignore[var-annotated]

    def input(self, name: str, elem: int, shape: list[int | str]) -> str:
        self.inputs.append(_info(name, elem, shape))
        return name

    def output(self, value: str, name: str, elem: int, shape: list[int | str]) -> None:
        self.g.nodes.append(require_onnx()[0].helper.make_node("Identity", [value], [name]))
        self.outputs.append(_info(name, elem, shape))


def _counts(g: GraphBuilder, counts: list[str]) -> str:
    return g.node("Concat", [g.node("Unsqueeze", [c, g.const([1])]) for c in counts], "counts", axis=1)


def _lif_scan(m: Model, g: GraphBuilder, op: Lif, index: int, current: str) -> tuple[str, str, str]:
    """LIF over all T by `Scan` on int64 [T, N, C, H, W]: (final state, spike count [N], spikes [T, ...])."""
    onnx = require_onnx()[0]
    tp = onnx.TensorProto
    body = GraphBuilder(prefix=f"lif{index}_")
    names = [f"lif{index}_state", f"lif{index}_count", f"lif{index}_current"]
    spikes, state, count = ops.lif_step(body, op, names[2], names[0])
    total = body.node("Add", [names[1], count], "total")
    graph = onnx.helper.make_graph(
        body.nodes,
        f"lif{index}_step",
        [_info(names[0], tp.INT32, None), _info(names[1], tp.INT64, None), _info(names[2], tp.INT64, None)],
        [_info(state, tp.INT32, None), _info(total, tp.INT64, None), _info(spikes, tp.UINT8, None)],
        initializer=body.initializers,
    )
    zero32 = onnx.helper.make_tensor("zero32", tp.INT32, [1], [0])
    zero64 = onnx.helper.make_tensor("zero64", tp.INT64, [1], [0])
    state0 = g.node("ConstantOfShape", [g.node("Shape", [current], start=1)], value=zero32)
    count0 = g.node("ConstantOfShape", [g.node("Shape", [current], start=1, end=2)], value=zero64)
    final, counted, seq = g.node(
        "Scan", [state0, count0, current], "scan", outputs=3, body=graph, num_scan_inputs=1
    )
    return final, counted, seq


class _Graph:
    """One graph being built: the model, the builder, its inputs/outputs, buffer values and LIF counts."""

    def __init__(self, m: Model, g: GraphBuilder, io: _Io) -> None:
        self.m, self.g, self.io = m, g, io
        self.bufs: dict[int, str] = {}
        self.counts: list[str] = []

    def seq(self, b: int, dtype: str | None = None) -> str:
        """Sequence graph: buffer `b` (kept flat `[T*N, C, H, W]`) as `[T, N, C, H, W]`."""
        v = self.bufs[b] if dtype is None else self.g.cast(self.bufs[b], dtype)
        return self.g.reshape(v, [self.m.T, -1, *self.m.buffers[b].shape])


# op type -> (op, its index, the graph) -> None: the op's nodes, one table per graph kind
_Rule = Callable[[Any, int, _Graph], None]
STEP_OPS: OpTable[_Rule] = OpTable("ONNX step graph")
SEQUENCE_OPS: OpTable[_Rule] = OpTable("ONNX sequence graph")


@STEP_OPS.register(Conv)
@SEQUENCE_OPS.register(Conv)
def _conv(op: Conv, k: int, s: _Graph) -> None:
    s.bufs[op.out] = ops.conv(s.g, op, s.bufs[op.in0], op.in0 != 0, f"op {k} (CONV)")


@STEP_OPS.register(MaxPool)
@SEQUENCE_OPS.register(MaxPool)
def _maxpool(op: MaxPool, k: int, s: _Graph) -> None:
    s.bufs[op.out] = ops.maxpool(s.g, op, s.bufs[op.in0])


@STEP_OPS.register(Logic)
@SEQUENCE_OPS.register(Logic)
def _logic(op: Logic, k: int, s: _Graph) -> None:
    s.bufs[op.out] = ops.logic(s.g, op, s.bufs[op.in0], s.bufs[op.in1])


@STEP_OPS.register(Lif)
def _lif_step(op: Lif, k: int, s: _Graph) -> None:
    tp = require_onnx()[0].TensorProto
    i = len(s.counts)
    shape: list[int | str] = ["N", *s.m.buffers[op.out].shape]
    state = s.io.input(f"state_{i}", tp.INT32, shape)
    s.bufs[op.out], new_state, count = ops.lif_step(s.g, op, s.bufs[op.in0], state)
    s.io.output(new_state, f"state_{i}_out", tp.INT32, shape)
    s.counts.append(count)


@STEP_OPS.register(Readout)
def _readout_step(op: Readout, k: int, s: _Graph) -> None:
    tp = require_onnx()[0].TensorProto
    acc = s.g.cast(s.io.input("logits_in", tp.INT32, ["N", op.classes]), "int64")
    total = s.g.node("Add", [acc, ops.readout_partial(s.g, op, s.bufs[op.in0], [2, 3])])
    s.io.output(s.g.cast(total, "int32"), "logits_out", tp.INT32, ["N", op.classes])


def _step_graph(m: Model, g: GraphBuilder, io: _Io) -> None:
    tp = require_onnx()[0].TensorProto
    s = _Graph(m, g, io)
    s.bufs[0] = io.input("input", tp.UINT8, ["N", *m.input.shape])
    for k, op in enumerate(m.ops):
        if type(op) not in STEP_OPS and type(op) in SEQUENCE_OPS:
            raise ValueError(f"op {k} ({type(op).__name__}) needs the whole sequence; use a sequence graph")
        STEP_OPS.of(op)(op, k, s)
    io.output(_counts(g, s.counts), "spike_counts", tp.INT64, ["N", len(s.counts)])


@SEQUENCE_OPS.register(Attn)
def _attn_sequence(op: Attn, k: int, s: _Graph) -> None:
    out = ops.attn(s.g, op, s.seq(op.in0, "int64"), (s.m.T, *s.m.buffers[op.in0].shape))
    s.bufs[op.out] = s.g.reshape(out, [-1, *s.m.buffers[op.out].shape])


@SEQUENCE_OPS.register(Lif)
def _lif_sequence(op: Lif, k: int, s: _Graph) -> None:
    tp = require_onnx()[0].TensorProto
    i = len(s.counts)
    shape: list[int | str] = ["N", *s.m.buffers[op.out].shape]
    final, count, spikes = _lif_scan(s.m, s.g, op, i, s.seq(op.in0, "int64"))
    s.bufs[op.out] = s.g.reshape(spikes, [-1, *s.m.buffers[op.out].shape])
    s.io.output(final, f"final_state_{i}", tp.INT32, shape)
    s.counts.append(count)


@SEQUENCE_OPS.register(Readout)
def _readout_sequence(op: Readout, k: int, s: _Graph) -> None:
    tp = require_onnx()[0].TensorProto
    partial = ops.readout_partial(s.g, op, s.seq(op.in0), [0, 3, 4])
    total = s.g.node("Add", [partial, s.g.const(op.bias.astype(np.int64))], "logits")
    s.io.output(s.g.cast(total, "int32"), "logits", tp.INT32, ["N", op.classes])


def _sequence_graph(m: Model, g: GraphBuilder, io: _Io) -> None:
    """Whole-sequence graph: buffers are kept flat `[T*N, C, H, W]` and unflattened where T matters."""
    tp = require_onnx()[0].TensorProto
    s = _Graph(m, g, io)
    x = io.input("input", tp.UINT8, ["N", m.T, *m.input.shape])
    s.bufs[0] = g.reshape(g.node("Transpose", [x], perm=[1, 0, 2, 3, 4]), [-1, *m.input.shape])
    for k, op in enumerate(m.ops):
        SEQUENCE_OPS.of(op)(op, k, s)
    io.output(_counts(g, s.counts), "spike_counts", tp.INT64, ["N", len(s.counts)])


def _as_esnn(source: Any) -> Model | None:
    """The validated `.esnn` model when `source` is one (Model, blob or path), else None."""
    if isinstance(source, Model):
        return as_model(source)
    if isinstance(source, str | Path):
        source = Path(source).read_bytes()
    if isinstance(source, bytes | bytearray | memoryview) and bytes(source[:4]) == MAGIC:
        return as_model(bytes(source))
    return None


def to_onnx(source: Model | bytes | str | Path, simplify: bool = False) -> Any:
    """The ONNX model of an `.esnn` model (a `step` graph when causal, else a `sequence` graph), checked
    with `onnx.checker` (full check); with `simplify`, passed through onnx-simplifier and checked again."""
    onnx, _ = require_onnx()
    m = _as_esnn(source)
    if m is None:
        raise ValueError("to_onnx: expected an .esnn Model, blob or path")
    kind = SEQUENCE if m.layer_major or any(type(op) not in STEP_OPS for op in m.ops) else STEP
    g = GraphBuilder()
    io = _Io(g)
    (_sequence_graph if kind == SEQUENCE else _step_graph)(m, g, io)
    graph = onnx.helper.make_graph(g.nodes, f"esnn_{kind}", io.inputs, io.outputs, initializer=g.initializers)
    model = onnx.helper.make_model(
        graph, opset_imports=[onnx.helper.make_opsetid("", OPSET)], producer_name="edgesnn"
    )
    readout = m.ops[-1]
    assert isinstance(readout, Readout)
    onnx.helper.set_model_props(
        model,
        {
            "edgesnn.graph": kind,
            "edgesnn.T": str(m.T),
            "edgesnn.static_input": str(int(m.static_input)),
            "edgesnn.input_shape": json.dumps(list(m.input.shape)),
            "edgesnn.readout_bias": json.dumps(readout.bias.tolist()),
            "edgesnn.format_version": f"{m.version[0]}.{m.version[1]}",
        },
    )
    onnx.checker.check_model(model, full_check=True)
    return simplify_onnx(model) if simplify else model


def simplify_onnx(model: Any) -> Any:
    """onnx-simplifier's model (its own output comparison must pass), checked with `onnx.checker`."""
    onnx, _ = require_onnx()
    try:
        import onnxsim
    except ImportError as exc:
        raise ImportError(f"simplifying the ONNX model needs onnxsim: {INSTALL_HINT}") from exc
    simplified, ok = onnxsim.simplify(model)
    if not ok:
        raise ValueError("onnx-simplifier: the simplified model does not agree with the original")
    onnx.checker.check_model(simplified, full_check=True)
    return simplified


def save_onnx(source: Model | bytes | str | Path, path: str | Path, simplify: bool = True) -> Any:
    """Write the (simplified) ONNX model of an `.esnn` model to `path` and return it."""
    model = to_onnx(source, simplify=simplify)
    Path(path).write_bytes(model.SerializeToString())
    return model


def _as_onnx(source: OnnxSource) -> Any:
    onnx, _ = require_onnx()
    if isinstance(source, onnx.ModelProto):
        return source
    if _as_esnn(source) is not None:
        return to_onnx(source)
    raw = Path(source).read_bytes() if isinstance(source, str | Path) else bytes(source)
    return onnx.load_from_string(raw)


def _frames(meta: dict[str, str], inputs: np.ndarray) -> np.ndarray:
    """uint8 [N, T, C, H, W] from [N, T or 1 (STATIC_INPUT), C, H, W] (or [N, C, H, W] with STATIC_INPUT)."""
    T, shape = int(meta["edgesnn.T"]), tuple(json.loads(meta["edgesnn.input_shape"]))
    static = meta["edgesnn.static_input"] == "1"
    arr = np.asarray(inputs)
    if static and arr.ndim == 4:
        arr = arr[:, None]
    frames = (1, T) if static else (T,)
    if arr.ndim != 5 or arr.shape[2:] != shape or arr.shape[1] not in frames:
        raise ValueError(f"input: shape {np.asarray(inputs).shape}, expected [N, {frames[0]}, {shape}]")
    if arr.dtype != np.uint8:
        if arr.dtype.kind not in "iu" or (arr.size and (arr.min() < 0 or arr.max() > 255)):
            raise ValueError(f"input: expected u8 values, got dtype {arr.dtype}")
        arr = arr.astype(np.uint8)
    return np.ascontiguousarray(np.broadcast_to(arr, (arr.shape[0], T, *shape)))


def run_onnx_batch(source: OnnxSource, inputs: np.ndarray) -> BatchResult:
    """Run N samples u8 [N, T, C, H, W] with onnxruntime (CPU); the fields of the reference's `run_batch`."""
    _, ort = require_onnx()
    model = _as_onnx(source)
    meta = {p.key: p.value for p in model.metadata_props}
    if "edgesnn.graph" not in meta:
        raise ValueError("run_onnx: the ONNX model has no edgesnn metadata (not written by edgesnn)")
    x = _frames(meta, inputs)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    n = x.shape[0]
    if meta["edgesnn.graph"] == SEQUENCE:
        out = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"input": x}), strict=True))
        states = [out[f"final_state_{i}"] for i in range(out["spike_counts"].shape[1])]
        logits, counts = out["logits"], out["spike_counts"]
    else:
        feeds: dict[str, np.ndarray] = {}
        for spec in session.get_inputs():
            if spec.name.startswith("state_"):
                feeds[spec.name] = np.zeros((n, *spec.shape[1:]), dtype=np.int32)
        bias = np.asarray(json.loads(meta["edgesnn.readout_bias"]), dtype=np.int32)
        feeds["logits_in"] = np.repeat(bias[None], n, axis=0)
        names = [o.name for o in session.get_outputs()]
        counts = np.zeros((n, len(feeds) - 1), dtype=np.int64)
        for t in range(x.shape[1]):
            feeds["input"] = x[:, t]
            out = dict(zip(names, session.run(None, feeds), strict=True))
            counts += out["spike_counts"]
            feeds["logits_in"] = out["logits_out"]
            for i in range(counts.shape[1]):
                feeds[f"state_{i}"] = out[f"state_{i}_out"]
        logits = feeds["logits_in"]
        states = [feeds[f"state_{i}"] for i in range(counts.shape[1])]
    return BatchResult(
        logits=logits,
        predicted=np.argmax(logits, axis=1),
        spike_counts=counts,
        final_state=tuple(states),
    )


def run_onnx(source: OnnxSource, input_u8: np.ndarray) -> Result:
    """Run one sample u8 [T, C, H, W] (or [1, C, H, W] / [C, H, W] with STATIC_INPUT) with onnxruntime."""
    arr = np.asarray(input_u8)
    return run_onnx_batch(source, arr[None]).sample(0)
