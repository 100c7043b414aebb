"""The per-op tables (STYLE.md item 12) of the ONNX graph builders, the quantize and bounds passes and the
QAT forward pass have a rule for every op type; one without a rule fails naming it and the supported set."""

from __future__ import annotations

import pytest

from edgesnn.export import ir
from edgesnn.export.capture import capture
from edgesnn.export.errors import ExportError
from edgesnn.export.onnx_step import SEQUENCE_OPS, STEP_OPS
from edgesnn.export.passes.bounds import BOUNDS, analyse_bounds
from edgesnn.export.passes.fold_bn import fold_batchnorm
from edgesnn.export.passes.quantize import QUANTIZERS, quantize
from edgesnn.format import Attn, Conv, Lif, Logic, MaxPool, Readout
from edgesnn.qat.model import STEPS as QAT_STEPS
from tests.export.nets import tiny_model

FORMAT_OPS = {Attn, Conv, Lif, Logic, MaxPool, Readout}


def test_onnx_tables_cover_the_format():
    assert set(SEQUENCE_OPS.rules) == FORMAT_OPS
    assert set(STEP_OPS.rules) == FORMAT_OPS - {Attn}  # ATTN needs the whole sequence


def test_passes_name_an_op_they_do_not_know():
    assert set(QUANTIZERS.rules) == {ir.Conv, ir.Attention, ir.Lif, ir.Readout, ir.MaxPool, ir.Logic}
    assert set(BOUNDS.rules) == {ir.QConv, ir.QAttention, ir.QLif, ir.QReadout, ir.MaxPool, ir.Logic}
    assert set(QAT_STEPS.rules) == {ir.Conv, ir.Attention, ir.Lif, ir.Readout, ir.MaxPool, ir.Logic}
    folded = fold_batchnorm(capture(tiny_model()))
    want = r"Conv is not quantized; run quantize first \(bounds knows Logic, MaxPool, QAttention"
    with pytest.raises(ExportError, match=want):
        analyse_bounds(folded)
    g = capture(tiny_model())
    assert any(isinstance(n.op, ir.BatchNorm) for n in g.nodes)
    want = r"cannot quantize BatchNorm \(fold BatchNorm first; quantize knows Attention, Conv"
    with pytest.raises(ExportError, match=want):
        quantize(g)
    assert analyse_bounds(quantize(folded))[1]
