"""Prophesee / Chronocam ``.dat`` (DAT v2, "Event2D"): ``%`` header, 2 bytes (event type, event size),
then 8-byte little-endian records: uint32 timestamp µs, uint32 ``x | y << 14 | p << 28``.

The 32-bit timestamp wraps every ~71.6 min; a decrease of more than 2**31 µs is unwrapped. A file whose
header gives no size (e.g. N-CARS) gets ``default_sensor`` (the ATIS' 304x240 unless told otherwise).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from edgesnn.data.events.errors import EventFormatError
from edgesnn.data.events.prophesee_header import read_prophesee_header
from edgesnn.data.events.records import iter_records
from edgesnn.data.events.types import EVENT_DTYPE, EventRecording, EventStream, check_events, size_wh

ATIS_SENSOR = (304, 240)
RECORD = np.dtype([("t", "<u4"), ("d", "<u4")])
WRAP = 1 << 32


def _check_preamble(path: Path, offset: int) -> tuple[int, int]:
    with open(path, "rb") as f:
        f.seek(offset)
        b = f.read(2)
    if len(b) < 2:
        raise EventFormatError(path, offset + len(b), "DAT file ends before its event-type/size bytes")
    if b[1] != RECORD.itemsize:
        raise EventFormatError(
            path, offset + 1, f"DAT event size {b[1]} is not {RECORD.itemsize} (not a DAT v2 CD file?)"
        )
    return b[0], b[1]


def open_dat(path: str | Path, default_sensor: tuple[int, int] = ATIS_SENSOR) -> EventStream:
    path = Path(path)
    hdr = read_prophesee_header(path)
    if not hdr.lines:
        raise EventFormatError(path, 0, "no '%' header: not a Prophesee .dat file")
    ev_type, _ = _check_preamble(path, hdr.data_offset)
    sensor = hdr.sensor_size() or size_wh(default_sensor)
    start = hdr.data_offset + 2

    def chunks(n: int) -> Iterator[np.ndarray]:
        last, wraps = None, 0
        for offset, raw in iter_records(path, start, RECORD, n):
            t = raw["t"].astype(np.int64)
            if len(t):
                prev = np.concatenate(([t[0] if last is None else last], t[:-1]))
                jumps = (prev - t) > (WRAP >> 1)
                t += (wraps + np.cumsum(jumps, dtype=np.int64)) * WRAP
                wraps += int(np.count_nonzero(jumps))
                last = int(raw["t"][-1])
            d = raw["d"]
            x, y, p = d & 0x3FFF, (d >> 14) & 0x3FFF, d >> 28
            bad = (x >= sensor[0]) | (y >= sensor[1]) | (p > 1)
            if bad.any():
                i = int(np.argmax(bad))
                raise EventFormatError(
                    path,
                    offset + 8 * i,
                    f"corrupt event x={int(x[i])} y={int(y[i])} p={int(p[i])} "
                    f"for a {sensor[0]}x{sensor[1]} sensor",
                )
            ev = np.empty(len(raw), dtype=EVENT_DTYPE)
            ev["x"], ev["y"], ev["t"], ev["p"] = x, y, t, p
            yield ev

    meta = {"header": hdr.lines, "event_type": ev_type}
    return EventStream(path, "dat", sensor, chunks, meta)


def read_dat(path: str | Path, default_sensor: tuple[int, int] = ATIS_SENSOR) -> EventRecording:
    return open_dat(path, default_sensor).read()


def write_dat(path: str | Path, events: np.ndarray, sensor_size: tuple[int, int]) -> None:
    """Write a DAT v2 CD file with ``% Width``/``% Height`` in its header; times must fit 32 bits."""
    check_events(events, sensor_size, str(path))
    t = events["t"].astype(np.int64)
    if len(t) and (t.min() < 0 or t.max() >= WRAP):
        raise ValueError(f"{path}: DAT timestamps must lie in [0, 2**32) µs, got {t.min()}..{t.max()}")
    header = (
        "% Data file containing Event2D events.\n% Version 2\n"
        f"% Width {sensor_size[0]}\n% Height {sensor_size[1]}\n"
    ).encode()
    raw = np.empty(len(events), dtype=RECORD)
    raw["t"] = t
    raw["d"] = (
        events["x"].astype(np.uint32)
        | (events["y"].astype(np.uint32) << 14)
        | (events["p"].astype(np.uint32) << 28)
    )
    with open(path, "wb") as f:
        f.write(header + bytes([0, RECORD.itemsize]))
        f.write(raw.tobytes())
