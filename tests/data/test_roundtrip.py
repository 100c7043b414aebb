"""Synthetic round trips through every writer and reader, with edge cases (empty, extremes, clock wraps)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from event_helpers import assert_same_events, random_events

from edgesnn.data.events import detect_format, make_events, open_events, read_events, write_events

# format -> (suffix, sensor size the format can carry)
FORMATS = {
    "nmnist": (".bin", (34, 34)),
    "dat": (".dat", (304, 240)),
    "evt2": (".raw", (640, 480)),
    "evt3": (".raw", (1280, 720)),
    "aedat2": (".aedat", (128, 128)),
    "aedat31": (".aedat", (128, 128)),
    "npy": (".npz", (346, 260)),
    "aedat4": (".aedat4", (320, 240)),
}


def _skip_missing(fmt: str) -> None:
    if fmt == "aedat4":
        pytest.importorskip("dv_processing", reason="the AEDAT 4 writer needs dv-processing")


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_round_trip_random(fmt: str, tmp_path: Path) -> None:
    _skip_missing(fmt)
    suffix, sensor = FORMATS[fmt]
    ev = random_events(3000, sensor, seed=1, t0=100)
    path = tmp_path / f"rec{suffix}"
    write_events(path, ev, sensor, fmt)
    assert detect_format(path) == fmt
    rec = read_events(path)
    assert rec.format == fmt and rec.sensor_size == sensor
    assert_same_events(rec.events, ev)
    chunks = list(open_events(path).chunks(500))
    assert_same_events(np.concatenate(chunks), ev)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_round_trip_edges(fmt: str, tmp_path: Path) -> None:
    """Corner pixels, both polarities, repeated timestamps, the largest coordinates."""
    _skip_missing(fmt)
    suffix, (w, h) = FORMATS[fmt]
    ev = make_events(
        [0, w - 1, 0, w - 1, w // 2], [0, h - 1, h - 1, 0, h // 2], [0, 0, 5, 5, 70], [1, 0, 0, 1, 1]
    )
    path = tmp_path / f"edge{suffix}"
    write_events(path, ev, (w, h), fmt)
    assert_same_events(read_events(path).events, ev)


@pytest.mark.parametrize("fmt", sorted(set(FORMATS) - {"aedat4"}))
def test_empty_recording(fmt: str, tmp_path: Path) -> None:
    suffix, sensor = FORMATS[fmt]
    path = tmp_path / f"empty{suffix}"
    write_events(path, make_events([], [], [], []), sensor, fmt)
    rec = read_events(path, format=fmt)
    assert len(rec) == 0 and rec.sensor_size == sensor


@pytest.mark.parametrize(
    "fmt,times",
    [
        ("evt2", [(1 << 34) - 70, (1 << 34) - 1, (1 << 34) + 5]),  # 34-bit EVT 2.0 clock wraps
        ("evt3", [(1 << 24) - 3, (1 << 24) + 2, 3 << 24]),  # 24-bit EVT 3.0 clock wraps, and a 33 s gap
        ("aedat31", [(1 << 31) - 1, 1 << 31, (1 << 32) + 9]),  # tsOverflow packets
    ],
)
def test_clock_wraps(fmt: str, times: list[int], tmp_path: Path) -> None:
    suffix, sensor = FORMATS[fmt]
    ev = make_events([1, 2, 3], [4, 5, 6], times, [1, 0, 1])
    path = tmp_path / f"wrap{suffix}"
    write_events(path, ev, sensor, fmt)
    assert_same_events(read_events(path).events, ev)


def test_evt3_writer_uses_vectors_and_reader_expands_them(tmp_path: Path) -> None:
    xs = [10, 11, 13, 21, 22, 30, 40, 41]  # one run: same t, y, p, ascending x over 31 columns
    ev = make_events(xs, [7] * len(xs), [1000] * len(xs), [1] * len(xs))
    path = tmp_path / "vec.raw"
    write_events(path, ev, (64, 64), "evt3")
    stream = open_events(path)
    words = np.fromfile(path, dtype="<u2", offset=_data_offset(path))
    kinds = set((words >> 12).tolist())
    assert {0x3, 0x4} <= kinds and 0x2 not in kinds
    assert_same_events(stream.read().events, ev)


def _data_offset(path: Path) -> int:
    from edgesnn.data.events.prophesee_header import read_prophesee_header

    return read_prophesee_header(path).data_offset


def test_nmnist_overflow_marker_adds_8192us(tmp_path: Path) -> None:
    def rec(x: int, y: int, t: int, p: int) -> bytes:
        return bytes([x, y, (p << 7) | (t >> 16), (t >> 8) & 0xFF, t & 0xFF])

    path = tmp_path / "ovf.bin"
    path.write_bytes(rec(1, 2, 100, 1) + rec(0, 240, 0, 0) + rec(3, 4, 50, 0))
    ev = read_events(path).events
    assert ev["t"].tolist() == [100, 50 + 8192] and ev["x"].tolist() == [1, 3]


def test_dat_and_aedat2_unwrap_32bit_clock(tmp_path: Path) -> None:
    # DAT: craft records across the 2**32 µs wrap (the writer refuses times that do not fit 32 bits)
    path = tmp_path / "wrap.dat"
    write_events(
        path, make_events([1, 2], [1, 2], [(1 << 32) - 10, (1 << 32) - 5], [0, 1]), (304, 240), "dat"
    )
    raw = bytearray(path.read_bytes())
    raw += np.array([(7, 3 | (4 << 14) | (1 << 28))], dtype=[("t", "<u4"), ("d", "<u4")]).tobytes()
    path.write_bytes(bytes(raw))
    assert read_events(path).events["t"].tolist() == [(1 << 32) - 10, (1 << 32) - 5, (1 << 32) + 7]
    path2 = tmp_path / "wrap.aedat"
    write_events(path2, make_events([1], [1], [(1 << 32) - 10], [0]), (128, 128), "aedat2")
    raw2 = path2.read_bytes() + np.array([(0, 3)], dtype=[("a", ">u4"), ("t", ">u4")]).tobytes()
    path2.write_bytes(raw2)
    assert read_events(path2).events["t"].tolist() == [(1 << 32) - 10, (1 << 32) + 3]


def test_aedat2_orientation_matches_spikingjelly_cifar10dvs(tmp_path: Path) -> None:
    """SpikingJelly: x = 127 - raw y, y = 127 - raw x, p = 1 - raw polarity (raw: bit0 p, 7..1 x, 14..8 y)."""
    path = tmp_path / "c.aedat"
    addr = (1 << 0) | (5 << 1) | (100 << 8)  # raw p=1, raw x=5, raw y=100
    path.write_bytes(
        b"#!AER-DAT2.0\r\n" + np.array([(addr, 42)], dtype=[("a", ">u4"), ("t", ">u4")]).tobytes()
    )
    e = read_events(path).events[0]
    assert (int(e["x"]), int(e["y"]), int(e["p"]), int(e["t"])) == (127 - 100, 127 - 5, 0, 42)
    r = read_events(path, orientation="raw").events[0]
    assert (int(r["x"]), int(r["y"]), int(r["p"])) == (5, 100, 1)
