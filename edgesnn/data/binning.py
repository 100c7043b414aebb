"""THE binning of events into frames ``[T, C, H, W]``: one function, used by training datasets and by
streaming (a live window is binned by the same code with ``T = 1``), so a device sees what the model saw.

``bin_events(events, sensor_size, params, t_start=None)``; ``params`` is a ``BinningParams``:

- ``split_by="number"`` (SpikingJelly ``split_by='number'``, what the paper used): with N events,
  ``di = N // T``; frame i < T-1 holds events ``[i*di, (i+1)*di)`` (stream order), the **last frame also
  takes the remainder**: ``[(T-1)*di, N)``, i.e. ``di + N % T`` events. N < T: frames 0..T-2 are empty.
- ``split_by="time"`` with ``window_us=w`` (causal, streaming): frame i holds ``t0 + i*w <= t < t0 + (i+1)*w``
  with ``t0 = t_start`` (or the first input event's time); events outside ``[t0, t0 + T*w)`` are dropped.
- ``split_by="time"`` with ``window_us=None`` (SpikingJelly ``split_by='time'``): ``dt = (t_last - t0) // T``;
  frame i < T-1 holds ``[t0 + i*dt, t0 + (i+1)*dt)``; the last frame holds everything from ``t0 + (T-1)*dt``.
- channels: ``polarity="split"`` gives C = 2 with channel = p (0 = OFF, 1 = ON, as SpikingJelly and tonic);
  ``"merge"`` gives C = 1 (both polarities summed).
- ``size=(H, W)``: area pooling; sensor pixel (x, y) goes to cell ``(y * H // H_s, x * W // W_s)`` and counts
  are summed, so counts are conserved (an integer ratio, e.g. 128 -> 32, is plain k x k sum pooling;
  128 -> 48 gives cells of 2 or 3 pixels per side).
- ``mode="count"``: event counts; ``"binary"``: 1 where the count (after pooling) is > 0.
- ``refractory_us`` / ``baf_us``: denoising (``edgesnn.data.denoise``) applied before splitting, so with
  ``split_by="number"`` the frames split the *denoised* events.
Output dtype float32.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

import numpy as np

from edgesnn.data.denoise import Denoiser

SPLITS = ("number", "time")
POLARITIES = ("split", "merge")
MODES = ("count", "binary")


@dataclass(frozen=True)
class BinningParams:
    T: int
    split_by: str = "number"
    window_us: int | None = None
    size: tuple[int, int] | None = None  # (H, W) after area pooling; None: the sensor size
    polarity: str = "split"
    mode: str = "count"
    refractory_us: int = 0
    baf_us: int = 0

    def __post_init__(self) -> None:
        if self.size is not None:
            object.__setattr__(self, "size", (int(self.size[0]), int(self.size[1])))
        if self.T < 1:
            raise ValueError(f"BinningParams.T must be >= 1, got {self.T}")
        if self.split_by not in SPLITS:
            raise ValueError(f"BinningParams.split_by {self.split_by!r} not in {SPLITS}")
        if self.window_us is not None and (self.split_by != "time" or self.window_us < 1):
            raise ValueError("BinningParams.window_us needs split_by='time' and must be >= 1 µs")
        if self.polarity not in POLARITIES:
            raise ValueError(f"BinningParams.polarity {self.polarity!r} not in {POLARITIES}")
        if self.mode not in MODES:
            raise ValueError(f"BinningParams.mode {self.mode!r} not in {MODES}")
        if self.size is not None and min(self.size) < 1:
            raise ValueError(f"BinningParams.size must be >= 1, got {self.size}")

    @property
    def channels(self) -> int:
        return 2 if self.polarity == "split" else 1

    def out_hw(self, sensor_size: tuple[int, int]) -> tuple[int, int]:
        return self.size if self.size is not None else (int(sensor_size[1]), int(sensor_size[0]))

    def digest(self) -> str:
        """Stable hash of every parameter (cache keys: a changed parameter gives a new digest)."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


def frame_index(events: np.ndarray, params: BinningParams, t_start: int | None = None) -> np.ndarray:
    """Frame of each event (0..T-1), or -1 where the event falls in no frame."""
    n, T = len(events), params.T
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if params.split_by == "number":
        di = n // T
        return np.minimum(np.arange(n) // di, T - 1) if di else np.full(n, T - 1, dtype=np.int64)
    t = events["t"].astype(np.int64)
    t0 = int(t[0]) if t_start is None else int(t_start)
    if params.window_us is not None:
        f = (t - t0) // params.window_us
        return np.where((t >= t0) & (f < T), f, -1)
    dt = (int(t[-1]) - t0) // T
    if dt <= 0:
        return np.where(t >= t0, T - 1, -1)
    return np.where(t >= t0, np.minimum((t - t0) // dt, T - 1), -1)


def bin_events(
    events: np.ndarray,
    sensor_size: tuple[int, int],
    params: BinningParams,
    t_start: int | None = None,
    denoiser: Denoiser | None = None,
) -> np.ndarray:
    """Events -> float32 frames ``[T, C, H, W]`` (see the module docstring for the exact rules).

    Pass a ``denoiser`` to carry denoise state across consecutive windows of one stream; without one a
    fresh filter is used (the right thing for a whole training sample)."""
    w_s, h_s = int(sensor_size[0]), int(sensor_size[1])
    if t_start is None and len(events) and params.split_by == "time":
        t_start = int(events["t"][0])  # the first *input* event, before denoising drops any
    if params.refractory_us or params.baf_us:
        if denoiser is None:
            denoiser = Denoiser((w_s, h_s), params.refractory_us, params.baf_us)
        events = denoiser(events)
    H, W = params.out_hw((w_s, h_s))
    C, T = params.channels, params.T
    f = frame_index(events, params, t_start)
    ok = f >= 0
    x = events["x"].astype(np.int64)
    y = events["y"].astype(np.int64)
    if (w_s, h_s) != (W, H):
        x, y = x * W // w_s, y * H // h_s
    c = events["p"].astype(np.int64) if C == 2 else 0
    lin = ((f * C + c) * H + y) * W + x
    if not ok.all():
        lin = lin[ok]
    frames: np.ndarray = np.bincount(lin, minlength=T * C * H * W).reshape(T, C, H, W)
    if params.mode == "binary":
        frames = frames > 0
    return frames.astype(np.float32)
