import math

import pytest
import torch

from edgesnn.neurons.lif import LIF, LIFCell, LIFParams, gate_from_rest, lif_multistep, lif_step


def run(inputs, **params):
    x = torch.tensor(inputs, dtype=torch.float64).view(-1, 1)
    p = LIFParams(**params)
    spikes, _ = lif_multistep(x, p)
    # membrane after reset at each step, by stepping manually
    state, hs = None, []
    for t in range(len(inputs)):
        _, state = lif_step(x[t], state, p)
        hs.append(float(state.v))
    return spikes.view(-1).tolist(), hs


def test_constant_subthreshold_input_approaches_but_never_reaches_threshold():
    spikes, h = run([1.0, 1.0, 1.0, 1.0])
    assert spikes == [0, 0, 0, 0]
    assert h == [0.5, 0.75, 0.875, 0.9375]  # U_t = H + (I - H) / 2


def test_exact_threshold_crossing_fires_and_hard_resets():
    spikes, h = run([2.0, 2.0, 1.9999999, 2.0])
    assert spikes == [1, 1, 0, 1]  # U = 1.0 exactly fires (>=); 0.99999995 does not
    assert h[0] == 0.0 and h[1] == 0.0 and h[3] == 0.0


def test_alternating_spikes_and_negative_membrane():
    spikes, h = run([1.5, 1.5, 1.5, 1.5])
    assert spikes == [0, 1, 0, 1]
    assert h == [0.75, 0.0, 0.75, 0.0]
    spikes, h = run([-2.0, 4.0])
    assert spikes == [0, 1]
    assert h == [-1.0, 0.0]


def test_reset_value_and_tau_general_form():
    # U = H + (I - (H - V_reset)) / tau, starting at rest H = V_reset
    spikes, h = run([1.0, 3.0], v_reset=-0.5, tau=4.0)
    u1 = -0.5 + (1.0 - 0.0) / 4.0
    assert h[0] == u1 and spikes[0] == 0
    u2 = u1 + (3.0 - (u1 + 0.5)) / 4.0
    assert spikes[1] == int(u2 >= 1.0)


def test_surrogate_gradient_is_atan_and_nonzero():
    u = torch.tensor([0.0, 1.0, 3.0], requires_grad=True)
    s, _ = lif_step(2 * u, None, LIFParams(alpha=2.0))  # U = u, so dS/du = atan'(u - 1)
    s.sum().backward()
    expected = [2 / 2 / (1 + (math.pi / 2 * 2 * (v - 1.0)) ** 2) for v in (0.0, 1.0, 3.0)]
    assert torch.allclose(u.grad, torch.tensor(expected) * 1.0)  # dU/du = 2 / tau = 1
    assert torch.isfinite(u.grad).all() and (u.grad != 0).all()


def test_gradients_flow_through_time_and_detach_reset_changes_them():
    x = torch.tensor([[1.5], [1.5], [1.5], [1.5]], requires_grad=True)
    grads = []
    for detach in (True, False):
        s, _ = lif_multistep(x, LIFParams(detach_reset=detach))
        (g,) = torch.autograd.grad(s.sum(), x)
        assert torch.isfinite(g).all() and (g != 0).any()
        grads.append(g)
    assert not torch.equal(grads[0], grads[1])


def test_single_step_cell_matches_multistep_layer():
    torch.manual_seed(0)
    x = torch.randn(6, 3, 5) * 2
    expected = LIF()(x)
    cell, state, out = LIFCell(), None, []
    for t in range(6):
        s, state = cell(x[t], state)
        out.append(s)
    assert torch.equal(torch.stack(out), expected)
    assert set(expected.unique().tolist()) <= {0.0, 1.0}


def test_gate_from_rest_is_one_step_threshold_at_score_two():
    score = torch.tensor([-1.0, 1.99, 2.0, 5.0])
    assert gate_from_rest(score, LIFParams()).tolist() == [0.0, 0.0, 1.0, 1.0]


@pytest.mark.parametrize("bad", [dict(tau=0.5), dict(v_threshold=0.0), dict(alpha=0.0)])
def test_invalid_params_are_rejected(bad):
    with pytest.raises(ValueError):
        LIFParams(**bad)
