"""The in-memory event representation shared by every reader, writer, the binning and the sources.

Events are a structured numpy array with fields ``x``, ``y`` (pixel column and row, uint16), ``t`` (int64
microseconds, on the recording's own clock: not shifted to start at 0) and ``p`` (polarity, uint8: 1 = ON /
brightness increase, 0 = OFF). Order is the file's order, which for every supported format is time order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

EVENT_DTYPE = np.dtype([("x", "<u2"), ("y", "<u2"), ("t", "<i8"), ("p", "u1")])

DEFAULT_CHUNK_EVENTS = 1 << 20
READ_ALL_CHUNK = 1 << 24  # read(): few, large chunks (fewer copies); chunks() stays memory-bounded


def make_events(x: Any, y: Any, t: Any, p: Any) -> np.ndarray:
    """A structured event array from four equal-length sequences (copied and cast to the field types)."""
    x, y, t, p = (np.asarray(v) for v in (x, y, t, p))
    n = len(t)
    if not (len(x) == len(y) == len(p) == n):
        raise ValueError(f"x, y, t, p lengths differ: {len(x)}, {len(y)}, {n}, {len(p)}")
    ev = np.empty(n, dtype=EVENT_DTYPE)
    ev["x"], ev["y"], ev["t"], ev["p"] = x, y, t, p
    return ev


def empty_events() -> np.ndarray:
    return np.empty(0, dtype=EVENT_DTYPE)


def concat_events(chunks: list[np.ndarray]) -> np.ndarray:
    if len(chunks) == 1:
        return chunks[0]
    return np.concatenate(chunks) if chunks else empty_events()


def size_wh(size: Iterable[int]) -> tuple[int, int]:
    """``tuple(size)`` for a (W, H) size, typed as the pair it is (sizes may arrive as lists: JSON, the
    command line, a camera's resolution)."""
    return cast(tuple[int, int], tuple(size))


def check_events(
    events: np.ndarray, sensor_size: tuple[int, int] | None = None, what: str = "events"
) -> None:
    """Raise ``ValueError`` unless ``events`` has the event fields and lies inside ``sensor_size`` (W, H)."""
    names = events.dtype.names or ()
    missing = [f for f in ("x", "y", "t", "p") if f not in names]
    if missing:
        raise ValueError(f"{what}: not an event array (missing fields {missing}; has {list(names)})")
    if len(events) == 0 or sensor_size is None:
        return
    w, h = sensor_size
    if int(events["x"].max()) >= w or int(events["y"].max()) >= h:
        raise ValueError(
            f"{what}: events reach x={int(events['x'].max())}, y={int(events['y'].max())}, "
            f"outside the sensor size {w}x{h}"
        )
    if int(events["p"].max()) > 1:
        raise ValueError(f"{what}: polarity must be 0 or 1, found {int(events['p'].max())}")


@dataclass
class EventRecording:
    """A whole recording in memory: events plus the sensor size ``(W, H)`` they were recorded on."""

    events: np.ndarray
    sensor_size: tuple[int, int]
    format: str = "npy"
    path: Path | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.events)

    @property
    def duration_us(self) -> int:
        return int(self.events["t"][-1] - self.events["t"][0]) if len(self.events) else 0

    def polarity_counts(self) -> tuple[int, int]:
        """(OFF, ON) event counts."""
        on = int(np.count_nonzero(self.events["p"]))
        return len(self.events) - on, on


@dataclass
class EventStream:
    """An opened event file: header already parsed, events read lazily in bounded chunks.

    ``chunks(n)`` yields arrays of at most ``n`` events (a format whose natural unit is a packet may yield
    somewhat fewer); iterating it again re-reads the file from the start.
    """

    path: Path
    format: str
    sensor_size: tuple[int, int]
    _iter: Callable[[int], Iterator[np.ndarray]]
    metadata: dict[str, Any] = field(default_factory=dict)

    def chunks(self, chunk_events: int = DEFAULT_CHUNK_EVENTS) -> Iterator[np.ndarray]:
        if chunk_events < 1:
            raise ValueError(f"chunk_events must be >= 1, got {chunk_events}")
        return self._iter(chunk_events)

    def read(self) -> EventRecording:
        events = concat_events(list(self.chunks(READ_ALL_CHUNK)))
        return EventRecording(events, self.sensor_size, self.format, self.path, dict(self.metadata))
