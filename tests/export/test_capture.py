"""Capture walks the model's own modules into the IR; unsupported modules are named with path and type."""

from __future__ import annotations

import pytest
from torch import nn

from edgesnn.export import ir
from edgesnn.export.capture import capture
from edgesnn.export.errors import ExportError
from edgesnn.models import build_model
from tests.conftest import tiny_config
from tests.export.nets import tiny_model


def test_plain_or_network_is_a_chain_with_one_or_per_block() -> None:
    g = capture(tiny_model())
    kinds = [n.kind for n in g.nodes]
    assert kinds[:3] == ["conv", "batchnorm", "lif"] and kinds[-1] == "readout"
    assert kinds.count("logic") == 2 and kinds.count("conv") == 1 + 2 + 2 * 5  # stem, features, 2 stages of 5
    assert g.nodes[0].op.static and g.static_input and g.T == 2
    logic = next(n for n in g.nodes if n.kind == "logic")
    assert logic.name == "stages.0.block.connect" and logic.op.mode == "OR"
    a, b = logic.inputs
    assert a == "stages.0.block.backbone.1.lif:spikes" and b == "stages.0.block.shortcut.lif:spikes"
    assert g.tensors["stages.1.post.1.lif:spikes"].shape == (16, 7, 7)


def test_attention_units_are_captured_with_their_parameters() -> None:
    g = capture(tiny_model(attention="C", ia_gate_init=-1.5))
    att = [n for n in g.nodes if isinstance(n.op, ir.Attention)]
    assert {(n.op.kind, n.op.dim) for n in att} == {("MA", "C"), ("IA", "C")}
    ia = next(n for n in att if n.op.kind == "IA")
    assert ia.name == "stages.0.block.shortcut.attention" and float(ia.op.gate_bias[0]) == -1.5
    assert ia.op.w1.shape == (2, 8) and ia.op.w2.shape == (8, 2)


def test_frame_input_is_not_static() -> None:
    g = capture(tiny_model(), static_input=False)
    assert not g.static_input and not g.nodes[0].op.static


class Mystery(nn.Module):
    def forward(self, x):
        return x


def test_unsupported_module_names_path_type_and_supported_set() -> None:
    model = tiny_model()
    model.features[1] = Mystery()
    with pytest.raises(
        ExportError, match=r"features\.1: unsupported module type Mystery \(supported: .*ConvUnit"
    ):
        capture(model)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"block": "ms"}, r"features\.0 \(PreActUnit\): not supported by \.esnn v1: pre-activation"),
        ({"block": "vanilla"}, r"stages\.0\.block \(VanillaBlock\): not supported by \.esnn v1"),
        ({"connect": "ADD"}, r"stages\.0\.block \(SEWBlock, connect=ADD\): ADD residuals"),
    ],
)
def test_v1_rejects_ms_vanilla_and_add(overrides: dict, message: str) -> None:
    with pytest.raises(ExportError, match=message):
        capture(build_model(tiny_config(**overrides)).eval())
