"""cAER AEDAT 3.x (DVS128 Gesture): ``#`` header up to ``#!END-HEADER``, then packets.

Packet header (28 bytes, little-endian int32 unless noted): int16 eventType, int16 eventSource, eventSize,
eventTSOffset, eventTSOverflow, eventCapacity, eventNumber, eventValid; then eventCapacity * eventSize bytes.
Polarity events (type 1): uint32 data (bit 0 valid, bit 1 polarity, bits 16..2 y, bits 31..17 x) and an
int32 timestamp at eventTSOffset; t = eventTSOverflow << 31 | timestamp. Other packet types are skipped.
Invalid events (bit 0 clear) are dropped unless ``keep_invalid`` (SpikingJelly keeps them; DVS Gesture
has none).

DVS128 Gesture labels: ``user??_<lighting>_labels.csv`` rows ``class,startTime_usec,endTime_usec`` with class
1..11; a sample is the events with start <= t < end (as SpikingJelly splits them), labelled class - 1.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgesnn.data.events.aedat_header import read_aedat_header
from edgesnn.data.events.errors import EventFormatError
from edgesnn.data.events.types import (
    EVENT_DTYPE,
    EventRecording,
    EventStream,
    check_events,
    concat_events,
    size_wh,
)

PACKET_HEADER = np.dtype(
    [
        ("type", "<i2"),
        ("source", "<i2"),
        ("size", "<i4"),
        ("tsoff", "<i4"),
        ("tsover", "<i4"),
        ("capacity", "<i4"),
        ("number", "<i4"),
        ("valid", "<i4"),
    ]
)
POLARITY_EVENT = 1
MAX_EVENT_SIZE = 1 << 16
SOURCE_SIZES = {"DVS128": (128, 128), "DAVIS240": (240, 180), "DAVIS346": (346, 260), "DVXPLORER": (640, 480)}


def _sensor_from_header(lines: list[str]) -> tuple[int, int] | None:
    for line in lines:
        if line.startswith("#Source"):
            name = line.split(":", 1)[-1].strip().upper()
            for key, size in SOURCE_SIZES.items():
                if name.startswith(key):
                    return size
    return None


def _packets(path: Path, start: int) -> Iterator[tuple[int, np.void, bytes]]:
    """Yield ``(offset, header, payload)`` for each packet, validating sizes against the file size."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        f.seek(start)
        pos = start
        while pos < size:
            raw = f.read(PACKET_HEADER.itemsize)
            if len(raw) < PACKET_HEADER.itemsize:
                raise EventFormatError(path, pos, f"truncated packet header ({len(raw)} of 28 bytes)")
            h = np.frombuffer(raw, dtype=PACKET_HEADER)[0]
            esize, cap = int(h["size"]), int(h["capacity"])
            if esize <= 0 or esize > MAX_EVENT_SIZE or cap < 0 or not 0 <= int(h["number"]) <= cap:
                raise EventFormatError(
                    path,
                    pos,
                    f"corrupt packet header (eventSize {esize}, capacity {cap}, number {int(h['number'])})",
                )
            if not 0 <= int(h["tsoff"]) <= esize - 4:
                raise EventFormatError(
                    path, pos + 8, f"eventTSOffset {int(h['tsoff'])} outside a {esize}-byte event"
                )
            n_bytes = esize * cap
            if pos + 28 + n_bytes > size:
                raise EventFormatError(
                    path,
                    pos,
                    f"packet of {n_bytes} bytes runs past the end of the file ({size - pos - 28} left)",
                )
            payload = f.read(n_bytes)
            yield pos, h, payload
            pos += 28 + n_bytes


def _decode_polarity(
    path: Path, pos: int, h: np.void, payload: bytes, sensor: tuple[int, int], keep_invalid: bool
):
    esize, tsoff = int(h["size"]), int(h["tsoff"])
    if esize < 8:
        raise EventFormatError(path, pos + 4, f"polarity eventSize {esize} < 8")
    dt = np.dtype({"names": ["d", "t"], "formats": ["<u4", "<i4"], "offsets": [0, tsoff], "itemsize": esize})
    rec = np.frombuffer(payload, dtype=dt)
    d = rec["d"]
    if not keep_invalid:
        keep = (d & 1) == 1
        rec, d = rec[keep], d[keep]
    x, y = d >> 17, (d >> 2) & 0x7FFF
    bad = (x >= sensor[0]) | (y >= sensor[1])
    if bad.any():
        i = int(np.argmax(bad))
        raise EventFormatError(
            path,
            pos + 28,
            f"polarity event x={int(x[i])} y={int(y[i])} outside the {sensor[0]}x{sensor[1]} sensor",
        )
    ev = np.empty(len(rec), dtype=EVENT_DTYPE)
    ev["x"], ev["y"], ev["p"] = x, y, (d >> 1) & 1
    ev["t"] = (np.int64(int(h["tsover"])) << 31) | rec["t"].astype(np.int64)
    return ev


def open_aedat31(
    path: str | Path, sensor_size: tuple[int, int] | None = None, keep_invalid: bool = False
) -> EventStream:
    path = Path(path)
    hdr = read_aedat_header(path, ("3.",))
    sensor = sensor_size or _sensor_from_header(hdr.lines)
    if sensor is None:
        raise EventFormatError(path, 0, "header names no known '#Source'; pass sensor_size=(W, H)")

    def chunks(n: int) -> Iterator[np.ndarray]:
        pending: list[np.ndarray] = []
        count = 0
        for pos, h, payload in _packets(path, hdr.data_offset):
            if int(h["type"]) != POLARITY_EVENT:
                continue
            ev = _decode_polarity(path, pos, h, payload, sensor, keep_invalid)
            pending.append(ev)
            count += len(ev)
            if count >= n:
                yield concat_events(pending)
                pending, count = [], 0
        if pending:
            yield concat_events(pending)

    return EventStream(path, "aedat31", size_wh(sensor), chunks, {"header": hdr.lines})


def read_aedat31(path: str | Path, sensor_size: tuple[int, int] | None = None) -> EventRecording:
    return open_aedat31(path, sensor_size).read()


def write_aedat31(
    path: str | Path, events: np.ndarray, sensor_size: tuple[int, int] = (128, 128), packet_events: int = 4096
) -> None:
    """Write polarity packets of at most ``packet_events`` events (DVS128 header unless another size)."""
    check_events(events, sensor_size, str(path))
    t = events["t"].astype(np.int64)
    if len(t) and t.min() < 0:
        raise ValueError(f"{path}: AEDAT 3.1 timestamps must be >= 0")
    source = next((k for k, v in SOURCE_SIZES.items() if v == tuple(sensor_size)), None)
    if source is None:
        raise ValueError(
            f"{path}: no AEDAT 3.1 source name for sensor size {sensor_size}; use {SOURCE_SIZES}"
        )
    data = (
        (events["x"].astype(np.uint32) << 17)
        | (events["y"].astype(np.uint32) << 2)
        | (events["p"].astype(np.uint32) << 1)
        | 1
    )
    over = t >> 31
    cuts = np.flatnonzero(np.diff(over)) + 1
    with open(path, "wb") as f:
        f.write(f"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: {source}\r\n#!END-HEADER\r\n".encode())
        for seg in np.split(np.arange(len(t)), cuts):
            for lo in range(0, len(seg), packet_events):
                idx = seg[lo : lo + packet_events]
                hdr = np.zeros(1, dtype=PACKET_HEADER)
                hdr["type"], hdr["source"], hdr["size"], hdr["tsoff"] = POLARITY_EVENT, 1, 8, 4
                hdr["tsover"] = over[idx[0]]
                hdr["capacity"] = hdr["number"] = hdr["valid"] = len(idx)
                rec = np.empty(len(idx), dtype=[("d", "<u4"), ("t", "<i4")])
                rec["d"], rec["t"] = data[idx], t[idx] & 0x7FFFFFFF
                f.write(hdr.tobytes() + rec.tobytes())


@dataclass
class LabelledEvents:
    events: np.ndarray
    label: int  # 0-based
    t_start: int
    t_end: int


def read_gesture_labels(path: str | Path) -> list[tuple[int, int, int]]:
    """``(class 1..11, start µs, end µs)`` rows of a DVS128 Gesture ``*_labels.csv``."""
    path = Path(path)
    rows: list[tuple[int, int, int]] = []
    with open(path, newline="") as f:
        for i, row in enumerate(csv.reader(f)):
            if i == 0 and row and not row[0].strip().lstrip("-").isdigit():
                continue  # header line
            if not row or not "".join(row).strip():
                continue
            try:
                c, s, e = (int(v) for v in row[:3])
            except ValueError:
                raise ValueError(
                    f"{path}: line {i + 1}: expected class,startTime_usec,endTime_usec, got {row}"
                ) from None
            if e <= s:
                raise ValueError(f"{path}: line {i + 1}: end {e} is not after start {s}")
            rows.append((c, s, e))
    return rows


def write_gesture_labels(path: str | Path, rows: list[tuple[int, int, int]]) -> None:
    with open(path, "w", newline="") as f:
        f.write("class,startTime_usec,endTime_usec\n")
        for c, s, e in rows:
            f.write(f"{c},{s},{e}\n")


def split_gesture_samples(
    aedat_path: str | Path, labels_csv: str | Path, chunk_events: int = 1 << 20
) -> list[LabelledEvents]:
    """Cut one recording into its labelled samples, streaming the file once."""
    rows = read_gesture_labels(labels_csv)
    parts: list[list[np.ndarray]] = [[] for _ in rows]
    for chunk in open_aedat31(aedat_path).chunks(chunk_events):
        t = chunk["t"]
        for k, (_, s, e) in enumerate(rows):
            m = (t >= s) & (t < e)
            if m.any():
                parts[k].append(chunk[m])
    return [LabelledEvents(concat_events(p), c - 1, s, e) for p, (c, s, e) in zip(parts, rows, strict=True)]
