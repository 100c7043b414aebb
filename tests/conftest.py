"""Shared fixtures: real data locations, small model configs and the host C runtime."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgesnn.models.config import ModelConfig
from edgesnn.runtime.c import CRuntime, CRuntimeUnavailable

REPO = Path(__file__).resolve().parents[1]
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


def tiny_config(**overrides) -> ModelConfig:
    """A fast network with every kind of layer (2 stages, narrow) for unit tests."""
    base = dict(
        name="fashion-mnist",
        in_channels=1,
        input_size=(28, 28),
        num_classes=10,
        T=2,
        width=0.0625,
        feature_channels=64,
        num_feature_convs=2,
        stage_channels=(128, 256),
    )
    base.update(overrides)
    return ModelConfig(**base)


@pytest.fixture
def fashion_dir() -> Path:
    if not (FASHION_DIR / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.fail(
            f"Fashion-MNIST is missing from {FASHION_DIR}: tests/run.sh installs dataset-fashion-mnist"
        )
    return FASHION_DIR


# The host C runtime (built on first use) for every test folder; skipped with the reason where it fails.
@pytest.fixture(scope="session")
def rt() -> CRuntime:
    try:
        return CRuntime()
    except CRuntimeUnavailable as e:
        pytest.skip(f"C runtime unavailable: {e}")
