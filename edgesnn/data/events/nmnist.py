"""N-MNIST / N-Caltech101 ``.bin`` (Orchard et al. 2015): 40-bit records, no header.

Record (5 bytes): byte 0 = x, byte 1 = y, byte 2 bit 7 = polarity (1 = ON), bits 22..0 of bytes 2-4
(big-endian) = timestamp in µs. A record with y == 240 is a timestamp-overflow marker (as in the dataset's
``Read_Ndataset.m``): it is dropped and adds 2**13 µs to every later timestamp.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from edgesnn.data.events.errors import EventFormatError
from edgesnn.data.events.records import iter_records
from edgesnn.data.events.types import EVENT_DTYPE, EventRecording, EventStream, check_events, size_wh

RECORD = np.dtype((np.uint8, 5))
NMNIST_SENSOR = (34, 34)
OVERFLOW_Y = 240
OVERFLOW_STEP = 1 << 13
MAX_T = 1 << 23


def _decode(path: Path, offset: int, raw: np.ndarray, base: int, sensor: tuple[int, int]) -> tuple:
    x, y = raw[:, 0], raw[:, 1]
    t = ((raw[:, 2].astype(np.int64) & 0x7F) << 16) | (raw[:, 3].astype(np.int64) << 8) | raw[:, 4]
    overflow = y == OVERFLOW_Y
    t += base
    if overflow.any():
        t += np.cumsum(overflow, dtype=np.int64) * OVERFLOW_STEP
        base += int(np.count_nonzero(overflow)) * OVERFLOW_STEP
    keep = ~overflow
    bad = keep & ((x >= sensor[0]) | (y >= sensor[1]))
    if bad.any():
        i = int(np.argmax(bad))
        raise EventFormatError(
            path,
            offset + 5 * i,
            f"event at x={int(x[i])}, y={int(y[i])} is outside the {sensor[0]}x{sensor[1]} sensor "
            "(not an N-MNIST .bin file, or pass the right sensor_size)",
        )
    ev = np.empty(int(np.count_nonzero(keep)), dtype=EVENT_DTYPE)
    ev["x"], ev["y"], ev["t"], ev["p"] = x[keep], y[keep], t[keep], raw[keep, 2] >> 7
    return ev, base


def open_nmnist(path: str | Path, sensor_size: tuple[int, int] = NMNIST_SENSOR) -> EventStream:
    """Open an N-MNIST-style ``.bin`` file (N-Caltech101 uses the same records: pass its sensor size)."""
    path = Path(path)

    def chunks(n: int) -> Iterator[np.ndarray]:
        base = 0
        for offset, raw in iter_records(path, 0, RECORD, n):
            ev, base = _decode(path, offset, raw, base, sensor_size)
            yield ev

    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such N-MNIST file")
    return EventStream(path, "nmnist", size_wh(sensor_size), chunks)


def read_nmnist(path: str | Path, sensor_size: tuple[int, int] = NMNIST_SENSOR) -> EventRecording:
    return open_nmnist(path, sensor_size).read()


def write_nmnist(path: str | Path, events: np.ndarray, sensor_size: tuple[int, int] = NMNIST_SENSOR) -> None:
    """Write events as 40-bit records; timestamps must lie in [0, 2**23) µs and x, y in [0, 240)."""
    check_events(events, sensor_size, str(path))
    t = events["t"].astype(np.int64)
    if len(t) and (t.min() < 0 or t.max() >= MAX_T):
        raise ValueError(f"{path}: N-MNIST timestamps must lie in [0, {MAX_T}) µs, got {t.min()}..{t.max()}")
    if sensor_size[0] > 256 or sensor_size[1] > OVERFLOW_Y:
        raise ValueError(
            f"{path}: N-MNIST records hold x < 256 and y < {OVERFLOW_Y}, sensor is {sensor_size}"
        )
    raw = np.empty((len(events), 5), dtype=np.uint8)
    raw[:, 0] = events["x"]
    raw[:, 1] = events["y"]
    raw[:, 2] = ((t >> 16) & 0x7F) | (events["p"].astype(np.int64) << 7)
    raw[:, 3] = (t >> 8) & 0xFF
    raw[:, 4] = t & 0xFF
    Path(path).write_bytes(raw.tobytes())
