"""PNG plots of an analysis: firing rate per layer, spikes per layer, and the training thermogram (Fig. 5).

matplotlib is the optional ``plots`` extra; it is imported only when a plot is made. Figures are built by
``*_figure`` functions (testable without writing files) and written by ``write_plots``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgesnn.analysis.errors import AnalysisError
from edgesnn.analysis.monitor import FiringMonitor, layer_role

ROLE_COLORS = {"backbone": "tab:blue", "shortcut": "tab:red", "gate": "tab:orange"}


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise AnalysisError(
            "plots need matplotlib, which is not installed: pip install 'edgesnn[plots]'"
        ) from None
    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def _layer_bars(mon: FiringMonitor, values: list[float], ylabel: str, title: str) -> Any:
    plt = _pyplot()
    stats = list(mon.stats.values())
    fig, ax = plt.subplots(figsize=(max(6.0, 0.35 * len(stats) + 2), 4.5))
    ax.bar(range(len(stats)), values, color=[ROLE_COLORS[s.role] for s in stats])
    ax.set_xticks(range(len(stats)), [s.name for s in stats], rotation=90, fontsize=7)
    ax.set_ylim(
        bottom=0, top=max([*values, 0.0]) * 1.05 or 1.0
    )  # silent layers: an empty, not negative, axis
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(color=c, label=r) for r, c in ROLE_COLORS.items()], fontsize=8)
    fig.tight_layout()
    return fig


def firing_rate_figure(mon: FiringMonitor) -> Any:
    """One bar per LIF layer and IA gate: spikes per neuron per step (gates: fraction open)."""
    rates = [s.rate for s in mon.stats.values()]
    return _layer_bars(mon, rates, "firing rate", "firing rate per layer (shortcuts red, IA gates orange)")


def spike_count_figure(mon: FiringMonitor) -> Any:
    """One bar per layer: spikes per sample over all time steps."""
    counts = [s.spikes_per_sample for s in mon.stats.values()]
    return _layer_bars(mon, counts, "spikes per sample", "spike count per layer")


def thermogram_figure(firing_log: list[dict], include_gates: bool = False) -> Any:
    """Fig. 5: firing rate of every LIF layer (rows) over the logged epochs (columns), shortcuts marked."""
    if not firing_log:
        raise AnalysisError(
            "no training firing log: the thermogram needs a checkpoint written by `edgesnn train` "
            "(it logs every layer's firing rate per epoch)"
        )
    roles = ("backbone", "shortcut", "gate") if include_gates else ("backbone", "shortcut")
    names = [n for n in firing_log[0]["rates"] if layer_role(n) in roles]
    epochs = [int(e["epoch"]) for e in firing_log]
    grid = [[float(e["rates"].get(n, 0.0)) for e in firing_log] for n in names]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(5.0, 0.5 * len(epochs) + 4), max(4.0, 0.3 * len(names) + 1.5)))
    im = ax.imshow(grid, aspect="auto", cmap="inferno", interpolation="nearest")
    ax.set_xticks(range(len(epochs)), [str(e) for e in epochs])
    ax.set_xlabel("epoch (0 = before the first step)")
    labels = [f"> {n}" if layer_role(n) == "shortcut" else n for n in names]
    ax.set_yticks(range(len(names)), labels, fontsize=7)
    for tick, n in zip(ax.get_yticklabels(), names, strict=True):
        if layer_role(n) != "backbone":
            tick.set_color(ROLE_COLORS[layer_role(n)])
    ax.set_title("firing rate over training (shortcut layers marked >)")
    fig.colorbar(im, ax=ax, label="firing rate")
    fig.tight_layout()
    return fig


def write_plots(
    mon: FiringMonitor, firing_log: list[dict] | None, out_dir: str | Path
) -> tuple[list[Path], list[str]]:
    """Write firing_rates.png, spike_counts.png and thermogram.png to ``out_dir``.

    Returns the written files and a note for each plot that could not be made (the thermogram of a
    checkpoint without a training log); the other plots are written regardless.
    """
    plt = _pyplot()
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise AnalysisError(f"{out}: exists and is not a folder; --plots needs a folder")
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    skipped: list[str] = []
    makers = [
        ("firing_rates.png", lambda: firing_rate_figure(mon)),
        ("spike_counts.png", lambda: spike_count_figure(mon)),
        ("thermogram.png", lambda: thermogram_figure(firing_log or [])),
    ]
    for name, make in makers:
        try:
            fig = make()
        except AnalysisError as exc:
            skipped.append(f"{name} not written: {exc}")
            continue
        fig.savefig(out / name, dpi=100)
        plt.close(fig)
        written.append(out / name)
    return written, skipped
