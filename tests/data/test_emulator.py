"""The event-camera emulator: deterministic, edge-like output, realistic shape, writes every format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgesnn.data.binning import BinningParams, bin_events
from edgesnn.data.emulator import EmulatorParams, emulate_batch, emulate_image, saccade_path, write_emulated
from edgesnn.data.events import read_events
from edgesnn.data.images import DataNotFoundError, load_fashion_mnist

FAST = EmulatorParams(saccade_ms=30)


@pytest.fixture(scope="module")
def fashion() -> np.ndarray:
    try:
        return load_fashion_mnist("test").images[:12, 0]
    except DataNotFoundError as e:
        pytest.fail(f"{e} (tests/run.sh installs it)")


def _edges_along_path(img: np.ndarray, params: EmulatorParams) -> np.ndarray:
    """Gradient magnitude of the image, accumulated over the saccade path's (rounded) positions."""
    f = img.astype(np.float64) / 255
    gx, gy = np.zeros_like(f), np.zeros_like(f)
    gx[:, 1:-1], gy[1:-1] = f[:, 2:] - f[:, :-2], f[2:] - f[:-2]
    mag = np.hypot(gx, gy)
    w, h = params.canvas
    acc = np.zeros((h, w))
    _, offsets = saccade_path(params, img.shape)
    for dx, dy in offsets[:: max(1, len(offsets) // 30)]:
        ix, iy = round(dx), round(dy)
        acc[iy : iy + img.shape[0], ix : ix + img.shape[1]] += mag
    return acc


def test_events_resemble_the_image_edges(fashion: np.ndarray) -> None:
    evs = emulate_batch(fashion, FAST, seed=1)
    r_edges, r_other = [], []
    for i, (img, ev) in enumerate(zip(fashion, evs, strict=True)):
        frame = bin_events(ev, FAST.canvas, BinningParams(T=1, polarity="merge"))[0, 0]
        r_edges.append(np.corrcoef(frame.ravel(), _edges_along_path(img, FAST).ravel())[0, 1])
        other = fashion[(i + 5) % len(fashion)]  # a different item: the control must score lower
        r_other.append(np.corrcoef(frame.ravel(), _edges_along_path(other, FAST).ravel())[0, 1])
    assert min(r_edges) > 0.5, r_edges
    assert np.mean(r_edges) > 0.75, r_edges
    assert np.mean(r_edges) > np.mean(r_other) + 0.2


def test_deterministic_and_batch_independent(fashion: np.ndarray) -> None:
    a = emulate_batch(fashion[:4], FAST, seed=3)
    b = emulate_batch(fashion[:4], FAST, seed=3)
    alone = emulate_image(fashion[2], FAST, seed=3, index=2)
    other_seed = emulate_batch(fashion[:4], FAST, seed=4)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(alone.events, a[2])
    assert not np.array_equal(other_seed[0], a[0])
    assert alone.metadata["emulated"] is True and alone.sensor_size == (34, 34)


def test_stream_shape_is_dvs_like(fashion: np.ndarray) -> None:
    ev = emulate_image(fashion[0], EmulatorParams(), seed=0).events
    t = ev["t"]
    assert np.all(np.diff(t) >= 0)
    assert t.min() >= 0 and t.max() <= 300_000  # three 100 ms saccades
    assert 1000 < len(ev) < 50_000
    on = int(np.count_nonzero(ev["p"]))
    assert 0.2 < on / len(ev) < 0.8  # both polarities, as motion makes leading and trailing edges
    assert int(ev["x"].max()) < 34 and int(ev["y"].max()) < 34
    # the refractory period holds per pixel
    pix = ev["y"].astype(np.int64) * 34 + ev["x"]
    o = np.lexsort((t, pix))
    same = pix[o][1:] == pix[o][:-1]
    assert np.all(np.diff(t[o])[same] >= EmulatorParams().refractory_us)


def test_contrast_threshold_controls_event_count(fashion: np.ndarray) -> None:
    low = emulate_image(fashion[1], EmulatorParams(saccade_ms=30, contrast_on=0.15, contrast_off=0.15))
    high = emulate_image(fashion[1], EmulatorParams(saccade_ms=30, contrast_on=0.5, contrast_off=0.5))
    assert len(high) < 0.6 * len(low)


def test_blank_image_gives_only_noise() -> None:
    blank = np.zeros((28, 28), dtype=np.uint8)
    assert len(emulate_image(blank, FAST)) == 0
    noisy = emulate_image(blank, EmulatorParams(saccade_ms=30, noise_hz=50.0), seed=2)
    expected = 50.0 * 0.09 * 34 * 34
    assert 0.7 * expected < len(noisy) < 1.3 * expected


@pytest.mark.parametrize("fmt", ["nmnist", "evt3", "aedat31", "npy"])
def test_writes_supported_formats(fmt: str, fashion: np.ndarray, tmp_path: Path) -> None:
    paths = write_emulated(tmp_path / fmt, fashion[:2], [7, 3], fmt, FAST, seed=5)
    assert len(paths) == 2 and "EMULATED" in (tmp_path / fmt / "EMULATED.txt").read_text()
    assert (tmp_path / fmt / "labels.csv").read_text().splitlines()[1:] == [
        f"{paths[0].name},7",
        f"{paths[1].name},3",
    ]
    expected = emulate_batch(fashion[:2], FAST, seed=5)
    for p, ev in zip(paths, expected, strict=True):
        got = read_events(p).events
        assert len(got) == len(ev)
        np.testing.assert_array_equal(got["t"], ev["t"])
