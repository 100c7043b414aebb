"""Train the event-input demo model on EMULATED DVS streams of Fashion-MNIST (CPU, 1 thread, ~1 hour).

    nohup python -m edgesnn.zoo.train_event_model --work /tmp/edgesnn-event-model \\
        > /tmp/edgesnn-event-model.out 2>&1 &

The model: a width-1/8 OR-Spiking ResNet21 without attention (every layer causal, so the exporter schedules
it time-major and a board runs it one frame at a time as events arrive), T = 8, on 2 x 17 x 17 frames.
The data: Fashion-MNIST train images turned into event streams by ``edgesnn.data.emulator`` (three
saccades, 300 ms, 34 x 34 canvas), binned by ``edgesnn.data.binning.bin_events`` exactly as
``edgesnn.data.sources.stream_frames`` bins a live or replayed stream: fixed 37.5 ms windows from the first
event (``t_start=None``), polarity split, 2 x 2 area pooling to 17 x 17, event counts. The device input is
the count as u8 (clipped at 255; the blob's ``input_scale_num`` is 255), so the float model sees
``min(count, 255) / 255``. The checkpoint records all of it under ``training["binning"]`` (the
``BinningParams`` fields) and ``training["input"]`` (sensor size, window origin, value encoding, emulator
parameters and seed); ``binning_of(payload)`` rebuilds the ``BinningParams``.

Phases, each resumable (run the same command again after an interruption):

1. plan: measure emulation, training, QAT and evaluation throughput on a few batches, then pick the number
   of training images and epochs so the whole run fits ``--budget-min`` (recorded in WORK/plan.json and
   the log; ``--train-images``/``--epochs`` override the choice);
2. emulate + bin the first N train images and the first ``--test-images`` test images (cached in WORK);
3. float training (MSE on one-hot of the mean output, Adam, cosine LR, batch 64; the last epoch is kept,
   no selection on held-out data; WORK/float_last.pt after every epoch);
4. QAT fine-tuning (``edgesnn.qat.QATNet``, int8 weights, frozen BN statistics, a few minutes);
5. held-out evaluation: float accuracy, integer (QAT) accuracy, export with ``--prune`` for qemu-mps2-an386
   and a bit-exact comparison of ``edgesnn.reference`` on the exported blob with ``QATNet.run_int``.

Then it writes ``edgesnn/zoo/emulated_fashion_mnist_or_w8_t8.pt`` and ``.log.jsonl``. All data here are
EMULATED event streams, not recordings.

The shipped model came from ``--budget-min 52 --train-images 9600 --epochs 6 --test-images 1000
--qat-images 1024`` (chosen from throughput measured under a load of ~8 on the 2 shared cores): 33.6 min,
held-out 81.1 % float, 82.3 % integer (QAT, int8), 1000/1000 bit-exact with ``edgesnn.reference``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from edgesnn import __version__, checkpoint
from edgesnn.data.binning import BinningParams, bin_events
from edgesnn.data.emulator import EmulatorParams, emulate_batch, iter_emulated
from edgesnn.data.events.types import size_wh
from edgesnn.data.frame_cache import FrameDataset, cached_frames
from edgesnn.data.images import load_fashion_mnist
from edgesnn.models.config import ModelConfig, preset
from edgesnn.models.resnet import SpikingResNet, build_model
from edgesnn.train.loop import (
    EpochResult,
    EveryNSteps,
    Hook,
    JsonlLog,
    LoopConfig,
    TimeBudget,
    Trainer,
    evaluate,
    fixed,
    iter_batches,
    loss_fn,
    model_input,
)
from edgesnn.train.trainer import FiringLog
from edgesnn.zoo import ZOO_DIR

EVENT_MODEL = ZOO_DIR / "emulated_fashion_mnist_or_w8_t8.pt"
EVENT_LOG = ZOO_DIR / "emulated_fashion_mnist_or_w8_t8.log.jsonl"
DATASET = "emulated-fashion-mnist"
DEVICE = "qemu-mps2-an386"

EMULATOR = EmulatorParams()  # 34 x 34 canvas, 3 saccades of 100 ms, no background noise
EMULATOR_SEED = 0  # sample i of a split is emulated with numpy.random.default_rng([seed, i])
T = 8
BINNING = BinningParams(
    T=T, split_by="time", window_us=math.ceil(3 * EMULATOR.saccade_ms * 1000 / T), size=(17, 17)
)
T_START = "first_event"  # window 0 starts at the stream's first event, as stream_frames does
U8_MAX = 255  # counts are sent to the device as u8, clipped here; float input = u8 / INPUT_SCALE
INPUT_SCALE = 255  # the blob's input_scale_num
MODEL = preset(
    DATASET,
    T=T,
    width=0.125,
    input_size=BINNING.size,
    attention="none",
    connect="OR",
    input_scale_num=INPUT_SCALE,
)

BATCH, LR, LOSS, SEED = 64, 5e-3, "mse", 0
QAT_LR, WEIGHT_BITS = 1e-4, 8


# --- the input contract (also used by tests and the streaming demo) -----------------------------------
def input_record() -> dict[str, Any]:
    """What ``training["input"]`` holds: everything besides ``BinningParams`` needed to rebuild a frame."""
    return {
        "kind": "events",
        "emulated": True,
        "sensor_size": list(EMULATOR.canvas),
        "t_start": T_START,
        "u8": f"min(count, {U8_MAX})",
        "float": f"u8 / {INPUT_SCALE}",
        "emulator": EMULATOR.to_dict(),
        "emulator_seed": EMULATOR_SEED,
        "binner": "edgesnn.data.binning.bin_events(events, sensor_size, binning) (t_start=None)",
    }


def binning_record(b: BinningParams = BINNING) -> dict[str, Any]:
    d = asdict(b)
    d["size"] = list(b.size) if b.size is not None else None
    return d


def binning_of(payload: dict[str, Any]) -> BinningParams:
    """The ``BinningParams`` a checkpoint recorded (payload: ``checkpoint.load(p, with_payload=True)[1]``)."""
    rec = (payload.get("training") or {}).get("binning")
    if not isinstance(rec, dict):
        raise ValueError("checkpoint field training['binning'] is missing: not an event-input model")
    return BinningParams(**{**rec, "size": tuple(rec["size"]) if rec.get("size") else None})


def to_u8(frames: np.ndarray) -> np.ndarray:
    """Binned counts ``[..., C, H, W]`` -> the u8 the device receives."""
    return np.minimum(frames, U8_MAX).astype(np.uint8)


def bin_stream(events: np.ndarray, binning: BinningParams = BINNING) -> np.ndarray:
    """One stream -> u8 frames ``[T, C, H, W]`` (the window origin is the first event, as in streaming)."""
    return to_u8(bin_events(events, size_wh(EMULATOR.canvas), binning))


def held_out(first: int, n: int, binning: BinningParams = BINNING) -> tuple[torch.Tensor, torch.Tensor]:
    """Test images ``first .. first+n-1`` as emulated streams, binned: (float input ``[T, n, C, H, W]``,
    labels). The same streams the training script's held-out evaluation used (no cache)."""
    test = load_fashion_mnist("test")
    imgs, labels = test.images[first : first + n, 0], test.labels[first : first + n]
    evs = emulate_batch(imgs, EMULATOR, EMULATOR_SEED, first)
    u8 = np.stack([bin_stream(ev, binning) for ev in evs])
    x = torch.from_numpy(u8.astype(np.float32)) / INPUT_SCALE
    return x.transpose(0, 1).contiguous(), torch.as_tensor(np.asarray(labels), dtype=torch.int64)


class ScaledFrames:
    """A cached count ``FrameDataset`` seen as model input: ``min(count, 255) / 255``."""

    def __init__(self, frames: FrameDataset) -> None:
        self.frames = frames

    def __len__(self) -> int:
        return len(self.frames)

    def get_batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.frames.get_batch(idx)
        return x.clamp_(max=U8_MAX) / INPUT_SCALE, y

    def subset(self, n: int | None) -> ScaledFrames:
        return ScaledFrames(self.frames.subset(n))


def emulated_frames(split: str, n: int, cache: Path, progress: bool = False) -> ScaledFrames:
    """The first ``n`` images of a Fashion-MNIST split, emulated and binned (cached under ``cache``)."""
    images_ds = load_fashion_mnist(split).subset(n)
    images, labels = images_ds.images[:, 0], images_ds.labels
    desc = {
        "source": "fashion-mnist",
        "split": split,
        "images_sha256": hashlib.sha256(images.tobytes() + labels.tobytes()).hexdigest(),
        "emulator": EMULATOR.to_dict(),
        "seed": EMULATOR_SEED,
        "binning": binning_record(),
        "t_start": T_START,
    }

    def samples() -> Iterator[tuple[np.ndarray, int]]:
        for ev, label in zip(iter_emulated(images, EMULATOR, EMULATOR_SEED), labels, strict=True):
            yield bin_events(ev, size_wh(EMULATOR.canvas), BINNING), int(label)

    H, W = BINNING.out_hw(size_wh(EMULATOR.canvas))
    shape = (BINNING.T, BINNING.channels, H, W)
    ds = cached_frames(cache, f"event-model-{split}", desc, len(labels), shape, samples, progress)
    return ScaledFrames(ds)


# --- bookkeeping ----------------------------------------------------------------------------------------
class Run:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.log_path = work / "train_log.jsonl"
        self.t0 = time.time()
        self.log = JsonlLog(self.log_path, elapsed=self.t0, echo=400)


def _rate(fn: Any, n_samples: int, repeats: int = 2) -> float:
    fn()  # warm-up
    t0 = time.time()
    for _ in range(repeats):
        fn()
    return n_samples * repeats / (time.time() - t0)


def measure(run: Run) -> dict[str, float]:
    """Samples per second of each phase on this machine now (a few batches each)."""
    from edgesnn.qat import QATNet

    test = load_fashion_mnist("test").subset(BATCH)
    imgs = test.images[:, 0]
    t0 = time.time()
    evs = emulate_batch(imgs, EMULATOR, EMULATOR_SEED, 0)
    emulate = len(imgs) / (time.time() - t0)
    u8 = np.stack([bin_stream(ev) for ev in evs])
    x = torch.from_numpy(u8.astype(np.float32)).transpose(0, 1) / INPUT_SCALE
    y = torch.as_tensor(np.asarray(test.labels), dtype=torch.int64)
    torch.manual_seed(SEED)
    net = build_model(MODEL)
    opt = torch.optim.Adam(net.parameters(), lr=LR)

    def step(model: torch.nn.Module, o: torch.optim.Optimizer) -> None:
        loss = loss_fn(LOSS, model(x), y)
        o.zero_grad(set_to_none=True)
        loss.backward()
        o.step()

    net.train()
    train = _rate(lambda: step(net, opt), BATCH, 3)
    net.eval()
    with torch.no_grad():
        float_eval = _rate(lambda: net(x), BATCH)
    qat = QATNet(net, WEIGHT_BITS, static_input=False)
    qopt = torch.optim.Adam(qat.parameters(), lr=QAT_LR)
    qat.train()
    qat_train = _rate(lambda: step(qat, qopt), BATCH, 1)
    int_eval = _rate(lambda: qat.run_int(x), BATCH, 1)
    rates = {
        "emulate": emulate,
        "train": train,
        "float_eval": float_eval,
        "qat_train": qat_train,
        "int_eval": int_eval,
    }
    run.log("throughput", samples_per_s={k: round(v, 2) for k, v in rates.items()}, batch=BATCH)
    return rates


def make_plan(args: argparse.Namespace, run: Run) -> dict[str, Any]:
    path = run.work / "plan.json"
    if path.is_file():
        plan = json.loads(path.read_text())
        run.log("plan-reused", **plan)
        return plan
    r = measure(run)
    n_test, margin = args.test_images, args.contention
    budget = args.budget_min * 60
    qat_images = args.qat_images or int(min(60000, args.qat_min * 60 * r["qat_train"] / margin))
    post = margin * (  # after float training: QAT and the held-out evaluations
        2 * n_test / r["int_eval"]  # post-training-quantization and QAT integer accuracy
        + 2.5 * n_test / r["int_eval"]  # reference on the blob (~ run_int speed) + export + slack
        + 2 * n_test / r["float_eval"]
        + qat_images / r["qat_train"]
        + 30
    )
    fixed = post + margin * (n_test / r["emulate"] + 30)  # + test emulation, plan, loading
    left = budget - fixed
    per_epoch_eval = margin * (n_test + 256) / r["float_eval"]
    if args.train_images and args.epochs:
        n_train, epochs = args.train_images, args.epochs
    else:
        epochs = args.epochs or 6
        # time(n) = n/emulate + epochs * (n/train + eval): solve for n, at most the full train split
        per_image = margin * (1 / r["emulate"] + epochs / r["train"])
        n_train = args.train_images or int((left - epochs * per_epoch_eval) / per_image)
        n_train = min(60000, n_train // BATCH * BATCH)
        if n_train < 20 * BATCH:
            raise SystemExit(
                f"edgesnn: budget {args.budget_min} min leaves {left:.0f} s for training: too little "
                "(raise --budget-min or lower --test-images)"
            )
    est = fixed + margin * n_train * (1 / r["emulate"] + epochs / r["train"]) + epochs * per_epoch_eval
    plan = {
        "started_at": run.t0,
        "post_training_s": round(post, 1),
        "budget_min": args.budget_min,
        "contention_margin": margin,
        "rates": {k: round(v, 2) for k, v in r.items()},
        "train_images": n_train,
        "epochs": epochs,
        "test_images": n_test,
        "qat_images": qat_images,
        "estimated_min": round(est / 60, 1),
        "how": "train images chosen so that emulation + epochs x training + evaluations + QAT fit the "
        "budget at the measured rates x the contention margin",
    }
    path.write_text(json.dumps(plan, indent=1, sort_keys=True))
    run.log("plan", **plan)
    return plan


def _meta(extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "dataset": DATASET,
        "binning": binning_record(),
        "input": input_record(),
        "seed": SEED,
        "edgesnn_version": __version__,
        "torch_version": str(torch.__version__),
        "script": "python -m edgesnn.zoo.train_event_model",
        **extra,
    }


# --- phases ---------------------------------------------------------------------------------------------
class _FloatEpochs(Hook):
    """Each epoch's record (``history`` and the log) before the firing log; ``_SaveFloat`` after it."""

    def __init__(self, run: Run) -> None:
        self.run = run

    def on_epoch(self, t: Trainer, r: EpochResult) -> None:
        test = r.test or {}
        record = {
            "epoch": r.epoch,
            "step": r.step,
            "train_loss": r.train_loss,
            "test_accuracy": test["accuracy"],
            "test_loss": test["loss"],
            "lr": r.lr,
            "seconds": round(r.seconds, 1),
            "train_samples_per_s": round(r.seen / r.train_seconds, 1),
        }
        t.history.append(record)
        self.run.log("epoch", **record)


class _SaveFloat(Hook):
    def __init__(self, last: Path, epochs: int, plan: dict[str, Any]) -> None:
        self.last, self.epochs, self.plan = last, epochs, plan

    def on_epoch(self, t: Trainer, r: EpochResult) -> None:
        meta = _meta({"epoch": t.epoch, "epochs": self.epochs, "step": t.step,
                      "accuracy": (r.test or {})["accuracy"], "history": t.history,
                      "firing_log": t.firing_log, "plan": self.plan})  # fmt: skip
        checkpoint.save(self.last, t.model, meta, t.resume_state())


def _progress(every: int, line: Callable[[Trainer, int], str]) -> EveryNSteps:
    return EveryNSteps(every, lambda t, i: print(line(t, i), flush=True))


def train_float(
    run: Run, plan: dict[str, Any], train_ds: ScaledFrames, test_ds: ScaledFrames
) -> SpikingResNet:
    """Float training on the cached frames: ``edgesnn.train.loop.Trainer`` with cosine LR over the epochs,
    no augmentation, the firing log, WORK/float_last.pt after every epoch and the time budget."""
    last = run.work / "float_last.pt"
    epochs = int(plan["epochs"])
    torch.manual_seed(SEED)
    net = build_model(MODEL)
    deadline = float(plan["started_at"]) + 60 * float(plan["budget_min"]) - float(plan["post_training_s"])

    def stopped(epoch: int) -> None:
        run.log("deadline", epoch=epoch, epochs=epochs, note="stopped early to stay in the time budget")

    def line(t: Trainer, i: int) -> str:
        rate = t.seen / (time.time() - t.epoch_t0)
        return f"  epoch {t.epoch + 1} step {i}: loss {t.loss_sum / t.seen:.4f}, {rate:.1f} samples/s"

    trainer = Trainer(
        net,
        train_ds,  # cached, emulated and binned once (emulated_frames)
        LoopConfig(epochs=epochs, batch_size=BATCH, lr=LR, loss=LOSS, seed=SEED, schedule="cosine"),
        evaluate=lambda t: evaluate(t.net, t.test_ds, 256, LOSS),
        test_ds=test_ds,
        hooks=[
            TimeBudget(deadline, stopped),
            _progress(100, line),
            _FloatEpochs(run),
            FiringLog(test_ds.subset(256), 256, run.log),
            _SaveFloat(last, epochs, plan),
        ],
    )
    if last.is_file():
        trainer.resume_from(checkpoint.read(last), last)
        run.log("resume-float", epoch=trainer.epoch, step=trainer.step)
    trainer.run()
    net.eval()
    return net


def qat_finetune(run: Run, plan: dict[str, Any], net: SpikingResNet, train_ds: ScaledFrames,
                 test_ds: ScaledFrames) -> dict[str, Any]:  # fmt: skip
    """Fine-tune ``net`` in place through ``QATNet`` (``Trainer`` with the QAT wrapper, constant LR, one
    pass over a fixed random subset); returns accuracies (WORK/qat.pt holds the result)."""
    from edgesnn.qat import QATNet
    from edgesnn.qat.finetune import int_accuracy

    done = run.work / "qat.pt"
    if done.is_file():
        payload = checkpoint.read(done)
        checkpoint.load_into(net, payload["state_dict"], done)
        run.log("resume-qat")
        return dict(payload["training"]["qat"])
    n = min(int(plan["qat_images"]), len(train_ds))
    gen = torch.Generator().manual_seed(SEED * 1_000_003 + 1000)
    perm = torch.randperm(len(train_ds), generator=gen)[:n]
    trainer = Trainer(
        net,
        train_ds,
        LoopConfig(epochs=1, batch_size=BATCH, lr=QAT_LR, loss=LOSS, seed=SEED, schedule="constant"),
        wrap=lambda m: QATNet(m, WEIGHT_BITS, static_input=False),
        order=fixed(perm),
        hooks=[_progress(20, lambda t, i: f"  qat step {i}: loss {t.loss_sum / t.seen:.4f}")],
    )
    qat = cast(QATNet, trainer.net)  # what wrap made
    t0 = time.time()
    ptq = int_accuracy(qat, test_ds, 256)
    run.log("ptq", int_accuracy=ptq, seconds=round(time.time() - t0, 1))
    torch.manual_seed(SEED)
    trainer.run()
    r = trainer.last
    assert r is not None
    qat.eval()
    acc = int_accuracy(qat, test_ds, 256)
    result = {
        "weight_bits": WEIGHT_BITS,
        "lr": QAT_LR,
        "images": r.seen,
        "steps": trainer.step,
        "train_loss": r.train_loss,
        "seconds": round(r.train_seconds, 1),
        "ptq_int_accuracy": ptq,
        "int_accuracy": acc,
        "bn": "frozen running statistics (folded every forward)",
    }
    run.log("qat", **result)
    net.eval()
    checkpoint.save(done, net, _meta({"qat": result}))
    return result


@torch.no_grad()
def check_exact(run: Run, net: SpikingResNet, test_ds: ScaledFrames) -> dict[str, Any]:
    """Export with --prune for the QEMU board and compare the integer reference on the blob with
    ``QATNet.run_int`` on every held-out stream; float accuracy and float-vs-integer agreement too."""
    from edgesnn.devices import load_profile
    from edgesnn.export.agreement import to_u8 as float_to_u8
    from edgesnn.export.pipeline import export_model
    from edgesnn.qat import QATNet, int_net_for_export
    from edgesnn.reference import run_batch

    t0 = time.time()
    idx = torch.arange(len(test_ds))
    calib = [(model_input(x), y) for x, y in iter_batches(test_ds, idx[:256], 128)]
    res = export_model(
        net, calib, load_profile(DEVICE), WEIGHT_BITS, prune=True, int_model=int_net_for_export
    )
    qat = QATNet(net, WEIGHT_BITS, static_input=False).eval()  # eval: run_int leaves the net in eval mode
    n = exact_logits = exact_counts = same_pred = right_f = right_i = 0
    pruned = bool(res.prune and res.prune.removed)
    for x, y in iter_batches(test_ds, idx, 256):
        xi = model_input(x)
        mine = qat.run_int(xi)
        ref = run_batch(res.blob, float_to_u8(x, INPUT_SCALE))
        exact_logits += int((ref.logits == mine.logits.numpy()).all(1).sum())
        if not pruned:
            exact_counts += int((ref.spike_counts == mine.spike_counts.numpy()).all(1).sum())
        pf = net.eval()(xi).argmax(1).numpy()  # never in train mode: BN statistics must not move
        same_pred += int((pf == ref.predicted).sum())
        right_f += int((pf == y.numpy()).sum())
        right_i += int((ref.predicted == y.numpy()).sum())
        n += len(y)
    out = {
        "samples": n,
        "float_accuracy": right_f / n,
        "int_accuracy_reference": right_i / n,
        "bit_exact_logits": exact_logits,
        "bit_exact_spike_counts": None if pruned else exact_counts,
        "float_int_agreement": same_pred / n,
        "device": DEVICE,
        "pruned_shortcuts": list(res.prune.removed) if res.prune else [],
        "schedule": res.plan.schedule,
        "peak_ram_bytes": res.plan.peak_ram_bytes,
        "flash_bytes": res.plan.flash_bytes,
        "blob_bytes": len(res.blob),
        "blob_sha256": hashlib.sha256(res.blob).hexdigest(),
        "seconds": round(time.time() - t0, 1),
    }
    run.log("exact", **out)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default="/tmp/edgesnn-event-model", help="scratch folder (outside the repo)")
    ap.add_argument("--budget-min", type=float, default=52.0, help="wall-time budget of the whole run")
    ap.add_argument("--contention", type=float, default=1.4, help="planned slowdown from other jobs")
    ap.add_argument("--test-images", type=int, default=2000, help="held-out test images (default 2000)")
    ap.add_argument("--train-images", type=int, help="fix the number of training images (default: plan)")
    ap.add_argument("--epochs", type=int, help="fix the epochs (default 6, images fitted to the budget)")
    ap.add_argument("--qat-min", type=float, default=4.0, help="minutes of QAT fine-tuning to plan for")
    ap.add_argument("--qat-images", type=int, help="fix the number of QAT training images")
    ap.add_argument("--threads", type=int, default=1, help="1: more threads spin-wait on a busy 2-core box")
    ap.add_argument("--no-copy", action="store_true", help="do not copy the result into edgesnn/zoo/")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    run = Run(work)
    run.log("start", args=vars(args), model=MODEL.to_dict(), binning=binning_record(), input=input_record(),
            batch=BATCH, lr=LR, loss=LOSS, seed=SEED, torch_version=str(torch.__version__))  # fmt: skip
    plan = make_plan(args, run)
    t0 = time.time()
    test_ds = emulated_frames("test", int(plan["test_images"]), work / "cache")
    train_ds = emulated_frames("train", int(plan["train_images"]), work / "cache")
    run.log("data", train=len(train_ds), test=len(test_ds), seconds=round(time.time() - t0, 1))
    net = train_float(run, plan, train_ds, test_ds)
    float_before = evaluate(net, test_ds, 256, LOSS)["accuracy"]
    qat = qat_finetune(run, plan, net, train_ds, test_ds)
    exact = check_exact(run, net, test_ds)
    history = [json.loads(s) for s in (work / "train_log.jsonl").read_text().splitlines()]
    meta = _meta({
        "epoch": int(plan["epochs"]),
        "epochs": int(plan["epochs"]),
        "accuracy": exact["int_accuracy_reference"],
        "float_accuracy_before_qat": float_before,
        "float_accuracy": exact["float_accuracy"],
        "test_samples": exact["samples"],
        "held_out": f"Fashion-MNIST test images 0..{exact['samples'] - 1}, emulated (seed {EMULATOR_SEED})",
        "plan": plan,
        "qat": qat,
        "bit_exact": exact,
        "history": [h for h in history if h["kind"] == "epoch"],
        "firing_log": [h for h in history if h["kind"] == "firing"],
        "config": {"batch_size": BATCH, "lr": LR, "loss": LOSS},
    })  # fmt: skip
    final = checkpoint.save(work / "final.pt", net, meta)
    run.log("done", float_accuracy=exact["float_accuracy"], int_accuracy=exact["int_accuracy_reference"],
            bit_exact=f"{exact['bit_exact_logits']}/{exact['samples']}",
            total_min=round((time.time() - run.t0) / 60, 1))  # fmt: skip
    if not args.no_copy:
        shutil.copyfile(final, EVENT_MODEL)
        shutil.copyfile(run.log_path, EVENT_LOG)
        print(f"copied {final} to {EVENT_MODEL} and the log to {EVENT_LOG}")


def check_config(config: ModelConfig, binning: BinningParams) -> list[str]:
    """Problems that make a model and a binning incompatible (empty when they fit together)."""
    problems = []
    if binning.T != config.T:
        problems.append(f"binning T={binning.T} but model T={config.T}")
    if binning.channels != config.in_channels:
        problems.append(f"binning gives {binning.channels} channels, model takes {config.in_channels}")
    if tuple(binning.out_hw(size_wh(EMULATOR.canvas))) != tuple(config.input_size):
        problems.append(f"binning size {binning.size} but model input {config.input_size}")
    return problems


if __name__ == "__main__":
    main()
