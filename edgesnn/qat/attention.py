"""SynA attention in fixed point (FORMAT.md ATTN) as a torch forward: exact integers in the forward pass,
straight-through gradients in the backward pass.

The integer parameters (int8 ``w1``/``w2``, shift, MA breakpoints and Q15 levels, IA thresholds, score
unit) come from the exporter's own ``quantize_attention`` applied to the live weights, so they are the
ones ``edgesnn export`` writes. The score is computed in int64 exactly as the reference kernel does (sums
over the whole sequence can pass 2^53, so float64 would not be exact). The gradient path is the float
module's: ``sigmoid`` of the real-valued score (MA) or the IA gate's ATan surrogate, with the score
recomputed in float64 from straight-through int8 weights; its value is added as ``g - g.detach()`` (an
exact zero), so it never changes a forward value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F

from edgesnn.export import ir
from edgesnn.export.passes.bounds import pooled_size
from edgesnn.export.passes.quantize_attention import quantize_attention
from edgesnn.models.attention import Attention, AttentionDim, AttentionKind, BottleneckMLP, SpatialScorer
from edgesnn.neurons.lif import LIFParams, spike_fn
from edgesnn.qat.ste import floor_ste

Q15 = 32768


@dataclass(frozen=True)
class QuantAttention:
    """One ATTN op's integers (``qop``, as exported) plus the torch tensors of its gradient path."""

    qop: ir.QAttention
    n_pool: int  # N of FORMAT.md: the max term's weight
    w1: torch.Tensor  # float64 holding qop.w1, with straight-through gradients to the float weight
    w2: torch.Tensor | None
    gate_bias: torch.Tensor | None  # IA: the float gate bias (trained through the surrogate)
    gate: LIFParams | None


def _ste_int8(w: torch.Tensor, q: np.ndarray) -> torch.Tensor:
    """The int8 values ``q`` of ``w`` (value exactly ``q``), gradient d q / d w = 1 / scale."""
    wd = w.double()
    peak = float(wd.detach().abs().max())
    scaled = wd / (peak / 127 if peak > 0 else 1.0)
    return torch.from_numpy(q.astype(np.float64)) + (scaled - scaled.detach())


def _arr(t: torch.Tensor | None) -> np.ndarray | None:
    return None if t is None else t.detach().cpu().numpy().astype(np.float64)


def quantize_attention_module(
    m: Attention, unit: float, shape: tuple[int, int, int], T: int, x_max: int
) -> QuantAttention:
    """``unit``: the real value of one unit of the input current (one scale for all channels), ``shape``:
    the input's (C, H, W), ``x_max``: the input conv's worst-case |accumulator| (chooses the shift)."""
    if m.dim is AttentionDim.S:
        w1_t, w2_t = cast(SpatialScorer, m.scorer).conv.weight[0], None
    else:
        mlp = cast(BottleneckMLP, m.scorer)  # what Attention builds for dim T and C
        w1_t, w2_t = mlp.fc1.weight, mlp.fc2.weight
    gate = m.gate.params if m.kind is AttentionKind.IA else None
    gate_op = None if gate is None else ir.Lif(gate.v_threshold, gate.v_reset, gate.tau)
    w1_np = _arr(w1_t)
    assert w1_np is not None
    op = ir.Attention(m.dim.value, m.kind.value, w1_np, _arr(w2_t), _arr(m.gate_bias), gate_op)
    qop = quantize_attention(op, unit, shape, T, x_max)
    w2 = None if w2_t is None or qop.w2 is None else _ste_int8(w2_t, qop.w2)
    bias = None if m.gate_bias is None else m.gate_bias.double()
    n_pool = pooled_size(m.dim.value, T, shape)
    return QuantAttention(qop, n_pool, _ste_int8(w1_t, qop.w1), w2, bias, gate)


def _pool_axes(dim: str) -> tuple[int, ...]:
    return {"T": (2, 3, 4), "C": (0, 3, 4), "S": (0, 2)}[dim]


def _pooled(x: torch.Tensor, dim: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(sum, max) over the pooled axes of ``[T, B, C, H, W]``: T -> [B, T], C -> [B, C], S -> [B, H, W]."""
    axes = _pool_axes(dim)
    s, mx = x.sum(dim=axes), x.amax(dim=axes)
    return (s.t(), mx.t()) if dim == "T" else (s, mx)


def _broadcast(score: torch.Tensor, dim: str) -> torch.Tensor:
    if dim == "T":
        return score.t()[:, :, None, None, None]  # [T, B, 1, 1, 1]
    if dim == "C":
        return score[None, :, :, None, None]  # [1, B, C, 1, 1]
    return score[None, :, None, :, :]  # [1, B, 1, H, W]


def score_int(qa: QuantAttention, x: torch.Tensor) -> torch.Tensor:
    """The int64 score of FORMAT.md for the integer input ``x`` int64 [T, B, C, H, W], broadcastable."""
    q, n = qa.qop, qa.n_pool
    s, mx = _pooled(x, q.dim)
    w1 = torch.from_numpy(q.w1.astype(np.int64))
    if q.dim == "S":
        k = w1.shape[-1]
        r = k // 2
        h, w = s.shape[-2:]
        sp, mp = F.pad(s, (r, r, r, r)), F.pad(mx, (r, r, r, r))
        score = torch.zeros_like(s)
        for ky in range(k):
            for kx in range(k):
                score += w1[0, ky, kx] * sp[:, ky : ky + h, kx : kx + w]
                score += n * w1[1, ky, kx] * mp[:, ky : ky + h, kx : kx + w]
        return _broadcast(score, "S")
    assert q.w2 is not None
    w2 = torch.from_numpy(q.w2.astype(np.int64))

    def z(v: torch.Tensor) -> torch.Tensor:
        return ((v @ w1.T) >> q.shift).clamp(min=0) @ w2.T

    return _broadcast(z(s) + n * z(mx), q.dim)


def score_float(qa: QuantAttention, x: torch.Tensor) -> torch.Tensor:
    """The same score in float64 from the straight-through weights (the gradient path; ReLU and a real
    division stand in for the floor of the shift, so the value is close to, not equal to, the integer)."""
    q, n = qa.qop, qa.n_pool
    s, mx = _pooled(x, q.dim)
    if q.dim == "S":
        maps = torch.stack([s, n * mx], dim=1)  # [B, 2, H, W]
        score = F.conv2d(maps, qa.w1[None], padding=qa.w1.shape[-1] // 2)[:, 0]
        return _broadcast(score, "S")
    assert qa.w2 is not None
    w1, w2 = qa.w1, qa.w2

    def z(v: torch.Tensor) -> torch.Tensor:
        return torch.relu(v @ w1.T / 2.0**q.shift) @ w2.T

    return _broadcast(z(s) + n * z(mx), q.dim)


def _thresholds(q: ir.QAttention) -> torch.Tensor:
    table = torch.from_numpy(q.table.astype(np.int64))
    if q.dim == "S":
        return table[:1].reshape(1, 1, 1, 1, 1)
    if q.dim == "T":
        return table.reshape(-1, 1, 1, 1, 1)  # [T, 1, 1, 1, 1]: one per step
    return table.reshape(1, 1, -1, 1, 1)  # one per channel


def _gate_bias(qa: QuantAttention) -> torch.Tensor:
    assert qa.gate_bias is not None
    b = qa.gate_bias
    if qa.qop.dim == "S":
        return b.reshape(1, 1, 1, 1, 1)
    if qa.qop.dim == "T":
        return b.reshape(-1, 1, 1, 1, 1)
    return b.reshape(1, 1, -1, 1, 1)


def attention(qa: QuantAttention, x: torch.Tensor) -> torch.Tensor:
    """ATTN on the integer-valued current ``x`` float64 [T, B, C, H, W] (|x| < 2^31, as the exporter's
    bounds prove); returns the integer-valued output current, differentiable."""
    q = qa.qop
    score = score_int(qa, x.detach().long())
    real = score_float(qa, x) * q.score_unit  # the float module's score (MA: sigmoid's argument)
    if q.kind == "MA":
        assert q.levels is not None
        levels = torch.from_numpy(q.levels.astype(np.int64))
        j = torch.searchsorted(torch.from_numpy(q.table), score.contiguous(), right=True)
        m = levels[j].double() / Q15  # exact: a Q15 integer over 2^15
        soft = torch.sigmoid(real)
        weight = m + (soft - soft.detach())
        # (m * x) >> 15 == floor(m / 2^15 * x): the product is below 2^47, exact in float64
        return floor_ste(torch.relu(weight * x))
    assert qa.gate is not None
    g = (score >= _thresholds(q)).double()
    p = qa.gate
    u = (real + _gate_bias(qa)) / p.tau - p.v_threshold  # one LIF step from rest (v_reset = 0)
    sur = spike_fn(u, p.alpha)
    return torch.relu(x) * (g + (sur - sur.detach()))
