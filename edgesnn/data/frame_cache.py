"""Binned frames on disk: a torch ``Dataset`` over a memory-mapped ``[N, T, C, H, W]`` uint16 array.

A cache folder is named by a SHA-256 of everything that determines its content (source, sample list,
binning parameters, emulator parameters...), so changing any parameter builds a new cache instead of
silently reusing stale frames. ``meta.json`` is written last: a folder without it is an interrupted build
and is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

CACHE_VERSION = 1
MAX_COUNT = np.iinfo(np.uint16).max


def default_cache_dir() -> Path:
    env = os.environ.get("EDGESNN_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "edgesnn"


def cache_key(description: dict[str, Any]) -> str:
    blob = json.dumps({"cache_version": CACHE_VERSION, **description}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


class FrameDataset(torch.utils.data.Dataset):
    """Items are ``(frames float32 [T, C, H, W], label int)``; ``get_batch`` gives ``[B, T, C, H, W]``."""

    def __init__(self, frames: np.ndarray, labels: np.ndarray, name: str = "frames") -> None:
        if frames.ndim != 5 or len(frames) != len(labels):
            raise ValueError(f"{name}: frames {frames.shape} / labels {labels.shape} do not pair up")
        self.frames, self.labels, self.name = frames, np.asarray(labels, dtype=np.int64), name

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return torch.from_numpy(np.asarray(self.frames[i], dtype=np.float32)), int(self.labels[i])

    def get_batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ix = np.asarray(idx)
        return torch.from_numpy(np.asarray(self.frames[ix], dtype=np.float32)), torch.from_numpy(
            self.labels[ix]
        )

    def subset(self, n: int | None) -> FrameDataset:
        if n is None or n >= len(self):
            return self
        return FrameDataset(self.frames[:n], self.labels[:n], f"{self.name}[:{n}]")


def cached_frames(
    cache_dir: str | Path | None,
    name: str,
    description: dict[str, Any],
    n: int,
    frame_shape: tuple[int, int, int, int],
    samples: Callable[[], Iterable[tuple[np.ndarray, int]]],
    progress: bool = True,
) -> FrameDataset:
    """Load the cache for ``description`` or build it from ``samples()`` (yields ``n`` (frames, label))."""
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    folder = root / "frames" / f"{name}-{cache_key(description)}"
    meta_path = folder / "meta.json"
    if meta_path.is_file():
        frames = np.load(folder / "frames.npy", mmap_mode="r")
        labels = np.load(folder / "labels.npy")
        if frames.shape == (n, *frame_shape) and len(labels) == n:
            return FrameDataset(frames, labels, name)
    tmp = folder.with_name(folder.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    frames = np.lib.format.open_memmap(
        tmp / "frames.npy", mode="w+", dtype=np.uint16, shape=(n, *frame_shape)
    )
    labels = np.zeros(n, dtype=np.int64)
    count = 0
    for i, (fr, label) in enumerate(tqdm(samples(), total=n, desc=f"binning {name}", disable=not progress)):
        if i >= n:
            raise ValueError(f"{name}: more than the expected {n} samples")
        if fr.shape != frame_shape:
            raise ValueError(f"{name}: sample {i} has frames {fr.shape}, expected {frame_shape}")
        if fr.max(initial=0) > MAX_COUNT:
            raise ValueError(f"{name}: sample {i} has a count above {MAX_COUNT} (use fewer pixels per cell)")
        frames[i], labels[i] = fr, label
        count += 1
    if count != n:
        raise ValueError(f"{name}: expected {n} samples, got {count}")
    frames.flush()
    del frames
    np.save(tmp / "labels.npy", labels)
    (tmp / "meta.json").write_text(
        json.dumps({"name": name, **description}, indent=1, sort_keys=True, default=str)
    )
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    return FrameDataset(np.load(folder / "frames.npy", mmap_mode="r"), np.load(folder / "labels.npy"), name)
