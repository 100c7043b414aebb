"""Shared helpers for the data tests: where the real recordings are, and synthetic event streams."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest

from edgesnn.data.events.types import make_events
from tests.fetch_test_data import SETUP_COMMAND, events_dir, missing

# Verified counts of the real recordings (tests/fetch_test_data.py fetches them): events, sensor (W, H), span
# µs (±1 ms where the provenance notes round), (OFF, ON) polarity counts (None where they give none).
REAL = {
    "nmnist_sample.bin": dict(fmt="nmnist", n=4325, sensor=(34, 34), t=(654, 311_175), pol=(2180, 2145)),
    "ncars_sample.dat": dict(fmt="dat", n=2009, sensor=(304, 240), span=99_952, pol=None),
    "dvxplorer_sample.aedat4": dict(
        fmt="aedat4", n=111_954, sensor=(320, 240), span_ms=590, pol=(56_931, 55_023)
    ),
    "davis346.aedat4": dict(fmt="aedat4", n=78_830, sensor=(346, 260), span_ms=2360, pol=(37_573, 41_257)),
    "gen3_evt2.raw": dict(fmt="evt2", n=521_252, sensor=(640, 480), span_ms=95.9, pol=(335_391, 185_861)),
    "imx636_evt3.raw": dict(
        fmt="evt3", n=1_218_618, sensor=(1280, 720), span_ms=10_768, pol=(665_323, 553_295)
    ),
}


@functools.cache
def _missing() -> list[str]:  # the sums are checked once per session, not per test
    return missing(events_dir())


def real_file(name: str) -> Path:
    """The cached real recording ``name``; a test failure naming the setup command when it is not there."""
    folder = events_dir()
    if name in _missing():
        pytest.fail(f"real recording {folder / name} is missing or damaged: run {SETUP_COMMAND}")
    return folder / name


def random_events(
    n: int, sensor: tuple[int, int], seed: int = 0, t0: int = 0, rate_us: float = 3.0
) -> np.ndarray:
    """``n`` uniformly placed events with non-decreasing timestamps (several events may share a time)."""
    rng = np.random.default_rng(seed)
    t = t0 + np.cumsum(rng.poisson(rate_us, n))
    return make_events(rng.integers(0, sensor[0], n), rng.integers(0, sensor[1], n), t, rng.integers(0, 2, n))


def assert_same_events(a: np.ndarray, b: np.ndarray) -> None:
    assert len(a) == len(b)
    for k in ("x", "y", "t", "p"):
        np.testing.assert_array_equal(a[k].astype(np.int64), b[k].astype(np.int64), err_msg=f"field {k}")
