"""Event sources for streaming: each yields consecutive fixed time windows of events.

Windows are ``[t0 + k*w, t0 + (k+1)*w)`` for k = 0, 1, ... with ``t0`` the first event's time; empty
windows (no activity) are yielded too, so window k always means the same wall-clock slot.

- ``FileSource``: replays a recording (any format ``read_events`` knows), as fast as possible
  (``speed=None``), at recorded speed (``speed=1``) or accelerated (``speed=k``): window k is released
  once ``(k+1)*w / speed`` µs of wall time have passed since the replay began.
- ``CameraSource``: a live iniVation camera through ``dv-processing`` (optional: ``pip install
  'edgesnn[camera]'``); a clear error when the package or a camera is missing.

``stream_frames(source, params)`` bins each window with ``edgesnn.data.binning.bin_events`` (the training
binning, ``T = 1``, carrying the denoise state across windows).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from edgesnn.data.binning import BinningParams, bin_events
from edgesnn.data.denoise import Denoiser
from edgesnn.data.events.dispatch import open_events
from edgesnn.data.events.errors import require
from edgesnn.data.events.types import EVENT_DTYPE, concat_events, size_wh


class CameraNotFoundError(RuntimeError):
    """dv-processing is installed but no iniVation camera answered."""


@dataclass
class EventWindow:
    t_start: int
    t_end: int
    events: np.ndarray


def split_windows(chunks: Iterable[np.ndarray], window_us: int) -> Iterator[EventWindow]:
    """Cut time-ordered event chunks into consecutive windows of ``window_us`` (chunk borders anywhere)."""
    if window_us < 1:
        raise ValueError(f"window_us must be >= 1, got {window_us}")
    t0: int | None = None
    k = 0
    pending: list[np.ndarray] = []
    for chunk in chunks:
        if len(chunk) == 0:
            continue
        if t0 is None:
            t0 = int(chunk["t"][0])
        # close every window that ends at or before this chunk's last event
        last_k = (int(chunk["t"][-1]) - t0) // window_us
        if last_k > k:
            bounds = t0 + window_us * np.arange(k + 1, last_k + 1)
            cuts = np.searchsorted(chunk["t"], bounds, side="left")
            prev = 0
            for cut in cuts:
                pending.append(chunk[prev:cut])
                yield EventWindow(t0 + k * window_us, t0 + (k + 1) * window_us, concat_events(pending))
                pending, prev, k = [], int(cut), k + 1
            chunk = chunk[prev:]
        pending.append(chunk)
    if t0 is not None:
        yield EventWindow(t0 + k * window_us, t0 + (k + 1) * window_us, concat_events(pending))


class EventSource(ABC):
    """A stream of events from a sensor of ``sensor_size`` (W, H), read as time windows."""

    sensor_size: tuple[int, int]

    @abstractmethod
    def windows(self, window_us: int) -> Iterator[EventWindow]: ...

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the device or file (default: nothing to release)."""

    def __enter__(self) -> EventSource:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()


class FileSource(EventSource):
    def __init__(
        self,
        path: str | Path,
        speed: float | None = None,
        chunk_events: int = 1 << 16,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        **open_options: Any,
    ) -> None:
        if speed is not None and speed <= 0:
            raise ValueError(f"speed must be > 0 (or None for as fast as possible), got {speed}")
        self.stream = open_events(path, **open_options)
        self.sensor_size = self.stream.sensor_size
        self.speed, self.chunk_events = speed, chunk_events
        self.clock, self.sleep = clock, sleep

    def windows(self, window_us: int) -> Iterator[EventWindow]:
        start = self.clock()
        for k, win in enumerate(split_windows(self.stream.chunks(self.chunk_events), window_us)):
            if self.speed is not None:
                due = start + (k + 1) * window_us / 1e6 / self.speed
                wait = due - self.clock()
                if wait > 0:
                    self.sleep(wait)
            yield win


class CameraSource(EventSource):
    """A live iniVation camera (DVXplorer, DAVIS, DVS128) via dv-processing.

    ``camera``: an already opened dv-processing camera object (or any object with ``getNextEventBatch()``,
    ``getEventResolution()`` and ``isRunning()``); by default the first camera found (or ``serial``).
    """

    def __init__(
        self,
        serial: str | None = None,
        camera: Any = None,
        poll_s: float = 0.001,
        sleep: Callable = time.sleep,
    ) -> None:
        if camera is None:
            dv = require("dv_processing", "a live event camera", "camera", "dv-processing")
            found = dv.io.camera.discover()
            if not found:
                raise CameraNotFoundError(
                    "no iniVation camera found by dv-processing: plug one in (USB 3), check its udev rules "
                    "(permissions) and that no other program holds it; or replay a file with FileSource"
                )
            try:
                camera = dv.io.camera.open(serial) if serial else dv.io.camera.open()
            except Exception as e:
                raise CameraNotFoundError(f"could not open the camera {serial or ''}: {e}".strip()) from None
        self.camera = camera
        self.sensor_size = size_wh(int(v) for v in camera.getEventResolution())
        self.poll_s, self.sleep = poll_s, sleep

    def _chunks(self) -> Iterator[np.ndarray]:
        while self.camera.isRunning():
            batch = self.camera.getNextEventBatch()
            if batch is None:
                self.sleep(self.poll_s)
                continue
            a = batch.numpy()
            ev = np.empty(len(a), dtype=EVENT_DTYPE)
            ev["t"], ev["x"], ev["y"], ev["p"] = a["timestamp"], a["x"], a["y"], a["polarity"]
            yield ev

    def windows(self, window_us: int) -> Iterator[EventWindow]:
        return split_windows(self._chunks(), window_us)

    def close(self) -> None:
        self.camera = _Closed()


class _Closed:
    def isRunning(self) -> bool:  # mirrors the dv-processing camera API
        return False


def stream_frames(source: EventSource, params: BinningParams) -> Iterator[tuple[EventWindow, np.ndarray]]:
    """``(window, frames [1, C, H, W])`` per window: ``params`` must bin by time (its ``window_us``)."""
    if params.split_by != "time" or params.window_us is None:
        raise ValueError(
            "streaming bins fixed time windows: use BinningParams(split_by='time', window_us=...)"
        )
    one = replace(params, T=1)
    denoiser = Denoiser(source.sensor_size, params.refractory_us, params.baf_us)
    for win in source.windows(params.window_us):
        yield win, bin_events(win.events, source.sensor_size, one, t_start=win.t_start, denoiser=denoiser)


__all__ = [
    "CameraNotFoundError",
    "CameraSource",
    "EventSource",
    "EventWindow",
    "FileSource",
    "split_windows",
    "stream_frames",
]
