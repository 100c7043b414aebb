"""Event denoising shared by training and streaming: a per-pixel refractory filter and a
background-activity filter (BAF), both stateful across chunks so a stream cut anywhere filters the same.

Semantics (both look at *all* input events, kept or dropped, in stream order):
- refractory: drop an event if the same pixel had an event less than ``refractory_us`` before it.
- BAF: keep an event only if one of its 8 neighbours (inside the sensor; not the pixel itself) had an event
  at most ``baf_us`` before it (t - t_neighbour <= baf_us). Isolated noise events have no such support.
Events with equal timestamps are ordered by their position in the stream. Timestamps must be
non-decreasing within a stream (true for every supported reader).
"""

from __future__ import annotations

import numpy as np

NEVER = np.iinfo(np.int64).min // 4
NEIGHBOURS = [(dx, dy) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dx, dy) != (0, 0)]


def _latest_before(pix: np.ndarray, is_event: np.ndarray, t: np.ndarray, state: np.ndarray) -> np.ndarray:
    """Entries are given in stream order (a query placed before the event it belongs to). For each entry:
    the time of the latest earlier event entry at the same pixel, else ``state[pixel]``."""
    key = pix.astype(np.uint16) if len(state) <= 1 << 16 else pix.astype(np.uint32)
    o = np.argsort(key, kind="stable")  # by pixel, stream order kept inside a pixel (radix sort for uint16)
    ev_sorted = is_event[o]
    last = np.maximum.accumulate(np.where(ev_sorted, np.arange(len(o)), -1))
    sp = pix[o]
    lastc = np.maximum(last, 0)
    valid = (last >= 0) & (sp[lastc] == sp)
    val = np.where(valid, t[o][lastc], state[sp])
    out = np.empty(len(o), dtype=np.int64)
    out[o] = val
    return out


class Denoiser:
    """Stateful filter: call it on consecutive chunks of one stream; ``reset()`` between streams."""

    def __init__(self, sensor_size: tuple[int, int], refractory_us: int = 0, baf_us: int = 0) -> None:
        if refractory_us < 0 or baf_us < 0:
            raise ValueError("refractory_us and baf_us must be >= 0")
        self.sensor_size = (int(sensor_size[0]), int(sensor_size[1]))
        self.refractory_us, self.baf_us = int(refractory_us), int(baf_us)
        self.reset()

    @property
    def active(self) -> bool:
        return self.refractory_us > 0 or self.baf_us > 0

    def reset(self) -> None:
        w, h = self.sensor_size
        self.last = np.full(w * h, NEVER, dtype=np.int64)

    def __call__(self, events: np.ndarray) -> np.ndarray:
        if not self.active or len(events) == 0:
            return events
        w, h = self.sensor_size
        n = len(events)
        x, y, t = events["x"].astype(np.int64), events["y"].astype(np.int64), events["t"].astype(np.int64)
        pix = y * w + x
        trash = w * h  # queries for neighbours outside the sensor go to a pixel that never fires
        offsets = ([(0, 0)] if self.refractory_us else []) + (NEIGHBOURS if self.baf_us else [])
        q = len(offsets)
        # per event: its queries, then the event itself, so stream order is the array order
        table = np.empty((n, q + 1), dtype=np.int64)
        for j, (dx, dy) in enumerate(offsets):
            inside = (x + dx >= 0) & (x + dx < w) & (y + dy >= 0) & (y + dy < h)
            table[:, j] = np.where(inside, pix + dy * w + dx, trash)
        table[:, q] = pix
        is_event = np.zeros((n, q + 1), dtype=bool)
        is_event[:, q] = True
        times = np.broadcast_to(t[:, None], (n, q + 1))
        state = np.append(self.last, NEVER)
        prev = _latest_before(table.ravel(), is_event.ravel(), times.ravel(), state).reshape(n, q + 1)
        keep = np.ones(n, dtype=bool)
        j0 = 0
        if self.refractory_us:
            keep &= (t - prev[:, 0]) >= self.refractory_us
            j0 = 1
        if self.baf_us:
            keep &= ((t[:, None] - prev[:, j0:q]) <= self.baf_us).any(axis=1)
        np.maximum.at(self.last, pix, t)
        return events[keep]
