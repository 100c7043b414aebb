"""Small models for the exporter tests: tiny configs with non-trivial BatchNorm statistics."""

from __future__ import annotations

import torch

from edgesnn.models import build_model
from edgesnn.models.resnet import SpikingResNet
from tests.conftest import tiny_config


def tiny_model(seed: int = 0, **overrides) -> SpikingResNet:
    """An eval-mode tiny network whose BN layers have random statistics and affine parameters that make
    most neurons fire (so quantization and pruning are exercised on live spikes)."""
    torch.manual_seed(seed)
    model = build_model(tiny_config(**overrides))
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.05, 0.3)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(0.2, 0.8)
    return model.eval()


def images(n: int = 16, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random u8/255 images [n, 1, 28, 28] and labels."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 1, 28, 28), generator=g).float() / 255
    return x, torch.randint(0, 10, (n,), generator=g)
