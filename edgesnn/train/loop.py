"""The one training loop: ``edgesnn train``, ``edgesnn finetune --qat`` and the zoo scripts run ``Trainer``.

What the loop owns (the same everywhere): Adam and its learning-rate schedule, the sample order and the
augmentation generator, the step (forward, loss, backward, optimiser step), the running train loss, the
stopping rules (``max_steps``, ``stop_after`` epochs, hooks such as a time budget), DDP sharding, resuming
(model, optimiser and scheduler state, epoch, step, history) and the per-epoch evaluation.

What a caller decides, explicitly:

- ``model``: the network that is checkpointed; ``wrap``: what is forwarded and optimised instead
  (``QATNet`` for quantization-aware fine-tuning, ``DistributedDataParallel`` under torchrun);
- ``train_ds``/``evaluate``: any dataset with ``__len__`` and ``get_batch`` or ``__getitem__`` (the
  registry's, or a cached one such as the zoo's emulated event frames) and the per-epoch measurement;
- ``order``: the samples of an epoch (default: a fresh permutation per epoch, seeded with (seed, epoch));
- ``hooks``: what happens around the loop (JSONL records, firing-rate log, checkpoints, progress, time
  budget); each ``Hook`` method is called on every hook in order.

Reproducibility: the order and augmentation of epoch ``e`` come from a generator seeded with (seed, e)
(or, with ``augment_rng="step"``, each step's augmentation from (seed, step)), so a run resumed from a
checkpoint continues exactly as if uninterrupted.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from edgesnn.train.distributed import DistInfo, all_sum, barrier, shutdown

if TYPE_CHECKING:
    from edgesnn.models.resnet import SpikingResNet

LOSSES = ("mse", "ce")
SCHEDULES = ("cosine", "cosine-steps", "constant")
SEED_STRIDE = 1_000_003  # generator seed of epoch (or step) e: seed * SEED_STRIDE + e


class TrainError(RuntimeError):
    """Training cannot start or continue; the message says why."""


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


@dataclass
class LoopConfig:
    """The optimisation: Adam, a learning-rate schedule, batches, seed and stopping rules."""

    epochs: int = 1
    batch_size: int = 64  # global batch (split across DDP ranks)
    lr: float = 1e-3
    weight_decay: float = 0.0
    loss: str = "mse"
    seed: int = 0
    # "cosine": CosineAnnealingLR over the epochs, stepped after each (its state is checkpointed);
    # "cosine-steps": lr * (1 + cos(pi * step / total_steps)) / 2 set before every step; "constant"
    schedule: str = "cosine"
    total_steps: int | None = None  # "cosine-steps" only
    augment_rng: str = "epoch"  # "epoch": the epoch's generator; "step": one per step, seeded (seed, step)
    max_steps: int | None = None  # stop after this many optimiser steps (the epoch is finished normally)
    stop_after: int | None = None  # stop after this many epochs in this run (time slicing; resumable)


@dataclass
class EpochResult:
    """What the loop measured over one epoch (``test`` is ``evaluate``'s dict, None without one)."""

    epoch: int  # epochs completed, this one included
    step: int
    train_loss: float
    seen: int  # training samples (all ranks)
    train_seconds: float  # the training steps (before evaluation)
    seconds: float  # the whole epoch, evaluation included
    lr: float  # after the schedule's step
    test: dict | None
    improved: bool  # test["accuracy"] beat the best so far


class Hook:
    """Callbacks around the loop; every method is optional. ``t`` is the ``Trainer``."""

    def on_start(self, t: Trainer) -> None:
        """Before the first step of this run (after any resume)."""

    def before_epoch(self, t: Trainer) -> bool:
        """Before each epoch; False stops the run (the budget hooks)."""
        return True

    def on_step(self, t: Trainer, loss: float, n: int) -> None:
        """After each optimiser step: the batch's mean loss and its size (this rank)."""

    def on_epoch(self, t: Trainer, r: EpochResult) -> None:
        """After each epoch's evaluation (records, firing log, checkpoints, progress lines)."""

    def on_end(self, t: Trainer) -> None:
        """After the last epoch of this run."""


Order = Callable[["Trainer", int], tuple[torch.Tensor, torch.Generator]]


class Trainer:
    """Trains ``wrap(model)`` (or ``model``) on ``train_ds``; see the module docstring.

    State (checkpointed by the hooks, restored by ``resume_from``): ``epoch`` (completed), ``step``,
    ``batch`` (batches already done in the current epoch: a run resumed mid-epoch skips them),
    ``best_acc``, ``history`` and ``firing_log``; ``opt`` and ``sched`` (None unless "cosine")."""

    def __init__(
        self,
        model: SpikingResNet,
        train_ds: Any,
        loop: LoopConfig,
        *,
        wrap: Callable[[nn.Module], nn.Module] | None = None,
        augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
        order: Order | None = None,
        evaluate: Callable[[Trainer], dict] | None = None,
        test_ds: Any = None,
        hooks: Sequence[Hook] = (),
        info: DistInfo | None = None,
    ) -> None:
        if loop.loss not in LOSSES:
            raise TrainError(f"unknown loss {loop.loss!r}; choose one of {LOSSES}")
        if loop.schedule not in SCHEDULES:
            raise TrainError(f"unknown schedule {loop.schedule!r}; choose one of {SCHEDULES}")
        if loop.schedule == "cosine-steps" and not loop.total_steps:
            raise TrainError("schedule 'cosine-steps' needs total_steps")
        self.loop = loop
        self.model = model
        self.train_ds = train_ds
        self.info = info or DistInfo()
        self.net: nn.Module = wrap(model) if wrap is not None else model
        self.augment = augment
        self.order = order or shuffled
        self.evaluate = evaluate
        self.test_ds = test_ds  # for ``evaluate`` and the hooks (the loop does not read it)
        self.hooks = list(hooks)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=loop.lr, weight_decay=loop.weight_decay)
        self.sched = (
            torch.optim.lr_scheduler.CosineAnnealingLR(self.opt, T_max=loop.epochs)
            if loop.schedule == "cosine"
            else None
        )
        self.epoch = 0
        self.step = 0
        self.batch = 0
        self.best_acc = -1.0
        self.history: list[dict] = []
        self.firing_log: list[dict] = []
        self.last: EpochResult | None = None
        self.stop = False  # a hook may set it to end the run after the current epoch
        # running values of the current epoch (hooks read them)
        self.loss_sum, self.seen, self.epoch_t0 = 0.0, 0, 0.0

    # --- resume ------------------------------------------------------------------------------------
    def resume_state(self) -> dict:
        """The optimiser (and scheduler) state a checkpoint's ``resume`` field holds."""
        state: dict[str, Any] = {"optimizer": self.opt.state_dict()}
        if self.sched is not None:
            state["scheduler"] = self.sched.state_dict()
        return state

    def resume_from(self, payload: dict, path: str | Path = "checkpoint") -> None:
        """Continue from a checkpoint payload written with ``resume_state()`` (``checkpoint.read``)."""
        from edgesnn import checkpoint

        if "resume" not in payload:
            raise TrainError(f"--resume: {path} has no optimizer state")
        checkpoint.load_into(self.model, payload["state_dict"], path)
        self.opt.load_state_dict(payload["resume"]["optimizer"])
        if self.sched is not None:
            self.sched.load_state_dict(payload["resume"]["scheduler"])
        meta = payload.get("training") or {}
        self.epoch, self.step = int(meta.get("epoch", 0)), int(meta.get("step", 0))
        self.batch = int(payload["resume"].get("batch", 0))
        self.best_acc = float(meta.get("best_accuracy", self.best_acc))
        self.history = list(meta.get("history", []))
        self.firing_log = list(meta.get("firing_log", []))

    # --- the loop ----------------------------------------------------------------------------------
    def _call(self, name: str, *args: Any) -> None:
        for h in self.hooks:
            getattr(h, name)(self, *args)

    @property
    def per_rank(self) -> int:
        return self.loop.batch_size // self.info.world

    @property
    def steps_per_epoch(self) -> int:
        n = len(self.train_ds)
        return math.ceil((n // self.info.world) / self.per_rank)

    def _done(self) -> bool:
        return self.loop.max_steps is not None and self.step >= self.loop.max_steps

    def run(self) -> dict:
        loop, info = self.loop, self.info
        if self.per_rank < 1:
            raise TrainError(f"batch size {loop.batch_size} is smaller than the {info.world} processes")
        stop_epoch = loop.epochs
        if loop.stop_after is not None:
            stop_epoch = min(loop.epochs, self.epoch + loop.stop_after)
        self._call("on_start")
        while self.epoch < stop_epoch and not self.stop:
            if not all(h.before_epoch(self) for h in self.hooks):
                break
            self._run_epoch()
            if self._done():
                break
        self._call("on_end")
        shutdown(info)
        test = self.last.test if self.last is not None else None
        return {
            "epoch": self.epoch,
            "step": self.step,
            "accuracy": (test or {}).get("accuracy"),
            "best_accuracy": self.best_acc,
        }

    def _run_epoch(self) -> None:
        loop, info = self.loop, self.info
        idx, gen = self.order(self, self.epoch)
        self.net.train()
        self.epoch_t0, self.loss_sum, self.seen = time.time(), 0.0, 0
        for x, y in iter_batches(self.train_ds, idx[self.batch * self.per_rank :], self.per_rank):
            if loop.schedule == "cosine-steps":
                lr = loop.lr * 0.5 * (1 + math.cos(math.pi * self.step / (loop.total_steps or 1)))
                for group in self.opt.param_groups:
                    group["lr"] = lr
            if self.augment is not None:
                g = gen if loop.augment_rng == "epoch" else step_generator(loop.seed, self.step)
                x = self.augment(x, g)  # per sample, before time-major
            loss = loss_fn(loop.loss, self.net(model_input(x)), y)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            self.step += 1
            self.batch += 1
            value = float(loss.detach())
            self.loss_sum, self.seen = self.loss_sum + value * len(y), self.seen + len(y)
            self._call("on_step", value, len(y))
            if self._done():
                break
        if self.sched is not None:
            self.sched.step()
        self.epoch += 1
        self.batch = 0
        train_seconds = time.time() - self.epoch_t0
        loss_sum, seen = all_sum(info, [self.loss_sum, self.seen])
        test = self.evaluate(self) if self.evaluate is not None else None
        improved = test is not None and test["accuracy"] > self.best_acc
        if test is not None:
            self.best_acc = max(self.best_acc, test["accuracy"])
        self.last = EpochResult(
            epoch=self.epoch,
            step=self.step,
            train_loss=loss_sum / max(seen, 1),
            seen=int(seen),
            train_seconds=train_seconds,
            seconds=time.time() - self.epoch_t0,
            lr=self.opt.param_groups[0]["lr"],
            test=test,
            improved=improved,
        )
        self._call("on_epoch", self.last)
        barrier(info)


def step_generator(seed: int, i: int) -> torch.Generator:
    """The generator of epoch (or step) ``i`` of a run seeded with ``seed``."""
    return torch.Generator().manual_seed(seed * SEED_STRIDE + i)


def shuffled(t: Trainer, epoch: int) -> tuple[torch.Tensor, torch.Generator]:
    """A fresh permutation of the training set each epoch, this rank's shard (equal shards)."""
    n, info = len(t.train_ds), t.info
    gen = step_generator(t.loop.seed, epoch)
    return torch.randperm(n, generator=gen)[info.rank :: info.world][: n // info.world], gen


def fixed(idx: torch.Tensor) -> Order:
    """The same samples, in the same order, every epoch (a subset chosen once; no DDP)."""
    return lambda t, epoch: (idx, step_generator(t.loop.seed, epoch))


# --- hooks every configuration shares --------------------------------------------------------------
class JsonlLog:
    """Appends one JSON object per line (sorted keys); ``elapsed`` adds ``elapsed_s`` since that time,
    ``echo`` prints each record (cut to ``echo`` characters)."""

    def __init__(
        self, path: str | Path, main: bool = True, elapsed: float | None = None, echo: int | None = None
    ) -> None:
        self.path, self.main, self.elapsed, self.echo = Path(path), main, elapsed, echo

    def reset(self) -> None:
        if self.main:
            self.path.unlink(missing_ok=True)

    def __call__(self, kind: str | None = None, /, **record: Any) -> dict:
        rec: dict[str, Any] = {} if kind is None else {"kind": kind}
        if self.elapsed is not None:
            rec["elapsed_s"] = round(time.time() - self.elapsed, 1)
        rec.update(record)
        if self.main:
            line = json.dumps(rec, sort_keys=True, default=str)
            with open(self.path, "a") as f:
                f.write(line + "\n")
            if self.echo is not None:
                print(line[: self.echo], flush=True)
        return rec


class TimeBudget(Hook):
    """Stops before an epoch that would end after ``deadline`` (a ``time.time()`` value), judging an
    epoch by the last one's ``seconds`` in ``t.history`` (or measured in this run); the first epoch of a
    fresh run always runs. ``on_stop(epoch)`` says so."""

    def __init__(self, deadline: float, on_stop: Callable[[int], None] | None = None) -> None:
        self.deadline, self.on_stop = deadline, on_stop

    def before_epoch(self, t: Trainer) -> bool:
        last_s = t.history[-1].get("seconds") if t.history else None
        if last_s is None and t.last is not None:
            last_s = t.last.seconds
        if last_s is not None and time.time() + last_s > self.deadline:
            if self.on_stop is not None:
                self.on_stop(t.epoch)
            return False
        return True


class EveryNSteps(Hook):
    """Calls ``fn(t, i)`` after every ``n``-th batch of an epoch (``i``: the batch's number in it)."""

    def __init__(self, n: int, fn: Callable[[Trainer, int], None]) -> None:
        self.n, self.fn = n, fn

    def on_step(self, t: Trainer, loss: float, n: int) -> None:
        if t.batch % self.n == 0:
            self.fn(t, t.batch)


def hooks_of(*groups: Hook | Iterable[Hook] | None) -> list[Hook]:
    """Flattens hooks and lists of hooks, dropping None."""
    out: list[Hook] = []
    for g in groups:
        if g is None:
            continue
        out.extend([g] if isinstance(g, Hook) else g)
    return out
