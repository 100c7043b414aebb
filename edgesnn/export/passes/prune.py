"""Drop dead shortcuts: a SEW shortcut whose LIF never fires on the calibration data is removed, and the
removal is verified on the same data (identical float outputs). Live and nearly dead shortcuts stay, so
their blocks are captured as a LOGIC (OR) node; pruned blocks are captured as plain chains."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from edgesnn.analysis.pruning import PruningReport, find_dead_shortcuts, remove_shortcuts
from edgesnn.analysis.pruning_check import PruningCheck, verify_pruning
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
