"""Accumulator bounds: worst-case ranges over every possible input prove that every CONV accumulator, LIF
membrane and READOUT logit fits int32 and every ATTN score and product stays below 2^62 (FORMAT.md
section 3), or fail naming the layer. Picks ``state_bits`` = 16 for neurons whose state provably fits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from edgesnn.export import ir
from edgesnn.export.errors import ExportError
from edgesnn.format.registry import OpTable

INT32 = 2**31
ATTN_LIMIT = 2**62


def conv_range(op: ir.QConv, in_max: int) -> tuple[np.ndarray, np.ndarray]:
    """Per output channel (lowest, highest) accumulator over all inputs in [0, in_max]."""
    w = op.weight.astype(np.int64).reshape(-1, op.weight.shape[-1])  # [cin*kh*kw, cout]
    hi = op.bias.astype(np.int64) + in_max * np.clip(w, 0, None).sum(0)
    lo = op.bias.astype(np.int64) + in_max * np.clip(w, None, 0).sum(0)
    return lo, hi


def pooled_size(dim: str, T: int, shape: tuple[int, int, int]) -> int:
    """N of FORMAT.md ATTN: how many values the sum pools (T: C*H*W, C: T*H*W, S: T*C)."""
    c, h, w = shape
    return {"T": c * h * w, "C": T * h * w, "S": T * c}[dim]


def score_bound(w1: np.ndarray, w2: np.ndarray | None, shift: int, n_pool: int, x_max: int) -> int:
    """Largest |score| of an ATTN op whose input magnitude is at most ``x_max``."""
    a1 = np.abs(w1.astype(object))
    if w2 is None:  # S: sum map entries <= N*x, max map entries <= x, the max term times N
        return int(a1[0].sum() * n_pool * x_max + n_pool * a1[1].sum() * x_max)

    def z(v: int) -> int:
        hidden = [(int(row.sum()) * v >> shift) + 1 for row in a1]
        return int(
            max(
                int(np.abs(w2[i].astype(object)) @ np.array(hidden, dtype=object)) for i in range(w2.shape[0])
            )
        )

    return z(n_pool * x_max) + n_pool * z(x_max)


@dataclass(frozen=True)
class LayerBound:
    name: str
    kind: str
    bound: int  # worst-case magnitude of the accumulator / state / score
    limit: int
    state_bits: int | None = None

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "bound": self.bound, "limit": self.limit,
                "bits": self.limit.bit_length(), "state_bits": self.state_bits}  # fmt: skip


def _check(name: str, what: str, bound: int, limit: int) -> None:
    if bound >= limit:
        raise ExportError(
            f"{name}: worst-case {what} {bound} does not fit (limit {limit}); lower the weight bits"
        )


@dataclass
class _Ranges:
    """Per tensor, the lowest and highest value every possible input can give (what the rules pass on)."""

    graph: ir.Graph
    lo: dict[str, np.ndarray] = field(default_factory=dict)
    hi: dict[str, np.ndarray] = field(default_factory=dict)


# quantized op type -> (node, ranges) -> (the op, with LIF state_bits chosen; its bound row or None)
BOUNDS: OpTable[Callable[[ir.Node, _Ranges], tuple[ir.Op, LayerBound | None]]] = OpTable("bounds")


@BOUNDS.register(ir.QConv)
def _conv(node: ir.Node, r: _Ranges) -> tuple[ir.Op, LayerBound | None]:
    op, x = node.op, node.inputs[0]
    assert isinstance(op, ir.QConv)
    assert node.output is not None  # only the readout has no output tensor
    in_max = r.graph.input_scale_num if r.graph.tensors[x].kind == "input" else 1
    a_lo, a_hi = conv_range(op, in_max)
    bound = int(max(np.abs(a_lo).max(), np.abs(a_hi).max()))
    _check(node.name, "accumulator", bound, INT32)
    r.lo[node.output], r.hi[node.output] = a_lo, a_hi
    return op, LayerBound(node.name, "conv", bound, INT32)


@BOUNDS.register(ir.QAttention)
def _attention(node: ir.Node, r: _Ranges) -> tuple[ir.Op, LayerBound | None]:
    op, x = node.op, node.inputs[0]
    assert isinstance(op, ir.QAttention)
    assert node.output is not None  # only the readout has no output tensor
    x_max = int(max(np.abs(r.lo[x]).max(), np.abs(r.hi[x]).max()))
    n_pool = pooled_size(op.dim, r.graph.T, r.graph.tensors[x].shape)
    bound = max(score_bound(op.w1, op.w2, op.shift, n_pool, x_max), 32768 * x_max)
    _check(node.name, "score or product", bound, ATTN_LIMIT)
    r.lo[node.output] = np.zeros_like(r.lo[x])
    r.hi[node.output] = np.clip(r.hi[x], 0, None)
    return op, LayerBound(node.name, "attention", bound, ATTN_LIMIT)


@BOUNDS.register(ir.QLif)
def _lif(node: ir.Node, r: _Ranges) -> tuple[ir.Op, LayerBound | None]:
    op, x = node.op, node.inputs[0]
    assert isinstance(op, ir.QLif)
    thr = op.thresholds.astype(np.int64)
    u_bound = int(np.maximum(np.maximum(np.abs(r.lo[x]), np.abs(r.hi[x])), thr).max())
    _check(node.name, "membrane", u_bound, INT32)
    h_lo, h_hi = int(np.minimum(r.lo[x], 0).min()), int((thr - 1).max())
    bits = 16 if h_lo >= -(2**15) and h_hi < 2**15 else 32
    return replace(op, state_bits=bits), LayerBound(node.name, "lif", u_bound, INT32, bits)


@BOUNDS.register(ir.QReadout)
def _readout(node: ir.Node, r: _Ranges) -> tuple[ir.Op, LayerBound | None]:
    op, x = node.op, node.inputs[0]
    assert isinstance(op, ir.QReadout)
    _, h, w = r.graph.tensors[x].shape
    per_class = np.abs(op.weight.astype(np.int64)).sum(0) * r.graph.T * h * w
    bound = int((np.abs(op.bias.astype(np.int64)) + per_class).max())
    _check(node.name, "logit", bound, INT32)
    return op, LayerBound(node.name, "readout", bound, INT32)


@BOUNDS.register(ir.MaxPool, ir.Logic)
def _no_accumulator(node: ir.Node, r: _Ranges) -> tuple[ir.Op, LayerBound | None]:
    return node.op, None


def analyse_bounds(graph: ir.Graph) -> tuple[ir.Graph, list[LayerBound]]:
    """Check every integer op of a quantized graph; returns it with LIF ``state_bits`` chosen."""
    ranges = _Ranges(graph)
    nodes, rows = [], []
    for node in graph.nodes:
        rule = BOUNDS.get(type(node.op))
        if rule is None:
            raise ExportError(
                f"{node.name}: {type(node.op).__name__} is not quantized; run quantize first "
                f"(bounds knows {', '.join(BOUNDS.supported())})"
            )
        op, row = rule(node, ranges)
        if row is not None:
            rows.append(row)
        nodes.append(ir.Node(node.name, op, node.inputs, node.output))
    return graph.with_nodes(nodes), rows
