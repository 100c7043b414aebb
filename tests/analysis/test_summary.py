"""The whole analysis of the hand-built network, its terminal report and its JSON."""

from __future__ import annotations

import json

import pytest
import torch
from hand_net import hand_net, images

from edgesnn.analysis.errors import AnalysisError
from edgesnn.analysis.report import format_report, to_json
from edgesnn.analysis.summary import analyze

torch.set_num_threads(1)

SC_LIF = "stages.0.block.shortcut.lif"


def log(shortcut_rates: list[float]) -> list[dict]:
    return [
        {"epoch": e, "step": e, "rates": {"stem.lif": 0.2, SC_LIF: r}, "dead": []}
        for e, r in enumerate(shortcut_rates)
    ]


def labelled() -> list[tuple[torch.Tensor, torch.Tensor]]:
    # the readout sees pooled rates 0.5 and 1 (> 0) through weights [1, -1]: it always predicts class 0
    return [(images(2), torch.tensor([0, 1]))]


def test_analysis_of_the_dead_shortcut_network() -> None:
    a = analyze(hand_net(0.0), labelled(), log([0.1, 0.0, 0.0]))
    assert a.samples == 2 and a.accuracy == 0.5
    assert a.spikes_per_sample == 8 + 6 + 6 + 0 + 6 + 6
    assert a.neurons == 16 + 4 * 5
    assert a.spikes_per_neuron == pytest.approx(32 / 36)
    assert a.pruning.dead == ["stages.0.block.shortcut"]
    assert a.verification is not None and a.verification.identical
    assert a.near_dead_effect is None
    assert a.ops.acs == pytest.approx(185) and a.ops_pruned is not None
    assert a.ops_pruned.acs == pytest.approx(183)
    assert a.history(SC_LIF) == "died at epoch 1"

    text = format_report(a)
    assert "natural pruning: all shortcuts" in text
    assert "died at epoch 1" in text
    assert "identical outputs on 2 calibration samples" in text
    assert "144.0 MACs, 185.0 ACs" in text

    d = json.loads(to_json(a, {"dataset": "hand"}))
    assert d["dataset"] == "hand" and d["spikes_per_sample"] == 32
    assert d["pruning"]["shortcuts"][0]["history"] == "died at epoch 1"
    assert d["verification"]["identical"] is True
    assert d["ops"]["energy_pj"] == pytest.approx(4.6 * 144 + 0.9 * 185)
    stem = next(x for x in d["layers"] if x["name"] == "stem.lif")
    assert stem["rate_per_step"] == [3 / 16, 5 / 16] and stem["rate_per_channel"] == [0.25]


def test_live_network_has_nothing_to_prune_and_add_is_flagged() -> None:
    a = analyze(hand_net(3.0, connect="ADD"), labelled(), log([0.0, 0.0]))
    assert a.pruning.dead == [] and a.verification is None and a.ops_pruned is None
    assert a.history(SC_LIF) == "dead from the start"  # the log says so, whatever the model does now
    text = format_report(a)
    assert "natural pruning: none" in text
    assert "not spike-driven (non-binary inputs, MAC): stages.0.post.0.conv_bn.conv" in text


def test_nearly_dead_is_reported_with_the_accuracy_change() -> None:
    a = analyze(hand_net(3.0), labelled(), near_dead_threshold=0.9)  # the shortcut fires at 0.75
    assert a.pruning.near_dead == ["stages.0.block.shortcut"]
    assert a.near_dead_effect is not None
    assert a.near_dead_effect.accuracy_change == 0.0  # OR of identical spike trains: nothing changes
    assert "NOT removed" in format_report(a)
    assert "(no training log)" in format_report(a)


def test_no_samples() -> None:
    with pytest.raises(AnalysisError, match="no calibration samples"):
        analyze(hand_net(0.0), [])
