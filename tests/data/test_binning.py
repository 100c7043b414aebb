"""Binning: count conservation, split rules, pooling, agreement with SpikingJelly's loops and tonic."""

from __future__ import annotations

import numpy as np
import pytest
from event_helpers import random_events

from edgesnn.data.binning import BinningParams, bin_events
from edgesnn.data.events import make_events

SENSOR = (40, 30)  # W, H


def _sj_integrate_fixed_frames(events: np.ndarray, split_by: str, T: int, H: int, W: int) -> np.ndarray:
    """SpikingJelly 0.0.0.0.14 ``integrate_events_by_fixed_frames_number``, transcribed loop for loop."""
    t, x, y, p = (events[k].astype(np.int64) for k in ("t", "x", "y", "p"))
    N = t.size
    j_l, j_r = np.zeros(T, dtype=int), np.zeros(T, dtype=int)
    if split_by == "number":
        di = N // T
        for i in range(T):
            j_l[i] = i * di
            j_r[i] = j_l[i] + di
        j_r[-1] = N
    else:
        dt = (t[-1] - t[0]) // T
        idx = np.arange(N)
        for i in range(T):
            t_l = dt * i + t[0]
            t_r = t_l + dt
            m = idx[(t >= t_l) & (t < t_r)]
            j_l[i] = m[0]
            j_r[i] = m[-1] + 1 if i < T - 1 else N
    frames = np.zeros((T, 2, H, W))
    for i in range(T):
        xs, ys, ps = x[j_l[i] : j_r[i]], y[j_l[i] : j_r[i]], p[j_l[i] : j_r[i]]
        for c, m in enumerate((ps == 0, ps != 0)):
            pos = ys[m] * W + xs[m]
            counts = np.bincount(pos)
            frames[i, c].reshape(-1)[np.arange(counts.size)] += counts
    return frames


@pytest.mark.parametrize("n,T", [(1000, 4), (1003, 4), (997, 16), (5, 8)])
def test_split_by_number_counts_and_remainder(n: int, T: int) -> None:
    ev = random_events(n, SENSOR, seed=n)
    fr = bin_events(ev, SENSOR, BinningParams(T=T))
    assert fr.shape == (T, 2, SENSOR[1], SENSOR[0]) and fr.dtype == np.float32
    per_frame = fr.sum(axis=(1, 2, 3))
    assert per_frame.sum() == n  # conservation
    di = n // T
    assert per_frame[:-1].tolist() == [di] * (T - 1)
    assert per_frame[-1] == di + n % T  # the last frame takes the remainder


@pytest.mark.parametrize("split_by", ["number", "time"])
@pytest.mark.parametrize("n", [1200, 1201, 777])
def test_matches_spikingjelly_reference(split_by: str, n: int) -> None:
    ev = random_events(n, SENSOR, seed=7)
    ours = bin_events(ev, SENSOR, BinningParams(T=6, split_by=split_by))
    ref = _sj_integrate_fixed_frames(ev, split_by, 6, SENSOR[1], SENSOR[0])
    np.testing.assert_array_equal(ours, ref)


def test_time_windows_are_causal_and_equal_to_streaming_windows() -> None:
    ev = random_events(3000, SENSOR, seed=2, t0=1000)
    w, T, t0 = 700, 8, 1500
    fr = bin_events(ev, SENSOR, BinningParams(T=T, split_by="time", window_us=w), t_start=t0)
    t = ev["t"]
    for i in range(T):
        inside = (t >= t0 + i * w) & (t < t0 + (i + 1) * w)
        assert fr[i].sum() == inside.sum()
        one = bin_events(
            ev[inside], SENSOR, BinningParams(T=1, split_by="time", window_us=w), t_start=t0 + i * w
        )
        np.testing.assert_array_equal(one[0], fr[i])  # the streaming path bins each window identically
    assert fr.sum() == ((t >= t0) & (t < t0 + T * w)).sum()  # outside events are dropped, never folded in


def test_area_pooling_conserves_counts_and_equals_sum_pooling() -> None:
    sensor = (128, 128)
    ev = random_events(5000, sensor, seed=4)
    full = bin_events(ev, sensor, BinningParams(T=3))
    p32 = bin_events(ev, sensor, BinningParams(T=3, size=(32, 32)))
    np.testing.assert_array_equal(p32, full.reshape(3, 2, 32, 4, 32, 4).sum(axis=(3, 5)))
    p48 = bin_events(ev, sensor, BinningParams(T=3, size=(48, 48)))
    assert p48.shape == (3, 2, 48, 48)
    np.testing.assert_array_equal(p48.sum(axis=(2, 3)), full.sum(axis=(2, 3)))
    # a single event at sensor pixel (x=127, y=64) lands in cell (64 * 48 // 128, 127 * 48 // 128)
    one = bin_events(make_events([127], [64], [0], [1]), sensor, BinningParams(T=1, size=(48, 48)))
    assert one[0, 1, 24, 47] == 1 and one.sum() == 1


def test_binary_merge_and_polarity_channels() -> None:
    ev = make_events([1, 1, 1, 2], [0, 0, 0, 3], [0, 1, 2, 3], [1, 1, 0, 0])
    fr = bin_events(ev, SENSOR, BinningParams(T=1))
    assert fr[0, 1, 0, 1] == 2 and fr[0, 0, 0, 1] == 1 and fr[0, 0, 3, 2] == 1
    b = bin_events(ev, SENSOR, BinningParams(T=1, mode="binary"))
    assert set(np.unique(b).tolist()) == {0.0, 1.0} and b.sum() == 3
    m = bin_events(ev, SENSOR, BinningParams(T=1, polarity="merge"))
    assert m.shape == (1, 1, SENSOR[1], SENSOR[0]) and m[0, 0, 0, 1] == 3


def test_empty_and_invalid_params() -> None:
    fr = bin_events(make_events([], [], [], []), SENSOR, BinningParams(T=3))
    assert fr.shape == (3, 2, 30, 40) and fr.sum() == 0
    with pytest.raises(ValueError, match="split_by"):
        BinningParams(T=2, split_by="rate")
    with pytest.raises(ValueError, match="window_us"):
        BinningParams(T=2, window_us=100)
    assert BinningParams(T=2).digest() != BinningParams(T=2, size=(16, 16)).digest()
    assert BinningParams(T=2).digest() == BinningParams(T=2).digest()


def test_agrees_with_tonic_to_frame() -> None:
    tonic_tf = pytest.importorskip("tonic.transforms")
    sensor = (34, 34)
    ev = random_events(4000, sensor, seed=9, t0=50)
    tonic_ev = np.zeros(len(ev), dtype=np.dtype([("x", int), ("y", int), ("t", int), ("p", int)]))
    for k in ("x", "y", "t", "p"):
        tonic_ev[k] = ev[k]
    ref = tonic_tf.ToFrame(sensor_size=(*sensor, 2), n_event_bins=8)(tonic_ev)
    np.testing.assert_array_equal(bin_events(ev, sensor, BinningParams(T=8)), ref)
    # tonic drops the N % T remainder, we put it in the last frame
    ref_r = tonic_tf.ToFrame(sensor_size=(*sensor, 2), n_event_bins=7)(tonic_ev)
    ours_r = bin_events(ev, sensor, BinningParams(T=7))
    np.testing.assert_array_equal(ours_r[:-1], ref_r[:-1])
    assert ours_r[-1].sum() - ref_r[-1].sum() == 4000 % 7
    w = 1000
    ref_t = tonic_tf.ToFrame(sensor_size=(*sensor, 2), time_window=w)(tonic_ev)
    ours_t = bin_events(ev, sensor, BinningParams(T=len(ref_t), split_by="time", window_us=w))
    np.testing.assert_array_equal(ours_t, ref_t)
