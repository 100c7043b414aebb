"""Integer-exact ONNX builders for the ops of `.esnn` (export/FORMAT.md), used by `onnx_step`.

Every builder appends standard ONNX nodes (opset 17) to a `GraphBuilder` and returns output names.
Exactness argument, op by op (onnxruntime CPU provider):

* CONV: `ConvInteger` with uint8 input and the weights as uint8 with zero point 128 (`w + 128`), which
  is an integer product-sum accumulated in int32. The U8U8 path is used instead of U8S8 because
  onnxruntime's x86 U8S8 kernels may saturate int16 pair sums (VPMADDUBSW). int16 weights are split
  into a signed high byte and an unsigned low byte, `w = 256 hi + lo`, two ConvIntegers combined in
  int64. `conv_bound` proves that no int32 partial sum can overflow; otherwise the export is refused.
  The bias is added in int64 and the sum cast to int32, which wraps modulo 2^32 like the reference.
* Arithmetic right shift `a >> s` on int64 (ONNX `BitShift` is unsigned only, `Div` truncates):
  `(a - Mod(a, 2^s)) / 2^s` with `Mod(fmod=0)` in [0, 2^s): the division is exact, so truncation
  does not matter, and `a - Mod(a, 2^s)` cannot overflow while |a| < 2^62 (FORMAT.md section 3).
* LIF, ATTN, READOUT: int64 `Sub/Mul/Add/MatMul/ReduceSum/ReduceMax/GreaterOrEqual/Where/Clip/Gather`,
  exact below 2^63; the format's bounds keep every value below 2^62.
* MAXPOOL on 0/1 uint8 after an explicit zero `Pad` (max of 0/1 = OR, padding counts as 0 as the
  format says). LOGIC with the boolean `Or/And/Not`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgesnn.format.layout import AttnDim, AttnKind, LogicMode
from edgesnn.format.model import Attn, Conv, Lif, Logic, MaxPool, Readout

INT32_LIMIT = 1 << 31


INSTALL_HINT = "pip install 'edgesnn[onnx]'"


def require_onnx() -> tuple[Any, Any]:
    """(onnx, onnxruntime), imported lazily; a clear message when the optional extra is missing."""
    try:
        import onnx
        import onnxruntime
    except ImportError as exc:
        raise ImportError(
            f"the ONNX export needs onnx and onnxruntime ({exc.name} is missing): {INSTALL_HINT}"
        ) from exc
    return onnx, onnxruntime


def _onnx() -> Any:
    return require_onnx()[0]


class GraphBuilder:
    """Collects nodes and initializers; every name gets `prefix` so subgraphs never shadow the outer graph."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0
        self._consts: dict[tuple[str, bytes, tuple[int, ...]], str] = {}

    def fresh(self, hint: str) -> str:
        self._count += 1
        return f"{self.prefix}{hint}_{self._count}"

    def const(self, value: Any, dtype: type = np.int64, hint: str = "c") -> str:
        arr: np.ndarray = np.ascontiguousarray(np.asarray(value, dtype=dtype))
        key = (arr.dtype.str, arr.tobytes(), arr.shape)
        if key not in self._consts:
            name = self.fresh(hint)
            self.initializers.append(_onnx().numpy_helper.from_array(arr, name))
            self._consts[key] = name
        return self._consts[key]

    def node(self, op_type: str, inputs: list[str], hint: str = "", outputs: int = 1, **attrs: Any) -> Any:
        """Append one node; returns its output name (or the list of names when `outputs` > 1)."""
        names = [self.fresh(hint or op_type.lower()) for _ in range(outputs)]
        self.nodes.append(_onnx().helper.make_node(op_type, inputs, names, **attrs))
        return names[0] if outputs == 1 else names

    def cast(self, x: str, to: str) -> str:
        types = _onnx().TensorProto
        return self.node("Cast", [x], "cast", to={"int64": types.INT64, "int32": types.INT32,
                                                  "uint8": types.UINT8, "bool": types.BOOL}[to])  # fmt: skip

    def reshape(self, x: str, shape: list[int]) -> str:
        return self.node("Reshape", [x, self.const(shape)], "reshape")

    def reduce_sum(self, x: str, axes: list[int], keepdims: int = 0) -> str:
        return self.node("ReduceSum", [x, self.const(axes)], "sum", keepdims=keepdims)

    def floor_shift(self, x: str, shift: int) -> str:
        """`x >> shift` (arithmetic, int64) as an exact division of `x - Mod(x, 2^shift)`."""
        if shift == 0:
            return x
        d = self.const(1 << shift)
        rem = self.node("Mod", [x, d], "mod", fmod=0)
        return self.node("Div", [self.node("Sub", [x, rem], "sub"), d], "shr")

    def relu(self, x: str) -> str:
        return self.node("Max", [x, self.const(0)], "relu")


def conv_bound(op: Conv, max_in: int) -> int:
    """Largest |partial sum| any of the int32 ConvInteger accumulators can reach for inputs <= `max_in`.

    With the U8U8 path an accumulator may hold `Σ x·w_u8` before the zero-point correction, so the bound
    uses the largest stored uint8 weight (255) times the input range times the window size."""
    window = op.cin * op.kh * op.kw
    return window * max_in * 255


def conv(g: GraphBuilder, op: Conv, x: str, spikes: bool, what: str) -> str:
    """CONV on uint8 `x` [B, cin, H, W] -> int32 [B, cout, Ho, Wo] (exact, see the module docstring)."""
    bound = conv_bound(op, 1 if spikes else 255)
    if bound >= INT32_LIMIT:
        raise ValueError(
            f"{what}: a ConvInteger partial sum can reach {bound} >= 2^31 "
            f"(cin {op.cin} x {op.kh}x{op.kw} window); the ONNX export cannot prove it exact"
        )
    w = op.weights.astype(np.int64).transpose(3, 0, 1, 2)  # [cout, cin, kh, kw]
    attrs: dict[str, Any] = {
        "strides": [op.stride, op.stride],
        "pads": [op.pad] * 4,
        "kernel_shape": [op.kh, op.kw],
    }
    zero = g.const(0, np.uint8)

    def conv_u8(weights_u8: np.ndarray, zero_point: int) -> str:
        ins = [x, g.const(weights_u8, np.uint8, "w"), zero, g.const(zero_point, np.uint8)]
        return g.cast(g.node("ConvInteger", ins, "conv", **attrs), "int64")

    if op.weight_bits == 16:
        hi, lo = w >> 8, w & 0xFF  # w = 256 hi + lo, hi in -128..127, lo in 0..255
        acc = g.node("Add", [g.node("Mul", [conv_u8(hi + 128, 128), g.const(256)]), conv_u8(lo, 0)])
    else:
        acc = conv_u8(w + 128, 128)
    acc = g.node("Add", [acc, g.const(op.bias.astype(np.int64).reshape(1, -1, 1, 1))], "bias")
    return g.cast(acc, "int32")


def lif_step(g: GraphBuilder, op: Lif, current: str, state: str) -> tuple[str, str, str]:
    """One LIF step: (spikes uint8, new state int32, spike count int64 [B]) from `current` (int32 or
    int64) and `state` int32, all `[B, C, H, W]`."""
    i64, h64 = g.cast(current, "int64"), g.cast(state, "int64")
    leak = g.node("Mul", [g.node("Sub", [i64, h64]), g.const(op.leak_mul)], "leak")
    u = g.node("Add", [h64, g.floor_shift(leak, 16)], "u")
    fired = g.node("GreaterOrEqual", [u, g.const(op.thresholds.astype(np.int64).reshape(1, -1, 1, 1))])
    h = g.node("Where", [fired, g.const(0), u], "reset")
    if op.state_bits == 16:
        h = g.node("Clip", [h, g.const(-32768), g.const(32767)], "clamp")
    spikes = g.cast(fired, "uint8")
    count = g.reduce_sum(g.cast(fired, "int64"), [1, 2, 3])
    return spikes, g.cast(h, "int32"), count


def maxpool(g: GraphBuilder, op: MaxPool, x: str) -> str:
    """OR over windows of 0/1 uint8 `x` [B, C, H, W]: zero Pad, then MaxPool without padding."""
    if op.pad:
        p = op.pad
        x = g.node("Pad", [x, g.const([0, 0, p, p, 0, 0, p, p]), g.const(0, np.uint8)], "pad")
    k, s = op.kernel, op.stride
    return g.node("MaxPool", [x], "maxpool", kernel_shape=[k, k], strides=[s, s])


def logic(g: GraphBuilder, op: Logic, a: str, b: str) -> str:
    ab, bb = g.cast(a, "bool"), g.cast(b, "bool")
    if op.mode == LogicMode.OR:
        out = g.node("Or", [ab, bb])
    elif op.mode == LogicMode.AND:
        out = g.node("And", [ab, bb])
    else:
        out = g.node("And", [g.node("Not", [ab]), bb])
    return g.cast(out, "uint8")


def readout_partial(g: GraphBuilder, op: Readout, spikes: str, axes: list[int]) -> str:
    """int64 [N, classes]: spike counts per channel (summed over `axes`) times the weight rows."""
    counts = g.reduce_sum(g.cast(spikes, "int64"), axes)
    return g.node("MatMul", [counts, g.const(op.weights.astype(np.int64))], "readout")


def _bottleneck(g: GraphBuilder, op: Attn, v: str) -> str:
    """z(v) = w2 . max(0, (w1 . v) >> shift) for `v` int64 [N, n]."""
    assert op.w2 is not None
    hidden = g.node("MatMul", [v, g.const(op.w1.astype(np.int64).T)], "w1")
    hidden = g.relu(g.floor_shift(hidden, op.shift))
    return g.node("MatMul", [hidden, g.const(op.w2.astype(np.int64).T)], "w2")


def _spatial_score(g: GraphBuilder, op: Attn, x: str, shape: tuple[int, int, int, int]) -> str:
    """dim S score [1, N, 1, H, W]: the k x k integer conv of the sum and max maps, as shifted slices."""
    t, c, h, w = shape
    k, r = op.n, op.n // 2
    maps = [g.reduce_sum(x, [0, 2]), g.node("ReduceMax", [x], "max", axes=[0, 2], keepdims=0)]
    columns: list[str] = []
    for m in maps:  # [N, H, W] -> padded [N, H + 2r, W + 2r]
        padded = g.node("Pad", [m, g.const([0, r, r, 0, r, r]), g.const(0)], "pad") if r else m
        for ky in range(k):
            for kx in range(k):
                sl = g.node("Slice", [padded, g.const([ky, kx]), g.const([ky + h, kx + w]), g.const([1, 2])])
                columns.append(g.node("Unsqueeze", [sl, g.const([-1])]))
    stacked = g.node("Concat", columns, "taps", axis=-1)  # [N, H, W, 2 k k]
    taps = np.concatenate([op.w1[0].reshape(-1), (t * c) * op.w1[1].astype(np.int64).reshape(-1)])
    score = g.node("MatMul", [stacked, g.const(taps.astype(np.int64).reshape(-1, 1))], "score")
    return g.reshape(score, [1, -1, 1, h, w])


def attn(g: GraphBuilder, op: Attn, x: str, shape: tuple[int, int, int, int]) -> str:
    """ATTN on the whole sequence `x` int64 [T, N, C, H, W] -> int32 of the same shape (a CURRENT: the MA
    weighting can pass 2^31 - 1 and wraps modulo 2^32, as the reference and the runtimes store it)."""
    t, c, h, w = shape
    if op.dim == AttnDim.S:
        score = _spatial_score(g, op, x, shape)
        thr_shape = [1]
    else:
        axes, count, order = (
            ([2, 3, 4], c * h * w, [1, 0]) if op.dim == AttnDim.T else ([0, 3, 4], t * h * w, None)
        )
        pooled = [g.reduce_sum(x, axes), g.node("ReduceMax", [x], "max", axes=axes, keepdims=0)]
        if order:  # T: [T, N] -> [N, T]
            pooled = [g.node("Transpose", [v], perm=order) for v in pooled]
        z_sum, z_max = (_bottleneck(g, op, v) for v in pooled)
        score = g.node("Add", [z_sum, g.node("Mul", [z_max, g.const(count)])], "score")  # [N, n]
        if op.dim == AttnDim.T:
            score = g.reshape(g.node("Transpose", [score], perm=[1, 0]), [t, -1, 1, 1, 1])
            thr_shape = [t, 1, 1, 1, 1]
        else:
            score = g.reshape(score, [1, -1, c, 1, 1])
            thr_shape = [1, 1, c, 1, 1]
    if op.kind == AttnKind.MA:
        assert op.levels is not None
        reached = g.node("GreaterOrEqual", [g.node("Unsqueeze", [score, g.const([-1])]), g.const(op.table)])
        j = g.reduce_sum(g.cast(reached, "int64"), [-1])
        m = g.node("Gather", [g.const(op.levels.astype(np.int64), hint="levels"), j], "level")
        return g.cast(g.relu(g.floor_shift(g.node("Mul", [m, x], "weigh"), 15)), "int32")
    thr = op.table[:1] if op.dim == AttnDim.S else op.table
    gate = g.node("GreaterOrEqual", [score, g.const(thr.reshape(thr_shape))], "gate")
    return g.cast(g.node("Where", [gate, g.relu(x), g.const(0)], "gated"), "int32")
