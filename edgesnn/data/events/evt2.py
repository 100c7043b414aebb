"""Prophesee EVT 2.0 ``.raw``: ``%`` header, then little-endian 32-bit words; type = bits 31..28.

- 0x0 CD_OFF / 0x1 CD_ON: bits 27..22 = timestamp low 6 bits, 21..11 = x, 10..0 = y.
- 0x8 EVT_TIME_HIGH: bits 27..0 = timestamp bits 33..6 (t = high << 6 | low). A decrease of the high part
  by more than half its range is a wrap of the 34-bit clock and is unwrapped.
- 0xA EXT_TRIGGER, 0xE OTHERS, 0xF CONTINUED: skipped. Any other type is corrupt data (error at its byte).

CD events before the first TIME_HIGH use high = 0.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from edgesnn.data.events.errors import EventFormatError
from edgesnn.data.events.prophesee_header import read_prophesee_header
from edgesnn.data.events.records import iter_records
from edgesnn.data.events.types import EVENT_DTYPE, EventRecording, EventStream, check_events, size_wh

CD_OFF, CD_ON, TIME_HIGH, EXT_TRIGGER, OTHERS, CONTINUED = 0x0, 0x1, 0x8, 0xA, 0xE, 0xF
KNOWN = np.zeros(16, dtype=bool)
KNOWN[[CD_OFF, CD_ON, TIME_HIGH, EXT_TRIGGER, OTHERS, CONTINUED]] = True
HIGH_BITS = 28
HIGH_RANGE = 1 << HIGH_BITS


class _Evt2Decoder:
    """Decodes word blocks, carrying the time-high state across blocks."""

    def __init__(self, path: Path, sensor: tuple[int, int]) -> None:
        self.path, self.sensor = path, sensor
        self.high = 0  # unwrapped time high (may exceed 28 bits)

    def decode(self, offset: int, words: np.ndarray) -> np.ndarray:
        kind = words >> 28
        bad = ~KNOWN[kind]
        if bad.any():
            i = int(np.argmax(bad))
            raise EventFormatError(self.path, offset + 4 * i, f"unknown EVT 2.0 word type 0x{int(kind[i]):X}")
        is_high = kind == TIME_HIGH
        highs = (words[is_high] & (HIGH_RANGE - 1)).astype(np.int64)
        if len(highs):
            # unwrap relative to the carried state
            prev = np.concatenate(([self.high % HIGH_RANGE], highs[:-1]))
            wraps = np.cumsum((prev - highs) > (HIGH_RANGE >> 1), dtype=np.int64)
            base = self.high - self.high % HIGH_RANGE
            highs = base + wraps * HIGH_RANGE + highs
        cd = kind <= CD_ON
        # time high in force at each CD word: index 0 is the carried state, k the k-th TIME_HIGH of the block
        hi = np.concatenate(([self.high], highs))[np.cumsum(is_high)[cd]]
        if len(highs):
            self.high = int(highs[-1])
        w = words[cd]
        t = (hi << 6) | ((w >> 22) & 0x3F).astype(np.int64)
        x, y = (w >> 11) & 0x7FF, w & 0x7FF
        bad = (x >= self.sensor[0]) | (y >= self.sensor[1])
        if bad.any():
            j = int(np.argmax(bad))
            i = int(np.flatnonzero(cd)[j])
            raise EventFormatError(
                self.path,
                offset + 4 * i,
                f"CD event x={int(x[j])} y={int(y[j])} outside the {self.sensor[0]}x{self.sensor[1]} sensor",
            )
        ev = np.empty(len(w), dtype=EVENT_DTYPE)
        ev["x"], ev["y"], ev["t"], ev["p"] = x, y, t, kind[cd]
        return ev


def open_evt2(path: str | Path, default_sensor: tuple[int, int] | None = None) -> EventStream:
    path = Path(path)
    hdr = read_prophesee_header(path)
    version = hdr.evt_version()
    if version is not None and not version.startswith("2"):
        raise EventFormatError(path, 0, f"header says EVT {version}, not EVT 2.0")
    sensor = hdr.sensor_size() or default_sensor or _sensor_from_plugin(hdr.keys)
    if sensor is None:
        raise EventFormatError(path, 0, "header gives no sensor size; pass default_sensor=(W, H)")

    def chunks(n: int) -> Iterator[np.ndarray]:
        dec = _Evt2Decoder(path, sensor)
        for offset, words in iter_records(path, hdr.data_offset, np.dtype("<u4"), n):
            yield dec.decode(offset, words)

    return EventStream(path, "evt2", size_wh(sensor), chunks, {"header": hdr.lines})


def _sensor_from_plugin(keys: dict[str, str]) -> tuple[int, int] | None:
    """Older EVT 2.0 files name only the camera plugin; Gen3 / Gen3.1 sensors are 640x480 (VGA)."""
    plugin = keys.get("plugin_name", "")
    return (640, 480) if "gen3" in plugin.lower() else None


def read_evt2(path: str | Path, default_sensor: tuple[int, int] | None = None) -> EventRecording:
    return open_evt2(path, default_sensor).read()


def write_evt2(path: str | Path, events: np.ndarray, sensor_size: tuple[int, int]) -> None:
    """Write CD events with a TIME_HIGH word whenever ``t >> 6`` changes; times must be non-decreasing."""
    check_events(events, sensor_size, str(path))
    t = events["t"].astype(np.int64)
    if len(t) and (t.min() < 0 or np.any(np.diff(t) < 0)):
        raise ValueError(f"{path}: EVT 2.0 needs non-negative, non-decreasing timestamps")
    high = t >> 6
    new_high = np.ones(len(t), dtype=bool)
    new_high[1:] = high[1:] != high[:-1]
    n_words = len(t) + int(np.count_nonzero(new_high))
    words = np.empty(n_words, dtype=np.uint32)
    pos = np.arange(len(t)) + np.cumsum(new_high)  # each event follows its (optional) TIME_HIGH word
    words[pos[new_high] - 1] = (TIME_HIGH << 28) | (high[new_high] & (HIGH_RANGE - 1)).astype(np.uint32)
    words[pos] = (
        (events["p"].astype(np.uint32) << 28)
        | ((t & 0x3F).astype(np.uint32) << 22)
        | (events["x"].astype(np.uint32) << 11)
        | events["y"].astype(np.uint32)
    )
    header = f"% evt 2.0\n% format EVT2;height={sensor_size[1]};width={sensor_size[0]}\n% end\n".encode()
    with open(path, "wb") as f:
        f.write(header)
        f.write(words.tobytes())
