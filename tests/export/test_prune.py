"""Dead shortcuts are dropped (outputs unchanged), live ones stay as OR nodes."""

from __future__ import annotations

import torch

from edgesnn.export import ir
from edgesnn.export.capture import capture
from edgesnn.export.passes.prune import drop_dead_shortcuts
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
