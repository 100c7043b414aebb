"""What `edgesnn stream` sends: samples as the device takes them (u8 ``[frames, C, H, W]``), read from event
files, a dataset's held-out split or a live camera, binned exactly as in training.

Event input follows the model's input contract (``edgesnn.data.input_contract``), the first that applies
(``--split-by`` & co. override single binning fields):

1. ``--checkpoint`` with a recorded contract (``training["input"]`` + ``training["binning"]``): its binning,
   window origin and count saturation;
2. ``--dataset NAME`` of an event dataset, or the dataset the checkpoint was trained on: that dataset's
   training binning (emulated-fashion-mnist = T causal time windows covering the 3 saccades; dvs-gesture and
   cifar10-dvs = split by event number, both polarities, full sensor);
3. the model blob alone: ``T`` frames, ``C = 2`` → ``polarity="split"`` (``C = 1`` → ``"merge"``), area
   pooling from the sensor to the blob's ``H x W``, split by event number, event counts.

``T`` is always the blob's. Events are sent as their counts (u8 = count; the float model sees
``u8 / input_scale_num``); a count above 255 is an error naming the sample unless the contract saturates
(``min(count, 255)``) or ``clip=True``. Images: a float pixel ``v`` is sent as ``v * input_scale_num``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgesnn.data.binning import BinningParams
from edgesnn.data.emulator import EmulatorParams, iter_emulated
from edgesnn.data.events.dispatch import detect_format, read_events
from edgesnn.data.events.errors import EventFormatError, MissingDependencyError
from edgesnn.data.events.types import size_wh
from edgesnn.data.input_contract import InputContract, InputContractError, contract_of, dataset_binning
from edgesnn.data.registry import DATASETS, dataset_spec
from edgesnn.format import Model


class StreamInputError(Exception):
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


def _check_shape(u8: np.ndarray, mi: ModelInput, what: str) -> np.ndarray:
    """Event frames ``[T, C, H, W]`` must match the blob's input exactly."""
    if u8.ndim != 4 or u8.shape[0] != mi.frames or tuple(u8.shape[1:]) != mi.shape:
        hint = ""
        if u8.ndim == 4 and tuple(u8.shape[2:]) != mi.shape[1:]:  # binned at another size than trained
            hint = (
                f"; pass --checkpoint with the model's training checkpoint (it records the input binning) "
                f"or --size {mi.shape[1]}x{mi.shape[2]}"
            )
        raise StreamInputError(
            f"{what}: frames of shape {tuple(u8.shape)}, the model takes "
            f"{mi.frames} x {mi.shape[0]} x {mi.shape[1]} x {mi.shape[2]} (frames x C x H x W){hint}"
        )
    return u8


# -- binning ---------------------------------------------------------------------------------------------


BINNING_FIELDS = ("split_by", "window_us", "polarity", "mode", "refractory_us", "baf_us")


def resolve_contract(
    mi: ModelInput,
    dataset: str | None = None,
    checkpoint_payload: dict[str, Any] | None = None,
    overrides: dict[str, Any] | None = None,
) -> InputContract:
    """The input contract for event input, its ``origin`` saying where it came from (module docstring)."""
    c, h, w = mi.shape
    training = (checkpoint_payload or {}).get("training") or {}
    contract: InputContract | None = None
    if "input" in training and "binning" in training:
        try:
            contract = contract_of(checkpoint_payload, mi.T)
        except InputContractError as e:
            raise StreamInputError(f"--checkpoint: {e}") from None
        if contract.is_events and contract.scale_num != mi.scale_num:
            raise StreamInputError(
                f"the checkpoint's input contract says float = u8 / {contract.scale_num}, the model file's "
                f"input scale is {mi.scale_num}: export this checkpoint again"
            )
    for name, why in ((dataset, "--dataset"), (training.get("dataset"), "the checkpoint's training dataset")):
        if contract is not None and contract.is_events:
            break
        if name and name in DATASETS:
            found = dataset_binning(name, mi.T)
            if found is not None:
                contract = InputContract(
                    "events", mi.scale_num, found[0], found[1], None, None, f"{name} training binning ({why})"
                )
    if contract is None or not contract.is_events:
        params = BinningParams(T=mi.T, size=(h, w), polarity="split" if c == 2 else "merge")
        origin = "the model's input shape (split by event number, counts)"
        contract = InputContract("events", mi.scale_num, params, None, None, None, origin)
    assert contract.binning is not None
    params, origin = contract.binning, contract.origin
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
    return dataclasses.replace(contract, binning=params, origin=origin)


def resolve_binning(
    mi: ModelInput,
    dataset: str | None = None,
    checkpoint_payload: dict[str, Any] | None = None,
    overrides: dict[str, Any] | None = None,
) -> tuple[BinningParams, str]:
    """The binning for event input and a note saying where it came from (see the module docstring)."""
    contract = resolve_contract(mi, dataset, checkpoint_payload, overrides)
    assert contract.binning is not None
    return contract.binning, contract.origin


def _file_contract(mi: ModelInput, params: BinningParams) -> InputContract:
    return InputContract("events", mi.scale_num, params, None, None, None, "binning given")


# -- sources ---------------------------------------------------------------------------------------------


def _label_of(path: Path, classes: tuple[str, ...]) -> int | None:
    parent = path.parent.name
    if parent.isdigit():
        return int(parent)
    return classes.index(parent) if parent in classes else None


def scan_event_files(path: str | Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """A file, or the files under a folder (sorted): ``(event files, [(other file, why)])``. Hidden files
    and folders (a leading '.', e.g. .DS_Store) are not looked at."""
    path = Path(path)
    if path.is_file():
        return [path], []
    if not path.is_dir():
        raise StreamInputError(f"--input {path}: no such file or folder")
    found: list[Path] = []
    other: list[tuple[Path, str]] = []
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        if any(part.startswith(".") for part in f.relative_to(path).parts):
            continue
        try:
            detect_format(f)
        except (EventFormatError, OSError) as e:
            other.append((f, str(e).removeprefix(f"{f}: ")))
            continue
        found.append(f)
    if not found:
        raise StreamInputError(f"--input {path}: no event files in this folder")
    return found, other


def describe_files(files: list[tuple[Path, str]], shown: int = 3) -> str:
    """'a.txt (why), b.csv (why) and 4 more' for one-line messages."""
    text = ", ".join(f"{f} ({why})" for f, why in files[:shown])
    return text + (f" and {len(files) - shown} more" if len(files) > shown else "")


def event_files(path: str | Path, skip_unknown: bool = False) -> list[Path]:
    """A file, or every event file under a folder (sorted). A file that is not an event file is an error
    naming it, unless ``skip_unknown`` (then it is left out)."""
    found, other = scan_event_files(path)
    if other and not skip_unknown:
        raise StreamInputError(
            f"--input {path}: {len(other)} of its files are not event files: {describe_files(other)}; "
            "remove them, or pass --skip-unknown to stream only the event files"
        )
    return found


def event_file_samples(
    paths: Iterable[Path],
    mi: ModelInput,
    params: BinningParams,
    *,
    classes: tuple[str, ...] = (),
    clip: bool = False,
    contract: InputContract | None = None,
) -> Iterator[Sample]:
    """One sample per recording, binned whole with ``bin_events`` (the training function) and turned into
    u8 counts by the input contract (window origin, saturation; default: the first event, no saturation).
    A file that cannot be read or binned gives a sample with ``error`` (naming the file and the problem)."""
    contract = dataclasses.replace(contract or _file_contract(mi, params), binning=params)
    for path in paths:
        label = _label_of(Path(path), classes)
        try:
            rec = read_events(path)
            if not len(rec.events):  # all-zero frames would be classified as if it were a recording
                size = Path(path).stat().st_size
                raise StreamInputError(
                    f"{path}: no events in this file ({size} B): not a recording to stream"
                )
            w, h = rec.sensor_size
            xs, ys = int(rec.events["x"].max()), int(rec.events["y"].max())
            if xs >= w or ys >= h:
                raise StreamInputError(f"{path}: events reach x={xs}, y={ys}, outside its sensor {w}x{h}")
            u8 = _check_shape(contract.frames(rec.events, rec.sensor_size, str(path), clip), mi, str(path))
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
    contract: InputContract | None = None,
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
        if contract is None:
            binning, t_start = dataset_binning(name, mi.T) or (None, 0)
            contract = InputContract("events", mi.scale_num, params or binning, t_start)
        elif params is not None:
            contract = dataclasses.replace(contract, binning=params)
        images = load_fashion_mnist("test", root).subset(limit)
        for i, (ev, label) in enumerate(
            zip(iter_emulated(images.images[:, 0], emu, seed=0), images.labels, strict=True)
        ):
            what = f"{name} test #{i}"
            u8 = _check_shape(contract.frames(ev, size_wh(emu.canvas), what, clip), mi, what)
            yield Sample(u8, int(label), len(ev), f"#{i}")
        return
    from edgesnn.data.registry import open_dataset

    ds = open_dataset(name, "test", root, limit, T=mi.T)
    for i in range(len(ds)):
        x, label = ds[i]
        x = np.asarray(x, dtype=np.float64)  # registry frames: raw counts (or 0/1), as the model was trained
        events = int(x.sum()) if params is None or params.mode == "count" else None
        what = f"{name} test #{i}"
        u8 = (contract or InputContract("events", 1)).counts_to_u8(np.rint(x), what, clip)
        yield Sample(_check_shape(u8, mi, what), int(label), events, f"#{i}")


def camera_samples(
    mi: ModelInput,
    params: BinningParams,
    *,
    serial: str | None = None,
    clip: bool = False,
    contract: InputContract | None = None,
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
                what = f"camera sample {k}"
                u8 = (contract or _file_contract(mi, params)).counts_to_u8(np.stack(frames), what, clip)
                u8 = _check_shape(u8, mi, what)
                yield Sample(u8, None, events, f"camera {win.t_end - mi.T * params.window_us}us")
                frames, events, k = [], 0, k + 1


def limited(samples: Iterable[Sample], limit: int | None) -> Iterator[Sample]:
    for i, s in enumerate(samples):
        if limit is not None and i >= limit:
            return
        yield s
