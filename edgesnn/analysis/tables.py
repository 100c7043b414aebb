"""Terminal tables for firing-rate measurements."""

from __future__ import annotations

from edgesnn.analysis.monitor import FiringMonitor


def firing_table(mon: FiringMonitor, title: str = "") -> str:
    rows = list(mon.stats.values())
    width = max([len(r.name) for r in rows] + [5])
    head = f"{'layer':<{width}}  {'role':<9} {'neurons':>8} {'rate':>8} {'spikes/neuron':>14}  note"
    lines = [title] if title else []
    lines += [head, "-" * len(head)]
    for r in rows:
        per_neuron = r.spikes / (r.neurons * r.samples) if r.neurons and r.samples else 0.0
        note = "silent" if r.dead else ""
        lines.append(
            f"{r.name:<{width}}  {r.role:<9} {r.neurons:>8,} {r.rate:>8.4f} {per_neuron:>14.3f}  {note}"
        )
    return "\n".join(lines)
