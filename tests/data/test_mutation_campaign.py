"""Issue 18, faults 2 and 3: damaged AEDAT 4 and .npy/.npz files, and the seeded mutation campaign over every
event reader (tests/data/event_mutation.py). Risky decodes run in a child process: an abort fails the test
instead of killing pytest."""

from __future__ import annotations

import io
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from event_helpers import random_events

from edgesnn.data.events import EventFormatError, read_events, write_events

HERE = Path(__file__).parent
CHILD = """
import sys
from edgesnn.data.events import EventFormatError, read_events
try:
    rec = read_events(sys.argv[1])
    print("OK", rec.sensor_size, len(rec))
except EventFormatError as e:
    print("EventFormatError", e.offset, e)
"""


def _read_in_child(path: Path) -> str:
    """'EventFormatError <offset> ...' or 'OK ...'; anything else (a signal, another exception) fails."""
    p = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, f"reader killed the process / raised (exit {p.returncode}): {p.stderr[-600:]}"
    return p.stdout.strip()


@pytest.fixture
def aedat4_file(tmp_path: Path) -> Path:
    pytest.importorskip("dv_processing", reason="the AEDAT 4 writer needs dv-processing")
    pytest.importorskip("aedat")
    path = tmp_path / "seed.aedat4"
    write_events(path, random_events(150, (320, 240), seed=7, t0=1000), (320, 240), "aedat4")
    return path


def _patched(path: Path, edits: dict[bytes, bytes], name: str) -> Path:
    raw = path.read_bytes()
    for old, new in edits.items():
        assert old in raw and len(old) == len(new)
        raw = raw.replace(old, new, 1)
    out = path.with_name(name)
    out.write_bytes(raw)
    return out


def test_aedat4_non_ascii_description_does_not_abort(aedat4_file: Path) -> None:
    """aedat 2.3 aborts the process (SIGABRT, a non-unwinding panic) on these two bytes."""
    bad = _patched(
        aedat4_file, {b"typeIdentifier": b"\xe4ypeIdentifier", b"sizeX": b"\xefizeX"}, "abort.aedat4"
    )
    out = _read_in_child(bad)
    assert out.startswith("EventFormatError") and "non-ASCII" in out, out


def test_aedat4_description_panic_is_an_event_format_error(aedat4_file: Path) -> None:
    """A byte inside a multi-byte character: aedat raises pyo3's PanicException (a BaseException)."""
    bad = _patched(aedat4_file, {b"originalModuleName": b"original\xc3\xa9duleName"}, "panic.aedat4")
    with pytest.raises(EventFormatError, match="non-ASCII"):
        read_events(bad)


def test_aedat4_ioheader_offsets_are_bounded(aedat4_file: Path) -> None:
    raw = bytearray(aedat4_file.read_bytes())
    raw[18:22] = (0x7FFFFFF0).to_bytes(4, "little")  # the IOHeader root offset: "range start index" panic
    (bad := aedat4_file.with_name("root.aedat4")).write_bytes(bytes(raw))
    with pytest.raises(EventFormatError, match="IOHeader") as info:
        read_events(bad)
    assert info.value.offset == 18
    raw = bytearray(aedat4_file.read_bytes())
    raw[14:18] = (0xFFFFFFF0).to_bytes(4, "little")  # the IOHeader length: a 4 GB read
    (bad := aedat4_file.with_name("hlen.aedat4")).write_bytes(bytes(raw))
    with pytest.raises(EventFormatError, match="IOHeader length 4294967280 outside the file") as info:
        read_events(bad)
    assert info.value.offset == 14


def test_aedat4_packet_size_bounded_by_the_file(aedat4_file: Path) -> None:
    raw = bytearray(aedat4_file.read_bytes())
    start = 18 + int.from_bytes(raw[14:18], "little")
    raw[start + 4 : start + 8] = (0xC0000000).to_bytes(4, "little")  # a 3 GB packet in a 2 KB file
    (bad := aedat4_file.with_name("psize.aedat4")).write_bytes(bytes(raw))
    with pytest.raises(EventFormatError, match="packet size 3221225472 beyond the data") as info:
        read_events(bad)
    assert info.value.offset == start + 4


def test_aedat4_events_outside_the_sensor(aedat4_file: Path) -> None:
    """The description says 100 pixels wide, the packets hold x up to 319: was returned as-is."""
    bad = _patched(aedat4_file, {b'"int">320<': b'"int">100<'}, "sensor.aedat4")
    with pytest.raises(EventFormatError, match="outside the 100x240 sensor") as info:
        read_events(bad)
    assert info.value.offset == 18 + int.from_bytes(bad.read_bytes()[14:18], "little")


def _npy_bytes(ev: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, ev)
    return buf.getvalue()


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda raw: raw.replace(b"'descr'", b"'de(cr'", 1), "not a readable .npy header"),  # TokenError
        (lambda raw: raw.replace(b"'descr':", b"'descr' ", 1), "not a readable .npy header"),  # SyntaxError
        (lambda raw: raw.replace(b"(150,)", b"(9999999999,)", 1)[:-1], "not a readable .npy header|declares"),
    ],
)
def test_npy_header_errors(edit, match: str, tmp_path: Path) -> None:
    path = tmp_path / "e.npy"
    path.write_bytes(edit(_npy_bytes(random_events(150, (34, 34), seed=1))))
    with pytest.raises(EventFormatError, match=match) as info:
        read_events(path)
    assert str(path) in str(info.value) and 0 <= info.value.offset <= path.stat().st_size


def test_npy_bad_polarity_names_the_record(tmp_path: Path) -> None:
    ev = random_events(150, (34, 34), seed=1)
    ev["p"][100] = 7
    path = tmp_path / "p.npy"
    path.write_bytes(_npy_bytes(ev))
    with pytest.raises(EventFormatError, match="not a valid p") as info:
        read_events(path, sensor_size=(34, 34))
    assert info.value.offset >= len(_npy_bytes(ev[:0]))


def test_npz_zip_damage_is_an_event_format_error(tmp_path: Path) -> None:
    path = tmp_path / "z.npz"
    write_events(path, random_events(150, (34, 34), seed=1), (34, 34), "npy")
    raw = bytearray(path.read_bytes())
    raw[200] ^= 0xFF  # inside the events entry: Bad CRC-32
    path.write_bytes(bytes(raw))
    with pytest.raises(EventFormatError, match="BadZipFile") as info:
        read_events(path)
    assert str(path) in str(info.value)
    path.write_bytes(bytes(raw[:-30]))  # the central directory cut: not a zip file
    with pytest.raises(EventFormatError, match="BadZipFile"):
        read_events(path)


def test_npz_member_shape_bounded_by_the_entry(tmp_path: Path) -> None:
    """A 3 KB .npz whose header declares 10^9 events: refused before any allocation."""
    ev = random_events(100, (34, 34), seed=1)
    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        head, {"descr": np.lib.format.dtype_to_descr(ev.dtype), "fortran_order": False, "shape": (10**9,)}
    )
    path = tmp_path / "big.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("events.npy", head.getvalue() + ev.tobytes())
    with pytest.raises(EventFormatError, match="declares"):
        read_events(path)


def test_mutation_campaign_every_reader(tmp_path: Path) -> None:
    """300 seeded mutants per format (seed 18): each is read back, or refused with EventFormatError naming
    the file and an offset inside it; no other exception, no abort, nothing outside the sensor, < 60 s."""
    sys.path.insert(0, str(HERE))
    from event_mutation import run_campaign

    t0 = time.monotonic()
    res = run_campaign(tmp_path, per_format=300, seed=18, timeout=120)
    bad = {k: v["unexpected"][:3] for k, v in res["formats"].items() if v["unexpected"]}
    assert not bad, bad
    assert all(v["ok"] + v["error"] == 300 for v in res["formats"].values())
    assert time.monotonic() - t0 < 60
