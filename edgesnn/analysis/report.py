"""Render an ``Analysis`` as a terminal report or as JSON."""

from __future__ import annotations

import json

from edgesnn.analysis.ops import OpsReport
from edgesnn.analysis.summary import Analysis


def _si(v: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(v) >= scale:
            return f"{v / scale:.2f}{unit}"
    return f"{v:.1f}"


def _energy(pj: float) -> str:
    return f"{pj / 1e6:.4f} uJ" if pj >= 1e3 else f"{pj:.1f} pJ"


def _table(head: list[str], rows: list[list[str]], align: str) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if a == "<" else c.rjust(w) for c, w, a in zip(cells, widths, align, strict=True)
        )

    out = [line(head), "-" * len(line(head))]
    return out + [line(r) for r in rows]


def firing_section(a: Analysis) -> list[str]:
    statuses = {s.shortcut.lif: s.status for s in a.pruning.shortcuts}
    rows = []
    for s in a.firing.stats.values():
        note = statuses.get(s.name, "silent" if s.dead else "")
        rows.append(
            [
                s.name,
                s.role,
                f"{s.neurons:,}",
                f"{s.rate:.4f}",
                f"{s.spikes_per_sample:,.1f}",
                f"{s.spikes_per_neuron:.3f}",
                note,
            ]
        )
    head = ["layer", "role", "neurons", "rate", "spikes/sample", "spikes/neuron", "note"]
    title = f"firing ({a.samples} samples, eval mode; rate = spikes per neuron per step):"
    return [title, *_table(head, rows, "<<>>>><")]


def pruning_section(a: Analysis) -> list[str]:
    p = a.pruning
    lines = [f"shortcuts (natural pruning: {p.label()}; nearly dead below rate {p.near_dead_threshold:g}):"]
    rows = []
    for s in p.shortcuts:
        gate = "-" if s.gate_rate is None else f"{s.gate_rate:.4f}"
        history = a.history(s.shortcut.lif) or "(no training log)"
        rows.append([str(s.shortcut.index), s.shortcut.name, f"{s.rate:.6f}", gate, s.status, history])
    if not rows:
        return [*lines, "  the model has no spiking shortcuts"]
    lines += _table(["#", "shortcut", "rate", "gate open", "now", "over training"], rows, "><>><<")
    if a.verification is not None:
        v = a.verification
        verdict = (
            "identical outputs"
            if v.identical
            else f"DIFFERENT outputs on {v.mismatched_samples} samples (max |diff| {v.max_abs_diff:g})"
        )
        lines.append(f"removing the dead shortcuts {p.dead}: {verdict} on {v.samples} calibration samples")
    if a.near_dead_effect is not None:
        e = a.near_dead_effect
        lines.append(
            f"nearly dead {p.near_dead} NOT removed; removing them would change accuracy "
            f"{100 * e.accuracy_before:.2f}% -> {100 * e.accuracy_after:.2f}% "
            f"({100 * e.accuracy_change:+.2f} points), predictions unchanged on {100 * e.agreement:.1f}%"
        )
    return lines


def ops_section(ops: OpsReport, title: str) -> list[str]:
    rows = [
        [
            r.name,
            r.op,
            r.kind,
            _si(r.flops),
            f"{r.input_rate:.4f}",
            _si(r.macs) if r.macs else "",
            _si(r.acs) if r.op == "AC" else "",
        ]
        for r in ops.rows
    ]
    head = ["layer", "op", "input", "FLOPs", "in rate", "MACs", "ACs (SOPs)"]
    lines = [title, *_table(head, rows, "<<<>>>>")]
    lines.append(
        f"total per sample: {_si(ops.macs)} MACs, {_si(ops.acs)} ACs, energy {_energy(ops.energy_pj)} "
        f"(E_MAC {ops.energy_model.e_mac_pj} pJ, E_AC {ops.energy_model.e_ac_pj} pJ, Eq. 11)"
    )
    if ops.non_spike_driven:
        lines.append(f"not spike-driven (non-binary inputs, MAC): {', '.join(ops.non_spike_driven)}")
    return lines


def format_report(a: Analysis) -> str:
    lines = [
        f"{a.label}: accuracy {100 * a.accuracy:.2f}% on {a.samples} calibration samples; "
        f"{a.spikes_per_sample:,.0f} spikes per sample over {a.neurons:,} LIF neurons "
        f"({a.spikes_per_neuron:.3f} spikes/neuron)",
        "",
        *firing_section(a),
        "",
        *pruning_section(a),
        "",
        *ops_section(a.ops, "operations per sample (as trained):"),
    ]
    if a.ops_pruned is not None:
        before, after = a.ops, a.ops_pruned
        saved = 100 * (1 - after.energy_pj / before.energy_pj) if before.energy_pj else 0.0
        lines += [
            "",
            f"after removing the dead shortcuts: {_si(after.macs)} MACs, {_si(after.acs)} ACs, "
            f"energy {_energy(after.energy_pj)} ({saved:.1f}% less)",
        ]
        if after.non_spike_driven != before.non_spike_driven:
            lines.append(f"not spike-driven after pruning: {after.non_spike_driven or 'none'}")
    return "\n".join(lines)


def to_json(a: Analysis, extra: dict | None = None) -> str:
    return json.dumps({**(extra or {}), **a.to_dict()}, indent=2)
