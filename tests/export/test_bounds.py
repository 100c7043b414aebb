"""Accumulator bounds: hand-computed worst cases, overflow refused naming the layer, int16 state."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from edgesnn.export import ir
from edgesnn.export.capture import capture
from edgesnn.export.errors import ExportError
from edgesnn.export.passes.bounds import analyse_bounds, conv_range, score_bound
from edgesnn.export.passes.fold_bn import fold_batchnorm
from edgesnn.export.passes.quantize import quantize
from tests.export.nets import tiny_model


def test_conv_range_by_hand() -> None:
    w = np.array([[[[3, -2]], [[-1, 5]]]])  # [cin=1][kh=1][kw=2][cout=2]
    op = ir.QConv(w, np.array([10, -4], dtype=np.int32), 8, 1, 0, False, np.ones(2))
    lo, hi = conv_range(op, 255)
    assert lo.tolist() == [10 - 255, -4 - 2 * 255] and hi.tolist() == [10 + 3 * 255, -4 + 5 * 255]


def test_score_bound_by_hand() -> None:
    w1 = np.array([[1, -2]])  # hidden 1, n 2
    w2 = np.array([[3], [-1]])
    # z(v) <= 3 * ((3 v >> 0) + 1); score <= z(N x) + N z(x) with N = 4, x = 10
    assert score_bound(w1, w2, 0, 4, 10) == 3 * (3 * 40 + 1) + 4 * 3 * (3 * 10 + 1)
    s = np.array([[[1, -1]], [[2, 0]]])  # S: [2][k][k]
    assert score_bound(s, None, 0, 4, 10) == 2 * 4 * 10 + 4 * 2 * 10


def test_model_bounds_and_state_bits() -> None:
    q, rows = analyse_bounds(quantize(fold_batchnorm(capture(tiny_model(attention="C"))), 8))
    kinds = {r.kind for r in rows}
    assert kinds == {"conv", "lif", "attention", "readout"}
    lifs = [n.op for n in q.nodes if isinstance(n.op, ir.QLif)]
    assert all(op.state_bits in (16, 32) for op in lifs)
    assert any(op.state_bits == 16 for op in lifs)


def test_overflow_fails_naming_the_layer() -> None:
    g = quantize(fold_batchnorm(capture(tiny_model())), 16)
    nodes = list(g.nodes)
    big = replace(nodes[2].op, bias=np.full_like(nodes[2].op.bias, 2**31 - 10))
    nodes[2] = ir.Node(nodes[2].name, big, nodes[2].inputs, nodes[2].output)
    with pytest.raises(
        ExportError, match=r"features\.0\.conv_bn\.conv: worst-case accumulator \d+ does not fit"
    ):
        analyse_bounds(g.with_nodes(nodes))


def test_large_threshold_needs_32_bit_state() -> None:
    g = quantize(fold_batchnorm(capture(tiny_model())), 16)
    nodes = list(g.nodes)
    nodes[1] = ir.Node(
        nodes[1].name,
        replace(nodes[1].op, thresholds=np.full(4, 40000, np.int32)),
        nodes[1].inputs,
        nodes[1].output,
    )
    q, _ = analyse_bounds(g.with_nodes(nodes))
    assert q.nodes[1].op.state_bits == 32
