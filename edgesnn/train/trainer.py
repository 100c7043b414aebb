"""One trainer for every dataset (paper Table X defaults), single-process or DDP through torchrun.

Reproducibility: the shuffle order and the augmentation of epoch ``e`` come from generators seeded with
(seed, e), so a run resumed from the checkpoint of epoch ``e`` continues exactly as if uninterrupted.
"""

from __future__ import annotations

import copy
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from edgesnn import __version__, checkpoint
from edgesnn.analysis.monitor import layer_role, measure_firing
from edgesnn.data.augment import AUGMENTATIONS
from edgesnn.data.registry import dataset_spec, open_dataset
from edgesnn.models.config import ModelConfig, preset
from edgesnn.models.resnet import SpikingResNet, build_model
from edgesnn.train.distributed import DistInfo, all_sum, barrier, init_from_env, shutdown

LOSSES = ("mse", "ce")


class TrainError(RuntimeError):
    """Training cannot start or continue; the message says why."""


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


def loss_fn(name: str, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    if name == "mse":  # paper: MSE against one-hot of the time-averaged output
        return F.mse_loss(logits, F.one_hot(y, logits.shape[-1]).to(logits.dtype))
    return F.cross_entropy(logits, y)


def model_input(x: torch.Tensor) -> torch.Tensor:
    """Batches of frame items ``[B, T, C, H, W]`` become the model's time-major ``[T, B, C, H, W]``;
    static images ``[B, C, H, W]`` pass unchanged (the model repeats them over T)."""
    return x.transpose(0, 1) if x.dim() == 5 else x


def iter_batches(ds: Any, idx: torch.Tensor, batch_size: int):
    """Raw (x, labels) batches over ``idx``; pass x through ``model_input`` before the model."""
    for i in range(0, len(idx), batch_size):
        part = idx[i : i + batch_size]
        if hasattr(ds, "get_batch"):
            x, y = ds.get_batch(part)
        else:
            items = [ds[int(j)] for j in part]
            x = torch.stack([torch.as_tensor(x) for x, _ in items])
            y = torch.tensor([int(y) for _, y in items])
        yield x, y


@torch.no_grad()
def evaluate(
    model: nn.Module,
    ds: Any,
    batch_size: int,
    loss: str,
    info: DistInfo | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> dict:
    """Accuracy and mean loss; under DDP each rank takes a shard and the counts are summed.
    ``on_batch(n)`` after each batch of n samples (progress bars)."""
    info = info or DistInfo()
    was = model.training
    model.eval()
    idx = torch.arange(len(ds))[info.rank :: info.world]
    correct = total = loss_sum = 0.0
    for x, y in iter_batches(ds, idx, batch_size):
        out = model(model_input(x))
        correct += float((out.argmax(1) == y).sum())
        total += len(y)
        loss_sum += float(loss_fn(loss, out, y)) * len(y)
        if on_batch is not None:
            on_batch(len(y))
    model.train(was)
    correct, total, loss_sum = all_sum(info, [correct, total, loss_sum])
    return {"accuracy": correct / max(total, 1), "loss": loss_sum / max(total, 1), "samples": int(total)}


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


class Trainer:
    def __init__(self, cfg: TrainConfig) -> None:
        if cfg.loss not in LOSSES:
            raise TrainError(f"unknown loss {cfg.loss!r}; choose one of {LOSSES}")
        self.cfg = cfg
        self.out = Path(cfg.out_dir)
        self.info = init_from_env()
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        spec = dataset_spec(cfg.dataset)
        self.model_cfg = cfg.model_config()
        T = self.model_cfg.T
        self.train_ds = open_dataset(cfg.dataset, "train", cfg.data_dir, cfg.limit_train, T=T)
        self.test_ds = open_dataset(cfg.dataset, "test", cfg.data_dir, cfg.limit_test, T=T)
        self.calib = _subset(self.test_ds, cfg.calib_samples)
        self.augment = AUGMENTATIONS[spec.augment]
        torch.manual_seed(cfg.seed)
        self.model = build_model(self.model_cfg)
        self.net: nn.Module = self.model
        if self.info.enabled:
            self.net = nn.parallel.DistributedDataParallel(self.model)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.opt, T_max=cfg.epochs)
        self.epoch = 0  # epochs completed
        self.step = 0
        self.best_acc = -1.0
        self.history: list[dict] = []
        self.firing_log: list[dict] = []
        if cfg.resume:
            self._resume()

    # --- checkpoint state ----------------------------------------------------------------------
    def _training_meta(self, test: dict | None) -> dict:
        return {
            "dataset": self.cfg.dataset,
            "epoch": self.epoch,
            "epochs": self.cfg.epochs,
            "step": self.step,
            "accuracy": test["accuracy"] if test else None,
            "best_accuracy": self.best_acc,
            "test_samples": test["samples"] if test else None,
            "seed": self.cfg.seed,
            "world_size": self.info.world,
            "edgesnn_version": __version__,
            "torch_version": str(torch.__version__),
            "config": asdict(self.cfg),
            "history": self.history,
            "firing_log": self.firing_log,
            "layer_roles": {
                n: layer_role(n) for n in (self.firing_log[0]["rates"] if self.firing_log else {})
            },
        }

    def _resume(self) -> None:
        last = self.out / "last.pt"
        if not last.is_file():
            raise TrainError(f"--resume: no {last} to resume from (start without --resume)")
        payload = checkpoint.read(last)
        saved_cfg = checkpoint.config_of(payload, last)
        if saved_cfg != self.model_cfg:
            raise TrainError(
                f"--resume: {last} holds a {saved_cfg.label} (T={saved_cfg.T}, width={saved_cfg.width}) "
                f"but this run asks for {self.model_cfg.label} (T={self.model_cfg.T}, "
                f"width={self.model_cfg.width}); use the same model options or a new --out"
            )
        if "resume" not in payload:
            raise TrainError(f"--resume: {last} has no optimizer state")
        checkpoint.load_into(self.model, payload["state_dict"], last)
        self.opt.load_state_dict(payload["resume"]["optimizer"])
        self.sched.load_state_dict(payload["resume"]["scheduler"])
        meta = payload["training"]
        self.epoch, self.step = int(meta["epoch"]), int(meta["step"])
        self.best_acc = float(meta["best_accuracy"])
        self.history = list(meta.get("history", []))
        self.firing_log = list(meta.get("firing_log", []))

    def _save(self, test: dict) -> None:
        if not self.info.main:
            return
        improved = test["accuracy"] > self.best_acc
        self.best_acc = max(self.best_acc, test["accuracy"])
        meta = self._training_meta(test)
        resume = {"optimizer": self.opt.state_dict(), "scheduler": self.sched.state_dict()}
        checkpoint.save(self.out / "last.pt", self.model, meta, resume)
        if improved:
            checkpoint.save(self.out / "best.pt", self.model, meta)

    def _log(self, record: dict) -> None:
        if self.info.main:
            with open(self.out / "train_log.jsonl", "a") as f:
                f.write(json.dumps(record, sort_keys=True) + "\n")

    # --- the loop ------------------------------------------------------------------------------
    def _record_firing(self) -> None:
        if self.info.main:
            entry = firing_entry(self.model, self.calib, self.epoch, self.step, self.cfg.eval_batch_size)
            self.firing_log.append(entry)
            self._log({"kind": "firing", **entry})
        barrier(self.info)

    def run(self) -> dict:
        cfg, info = self.cfg, self.info
        if info.main:
            self.out.mkdir(parents=True, exist_ok=True)
            if not cfg.resume:
                (self.out / "train_log.jsonl").unlink(missing_ok=True)
                self._log({"kind": "start", "config": asdict(cfg), "model": self.model_cfg.to_dict()})
        if not self.firing_log:  # one measurement before the first step (Fig. 5's epoch 0)
            self._record_firing()
        per_rank = cfg.batch_size // info.world
        if per_rank < 1:
            raise TrainError(f"batch size {cfg.batch_size} is smaller than the {info.world} processes")
        n = len(self.train_ds)
        steps_per_epoch = math.ceil((n // info.world) / per_rank)
        test: dict = {}
        stop_epoch = cfg.epochs if cfg.stop_after is None else min(cfg.epochs, self.epoch + cfg.stop_after)
        quiet = not info.main or cfg.progress is False or (cfg.progress is None and not sys.stderr.isatty())
        self.net.train()
        while self.epoch < stop_epoch:
            e = self.epoch
            gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + e)
            perm = torch.randperm(n, generator=gen)[info.rank :: info.world][: n // info.world]
            t0, loss_sum, seen = time.time(), 0.0, 0
            bar = tqdm(total=steps_per_epoch, desc=f"epoch {e + 1}/{cfg.epochs}", disable=quiet, leave=False)
            for i, (x, y) in enumerate(iter_batches(self.train_ds, perm, per_rank), 1):
                x = model_input(self.augment(x, gen))  # augment per sample, before time-major
                loss = loss_fn(cfg.loss, self.net(x), y)
                self.opt.zero_grad(set_to_none=True)
                loss.backward()
                self.opt.step()
                self.step += 1
                loss_sum, seen = loss_sum + float(loss.detach()) * len(y), seen + len(y)
                bar.update(1)
                bar.set_postfix(loss=f"{loss_sum / seen:.4f}")
                if quiet and info.main and cfg.progress is None and i % max(1, steps_per_epoch // 10) == 0:
                    # no terminal (nohup, CI): a plain line every 10 % instead of a bar
                    print(
                        f"  epoch {e + 1}: step {i}/{steps_per_epoch}  loss {loss_sum / seen:.4f}  "
                        f"{seen / (time.time() - t0):.0f} samples/s",
                        flush=True,
                    )
                if cfg.max_steps is not None and self.step >= cfg.max_steps:
                    break
            bar.close()
            self.sched.step()
            self.epoch += 1
            train_loss = all_sum(info, [loss_sum, seen])
            test = evaluate(self.net, self.test_ds, cfg.eval_batch_size, cfg.loss, info)
            record = {
                "kind": "epoch",
                "epoch": self.epoch,
                "step": self.step,
                "train_loss": train_loss[0] / max(train_loss[1], 1),
                "test_accuracy": test["accuracy"],
                "test_loss": test["loss"],
                "lr": self.opt.param_groups[0]["lr"],
                "seconds": round(time.time() - t0, 2),
            }
            self.history.append(record)
            self._log(record)
            self._record_firing()
            self._save(test)
            if info.main:
                print(
                    f"epoch {self.epoch}/{cfg.epochs}  step {self.step}  "
                    f"train loss {record['train_loss']:.4f}  "
                    f"test acc {100 * test['accuracy']:.2f}%  ({record['seconds']:.0f} s)",
                    flush=True,
                )
            barrier(info)
            if cfg.max_steps is not None and self.step >= cfg.max_steps:
                break
        shutdown(info)
        return {
            "epoch": self.epoch,
            "step": self.step,
            "accuracy": test.get("accuracy"),
            "best_accuracy": self.best_acc,
            "out_dir": str(self.out),
        }


def _subset(ds: Any, n: int) -> Any:
    if hasattr(ds, "subset"):
        return ds.subset(n)
    return torch.utils.data.Subset(ds, range(min(n, len(ds))))


def train(cfg: TrainConfig) -> dict:
    return Trainer(cfg).run()
