"""iniVation AEDAT 4 (DV software, DVXplorer / DAVIS): read with the ``aedat`` package or, failing that,
``dv-processing`` (both optional, imported lazily); write with ``dv-processing``.

Only the first event stream is read (frames, IMU and triggers are skipped); ``p`` is the ``on`` flag.
Timestamps are the file's absolute µs clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from edgesnn.data.events.errors import EventFormatError, MissingDependencyError, require
from edgesnn.data.events.types import EVENT_DTYPE, EventRecording, EventStream, check_events, concat_events

MAGIC = b"#!AER-DAT4.0"


def _check_magic(path: Path) -> None:
    with open(path, "rb") as f:
        head = f.read(len(MAGIC))
    if head != MAGIC:
        raise EventFormatError(path, 0, f"no '#!AER-DAT4.0' magic (starts with {head!r})")


def _to_events(t: Any, x: Any, y: Any, p: Any) -> np.ndarray:
    ev = np.empty(len(t), dtype=EVENT_DTYPE)
    ev["t"], ev["x"], ev["y"], ev["p"] = t, x, y, p
    return ev


def _open_with_aedat(path: Path) -> tuple[tuple[int, int], Any]:
    aedat = require("aedat", "reading AEDAT 4 files", "events")
    try:
        streams = aedat.Decoder(str(path)).id_to_stream()
    except Exception as e:  # the Rust decoder raises plain exceptions with its own message
        raise EventFormatError(path, 0, f"AEDAT 4 header/stream table unreadable: {_short(e)}") from None
    ids = [k for k, v in streams.items() if v.get("type") == "events"]
    if not ids:
        raise EventFormatError(path, 0, "AEDAT 4 file has no event stream")
    sid = ids[0]
    sensor = (int(streams[sid]["width"]), int(streams[sid]["height"]))

    def packets() -> Iterator[np.ndarray]:
        try:
            for pk in aedat.Decoder(str(path)):
                if pk.get("stream_id") == sid and "events" in pk:
                    e = pk["events"]
                    yield _to_events(e["t"], e["x"], e["y"], e["on"])
        except Exception as e:
            raise EventFormatError(
                path, _size(path), f"AEDAT 4 packet data corrupt or truncated: {_short(e)}"
            ) from None

    return sensor, packets


def _open_with_dv(path: Path) -> tuple[tuple[int, int], Any]:
    dv = require("dv_processing", "reading AEDAT 4 files", "camera", "dv-processing")
    try:
        rec = dv.io.MonoCameraRecording(str(path))
    except Exception as e:
        raise EventFormatError(path, 0, f"AEDAT 4 file unreadable: {_short(e)}") from None
    if not rec.isEventStreamAvailable():
        raise EventFormatError(path, 0, "AEDAT 4 file has no event stream")
    sensor = tuple(int(v) for v in rec.getEventResolution())

    def packets() -> Iterator[np.ndarray]:
        r = dv.io.MonoCameraRecording(str(path))
        while True:
            try:
                batch = r.getNextEventBatch()
            except Exception as e:
                raise EventFormatError(
                    path, _size(path), f"AEDAT 4 packet data corrupt: {_short(e)}"
                ) from None
            if batch is None:
                return
            a = batch.numpy()
            yield _to_events(a["timestamp"], a["x"], a["y"], a["polarity"])

    return sensor, packets


def _short(e: Exception) -> str:
    """The first line of a backend's message (dv-processing appends a C++ stack trace)."""
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__


def _size(path: Path) -> int:
    return path.stat().st_size


def open_aedat4(path: str | Path, backend: str | None = None) -> EventStream:
    """``backend``: "aedat", "dv-processing" or None (the first that is installed)."""
    path = Path(path)
    _check_magic(path)
    if backend not in (None, "aedat", "dv-processing"):
        raise ValueError(f"backend {backend!r} is not 'aedat' or 'dv-processing'")
    if backend == "aedat":
        sensor, packets = _open_with_aedat(path)
    elif backend == "dv-processing":
        sensor, packets = _open_with_dv(path)
    else:
        try:
            sensor, packets = _open_with_aedat(path)
            backend = "aedat"
        except MissingDependencyError:
            try:
                sensor, packets = _open_with_dv(path)
                backend = "dv-processing"
            except MissingDependencyError:
                raise MissingDependencyError(
                    "reading AEDAT 4 needs 'aedat' or 'dv-processing': pip install 'edgesnn[events]'"
                ) from None

    def chunks(n: int) -> Iterator[np.ndarray]:
        pending: list[np.ndarray] = []
        count = 0
        for ev in packets():
            pending.append(ev)
            count += len(ev)
            if count >= n:
                yield concat_events(pending)
                pending, count = [], 0
        if pending:
            yield concat_events(pending)

    return EventStream(path, "aedat4", sensor, chunks, {"backend": backend})


def read_aedat4(path: str | Path, backend: str | None = None) -> EventRecording:
    return open_aedat4(path, backend).read()


def write_aedat4(
    path: str | Path, events: np.ndarray, sensor_size: tuple[int, int], camera: str = "edgesnn"
) -> None:
    """Write an event-only AEDAT 4 file through dv-processing (needs ``pip install dv-processing``)."""
    check_events(events, sensor_size, str(path))
    dv = require("dv_processing", "writing AEDAT 4 files", "camera", "dv-processing")
    store = dv.EventStore()
    for t, x, y, p in zip(
        events["t"].tolist(), events["x"].tolist(), events["y"].tolist(), events["p"].tolist(), strict=True
    ):
        store.push_back(t, x, y, bool(p))
    config = dv.io.MonoCameraWriter.EventOnlyConfig(camera, tuple(int(v) for v in sensor_size))
    writer = dv.io.MonoCameraWriter(str(path), config)
    if len(events):
        writer.writeEvents(store)
    del writer  # the file is finalised when the writer is destroyed
