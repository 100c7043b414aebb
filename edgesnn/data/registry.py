"""Datasets known to ``edgesnn train``: how to open each split and which model preset fits it."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgesnn.data.event_datasets import (
    CIFAR10_CLASSES,
    GESTURE_CLASSES,
    open_cifar10_dvs,
    open_dvs_gesture,
    open_emulated_fashion_mnist,
)


def _load_fashion_mnist(split: str, root: str | Path | None = None) -> Any:
    from edgesnn.data.images import load_fashion_mnist  # torch: imported when a dataset is opened

    return load_fashion_mnist(split, root)


def _load_mnist(split: str, root: str | Path | None = None) -> Any:
    from edgesnn.data.images import load_mnist

    return load_mnist(split, root)


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    preset: str  # ModelConfig preset with the matching input shape and classes
    open: Callable[..., Any]  # open(split, root) -> dataset; frame datasets also get T=...
    augment: str = "none"  # training augmentation (edgesnn.data.augment)
    classes: tuple[str, ...] = ()
    frames: bool = False  # True: items are [T, C, H, W] frames and open() needs T


FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip

DATASETS: dict[str, DatasetSpec] = {
    "fashion-mnist": DatasetSpec(
        "fashion-mnist", "fashion-mnist", _load_fashion_mnist, "hflip", FASHION_CLASSES
    ),
    "mnist": DatasetSpec("mnist", "mnist", _load_mnist, "shift", tuple(str(i) for i in range(10))),
    # event-camera datasets: items are [T, 2, H, W] frames binned by edgesnn.data.binning
    "emulated-fashion-mnist": DatasetSpec(
        "emulated-fashion-mnist",
        "emulated-fashion-mnist",
        open_emulated_fashion_mnist,
        "none",
        FASHION_CLASSES,
        frames=True,
    ),
    "dvs-gesture": DatasetSpec(
        "dvs-gesture", "dvs-gesture", open_dvs_gesture, "none", GESTURE_CLASSES, frames=True
    ),
    "cifar10-dvs": DatasetSpec(
        "cifar10-dvs", "cifar10-dvs", open_cifar10_dvs, "none", CIFAR10_CLASSES, frames=True
    ),
}


def dataset_spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}; known: {sorted(DATASETS)}") from None


def open_dataset(
    name: str, split: str, root: str | Path | None = None, limit: int | None = None, T: int | None = None
) -> Any:
    """Open one split. Static image datasets yield ``[C, H, W]`` items (repeated over T by the model);
    frame datasets yield ``[T, C, H, W]`` and are binned with the given ``T``."""
    spec = dataset_spec(name)
    if spec.frames:
        if T is None:
            raise ValueError(f"dataset {name!r} is binned into frames: pass T")
        kwargs = {"limit": limit} if "limit" in inspect.signature(spec.open).parameters else {}
        ds = spec.open(split, root, T=T, **kwargs)  # limit first: only binned what is used
    else:
        ds = spec.open(split, root)
    return ds.subset(limit) if limit is not None and hasattr(ds, "subset") else ds
