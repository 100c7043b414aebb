"""Attention in fixed point (FORMAT.md ATTN): int8 scorer weights, sum-based pooling and score units.

With the input current ``x = x_int * u``: the bottleneck MLP is positively homogeneous, so with int8
weights ``w1 = s1 * w1q``, ``w2 = s2 * w2q`` and the shift after fc1,

    MLP(avg x) + MLP(max x) = (u / N) * (z(sum) + N * z(max)) * s1 * s2 * 2^shift

i.e. one score unit is ``sigma = u * s1 * s2 * 2^shift / N`` (S: ``u * s / N``). MA's sigmoid becomes a
staircase with K levels ``j / K`` (Q15) whose breakpoints are where the sigmoid crosses the midpoints,
expressed in score units; IA's gate (one LIF step from rest, open iff (score + bias) / tau >= V_th)
becomes one integer threshold per score index.
"""

from __future__ import annotations

import math

import numpy as np

from edgesnn.export import ir
from edgesnn.export.passes.bounds import ATTN_LIMIT, pooled_size, score_bound

MA_LEVELS = 256  # staircase steps: weights within 1 / (2 K) of the sigmoid


def _int8(w: np.ndarray) -> tuple[np.ndarray, float]:
    peak = float(np.abs(w).max())
    scale = peak / 127 if peak > 0 else 1.0
    return np.clip(np.round(w / scale), -127, 127).astype(np.int8), scale


def _clamp(v: float) -> int:
    return int(max(-(ATTN_LIMIT - 1), min(ATTN_LIMIT - 1, v)))


def staircase(score_unit: float, k: int = MA_LEVELS) -> tuple[np.ndarray, np.ndarray]:
    """(ascending int64 breakpoints, uint16 Q15 levels) of sigmoid over integer scores."""
    breaks: list[int] = []
    levels = [0]
    for j in range(1, k + 1):
        p = (j - 0.5) / k
        b = _clamp(math.ceil(math.log(p / (1 - p)) / score_unit))
        level = round(32768 * j / k)
        if breaks and b <= breaks[-1]:  # two levels share a breakpoint: keep the higher one
            levels[-1] = level
        else:
            breaks.append(b)
            levels.append(level)
    return np.array(breaks, dtype=np.int64), np.array(levels, dtype=np.uint16)


def gate_thresholds(op: ir.Attention, score_unit: float, count: int) -> np.ndarray:
    """IA: the gate opens iff score * sigma + bias >= V_th * tau (V_reset = 0, one step from rest)."""
    assert op.gate is not None
    bias = op.gate_bias if op.gate_bias is not None else np.zeros(count)
    need = op.gate.v_threshold * op.gate.tau - bias
    return np.array([_clamp(math.ceil(v / score_unit - 1e-9)) for v in need], dtype=np.int64)


def quantize_attention(
    op: ir.Attention, unit: float, shape: tuple[int, int, int], T: int, x_max: int
) -> ir.QAttention:
    """``unit``: the real value of one input unit; ``x_max``: worst-case |input| (chooses the shift)."""
    n_pool = pooled_size(op.dim, T, shape)
    w1, s1 = _int8(op.w1)
    if op.w2 is None:
        w2, s2, shift = None, 1.0, 0
    else:
        w2, s2 = _int8(op.w2)
        shift = next(s for s in range(63) if score_bound(w1, w2, s, n_pool, x_max) < ATTN_LIMIT)
    sigma = unit * s1 * s2 * 2.0**shift / n_pool
    if op.kind == "MA":
        table, levels = staircase(sigma)
    else:
        table, levels = gate_thresholds(op, sigma, 1 if op.dim == "S" else op.w1.shape[1]), None
    return ir.QAttention(op.dim, op.kind, w1, w2, shift, table, levels, sigma)
