"""Checkpoints that rebuild themselves: weights + ModelConfig + training metadata in one file.

File layout (a ``torch.save`` dict, loaded with ``weights_only=True`` so it cannot run code):

    format          "edgesnn-checkpoint"
    format_version  int (this reader accepts <= FORMAT_VERSION)
    package_version edgesnn version that wrote it
    model_config    ModelConfig.to_dict()
    state_dict      model weights and BN buffers
    training        {dataset, epoch, epochs, step, accuracy, best_accuracy, seed, args, firing_log, ...}
    resume          optional optimizer/scheduler state for --resume (absent from exported best models)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from edgesnn import __version__
from edgesnn.checkpoint_errors import describe_load_failure, precheck
from edgesnn.models.config import ConfigError, ModelConfig
from edgesnn.models.resnet import SpikingResNet, build_model

FORMAT = "edgesnn-checkpoint"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded; the message says what is wrong and what to do."""


def save(
    path: str | Path,
    model: SpikingResNet,
    training: dict[str, Any] | None = None,
    resume: dict[str, Any] | None = None,
) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
        "model_config": model.config.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "training": training or {},
    }
    if resume is not None:
        payload["resume"] = resume
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)  # atomic: an interrupted save never leaves a half-written checkpoint
    return path


def read(path: str | Path) -> dict[str, Any]:
    """Read and validate a checkpoint's envelope (format, version, config) without building a model."""
    path = Path(path)
    problem = precheck(path)
    if problem:
        raise CheckpointError(f"{path}: {problem}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt/foreign files
        raise CheckpointError(f"{path}: {describe_load_failure(exc)}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        kind = "a bare state_dict" if isinstance(payload, dict) and payload else type(payload).__name__
        raise CheckpointError(
            f"{path}: not an edgesnn checkpoint (found {kind}); checkpoints written by `edgesnn train` "
            "carry their model config so they can rebuild themselves"
        )
    version = payload.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {version!r} was written by edgesnn "
            f"{payload.get('package_version', '?')}; this edgesnn {__version__} reads versions up to "
            f"{FORMAT_VERSION}: upgrade edgesnn"
        )
    for key in ("model_config", "state_dict"):
        if not isinstance(payload.get(key), dict):
            raise CheckpointError(f"{path}: checkpoint field {key!r} is missing or not a mapping")
    return payload


def config_of(payload: dict[str, Any], path: str | Path = "checkpoint") -> ModelConfig:
    try:
        return ModelConfig.from_dict(dict(payload["model_config"]))
    except (ConfigError, TypeError) as exc:
        raise CheckpointError(f"{path}: invalid model_config: {exc}") from None


def load_into(model: SpikingResNet, state_dict: dict[str, Any], path: str | Path = "checkpoint") -> None:
    """Load weights, failing with the differing keys/shapes when the architecture does not match."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    shapes = [
        f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state_dict and tuple(state_dict[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} tensor(s), e.g. {missing[:3]}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected tensor(s), e.g. {unexpected[:3]}")
        if shapes:
            parts.append(f"{len(shapes)} shape mismatch(es), e.g. {shapes[:2]}")
        raise CheckpointError(
            f"{path}: weights do not fit the architecture {model.config.label}: " + "; ".join(parts)
        )
    model.load_state_dict(state_dict)


def load(path: str | Path, with_payload: bool = False) -> Any:
    """Rebuild the model described by the checkpoint and load its weights; returns it in eval mode.

    With ``with_payload=True`` returns ``(model, payload)`` so callers can read the training metadata.
    """
    payload = read(path)
    model = build_model(config_of(payload, path))
    load_into(model, payload["state_dict"], path)
    model.eval()
    return (model, payload) if with_payload else model
