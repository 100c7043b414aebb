"""Calibration data for a checkpoint: the first samples of a dataset split in the model's input layout
(``edgesnn analyze``, ``export`` and ``demo``); bad input raises ``AnalysisError`` with a one-line message."""

from __future__ import annotations

from pathlib import Path

import torch

from edgesnn.analysis.errors import AnalysisError
from edgesnn.data.registry import dataset_spec, open_dataset
from edgesnn.models.config import ModelConfig


def calibration_batches(
    name: str,
    split: str,
    root: str | None,
    n: int,
    batch_size: int,
    config: ModelConfig,
    payload: dict | None = None,
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The first ``n`` samples of a split as ``(inputs, labels)`` batches in the model's input layout:
    static images ``[B, C, H, W]``, event frames ``[T, B, C, H, W]``. A checkpoint ``payload`` with a
    recorded input contract (``edgesnn.data.input_contract``) gets frames made by that contract."""
    if n < 1:
        raise AnalysisError(f"calibration needs at least 1 sample, got {n}")
    if batch_size < 1:
        raise AnalysisError(f"the batch size must be at least 1, got {batch_size}")
    if root is not None and not Path(root).is_dir():
        raise AnalysisError(f"--data-dir {root}: no such folder")
    training = (payload or {}).get("training") or {}
    if payload is not None and "input" in training and "binning" in training:  # training came from payload
        return _contract_batches(name, split, root, n, batch_size, config, payload)
    spec = dataset_spec(name)
    ds = open_dataset(name, split, root, n, T=config.T if spec.frames else None)
    if len(ds) == 0:
        raise AnalysisError(f"dataset {name!r} ({split}) has no samples")
    batches = []
    for i in range(0, len(ds), batch_size):
        x, y = ds.get_batch(torch.arange(i, min(i + batch_size, len(ds))))
        if spec.frames:
            x = x.transpose(0, 1)  # frame datasets give [B, T, C, H, W]; the model takes [T, B, ...]
        batches.append((x, y))
    x = batches[0][0]
    if x.shape[-3] != config.in_channels or (
        config.input_pool is None and tuple(x.shape[-2:]) != tuple(config.input_size)
    ):
        raise AnalysisError(
            f"dataset {name!r} gives inputs of {x.shape[-3]}x{x.shape[-2]}x{x.shape[-1]}, the model "
            f"expects {config.in_channels}x{config.input_size[0]}x{config.input_size[1]}: wrong --data?"
        )
    return batches


def _contract_batches(
    name: str, split: str, root: str | None, n: int, batch_size: int, config: ModelConfig, payload: dict
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Calibration frames for a model with a recorded event contract: emulated streams binned its way."""
    import numpy as np

    from edgesnn.data.emulator import EmulatorParams, emulate_batch
    from edgesnn.data.events.types import size_wh
    from edgesnn.data.images import load_fashion_mnist
    from edgesnn.data.input_contract import InputContractError, contract_of

    try:
        contract = contract_of(payload, config.T)
    except InputContractError as e:
        raise AnalysisError(str(e)) from None
    if name != "emulated-fashion-mnist":
        raise AnalysisError(
            f"this checkpoint records its own event binning ({contract.origin}); calibration data for it "
            f"can be made from emulated-fashion-mnist, not {name!r}"
        )
    images = load_fashion_mnist(split, root).subset(n)
    emu = EmulatorParams()
    batches = []
    for lo in range(0, len(images), batch_size):
        imgs = images.images[lo : lo + batch_size, 0]
        evs = emulate_batch(imgs, emu, 0, lo)
        what = f"{name} {split}"
        canvas = size_wh(emu.canvas)
        u8 = np.stack([contract.frames(ev, canvas, f"{what} #{lo + i}") for i, ev in enumerate(evs)])
        x = torch.from_numpy(contract.float_input(u8)).transpose(0, 1).contiguous()  # [T, B, C, H, W]
        y = torch.as_tensor(np.asarray(images.labels[lo : lo + batch_size]), dtype=torch.int64)
        batches.append((x, y))
    return batches
