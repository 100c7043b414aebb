"""Event sources: window splitting, file replay pacing, streaming binning == training binning, camera."""

from __future__ import annotations

import itertools
import sys

import numpy as np
import pytest
from event_helpers import random_events, real_file

from edgesnn.data.binning import BinningParams, bin_events
from edgesnn.data.events import MissingDependencyError, read_events
from edgesnn.data.sources import CameraNotFoundError, CameraSource, FileSource, split_windows, stream_frames


def test_split_windows_covers_everything_in_order() -> None:
    ev = random_events(5000, (32, 32), seed=1, rate_us=4, t0=123)
    ev["t"][2000:] += 50_000  # a silent gap: empty windows must still be yielded
    chunks = [ev[i : i + 777] for i in range(0, len(ev), 777)]
    wins = list(split_windows(chunks, 1000))
    assert np.concatenate([w.events for w in wins]).tolist() == ev.tolist()
    assert wins[0].t_start == int(ev["t"][0])
    for a, b in itertools.pairwise(wins):
        assert a.t_end == b.t_start and a.t_end - a.t_start == 1000
    for w in wins:
        assert np.all((w.events["t"] >= w.t_start) & (w.events["t"] < w.t_end))
    assert sum(len(w.events) == 0 for w in wins) >= 45


def test_file_source_replays_a_real_recording() -> None:
    path = real_file("gen3_evt2.raw")
    with FileSource(path, chunk_events=50_000) as src:
        assert src.sensor_size == (640, 480)
        wins = list(src.windows(10_000))
    assert sum(len(w.events) for w in wins) == 521_252
    assert len(wins) == 10  # 95.9 ms in 10 ms windows


def test_file_source_paces_at_the_requested_speed() -> None:
    now = [0.0]
    sleeps: list[float] = []

    def sleep(s: float) -> None:
        sleeps.append(s)
        now[0] += s

    path = real_file("nmnist_sample.bin")  # 311 ms recording
    src = FileSource(path, speed=2.0, clock=lambda: now[0], sleep=sleep)
    wins = list(src.windows(50_000))
    assert len(wins) == 7
    assert now[0] == pytest.approx(7 * 0.05 / 2)  # window k released at (k+1) * 50 ms / 2
    fast = FileSource(path, speed=None, clock=lambda: 0.0, sleep=lambda s: pytest.fail("must not sleep"))
    assert len(list(fast.windows(50_000))) == 7


def test_streaming_frames_equal_training_frames() -> None:
    path = real_file("nmnist_sample.bin")
    rec = read_events(path)
    params = BinningParams(T=7, split_by="time", window_us=50_000, refractory_us=2000, baf_us=5000)
    offline = bin_events(rec.events, rec.sensor_size, params)
    live = [fr for _, fr in stream_frames(FileSource(path, chunk_events=300), params)]
    assert len(live) == 7
    np.testing.assert_array_equal(np.concatenate(live), offline)
    assert 0 < offline.sum() < len(rec)  # the denoiser did drop some events
    with pytest.raises(ValueError, match="time windows"):
        next(stream_frames(FileSource(path), BinningParams(T=4)))


class _Batch:
    def __init__(self, a: np.ndarray) -> None:
        self.a = a

    def numpy(self) -> np.ndarray:
        return self.a


class _FakeCamera:
    """Stands in for a dv-processing camera: the same three methods, batches then None, then stops."""

    def __init__(self, events: np.ndarray) -> None:
        dt = [("timestamp", "<i8"), ("x", "<i2"), ("y", "<i2"), ("polarity", "i1")]
        a = np.zeros(len(events), dtype=dt)
        a["timestamp"], a["x"], a["y"], a["polarity"] = events["t"], events["x"], events["y"], events["p"]
        self.queue: list = [_Batch(a[i : i + 100]) for i in range(0, len(a), 100)]
        self.queue.insert(3, None)  # no data yet: the source must poll again

    def getEventResolution(self) -> tuple[int, int]:
        return (64, 48)

    def isRunning(self) -> bool:
        return bool(self.queue)

    def getNextEventBatch(self) -> _Batch | None:
        return self.queue.pop(0)


def test_camera_source_windows_from_batches() -> None:
    ev = random_events(1000, (64, 48), seed=3)
    src = CameraSource(camera=_FakeCamera(ev), sleep=lambda s: None)
    assert src.sensor_size == (64, 48)
    wins = list(src.windows(500))
    assert np.concatenate([w.events for w in wins]).tolist() == ev.tolist()


def test_camera_missing_package_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "dv_processing", None)  # makes `import dv_processing` fail
    with pytest.raises(MissingDependencyError, match=r"pip install 'edgesnn\[camera\]'"):
        CameraSource()


def test_no_camera_connected_is_explained() -> None:
    dv = pytest.importorskip("dv_processing")
    if dv.io.camera.discover():
        pytest.skip("a real camera is connected")
    with pytest.raises(CameraNotFoundError, match="no iniVation camera found"):
        CameraSource()
