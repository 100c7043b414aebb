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
    ax = plots.thermogram_figure(log, include_gates=False).axes[0]
    grid = ax.images[0].get_array()
    assert grid.shape == (6, 5)  # LIF layers (gates left out) x logged epochs
    assert grid[0, 4] == pytest.approx(1 / 14)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels.count("> stages.0.block.shortcut.lif") == 1
    assert sum(label.startswith(">") for label in labels) == 1
    with_gates = plots.thermogram_figure(log).axes[0]  # IA gates are in by default
    assert with_gates.images[0].get_array().shape == (7, 5)
    gate_ticks = [t for t in with_gates.get_yticklabels() if t.get_text().endswith("attention.gate")]
    assert len(gate_ticks) == 1 and gate_ticks[0].get_color() == plots.ROLE_COLORS["gate"]


def test_bar_figures_mark_dead_layers() -> None:
    """A dead layer's bar has height 0 (invisible): it gets a red x at zero and a 'dead' label."""
    model = hand_net(3.0, attention="C", attention_parts="IA")
    mon = measure_firing(model, [images(2)])
    names = list(mon.stats)
    for n in (names[2], names[-1]):  # the IA gate and a LIF layer, on top of any dead already
        mon.stats[n].spikes = 0.0
    dead = [i for i, s in enumerate(mon.stats.values()) if s.dead]
    assert 2 in dead and len(names) - 1 in dead and len(dead) < len(names)
    for fig in (plots.firing_rate_figure(mon), plots.spike_count_figure(mon)):
        ax = fig.axes[0]
        marks = [ln for ln in ax.lines if ln.get_marker() == "x"]
        assert len(marks) == 1 and [int(x) for x in marks[0].get_xdata()] == dead
        assert set(marks[0].get_ydata()) == {0.0} and not marks[0].get_clip_on()
        assert [t.get_position()[0] for t in ax.texts if t.get_text() == "dead"] == dead
        red = [t.get_text() for t in ax.get_xticklabels() if t.get_color() == plots.DEAD_COLOR]
        assert red == [names[i] for i in dead] and f"{len(dead)} dead" in ax.get_title()


def test_thermogram_log_scale_tells_small_from_zero() -> None:
    """Epoch-0 rates of 0.0037 are not painted like 0: log scale; exact zeros masked (own colour, a '0')."""
    from matplotlib.colors import LogNorm

    model = hand_net(3.0, attention="C", attention_parts="IA")
    log = firing_log(model, epochs=3)
    shortcut = "stages.0.block.shortcut.lif"
    log[0]["rates"][shortcut] = 0.0037
    log[1]["rates"][shortcut] = log[2]["rates"][shortcut] = 0.0
    ax = plots.thermogram_figure(log).axes[0]
    im = ax.images[0]
    row = [t.get_text() for t in ax.get_yticklabels()].index(f"> {shortcut}")
    grid = im.get_array()
    assert isinstance(im.norm, LogNorm) and im.norm.vmin < 0.0037
    assert not grid.mask[row, 0] and grid.mask[row, 1] and grid.mask[row, 2]  # zeros: the 'bad' colour
    assert im.norm(0.0037) > 0.0 and tuple(im.cmap.get_bad()[:3]) != tuple(im.cmap(0.0)[:3])
    zeros = [t.get_position() for t in ax.texts if t.get_text() == "0"]
    assert sorted(zeros) == [(1, row), (2, row)]


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
