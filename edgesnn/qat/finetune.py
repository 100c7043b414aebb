"""QAT fine-tuning loop: from a trained float checkpoint to a checkpoint whose ``.esnn`` export computes
exactly what the fine-tuned ``QATNet`` computed (same weights, same quantization rule).

BatchNorm statistics stay frozen (eval statistics, folded in every forward); conv weights, BN gamma/beta
and the readout train through straight-through estimators. Accuracy is measured with the integer
semantics (``QATNet.run_int``), i.e. the accuracy of the exported model.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import torch

from edgesnn import __version__, checkpoint
from edgesnn.data.augment import AUGMENTATIONS
from edgesnn.data.registry import dataset_spec, open_dataset
from edgesnn.qat.model import QATNet
from edgesnn.train.loop import (
    EpochResult,
    Hook,
    JsonlLog,
    LoopConfig,
    Trainer,
    TrainError,
    evaluate,
    iter_batches,
    model_input,
)


@dataclass
class FinetuneConfig:
    checkpoint: str
    out_dir: str
    epochs: int = 1
    lr: float = 1e-4
    weight_bits: int = 8
    batch_size: int = 64
    loss: str | None = None  # None: the loss the checkpoint was trained with (mse if unknown)
    dataset: str | None = None  # None: the checkpoint's dataset
    data_dir: str | None = None
    limit_train: int | None = None
    limit_test: int | None = None
    max_steps: int | None = None
    seed: int = 0
    eval_batch_size: int = 256
    threads: int | None = None
    resume: bool = False  # continue from OUT/last.pt (library only; the CLI has no flag for it yet)


@torch.no_grad()
def int_accuracy(qat: QATNet, ds: Any, batch_size: int) -> float:
    """Top-1 accuracy of the integer semantics (argmax of the integer logits, ties to the lowest index)."""
    right = total = 0
    for x, y in iter_batches(ds, torch.arange(len(ds)), batch_size):
        right += int((qat.run_int(model_input(x)).logits.argmax(1) == y).sum())
        total += len(y)
    return right / max(total, 1)


class _FinetuneRecords(Hook):
    """finetune_log.jsonl's epoch records, ``training["qat"]["history"]``, best.pt and last.pt."""

    def __init__(
        self, log: JsonlLog, save: Callable[..., None], epochs: int, say: Callable[[str], None]
    ) -> None:
        self.log, self.save, self.epochs, self.say = log, save, epochs, say

    def on_epoch(self, t: Trainer, r: EpochResult) -> None:
        acc = (r.test or {})["accuracy"]
        record = {"epoch": r.epoch, "step": r.step, "train_loss": r.train_loss, "int_accuracy": acc}
        t.history.append(record)
        self.log("epoch", **record, seconds=round(r.seconds, 2))
        self.say(
            f"epoch {r.epoch}/{self.epochs}  step {r.step}  loss {r.train_loss:.4f}  int {100 * acc:.2f}%"
        )
        if r.improved:
            self.save(t, "best.pt", acc)
        self.save(t, "last.pt", acc)
        if math.isnan(r.train_loss):
            t.stop = True


def finetune(cfg: FinetuneConfig, say: Callable[[str], None] = print) -> dict:
    """Fine-tune; writes OUT/best.pt (best integer accuracy, the starting point included), OUT/last.pt
    (the weights after the last epoch, with the optimiser state to resume from) and OUT/finetune_log.jsonl
    (its records are also under the checkpoints' ``training['qat']``). Returns the settings and accuracies.
    The loop is ``edgesnn.train.loop.Trainer`` with ``QATNet`` as the wrapper and the integer accuracy as
    the evaluation; the learning rate is constant."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    net, payload = checkpoint.load(cfg.checkpoint, with_payload=True)
    src = payload.get("training", {})
    dataset = cfg.dataset or src.get("dataset") or "fashion-mnist"
    loss = cfg.loss or (src.get("config") or {}).get("loss") or "mse"
    spec = dataset_spec(dataset)
    T = net.config.T
    train_ds = open_dataset(dataset, "train", cfg.data_dir, cfg.limit_train, T=T)
    test_ds = open_dataset(dataset, "test", cfg.data_dir, cfg.limit_test, T=T)
    out = Path(cfg.out_dir)
    last = out / "last.pt"
    if cfg.resume and not last.is_file():
        raise TrainError(f"--resume: no {last} to resume from (start without --resume)")
    loop = LoopConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, loss=loss, seed=cfg.seed,
                      schedule="constant", max_steps=cfg.max_steps)  # fmt: skip
    trainer = Trainer(
        net,
        train_ds,
        loop,
        wrap=lambda m: QATNet(m, cfg.weight_bits, static_input=not spec.frames),
        augment=AUGMENTATIONS[spec.augment],
        evaluate=lambda t: {"accuracy": int_accuracy(cast(QATNet, t.net), t.test_ds, cfg.eval_batch_size)},
        test_ds=test_ds,
    )
    qat = cast(QATNet, trainer.net)  # what wrap made
    out.mkdir(parents=True, exist_ok=True)
    log = JsonlLog(out / "finetune_log.jsonl")

    saved = checkpoint.read(last) if cfg.resume else None
    if saved is not None:
        float_acc, start_acc = (saved["training"]["qat"][k] for k in ("float_accuracy", "ptq_accuracy"))
    else:
        log.reset()
        float_acc = evaluate(net, test_ds, cfg.eval_batch_size, loss)["accuracy"]
        start_acc = int_accuracy(qat, test_ds, cfg.eval_batch_size)
        say(f"float {100 * float_acc:.2f}%  integer (post-training quantization) {100 * start_acc:.2f}%")
    summary: dict[str, Any] = {
        **{k: v for k, v in asdict(cfg).items() if k != "resume"},
        "dataset": dataset,
        "loss": loss,
        "float_accuracy": float_acc,
        "ptq_accuracy": start_acc,
        "export": f"edgesnn export {out / 'best.pt'} --prune --weight-bits {cfg.weight_bits}",
    }

    def save(t: Trainer, name: str, acc: float) -> None:
        meta = {
            **{k: v for k, v in src.items() if k not in ("history", "firing_log")},
            "dataset": dataset,
            "epoch": t.epoch,
            "step": t.step,
            "accuracy": acc,
            "best_accuracy": t.best_acc,
            "edgesnn_version": __version__,
            "qat": {**summary, "int_accuracy": acc, "history": t.history},
        }
        checkpoint.save(out / name, net, meta, t.resume_state() if name == "last.pt" else None)

    if saved is not None:
        trainer.resume_from(saved, last)
        trainer.history = list(saved["training"]["qat"]["history"])
    else:
        trainer.history = [{"epoch": 0, "step": 0, "int_accuracy": start_acc}]
        trainer.best_acc = start_acc
        log("start", **summary)
        save(trainer, "best.pt", start_acc)
    trainer.hooks.append(_FinetuneRecords(log, save, cfg.epochs, say))
    torch.manual_seed(cfg.seed)
    trainer.run()
    summary.update(best_int_accuracy=trainer.best_acc, steps=trainer.step, history=trainer.history)
    return summary
