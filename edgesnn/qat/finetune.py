"""QAT fine-tuning loop: from a trained float checkpoint to a checkpoint whose ``.esnn`` export computes
exactly what the fine-tuned ``QATNet`` computed (same weights, same quantization rule).

BatchNorm statistics stay frozen (eval statistics, folded in every forward); conv weights, BN gamma/beta
and the readout train through straight-through estimators. Accuracy is measured with the integer
semantics (``QATNet.run_int``), i.e. the accuracy of the exported model.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from edgesnn import __version__, checkpoint
from edgesnn.data.augment import AUGMENTATIONS
from edgesnn.data.registry import dataset_spec, open_dataset
from edgesnn.qat.model import QATNet
from edgesnn.train.trainer import evaluate, iter_batches, loss_fn, model_input


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


@torch.no_grad()
def int_accuracy(qat: QATNet, ds: Any, batch_size: int) -> float:
    """Top-1 accuracy of the integer semantics (argmax of the integer logits, ties to the lowest index)."""
    right = total = 0
    for x, y in iter_batches(ds, torch.arange(len(ds)), batch_size):
        right += int((qat.run_int(model_input(x)).logits.argmax(1) == y).sum())
        total += len(y)
    return right / max(total, 1)


def _log(path: Path, record: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")


def finetune(cfg: FinetuneConfig, say: Callable[[str], None] = print) -> dict:
    """Fine-tune; writes OUT/best.pt (best integer accuracy, the starting point included), OUT/last.pt
    (the weights after the last epoch) and OUT/finetune_log.jsonl (its records are also under the
    checkpoints' ``training['qat']``). Returns the settings and accuracies."""
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
    qat = QATNet(net, cfg.weight_bits, static_input=not spec.frames)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "finetune_log.jsonl"
    log.unlink(missing_ok=True)

    float_acc = evaluate(net, test_ds, cfg.eval_batch_size, loss)["accuracy"]
    start_acc = int_accuracy(qat, test_ds, cfg.eval_batch_size)
    say(f"float {100 * float_acc:.2f}%  integer (post-training quantization) {100 * start_acc:.2f}%")
    summary: dict[str, Any] = {
        **asdict(cfg),
        "dataset": dataset,
        "loss": loss,
        "float_accuracy": float_acc,
        "ptq_accuracy": start_acc,
        "export": f"edgesnn export {out / 'best.pt'} --prune --weight-bits {cfg.weight_bits}",
    }
    history = [{"epoch": 0, "step": 0, "int_accuracy": start_acc}]
    _log(log, {"kind": "start", **summary})
    best, step = start_acc, 0

    def save(name: str, epoch: int, acc: float) -> None:
        meta = {
            **{k: v for k, v in src.items() if k not in ("history", "firing_log")},
            "dataset": dataset,
            "epoch": epoch,
            "step": step,
            "accuracy": acc,
            "best_accuracy": best,
            "edgesnn_version": __version__,
            "qat": {**summary, "int_accuracy": acc, "history": history},
        }
        checkpoint.save(out / name, net, meta)

    save("best.pt", 0, start_acc)
    opt = torch.optim.Adam(qat.parameters(), lr=cfg.lr)
    augment = AUGMENTATIONS[spec.augment]
    torch.manual_seed(cfg.seed)
    for e in range(cfg.epochs):
        gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + e)
        perm = torch.randperm(len(train_ds), generator=gen)
        qat.train()
        t0, loss_sum, seen = time.time(), 0.0, 0
        for x, y in iter_batches(train_ds, perm, cfg.batch_size):
            value = loss_fn(loss, qat(model_input(augment(x, gen))), y)
            opt.zero_grad(set_to_none=True)
            value.backward()
            opt.step()
            step += 1
            loss_sum, seen = loss_sum + float(value.detach()) * len(y), seen + len(y)
            if cfg.max_steps is not None and step >= cfg.max_steps:
                break
        acc = int_accuracy(qat, test_ds, cfg.eval_batch_size)
        record = {"epoch": e + 1, "step": step, "train_loss": loss_sum / max(seen, 1), "int_accuracy": acc}
        history.append(record)
        _log(log, {"kind": "epoch", **record, "seconds": round(time.time() - t0, 2)})
        say(f"epoch {e + 1}/{cfg.epochs}  step {step}  loss {record['train_loss']:.4f}  int {100 * acc:.2f}%")
        if acc > best:
            best = acc
            save("best.pt", e + 1, acc)
        save("last.pt", e + 1, acc)
        if (cfg.max_steps is not None and step >= cfg.max_steps) or math.isnan(record["train_loss"]):
            break
    summary.update(best_int_accuracy=best, steps=step, history=history)
    return summary
