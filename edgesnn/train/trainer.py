"""`edgesnn train`: the one loop (``edgesnn.train.loop.Trainer``) configured for a dataset of the registry
(paper Table X defaults), single-process or DDP through torchrun.

Reproducibility: the shuffle order and the augmentation of epoch ``e`` come from generators seeded with
(seed, e), so a run resumed from the checkpoint of epoch ``e`` continues exactly as if uninterrupted.
"""

from __future__ import annotations

import copy
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from edgesnn import __version__, checkpoint
from edgesnn.analysis.monitor import layer_role, measure_firing
from edgesnn.data.augment import AUGMENTATIONS
from edgesnn.data.registry import dataset_spec, open_dataset
from edgesnn.models.config import ModelConfig, preset
from edgesnn.models.resnet import SpikingResNet, build_model
from edgesnn.train.distributed import DistInfo, barrier, init_from_env
from edgesnn.train.loop import (
    LOSSES,
    EpochResult,
    Hook,
    JsonlLog,
    LoopConfig,
    Trainer,
    TrainError,
    evaluate,
    iter_batches,
    loss_fn,
    model_input,
)

__all__ = [
    "LOSSES",
    "FiringLog",
    "TrainConfig",
    "TrainError",
    "Trainer",
    "build_trainer",
    "evaluate",
    "firing_entry",
    "iter_batches",
    "loss_fn",
    "model_input",
    "train",
]


@dataclass
class TrainConfig:
    dataset: str = "fashion-mnist"
    out_dir: str = "runs/train"
    data_dir: str | None = None
    model: dict[str, Any] = field(default_factory=dict)  # ModelConfig overrides on the dataset preset
    epochs: int = 10
    batch_size: int = 64  # global batch (split across DDP ranks)
    lr: float = 1e-3
    weight_decay: float = 0.0
    loss: str = "mse"
    seed: int = 0
    limit_train: int | None = None
    limit_test: int | None = None
    calib_samples: int = 256  # held-out samples for the per-epoch firing-rate log
    eval_batch_size: int = 256
    max_steps: int | None = None  # stop after this many optimiser steps (quick runs)
    stop_after: int | None = None  # stop after this many epochs in this run (time slicing; resumable)
    resume: bool = False
    threads: int | None = None
    progress: bool | None = None  # None: progress bars only on a terminal

    def model_config(self) -> ModelConfig:
        base = preset(dataset_spec(self.dataset).preset)
        return base.with_(**self.model) if self.model else base


def firing_entry(model: SpikingResNet, calib: Any, epoch: int, step: int, batch_size: int) -> dict:
    """Firing rates on the calibration set. Before the first step (epoch 0) BN has no running
    statistics yet, so that measurement uses batch statistics on a copy (what the first training step
    sees); later ones use eval mode (what inference and the exporter see)."""
    idx = torch.arange(len(calib))
    batches = (model_input(x) for x, _ in iter_batches(calib, idx, batch_size))
    mode = "train-bn" if epoch == 0 else "eval"
    mon = (
        measure_firing(copy.deepcopy(model), batches, train_mode=True)
        if epoch == 0
        else measure_firing(model, batches)
    )
    return {
        "epoch": epoch,
        "step": step,
        "bn_mode": mode,
        "rates": {n: s.rate for n, s in mon.stats.items()},
        "dead": [n for n, s in mon.stats.items() if s.dead],
    }


class Progress(Hook):
    """Progress bars on a terminal; without one (nohup, CI) a plain line every 10 % of an epoch; and a
    line per epoch."""

    def __init__(self, cfg: TrainConfig, info: DistInfo) -> None:
        self.cfg, self.info = cfg, info
        self.quiet = (
            not info.main or cfg.progress is False or (cfg.progress is None and not sys.stderr.isatty())
        )
        self.bar: Any = None

    def before_epoch(self, t: Trainer) -> bool:
        desc = f"epoch {t.epoch + 1}/{self.cfg.epochs}"
        self.bar = tqdm(total=t.steps_per_epoch, desc=desc, disable=self.quiet, leave=False)
        return True

    def on_step(self, t: Trainer, loss: float, n: int) -> None:
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{t.loss_sum / t.seen:.4f}")
        every = max(1, t.steps_per_epoch // 10)
        if self.quiet and self.info.main and self.cfg.progress is None and t.batch % every == 0:
            print(
                f"  epoch {t.epoch + 1}: step {t.batch}/{t.steps_per_epoch}  loss {t.loss_sum / t.seen:.4f}  "
                f"{t.seen / (time.time() - t.epoch_t0):.0f} samples/s",
                flush=True,
            )

    def on_epoch(self, t: Trainer, r: EpochResult) -> None:
        self.bar.close()
        if self.info.main:
            test = r.test or {}
            print(
                f"epoch {r.epoch}/{self.cfg.epochs}  step {r.step}  train loss {r.train_loss:.4f}  "
                f"test acc {100 * test['accuracy']:.2f}%  ({round(r.seconds, 2):.0f} s)",
                flush=True,
            )


class FiringLog(Hook):
    """The firing rate of every layer on ``calib``: once before the first step (unless resumed with a log)
    and after every epoch; into ``t.firing_log`` and ``log("firing", ...)``."""

    def __init__(self, calib: Any, batch_size: int, log: Callable[..., Any]) -> None:
        self.calib, self.batch_size, self.log = calib, batch_size, log

    def record(self, t: Trainer) -> None:
        if t.info.main:
            entry = firing_entry(t.model, self.calib, t.epoch, t.step, self.batch_size)
            t.firing_log.append(entry)
            self.log("firing", **entry)
        barrier(t.info)

    def on_start(self, t: Trainer) -> None:
        if not t.firing_log:  # one measurement before the first step (Fig. 5's epoch 0)
            self.record(t)

    def on_epoch(self, t: Trainer, r: EpochResult) -> None:
        self.record(t)


class _TrainRecords(Hook):
    """`edgesnn train`'s output folder: the start record, per-epoch records, last.pt and best.pt."""

    def __init__(self, cfg: TrainConfig, model_cfg: ModelConfig, log: JsonlLog) -> None:
        self.cfg, self.model_cfg, self.log = cfg, model_cfg, log
        self.out = Path(cfg.out_dir)

    def on_start(self, t: Trainer) -> None:
        if t.info.main:
            self.out.mkdir(parents=True, exist_ok=True)
            if not self.cfg.resume:
                self.log.reset()
                self.log("start", config=asdict(self.cfg), model=self.model_cfg.to_dict())

    def on_epoch(self, t: Trainer, r: EpochResult) -> None:
        test = r.test or {}
        record = {
            "kind": "epoch",
            "epoch": r.epoch,
            "step": r.step,
            "train_loss": r.train_loss,
            "test_accuracy": test["accuracy"],
            "test_loss": test["loss"],
            "lr": r.lr,
            "seconds": round(r.seconds, 2),
        }
        t.history.append(record)
        self.log(**record)

    def meta(self, t: Trainer, test: dict | None) -> dict:
        return {
            "dataset": self.cfg.dataset,
            "epoch": t.epoch,
            "epochs": self.cfg.epochs,
            "step": t.step,
            "accuracy": test["accuracy"] if test else None,
            "best_accuracy": t.best_acc,
            "test_samples": test["samples"] if test else None,
            "seed": self.cfg.seed,
            "world_size": t.info.world,
            "edgesnn_version": __version__,
            "torch_version": str(torch.__version__),
            "config": asdict(self.cfg),
            "history": t.history,
            "firing_log": t.firing_log,
            "layer_roles": {n: layer_role(n) for n in (t.firing_log[0]["rates"] if t.firing_log else {})},
        }


class _Checkpoints(Hook):
    def __init__(self, records: _TrainRecords) -> None:
        self.records = records

    def on_epoch(self, t: Trainer, r: EpochResult) -> None:
        if not t.info.main:
            return
        meta = self.records.meta(t, r.test)
        out = self.records.out
        checkpoint.save(out / "last.pt", t.model, meta, t.resume_state())
        if r.improved:
            checkpoint.save(out / "best.pt", t.model, meta)


def build_trainer(cfg: TrainConfig) -> Trainer:
    """`edgesnn train` as a configuration of the one loop: the dataset's preset model, its augmentation,
    cosine LR over the epochs, held-out evaluation, firing log, last.pt/best.pt and train_log.jsonl."""
    if cfg.loss not in LOSSES:
        raise TrainError(f"unknown loss {cfg.loss!r}; choose one of {LOSSES}")
    info = init_from_env()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    spec = dataset_spec(cfg.dataset)
    model_cfg = cfg.model_config()
    T = model_cfg.T
    train_ds = open_dataset(cfg.dataset, "train", cfg.data_dir, cfg.limit_train, T=T)
    test_ds = open_dataset(cfg.dataset, "test", cfg.data_dir, cfg.limit_test, T=T)
    calib = _subset(test_ds, cfg.calib_samples)
    torch.manual_seed(cfg.seed)
    model = build_model(model_cfg)
    log = JsonlLog(Path(cfg.out_dir) / "train_log.jsonl", main=info.main)
    records = _TrainRecords(cfg, model_cfg, log)
    loop = LoopConfig(
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
        loss=cfg.loss,
        seed=cfg.seed,
        schedule="cosine",
        max_steps=cfg.max_steps,
        stop_after=cfg.stop_after,
    )
    trainer = Trainer(
        model,
        train_ds,
        loop,
        wrap=nn.parallel.DistributedDataParallel if info.enabled else None,
        augment=AUGMENTATIONS[spec.augment],
        evaluate=lambda t: evaluate(t.net, t.test_ds, cfg.eval_batch_size, cfg.loss, t.info),
        test_ds=test_ds,
        hooks=[
            records,
            FiringLog(calib, cfg.eval_batch_size, log),
            _Checkpoints(records),
            Progress(cfg, info),
        ],
        info=info,
    )
    if cfg.resume:
        _resume(trainer, cfg, model_cfg)
    return trainer


def _resume(trainer: Trainer, cfg: TrainConfig, model_cfg: ModelConfig) -> None:
    last = Path(cfg.out_dir) / "last.pt"
    if not last.is_file():
        raise TrainError(f"--resume: no {last} to resume from (start without --resume)")
    payload = checkpoint.read(last)
    saved_cfg = checkpoint.config_of(payload, last)
    if saved_cfg != model_cfg:
        raise TrainError(
            f"--resume: {last} holds a {saved_cfg.label} (T={saved_cfg.T}, width={saved_cfg.width}) "
            f"but this run asks for {model_cfg.label} (T={model_cfg.T}, "
            f"width={model_cfg.width}); use the same model options or a new --out"
        )
    trainer.resume_from(payload, last)


def _subset(ds: Any, n: int) -> Any:
    if hasattr(ds, "subset"):
        return ds.subset(n)
    return torch.utils.data.Subset(ds, range(min(n, len(ds))))


def train(cfg: TrainConfig) -> dict:
    return {**build_trainer(cfg).run(), "out_dir": str(Path(cfg.out_dir))}
