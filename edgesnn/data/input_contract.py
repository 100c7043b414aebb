"""The input contract of a trained model: how raw data becomes the u8 a device receives and the float the
PyTorch model sees. Export (the blob's ``input_scale_num``, calibration data), ``edgesnn stream`` and the
demo all read it from here, so the board, the integer reference and the float model see the same sample.

- **images** (fashion-mnist, mnist): u8 pixels; float = u8 / 255.
- **events from a registry dataset** (dvs-gesture, emulated-fashion-mnist trained with ``edgesnn train``):
  event counts binned with the dataset's binning; the model was trained on raw counts, so u8 = count and
  float = u8 / 1 (a count above 255 cannot be sent: an error unless clipping is asked for).
- **events with a recorded contract** (``training["input"]`` + ``training["binning"]`` in the checkpoint, as
  ``edgesnn.zoo.train_event_model`` writes): the recorded binning and window origin, ``u8 = min(count, N)``
  when recorded so, float = u8 / scale.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgesnn.data.binning import BinningParams, bin_events
from edgesnn.data.emulator import EmulatorParams
from edgesnn.data.event_datasets import emulated_binning
from edgesnn.data.registry import DATASETS, dataset_spec


class InputContractError(ValueError):
    """A checkpoint's recorded input contract is unreadable or inconsistent."""


@dataclass(frozen=True)
class InputContract:
    kind: str  # "image" or "events"
    scale_num: int  # float input = u8 / scale_num
    binning: BinningParams | None = None  # events only
    t_start: int | None = 0  # events: window origin in µs (None: the stream's first event)
    u8_max: int | None = None  # events: counts saturate at this value (as in training); None: no clipping
    sensor_size: tuple[int, int] | None = None  # events: the sensor the binning pools from, (W, H)
    origin: str = ""

    @property
    def is_events(self) -> bool:
        return self.kind == "events"

    def counts_to_u8(self, counts: np.ndarray, what: str, clip: bool = False) -> np.ndarray:
        """Binned event counts -> the u8 the device receives (saturating when the contract or `clip` says)."""
        c = np.asarray(counts)
        limit = self.u8_max if self.u8_max is not None else (255 if clip else None)
        if limit is not None:
            c = np.minimum(c, limit)
        if c.size and (c.min() < 0 or c.max() > 255):
            raise ValueError(
                f"{what}: {int(c.max())} events in one cell of one frame, more than the u8 input holds "
                "(255); bin with mode=binary or shorter windows, or pass --clip to saturate"
            )
        return c.astype(np.uint8)

    def frames(self, events: np.ndarray, sensor_size: tuple[int, int], what: str, clip: bool = False):
        """One event stream -> u8 frames ``[T, C, H, W]`` with this contract's binning and window origin."""
        if self.binning is None:
            raise InputContractError(f"{what}: the model takes images, not events")
        counts = bin_events(events, sensor_size, self.binning, t_start=self.t_start)
        return self.counts_to_u8(counts, what, clip)

    def float_input(self, u8: np.ndarray) -> np.ndarray:
        """What the float model sees for a u8 input."""
        return np.asarray(u8, dtype=np.float32) / np.float32(self.scale_num)

    def to_dict(self) -> dict[str, Any]:
        b = self.binning
        return {
            "kind": self.kind,
            "scale_num": self.scale_num,
            "binning": None if b is None else {**b.__dict__, "size": list(b.size) if b.size else None},
            "t_start": self.t_start,
            "u8_max": self.u8_max,
            "origin": self.origin,
        }


IMAGES = InputContract("image", 255, origin="image pixels (u8 / 255)")


def dataset_binning(name: str, T: int) -> tuple[BinningParams, int | None] | None:
    """The binning (and window origin) an event dataset of the registry is trained with; None for images."""
    spec = dataset_spec(name)
    if not spec.frames:
        return None
    if name == "emulated-fashion-mnist":
        return emulated_binning(T, EmulatorParams()), 0
    return BinningParams(T=T), 0  # dvs-gesture, cifar10-dvs: split by event number


def _recorded(training: dict[str, Any], T: int) -> InputContract:
    rec, brec = training.get("input"), training.get("binning")
    if not isinstance(rec, dict) or not isinstance(brec, dict):
        raise InputContractError("checkpoint field training['input'] / training['binning'] is not a mapping")
    try:
        binning = BinningParams(**{**brec, "size": tuple(brec["size"]) if brec.get("size") else None})
    except (TypeError, ValueError) as e:
        raise InputContractError(f"checkpoint field training['binning']: {e}") from None
    if binning.T != T:
        raise InputContractError(f"checkpoint field training['binning']: T={binning.T}, the model's T is {T}")
    scale = rec.get("scale_num")
    if scale is None:
        m = re.fullmatch(r"\s*u8\s*/\s*(\d+)\s*", str(rec.get("float", "u8 / 1")))
        if not m:
            raise InputContractError(f"checkpoint field training['input']['float']: {rec.get('float')!r}")
        scale = int(m.group(1))
    u8_max = rec.get("u8_max")
    if u8_max is None:
        m = re.fullmatch(r"\s*min\(\s*count\s*,\s*(\d+)\s*\)\s*", str(rec.get("u8", "")))
        u8_max = int(m.group(1)) if m else None
    start = rec.get("t_start", 0)
    t_start = None if start in (None, "first_event") else int(start)
    sensor = rec.get("sensor_size")
    return InputContract(
        "events",
        int(scale),
        binning,
        t_start,
        u8_max,
        (int(sensor[0]), int(sensor[1])) if sensor else None,
        "recorded in the checkpoint (training['input'], training['binning'])",
    )


def contract_of(payload: dict[str, Any] | None, T: int, dataset: str | None = None) -> InputContract:
    """The contract of a checkpoint (its payload from ``checkpoint.load(..., with_payload=True)``). Without a
    checkpoint (``payload`` None) the contract of ``dataset`` is returned, images when that is None too."""
    training = (payload or {}).get("training") or {}
    if "input" in training and "binning" in training:
        return _recorded(training, T)
    name = training.get("dataset") or dataset
    if name is None or name not in DATASETS:
        return IMAGES
    found = dataset_binning(name, T)
    if found is None:
        return IMAGES
    binning, t_start = found
    return InputContract(
        "events", 1, binning, t_start, None, None, f"{name} training binning, raw event counts (u8 / 1)"
    )
