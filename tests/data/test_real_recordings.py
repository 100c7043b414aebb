"""Every reader on the real recordings (tests/fetch_test_data.py), against their verified counts."""

from __future__ import annotations

import numpy as np
import pytest
from event_helpers import REAL, assert_same_events, real_file

from edgesnn.data.events import open_events, read_events


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_file_matches_provenance(name: str) -> None:
    exp = REAL[name]
    rec = read_events(real_file(name))
    assert rec.format == exp["fmt"]
    assert len(rec) == exp["n"]
    assert rec.sensor_size == exp["sensor"]
    ev = rec.events
    assert ev.dtype.names == ("x", "y", "t", "p") and ev["t"].dtype == np.int64
    assert int(ev["x"].max()) < exp["sensor"][0] and int(ev["y"].max()) < exp["sensor"][1]
    assert np.all(np.diff(ev["t"]) >= 0), "timestamps must be non-decreasing"
    if "t" in exp:
        assert (int(ev["t"][0]), int(ev["t"][-1])) == exp["t"]
    if "span" in exp:
        assert rec.duration_us == exp["span"]
    if "span_ms" in exp:
        assert rec.duration_us / 1000 == pytest.approx(exp["span_ms"], abs=0.5)
    if exp["pol"] is not None:
        assert rec.polarity_counts() == exp["pol"]
    assert set(np.unique(ev["p"]).tolist()) <= {0, 1}


def test_ncars_dat_is_the_cropped_atis_region() -> None:
    ev = read_events(real_file("ncars_sample.dat")).events
    assert int(ev["x"].max()) == 77 and int(ev["y"].max()) == 41


@pytest.mark.parametrize(
    "name", ["gen3_evt2.raw", "imx636_evt3.raw", "nmnist_sample.bin", "ncars_sample.dat"]
)
def test_chunked_reading_equals_read_all(name: str) -> None:
    path = real_file(name)
    whole = read_events(path).events
    stream = open_events(path)
    chunks = list(stream.chunks(397))  # a prime: chunk borders fall everywhere in the word stream
    assert len(chunks) > 1
    assert_same_events(np.concatenate(chunks), whole)


def test_aedat4_backends_agree() -> None:
    pytest.importorskip("aedat")
    pytest.importorskip("dv_processing")
    path = real_file("davis346.aedat4")
    a = read_events(path, backend="aedat")
    b = read_events(path, backend="dv-processing")
    assert a.sensor_size == b.sensor_size
    assert_same_events(a.events, b.events)


def test_evt3_agrees_with_the_evt3_package() -> None:
    evt3 = pytest.importorskip("evt3")
    path = real_file("imx636_evt3.raw")
    ours = read_events(path).events
    ref = evt3.decode_file(str(path))
    for k in ("x", "y", "t", "p"):
        np.testing.assert_array_equal(ours[k].astype(np.int64), np.asarray(getattr(ref, k)).astype(np.int64))


def test_evt2_agrees_with_expelliarmus() -> None:
    expelliarmus = pytest.importorskip("expelliarmus")
    path = real_file("gen3_evt2.raw")
    ref = expelliarmus.Wizard(encoding="evt2").read(str(path))
    ours = read_events(path).events
    for k in ("x", "y", "t", "p"):
        np.testing.assert_array_equal(ours[k].astype(np.int64), ref[k].astype(np.int64))


def test_nmnist_agrees_with_tonic() -> None:
    tonic_io = pytest.importorskip("tonic.io")
    path = real_file("nmnist_sample.bin")
    ref = tonic_io.read_mnist_file(
        str(path), dtype=np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])
    )
    assert_same_events(read_events(path).events, ref)
