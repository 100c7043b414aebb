"""Training: one loop (``Trainer``) for every dataset and for QAT fine-tuning, single-process or DDP
(torchrun, gloo on CPU); ``train`` configures it for ``edgesnn train``."""

from edgesnn.train.loop import EpochResult, Hook, LoopConfig, Trainer, TrainError, evaluate
from edgesnn.train.trainer import TrainConfig, build_trainer, train

__all__ = [
    "EpochResult",
    "Hook",
    "LoopConfig",
    "TrainConfig",
    "TrainError",
    "Trainer",
    "build_trainer",
    "evaluate",
    "train",
]
