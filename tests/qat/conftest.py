"""A briefly trained tiny Fashion-MNIST checkpoint and held-out images for the QAT tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from edgesnn.data.registry import open_dataset
from edgesnn.train.trainer import TrainConfig, train

TINY = {"T": 2, "width": 0.0625, "num_feature_convs": 2, "stage_channels": [128, 256]}


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("qat-float")
    cfg = TrainConfig(out_dir=str(out), model=TINY, epochs=2, limit_train=1024, limit_test=64,
                      batch_size=32, lr=1e-2, calib_samples=16, threads=1, progress=False)  # fmt: skip
    train(cfg)
    return out / "best.pt"


@pytest.fixture(scope="session")
def held_out() -> tuple[torch.Tensor, torch.Tensor]:
    """48 real held-out Fashion-MNIST images (u8 / 255) and labels."""
    ds = open_dataset("fashion-mnist", "test", limit=48)
    return ds.get_batch(torch.arange(len(ds)))
