"""jAER AEDAT 2.0 (CIFAR10-DVS, DVS128 recordings of the jAER era): ``#`` header, then big-endian 8-byte
records ``uint32 address, uint32 timestamp µs``; the 32-bit clock wrap (every ~71.6 min) is unwrapped.

DVS128 address: bit 0 = raw polarity, bits 7..1 = raw x, bits 14..8 = raw y. Orientation:
- ``"cifar10-dvs"`` (default; what SpikingJelly's CIFAR10DVS loader, used by the paper, produces):
  x = 127 - raw y, y = 127 - raw x, p = 1 - raw polarity.
- ``"raw"``: x = raw x, y = raw y, p = raw polarity.
Records with address bit 31 set are not DVS events (jAER special events) and are skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from edgesnn.data.events.aedat_header import read_aedat_header
from edgesnn.data.events.errors import EventFormatError
from edgesnn.data.events.records import iter_records
from edgesnn.data.events.types import EVENT_DTYPE, EventRecording, EventStream, check_events

RECORD = np.dtype([("a", ">u4"), ("t", ">u4")])
SENSOR = (128, 128)
ORIENTATIONS = ("cifar10-dvs", "raw")
WRAP = 1 << 32


def _check_orientation(orientation: str) -> None:
    if orientation not in ORIENTATIONS:
        raise ValueError(f"orientation {orientation!r} is not one of {ORIENTATIONS}")


def open_aedat2(path: str | Path, orientation: str = "cifar10-dvs") -> EventStream:
    path = Path(path)
    _check_orientation(orientation)
    hdr = read_aedat_header(path, ("2.",))

    def chunks(n: int) -> Iterator[np.ndarray]:
        last, wraps = None, 0
        for offset, raw in iter_records(path, hdr.data_offset, RECORD, n):
            a = raw["a"]
            keep = (a >> 31) == 0
            bad = keep & ((a & 0xFFFF8000) != 0)
            if bad.any():
                i = int(np.argmax(bad))
                raise EventFormatError(
                    path, offset + 8 * i, f"address 0x{int(a[i]):08X} is not a DVS128 event"
                )
            t = raw["t"].astype(np.int64)
            if len(t):
                prev = np.concatenate(([t[0] if last is None else last], t[:-1]))
                jumps = (prev - t) > (WRAP >> 1)
                t += (wraps + np.cumsum(jumps, dtype=np.int64)) * WRAP
                wraps += int(np.count_nonzero(jumps))
                last = int(raw["t"][-1])
            a, t = a[keep], t[keep]
            rp, rx, ry = a & 1, (a >> 1) & 0x7F, (a >> 8) & 0x7F
            ev = np.empty(len(a), dtype=EVENT_DTYPE)
            if orientation == "cifar10-dvs":
                ev["x"], ev["y"], ev["p"] = 127 - ry, 127 - rx, 1 - rp
            else:
                ev["x"], ev["y"], ev["p"] = rx, ry, rp
            ev["t"] = t
            yield ev

    return EventStream(path, "aedat2", SENSOR, chunks, {"header": hdr.lines, "orientation": orientation})


def read_aedat2(path: str | Path, orientation: str = "cifar10-dvs") -> EventRecording:
    return open_aedat2(path, orientation).read()


def write_aedat2(path: str | Path, events: np.ndarray, orientation: str = "cifar10-dvs") -> None:
    """Write DVS128 events (128x128) as AEDAT 2.0; timestamps must lie in [0, 2**32)."""
    _check_orientation(orientation)
    check_events(events, SENSOR, str(path))
    t = events["t"].astype(np.int64)
    if len(t) and (t.min() < 0 or t.max() >= WRAP):
        raise ValueError(f"{path}: AEDAT 2.0 timestamps must lie in [0, 2**32) µs")
    x, y, p = (events[k].astype(np.uint32) for k in ("x", "y", "p"))
    rx, ry, rp = (127 - y, 127 - x, 1 - p) if orientation == "cifar10-dvs" else (x, y, p)
    raw = np.empty(len(events), dtype=RECORD)
    raw["a"] = rp | (rx << 1) | (ry << 8)
    raw["t"] = t
    with open(path, "wb") as f:
        f.write(b"#!AER-DAT2.0\r\n# This is a raw AE data file - do not edit\r\n# written by edgesnn\r\n")
        f.write(raw.tobytes())
