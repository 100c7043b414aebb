"""PNG plots of an analysis: firing rate per layer, spikes per layer, and the training thermogram (Fig. 5).

matplotlib is the optional ``plots`` extra; it is imported only when a plot is made. Figures are built by
``*_figure`` functions (testable without writing files) and written by ``write_plots``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgesnn.analysis.errors import AnalysisError
from edgesnn.analysis.monitor import FiringMonitor, layer_role

if TYPE_CHECKING:
    from matplotlib.artist import Artist

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


DEAD_COLOR = "red"
ZERO_COLOR = "deepskyblue"  # exact zero in the thermogram: outside the inferno map, so never read as "low"


def _color_ticks(ax: Any, names: list[str], dead: set[str], axis: str = "x") -> None:
    """Tick labels in their role's colour; dead layers red and bold."""
    ticks = ax.get_xticklabels() if axis == "x" else ax.get_yticklabels()
    for tick, n in zip(ticks, names, strict=True):
        if n in dead:
            tick.set_color(DEAD_COLOR)
            tick.set_fontweight("bold")
        elif layer_role(n) != "backbone":
            tick.set_color(ROLE_COLORS[layer_role(n)])


def _layer_bars(mon: FiringMonitor, values: list[float], ylabel: str, title: str) -> Any:
    """One bar per layer. A dead layer (no spike: a bar of height 0, i.e. nothing) gets a red x on the axis
    and a 'dead' label, so "dead" is visible rather than a gap."""
    plt = _pyplot()
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    stats = list(mon.stats.values())
    fig, ax = plt.subplots(figsize=(max(6.0, 0.35 * len(stats) + 2), 4.5))
    ax.bar(range(len(stats)), values, color=[ROLE_COLORS[s.role] for s in stats])
    top = max([*values, 0.0]) * 1.08 or 1.0  # all silent: an empty, not negative, axis
    ax.set_ylim(bottom=0, top=top)
    dead = [i for i, s in enumerate(stats) if s.dead]
    if dead:
        ax.plot(dead, [0.0] * len(dead), "x", color=DEAD_COLOR, ms=9, mew=2.5, clip_on=False, zorder=5)
        for i in dead:
            ax.text(
                i, 0.03 * top, "dead", rotation=90, ha="center", va="bottom", color=DEAD_COLOR, fontsize=8
            )
    for i, (v, st) in enumerate(zip(values, stats, strict=True)):
        if 0 < v < 0.02 * top:  # alive but too small to see: say so, or it reads as dead
            label = f"{v:.3g}"
            ax.text(
                i,
                0.03 * top,
                label,
                rotation=90,
                ha="center",
                va="bottom",
                color=ROLE_COLORS[st.role],
                fontsize=8,
            )
    ax.set_xticks(range(len(stats)), [s.name for s in stats], rotation=90, fontsize=7)
    _color_ticks(ax, [s.name for s in stats], {stats[i].name for i in dead})
    ax.set_ylabel(ylabel)
    ax.set_title(title + (f"; {len(dead)} dead (x): no spike on any sample" if dead else ""), fontsize=10)
    handles: list[Artist] = [Patch(color=c, label=r) for r, c in ROLE_COLORS.items()]
    handles.append(Line2D([], [], marker="x", ls="", color=DEAD_COLOR, mew=2.5, label="dead (0 spikes)"))
    ax.legend(handles=handles, fontsize=8)
    fig.tight_layout()
    return fig


def firing_rate_figure(mon: FiringMonitor) -> Any:
    """One bar per LIF layer and IA gate: spikes per neuron per step (gates: fraction open), dead marked."""
    rates = [s.rate for s in mon.stats.values()]
    return _layer_bars(mon, rates, "firing rate", "firing rate per layer (shortcuts red, IA gates orange)")


def spike_count_figure(mon: FiringMonitor) -> Any:
    """One bar per layer: spikes per sample over all time steps; dead ones marked."""
    counts = [s.spikes_per_sample for s in mon.stats.values()]
    return _layer_bars(mon, counts, "spikes per sample", "spike count per layer")


def thermogram_figure(firing_log: list[dict], include_gates: bool = True) -> Any:
    """Fig. 5: firing rate of every LIF layer and IA gate (rows) over the logged epochs (columns).

    Log colour scale, so a rate of 0.004 at epoch 0 is not painted like 0; exact zeros (dead) have their own
    colour (ZERO_COLOR) and a 0 in the cell. Shortcuts are marked '>' (red), IA gates orange."""
    if not firing_log:
        raise AnalysisError(
            "no training firing log: the thermogram needs a checkpoint written by `edgesnn train` "
            "(it logs every layer's firing rate per epoch)"
        )
    import numpy as np
    from matplotlib.colors import LogNorm
    from matplotlib.patches import Patch

    roles = ("backbone", "shortcut", "gate") if include_gates else ("backbone", "shortcut")
    names = [n for n in firing_log[0]["rates"] if layer_role(n) in roles]
    epochs = [int(e["epoch"]) for e in firing_log]
    grid = np.array([[float(e["rates"].get(n, 0.0)) for e in firing_log] for n in names], dtype=float)
    positive = grid[grid > 0]
    lo = float(positive.min()) / 3 if positive.size else 1e-4  # / 3: the lowest rate is not painted black
    hi = max(float(positive.max()) if positive.size else 1.0, lo * 10)
    plt = _pyplot()
    cmap = plt.get_cmap("inferno").with_extremes(bad=ZERO_COLOR)  # masked cells = exact zeros
    fig, ax = plt.subplots(figsize=(max(5.0, 0.5 * len(epochs) + 4), max(4.0, 0.3 * len(names) + 1.5)))
    masked = np.ma.masked_where(grid <= 0, grid)
    im = ax.imshow(masked, aspect="auto", cmap=cmap, norm=LogNorm(lo, hi), interpolation="nearest")
    for r, c in zip(*np.nonzero(grid <= 0), strict=True):
        ax.text(c, r, "0", ha="center", va="center", fontsize=7, color="black")
    ax.set_xticks(range(len(epochs)), [str(e) for e in epochs])
    ax.set_xlabel("epoch (0 = before the first step)")
    labels = [f"> {n}" if layer_role(n) == "shortcut" else n for n in names]
    ax.set_yticks(range(len(names)), labels, fontsize=7)
    _color_ticks(ax, names, set(), axis="y")
    ax.set_title("firing rate over training, log scale (shortcuts >, IA gates orange)", fontsize=10)
    fig.colorbar(im, ax=ax, label="firing rate (IA gates: fraction open)")
    ax.legend(
        handles=[Patch(color=ZERO_COLOR, label="0: dead (no spike)")],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.08 if len(names) > 12 else -0.12),
        fontsize=8,
        frameon=False,
    )
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
