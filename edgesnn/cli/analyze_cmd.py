"""Analyse a trained checkpoint on held-out data: firing rate of every LIF layer and IA gate, dead shortcuts
(natural pruning, verified by removing them), nearly dead ones (with the accuracy change, never removed),
when each shortcut went silent during training, and per-layer FLOPs / MAC / AC / energy (paper Eq. 11)
before and after pruning.

edgesnn analyze runs/fm/best.pt --data fashion-mnist --calib 512
edgesnn analyze runs/fm/best.pt --data fashion-mnist --json > analysis.json
edgesnn analyze runs/fm/best.pt --data fashion-mnist --plots runs/fm/plots
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from edgesnn import checkpoint
from edgesnn.analysis.calibration import calibration_batches
from edgesnn.analysis.errors import AnalysisError
from edgesnn.analysis.ops import E_AC_PJ, E_MAC_PJ, EnergyModel
from edgesnn.analysis.pruning import DEFAULT_NEAR_DEAD
from edgesnn.analysis.report import format_report, to_json
from edgesnn.analysis.summary import analyze
from edgesnn.cli.argtypes import non_negative_float, positive_int
from edgesnn.cli.errors import CliError
from edgesnn.cli.outputs import check_output_dir
from edgesnn.data.registry import DATASETS


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="checkpoint written by `edgesnn train` (e.g. runs/fm/best.pt)")
    p.add_argument(
        "--data", choices=sorted(DATASETS), help="calibration dataset (default: the one it was trained on)"
    )
    p.add_argument("--data-dir", help="folder with the dataset files (default: standard locations)")
    p.add_argument("--split", default="test", choices=("test", "train"), help="split to calibrate on")
    p.add_argument("--calib", type=positive_int, default=512, help="calibration samples (default 512)")
    p.add_argument("--batch-size", type=positive_int, default=128)
    p.add_argument("--json", action="store_true", help="print the analysis as JSON instead of tables")
    p.add_argument("--plots", metavar="DIR", help="write firing_rates.png, spike_counts.png, thermogram.png")
    p.add_argument(
        "--near-dead-threshold",
        type=non_negative_float,
        default=DEFAULT_NEAR_DEAD,
        help=f"report live shortcuts firing below this rate as nearly dead (default {DEFAULT_NEAR_DEAD})",
    )
    p.add_argument(
        "--e-mac", type=non_negative_float, default=E_MAC_PJ, help=f"pJ per MAC (default {E_MAC_PJ})"
    )
    p.add_argument("--e-ac", type=non_negative_float, default=E_AC_PJ, help=f"pJ per AC (default {E_AC_PJ})")
    p.add_argument("--threads", type=positive_int, help="torch CPU threads")


def run(args: argparse.Namespace) -> int:
    if args.plots:
        check_output_dir(args.plots, "--plots")
    if args.threads:
        torch.set_num_threads(args.threads)
    model, payload = checkpoint.load(args.checkpoint, with_payload=True)
    training = payload.get("training") or {}
    data = args.data or training.get("dataset")
    if not data:
        raise CliError(f"{args.checkpoint}: no dataset recorded in the checkpoint; pass --data")
    try:
        batches = calibration_batches(
            data, args.split, args.data_dir, args.calib, args.batch_size, model.config, payload
        )
        analysis = analyze(
            model,
            batches,
            training.get("firing_log"),
            args.near_dead_threshold,
            EnergyModel(args.e_mac, args.e_ac),
        )
        written: list[Path] = []
        notes: list[str] = []
        if args.plots:
            from edgesnn.analysis.plots import write_plots

            written, notes = write_plots(analysis.firing, training.get("firing_log"), args.plots)
    except AnalysisError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        extra = {"checkpoint": str(args.checkpoint), "dataset": data, "split": args.split}
        print(to_json(analysis, {**extra, "plots": [str(p) for p in written]}))
    else:
        print(f"{args.checkpoint} on {data} ({args.split}, first {analysis.samples} samples)")
        print(format_report(analysis))
        for path in written:
            print(f"wrote {path}")
    for note in notes:
        print(f"edgesnn: note: {note}", file=sys.stderr)
    return 0
