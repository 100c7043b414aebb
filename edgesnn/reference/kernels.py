"""Integer kernels of export/FORMAT.md, vectorised over a leading batch axis with numpy.

Tensors are channels-last `[N, T, H, W, C]` (all steps of a batch of samples: the reference runs
layer-major; channels last makes im2col cheap).
Spikes are uint8 0/1; currents int32 (CONV, as the format says) or int64 (ATTN output). No floats.
"""

from __future__ import annotations

import numpy as np

from edgesnn.format.layout import AttnDim, AttnKind, LogicMode
from edgesnn.format.model import Attn, Conv, Lif, Logic, MaxPool, Readout

_CHUNK_BYTES = 64 << 20  # bound on one im2col block


def _padded(x: np.ndarray, pad: int, dtype: type) -> np.ndarray:
    """`[M, H, W, C]` zero-padded on H and W, as `dtype`."""
    m, h, w, c = x.shape
    out = np.zeros((m, h + 2 * pad, w + 2 * pad, c), dtype=dtype)
    out[:, pad : pad + h, pad : pad + w] = x
    return out


def out_hw(h: int, w: int, kh: int, kw: int, stride: int, pad: int) -> tuple[int, int]:
    return (h + 2 * pad - kh) // stride + 1, (w + 2 * pad - kw) // stride + 1


_BITS = ((np.arange(256)[:, None] >> np.arange(8)) & 1).astype(np.int32)  # byte value -> its 8 bits


def _im2col(x: np.ndarray, kh: int, kw: int, stride: int, pad: int, dtype: type) -> np.ndarray:
    """`[M, H, W, C]` -> `[M * Ho * Wo, kh * kw * C]` rows (order ky, kx, c), zero padding outside."""
    xp = _padded(x, pad, dtype)
    m, c = x.shape[0], x.shape[3]
    ho, wo = out_hw(x.shape[1], x.shape[2], kh, kw, stride, pad)
    cols: np.ndarray = np.empty((m, ho, wo, kh, kw, c), dtype=dtype)
    for ky in range(kh):
        for kx in range(kw):
            cols[:, :, :, ky, kx] = xp[
                :, ky : ky + stride * (ho - 1) + 1 : stride, kx : kx + stride * (wo - 1) + 1 : stride
            ]
    return cols.reshape(m * ho * wo, kh * kw * c)


def _binary_matmul(cols: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """`cols` (0/1) @ `weights` in int32 by table lookup: the 0/1 columns are packed 8 to a byte, and each
    byte indexes a 256-row table of the sums of its 8 weight rows (integer adds only, ~10x a matmul)."""
    k, cout = weights.shape
    groups = (k + 7) // 8
    packed = np.ascontiguousarray(np.packbits(cols.astype(bool), axis=1, bitorder="little").T)
    padded = np.zeros((groups * 8, cout), dtype=np.int32)
    padded[:k] = weights
    acc = np.zeros((cols.shape[0], cout), dtype=np.int32)
    part = np.empty_like(acc)
    for g in range(groups):
        table = _BITS @ padded[8 * g : 8 * g + 8]
        np.take(table, packed[g], axis=0, out=part)
        acc += part
    return acc


def conv(op: Conv, x: np.ndarray, spikes: bool) -> np.ndarray:
    """CONV on `[N, T, H, W, Cin]` -> int32 `[N, T, Ho, Wo, Cout]` via im2col. int32 is exact: the exporter
    proves |acc| < 2^31 and int32 adds wrap modulo 2^32, so an overflowing partial sum still ends right.
    Spike input (0/1) goes through the table-lookup product, u8 input through an int32 matmul."""
    n, t, h, w, cin = x.shape
    kh, kw = op.kh, op.kw
    ho, wo = out_hw(h, w, kh, kw, op.stride, op.pad)
    weights = op.weights.astype(np.int32).transpose(1, 2, 0, 3).reshape(kh * kw * cin, op.cout)
    flat = x.reshape(n * t, h, w, cin)
    out = np.empty((n * t, ho, wo, op.cout), dtype=np.int32)
    step = max(1, _CHUNK_BYTES // (4 * ho * wo * max(kh * kw * cin, op.cout)))
    for m0 in range(0, n * t, step):
        if spikes:
            acc = _binary_matmul(_im2col(flat[m0 : m0 + step], kh, kw, op.stride, op.pad, np.uint8), weights)
        else:
            acc = _im2col(flat[m0 : m0 + step], kh, kw, op.stride, op.pad, np.int32) @ weights
        acc += op.bias
        out[m0 : m0 + step] = acc.reshape(-1, ho, wo, op.cout)
    return out.reshape(n, t, ho, wo, op.cout)


def lif(op: Lif, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(spikes uint8 [N, T, H, W, C], final state int32 [N, H, W, C]); U and the leak product in int64."""
    thr = op.thresholds.astype(np.int64)
    state = np.zeros(current.shape[:1] + current.shape[2:], dtype=np.int64)
    spikes = np.empty(current.shape, dtype=np.uint8)
    for t in range(current.shape[1]):
        u = state + (((current[:, t].astype(np.int64) - state) * op.leak_mul) >> 16)
        fired = u >= thr
        spikes[:, t] = fired
        state = np.where(fired, 0, u)
        if op.state_bits == 16:
            state = np.clip(state, -32768, 32767)
    return spikes, state.astype(np.int32)


def _bottleneck(op: Attn, v: np.ndarray) -> np.ndarray:
    """z(v) = w2 . max(0, (w1 . v) >> shift) for `v` [N, n] int64."""
    assert op.w2 is not None
    hidden = np.maximum(0, (v @ op.w1.astype(np.int64).T) >> op.shift)
    return hidden @ op.w2.astype(np.int64).T


def attn_score(op: Attn, x: np.ndarray) -> np.ndarray:
    """The int64 score, shaped to broadcast over `x` [N, T, H, W, C]."""
    x = x.astype(np.int64)
    n, t, h, w, c = x.shape
    if op.dim == AttnDim.S:
        s, mx = x.sum(axis=(1, 4)), x.max(axis=(1, 4))
        k, r = op.n, op.n // 2
        sp = np.pad(s, ((0, 0), (r, r), (r, r)))
        mp = np.pad(mx, ((0, 0), (r, r), (r, r)))
        w1 = op.w1.astype(np.int64)
        score = np.zeros((n, h, w), dtype=np.int64)
        for ky in range(k):
            for kx in range(k):
                score += w1[0, ky, kx] * sp[:, ky : ky + h, kx : kx + w]
                score += (t * c) * w1[1, ky, kx] * mp[:, ky : ky + h, kx : kx + w]
        return score[:, None, :, :, None]
    axes, count = ((2, 3, 4), c * h * w) if op.dim == AttnDim.T else ((1, 2, 3), t * h * w)
    score = _bottleneck(op, x.sum(axis=axes)) + count * _bottleneck(op, x.max(axis=axes))
    return score[:, :, None, None, None] if op.dim == AttnDim.T else score[:, None, None, None, :]


def attn(op: Attn, x: np.ndarray) -> np.ndarray:
    """ATTN output for the whole sequence `x` [N, T, H, W, C]: int32, as every CURRENT buffer (an MA
    weighting of a large current can pass 2^31 - 1: it wraps modulo 2^32, as the C and MicroPython runtimes
    store it)."""
    score = attn_score(op, x)
    x = x.astype(np.int64)
    if op.kind == AttnKind.MA:
        assert op.levels is not None
        j = np.searchsorted(op.table, score, side="right")  # number of breakpoints b with score >= b
        m = op.levels.astype(np.int64)[j]
        return np.maximum(0, (m * x) >> 15).astype(np.int32)  # astype wraps modulo 2^32
    if op.dim == AttnDim.S:
        thr = op.table[:1].reshape(1, 1, 1, 1, 1)
    elif op.dim == AttnDim.T:
        thr = op.table.reshape(1, -1, 1, 1, 1)
    else:
        thr = op.table.reshape(1, 1, 1, 1, -1)
    gate = score >= thr
    return np.where(gate, np.maximum(0, x), 0).astype(np.int32)


def maxpool(op: MaxPool, x: np.ndarray) -> np.ndarray:
    """OR over each window of spikes `[N, T, H, W, C]` (outside the frame counts as 0)."""
    n, t, h, w, c = x.shape
    k, s = op.kernel, op.stride
    ho, wo = out_hw(h, w, k, k, s, op.pad)
    xp = _padded(x.reshape(n * t, h, w, c), op.pad, np.uint8)
    out = np.zeros((n * t, ho, wo, c), dtype=np.uint8)
    for ky in range(k):
        for kx in range(k):
            out |= xp[:, ky : ky + s * (ho - 1) + 1 : s, kx : kx + s * (wo - 1) + 1 : s]
    return out.reshape(n, t, ho, wo, c)


def logic(op: Logic, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if op.mode == LogicMode.OR:
        return a | b
    if op.mode == LogicMode.AND:
        return a & b
    return (1 - a) & b


def readout(op: Readout, spikes: np.ndarray) -> np.ndarray:
    """Running logits after each step, int32 [N, T, classes] (the last step is the sample's logits)."""
    per_step = spikes.sum(axis=(2, 3), dtype=np.int64)  # [N, T, C] from [N, T, H, W, C]
    partial = per_step @ op.weights.astype(np.int64)
    return (op.bias.astype(np.int64) + np.cumsum(partial, axis=1)).astype(np.int32)
