import pytest
import torch

from edgesnn.models.attention import Attention
from edgesnn.models.layers import ConvUnit
from edgesnn.neurons.lif import LIF

SHAPE = (4, 3, 8, 6, 6)  # T, B, C, H, W


def make(dim, kind, **kw):
    torch.manual_seed(0)
    size = {"T": SHAPE[0], "C": SHAPE[2], "S": 0}[dim]
    return Attention(dim, kind, size=size, reduction=2, kernel=3, **kw)


@pytest.mark.parametrize("dim", ["T", "C", "S"])
def test_ma_weights_lie_strictly_between_zero_and_one(dim):
    x = torch.randn(*SHAPE) * 3
    w = make(dim, "MA").weights(x)
    assert ((w > 0) & (w < 1)).all()
    expected_shape = {"T": (4, 3, 1, 1, 1), "C": (1, 3, 8, 1, 1), "S": (1, 3, 1, 6, 6)}[dim]
    assert tuple(w.shape) == expected_shape
    out = make(dim, "MA")(x)
    assert (out >= 0).all() and out.shape == x.shape  # relu(w * x)


@pytest.mark.parametrize("dim", ["T", "C", "S"])
def test_ia_weights_are_exactly_binary_and_follow_the_score(dim):
    att = make(dim, "IA", gate_init=1.0)
    x = torch.randn(*SHAPE) * 3
    w = att.weights(x)
    assert set(w.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(w, (att.score(x) >= 2.0).float())  # one LIF step from rest, tau 2


@pytest.mark.parametrize("dim", ["T", "C", "S"])
def test_ia_gate_is_per_sample_not_per_batch(dim):
    att = make(dim, "IA", gate_init=1.5)
    x = torch.randn(*SHAPE) * 3
    together = att.weights(x)
    alone = torch.cat([att.weights(x[:, i : i + 1]) for i in range(SHAPE[1])], dim=1)
    assert torch.equal(together, alone)  # the reference code's IA integrates across the batch


@pytest.mark.parametrize("dim", ["T", "C", "S"])
def test_ia_pushed_negative_silences_its_shortcut_completely(dim):
    att = make(dim, "IA")
    with torch.no_grad():
        att.gate_bias.fill_(-1e3)
    shortcut = ConvUnit(8, 8, 1, attention=att, lif=LIF()).eval()
    x = (torch.rand(*SHAPE) < 0.5).float()
    assert shortcut(x * 10).abs().sum() == 0


def test_gradients_reach_the_attention_mlp_through_the_ia_gate():
    att = make("C", "IA", gate_init=2.0)
    x = torch.randn(*SHAPE, requires_grad=True)
    att(x).sum().backward()
    assert att.scorer.fc1.weight.grad is not None and att.scorer.fc1.weight.grad.abs().sum() > 0
