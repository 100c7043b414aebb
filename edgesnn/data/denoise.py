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


def _latest_before(q_pix: np.ndarray, q_idx: np.ndarray, e_pix: np.ndarray, e_t: np.ndarray,
                   state: np.ndarray) -> np.ndarray:  # fmt: skip
    """For each query (pixel, stream index): the latest time of an input event at that pixel with a smaller
    stream index, else ``state[pixel]`` (the last time seen in earlier chunks, or NEVER)."""
    n_e = len(e_pix)
    pix = np.concatenate((e_pix, q_pix))
    key = np.concatenate((2 * np.arange(n_e, dtype=np.int64) + 1, 2 * q_idx))  # query i sorts before event i
    o = np.lexsort((key, pix))
    is_ev = o < n_e
    last = np.maximum.accumulate(np.where(is_ev, np.arange(len(o)), -1))
    sp = pix[o]
    lastc = np.maximum(last, 0)
    valid = (last >= 0) & (sp[lastc] == sp)
    t_all = np.concatenate((e_t, np.zeros(len(q_pix), dtype=np.int64)))
    val = np.where(valid, t_all[o][lastc], state[sp])
    out = np.empty(len(q_pix), dtype=np.int64)
    out[o[~is_ev] - n_e] = val[~is_ev]
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
        x, y, t = events["x"].astype(np.int64), events["y"].astype(np.int64), events["t"].astype(np.int64)
        pix = y * w + x
        keep = np.ones(len(events), dtype=bool)
        idx = np.arange(len(events), dtype=np.int64)
        if self.refractory_us:
            prev = _latest_before(pix, idx, pix, t, self.last)
            keep &= (t - prev) >= self.refractory_us
        if self.baf_us:
            qp, qi = [], []
            for dx, dy in NEIGHBOURS:
                inside = (x + dx >= 0) & (x + dx < w) & (y + dy >= 0) & (y + dy < h)
                qp.append(pix[inside] + dy * w + dx)
                qi.append(idx[inside])
            q_idx = np.concatenate(qi)
            prev = _latest_before(np.concatenate(qp), q_idx, pix, t, self.last)
            supported = np.zeros(len(events), dtype=bool)
            supported[q_idx[(t[q_idx] - prev) <= self.baf_us]] = True
            keep &= supported
        np.maximum.at(self.last, pix, t)
        return events[keep]
