"""Post-training quantization of a BN-folded graph to FORMAT.md's integers.

- CONV: weights int4/int8/int16 with one scale per output channel (``s = max|w| / qmax``), or one scale
  for the whole tensor when the conv feeds attention (attention pools across channels). The accumulator
  is in units ``s * in_unit`` (in_unit = 1 / input_scale_num for the u8 input, 1 for spikes); the bias
  is rounded to those units.
- LIF: threshold = max(1, round(V_th / unit)) per channel, leak_mul = round(65536 / tau).
- ATTN: ``quantize_attention`` (units carried through unchanged: out = relu(w * x)).
- READOUT: one weight scale; the bias is scaled by T*H*W because the global average pool and the mean
  over T are folded into the logit scale.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from edgesnn.export import ir
from edgesnn.export.errors import ExportError
from edgesnn.export.passes.bounds import conv_range
from edgesnn.export.passes.quantize_attention import quantize_attention
from edgesnn.format.registry import OpTable

WEIGHT_BITS = (4, 8, 16)


class _State:
    def __init__(self, graph: ir.Graph, bits: int) -> None:
        self.graph = graph
        self.bits = bits
        self.units: dict[str, np.ndarray] = {}
        self.x_max: dict[str, int] = {}


def _scales(w: np.ndarray, qmax: int, per_tensor: bool) -> np.ndarray:
    peak = np.abs(w).reshape(w.shape[0], -1).max(1)
    if per_tensor:
        peak = np.full_like(peak, peak.max())
    return np.where(peak > 0, peak / qmax, 1.0)


def _conv(st: _State, node: ir.Node) -> ir.Op:
    op, x = node.op, node.inputs[0]
    assert isinstance(op, ir.Conv)
    if op.weight.shape[2] != op.weight.shape[3]:
        raise ExportError(f"{node.name}: non-square kernel")
    feeds_attention = any(isinstance(n.op, ir.Attention) for n in st.graph.consumers(node.output or ""))
    qmax = 2 ** (st.bits - 1) - 1
    s = _scales(op.weight, qmax, feeds_attention)
    from_input = st.graph.tensors[x].kind == "input"
    unit = s / st.graph.input_scale_num if from_input else s
    w = np.clip(np.round(op.weight / s[:, None, None, None]), -qmax, qmax).astype(np.int64)
    bias = op.bias if op.bias is not None else np.zeros(len(s))
    b = np.round(bias / unit)
    if np.abs(b).max(initial=0) >= 2**31:
        raise ExportError(f"{node.name}: bias does not fit int32 at {st.bits}-bit weights")
    q = ir.QConv(
        w.transpose(1, 2, 3, 0).copy(), b.astype(np.int32), st.bits, op.stride, op.pad, op.static, unit
    )
    lo, hi = conv_range(q, st.graph.input_scale_num if from_input else 1)
    st.units[node.output or ""] = unit
    st.x_max[node.output or ""] = int(max(np.abs(lo).max(), np.abs(hi).max()))
    return q


def _attention(st: _State, node: ir.Node) -> ir.Op:
    op, x = node.op, node.inputs[0]
    assert isinstance(op, ir.Attention)
    unit = st.units[x]
    if not np.all(unit == unit[0]):
        raise ExportError(f"{node.name}: its input conv must use one scale for all channels")
    q = quantize_attention(op, float(unit[0]), st.graph.tensors[x].shape, st.graph.T, st.x_max[x])
    st.units[node.output or ""] = unit
    st.x_max[node.output or ""] = st.x_max[x]
    return q


def _lif(st: _State, node: ir.Node) -> ir.Op:
    op = node.op
    assert isinstance(op, ir.Lif)
    unit = st.units[node.inputs[0]]
    thr = np.maximum(1, np.round(op.v_threshold / unit))
    if thr.max() >= 2**31:
        raise ExportError(f"{node.name}: threshold does not fit int32 (weights too small)")
    leak = round(65536 / op.tau)
    if not 1 <= leak <= 65536:
        raise ExportError(f"{node.name}: tau = {op.tau} gives leak_mul {leak} outside 1..65536")
    return ir.QLif(thr.astype(np.int32), leak)


def _readout(st: _State, node: ir.Node) -> ir.Op:
    op = node.op
    assert isinstance(op, ir.Readout)
    _, h, w = st.graph.tensors[node.inputs[0]].shape
    steps = st.graph.T * h * w
    qmax = 2 ** (st.bits - 1) - 1
    peak = float(np.abs(op.weight).max())
    s = peak / qmax if peak > 0 else 1.0
    wq = np.clip(np.round(op.weight / s), -qmax, qmax).astype(np.int64).T.copy()  # [channels][classes]
    b = np.round(op.bias * steps / s)
    if np.abs(b).max(initial=0) >= 2**31:
        raise ExportError(f"{node.name}: bias does not fit int32")
    return ir.QReadout(wq, b.astype(np.int32), st.bits, s / steps)


def _keep(st: _State, node: ir.Node) -> ir.Op:
    return node.op


# float op type -> (state, node) -> its integer op
QUANTIZERS: OpTable[Callable[[_State, ir.Node], ir.Op]] = OpTable("quantize")
QUANTIZERS.register(ir.Conv)(_conv)
QUANTIZERS.register(ir.Attention)(_attention)
QUANTIZERS.register(ir.Lif)(_lif)
QUANTIZERS.register(ir.Readout)(_readout)
QUANTIZERS.register(ir.MaxPool, ir.Logic)(_keep)


def quantize(graph: ir.Graph, weight_bits: int = 8) -> ir.Graph:
    if weight_bits not in WEIGHT_BITS:
        raise ExportError(f"weight bits must be one of {WEIGHT_BITS}, got {weight_bits}")
    st = _State(graph, weight_bits)
    nodes = []
    for node in graph.nodes:
        fn = QUANTIZERS.get(type(node.op))
        if fn is None:
            raise ExportError(
                f"{node.name}: cannot quantize {type(node.op).__name__} (fold BatchNorm first; "
                f"quantize knows {', '.join(QUANTIZERS.supported())})"
            )
        nodes.append(ir.Node(node.name, fn(st, node), node.inputs, node.output))
    return graph.with_nodes(nodes, note=f"quantized to int{weight_bits} weights")
