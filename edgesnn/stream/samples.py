"""What `edgesnn stream` sends: samples as the device takes them (u8 ``[frames, C, H, W]``), read from event
files, a dataset's held-out split or a live camera, binned exactly as in training.

Where the binning parameters come from (first that applies; ``--split-by`` & co. override single fields):

1. ``--dataset NAME`` of an event dataset: that dataset's training binning (``dataset_binning``:
   emulated-fashion-mnist = T causal time windows covering the 3 saccades, ``emulated_binning``; dvs-gesture
   and cifar10-dvs = split by event number, both polarities, full sensor — the defaults of
   ``edgesnn.data.event_datasets``);
2. ``--checkpoint``: the dataset the checkpoint was trained on (``training.dataset``), as in 1;
3. the model blob alone: ``T`` frames, ``C = 2`` → ``polarity="split"`` (``C = 1`` → ``"merge"``), area
   pooling from the sensor to the blob's ``H x W``, split by event number, event counts.

``T`` is always the blob's. A float frame value ``v`` is sent as the u8 ``v * input_scale_num`` (the blob
header's input scale, 255 for images): values off that grid or above 255 are an error naming the sample,
unless ``clip=True`` saturates them (the float model then sees the clipped values too).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgesnn.cli.errors import CliError
from edgesnn.data.binning import BinningParams, bin_events
from edgesnn.data.emulator import EmulatorParams, iter_emulated
from edgesnn.data.event_datasets import emulated_binning
from edgesnn.data.events.dispatch import detect_format, read_events
from edgesnn.data.events.errors import EventFormatError, MissingDependencyError
from edgesnn.data.registry import DATASETS, dataset_spec
from edgesnn.reference import Model


class StreamInputError(CliError):
    """An input that cannot be streamed (unreadable file, wrong shape, values the u8 input cannot hold)."""


@dataclass
class Sample:
    """One sample as the device takes it; ``events`` when it came from events (for events/s). A sample that
    could not be read carries ``error`` instead (it ends as an error outcome; the stream goes on)."""

    u8: np.ndarray | None  # uint8 [frames, C, H, W]
    label: int | None = None
    events: int | None = None
    source: str = ""
    error: str | None = None


@dataclass(frozen=True)
class ModelInput:
    """The blob's input contract (from its header)."""

    T: int
    frames: int  # 1 with STATIC_INPUT, else T
    shape: tuple[int, int, int]  # C, H, W
    scale_num: int
    static: bool

    @classmethod
    def of(cls, model: Model) -> ModelInput:
        c, h, w = model.input.shape
        frames = 1 if model.static_input else model.T
        return cls(model.T, frames, (c, h, w), model.input_scale_num, model.static_input)


def to_device_u8(x: np.ndarray, mi: ModelInput, what: str, clip: bool = False) -> np.ndarray:
    """Float model input (frames ``[T, C, H, W]`` or an image ``[C, H, W]``) → u8 ``[frames, C, H, W]``."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or tuple(arr.shape[1:]) != mi.shape:
        raise StreamInputError(
            f"{what}: input of shape {tuple(arr.shape)}, the model takes "
            f"{mi.frames} x {mi.shape[0]} x {mi.shape[1]} x {mi.shape[2]} (frames x C x H x W)"
        )
    if arr.shape[0] == 1 and mi.frames > 1:
        arr = np.repeat(arr, mi.frames, axis=0)  # an image for a model that takes T frames
    elif arr.shape[0] != mi.frames:
        raise StreamInputError(f"{what}: {arr.shape[0]} frames, the model takes {mi.frames} (its T)")
    q = np.rint(arr * mi.scale_num)
    if clip:
        q = np.clip(q, 0, 255)
    else:
        off_grid = np.abs(q - arr * mi.scale_num) > 1e-4
        if off_grid.any() or q.min() < 0 or q.max() > 255:
            worst = float(arr.max())
            raise StreamInputError(
                f"{what}: input values (max {worst:g}) are not u8 / {mi.scale_num} values the model's u8 "
                f"input can hold; bin with mode=binary or shorter windows, or pass --clip to saturate them"
            )
    return q.astype(np.uint8)


# -- binning ---------------------------------------------------------------------------------------------


def dataset_binning(name: str, T: int) -> BinningParams | None:
    """The binning an event dataset is trained with (None for image datasets)."""
    spec = dataset_spec(name)
    if not spec.frames:
        return None
    if name == "emulated-fashion-mnist":
        return emulated_binning(T, EmulatorParams())
    return BinningParams(T=T)  # dvs-gesture, cifar10-dvs: split by event number (edgesnn.data.event_datasets)


BINNING_FIELDS = ("split_by", "window_us", "polarity", "mode", "refractory_us", "baf_us")


def resolve_binning(
    mi: ModelInput,
    dataset: str | None = None,
    checkpoint_payload: dict[str, Any] | None = None,
    overrides: dict[str, Any] | None = None,
) -> tuple[BinningParams, str]:
    """The binning for event input and a note saying where it came from (see the module docstring)."""
    c, h, w = mi.shape
    params: BinningParams | None = None
    origin = ""
    trained_on = (checkpoint_payload or {}).get("training", {}).get("dataset")
    for name, why in ((dataset, "--dataset"), (trained_on, "the checkpoint's training dataset")):
        if name and name in DATASETS:
            params = dataset_binning(name, mi.T)
            if params is not None:
                origin = f"{name} training binning ({why})"
                break
    if params is None:
        params = BinningParams(T=mi.T, size=(h, w), polarity="split" if c == 2 else "merge")
        origin = "the model's input shape (split by event number, counts)"
    changed = {k: v for k, v in (overrides or {}).items() if v is not None}
    if changed:
        if "window_us" in changed and "split_by" not in changed:
            changed["split_by"] = "time"
        try:
            params = dataclasses.replace(params, **changed)
        except ValueError as e:
            raise StreamInputError(f"binning: {e}") from None
        origin += " with " + ", ".join(f"{k}={v}" for k, v in changed.items())
    if params.T != mi.T:
        params = dataclasses.replace(params, T=mi.T)
    if params.channels != c:
        raise StreamInputError(
            f"binning: polarity={params.polarity!r} gives {params.channels} channel(s), the model takes {c}"
        )
    return params, origin


# -- sources ---------------------------------------------------------------------------------------------


def _label_of(path: Path, classes: tuple[str, ...]) -> int | None:
    parent = path.parent.name
    if parent.isdigit():
        return int(parent)
    return classes.index(parent) if parent in classes else None


def event_files(path: str | Path) -> list[Path]:
    """A file, or every event file under a folder (sorted; other files are skipped)."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise StreamInputError(f"--input {path}: no such file or folder")
    found = []
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        try:
            detect_format(f)
        except (EventFormatError, OSError):
            continue
        found.append(f)
    if not found:
        raise StreamInputError(f"--input {path}: no event files in this folder")
    return found


def event_file_samples(
    paths: Iterable[Path],
    mi: ModelInput,
    params: BinningParams,
    *,
    classes: tuple[str, ...] = (),
    clip: bool = False,
) -> Iterator[Sample]:
    """One sample per recording, binned whole with ``bin_events`` (the training function). A file that
    cannot be read or binned gives a sample with ``error`` (the message names the file and the problem)."""
    for path in paths:
        label = _label_of(Path(path), classes)
        try:
            rec = read_events(path)
            if len(rec.events):
                w, h = rec.sensor_size
                xs, ys = int(rec.events["x"].max()), int(rec.events["y"].max())
                if xs >= w or ys >= h:
                    raise StreamInputError(f"{path}: events reach x={xs}, y={ys}, outside its sensor {w}x{h}")
            frames = bin_events(rec.events, rec.sensor_size, params)
            u8 = to_device_u8(frames, mi, str(path), clip)
        except (EventFormatError, MissingDependencyError, StreamInputError, ValueError, OSError) as e:
            msg = str(e)
            yield Sample(None, label, None, str(path), msg if str(path) in msg else f"{path}: {msg}")
            continue
        yield Sample(u8, label, len(rec.events), str(path))


def dataset_samples(
    name: str,
    mi: ModelInput,
    *,
    root: str | Path | None = None,
    limit: int | None = None,
    params: BinningParams | None = None,
    clip: bool = False,
) -> Iterator[Sample]:
    """A dataset's held-out (test) split: images as they are; emulated-fashion-mnist as event streams emulated
    from the test images and binned here (so events/s is real); other event datasets from their frames."""
    from edgesnn.data.images import load_fashion_mnist, load_mnist

    dataset_spec(name)  # unknown names fail here, with the list
    if name in ("fashion-mnist", "mnist"):
        ds = (load_fashion_mnist if name == "fashion-mnist" else load_mnist)("test", root).subset(limit)
        for i in range(len(ds)):
            x = ds.images[i].astype(np.float64) / 255.0
            yield Sample(to_device_u8(x, mi, f"{name} test #{i}", clip), int(ds.labels[i]), None, f"#{i}")
        return
    if name == "emulated-fashion-mnist":
        emu = EmulatorParams()
        params = params or emulated_binning(mi.T, emu)
        images = load_fashion_mnist("test", root).subset(limit)
        for i, (ev, label) in enumerate(
            zip(iter_emulated(images.images[:, 0], emu, seed=0), images.labels, strict=True)
        ):
            frames = bin_events(ev, tuple(emu.canvas), params, t_start=0)
            u8 = to_device_u8(frames, mi, f"{name} test #{i}", clip)
            yield Sample(u8, int(label), len(ev), f"#{i}")
        return
    from edgesnn.data.registry import open_dataset

    ds = open_dataset(name, "test", root, limit, T=mi.T)
    for i in range(len(ds)):
        x, label = ds[i]
        x = np.asarray(x, dtype=np.float64)
        events = int(x.sum()) if params is None or params.mode == "count" else None
        yield Sample(to_device_u8(x, mi, f"{name} test #{i}", clip), int(label), events, f"#{i}")


def camera_samples(
    mi: ModelInput, params: BinningParams, *, serial: str | None = None, clip: bool = False
) -> Iterator[Sample]:
    """Live samples from an iniVation camera: ``T`` consecutive time windows of ``params.window_us`` each,
    binned by ``edgesnn.data.sources.stream_frames`` (the training binning with T = 1 per window)."""
    from edgesnn.data.sources import CameraNotFoundError, CameraSource, stream_frames

    if params.split_by != "time" or params.window_us is None:
        raise StreamInputError(
            "--camera streams fixed time windows: the binning must split by time with a window "
            f"(got split_by={params.split_by!r}); pass --window-us"
        )
    try:
        source = CameraSource(serial)
    except (MissingDependencyError, CameraNotFoundError) as e:
        raise StreamInputError(f"--camera: {e}") from None
    with source:
        frames: list[np.ndarray] = []
        events = 0
        k = 0
        for win, fr in stream_frames(source, params):
            frames.append(fr[0])
            events += len(win.events)
            if len(frames) == mi.T:
                u8 = to_device_u8(np.stack(frames), mi, f"camera sample {k}", clip)
                yield Sample(u8, None, events, f"camera {win.t_end - mi.T * params.window_us}us")
                frames, events, k = [], 0, k + 1


def limited(samples: Iterable[Sample], limit: int | None) -> Iterator[Sample]:
    for i, s in enumerate(samples):
        if limit is not None and i >= limit:
            return
        yield s
