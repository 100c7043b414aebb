"""QAT forward == integer reference, bit for bit: logits and spike counts of the exported blob."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from edgesnn import checkpoint
from edgesnn.analysis.pruning import remove_shortcuts
from edgesnn.devices import load_profile
from edgesnn.export import ir
from edgesnn.export.capture import capture
from edgesnn.export.passes.fold_bn import fold_batchnorm
from edgesnn.export.passes.quantize import quantize
from edgesnn.export.pipeline import export_model
from edgesnn.qat import QATError, QATNet
from edgesnn.qat.quant import lif_threshold, quantize_conv, quantize_readout
from edgesnn.reference import run_batch
from edgesnn.train.trainer import loss_fn
from tests.export.nets import tiny_model


def _u8(x: torch.Tensor) -> np.ndarray:
    return torch.round(x * 255).to(torch.uint8).numpy()


def _qat_steps(qat: QATNet, x: torch.Tensor, y: torch.Tensor, steps: int = 3, lr: float = 2e-3) -> None:
    opt = torch.optim.Adam(qat.parameters(), lr=lr)
    qat.train()
    for _ in range(steps):
        loss = loss_fn("mse", qat(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    qat.eval()


def _assert_exact(qat: QATNet, blob: bytes, x: torch.Tensor) -> None:
    mine, ref = qat.run_int(x), run_batch(blob, _u8(x))
    np.testing.assert_array_equal(mine.logits.numpy(), ref.logits)
    np.testing.assert_array_equal(mine.spike_counts.numpy(), ref.spike_counts)


@pytest.mark.parametrize("bits", [4, 8, 16])
def test_qat_finetuned_model_equals_its_export(trained: Path, held_out, bits: int) -> None:
    torch.set_num_threads(1)
    net = checkpoint.load(trained)
    before = net.stem.conv_bn.conv.weight.detach().clone()
    x, y = held_out
    qat = QATNet(net, bits)
    _qat_steps(qat, x[:32], y[:32])
    assert not torch.equal(before, net.stem.conv_bn.conv.weight)  # the float master weights trained
    result = export_model(net, [(x, y)], load_profile("host"), bits, prune=False)
    _assert_exact(qat, result.blob, x)
    counts = qat.run_int(x).spike_counts
    assert counts.shape == (48, len(qat.lif_names)) and bool((counts.sum(0) > 0).all())  # every layer fires
    assert len({tuple(r) for r in qat.run_int(x).logits.tolist()}) > 40  # not a constant output


def test_integers_are_the_exporters(trained: Path) -> None:
    net = checkpoint.load(trained)
    q = quantize(fold_batchnorm(capture(net)), 8)
    convs = [n for n in q.nodes if isinstance(n.op, ir.QConv)]
    lifs = [n for n in q.nodes if isinstance(n.op, ir.QLif)]
    assert len(convs) == len(lifs) == 13
    for conv_node, lif_node in zip(convs, lifs, strict=True):
        path = conv_node.name.removesuffix(".conv")
        mine = quantize_conv(
            net.get_submodule(f"{path}.conv"), net.get_submodule(f"{path}.bn"), 8,
            255 if conv_node.inputs[0] == "input" else None,
        )  # fmt: skip
        np.testing.assert_array_equal(mine.weight.detach().permute(1, 2, 3, 0).numpy(), conv_node.op.weight)
        np.testing.assert_array_equal(mine.bias.detach().numpy(), conv_node.op.bias)
        np.testing.assert_array_equal(lif_threshold(1.0, mine.unit).numpy(), lif_node.op.thresholds)
    readout = q.nodes[-1].op
    mine_r = quantize_readout(net.head.fc, 8, 2 * 7 * 7)
    np.testing.assert_array_equal(mine_r.weight.detach().T.numpy(), readout.weight)
    np.testing.assert_array_equal(mine_r.bias.detach().numpy(), readout.bias)
    assert float(mine_r.logit_scale) == readout.logit_scale


@pytest.mark.parametrize(
    "overrides", [{"stem_maxpool": True}, {"connect": "AND"}, {"connect": "IAND"}], ids=str
)
def test_other_residuals_and_maxpool_are_exact(held_out, overrides: dict) -> None:
    x, y = held_out
    net = tiny_model(**overrides)
    qat = QATNet(net, 8)
    _qat_steps(qat, x[:16], y[:16], steps=2)
    result = export_model(net, [(x, y)], load_profile("host"), 8, prune=False)
    _assert_exact(qat, result.blob, x)


def test_pruned_graph_is_exact(trained: Path, held_out) -> None:
    x, y = held_out
    net = checkpoint.load(trained)
    pruned = remove_shortcuts(net, ["stages.0.block.shortcut"])
    qat = QATNet(pruned, 8)
    assert "stages.0.block.shortcut.lif" not in qat.lif_names and len(qat.lif_names) == 12
    _qat_steps(qat, x[:16], y[:16], steps=2)
    result = export_model(pruned, [(x, y)], load_profile("host"), 8, prune=False)
    _assert_exact(qat, result.blob, x)


def test_forward_is_the_scaled_integer_logits_with_gradients(trained: Path, held_out) -> None:
    x, _ = held_out
    qat = QATNet(checkpoint.load(trained), 8).eval()
    out = qat.run_int(x[:8])
    real = qat(x[:8])
    assert real.dtype == torch.float64
    torch.testing.assert_close(real, out.logits.double() * out.logit_scale, rtol=0, atol=0)
    qat.train()
    qat(x[:8]).sum().backward()
    grads = [p.grad for p in qat.parameters() if p.requires_grad]
    assert all(g is not None for g in grads) and all(float(g.abs().sum()) > 0 for g in grads)


def test_refusals(held_out) -> None:
    with pytest.raises(QATError, match="weight bits"):
        QATNet(tiny_model(), 6)
    with pytest.raises(QATError, match="ADD residuals"):
        QATNet(tiny_model(connect="ADD"), 8)
    qat = QATNet(tiny_model(), 8).eval()
    with pytest.raises(QATError, match="u8 / 255"):
        qat.run_int(held_out[0][:2] * 0.999)
    with pytest.raises(QATError, match="static"):
        qat.run_int(held_out[0][:2].unsqueeze(0))
