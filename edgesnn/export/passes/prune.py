"""Drop dead shortcuts: a SEW shortcut whose LIF never fires on the calibration data is removed, and the
removal is verified on the same data (identical float outputs). Live and nearly dead shortcuts stay, so
their blocks are captured as a LOGIC (OR) node; pruned blocks are captured as plain chains.

For a quantization-aware (QAT) checkpoint the exported model is the integer one, so
``drop_dead_shortcuts_int`` decides on the integer semantics (the spike counts of the integer model that its
caller builds, ``edgesnn.qat.int_net_for_export``: ``QATNet.run_int``; the exporter never imports qat,
which builds on it) and verifies that the pruned integer model gives identical integer logits and spike
counts; a shortcut that is dead in float but fires in integers (or the reverse) is judged by the integers."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import nn

from edgesnn.analysis.pruning import (
    DEFAULT_NEAR_DEAD,
    PruningReport,
    ShortcutFiring,
    find_dead_shortcuts,
    list_shortcuts,
    remove_shortcuts,
)
from edgesnn.analysis.pruning_check import PruningCheck, verify_pruning
from edgesnn.export.capture import capture
from edgesnn.export.errors import ExportError


@dataclass(frozen=True)
class PruneResult:
    report: PruningReport
    removed: tuple[str, ...]
    kept: tuple[str, ...]
    check: PruningCheck | None  # None when nothing was removed

    def to_dict(self) -> dict:
        check = None
        if self.check is not None:
            check = {"identical": self.check.identical, "samples": self.check.samples}
        return {
            "label": self.report.label(),
            "removed": list(self.removed),
            "kept": list(self.kept),
            "check": check,
        }


def drop_dead_shortcuts(
    model: nn.Module, calib_batches: Sequence[torch.Tensor]
) -> tuple[nn.Module, PruneResult]:
    """(pruned copy, what was done). Fails if removing the dead shortcuts changes any float output."""
    report = find_dead_shortcuts(model, calib_batches)
    dead = tuple(report.dead)
    kept = tuple(s.shortcut.name for s in report.shortcuts if s.shortcut.name not in dead)
    if not dead:
        return model, PruneResult(report, (), kept, None)
    pruned = remove_shortcuts(model, dead)
    check = verify_pruning(model, pruned, calib_batches)
    if not check.identical:
        raise ExportError(
            f"removing the dead shortcuts {list(dead)} changed {check.mismatched_samples} of "
            f"{check.samples} calibration outputs (max |diff| {check.max_abs_diff:.3g}): not exported"
        )
    return pruned, PruneResult(report, dead, kept, check)


class IntNet(Protocol):
    """The integer model of a QAT checkpoint as pruning sees it (``edgesnn.qat.QATNet``)."""

    lif_names: tuple[str, ...]

    def run_int(self, x: torch.Tensor) -> Any: ...  # .logits [N, classes], .spike_counts [N, num_lif]


# (float model, weight bits, static input) -> its integer model; failures raise ExportError
IntModelOf = Callable[[nn.Module, int, bool], IntNet]


def _int_outputs(qat: IntNet, calib_batches: Sequence[torch.Tensor]) -> list:
    return [qat.run_int(x) for x in calib_batches]


def drop_dead_shortcuts_int(
    model: nn.Module,
    calib_batches: Sequence[torch.Tensor],
    weight_bits: int,
    static_input: bool = True,
    near_dead_threshold: float = DEFAULT_NEAR_DEAD,
    *,
    int_model: IntModelOf,
) -> tuple[nn.Module, PruneResult]:
    """(pruned copy, what was done) for a QAT checkpoint: a shortcut is dead when its LIF never fires in
    the integer model ``int_model(model, weight_bits, static_input)`` on the calibration data; the removal
    is verified there (integer logits and the spike counts of every remaining LIF identical on every
    sample). IA gate rates are not measured (``gate_rate`` None)."""
    if not calib_batches:
        raise ExportError("no calibration data: natural pruning is decided on measured firing")
    qat = int_model(model, weight_bits, static_input)
    graph = capture(model, static_input)
    sizes = {n.name: math.prod(graph.tensors[n.output or ""].shape) for n in graph.nodes if n.kind == "lif"}
    outs = _int_outputs(qat, calib_batches)
    counts = torch.cat([o.spike_counts for o in outs]).sum(0)
    samples = sum(len(o.logits) for o in outs)
    rows = []
    for sc in list_shortcuts(model):
        if sc.lif not in qat.lif_names:
            raise ExportError(f"{sc.lif}: shortcut LIF not found in the integer graph")
        i = qat.lif_names.index(sc.lif)
        spikes = int(counts[i])
        rate = spikes / max(1, samples * graph.T * sizes[sc.lif])
        status = "dead" if spikes == 0 else "nearly dead" if rate < near_dead_threshold else "alive"
        rows.append(ShortcutFiring(sc, float(spikes), rate, None, status))
    report = PruningReport(tuple(rows), samples, near_dead_threshold)
    dead = tuple(report.dead)
    kept = tuple(r.shortcut.name for r in rows if r.shortcut.name not in dead)
    if not dead:
        return model, PruneResult(report, (), kept, None)
    pruned = remove_shortcuts(model, dead)
    qat_pruned = int_model(pruned, weight_bits, static_input)
    after = _int_outputs(qat_pruned, calib_batches)
    remaining = [qat.lif_names.index(n) for n in qat_pruned.lif_names]
    mismatched, worst = 0, 0
    for a, b in zip(outs, after, strict=True):
        diff = (a.logits - b.logits).abs().amax(1)
        same_counts = (a.spike_counts[:, remaining] == b.spike_counts).all(1)
        mismatched += int(((diff != 0) | ~same_counts).sum())
        worst = max(worst, int(diff.max()) if diff.numel() else 0)
    check = PruningCheck(mismatched == 0, samples, mismatched, float(worst))
    if not check.identical:
        raise ExportError(
            f"removing the dead shortcuts {list(dead)} changed {mismatched} of {samples} integer "
            f"calibration outputs (max |logit diff| {worst}): not exported"
        )
    return pruned, PruneResult(report, dead, kept, check)
