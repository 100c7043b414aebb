"""Does removing shortcuts change anything? Exact output comparison and, for nearly dead shortcuts,
the accuracy change — measured on calibration data, in eval mode."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from edgesnn.analysis.errors import AnalysisError
from edgesnn.analysis.pruning import remove_shortcuts


@dataclass(frozen=True)
class PruningCheck:
    identical: bool  # every per-step output equal bit for bit on every calibration sample
    samples: int
    mismatched_samples: int
    max_abs_diff: float

    def __bool__(self) -> bool:
        return self.identical


@torch.no_grad()
def _eval_outputs(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    steps = getattr(model, "forward_steps", None)
    return steps(x) if steps is not None else model(x)


def _in_eval(model: nn.Module):
    was = model.training
    model.eval()
    return was


@torch.no_grad()
def verify_pruning(
    model: nn.Module, pruned: nn.Module, calib_batches: Sequence[torch.Tensor]
) -> PruningCheck:
    """Compare the per-step outputs of ``model`` and ``pruned`` exactly (no tolerance)."""
    if not calib_batches:
        raise AnalysisError("no calibration data to verify pruning on")
    was_a, was_b = _in_eval(model), _in_eval(pruned)
    samples = mismatched = 0
    worst = 0.0
    try:
        for x in calib_batches:
            a, b = _eval_outputs(model, x), _eval_outputs(pruned, x)
            diff = (a - b).abs()
            # [T, B, classes] from forward_steps: worst difference per sample over steps and classes
            per_sample = diff.amax(dim=(0, 2)) if diff.dim() == 3 else diff.flatten(1).amax(1)
            samples += per_sample.numel()
            mismatched += int((per_sample != 0).sum())
            worst = max(worst, float(diff.max()) if diff.numel() else 0.0)
    finally:
        model.train(was_a)
        pruned.train(was_b)
    return PruningCheck(mismatched == 0, samples, mismatched, worst)


@dataclass(frozen=True)
class RemovalEffect:
    removed: tuple[str, ...]
    samples: int
    accuracy_before: float
    accuracy_after: float
    agreement: float  # fraction of samples whose prediction is unchanged

    @property
    def accuracy_change(self) -> float:
        return self.accuracy_after - self.accuracy_before


@torch.no_grad()
def removal_effect(
    model: nn.Module, names: Iterable[str], labelled_batches: Sequence[tuple[torch.Tensor, torch.Tensor]]
) -> RemovalEffect:
    """Accuracy before and after removing ``names`` (typically nearly dead shortcuts). Reports only."""
    names = tuple(names)
    pruned = remove_shortcuts(model, names)
    was = _in_eval(model)
    pruned.eval()
    n = right_a = right_b = same = 0
    try:
        for x, y in labelled_batches:
            pa, pb = model(x).argmax(1), pruned(x).argmax(1)
            n += len(y)
            right_a += int((pa == y).sum())
            right_b += int((pb == y).sum())
            same += int((pa == pb).sum())
    finally:
        model.train(was)
    if n == 0:
        raise AnalysisError("no labelled calibration data to measure the accuracy change on")
    return RemovalEffect(names, n, right_a / n, right_b / n, same / n)
