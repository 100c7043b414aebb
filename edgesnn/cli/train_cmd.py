"""Train a spiking ResNet on a dataset (paper defaults: MSE on one-hot of the time-averaged output, Adam,
cosine LR, static images repeated T times). Writes OUT/best.pt, OUT/last.pt and OUT/train_log.jsonl
(per-epoch accuracy and the firing rate of every LIF layer and IA gate, from before the first step).

Model options default to the dataset's Table IX preset (`edgesnn models` lists them); every other default
is shown with its option below.

Examples:

edgesnn train --dataset fashion-mnist --out runs/fm --epochs 10
edgesnn train --dataset fashion-mnist --out runs/quick --width 0.125 --T 4 --attention C --max-steps 200
edgesnn train --dataset emulated-fashion-mnist --out runs/ev --width 0.125 --T 8 --limit-train 5000
edgesnn train --out runs/fm --epochs 10 --resume

Multi-process (DDP, gloo on CPU):  torchrun --nproc_per_node 2 -m edgesnn train --dataset ... --out ...
"""

from __future__ import annotations

import argparse

from edgesnn.cli.argtypes import non_negative_float, non_negative_int, positive_float, positive_int
from edgesnn.cli.options import add_model_options, model_overrides
from edgesnn.cli.outputs import check_output_dir
from edgesnn.data.registry import DATASETS
from edgesnn.train.trainer import LOSSES, TrainConfig, train


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dataset", default="fashion-mnist", choices=sorted(DATASETS), help="(default %(default)s)"
    )
    p.add_argument("--data-dir", help="folder with the dataset files (default: standard locations)")
    p.add_argument("--out", default="runs/train", help="output folder (default %(default)s)")
    p.add_argument("--epochs", type=positive_int, default=10, help="(default %(default)s)")
    p.add_argument(
        "--batch-size",
        type=positive_int,
        default=64,
        help="global batch, split across processes (default %(default)s)",
    )
    p.add_argument(
        "--lr",
        type=positive_float,
        default=1e-3,
        help="Adam learning rate, cosine schedule (default %(default)s)",
    )
    p.add_argument("--weight-decay", type=non_negative_float, default=0.0, help="(default %(default)s)")
    p.add_argument(
        "--loss", choices=LOSSES, default="mse", help="mse on one-hot (paper) or ce (default %(default)s)"
    )
    p.add_argument("--seed", type=non_negative_int, default=0, help="(default %(default)s)")
    p.add_argument("--limit-train", type=positive_int, help="use only the first N training samples")
    p.add_argument("--limit-test", type=positive_int, help="use only the first N held-out samples")
    p.add_argument(
        "--calib-samples",
        type=positive_int,
        default=256,
        help="held-out samples for the firing log (default %(default)s)",
    )
    p.add_argument("--max-steps", type=positive_int, help="stop after N optimiser steps")
    p.add_argument(
        "--stop-after", type=positive_int, help="stop after N epochs in this run (continue with --resume)"
    )
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--threads", type=positive_int, help="torch CPU threads per process (default: torch's)")
    p.add_argument(
        "--no-progress",
        dest="progress",
        action="store_false",
        default=None,
        help="no progress bars (default: bars on a terminal, a line every 10%% of an epoch otherwise)",
    )
    add_model_options(p)


def run(args: argparse.Namespace) -> int:
    check_output_dir(args.out, "--out")
    cfg = TrainConfig(
        dataset=args.dataset,
        out_dir=args.out,
        data_dir=args.data_dir,
        model=model_overrides(args),
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        loss=args.loss,
        seed=args.seed,
        limit_train=args.limit_train,
        limit_test=args.limit_test,
        calib_samples=args.calib_samples,
        max_steps=args.max_steps,
        stop_after=args.stop_after,
        resume=args.resume,
        threads=args.threads,
        progress=args.progress,
    )
    result = train(cfg)
    if result.get("accuracy") is not None:
        print(
            f"done: {result['step']} steps, held-out accuracy {100 * result['accuracy']:.2f}% "
            f"(best {100 * result['best_accuracy']:.2f}%) -> {result['out_dir']}"
        )
    return 0
