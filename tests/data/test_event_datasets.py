"""Frame datasets over synthetic DVS Gesture / CIFAR10-DVS layouts, and the frame cache's invalidation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from event_helpers import random_events

from edgesnn.data import event_datasets
from edgesnn.data.binning import BinningParams, bin_events
from edgesnn.data.event_datasets import CIFAR10_CLASSES, open_cifar10_dvs, open_dvs_gesture
from edgesnn.data.events import write_events
from edgesnn.data.events.aedat31 import write_gesture_labels
from edgesnn.data.images import DataNotFoundError


def _gesture_tree(root: Path) -> dict[str, list[tuple[int, int, int]]]:
    folder = root / "DvsGesture"
    folder.mkdir(parents=True)
    rows = {
        "user01_fluorescent": [(1, 1000, 30_000), (5, 40_000, 70_000)],
        "user02_led": [(11, 500, 20_000), (3, 25_000, 60_000), (2, 61_000, 90_000)],
        "user24_natural": [(4, 100, 50_000)],
    }
    for seed, (trial, r) in enumerate(rows.items()):
        ev = random_events(9000, (128, 128), seed=seed, rate_us=10)
        write_events(folder / f"{trial}.aedat", ev, (128, 128), "aedat31")
        write_gesture_labels(folder / f"{trial}_labels.csv", r)
    (folder / "trials_to_train.txt").write_text("user01_fluorescent.aedat\nuser02_led.aedat\n\n")
    (folder / "trials_to_test.txt").write_text("user24_natural.aedat\n")
    return rows


def test_dvs_gesture_samples_labels_and_frames(tmp_path: Path) -> None:
    rows = _gesture_tree(tmp_path / "data")
    ds = open_dvs_gesture("train", tmp_path / "data", T=4, cache_dir=tmp_path / "cache", progress=False)
    assert len(ds) == 5
    assert ds.labels.tolist() == [0, 4, 10, 2, 1]
    frames, label = ds[3]
    assert frames.shape == (4, 2, 128, 128) and frames.dtype == torch.float32 and label == 2
    ev = random_events(9000, (128, 128), seed=1, rate_us=10)
    _, s, e = rows["user02_led"][1]
    sample = ev[(ev["t"] >= s) & (ev["t"] < e)]
    np.testing.assert_array_equal(frames.numpy(), bin_events(sample, (128, 128), BinningParams(T=4)))
    x, y = ds.get_batch(torch.tensor([0, 2]))
    assert x.shape == (2, 4, 2, 128, 128) and y.tolist() == [0, 10]
    test = open_dvs_gesture("test", tmp_path / "data", T=4, cache_dir=tmp_path / "cache", progress=False)
    assert len(test) == 1 and test.labels.tolist() == [3]


def test_cache_is_reused_and_invalidated_by_parameters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _gesture_tree(tmp_path / "data")
    kw = dict(cache_dir=tmp_path / "cache", progress=False)
    a = open_dvs_gesture("train", tmp_path / "data", T=4, **kw)
    calls = []
    real_split = event_datasets.split_gesture_samples
    monkeypatch.setattr(event_datasets, "split_gesture_samples", lambda *a: calls.append(a) or real_split(*a))
    b = open_dvs_gesture("train", tmp_path / "data", T=4, **kw)
    assert calls == []  # served from the cache
    np.testing.assert_array_equal(np.asarray(a.frames), np.asarray(b.frames))
    c = open_dvs_gesture("train", tmp_path / "data", T=4, binning=BinningParams(T=4, size=(32, 32)), **kw)
    assert calls and c.frames.shape == (5, 4, 2, 32, 32)  # a changed parameter rebuilt the frames
    np.testing.assert_array_equal(
        np.asarray(c.frames, dtype=np.int64),
        np.asarray(a.frames, dtype=np.int64).reshape(5, 4, 2, 32, 4, 32, 4).sum((4, 6)),
    )
    assert len(list((tmp_path / "cache" / "frames").iterdir())) == 2


def test_interrupted_cache_is_rebuilt(tmp_path: Path) -> None:
    _gesture_tree(tmp_path / "data")
    kw = dict(cache_dir=tmp_path / "cache", progress=False)
    a = open_dvs_gesture("train", tmp_path / "data", T=2, **kw)
    (folder,) = list((tmp_path / "cache" / "frames").iterdir())
    (folder / "meta.json").unlink()  # as if the build had been killed before finishing
    b = open_dvs_gesture("train", tmp_path / "data", T=2, **kw)
    np.testing.assert_array_equal(np.asarray(a.frames), np.asarray(b.frames))


def test_cifar10_dvs_layout_and_split(tmp_path: Path) -> None:
    root = tmp_path / "CIFAR10DVS"
    for label, cls in enumerate(CIFAR10_CLASSES):
        (root / cls).mkdir(parents=True)
        for i in range(10):
            ev = random_events(200, (128, 128), seed=100 * label + i)
            write_events(root / cls / f"cifar10_{cls}_{i}.aedat", ev, (128, 128), "aedat2")
    train = open_cifar10_dvs("train", tmp_path, T=3, cache_dir=tmp_path / "c", progress=False)
    test = open_cifar10_dvs("test", tmp_path, T=3, cache_dir=tmp_path / "c", progress=False)
    assert len(train) == 90 and len(test) == 10
    assert np.bincount(test.labels).tolist() == [1] * 10
    frames, label = test[4]
    assert label == 4 and frames.shape == (3, 2, 128, 128) and float(frames.sum()) == 200


def test_missing_dataset_message(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="nothing is downloaded"):
        open_dvs_gesture("train", tmp_path, T=4, cache_dir=tmp_path)
    with pytest.raises(DataNotFoundError, match="CIFAR10-DVS not found"):
        open_cifar10_dvs("train", tmp_path, T=4, cache_dir=tmp_path)
