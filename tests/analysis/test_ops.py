"""Firing rates, FLOPs, MAC/AC counts and Eq. 11 energy of a hand-built network, against hand arithmetic."""

from __future__ import annotations

import pytest
import torch
from hand_net import hand_net, images

from edgesnn.analysis.errors import AnalysisError
from edgesnn.analysis.monitor import measure_firing
from edgesnn.analysis.ops import EnergyModel, count_ops
from edgesnn.analysis.pruning import remove_shortcuts
from edgesnn.analysis.spike_flow import input_kinds
from edgesnn.models.resnet import build_model
from tests.conftest import tiny_config

torch.set_num_threads(1)

STEM, BB0, BB1 = (
    "stem.conv_bn.conv",
    "stages.0.block.backbone.0.conv_bn.conv",
    "stages.0.block.backbone.1.conv_bn.conv",
)
SC, POST0, POST1 = (
    "stages.0.block.shortcut.conv_bn.conv",
    "stages.0.post.0.conv_bn.conv",
    "stages.0.post.1.conv_bn.conv",
)
SC_ATT = "stages.0.block.shortcut.attention"


def rows(report) -> dict:
    return {r.name: r for r in report.rows}


def test_firing_rates_by_hand() -> None:
    mon = measure_firing(hand_net(0.0), [images(2)])
    # stem: pixels 3, 3, 3 fire twice, pixels 1.5, 1.5 once: 8 spikes over 2 steps x 16 neurons
    # block/post: the stride-2 centre taps see pixels (0,0)=3, (0,2)=1.5, (2,0)=1.5, (2,2)=3 -> 6 of 8
    expected = {
        "stem.lif": 8 / 32,
        "stages.0.block.backbone.0.lif": 6 / 8,
        "stages.0.block.backbone.1.lif": 6 / 8,
        "stages.0.block.shortcut.lif": 0.0,
        "stages.0.post.0.lif": 6 / 8,
        "stages.0.post.1.lif": 6 / 8,
    }
    assert mon.rates() == expected
    stem = mon.stats["stem.lif"]
    assert (stem.neurons, stem.samples, stem.spikes_per_sample, stem.spikes_per_neuron) == (16, 2, 8.0, 0.5)
    assert stem.per_step.tolist() == [2 * 3, 2 * 5]  # step 1: the three 3s; step 2: all five (2 samples)


def test_or_network_ops_and_energy_by_hand() -> None:
    report = count_ops(hand_net(0.0), [images(2)])
    r = rows(report)
    assert report.samples == 2
    # (kind, FLOPs per sample, input rate): static stem computed once: 16 outputs x 9 taps
    expected = {
        STEM: ("encoder", 144, 5 / 16),
        BB0: ("spikes", 2 * 4 * 9, 8 / 32),  # T x 2x2 outputs x 9 taps, fed by the stem's spikes
        BB1: ("spikes", 2 * 4 * 9, 6 / 8),
        SC: ("spikes", 2 * 4 * 1, 8 / 32),
        POST0: ("spikes", 2 * 4 * 9, 6 / 8),  # after OR: still binary
        POST1: ("spikes", 2 * 4 * 9, 6 / 8),
        "head.fc": ("spikes", 2 * 2 * 1, 6 / 8),  # T x 2 classes x 1 input; rate of the pooled spikes
    }
    assert {n: (x.kind, x.flops, x.input_rate) for n, x in r.items()} == expected
    assert [x.op for x in r.values()] == ["MAC"] + ["AC"] * 6
    assert report.macs == 144
    acs = 72 * 0.25 + 72 * 0.75 + 8 * 0.25 + 72 * 0.75 + 72 * 0.75 + 4 * 0.75
    assert acs == 185
    assert report.acs == pytest.approx(185, abs=1e-9)
    assert report.energy_pj == pytest.approx(4.6 * 144 + 0.9 * 185)  # 828.9 pJ
    assert report.non_spike_driven == []
    custom = count_ops(hand_net(0.0), [images(1)], EnergyModel(e_mac_pj=2.0, e_ac_pj=1.0))
    assert custom.energy_pj == pytest.approx(2.0 * 144 + 185)


def test_add_residual_makes_the_next_conv_mac_and_or_keeps_it_ac() -> None:
    add = rows(count_ops(hand_net(3.0, connect="ADD"), [images(2)]))
    orr = rows(count_ops(hand_net(3.0, connect="OR"), [images(2)]))
    assert (add[POST0].kind, add[POST0].op) == ("non-binary", "MAC")
    assert (orr[POST0].kind, orr[POST0].op) == ("spikes", "AC")
    assert add[POST0].macs == 72 and add[POST0].acs == 0
    assert orr[POST0].acs == 72 * 0.75
    add_report = count_ops(hand_net(3.0, connect="ADD"), [images(2)])
    assert add_report.non_spike_driven == [POST0]
    assert add_report.macs == 144 + 72
    assert add_report.energy_pj == pytest.approx(4.6 * 216 + 0.9 * (18 + 54 + 2 + 54 + 3))


def test_attention_is_mac() -> None:
    # IA along C on the shortcut only; zero MLP weights, gate bias 10 -> score 10 >= 2: open
    model = hand_net(3.0, attention="C", attention_parts="IA")
    with torch.no_grad():
        model.stages[0].block.shortcut.attention.gate_bias.fill_(10.0)
    report = count_ops(model, [images(2)])
    r = rows(report)
    # the 1 -> 1 -> 1 bottleneck runs twice (avg and max pooled), one MAC per call and layer;
    # the weighting w * x multiplies T x C x H x W = 2 x 1 x 2 x 2 values
    att = {n: (x.op, x.flops) for n, x in r.items() if n.startswith(SC_ATT)}
    assert att == {
        f"{SC_ATT}.scorer.fc1": ("MAC", 2),
        f"{SC_ATT}.scorer.fc2": ("MAC", 2),
        f"{SC_ATT}.weighting": ("MAC", 8),
    }
    assert report.macs == 144 + 12
    assert report.acs == pytest.approx(185)


def test_pruned_model_counts_without_the_shortcut() -> None:
    model = hand_net(0.0)
    pruned = remove_shortcuts(model, ["stages.0.block.shortcut"])
    report = count_ops(pruned, [images(2)])
    assert SC not in rows(report)
    assert report.acs == pytest.approx(185 - 2)
    # pruning an ADD block makes the conv after it spike-driven again: g(x, 0) = x is binary
    add = remove_shortcuts(hand_net(0.0, connect="ADD"), ["stages.0.block.shortcut"])
    assert rows(count_ops(add, [images(2)]))[POST0].op == "AC"


@pytest.mark.parametrize(
    ("overrides", "binary"),
    [
        ({"block": "vanilla"}, {"stages.0.post.0.conv_bn.conv": True, "stages.0.block.shortcut.conv": True}),
        ({"block": "ms"}, {"stages.0.block.conv1.conv": True, "stages.1.block.shortcut.conv": True}),
        ({"connect": "AND", "attention": "S"}, {"stages.1.post.0.conv_bn.conv": True}),
    ],
)
def test_every_family_gets_input_kinds(overrides: dict, binary: dict) -> None:
    model = build_model(tiny_config(**overrides))
    kinds = input_kinds(model).kinds
    ops = {n for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)}
    assert set(kinds) == ops and kinds["stem.conv_bn.conv"] == "encoder"
    for name, is_binary in binary.items():
        assert (kinds[name] == "spikes") is is_binary


def test_no_calibration_data_is_an_error() -> None:
    with pytest.raises(AnalysisError, match="no calibration data"):
        count_ops(hand_net(0.0), [])
