"""Plots: one bar per layer, one thermogram cell per layer and epoch, non-empty PNGs, clear errors."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from hand_net import hand_net, images
from PIL import Image

from edgesnn.analysis import plots
from edgesnn.analysis.errors import AnalysisError
from edgesnn.analysis.monitor import measure_firing, spiking_layers

torch.set_num_threads(1)


def firing_log(model: torch.nn.Module, epochs: int) -> list[dict]:
    names = [n for n, _ in spiking_layers(model)]
    return [
        {
            "epoch": e,
            "step": 10 * e,
            "rates": {n: (i + 1) / (e + 10) for i, n in enumerate(names)},
            "dead": [],
        }
        for e in range(epochs)
    ]


def test_bar_figures_have_one_bar_per_layer() -> None:
    model = hand_net(3.0, attention="C", attention_parts="IA")  # 6 LIF layers + 1 IA gate
    mon = measure_firing(model, [images(2)])
    fig = plots.firing_rate_figure(mon)
    ax = fig.axes[0]
    assert len(ax.patches) == len(mon.stats) == 7
    assert [p.get_height() for p in ax.patches] == [s.rate for s in mon.stats.values()]
    assert [t.get_text() for t in ax.get_xticklabels()] == list(mon.stats)
    spikes = plots.spike_count_figure(mon).axes[0]
    assert [p.get_height() for p in spikes.patches] == [s.spikes_per_sample for s in mon.stats.values()]


def test_thermogram_has_a_cell_per_layer_and_epoch_and_marks_shortcuts() -> None:
    model = hand_net(3.0, attention="C", attention_parts="IA")
    log = firing_log(model, epochs=5)
    ax = plots.thermogram_figure(log).axes[0]
    grid = ax.images[0].get_array()
    assert grid.shape == (6, 5)  # LIF layers (gates left out) x logged epochs
    assert grid[0, 4] == pytest.approx(1 / 14)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels.count("> stages.0.block.shortcut.lif") == 1
    assert sum(label.startswith(">") for label in labels) == 1
    with_gates = plots.thermogram_figure(log, include_gates=True).axes[0]
    assert with_gates.images[0].get_array().shape == (7, 5)


def test_write_plots_writes_non_empty_pngs(tmp_path: Path) -> None:
    model = hand_net(3.0)
    mon = measure_firing(model, [images(2)])
    written, notes = plots.write_plots(mon, firing_log(model, 3), tmp_path / "plots")
    assert [p.name for p in written] == ["firing_rates.png", "spike_counts.png", "thermogram.png"]
    assert notes == []
    for path in written:
        assert path.stat().st_size > 1000
        with Image.open(path) as im:
            assert im.format == "PNG" and im.width >= 400 and im.height >= 300


def test_no_training_log_skips_only_the_thermogram(tmp_path: Path) -> None:
    mon = measure_firing(hand_net(3.0), [images(1)])
    written, notes = plots.write_plots(mon, None, tmp_path)
    assert [p.name for p in written] == ["firing_rates.png", "spike_counts.png"]
    assert len(notes) == 1 and "no training firing log" in notes[0] and "edgesnn train" in notes[0]
    with pytest.raises(AnalysisError, match="no training firing log"):
        plots.thermogram_figure([])


def test_plots_folder_that_is_a_file(tmp_path: Path) -> None:
    target = tmp_path / "file.png"
    target.write_bytes(b"x")
    mon = measure_firing(hand_net(3.0), [images(1)])
    with pytest.raises(AnalysisError, match="not a folder"):
        plots.write_plots(mon, None, target)


def test_missing_matplotlib_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    mon = measure_firing(hand_net(3.0), [images(1)])
    with pytest.raises(AnalysisError, match=r"pip install 'edgesnn\[plots\]'"):
        plots.firing_rate_figure(mon)
