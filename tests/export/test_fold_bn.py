"""BN folding: the folded conv computes conv + BN (float64, to rounding)."""

from __future__ import annotations

import torch

from edgesnn.export import ir
from edgesnn.export.capture import capture
from edgesnn.export.passes.fold_bn import fold_batchnorm
from tests.export.nets import images, tiny_model


def test_folded_convs_equal_conv_then_bn() -> None:
    model = tiny_model(attention="T")
    g = capture(model)
    folded = fold_batchnorm(g)
    assert not any(isinstance(n.op, ir.BatchNorm) for n in folded.nodes)
    assert len(folded.nodes) == len(g.nodes) - sum(isinstance(n.op, ir.Conv) for n in g.nodes)
    x = images(4)[0].double()
    for name in ("stem", "features.1", "stages.0.block.shortcut"):
        unit = model.get_submodule(name).conv_bn.double()
        node = next(n for n in folded.nodes if n.name == f"{name}.conv_bn.conv")
        conv = unit.conv
        cin = conv.in_channels
        xin = x if cin == 1 else torch.rand(4, cin, 28, 28, dtype=torch.float64).round()
        want = unit.bn(conv(xin))
        w, b = torch.from_numpy(node.op.weight), torch.from_numpy(node.op.bias)
        got = torch.nn.functional.conv2d(xin, w, b, stride=conv.stride, padding=conv.padding)
        assert torch.allclose(got, want, rtol=0, atol=1e-12)
        assert node.output.endswith("bn:current")  # the BN's output tensor is now the conv's
