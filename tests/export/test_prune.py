"""Dead shortcuts are dropped (outputs unchanged), live ones stay as OR nodes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgesnn.devices import load_profile
from edgesnn.export import ir
from edgesnn.export.capture import capture
from edgesnn.export.errors import ExportError
from edgesnn.export.passes.prune import drop_dead_shortcuts, drop_dead_shortcuts_int
from edgesnn.export.pipeline import export_model
from edgesnn.qat import QATNet, int_net_for_export
from edgesnn.reference import run_batch
from tests.export.nets import images, tiny_model


def test_closed_ia_gates_prune_to_a_chain_with_identical_outputs() -> None:
    model = tiny_model(attention="C", ia_gate_init=-50.0)  # every IA gate closed: shortcuts dead
    x = images(8)[0]
    pruned, res = drop_dead_shortcuts(model, [x])
    assert res.removed == ("stages.0.block.shortcut", "stages.1.block.shortcut") and res.kept == ()
    assert res.check is not None and res.check.identical
    with torch.no_grad():
        assert torch.equal(model.forward_steps(x), pruned.forward_steps(x))
    g = capture(pruned)
    assert not any(isinstance(n.op, ir.Logic) for n in g.nodes)
    assert not any("shortcut" in n.name for n in g.nodes)


def test_live_shortcuts_stay_or_nodes() -> None:
    model = tiny_model()
    with torch.no_grad():
        for stage in model.stages:  # a large BN offset: every shortcut fires
            stage.block.shortcut.conv_bn.bn.bias.fill_(3.0)
    pruned, res = drop_dead_shortcuts(model, [images(8)[0]])
    assert pruned is model and res.removed == () and len(res.kept) == 2
    assert sum(isinstance(n.op, ir.Logic) for n in capture(pruned).nodes) == 2


def _dead_in_integers_only():
    """Shortcut 1 outputs a constant current 1.4 (zero weights, BN beta 1.4): the float LIF fires at step 2
    (0.7, then 1.05 >= 1); in integers the weight scale is 1, the current round(1.4) = 1 and the membrane
    floor(1/2) = 0, floor(0 + 1/2) = 0 never reaches the threshold 1."""
    model = tiny_model()
    with torch.no_grad():
        for stage in model.stages[1:]:  # a large BN offset: the other shortcut fires in both
            stage.block.shortcut.conv_bn.bn.bias.fill_(3.0)
        unit = model.stages[0].block.shortcut.conv_bn
        unit.conv.weight.zero_()
        unit.bn.running_mean.zero_()
        unit.bn.running_var.fill_(1.0)
        unit.bn.weight.fill_(1.0)
        unit.bn.bias.fill_(1.4)
    return model


def test_qat_pruning_is_decided_and_verified_on_the_integer_model() -> None:
    model = _dead_in_integers_only()
    x = images(8)[0]
    _, float_res = drop_dead_shortcuts(model, [x])
    assert float_res.removed == ()  # alive in float
    pruned, res = drop_dead_shortcuts_int(model, [x], 8, int_model=int_net_for_export)
    assert res.removed == ("stages.0.block.shortcut",) and res.kept == ("stages.1.block.shortcut",)
    assert res.check is not None and res.check.identical and res.check.samples == 8
    assert res.report.shortcuts[1].rate > 0 and res.report.to_dict()["label"] == "shortcut 1"
    # the pruned integer model is the unpruned QAT model, bit for bit (float outputs do change)
    a, b = QATNet(model, 8).run_int(x), QATNet(pruned, 8).run_int(x)
    assert torch.equal(a.logits, b.logits)
    with torch.no_grad():
        assert not torch.equal(model.forward_steps(x), pruned.forward_steps(x))


def test_qat_export_with_prune_equals_the_unpruned_qat_model() -> None:
    model = _dead_in_integers_only()
    x, y = images(8)
    result = export_model(model, [(x, y)], load_profile("host"), 8, prune=True, int_model=int_net_for_export)
    assert result.prune is not None and result.prune.removed == ("stages.0.block.shortcut",)
    assert sum(isinstance(n.op, ir.QLif) for n in result.graph.nodes) == len(QATNet(model, 8).lif_names) - 1
    ref = run_batch(result.blob, torch.round(x * 255).to(torch.uint8).numpy())
    np.testing.assert_array_equal(QATNet(model, 8).run_int(x).logits.numpy(), ref.logits)
    # the float path is unchanged: it keeps the shortcut that fires in float
    assert export_model(model, [(x, y)], load_profile("host"), 8, prune=True).prune.removed == ()


def test_qat_pruning_refuses_a_removal_that_changes_integer_outputs(monkeypatch) -> None:
    import edgesnn.export.passes.prune as prune_mod

    model = _dead_in_integers_only()
    x = images(8)[0]
    real = prune_mod._int_outputs
    calls = []

    def tampered(qat, batches):
        out = real(qat, batches)
        calls.append(1)
        if len(calls) == 2:  # the pruned model's outputs: pretend one logit moved
            out[0].logits[3, 0] += 1
        return out

    monkeypatch.setattr(prune_mod, "_int_outputs", tampered)
    with pytest.raises(ExportError, match=r"changed 1 of 8 integer calibration outputs"):
        drop_dead_shortcuts_int(model, [x], 8, int_model=int_net_for_export)
