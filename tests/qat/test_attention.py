"""QAT SynA attention == the reference ATTN kernel and the exported blob, bit for bit (MA and IA along T, C
and S), with gradients reaching every attention parameter."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from edgesnn.devices import load_profile
from edgesnn.export import ir
from edgesnn.export.capture import capture
from edgesnn.export.emit import _attention as emit_attention
from edgesnn.export.passes.fold_bn import fold_batchnorm
from edgesnn.export.passes.quantize import quantize
from edgesnn.export.pipeline import export_model
from edgesnn.models.attention import Attention
from edgesnn.qat import QATNet
from edgesnn.qat.attention import attention, quantize_attention_module, score_int
from edgesnn.qat.quant import quantize_conv
from edgesnn.reference import kernels, run_batch
from edgesnn.train.trainer import loss_fn
from tests.export.nets import images, tiny_model

CASES = [(d, k) for d in "TCS" for k in ("MA", "IA")]
T, C, H, W = 4, 8, 5, 6


def _module(dim: str, kind: str, seed: int) -> Attention:
    torch.manual_seed(seed)
    size = {"T": T, "C": C, "S": 0}[dim]
    m = Attention(dim, kind, size=size, reduction=2, kernel=3)
    if m.gate_bias is not None:
        with torch.no_grad():
            m.gate_bias.uniform_(1.9, 2.1)  # the gate opens near score 0
    return m


def _reference(qa, x: torch.Tensor) -> np.ndarray:
    op = emit_attention(qa.qop, [0], 1)
    out = kernels.attn(op, x.long().numpy().transpose(1, 0, 3, 4, 2))  # [N, T, H, W, C]
    return out.transpose(1, 0, 4, 2, 3)  # back to [T, N, C, H, W]


@pytest.mark.parametrize(("dim", "kind"), CASES, ids=lambda v: str(v))
def test_op_equals_the_reference_kernel(dim: str, kind: str) -> None:
    m = _module(dim, kind, seed=3)
    g = torch.Generator().manual_seed(7)
    x_max = 40_000
    # per-sample offsets spread the scores over the staircase / on both sides of the IA thresholds
    x = torch.randint(-x_max // 4, x_max // 4, (T, 6, C, H, W), generator=g)
    x = (x + torch.linspace(-x_max / 2, x_max / 2, 6).round().long()[None, :, None, None, None]).clamp(
        -x_max, x_max
    )
    x = x.double().requires_grad_(True)
    qa = quantize_attention_module(m, 3e-5, (C, H, W), T, x_max)
    out = attention(qa, x)
    ref = _reference(qa, x.detach())
    np.testing.assert_array_equal(out.detach().long().numpy(), ref)
    # the op does something: MA uses several levels, IA gates are partly open and partly closed
    ratio = out.detach()[x.detach() > 0] / x.detach()[x.detach() > 0]
    if kind == "MA":
        assert len(torch.unique(torch.round(ratio * 100))) > 5
    else:
        assert 0.05 < float((ratio > 0).double().mean()) < 0.95
    out.sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    params = [p for p in m.parameters()]
    assert params and all(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in params)


def _live_net(dim: str, parts: str, seed: int) -> torch.nn.Module:
    """A tiny SynA net whose layers fire on random images and whose IA gates are neither all open nor all
    closed at start."""
    net = tiny_model(seed, attention=dim, attention_parts=parts, time_reduction=1)  # T: hidden = T
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for mod in net.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.bias.uniform_(-0.5, 1.5, generator=g)
                mod.weight.uniform_(1.0, 4.0, generator=g)
            if isinstance(mod, Attention) and mod.gate_bias is not None:
                mod.gate_bias.uniform_(0.5, 3.5, generator=g)
    return net


@pytest.mark.parametrize(("dim", "parts"), [("T", "synA"), ("C", "synA"), ("S", "synA"), ("C", "MA")])
def test_synA_net_finetuned_equals_its_export(dim: str, parts: str) -> None:
    torch.set_num_threads(1)
    net = _live_net(dim, parts, seed=2)
    x, y = images(16, seed=1)
    qat = QATNet(net, 8)
    start = qat.run_int(x)
    assert int((start.spike_counts.sum(0) > 0).sum()) >= len(qat.lif_names) - 2  # layers fire
    assert len({tuple(r) for r in start.logits.tolist()}) > 8  # the output depends on the input
    before = {n: p.detach().clone() for n, p in net.named_parameters() if "attention" in n}
    opt = torch.optim.Adam(qat.parameters(), lr=2e-3)
    qat.train()
    for _ in range(2):
        loss = loss_fn("mse", qat(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    changed = [n for n, p in net.named_parameters() if n in before and not torch.equal(before[n], p)]
    # attention learns (a scorer whose one-unit bottleneck ReLU is off gets no gradient, as in float)
    assert 2 * len(changed) >= len(before) > 0
    assert all(n in changed for n in before if n.endswith("gate_bias"))
    qat.eval()
    blob = export_model(net, [(x, y)], load_profile("host"), 8, prune=False).blob
    mine, ref = qat.run_int(x), run_batch(blob, torch.round(x * 255).to(torch.uint8).numpy())
    np.testing.assert_array_equal(mine.logits.numpy(), ref.logits)
    np.testing.assert_array_equal(mine.spike_counts.numpy(), ref.spike_counts)
    assert not torch.equal(start.logits, mine.logits)


def test_convs_feeding_attention_use_the_exporters_per_tensor_scale() -> None:
    net = _live_net("C", "synA", seed=0)
    q = quantize(fold_batchnorm(capture(net)), 8)
    feeding = {n.inputs[0] for n in q.nodes if isinstance(n.op, ir.QAttention)}
    convs = [n for n in q.nodes if isinstance(n.op, ir.QConv)]
    assert 0 < len(feeding) < len(convs)
    for node in convs:
        path = node.name.removesuffix(".conv")
        per_tensor = node.output in feeding
        mine = quantize_conv(net.get_submodule(f"{path}.conv"), net.get_submodule(f"{path}.bn"), 8,
                             255 if node.inputs[0] == "input" else None, per_tensor)  # fmt: skip
        np.testing.assert_array_equal(mine.weight.detach().permute(1, 2, 3, 0).numpy(), node.op.weight)
        np.testing.assert_array_equal(mine.bias.detach().numpy(), node.op.bias)
        np.testing.assert_array_equal(mine.unit.numpy(), node.op.unit)
        assert (len(set(mine.unit.tolist())) == 1) == per_tensor


@pytest.mark.parametrize(("dim", "kind"), CASES, ids=lambda v: str(v))
def test_scores_exactly_on_a_breakpoint_or_threshold(dim: str, kind: str) -> None:
    """Ties: the table is made of the scores the input actually produces (score >= b counts / opens)."""
    m = _module(dim, kind, seed=5)
    g = torch.Generator().manual_seed(11)
    x = torch.randint(-3000, 9000, (T, 4, C, H, W), generator=g)
    qa = quantize_attention_module(m, 3e-4, (C, H, W), T, 9000)
    scores = score_int(qa, x)
    flat = torch.unique(scores.flatten())
    if kind == "MA":
        breaks = flat[:: max(1, len(flat) // 40)].contiguous().numpy()
        levels = np.linspace(0, 32768, len(breaks) + 1).round().astype(np.uint16)
        qop = replace(qa.qop, table=breaks, levels=levels)
    else:
        per_index = {"T": T, "C": C, "S": 1}[dim]
        # index i's threshold is one of its own scores (sample 1): that sample sits exactly on it
        own = scores.expand(T, 4, C, H, W)[:, 1]  # [T, C, H, W]
        pick = {"T": own[:, 0, 0, 0], "C": own[0, :, 0, 0], "S": own[0, 0, 2, 3].reshape(1)}[dim]
        assert len(pick) == per_index
        qop = replace(qa.qop, table=pick.numpy().astype(np.int64))
    qa = replace(qa, qop=qop)
    out = attention(qa, x.double())
    np.testing.assert_array_equal(out.long().numpy(), _reference(qa, x.double()))
    on_tie = torch.isin(scores, torch.from_numpy(np.asarray(qop.table))).expand_as(x) & (x > 0)
    assert bool(on_tie.any()) and bool((out[on_tie] > 0).any())  # a tie counts as reached / open
