"""One analysis of a model on calibration data: firing, natural pruning (verified), operations and energy
before and after pruning, and each shortcut's history from the training log. ``edgesnn analyze`` prints it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from edgesnn.analysis.errors import AnalysisError
from edgesnn.analysis.monitor import FiringMonitor, measure_firing
from edgesnn.analysis.ops import EnergyModel, OpsReport, count_ops
from edgesnn.analysis.pruning import DEFAULT_NEAR_DEAD, PruningReport, classify_shortcuts, remove_shortcuts
from edgesnn.analysis.pruning_check import PruningCheck, RemovalEffect, removal_effect, verify_pruning
from edgesnn.analysis.shortcuts import ShortcutHistory, shortcut_histories


@dataclass
class Analysis:
    label: str
    samples: int
    accuracy: float
    firing: FiringMonitor
    pruning: PruningReport
    verification: PruningCheck | None  # removing the dead shortcuts, checked exactly; None if none dead
    near_dead_effect: RemovalEffect | None  # accuracy change if the nearly dead ones were removed too
    ops: OpsReport
    ops_pruned: OpsReport | None  # with the dead shortcuts removed
    histories: list[ShortcutHistory]

    @property
    def lif_layers(self) -> list:
        return [s for s in self.firing.stats.values() if s.role != "gate"]

    @property
    def spikes_per_sample(self) -> float:
        return sum(s.spikes_per_sample for s in self.lif_layers)

    @property
    def neurons(self) -> int:
        return sum(s.neurons for s in self.lif_layers)

    @property
    def spikes_per_neuron(self) -> float:
        return self.spikes_per_sample / self.neurons if self.neurons else 0.0

    def history(self, lif: str) -> str | None:
        return next((h.status for h in self.histories if h.name == lif), None)

    def to_dict(self) -> dict[str, Any]:
        layers = []
        for s in self.firing.stats.values():
            steps = s.per_step / (s.samples * s.neurons) if s.per_step is not None and s.neurons else None
            per_ch = None
            if s.per_channel is not None and s.elements:
                per_ch = s.per_channel * len(s.per_channel) / s.elements
            layers.append(
                {
                    "name": s.name,
                    "role": s.role,
                    "neurons": s.neurons,
                    "rate": s.rate,
                    "spikes_per_sample": s.spikes_per_sample,
                    "spikes_per_neuron": s.spikes_per_neuron,
                    "rate_per_step": steps.tolist() if steps is not None else None,
                    "rate_per_channel": per_ch.tolist() if per_ch is not None else None,
                }
            )
        pruning = self.pruning.to_dict()
        for sc in pruning["shortcuts"]:
            sc["history"] = self.history(sc["lif"])
        return {
            "model": self.label,
            "samples": self.samples,
            "accuracy": self.accuracy,
            "spikes_per_sample": self.spikes_per_sample,
            "neurons": self.neurons,
            "spikes_per_neuron": self.spikes_per_neuron,
            "layers": layers,
            "pruning": pruning,
            "verification": None if self.verification is None else vars(self.verification),
            "near_dead_effect": None
            if self.near_dead_effect is None
            else {**vars(self.near_dead_effect), "accuracy_change": self.near_dead_effect.accuracy_change},
            "ops": self.ops.to_dict(),
            "ops_pruned": None if self.ops_pruned is None else self.ops_pruned.to_dict(),
        }


@torch.no_grad()
def _accuracy(model: nn.Module, batches: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> float:
    was = model.training
    model.eval()
    try:
        right = sum(int((model(x).argmax(1) == y).sum()) for x, y in batches)
    finally:
        model.train(was)
    return right / sum(len(y) for _, y in batches)


def analyze(
    model: nn.Module,
    labelled_batches: Sequence[tuple[torch.Tensor, torch.Tensor]],
    firing_log: list[dict] | None = None,
    near_dead_threshold: float = DEFAULT_NEAR_DEAD,
    energy: EnergyModel | None = None,
) -> Analysis:
    """Analyse ``model`` (eval mode) on ``labelled_batches`` of ``(inputs, labels)``."""
    if not labelled_batches or sum(len(y) for _, y in labelled_batches) == 0:
        raise AnalysisError("no calibration samples: pass --calib N with N >= 1")
    xs = [x for x, _ in labelled_batches]
    mon = measure_firing(model, xs)
    pruning = classify_shortcuts(model, mon, near_dead_threshold)
    ops = count_ops(model, xs, energy)
    verification = ops_pruned = effect = None
    if pruning.dead:
        pruned = remove_shortcuts(model, pruning.dead)
        verification = verify_pruning(model, pruned, xs)
        ops_pruned = count_ops(pruned, xs, energy)
    if pruning.near_dead:
        effect = removal_effect(model, pruning.dead + pruning.near_dead, labelled_batches)
    label = getattr(getattr(model, "config", None), "label", type(model).__name__)
    return Analysis(
        label=label,
        samples=sum(len(y) for _, y in labelled_batches),
        accuracy=_accuracy(model, labelled_batches),
        firing=mon,
        pruning=pruning,
        verification=verification,
        near_dead_effect=effect,
        ops=ops,
        ops_pruned=ops_pruned,
        histories=shortcut_histories(firing_log or [], roles=("shortcut", "gate")),
    )
