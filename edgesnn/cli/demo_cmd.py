"""The main job, end to end on this machine, on the emulated Cortex-M4 board linked with a real part's limits
(qemu-stm32f411: the STM32F411's 128 KiB RAM, 512 KiB flash and 8 KiB stack; the host board when QEMU or
the Arm toolchain is missing):

1. the shipped image model (width-1/8 SynA-C OR-Spiking ResNet21, T=4, Fashion-MNIST): held-out accuracy,
   the firing rate of every LIF layer and IA gate, and each shortcut's fate over training (natural pruning);
2. its QAT-fine-tuned version exported with --prune (dead shortcuts removed, BN folded, int8) for the board
   (an emulated part: for the real part's budget, stm32f411-nucleo);
3. flashed to the board, held-out real images streamed to it: every result checked bit for bit against the
   integer reference and for equality with the PyTorch QAT model, top-1 agreement with the float model;
   the board's RAM (arena, buffers, reserved stack and its painted high-water mark) against the part's;
4. the shipped event-input model (emulated DVS streams of Fashion-MNIST) exported, flashed and streamed the
   same way, the events binned by the contract recorded in its checkpoint;
5. the conformance vectors run on the board;
6. optionally (--train STEPS) a short training run on real Fashion-MNIST, analysed the same way.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from edgesnn import checkpoint
from edgesnn.analysis.monitor import measure_firing
from edgesnn.analysis.shortcuts import shortcut_histories
from edgesnn.analysis.tables import firing_table
from edgesnn.cli.argtypes import non_negative_int, positive_int
from edgesnn.cli.errors import CliError
from edgesnn.cli.outputs import check_output_dir
from edgesnn.cli.stages import Stages, bar
from edgesnn.data.registry import open_dataset
from edgesnn.train.trainer import TrainConfig, evaluate, train
from edgesnn.zoo import DEMO_MODEL, ZOO_DIR

if TYPE_CHECKING:
    from edgesnn.export.passes.prune import IntModelOf

QAT_MODEL = ZOO_DIR / "fashion_mnist_synac_w8_t4_qat.pt"
EVENT_MODEL = ZOO_DIR / "emulated_fashion_mnist_or_w8_t8.pt"
EMULATED = "qemu-stm32f411"  # the emulated Cortex-M4 with the STM32F411's limits (devices/*.toml)
EMULATED_BOARDS = (EMULATED, "qemu-mps2-an386")  # the latter: the emulator's own 4 MB


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="Fashion-MNIST folder (default /usr/share/datasets/fashion-mnist)")
    p.add_argument("--out", default="runs/demo", help="folder for the exported models, logs and training run")
    p.add_argument(
        "--device",
        default=EMULATED,
        choices=(*EMULATED_BOARDS, "host"),
        help=f"board to run on (default {EMULATED}: the emulated Cortex-M4 with the STM32F411's 128 KiB RAM)",
    )
    p.add_argument(
        "--eval",
        type=positive_int,
        help="evaluate the shipped model on the first N test images (default all)",
    )
    p.add_argument(
        "--calib", type=positive_int, default=512, help="held-out samples for firing rates and export"
    )
    p.add_argument("--images", type=positive_int, default=100, help="held-out images streamed to the board")
    p.add_argument(
        "--streams", type=positive_int, default=50, help="emulated DVS streams streamed to the board"
    )
    p.add_argument("--skip-verify", action="store_true", help="do not run the conformance vectors")
    p.add_argument(
        "--train", type=non_negative_int, default=0, metavar="STEPS", help="also run a short training run"
    )
    p.add_argument("--threads", type=positive_int, default=1, help="torch CPU threads (default 1)")


def pick_device(requested: str) -> str:
    """The emulated board when QEMU and the Arm toolchain are here, else the host board (with a note)."""
    if requested not in EMULATED_BOARDS:
        return requested
    missing = [t for t in ("qemu-system-arm", "arm-none-eabi-gcc") if shutil.which(t) is None]
    if not missing:
        return requested
    print(
        f"note: {' and '.join(missing)} not found, so the demo runs on the host board (the same C runtime "
        "and protocol as a Linux process); apt-get install qemu-system-arm gcc-arm-none-eabi "
        "libnewlib-arm-none-eabi for the emulated Cortex-M4"
    )
    return "host"


def _budget_device(board: str) -> str:
    """The profile the exports target: the real part an emulated one stands for (its budgets)."""
    from edgesnn.devices import load_profile

    return load_profile(board).emulated_part or board


def _analyse(
    model: torch.nn.Module, payload: dict, data_dir: str | None, calib: int, eval_limit: int | None
) -> float:
    test = open_dataset("fashion-mnist", "test", data_dir, eval_limit)
    t0 = time.time()
    print(f"  .. evaluating on {len(test):,} held-out images", file=sys.stderr, flush=True)
    with bar(len(test), "evaluating", "image") as progress:
        acc = evaluate(model, test, 500, "mse", on_batch=progress.update)
    print(
        f"held-out accuracy: {100 * acc['accuracy']:.2f}% on {acc['samples']} Fashion-MNIST test images "
        f"({acc['samples'] / (time.time() - t0):.0f} samples/s)"
    )
    sub = test.subset(calib)
    mon = measure_firing(
        model, (sub.get_batch(torch.arange(i, min(i + 256, len(sub))))[0] for i in range(0, len(sub), 256))
    )
    print(firing_table(mon, f"firing rates on {len(sub)} held-out images (eval mode):"))
    histories = shortcut_histories(payload.get("training", {}).get("firing_log", []))
    if histories:
        print("shortcuts over training (from the checkpoint's firing log):")
        for h in histories:
            now = "silent" if mon.stats[h.name].dead else f"rate {mon.stats[h.name].rate:.4f}"
            print(f"  {h.name:<32} {h.status:<22} now {now}")
    return float(acc["accuracy"])


def _export(model: Any, payload: dict, dataset: str, args: argparse.Namespace, device: str, out: Path) -> Any:
    from edgesnn.analysis.calibration import calibration_batches
    from edgesnn.analysis.errors import AnalysisError
    from edgesnn.devices import load_profile
    from edgesnn.export.fit import Chain, precheck, static_for
    from edgesnn.export.pipeline import export_model
    from edgesnn.export.report import to_markdown

    say = Stages()
    say(f"checking the fit on {device}")  # seconds, before the calibration data and the pruning
    precheck(model, load_profile(device), Chain(8, static_for(dataset, payload)), prune=True)
    say(f"loading {args.calib} calibration samples of {dataset}")
    try:
        calib = calibration_batches(dataset, "test", args.data_dir, args.calib, 128, model.config, payload)
    except AnalysisError as exc:
        raise CliError(str(exc)) from None
    int_model: IntModelOf | None = None
    if "qat" in (payload.get("training") or {}):  # QAT: dead shortcuts decided on the integer model
        from edgesnn.qat import int_net_for_export as int_model
    result = export_model(
        model, calib, load_profile(device), 8, prune=True, progress=say, int_model=int_model
    )
    say.done()
    out.mkdir(parents=True, exist_ok=True)
    (out / "model.esnn").write_bytes(result.blob)
    (out / "report.md").write_text(to_markdown(result, {"checkpoint": dataset}))
    pruned = list(result.prune.removed) if result.prune else []
    kept = list(result.prune.kept) if result.prune else []
    a = result.agreement
    kept_note = f"; kept as OR: {', '.join(kept)}" if kept else ""
    print(f"pruned shortcuts: {', '.join(pruned) or 'none'}{kept_note}")
    plan = result.plan
    print(
        f"{result.model_label}, int8, schedule {plan.schedule}; RAM {plan.peak_ram_bytes:,} B of "
        f"{result.device.model_ram_bytes:,}, flash {result.plan.flash_bytes:,} B of "
        f"{result.device.model_flash_bytes:,} ({result.device.name}) -> {out / 'model.esnn'}"
    )
    print(
        f"float vs integer on {a.samples} calibration samples: top-1 agreement {100 * a.agreement:.1f}%, "
        f"accuracy {100 * a.float_accuracy:.2f}% -> {100 * a.int_accuracy:.2f}%"
    )
    return result


def _stream(
    blob_path: Path, model: Any, payload: dict, dataset: str, n: int, args: argparse.Namespace
) -> Any:
    from edgesnn.format import load
    from edgesnn.host.client import Client
    from edgesnn.host.launch import open_device
    from edgesnn.qat import qat_model_of
    from edgesnn.stream import Progress, Streamer, summary_table, write_json
    from edgesnn.stream.samples import ModelInput, dataset_samples, limited, resolve_contract

    blob = blob_path.read_bytes()
    mi = ModelInput.of(load(blob))
    contract = resolve_contract(mi, dataset, payload) if dataset != "fashion-mnist" else None
    samples = dataset_samples(dataset, mi, root=args.data_dir, limit=args.calib + n, contract=contract)
    held_out = (s for i, s in enumerate(samples) if i >= args.calib)  # not the calibration samples
    print(f"flashing {blob_path} to {args.board} and streaming {n} held-out samples ...")
    progress = Progress(n, desc=dataset)
    transport = open_device(args.board, blob_path)
    with Client(transport, timeout=5.0) as client:
        qat = qat_model_of(model, payload, mi.static)
        streamer = Streamer(client, blob, float_model=model, qat_model=qat, on_outcome=progress)
        streamer.connect()
        report = streamer.run(limited(held_out, n))
        memory = transport.board_memory() if hasattr(transport, "board_memory") else None
    progress.close()
    print(summary_table(report, f"{blob_path.parent.name} on {report.info.device_name}:"))
    if memory is not None:  # the emulated board: its RAM as linked, and the painted stack's high-water mark
        print(f"  {report.info.device_name} ({memory.capacity // 1024} KiB RAM): {memory}")
    write_json(blob_path.with_name("stream.json"), report)
    return report


def _verify(board: str) -> bool:
    from edgesnn.cli.main import main

    return main(["verify", "--device", board]) == 0


def _quick_train(args: argparse.Namespace, out: Path) -> None:
    print(f"\n== 6. quick training run: {args.train} steps on real Fashion-MNIST -> {out / 'train'}")
    cfg = TrainConfig(
        dataset="fashion-mnist",
        out_dir=str(out / "train"),
        data_dir=args.data_dir,
        model={"width": 0.125, "T": 4, "attention": "C"},
        epochs=1,
        batch_size=64,
        lr=5e-3,
        limit_train=args.train * 64,
        limit_test=1000,
        max_steps=args.train,
        threads=args.threads,
    )
    train(cfg)
    model, payload = checkpoint.load(out / "train" / "best.pt", with_payload=True)
    _analyse(model, payload, args.data_dir, args.calib, max(args.calib, 1000))


def run(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    for path in (DEMO_MODEL, QAT_MODEL, EVENT_MODEL):
        if not path.is_file():
            raise CliError(f"{path}: shipped model missing from this checkout (edgesnn/zoo/ has its script)")
    out = check_output_dir(args.out, "--out")
    args.board = pick_device(args.device)
    budget = _budget_device(args.board)
    t_start = time.time()

    print(f"== 1. shipped image model: {DEMO_MODEL.name}")
    model, payload = checkpoint.load(DEMO_MODEL, with_payload=True)
    print(f"{model.config.label}, width {model.config.width}, T={model.config.T}, "
          f"{sum(p.numel() for p in model.parameters()):,} parameters")  # fmt: skip
    _analyse(model, payload, args.data_dir, args.calib, args.eval)

    qat_model, qat_payload = checkpoint.load(QAT_MODEL, with_payload=True)
    final = qat_payload["training"]["qat"].get("final", {})
    print(f"\n== 2. export --prune of its QAT fine-tune ({QAT_MODEL.name}; recorded: "
          f"{100 * final.get('qat_eval_accuracy', float('nan')):.2f}% on 10,000 test images, integer "
          f"logits equal to PyTorch on {final.get('logits_equal', '?')}) for {budget}")  # fmt: skip
    image_blob = out / "image"
    _export(qat_model, qat_payload, "fashion-mnist", args, budget, image_blob)

    print(f"\n== 3. {args.board}: held-out Fashion-MNIST images")
    reports = [_stream(image_blob / "model.esnn", qat_model, qat_payload, "fashion-mnist", args.images, args)]

    ev_model, ev_payload = checkpoint.load(EVENT_MODEL, with_payload=True)
    cfg = ev_model.config
    print(f"\n== 4. event-input model {EVENT_MODEL.name} ({cfg.label}, T={cfg.T}, "
          f"{cfg.input_size[0]}x{cfg.input_size[1]}): EMULATED DVS streams")  # fmt: skip
    event_blob = out / "events"
    _export(ev_model, ev_payload, "emulated-fashion-mnist", args, budget, event_blob)
    reports.append(
        _stream(event_blob / "model.esnn", ev_model, ev_payload, "emulated-fashion-mnist", args.streams, args)
    )

    vectors_ok = True
    if not args.skip_verify:
        print(f"\n== 5. conformance vectors on {args.board}")
        vectors_ok = _verify(args.board)
    if args.train:
        _quick_train(args, out)

    exact = sum(r.summary()["bit_exact"] for r in reports)
    total = sum(r.summary()["samples"] for r in reports)
    ok = vectors_ok and total > 0 and all(r.ok for r in reports)  # nothing streamed is not a pass
    print(f"\ndemo {'passed' if ok else 'FAILED'} in {time.time() - t_start:.0f} s: {exact}/{total} streamed "
          f"samples bit-exact on {args.board}; outputs in {out}/")  # fmt: skip
    return 0 if ok else 1
