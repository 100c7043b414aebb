"""Training/eval datasets of binned event frames: items ``(frames float32 [T, 2, H, W], label int)``.

- ``open_emulated_fashion_mnist``: Fashion-MNIST images turned into EMULATED event streams
  (``edgesnn.data.emulator``) on a 34x34 canvas, binned in T causal time windows covering the stream.
- ``open_dvs_gesture``: DVS128 Gesture from its original layout (``DvsGesture/``: ``userNN_<light>.aedat``,
  ``*_labels.csv``, ``trials_to_train.txt`` / ``trials_to_test.txt``); samples cut by the label CSVs.
- ``open_cifar10_dvs``: CIFAR10-DVS as ``<class>/*.aedat`` (AEDAT 2.0) folders; per class the first
  ``train_fraction`` of the sorted files are train, the rest test (SpikingJelly's non-random split).
Frames are cached on disk (``edgesnn.data.frame_cache``) keyed by the binning and source parameters.
Default binning follows the paper: split by event number (DVS Gesture T=32, CIFAR10-DVS T=16).
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgesnn.data.binning import BinningParams, bin_events
from edgesnn.data.emulator import EmulatorParams, iter_emulated
from edgesnn.data.errors import DataNotFoundError, where_looked
from edgesnn.data.events.aedat2 import SENSOR as DVS128
from edgesnn.data.events.aedat2 import read_aedat2
from edgesnn.data.events.aedat31 import read_gesture_labels, split_gesture_samples
from edgesnn.data.events.types import size_wh

if TYPE_CHECKING:  # torch: imported only when frames are made, so event readers and `stream` stay light
    from edgesnn.data.frame_cache import FrameDataset

GESTURE_CLASSES = (
    "hand clap", "right hand wave", "left hand wave", "right arm clockwise",
    "right arm counter-clockwise", "left arm clockwise", "left arm counter-clockwise", "arm roll",
    "air drums", "air guitar", "other gestures",
)  # fmt: skip
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip


def _check_split(split: str) -> None:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")


def _candidates(name: str, root: str | Path | None, inner: str) -> list[Path]:
    dirs: list[Path] = []
    if root is not None:
        dirs += [Path(root), Path(root) / inner, Path(root) / name, Path(root) / name / inner]
    env = os.environ.get("EDGESNN_DATA")
    if env:
        dirs += [Path(env) / name, Path(env) / name / inner, Path(env) / inner]
    return dirs


def emulated_binning(T: int, emulator: EmulatorParams) -> BinningParams:
    """T causal windows that together cover the whole emulated stream (3 saccades)."""
    duration = int(3 * emulator.saccade_ms * 1000)
    return BinningParams(T=T, split_by="time", window_us=math.ceil(duration / T))


def open_emulated_fashion_mnist(
    split: str,
    root: str | Path | None = None,
    T: int = 16,
    *,
    limit: int | None = None,
    binning: BinningParams | None = None,
    emulator: EmulatorParams | None = None,
    seed: int = 0,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> FrameDataset:
    """EMULATED event frames of Fashion-MNIST (``limit``: the first n images only)."""
    from edgesnn.data.frame_cache import cached_frames
    from edgesnn.data.images import load_fashion_mnist

    _check_split(split)
    emulator = emulator or EmulatorParams()
    binning = binning or emulated_binning(T, emulator)
    images_ds = load_fashion_mnist(split, root).subset(limit)
    images, labels = images_ds.images[:, 0], images_ds.labels
    sensor = size_wh(emulator.canvas)
    H, W = binning.out_hw(sensor)
    desc = {
        "source": "fashion-mnist",
        "split": split,
        "images_sha256": hashlib.sha256(images.tobytes() + labels.tobytes()).hexdigest(),
        "emulator": emulator.to_dict(),
        "seed": seed,
        "binning": asdict(binning),
    }

    def samples() -> Iterator[tuple[np.ndarray, int]]:
        for ev, label in zip(iter_emulated(images, emulator, seed), labels, strict=True):
            yield bin_events(ev, sensor, binning, t_start=0), int(label)

    shape = (binning.T, binning.channels, H, W)
    name = f"emulated-fashion-mnist-{split}"
    return cached_frames(cache_dir, name, desc, len(labels), shape, samples, progress)


def find_dvs_gesture(root: str | Path | None) -> Path:
    dirs = _candidates("dvs-gesture", root, "DvsGesture")
    for d in dirs:
        if (d / "trials_to_train.txt").is_file():
            return d
    raise DataNotFoundError(
        f"DVS128 Gesture not found ({where_looked('trials_to_train.txt', dirs)}). Extract DvsGesture.tar.gz "
        "and pass its folder as --data-dir (or set EDGESNN_DATA); nothing is downloaded."
    )


def open_dvs_gesture(
    split: str,
    root: str | Path | None = None,
    T: int = 32,
    *,
    binning: BinningParams | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> FrameDataset:
    from edgesnn.data.frame_cache import cached_frames

    _check_split(split)
    binning = binning or BinningParams(T=T)
    folder = find_dvs_gesture(root)
    trials = [s.strip() for s in (folder / f"trials_to_{split}.txt").read_text().splitlines() if s.strip()]
    pairs = []
    for trial in trials:
        aedat = folder / trial
        labels_csv = folder / (Path(trial).stem + "_labels.csv")
        if not aedat.is_file() or not labels_csv.is_file():
            raise DataNotFoundError(f"{folder}: trial {trial} lacks {aedat.name} or {labels_csv.name}")
        pairs.append((aedat, labels_csv))
    n = sum(len(read_gesture_labels(c)) for _, c in pairs)
    desc = {
        "source": "dvs-gesture",
        "split": split,
        "files": [(a.name, a.stat().st_size, c.stat().st_size) for a, c in pairs],
        "binning": asdict(binning),
    }

    def samples() -> Iterator[tuple[np.ndarray, int]]:
        for aedat, labels_csv in pairs:
            for s in split_gesture_samples(aedat, labels_csv):
                yield bin_events(s.events, DVS128, binning), s.label

    H, W = binning.out_hw(DVS128)
    shape = (binning.T, binning.channels, H, W)
    return cached_frames(cache_dir, f"dvs-gesture-{split}", desc, n, shape, samples, progress)


def find_cifar10_dvs(root: str | Path | None) -> Path:
    dirs = _candidates("cifar10-dvs", root, "CIFAR10DVS")
    for d in dirs:
        if all((d / c).is_dir() for c in CIFAR10_CLASSES):
            return d
    looked = where_looked("the class folders airplane/ ... truck/ of .aedat files", dirs)
    raise DataNotFoundError(
        f"CIFAR10-DVS not found ({looked}). Extract the dataset and pass its folder as --data-dir "
        "(or set EDGESNN_DATA); nothing is downloaded."
    )


def cifar10_dvs_files(folder: Path, split: str, train_fraction: float) -> list[tuple[Path, int]]:
    out = []
    for label, cls in enumerate(CIFAR10_CLASSES):
        files = sorted((folder / cls).glob("*.aedat"))
        cut = round(len(files) * train_fraction)
        out += [(f, label) for f in (files[:cut] if split == "train" else files[cut:])]
    return out


def open_cifar10_dvs(
    split: str,
    root: str | Path | None = None,
    T: int = 16,
    *,
    binning: BinningParams | None = None,
    train_fraction: float = 0.9,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> FrameDataset:
    from edgesnn.data.frame_cache import cached_frames

    _check_split(split)
    binning = binning or BinningParams(T=T)
    files = cifar10_dvs_files(find_cifar10_dvs(root), split, train_fraction)
    desc = {
        "source": "cifar10-dvs",
        "split": split,
        "train_fraction": train_fraction,
        "files": [(f.parent.name, f.name, f.stat().st_size) for f, _ in files],
        "binning": asdict(binning),
    }

    def samples() -> Iterator[tuple[np.ndarray, int]]:
        for f, label in files:
            yield bin_events(read_aedat2(f).events, DVS128, binning), label

    H, W = binning.out_hw(DVS128)
    shape = (binning.T, binning.channels, H, W)
    return cached_frames(cache_dir, f"cifar10-dvs-{split}", desc, len(files), shape, samples, progress)
