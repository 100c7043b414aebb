"""Float-vs-integer agreement: the float model and the integer reference (run from the blob, never from the
exporter's objects) on the same labelled samples: top-1 agreement and the accuracy of both."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from edgesnn.export.errors import ExportError
from edgesnn.reference.interpreter import run_batch


@dataclass(frozen=True)
class Agreement:
    samples: int
    agreement: float  # fraction of samples with the same predicted class
    float_accuracy: float
    int_accuracy: float

    @property
    def accuracy_drop_pp(self) -> float:
        return 100 * (self.float_accuracy - self.int_accuracy)

    def to_dict(self) -> dict:
        return {"samples": self.samples, "agreement": self.agreement, "float_accuracy": self.float_accuracy,
                "int_accuracy": self.int_accuracy, "accuracy_drop_pp": self.accuracy_drop_pp}  # fmt: skip


def to_u8(x: torch.Tensor, scale_num: int) -> np.ndarray:
    """Float inputs ``u8 / scale_num`` back to u8, refusing inputs that are not on that grid."""
    q = torch.round(x * scale_num)
    if not torch.equal(q / scale_num, x) or q.min() < 0 or q.max() > 255:
        raise ExportError(
            f"calibration inputs are not u8 / {scale_num} values: cannot feed the integer model"
        )
    return q.to(torch.uint8).numpy()


@torch.no_grad()
def measure_agreement(
    model: nn.Module,
    blob: bytes,
    batches: Sequence[tuple[torch.Tensor, torch.Tensor]],
    scale_num: int = 255,
    progress: Callable[[int], None] | None = None,
) -> Agreement:
    """``batches``: (model input, labels); static images ``[B, C, H, W]``, frames ``[T, B, C, H, W]``."""
    was = model.training
    model.eval()
    n = same = right_f = right_i = 0
    try:
        for x, y in batches:
            pf = model(x).argmax(1).numpy()
            u8 = to_u8(x if x.dim() == 4 else x.transpose(0, 1), scale_num)
            pi = run_batch(blob, u8).predicted
            labels = y.numpy()
            n += len(labels)
            same += int((pf == pi).sum())
            right_f += int((pf == labels).sum())
            right_i += int((pi == labels).sum())
            if progress is not None:
                progress(len(labels))
    finally:
        model.train(was)
    if n == 0:
        raise ExportError("no calibration samples to compare the float and integer models on")
    return Agreement(n, same / n, right_f / n, right_i / n)
