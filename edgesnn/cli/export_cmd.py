"""Export a trained checkpoint to an integer `.esnn` model for a device: prune dead shortcuts (verified on
the calibration data), fold BN, quantize, prove accumulator bounds, plan memory against the device
profile, write the blob, a C source/header pair and a report (float-vs-integer agreement included).

edgesnn export runs/fm/best.pt --prune --calib fashion-mnist --device stm32f411-nucleo -o out/fm
edgesnn export runs/fm/best.pt --calib fashion-mnist --device devices/host.toml -o out/fm --weight-bits 16

The device fit is checked first, from the checkpoint alone (edgesnn.export.fit): a model that cannot fit
even after pruning fails in seconds, before the calibration data are loaded, naming the largest buffers
and what would make it fit. --ram-budget overrides the profile's RAM for the model (recorded in the report).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from edgesnn import checkpoint
from edgesnn.analysis.calibration import calibration_batches
from edgesnn.analysis.errors import AnalysisError
from edgesnn.cli.argtypes import positive_int
from edgesnn.cli.errors import CliError
from edgesnn.cli.outputs import check_output_dir
from edgesnn.data.registry import DATASETS
from edgesnn.devices import DeviceError, load_profile
from edgesnn.export.emit import c_header, c_source
from edgesnn.export.errors import ExportError
from edgesnn.export.fit import Chain, precheck, static_for
from edgesnn.export.passes.prune import IntModelOf
from edgesnn.export.pipeline import export_model
from edgesnn.export.report import to_json, to_markdown


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="checkpoint written by `edgesnn train`")
    p.add_argument("--prune", action="store_true", help="drop shortcuts that never fire (verified exactly)")
    p.add_argument("--calib", required=True, choices=sorted(DATASETS), help="calibration dataset")
    p.add_argument(
        "--calib-samples", type=positive_int, default=512, help="held-out calibration samples (default 512)"
    )
    p.add_argument("--data-dir", help="folder with the dataset files (default: standard locations)")
    p.add_argument("--device", required=True, help="device profile: a name in devices/ or a .toml path")
    p.add_argument(
        "--ram-budget",
        type=positive_int,
        metavar="BYTES",
        help="RAM the model may use on the board, overriding the profile's (ram - reserved_ram)",
    )
    p.add_argument("-o", "--out", required=True, help="output folder")
    p.add_argument("--weight-bits", type=int, choices=(4, 8, 16), default=8, help="weight width (default 8)")
    p.add_argument("--batch-size", type=positive_int, default=128)
    p.add_argument("--threads", type=positive_int, help="torch CPU threads")
    p.add_argument(
        "--onnx",
        action="store_true",
        help="also write model.onnx (integer-exact; one step, or the whole sequence with attention)",
    )


def _progress(stage: str) -> None:
    print(f"  .. {stage}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    out = check_output_dir(args.out, "-o")  # before the minute of work, not after
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        device = load_profile(args.device).with_ram_budget(args.ram_budget)
        model, payload = checkpoint.load(args.checkpoint, with_payload=True)
        int_model: IntModelOf | None = None
        if "qat" in (payload.get("training") or {}):  # QAT: dead shortcuts decided on the integer model
            from edgesnn.qat import int_net_for_export as int_model
        _progress(f"checking the fit on {device.name}")  # seconds, before the minute of work
        precheck(model, device, Chain(args.weight_bits, static_for(args.calib, payload)), args.prune)
        _progress(f"loading {args.calib_samples} calibration samples of {args.calib} (test split)")
        calib = calibration_batches(
            args.calib, "test", args.data_dir, args.calib_samples, args.batch_size, model.config, payload
        )
        result = export_model(
            model, calib, device, args.weight_bits, args.prune, _progress, int_model=int_model
        )
    except (ExportError, DeviceError, AnalysisError) as exc:
        raise CliError(str(exc)) from None
    out.mkdir(parents=True, exist_ok=True)
    extra = {"checkpoint": Path(args.checkpoint).name, "calibration": args.calib}
    (out / "model.esnn").write_bytes(result.blob)
    (out / "model.h").write_text(c_header("esnn_model", len(result.blob)))
    (out / "model.c").write_text(c_source("esnn_model", "model.h", result.blob))
    markdown = to_markdown(result, extra)
    (out / "report.md").write_text(markdown)
    (out / "report.json").write_text(to_json(result, extra))
    written = ["model.c", "model.h", "report.md", "report.json"]
    if args.onnx:
        from edgesnn.export.onnx_step import save_onnx  # optional extra: imported only when asked for

        try:
            save_onnx(result.blob, out / "model.onnx")
        except ImportError as exc:
            raise CliError(str(exc)) from None
        written.append("model.onnx")
    print(markdown)
    print(f"wrote {out}/model.esnn ({len(result.blob)} B), " + ", ".join(written))
    return 0
