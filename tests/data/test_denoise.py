"""Refractory and background-activity filters: hand cases and chunk invariance (streaming == offline)."""

from __future__ import annotations

import numpy as np
from event_helpers import assert_same_events, random_events

from edgesnn.data.binning import BinningParams, bin_events
from edgesnn.data.denoise import Denoiser
from edgesnn.data.events import make_events

SENSOR = (16, 16)


def test_refractory_drops_events_too_soon_after_any_event_at_the_pixel() -> None:
    ev = make_events([3, 3, 3, 3, 4], [3, 3, 3, 3, 3], [0, 50, 120, 300, 60], [1, 0, 1, 1, 1])
    ev = ev[np.argsort(ev["t"], kind="stable")]
    out = Denoiser(SENSOR, refractory_us=100)(ev)
    # pixel (3,3): t=0 kept, 50 dropped (<100 after 0), 120 dropped (<100 after the dropped 50), 300 kept
    assert sorted(zip(out["x"].tolist(), out["t"].tolist(), strict=True)) == [(3, 0), (3, 300), (4, 60)]


def test_baf_keeps_supported_events_and_drops_isolated_ones() -> None:
    ev = make_events([5, 6, 12, 6, 0], [5, 5, 12, 6, 0], [0, 10, 20, 2000, 2001], [1, 1, 1, 1, 1])
    out = Denoiser(SENSOR, baf_us=100)(ev)
    # (6,5)@10 has neighbour (5,5)@0; (5,5)@0 has no earlier neighbour; (12,12) isolated; (6,6)@2000 too late
    assert out["t"].tolist() == [10]


def test_chunked_denoising_equals_whole_stream() -> None:
    ev = random_events(4000, SENSOR, seed=5, rate_us=2.0)
    whole = Denoiser(SENSOR, refractory_us=40, baf_us=60)(ev)
    assert 0 < len(whole) < len(ev)
    d = Denoiser(SENSOR, refractory_us=40, baf_us=60)
    parts = [d(ev[i : i + 333]) for i in range(0, len(ev), 333)]
    assert_same_events(np.concatenate(parts), whole)


def test_bin_events_applies_denoise_before_splitting() -> None:
    ev = random_events(2000, SENSOR, seed=8, rate_us=2.0)
    p = BinningParams(T=4, refractory_us=30)
    kept = Denoiser(SENSOR, refractory_us=30)(ev)
    np.testing.assert_array_equal(bin_events(ev, SENSOR, p), bin_events(kept, SENSOR, BinningParams(T=4)))
    assert bin_events(ev, SENSOR, p).sum() == len(kept) < len(ev)
