"""Training: one trainer for every dataset, single-process or DDP (torchrun, gloo on CPU)."""

from edgesnn.train.trainer import TrainConfig, Trainer, TrainError, evaluate, train

__all__ = ["TrainConfig", "TrainError", "Trainer", "evaluate", "train"]
