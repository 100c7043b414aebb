"""Dead-shortcut detection, removal and its exact verification; nearly dead shortcuts are only reported."""

from __future__ import annotations

import pytest
import torch
from hand_net import hand_net, images

from edgesnn.analysis.errors import AnalysisError
from edgesnn.analysis.pruning import (
    PrunedSEWBlock,
    find_dead_shortcuts,
    list_shortcuts,
    pruned_shortcuts,
    remove_shortcuts,
)
from edgesnn.analysis.pruning_check import removal_effect, verify_pruning
from edgesnn.models.resnet import build_model
from tests.conftest import tiny_config

torch.set_num_threads(1)

SC0, SC1 = "stages.0.block.shortcut", "stages.1.block.shortcut"


def calib(n: int = 3, batch: int = 4) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return [torch.rand(batch, 1, 28, 28, generator=g) for _ in range(n)]


@torch.no_grad()
def gated_model(connect: str = "OR") -> torch.nn.Module:
    """Tiny SynA-C model: shortcut 1's IA gate forced shut, shortcut 2's forced open and driven to fire
    at step 2 of 2 (BN bias 1.5: the LIF charges 0.75, then 1.125 >= V_th), which the convs after it
    (all weights 1) pass on to the readout."""
    model = build_model(tiny_config(attention="C", connect=connect)).eval()
    model.stages[0].block.shortcut.attention.gate_bias.fill_(-100.0)
    model.stages[1].block.shortcut.attention.gate_bias.fill_(100.0)
    model.stages[1].block.shortcut.conv_bn.bn.bias.fill_(1.5)
    for unit in model.stages[1].post:
        unit.conv_bn.conv.weight.fill_(1.0)
    return model


def test_forced_silent_gate_is_reported_dead_and_removal_changes_nothing() -> None:
    model, data = gated_model(), calib()
    report = find_dead_shortcuts(model, data)
    assert report.dead == [SC0]
    assert report.near_dead == []
    first, second = report.shortcuts
    assert (first.status, first.spikes, first.gate_rate) == ("dead", 0.0, 0.0)
    assert (second.status, second.gate_rate) == ("alive", 1.0)
    assert second.rate == 0.5
    assert report.label() == "shortcut 1"
    assert report.samples == 12
    pruned = remove_shortcuts(model, report.dead)
    assert isinstance(pruned.stages[0].block, PrunedSEWBlock)
    assert pruned_shortcuts(pruned) == [SC0]
    check = verify_pruning(model, pruned, data)
    assert check.identical and check.samples == 12 and check.max_abs_diff == 0.0


def test_removing_a_live_shortcut_is_caught() -> None:
    model, data = gated_model(), calib()
    check = verify_pruning(model, remove_shortcuts(model, [SC1]), data)
    assert not check.identical
    assert check.mismatched_samples > 0 and check.max_abs_diff > 0


def test_remove_shortcuts_copies_and_names_unknown_shortcuts() -> None:
    model = gated_model()
    pruned = remove_shortcuts(model, [SC0, SC1])
    assert [s.name for s in list_shortcuts(model)] == [SC0, SC1]  # original untouched
    assert list_shortcuts(pruned) == []
    with pytest.raises(AnalysisError, match=r"no such shortcut\(s\) \['stages.5.block.shortcut'\]"):
        remove_shortcuts(model, ["stages.5.block.shortcut"])


@pytest.mark.parametrize(("connect", "effect"), [("OR", "identity"), ("ADD", "identity"), ("AND", "zero")])
def test_silent_shortcut_effect_per_residual_function(connect: str, effect: str) -> None:
    model, data = gated_model(connect), calib(1)
    pruned = remove_shortcuts(model, [SC0])
    assert pruned.stages[0].block.effect == effect
    assert verify_pruning(model, pruned, data).identical


def test_iand_zero_block_has_the_block_output_shape() -> None:
    model = build_model(tiny_config(connect="IAND")).eval()
    pruned = remove_shortcuts(model, [SC0])
    x = torch.zeros(2, 3, 4, 28, 28)  # [T, B, C, H, W] into stage 0
    out = pruned.stages[0].block(x)
    assert out.shape == model.stages[0].block(x).shape == (2, 3, 8, 14, 14)
    assert not out.any()


def test_nearly_dead_is_reported_not_pruned_with_the_accuracy_change() -> None:
    model, data = gated_model(), calib()
    report = find_dead_shortcuts(model, data, near_dead_threshold=0.6)  # shortcut 2 fires at 0.5
    assert report.dead == [SC0] and report.near_dead == [SC1]
    assert report.shortcuts[1].status == "nearly dead"
    labels = [model(x).argmax(1) for x in data]  # labels = the model's own predictions: 100 % before
    effect = removal_effect(model, [SC1], list(zip(data, labels, strict=True)))
    assert effect.accuracy_before == 1.0 and effect.samples == 12
    assert effect.accuracy_after == effect.agreement  # right after removal iff prediction unchanged
    assert effect.accuracy_change == effect.accuracy_after - 1.0
    assert list_shortcuts(model)[1].name == SC1  # the model itself still has it


def test_live_shortcut_in_the_hand_network() -> None:
    assert find_dead_shortcuts(hand_net(3.0), [images(2)]).dead == []
    assert find_dead_shortcuts(hand_net(0.0), [images(2)]).label() == "all shortcuts"


def test_bad_input() -> None:
    with pytest.raises(AnalysisError, match="no calibration data"):
        find_dead_shortcuts(gated_model(), [])
    with pytest.raises(AnalysisError, match="threshold"):
        find_dead_shortcuts(gated_model(), calib(1), near_dead_threshold=-1)
