"""The main job, end to end on this machine (grows with the project):

1. evaluate the shipped demo model (width-1/8 SynA-C OR-Spiking ResNet21, T=4) on the full held-out
   Fashion-MNIST set and show the firing rate of every LIF layer and IA gate, with each shortcut's fate;
2. export it with --prune for the emulated Cortex-M4 board profile (integer .esnn) and run held-out images
   through the C runtime, checking every result bit for bit against the Python integer reference;
3. train a small model for a few hundred steps on real Fashion-MNIST and analyse it the same way.
"""

from __future__ import annotations

import argparse
import time

import torch

from edgesnn import checkpoint
from edgesnn.analysis.monitor import measure_firing
from edgesnn.analysis.shortcuts import shortcut_histories
from edgesnn.analysis.tables import firing_table
from edgesnn.data.registry import open_dataset
from edgesnn.train.trainer import TrainConfig, evaluate, train
from edgesnn.zoo import DEMO_MODEL

HELP = "run the end-to-end demo (shipped model + a quick training run)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="Fashion-MNIST folder (default /usr/share/datasets/fashion-mnist)")
    p.add_argument("--out", default="runs/demo", help="folder for the quick training run")
    p.add_argument("--steps", type=int, default=300, help="optimiser steps of the quick training run")
    p.add_argument("--calib", type=int, default=512, help="held-out samples for firing rates")
    p.add_argument("--skip-train", action="store_true", help="skip the quick training run")
    p.add_argument(
        "--eval", type=int, help="evaluate the shipped model on the first N test images (default all)"
    )
    p.add_argument("--check", type=int, default=200, help="held-out images run through the C runtime")


def _analyse(
    model: torch.nn.Module, payload: dict, data_dir: str | None, calib: int, eval_limit: int | None
) -> None:
    test = open_dataset("fashion-mnist", "test", data_dir, eval_limit)
    t0 = time.time()
    acc = evaluate(model, test, 500, "mse")
    print(
        f"held-out accuracy: {100 * acc['accuracy']:.2f}% on {acc['samples']} Fashion-MNIST test images "
        f"({acc['samples'] / (time.time() - t0):.0f} samples/s)"
    )
    sub = test.subset(calib)
    mon = measure_firing(
        model, (sub.get_batch(torch.arange(i, min(i + 256, len(sub))))[0] for i in range(0, len(sub), 256))
    )
    print(firing_table(mon, f"firing rates on {len(sub)} held-out images (eval mode):"))
    log = payload.get("training", {}).get("firing_log", [])
    histories = shortcut_histories(log)
    if histories:
        print("shortcuts over training (from the checkpoint's firing log):")
        for h in histories:
            now = "silent" if mon.stats[h.name].dead else f"rate {mon.stats[h.name].rate:.4f}"
            print(f"  {h.name:<32} {h.status:<22} now {now}")


def _export_and_check(model: torch.nn.Module, data_dir: str | None, calib: int, n_check: int) -> None:
    import numpy as np

    from edgesnn.devices import load_profile
    from edgesnn.export.agreement import to_u8
    from edgesnn.export.pipeline import export_model
    from edgesnn.reference import run_batch
    from edgesnn.runtime.c import CRuntime, CRuntimeUnavailable

    test = open_dataset("fashion-mnist", "test", data_dir)
    calib_batches = [test.get_batch(torch.arange(i, min(i + 128, calib))) for i in range(0, calib, 128)]
    result = export_model(model, calib_batches, load_profile("qemu-mps2-an386"), 8, prune=True)
    removed = list(result.prune.removed) if result.prune else []
    a = result.agreement
    print(f"pruned shortcuts: {', '.join(removed) or 'none'}; schedule {result.plan.schedule}; "
          f"RAM peak {result.plan.peak_ram_bytes:,} B, flash {result.plan.flash_bytes:,} B "
          f"({result.device.name})")  # fmt: skip
    print(f"float vs int8 on {a.samples} calibration images: top-1 agreement {100 * a.agreement:.1f}%, "
          f"accuracy {100 * a.float_accuracy:.2f}% -> {100 * a.int_accuracy:.2f}%")  # fmt: skip
    try:
        rt = CRuntime()
    except CRuntimeUnavailable as exc:
        print(f"  (C runtime not available here: {exc})")
        return
    x, y = test.get_batch(torch.arange(calib, calib + n_check))
    u8 = to_u8(x, 255)
    ref = run_batch(result.blob, u8)
    exact = 0
    for i in range(len(u8)):
        got = rt.run(result.blob, u8[i][None])
        exact += bool(np.array_equal(got.logits, ref.logits[i]))
    acc = float((np.asarray(ref.predicted) == y.numpy()).mean())
    print(f"C runtime on {len(u8)} other held-out images: {exact}/{len(u8)} bit-exact with the reference; "
          f"integer accuracy {100 * acc:.2f}%")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    print(f"== 1. shipped demo model: {DEMO_MODEL.name}")
    if DEMO_MODEL.is_file():
        model, payload = checkpoint.load(DEMO_MODEL, with_payload=True)
        print(
            f"{model.config.label}, width {model.config.width}, T={model.config.T}, "
            f"{sum(p.numel() for p in model.parameters()):,} parameters"
        )
        _analyse(model, payload, args.data_dir, args.calib, args.eval)
        print("\n== 2. export --prune -> .esnn for qemu-mps2-an386, C runtime vs integer reference")
        _export_and_check(model, args.data_dir, args.calib, args.check)
    else:
        print("  (not present in this checkout: train it with `python -m edgesnn.zoo.train_demo_model`)")
    if args.skip_train:
        return 0
    print(f"\n== 3. quick training run: {args.steps} steps on real Fashion-MNIST -> {args.out}")
    cfg = TrainConfig(
        dataset="fashion-mnist",
        out_dir=args.out,
        data_dir=args.data_dir,
        model={"width": 0.125, "T": 4, "attention": "C"},
        epochs=1,
        batch_size=64,
        lr=5e-3,
        limit_train=args.steps * 64,
        limit_test=1000,
        max_steps=args.steps,
    )
    train(cfg)
    model, payload = checkpoint.load(f"{args.out}/best.pt", with_payload=True)
    _analyse(model, payload, args.data_dir, args.calib, max(args.calib, 1000))
    return 0
