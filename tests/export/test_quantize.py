"""Quantization: scales, thresholds, leak, attention tables, and float-vs-integer agreement."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgesnn.export import ir
from edgesnn.export.agreement import measure_agreement
from edgesnn.export.capture import capture
from edgesnn.export.emit import to_blob
from edgesnn.export.errors import ExportError
from edgesnn.export.passes.bounds import analyse_bounds
from edgesnn.export.passes.fold_bn import fold_batchnorm
from edgesnn.export.passes.quantize import quantize
from edgesnn.export.passes.quantize_attention import staircase
from tests.export.nets import images, tiny_model


def _q(bits: int = 8, **overrides) -> tuple[ir.Graph, ir.Graph]:
    folded = fold_batchnorm(capture(tiny_model(**overrides)))
    return folded, quantize(folded, bits)


@pytest.mark.parametrize("bits", [4, 8, 16])
def test_conv_weights_per_channel_and_thresholds_in_weight_units(bits: int) -> None:
    folded, q = _q(bits)
    f_conv, q_conv, q_lif = folded.nodes[0].op, q.nodes[0].op, q.nodes[1].op
    qmax = 2 ** (bits - 1) - 1
    assert (
        q_conv.weight.shape == (1, 3, 3, 4)
        and np.abs(q_conv.weight).max(axis=(0, 1, 2)).tolist() == [qmax] * 4
    )
    scale = np.abs(f_conv.weight).reshape(4, -1).max(1) / qmax
    np.testing.assert_allclose(q_conv.unit, scale / 255)
    # dequantized weights are within half a step of the float ones
    deq = q_conv.weight.transpose(3, 0, 1, 2) * scale[:, None, None, None]
    assert np.abs(deq - f_conv.weight).max() <= scale.max() / 2 + 1e-12
    np.testing.assert_array_equal(q_lif.thresholds, np.maximum(1, np.round(1.0 / q_conv.unit)))
    assert q_lif.leak_mul == 32768 and q_conv.static


def test_conv_feeding_attention_uses_one_scale() -> None:
    _, q = _q(attention="C")
    i = next(k for k, n in enumerate(q.nodes) if isinstance(n.op, ir.QAttention))
    conv = q.nodes[i - 1].op
    assert np.all(conv.unit == conv.unit[0])
    assert np.abs(conv.weight).max() == 127 and np.abs(conv.weight).max(axis=(0, 1, 2)).min() < 127


def test_staircase_tracks_the_sigmoid() -> None:
    sigma = 0.01
    breaks, levels = staircase(sigma, 64)
    assert (
        np.all(np.diff(breaks) > 0)
        and len(levels) == len(breaks) + 1
        and levels[0] == 0
        and levels[-1] == 32768
    )
    for score in range(-800, 801, 7):
        level = levels[np.searchsorted(breaks, score, side="right")] / 32768
        assert abs(level - 1 / (1 + math.exp(-score * sigma))) <= 1 / 128 + 1e-9


def test_coarse_score_units_merge_equal_breakpoints() -> None:
    breaks, levels = staircase(3.0, 256)
    assert np.all(np.diff(breaks) > 0) and len(levels) == len(breaks) + 1 and len(breaks) < 10


def test_ia_thresholds_in_score_units() -> None:
    folded, q = _q(attention="T", ia_gate_init=0.5)
    node = next(n for n in q.nodes if isinstance(n.op, ir.QAttention) and n.op.kind == "IA")
    f = next(n for n in folded.nodes if n.name == node.name).op
    want = [math.ceil((2.0 - b) / node.op.score_unit - 1e-9) for b in f.gate_bias]
    assert node.op.table.tolist() == want and node.op.levels is None


def test_bad_weight_bits() -> None:
    with pytest.raises(ExportError, match="weight bits must be one of"):
        quantize(fold_batchnorm(capture(tiny_model())), 3)


@pytest.mark.parametrize("attention", ["none", "T", "C", "S"])
def test_int16_integer_model_agrees_with_float(attention: str) -> None:
    model = tiny_model(attention=attention, ia_gate_init=2.0)
    q, _ = analyse_bounds(quantize(fold_batchnorm(capture(model)), 16))
    x, y = images(16)
    a = measure_agreement(model, to_blob(q), [(x, y)])
    assert a.samples == 16 and a.agreement >= 0.9
