"""Truncated, corrupt and wrong-format files: a clear EventFormatError naming the file and byte offset."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
from event_helpers import random_events, real_file

from edgesnn.data.events import EventFormatError, make_events, read_events, write_events
from edgesnn.data.events.prophesee_header import read_prophesee_header

FIXED_RECORDS = {  # format -> (suffix, sensor, record size)
    "nmnist": (".bin", (34, 34), 5),
    "dat": (".dat", (304, 240), 8),
    "evt2": (".raw", (640, 480), 4),
    "evt3": (".raw", (1280, 720), 2),
    "aedat2": (".aedat", (128, 128), 8),
}


def _offset(err: EventFormatError, path: Path) -> int:
    msg = str(err)
    assert str(path) in msg
    m = re.search(r": byte (\d+): ", msg)
    assert m, msg
    assert int(m.group(1)) == err.offset
    return err.offset


def _write(fmt: str, tmp_path: Path) -> Path:
    suffix, sensor, _ = FIXED_RECORDS[fmt]
    path = tmp_path / f"f{suffix}"
    write_events(path, random_events(200, sensor, seed=3), sensor, fmt)
    return path


@pytest.mark.parametrize("fmt", sorted(FIXED_RECORDS))
@pytest.mark.parametrize("cut", [1, 3])
def test_truncated_record_names_its_offset(fmt: str, cut: int, tmp_path: Path) -> None:
    path = _write(fmt, tmp_path)
    size = os.path.getsize(path)
    rec_size = FIXED_RECORDS[fmt][2]
    if cut % rec_size == 0:
        cut += 1
    os.truncate(path, size - cut)
    with pytest.raises(EventFormatError) as info:
        read_events(path, format=fmt)
    off = _offset(info.value, path)
    assert off == size - cut - ((size - cut - _data_start(path, fmt)) % rec_size)
    assert "truncated" in str(info.value)


def _data_start(path: Path, fmt: str) -> int:
    if fmt == "nmnist":
        return 0
    if fmt == "aedat2":
        from edgesnn.data.events.aedat_header import read_aedat_header

        return read_aedat_header(path, ("2.",)).data_offset
    return read_prophesee_header(path).data_offset + (2 if fmt == "dat" else 0)


def test_evt2_unknown_word_type(tmp_path: Path) -> None:
    path = _write("evt2", tmp_path)
    start = read_prophesee_header(path).data_offset
    raw = bytearray(path.read_bytes())
    raw[start + 4 * 10 + 3] = 0x30  # type 0x3 does not exist in EVT 2.0
    path.write_bytes(bytes(raw))
    with pytest.raises(EventFormatError, match=r"unknown EVT 2\.0 word type 0x3") as info:
        read_events(path)
    assert _offset(info.value, path) == start + 40


def test_evt3_reserved_word_type(tmp_path: Path) -> None:
    path = _write("evt3", tmp_path)
    start = read_prophesee_header(path).data_offset
    raw = bytearray(path.read_bytes())
    raw[start + 2 * 7 + 1] = 0x9A  # type 0x9 is reserved
    path.write_bytes(bytes(raw))
    with pytest.raises(EventFormatError, match=r"unknown EVT 3\.0 word type 0x9") as info:
        read_events(path)
    assert _offset(info.value, path) == start + 14


def test_out_of_sensor_coordinates_are_corruption(tmp_path: Path) -> None:
    path = tmp_path / "bad.bin"
    path.write_bytes(bytes([1, 2, 0, 0, 9]) + bytes([200, 3, 0, 0, 10]))
    with pytest.raises(EventFormatError, match="outside the 34x34 sensor") as info:
        read_events(path)
    assert _offset(info.value, path) == 5


def test_wrong_format_is_reported(tmp_path: Path) -> None:
    nm = real_file("nmnist_sample.bin")
    with pytest.raises(EventFormatError) as info:
        read_events(nm, format="evt3")
    assert _offset(info.value, nm) == 0
    with pytest.raises(EventFormatError, match="AER-DAT"):
        read_events(nm, format="aedat31")
    with pytest.raises(EventFormatError, match=r"EVT 3\.0, not EVT 2\.0"):
        read_events(real_file("imx636_evt3.raw"), format="evt2")
    with pytest.raises(EventFormatError, match=r"AER-DAT4\.0"):
        read_events(real_file("gen3_evt2.raw"), format="aedat4")
    junk = tmp_path / "junk.xyz"
    junk.write_bytes(b"hello world")
    with pytest.raises(EventFormatError, match="unrecognised event file"):
        read_events(junk)


@pytest.mark.parametrize("where", ["header", "payload"])
def test_aedat31_truncated_or_corrupt_packets(where: str, tmp_path: Path) -> None:
    path = tmp_path / "g.aedat"
    write_events(path, random_events(100, (128, 128)), (128, 128), "aedat31", packet_events=40)
    raw = path.read_bytes()
    start = raw.index(b"#!END-HEADER\r\n") + len(b"#!END-HEADER\r\n")
    second = start + 28 + 40 * 8
    if where == "header":
        path.write_bytes(raw[: second + 10])
        with pytest.raises(EventFormatError, match="truncated packet header") as info:
            read_events(path)
    else:
        path.write_bytes(raw[: second + 28 + 16])
        with pytest.raises(EventFormatError, match="runs past the end") as info:
            read_events(path)
    assert _offset(info.value, path) == second


def test_aedat31_corrupt_event_size(tmp_path: Path) -> None:
    path = tmp_path / "g.aedat"
    write_events(path, random_events(10, (128, 128)), (128, 128), "aedat31")
    raw = bytearray(path.read_bytes())
    start = raw.index(b"#!END-HEADER\r\n") + len(b"#!END-HEADER\r\n")
    raw[start + 4 : start + 8] = np.int32(-8).tobytes()
    path.write_bytes(bytes(raw))
    with pytest.raises(EventFormatError, match="corrupt packet header") as info:
        read_events(path)
    assert _offset(info.value, path) == start


@pytest.mark.parametrize("backend", ["aedat", "dv-processing"])
def test_aedat4_truncated(backend: str, tmp_path: Path) -> None:
    pytest.importorskip("aedat" if backend == "aedat" else "dv_processing")
    src = real_file("dvxplorer_sample.aedat4").read_bytes()
    for keep in (100, len(src) // 2):
        path = tmp_path / f"t{keep}.aedat4"
        path.write_bytes(src[:keep])
        with pytest.raises(EventFormatError) as info:
            read_events(path, backend=backend)
        off = _offset(info.value, path)
        # the IOHeader length field (14) for 100 bytes; the cut packet (its size field) at half the file
        assert off == 14 if keep == 100 else keep - 200_000 < off <= keep, str(info.value)
        assert "Stacktrace" not in str(info.value)


def test_missing_header_fields(tmp_path: Path) -> None:
    path = tmp_path / "nosize.raw"
    path.write_bytes(b"% evt 3.0\n% end\n" + b"\x00\x00")
    with pytest.raises(EventFormatError, match="no sensor size"):
        read_events(path)
    ok = read_events(path, default_sensor=(8, 8))
    assert len(ok) == 0


def test_empty_file_and_header_only(tmp_path: Path) -> None:
    empty = tmp_path / "e.bin"
    empty.write_bytes(b"")
    assert len(read_events(empty)) == 0
    dat = tmp_path / "h.dat"
    dat.write_bytes(b"% Version 2\n")
    with pytest.raises(EventFormatError, match="ends before its event-type") as info:
        read_events(dat)
    assert _offset(info.value, dat) == 12
    assert len(read_events(tmp_path / "e.bin", format="nmnist").events) == 0
    assert make_events([], [], [], []).dtype == read_events(empty).events.dtype
