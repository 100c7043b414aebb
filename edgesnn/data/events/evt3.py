"""Prophesee EVT 3.0 ``.raw``: ``%`` header, then little-endian 16-bit words; type = bits 15..12.

Stateful words (the decoder keeps this state across chunks):
- 0x0 ADDR_Y: y = bits 10..0.
- 0x6 TIME_LOW / 0x8 TIME_HIGH: bits 11..0 are timestamp bits 11..0 / 23..12; each sets only its own half,
  t = high << 12 | low. A decrease of the high part by more than 2**11 is a wrap of the 24-bit clock
  (every 16.8 s) and is unwrapped, so t keeps growing.
- 0x3 VECT_BASE_X: base x = bits 10..0, vector polarity = bit 11.
Event words:
- 0x2 ADDR_X: one event at x = bits 10..0, polarity bit 11, current y and t.
- 0x4 VECT_12 / 0x5 VECT_8: one event per set bit i of bits 11..0 / 7..0 at x = base + i (ascending i);
  then base += 12 / 8.
- 0xA EXT_TRIGGER, 0xE OTHERS, 0x7 CONTINUED_4, 0xF CONTINUED_12: skipped. Other types: corrupt data.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgesnn.data.events.errors import EventFormatError
from edgesnn.data.events.prophesee_header import read_prophesee_header
from edgesnn.data.events.records import iter_records
from edgesnn.data.events.types import EVENT_DTYPE, EventRecording, EventStream, check_events, size_wh

ADDR_Y, ADDR_X, VECT_BASE_X, VECT_12, VECT_8, TIME_LOW, CONT_4 = 0x0, 0x2, 0x3, 0x4, 0x5, 0x6, 0x7
TIME_HIGH, EXT_TRIGGER, OTHERS, CONT_12 = 0x8, 0xA, 0xE, 0xF
KNOWN_TYPES = {
    ADDR_Y,
    ADDR_X,
    VECT_BASE_X,
    VECT_12,
    VECT_8,
    TIME_LOW,
    CONT_4,
    TIME_HIGH,
    EXT_TRIGGER,
    OTHERS,
    CONT_12,
}
RESERVED_BITS = np.uint16(sum(1 << k for k in range(16) if k not in KNOWN_TYPES))
HALF = 1 << 12
BIT_INDEX = np.arange(12, dtype=np.uint16)


@dataclass
class _State:
    y: int = 0
    low: int = 0
    high: int = 0  # unwrapped
    base_x: int = 0
    vect_p: int = 0


def _carry_at(first: int, values: np.ndarray, sel: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Value in force at positions ``at``: ``first`` before the first selected word, else the latest one."""
    return np.concatenate(([first], values))[np.cumsum(sel, dtype=np.int32)[at]]


class _Evt3Decoder:
    def __init__(self, path: Path, sensor: tuple[int, int]) -> None:
        self.path, self.sensor, self.s = path, sensor, _State()

    def decode(self, offset: int, w: np.ndarray) -> np.ndarray:
        s = self.s
        kind = w >> 12
        if ((np.uint16(1) << kind) & RESERVED_BITS).any():
            i = int(np.argmax(((np.uint16(1) << kind) & RESERVED_BITS) != 0))
            raise EventFormatError(self.path, offset + 2 * i, f"unknown EVT 3.0 word type 0x{int(kind[i]):X}")
        is_high, is_low, is_y, is_x = kind == TIME_HIGH, kind == TIME_LOW, kind == ADDR_Y, kind == ADDR_X
        highs = (w[is_high] & 0xFFF).astype(np.int64)
        if len(highs):
            prev = np.concatenate(([s.high % HALF], highs[:-1]))
            wraps = np.cumsum((prev - highs) > (HALF >> 1), dtype=np.int64)
            highs += (s.high - s.high % HALF) + wraps * HALF
        lows = (w[is_low] & 0xFFF).astype(np.int64)
        ys = w[is_y] & 0x7FF
        is_vec = (kind == VECT_12) | (kind == VECT_8)
        has_vec = bool(is_vec.any())
        emits = (is_x | is_vec) if has_vec else is_x
        at = np.flatnonzero(emits)
        t_e = (_carry_at(s.high, highs, is_high, at) << 12) | _carry_at(s.low, lows, is_low, at)
        y_e = _carry_at(s.y, ys, is_y, at)
        if has_vec:
            x, p, rows = self._expand(kind, w, at, is_vec)
            t_e, y_e, word_of = t_e[rows], y_e[rows], at[rows]
        else:
            wx = w[is_x]
            x, p, word_of = wx & 0x7FF, (wx >> 11) & 1, at
            bases = w[kind == VECT_BASE_X]
            if len(bases):
                s.base_x, s.vect_p = int(bases[-1] & 0x7FF), int((bases[-1] >> 11) & 1)
        if len(highs):
            s.high = int(highs[-1])
        if len(lows):
            s.low = int(lows[-1])
        if len(ys):
            s.y = int(ys[-1])
        bad = (x >= self.sensor[0]) | (y_e >= self.sensor[1])
        if bad.any():
            j = int(np.argmax(bad))
            raise EventFormatError(
                self.path,
                offset + 2 * int(word_of[j]),
                f"event x={int(x[j])} y={int(y_e[j])} outside the {self.sensor[0]}x{self.sensor[1]} sensor",
            )
        ev = np.empty(len(x), dtype=EVENT_DTYPE)
        ev["x"], ev["y"], ev["t"], ev["p"] = x, y_e, t_e, p
        return ev

    def _expand(
        self, kind: np.ndarray, w: np.ndarray, at: np.ndarray, is_vec: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(x, p, row in ``at`` of each event) for a block with vector words, in stream order."""
        s = self.s
        vidx, bidx = np.flatnonzero(is_vec), np.flatnonzero(kind == VECT_BASE_X)
        vw, bw = w[vidx].astype(np.int64), w[bidx].astype(np.int64)
        width = np.where((vw >> 12) == VECT_8, 8, 12)
        total = np.concatenate(([0], np.cumsum(width)))  # width consumed before vector word i: total[i]
        kb = np.searchsorted(bidx, vidx)  # base words before each vector word
        base_vals = np.concatenate(([s.base_x], bw & 0x7FF))
        base_done = np.concatenate(([0], total[np.searchsorted(vidx, bidx)]))
        pols = np.concatenate(([s.vect_p], (bw >> 11) & 1))
        base_at = base_vals[kb] + total[:-1] - base_done[kb]
        s.base_x = int(base_vals[-1] + total[-1] - base_done[-1])
        s.vect_p = int(pols[-1])
        masks = vw & np.where(width == 8, 0xFF, 0xFFF)
        bits = ((masks[:, None] >> BIT_INDEX.astype(np.int64)) & 1).astype(bool)
        vrow = np.searchsorted(at, vidx)
        rep = np.ones(len(at), dtype=np.int64)
        rep[vrow] = bits.sum(1)
        rows = np.repeat(np.arange(len(at)), rep)
        isv = np.zeros(len(at), dtype=bool)
        isv[vrow] = True
        ev_isv = isv[rows]
        ew = w[at]
        x = (ew & 0x7FF)[rows].astype(np.int64)
        p = ((ew >> 11) & 1)[rows]
        r, c = np.nonzero(bits)  # row-major: vector word order, then ascending bit
        x[ev_isv] = base_at[r] + c
        p[ev_isv] = pols[kb][r]
        return x, p, rows


def open_evt3(path: str | Path, default_sensor: tuple[int, int] | None = None) -> EventStream:
    path = Path(path)
    hdr = read_prophesee_header(path)
    version = hdr.evt_version()
    if version is not None and not version.startswith("3"):
        raise EventFormatError(path, 0, f"header says EVT {version}, not EVT 3.0")
    sensor = hdr.sensor_size() or default_sensor
    if sensor is None:
        raise EventFormatError(path, 0, "header gives no sensor size; pass default_sensor=(W, H)")

    def chunks(n: int) -> Iterator[np.ndarray]:
        dec = _Evt3Decoder(path, sensor)
        for offset, words in iter_records(path, hdr.data_offset, np.dtype("<u2"), n):
            yield dec.decode(offset, words)

    return EventStream(path, "evt3", size_wh(sensor), chunks, {"header": hdr.lines})


def read_evt3(path: str | Path, default_sensor: tuple[int, int] | None = None) -> EventRecording:
    return open_evt3(path, default_sensor).read()


def _runs(events: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index runs of consecutive events sharing t, y and p."""
    n = len(events)
    if n == 0:
        return []
    key_change = np.ones(n, dtype=bool)
    key_change[1:] = (
        (np.diff(events["t"]) != 0)
        | (np.diff(events["y"].astype(np.int64)) != 0)
        | (events["p"][1:] != events["p"][:-1])
    )
    starts = np.flatnonzero(key_change)
    ends = np.append(starts[1:], n)
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def _vector_words(xs: list[int], p: int) -> list[int] | None:
    """VECT_BASE_X + VECT_12/VECT_8 words for strictly ascending ``xs``; None if they cannot be vectorised."""
    if len(xs) < 2 or any(b <= a for a, b in itertools.pairwise(xs)):
        return None
    words = [(VECT_BASE_X << 12) | (p << 11) | xs[0]]
    base, i = xs[0], 0
    while i < len(xs):
        width = 8 if xs[-1] - base < 8 else 12
        mask = 0
        while i < len(xs) and xs[i] < base + width:
            mask |= 1 << (xs[i] - base)
            i += 1
        words.append(((VECT_8 if width == 8 else VECT_12) << 12) | mask)
        base += width
    return words


def write_evt3(
    path: str | Path, events: np.ndarray, sensor_size: tuple[int, int], vectors: bool = True
) -> None:
    """Write EVT 3.0 words: TIME_HIGH/TIME_LOW/ADDR_Y only when they change, then ADDR_X per event, or
    (``vectors``) VECT_BASE_X + VECT_12/VECT_8 for runs of same t, y, p with ascending x, as a camera does.
    Times must be non-negative and non-decreasing; the 24-bit clock wraps and the reader unwraps it."""
    check_events(events, sensor_size, str(path))
    t = events["t"].astype(np.int64)
    if len(t) and (t.min() < 0 or np.any(np.diff(t) < 0)):
        raise ValueError(f"{path}: EVT 3.0 needs non-negative, non-decreasing timestamps")
    if max(sensor_size) > 2048:
        raise ValueError(f"{path}: EVT 3.0 addresses are 11 bits; sensor {sensor_size} is too large")
    xs, ys, ps = events["x"].tolist(), events["y"].tolist(), events["p"].tolist()
    words: list[int] = []
    cur_high: int | None = None  # unwrapped t >> 12
    cur_low = cur_y = None
    for s, e in _runs(events):
        ts = int(t[s])
        high, low = ts >> 12, ts & 0xFFF
        if high != cur_high:
            # a reader unwraps a decrease of > 2**11 in the 12-bit high part: long gaps get stepping stones
            step = cur_high if cur_high is not None else high
            while high - step > (HALF >> 1) - 1:
                step += (HALF >> 1) - 1
                words.append((TIME_HIGH << 12) | (step & 0xFFF))
            words.append((TIME_HIGH << 12) | (high & 0xFFF))
            cur_high, cur_low = high, None
        if low != cur_low:
            words.append((TIME_LOW << 12) | low)
            cur_low = low
        if ys[s] != cur_y:
            words.append((ADDR_Y << 12) | ys[s])
            cur_y = ys[s]
        vec = _vector_words(xs[s:e], ps[s]) if vectors else None
        if vec is None:
            words.extend((ADDR_X << 12) | (ps[i] << 11) | xs[i] for i in range(s, e))
        else:
            words.extend(vec)
    w, h = sensor_size
    header = f"% evt 3.0\n% format EVT3;height={h};width={w}\n% geometry {w}x{h}\n% end\n".encode()
    with open(path, "wb") as f:
        f.write(header)
        f.write(np.asarray(words, dtype=np.uint16).tobytes())
