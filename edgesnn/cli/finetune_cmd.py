"""Quantization-aware fine-tuning (--qat) of a trained checkpoint: the forward pass computes exactly the
integers that `edgesnn export` writes (fake-quantized weights with straight-through gradients, floor
leak, integer thresholds), so the exported model's logits equal the fine-tuned model's on every sample.
Writes OUT/best.pt (best integer accuracy), OUT/last.pt (normal checkpoints; training["qat"] records
the settings) and OUT/finetune_log.jsonl.
Covers OR/AND/IAND spiking ResNets with or without SynA attention (MA and IA along T, C or S, in the
fixed point of FORMAT.md, with straight-through gradients). `edgesnn export --prune` of the result decides
dead shortcuts on the integer model, so the pruned blob stays bit-exact with the fine-tuned model.

edgesnn finetune runs/fm/best.pt --qat --epochs 2 --lr 1e-4 --out runs/fm-qat
edgesnn export runs/fm-qat/best.pt --prune --calib fashion-mnist --device host -o out/fm  (same --weight-bits)
"""

from __future__ import annotations

import argparse

from edgesnn.cli.argtypes import non_negative_int, positive_float, positive_int
from edgesnn.cli.errors import CliError
from edgesnn.cli.outputs import check_output_dir
from edgesnn.data.registry import DATASETS
from edgesnn.export.errors import ExportError
from edgesnn.qat.errors import QATError
from edgesnn.qat.finetune import FinetuneConfig, finetune
from edgesnn.train.trainer import LOSSES


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="checkpoint written by `edgesnn train`")
    p.add_argument("--qat", action="store_true", required=True, help="quantization-aware (the only mode)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--epochs", type=positive_int, default=1)
    p.add_argument("--lr", type=positive_float, default=1e-4)
    p.add_argument("--weight-bits", type=int, choices=(4, 8, 16), default=8, help="as for export (default 8)")
    p.add_argument("--batch-size", type=positive_int, default=64)
    p.add_argument("--loss", choices=LOSSES, help="default: the loss the checkpoint was trained with")
    p.add_argument("--dataset", choices=sorted(DATASETS), help="default: the checkpoint's dataset")
    p.add_argument("--data-dir", help="folder with the dataset files (default: standard locations)")
    p.add_argument("--limit-train", type=positive_int, help="use only the first N training samples")
    p.add_argument("--limit-test", type=positive_int, help="use only the first N held-out samples")
    p.add_argument("--max-steps", type=positive_int, help="stop after N optimiser steps")
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("--threads", type=positive_int, help="torch CPU threads")


def run(args: argparse.Namespace) -> int:
    check_output_dir(args.out, "--out")
    cfg = FinetuneConfig(
        checkpoint=args.checkpoint,
        out_dir=args.out,
        epochs=args.epochs,
        lr=args.lr,
        weight_bits=args.weight_bits,
        batch_size=args.batch_size,
        loss=args.loss,
        dataset=args.dataset,
        data_dir=args.data_dir,
        limit_train=args.limit_train,
        limit_test=args.limit_test,
        max_steps=args.max_steps,
        seed=args.seed,
        threads=args.threads,
    )
    try:
        summary = finetune(cfg)
    except (QATError, ExportError) as exc:
        raise CliError(str(exc)) from None
    print(
        f"float {100 * summary['float_accuracy']:.2f}%  post-training int{args.weight_bits} "
        f"{100 * summary['ptq_accuracy']:.2f}%  QAT int{args.weight_bits} "
        f"{100 * summary['best_int_accuracy']:.2f}%"
    )
    print(f"wrote {args.out}/best.pt; export it with: {summary['export']}")
    return 0
