import itertools

import pytest
import torch

from edgesnn.models.residual import KEEPS_SPIKES_BINARY, Connect, connect

# g(backbone x, shortcut y) on binary inputs, rows for (x, y) in (0,0), (0,1), (1,0), (1,1)
TRUTH = {
    Connect.ADD: [0, 1, 1, 2],
    Connect.AND: [0, 0, 0, 1],
    Connect.IAND: [0, 1, 0, 0],  # (not backbone) and shortcut
    Connect.OR: [0, 1, 1, 1],
}


@pytest.mark.parametrize("kind", list(Connect))
def test_truth_tables(kind):
    pairs = list(itertools.product([0.0, 1.0], repeat=2))
    x = torch.tensor([a for a, _ in pairs])
    y = torch.tensor([b for _, b in pairs])
    assert connect(kind, x, y).tolist() == TRUTH[kind]


def test_or_keeps_random_spike_tensors_binary_and_equals_bitwise_or():
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(4, 3, 8, 8, generator=g) < 0.3).float()
    y = (torch.rand(4, 3, 8, 8, generator=g) < 0.3).float()
    out = connect("OR", x, y)
    assert set(out.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(out.bool(), x.bool() | y.bool())
    assert KEEPS_SPIKES_BINARY[Connect.OR] and not KEEPS_SPIKES_BINARY[Connect.ADD]


def test_or_with_silent_shortcut_is_identity():
    x = (torch.rand(2, 5) < 0.5).float()
    assert torch.equal(connect("OR", x, torch.zeros_like(x)), x)
