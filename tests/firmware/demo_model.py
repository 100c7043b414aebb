"""The demo-size topology (Fashion-MNIST preset, width 1/8, T=4) exported to an `.esnn` blob, for arena and
benchmark measurements: the trained demo checkpoint when present, else a randomly initialised network
calibrated on real Fashion-MNIST images (synthetic images only when the dataset is not installed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from edgesnn.devices import load_profile
from edgesnn.export.pipeline import export_model
from edgesnn.models.config import preset
from edgesnn.models.resnet import build_model

DEMO_CHECKPOINT = Path(__file__).resolve().parents[2] / "edgesnn" / "zoo" / "fashion_mnist_synac_w8_t4.pt"


def calibration_images(n: int, seed: int = 0) -> tuple[torch.Tensor, str]:
    """n Fashion-MNIST test images as float [n, 1, 28, 28] in [0, 1], and where they came from."""
    from edgesnn.data.images import DataNotFoundError, load_fashion_mnist

    try:
        ds = load_fashion_mnist("test")
    except DataNotFoundError:  # the dataset is optional for tests; the label says what was used
        g = torch.Generator().manual_seed(seed)
        return (torch.rand(n, 1, 28, 28, generator=g) > 0.6).float(), "synthetic images (no Fashion-MNIST)"
    idx = np.random.default_rng(seed).choice(len(ds.images), n, replace=False)
    return torch.from_numpy(ds.images[idx].astype(np.float32) / 255.0), "fashion-mnist test images"


def demo_blob(
    attention: str = "none", calib: int = 32, seed: int = 0, prune: bool = False
) -> tuple[bytes, str]:
    """Export the width-1/8 Fashion-MNIST topology (`prune`: as `edgesnn export --prune`); returns the blob
    and a description of its origin."""
    torch.manual_seed(seed)
    if attention == "C" and DEMO_CHECKPOINT.is_file():
        from edgesnn import checkpoint

        net, origin = checkpoint.load(DEMO_CHECKPOINT), f"trained checkpoint {DEMO_CHECKPOINT.name}"
    else:
        cfg = preset("fashion-mnist", width=0.125, T=4, attention=attention)
        net, origin = build_model(cfg), f"random init, width 1/8, T 4, attention {attention}"
    x, src = calibration_images(calib, seed)
    y = torch.zeros(calib, dtype=torch.long)
    result = export_model(net, [(x, y)], load_profile("host"), 8, prune=prune)
    return result.blob, f"{origin}; calibrated on {calib} {src}"
