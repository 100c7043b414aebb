"""Plain numpy event arrays: ``.npy`` (a structured array) or ``.npz`` (``events`` or separate ``x``, ``y``,
``t``, ``p`` arrays, plus an optional ``sensor_size``). Field aliases ``ts``/``timestamp`` (t) and
``polarity``/``on`` (p) are accepted; ``.npy`` files are memory-mapped, so chunks stay bounded.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from edgesnn.data.events.errors import EventFormatError
from edgesnn.data.events.types import EVENT_DTYPE, EventRecording, EventStream, check_events

ALIASES = {"t": ("t", "ts", "timestamp"), "p": ("p", "polarity", "on"), "x": ("x",), "y": ("y",)}


def _field(names: tuple[str, ...], key: str, path: Path) -> str:
    for alias in ALIASES[key]:
        if alias in names:
            return alias
    raise EventFormatError(path, 0, f"no {key!r} field (or alias {ALIASES[key]}); fields are {list(names)}")


def _convert(a: np.ndarray, names: dict[str, str]) -> np.ndarray:
    ev = np.empty(len(a), dtype=EVENT_DTYPE)
    for key, src in names.items():
        ev[key] = a[src]
    return ev


def _load(path: Path) -> tuple[object, tuple[int, int] | None]:
    try:
        if path.suffix == ".npz":
            z = np.load(path, allow_pickle=False)
            sensor = tuple(int(v) for v in z["sensor_size"][:2]) if "sensor_size" in z.files else None
            if "events" in z.files:
                return z["events"], sensor
            return {k: z[k] for k in z.files}, sensor
        return np.load(path, mmap_mode="r", allow_pickle=False), None
    except (ValueError, OSError, EOFError) as e:
        raise EventFormatError(path, 0, f"not a readable numpy file: {e}") from None


def open_npy(path: str | Path, sensor_size: tuple[int, int] | None = None) -> EventStream:
    """Without a stored or given ``sensor_size`` the size is ``(max x + 1, max y + 1)``."""
    path = Path(path)
    data, stored = _load(path)
    if isinstance(data, dict):
        keys = tuple(data)
        names = {k: _field(keys, k, path) for k in ("x", "y", "t", "p")}
        n = len(data[names["t"]])

        def get(lo: int, hi: int) -> np.ndarray:
            return _convert({k: v[lo:hi] for k, v in data.items()}, names)  # type: ignore[arg-type]
    else:
        arr = np.asarray(data) if not isinstance(data, np.memmap) else data
        if arr.dtype.names is None or arr.ndim != 1:
            raise EventFormatError(
                path, 0, f"expected a 1-D structured event array, got {arr.dtype} {arr.shape}"
            )
        names = {k: _field(arr.dtype.names, k, path) for k in ("x", "y", "t", "p")}
        n = len(arr)

        def get(lo: int, hi: int) -> np.ndarray:
            return _convert(arr[lo:hi], names)

    sensor = sensor_size or stored
    if sensor is None:
        xs, ys = get(0, n)["x"], get(0, n)["y"]
        sensor = (int(xs.max()) + 1, int(ys.max()) + 1) if n else (1, 1)

    def chunks(k: int) -> Iterator[np.ndarray]:
        for lo in range(0, n, k):
            ev = get(lo, min(n, lo + k))
            check_events(ev, sensor, f"{path} (events {lo}..)")
            yield ev

    return EventStream(path, "npy", tuple(sensor), chunks)


def read_npy(path: str | Path, sensor_size: tuple[int, int] | None = None) -> EventRecording:
    return open_npy(path, sensor_size).read()


def write_npy(path: str | Path, events: np.ndarray, sensor_size: tuple[int, int]) -> None:
    """``.npz`` (events + sensor_size) or ``.npy`` (events only) by the path's suffix."""
    check_events(events, sensor_size, str(path))
    ev = events.astype(EVENT_DTYPE, copy=False)
    path = Path(path)
    if path.suffix == ".npz":
        with open(path, "wb") as f:
            np.savez(f, events=ev, sensor_size=np.asarray(sensor_size, dtype=np.int64))
    else:
        with open(path, "wb") as f:
            np.save(f, ev)
