"""An event-camera emulator for still images — EMULATED data, not a recording.

It moves a still image through three saccades (an isosceles-triangle path, as N-MNIST was recorded by moving
an ATIS in front of a monitor) and runs a DVS pixel model on every canvas pixel:

- log intensity ``L = log(I + log_eps)`` with I in [0, 1] (bilinear sub-pixel shifts of the image);
- each pixel keeps a reference level; when ``L - ref >= C_on`` it emits an ON event and ``ref += C_on``,
  when ``ref - L >= C_off`` an OFF event and ``ref -= C_off`` (several per step if the change is large);
  the event time is the linear-interpolated crossing time inside the simulation step;
- per-pixel threshold mismatch ``C * (1 + threshold_sigma * N(0, 1))`` (clipped at 0.25 C);
- a refractory period: a pixel that fired less than ``refractory_us`` ago cannot fire; its change stays
  pending and fires once the period is over;
- optional background activity: uniform Poisson noise events at ``noise_hz`` per pixel.

Deterministic: sample i of a batch uses ``numpy.random.default_rng([seed, i])`` only, so a sample's events do
not depend on the batch it was emulated in.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edgesnn.data.events.dispatch import WRITERS, write_events
from edgesnn.data.events.types import EVENT_DTYPE, EventRecording, size_wh

# Saccade vertices (dx, dy) in pixels for an image of size S on a canvas of S + 6 (N-MNIST: 28 -> 34).
TRIANGLE = ((0.0, 1.0), (0.5, 0.0), (1.0, 1.0), (0.0, 1.0))


@dataclass(frozen=True)
class EmulatorParams:
    canvas: tuple[int, int] = (34, 34)  # (W, H); the image is moved over it
    saccade_ms: float = 100.0
    step_us: int = 1000
    contrast_on: float = 0.25
    contrast_off: float = 0.25
    threshold_sigma: float = 0.05
    refractory_us: int = 1000
    log_eps: float = 0.1
    noise_hz: float = 0.0

    def __post_init__(self) -> None:
        if self.step_us < 1 or self.saccade_ms * 1000 < self.step_us:
            raise ValueError("EmulatorParams: need 1 <= step_us <= saccade duration")
        if min(self.contrast_on, self.contrast_off) <= 0 or self.log_eps <= 0:
            raise ValueError("EmulatorParams: contrasts and log_eps must be > 0")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["canvas"] = list(self.canvas)
        return d


def saccade_path(params: EmulatorParams, image_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Times (µs) of the simulation steps and the image offsets ``[steps, 2]`` (dx, dy) at those times."""
    w, h = params.canvas
    span = np.array([w - image_hw[1], h - image_hw[0]], dtype=np.float64)
    if np.any(span < 0):
        raise ValueError(f"canvas {params.canvas} is smaller than the image {image_hw}")
    n_sub = round(params.saccade_ms * 1000 / params.step_us)
    tau = np.arange(n_sub) / n_sub
    ease = (1 - np.cos(np.pi * tau)) / 2
    pts = []
    for a, b in itertools.pairwise(TRIANGLE):
        pa, pb = np.array(a) * span, np.array(b) * span
        pts.append(pa + (pb - pa) * ease[:, None])
    pts.append((np.array(TRIANGLE[-1]) * span)[None])
    offsets = np.concatenate(pts)
    times = np.arange(len(offsets), dtype=np.int64) * params.step_us
    return times, offsets


def _render(images: np.ndarray, offset: np.ndarray, canvas: tuple[int, int]) -> np.ndarray:
    """Images ``[B, h, w]`` in [0, 1] placed at sub-pixel ``offset`` (dx, dy) on a ``canvas`` (bilinear)."""
    b, h, w = images.shape
    cw, ch = canvas
    ix, iy = int(np.floor(offset[0])), int(np.floor(offset[1]))
    fx, fy = offset[0] - ix, offset[1] - iy
    out = np.zeros((b, ch + 1, cw + 1), dtype=images.dtype)
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            if wx * wy:
                out[:, iy + dy : iy + dy + h, ix + dx : ix + dx + w] += wx * wy * images
    return out[:, :ch, :cw]


def emulate_batch(
    images: np.ndarray, params: EmulatorParams, seed: int = 0, first_index: int = 0
) -> list[np.ndarray]:
    """Event arrays for images ``[B, h, w]`` (uint8 0..255 or float 0..1); sample i is seeded by
    ``(seed, first_index + i)``. Events are sorted by t, then y, then x."""
    imgs = np.asarray(images)
    imgs = imgs.astype(np.float64) / 255.0 if imgs.dtype == np.uint8 else imgs.astype(np.float64)
    if imgs.ndim == 2:
        imgs = imgs[None]
    B, h, w = imgs.shape
    cw, ch = params.canvas
    times, offsets = saccade_path(params, (h, w))
    rngs = [np.random.default_rng([seed, first_index + i]) for i in range(B)]
    mismatch = np.stack([r.standard_normal((2, ch, cw)) for r in rngs], axis=1).reshape(2, -1)
    c_on = np.maximum(
        params.contrast_on * (1 + params.threshold_sigma * mismatch[0]), 0.25 * params.contrast_on
    )
    c_off = np.maximum(
        params.contrast_off * (1 + params.threshold_sigma * mismatch[1]), 0.25 * params.contrast_off
    )
    c_on, c_off = c_on.astype(np.float32), c_off.astype(np.float32)
    eps = np.float32(params.log_eps)
    imgs32 = imgs.astype(np.float32)
    L_prev = np.log(_render(imgs32, offsets[0], params.canvas) + eps).reshape(-1)
    ref = L_prev.copy()
    last = np.full(ref.shape, -(1 << 40), dtype=np.int64)
    out: list[tuple[np.ndarray, ...]] = []
    for k in range(1, len(times)):
        L = np.log(_render(imgs32, offsets[k], params.canvas) + eps).reshape(-1)
        t0 = int(times[k - 1])
        pending = np.flatnonzero((L - ref >= c_on) | (ref - L >= c_off))
        # a pixel fires at most once per pass; more passes only while the refractory period allows it
        while len(pending):
            r, lv, lp = ref[pending], L[pending], L_prev[pending]
            up = lv - r >= c_on[pending]
            down = r - lv >= c_off[pending]
            fire = up | down
            level = np.where(up, r + c_on[pending], r - c_off[pending])
            dL = lv - lp
            frac = np.clip((level - lp) / np.where(dL != 0, dL, 1), 0.0, 1.0)
            t_ev = t0 + np.rint(frac * params.step_us).astype(np.int64)
            ok = fire & (t_ev - last[pending] >= params.refractory_us)
            idx = pending[ok]
            if len(idx) == 0:
                break
            bi, rest = np.divmod(idx, ch * cw)
            yi, xi = np.divmod(rest, cw)
            out.append((bi, xi, yi, t_ev[ok], up[ok].astype(np.uint8)))
            ref[idx], last[idx] = level[ok], t_ev[ok]
            pending = idx if params.refractory_us < params.step_us else idx[:0]
        L_prev = L
    return _assemble(out, B, rngs, params, int(times[-1]))


def _assemble(out: list, B: int, rngs: list, params: EmulatorParams, duration: int) -> list[np.ndarray]:
    cols = [np.concatenate([o[i] for o in out]) if out else np.zeros(0, np.int64) for i in range(5)]
    b, x, y, t, p = cols
    if params.noise_hz > 0:
        cw, ch = params.canvas
        nb = []
        for i, r in enumerate(rngs):
            n = r.poisson(params.noise_hz * duration * 1e-6 * cw * ch)
            nb.append((np.full(n, i), r.integers(0, cw, n), r.integers(0, ch, n), r.integers(0, duration, n),
                       r.integers(0, 2, n)))  # fmt: skip
        b, x, y, t, p = (np.concatenate([c] + [n[j] for n in nb]) for j, c in enumerate((b, x, y, t, p)))
    order = np.lexsort((x, y, t, b))
    b = b[order]
    bounds = np.searchsorted(b, np.arange(B + 1))
    ev = np.empty(len(order), dtype=EVENT_DTYPE)
    ev["x"], ev["y"], ev["t"], ev["p"] = x[order], y[order], t[order], p[order]
    return [ev[bounds[i] : bounds[i + 1]].copy() for i in range(B)]


def emulate_image(
    image: np.ndarray, params: EmulatorParams | None = None, seed: int = 0, index: int = 0
) -> EventRecording:
    """One image's emulated event stream (sensor size = the canvas)."""
    params = params or EmulatorParams()
    ev = emulate_batch(np.asarray(image)[None], params, seed, index)[0]
    meta = {"emulated": True, "emulator": params.to_dict(), "seed": seed, "index": index}
    return EventRecording(ev, size_wh(params.canvas), "emulated", None, meta)


def iter_emulated(
    images: np.ndarray, params: EmulatorParams, seed: int = 0, batch: int = 256
) -> Iterator[np.ndarray]:
    """Events for each image in order, emulated ``batch`` images at a time (bounded memory)."""
    for lo in range(0, len(images), batch):
        yield from emulate_batch(images[lo : lo + batch], params, seed, lo)


def write_emulated(
    folder: str | Path,
    images: np.ndarray,
    labels: Sequence[int],
    fmt: str = "nmnist",
    params: EmulatorParams | None = None,
    seed: int = 0,
) -> list[Path]:
    """Write one file per image (``<index>_<label>.<ext>``) in any supported format, plus ``labels.csv``
    and ``EMULATED.txt`` saying how the data were made."""
    params = params or EmulatorParams()
    if fmt not in WRITERS:
        raise ValueError(f"unknown format {fmt!r}; known: {list(WRITERS)}")
    ext = {"nmnist": "bin", "dat": "dat", "evt2": "raw", "evt3": "raw", "aedat2": "aedat", "aedat31": "aedat",
           "aedat4": "aedat4", "npy": "npz"}[fmt]  # fmt: skip
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    sensor = (128, 128) if fmt in ("aedat2", "aedat31") else size_wh(params.canvas)
    for i, ev in enumerate(iter_emulated(images, params, seed)):
        path = folder / f"{i:06d}_{int(labels[i])}.{ext}"
        write_events(path, ev, sensor, fmt)
        paths.append(path)
    with open(folder / "labels.csv", "w") as f:
        f.write("file,label\n")
        f.writelines(f"{p.name},{int(labels[i])}\n" for i, p in enumerate(paths))
    (folder / "EMULATED.txt").write_text(
        "These event streams are EMULATED from still images by edgesnn.data.emulator\n"
        "(saccades over the image, DVS pixel model), not recorded by a camera.\n"
        f"params: {params.to_dict()}\nseed: {seed}\n"
    )
    return paths
