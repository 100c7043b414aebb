"""Stream samples to a board and check every answer: each sample is sent (bit-packed when binary), its RESULT
is compared bit for bit (logits and spike counts) with the integer reference on the same blob, and its top-1
with the float PyTorch model when --checkpoint is given. Live progress, a summary table, a --json log, a
confusion-matrix plot (--plots); every sample that is not bit-exact is saved for replay (--save-mismatches,
default a folder next to the --json log). Exit 1 when any sample is not bit-exact or ended with an error.

Inputs: event files (--input FILE or a folder of them; labels from digit / class-name parent folders), a
dataset's held-out split (--dataset fashion-mnist: images; emulated-fashion-mnist: emulated event streams),
or a live iniVation camera (--camera, the 'camera' extra). Event input is binned with edgesnn.data.binning,
the training function, with the training parameters: those of --dataset, else of the dataset the
--checkpoint was trained on, else derived from the model (T, C, H x W; split by event number); --split-by,
--window-us, --polarity, --mode override single fields. The summary says which were used.

A file that is not an event file in an --input folder is an error listing it (--skip-unknown leaves such
files out, listed on stderr); hidden files (.DS_Store) are ignored; a recording with no events is an error
sample naming the file. Ctrl-C or SIGTERM stops the board, prints the summary of the samples done, writes
the --json log and the command that resumes (--start N); the exit code is then 130 (143 for SIGTERM).

Examples, with the shipped models (export them first, e.g. for the host board):

edgesnn export edgesnn/zoo/fashion_mnist_synac_w8_t4_qat.pt --prune --calib fashion-mnist \\
    --device host -o out/fm
edgesnn stream --device host out/fm/model.esnn --dataset fashion-mnist --limit 200 \\
    --checkpoint edgesnn/zoo/fashion_mnist_synac_w8_t4_qat.pt
edgesnn export edgesnn/zoo/emulated_fashion_mnist_or_w8_t8.pt --prune --calib emulated-fashion-mnist \\
    --device host -o out/ev
edgesnn stream --device host out/ev/model.esnn --dataset emulated-fashion-mnist --limit 100 \\
    --checkpoint edgesnn/zoo/emulated_fashion_mnist_or_w8_t8.pt --faults reset_after=40 --json runs/ev.json
edgesnn stream --port socket://127.0.0.1:4444 out/ev/model.esnn --input recordings/ \\
    --checkpoint edgesnn/zoo/emulated_fashion_mnist_or_w8_t8.pt --json runs/stream.json
"""

from __future__ import annotations

import argparse
import itertools
import shlex
import sys
from pathlib import Path
from typing import Any

from edgesnn.cli.argtypes import non_negative_int, positive_float, positive_int
from edgesnn.cli.errors import CliError
from edgesnn.cli.outputs import check_output_dir, check_output_file
from edgesnn.data.binning import MODES, POLARITIES, SPLITS
from edgesnn.data.registry import DATASETS, dataset_spec


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", type=Path, help="the .esnn blob the board runs")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--device", help="a board this host starts (host, or an emulated board's profile name)"
    )
    where.add_argument("--port", help="serial URL of a running board (/dev/ttyACM0, socket://HOST:PORT)")
    p.add_argument("--input", type=Path, help="an event file, or a folder of event files")
    p.add_argument(
        "--dataset",
        choices=sorted(DATASETS),
        help="stream this dataset's held-out split; with --input: take its binning and class names",
    )
    p.add_argument("--camera", action="store_true", help="a live iniVation camera (dv-processing)")
    p.add_argument("--checkpoint", type=Path, help="float model to compare top-1 with (edgesnn train output)")
    p.add_argument("--limit", type=positive_int, help="stop after N samples")
    p.add_argument(
        "--start",
        type=non_negative_int,
        default=0,
        metavar="N",
        help="skip the first N samples, numbering from N (resume an interrupted run: it prints N)",
    )
    p.add_argument(
        "--skip-unknown",
        action="store_true",
        help="--input DIR: leave out files that are not event files (default: an error listing them)",
    )
    p.add_argument("--data-dir", help="folder with the dataset files (default: standard locations)")
    p.add_argument("--json", type=Path, help="write the per-sample log and summary here")
    p.add_argument("--plots", type=Path, help="write confusion.png into this folder (needs matplotlib)")
    p.add_argument(
        "--save-mismatches",
        "--mismatch-dir",
        dest="save_mismatches",
        type=Path,
        help="replay folders of samples that are not bit-exact (default: LOG-mismatches next to --json "
        "LOG; never overwritten: a used folder gets -2, -3..)",
    )
    b = p.add_argument_group("binning overrides (event input)")
    b.add_argument("--split-by", choices=SPLITS)
    b.add_argument(
        "--window-us", type=positive_int, help="fixed time windows of this many µs (implies --split-by time)"
    )
    b.add_argument("--size", type=_hw, help="HxW: area-pool the sensor to this size")
    b.add_argument("--polarity", choices=POLARITIES)
    b.add_argument("--mode", choices=MODES)
    b.add_argument("--clip", action="store_true", help="saturate values the u8 input cannot hold")
    link = p.add_argument_group("link")
    link.add_argument(
        "--timeout", type=positive_float, default=1.0, help="base reply timeout in s (default 1)"
    )
    link.add_argument(
        "--retries", type=non_negative_int, default=3, help="retransmissions per request (default 3)"
    )
    link.add_argument(
        "--resends", type=non_negative_int, default=3, help="resends of a sample after device resets"
    )
    link.add_argument("--baud", type=positive_int, default=115200, help="--port baud rate (default 115200)")
    link.add_argument("--no-build", action="store_true", help="--device: do not (re)build the board")
    link.add_argument(
        "--faults",
        help="inject faults between host and board, e.g. 'rate=0.01,reset_after=40,seed=1' "
        "(keys: drop, corrupt, dup, rate, reset_after, seed; edgesnn.host.proxy)",
    )
    link.add_argument("--trace", action="store_true", help="hex-dump the traffic to stderr")
    p.add_argument(
        "--threads", type=positive_int, default=1, help="torch threads for the float model (default 1)"
    )
    p.add_argument("--no-progress", action="store_true", help="no live progress bar")


def _hw(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--size {text!r}: expected HxW, e.g. 32x32") from None
    return h, w


def _float_model(path: Path, T: int, threads: int) -> Any:
    import torch

    from edgesnn import checkpoint

    torch.set_num_threads(threads)
    model, payload = checkpoint.load(path, with_payload=True)
    if model.config.T != T:
        raise CliError(
            f"--checkpoint {path}: T={model.config.T}, the model blob runs T={T}: not the same model"
        )
    return model, payload


def _qat_model(model: Any, payload: dict | None, static: bool) -> Any:
    """The checkpoint's QAT model when it was QAT-fine-tuned (``edgesnn.qat.qat_model_of``), else None."""
    if model is None:
        return None
    from edgesnn.qat import qat_model_of  # torch: only with --checkpoint

    return qat_model_of(model, payload, static)


def _open(args: argparse.Namespace, faults: Any) -> Any:
    from edgesnn.host.launch import open_device
    from edgesnn.host.transport import SerialTransport

    if args.port:

        def opener() -> Any:
            return SerialTransport(args.port, baudrate=args.baud, connect_timeout=5.0)
    else:
        first = [not args.no_build]

        def opener() -> Any:
            build, first[0] = first[0], False  # build once; a restart by the fault proxy reuses it
            return open_device(args.device, args.model, build=build)

    if faults is None:
        return opener()
    from edgesnn.host.proxy import FaultProxy

    return FaultProxy(opener if args.device else opener(), faults)


def _samples(args: argparse.Namespace, mi: Any, payload: dict | None) -> tuple[Any, dict[str, Any], tuple]:
    from edgesnn.stream import samples as S

    sources = sum(bool(x) for x in (args.input, args.camera)) + bool(args.dataset and not args.input)
    sources -= bool(args.dataset and args.camera)  # --dataset only gives the camera its binning
    if sources != 1:
        raise CliError("give exactly one input: --input FILE|DIR, --dataset NAME or --camera")
    classes = dataset_spec(args.dataset).classes if args.dataset else ()
    overrides = {
        "split_by": args.split_by,
        "window_us": args.window_us,
        "size": args.size,
        "polarity": args.polarity,
        "mode": args.mode,
    }
    meta: dict[str, Any] = {}
    frames_input = args.input or args.camera or dataset_spec(args.dataset).frames
    params = contract = None
    if frames_input:
        contract = S.resolve_contract(mi, args.dataset, payload, overrides)
        params = contract.binning
        meta["input_contract"] = contract.to_dict()
        meta["binning"] = {**params.__dict__, "origin": contract.origin}
        print(f"binning: {contract.origin}: {params}")
    elif any(v is not None for v in overrides.values()):
        raise CliError(f"--dataset {args.dataset} holds images: binning options do not apply")
    if args.input:
        files, other = S.scan_event_files(args.input)
        if other and not args.skip_unknown:
            S.event_files(args.input)  # raises, listing them
        if other:
            print(f"--skip-unknown: left out {len(other)} files: {S.describe_files(other)}", file=sys.stderr)
            meta["skipped_files"] = [str(f) for f, _ in other]
        meta["input"] = str(args.input)
        assert params is not None  # event frames: resolve_contract gave the binning above
        src = S.event_file_samples(files, mi, params, classes=classes, clip=args.clip, contract=contract)
        total = len(files)
    elif args.camera:
        meta["input"] = "camera"
        assert params is not None  # event frames: resolve_contract gave the binning above
        src, total = S.camera_samples(mi, params, clip=args.clip, contract=contract), None
    else:
        meta["input"] = f"{args.dataset} (test split)"
        src = S.dataset_samples(
            args.dataset,
            mi,
            root=args.data_dir,
            limit=None if args.limit is None else args.start + args.limit,
            params=params,
            clip=args.clip,
            contract=contract,
        )
        total = None
    if args.start:
        src = itertools.islice(src, args.start, None)
        total = None if total is None else max(total - args.start, 0)
    if args.limit is not None:
        src = S.limited(src, args.limit)
        total = args.limit if total is None else min(total, args.limit)
    return src, meta | {"total": total}, classes


def _mismatch_root(args: argparse.Namespace) -> Path | None:
    """Where replay folders go: --save-mismatches, else next to the --json log, else nowhere."""
    if args.save_mismatches:
        return args.save_mismatches
    return args.json.with_name(args.json.stem + "-mismatches") if args.json else None


def _resume_command(argv: list[str], next_index: int) -> str:
    """This command line with --start set to ``next_index`` (and another --json log, so none is lost)."""
    out, skip = [], False
    for i, a in enumerate(argv):
        if skip:
            skip = False
            continue
        if a == "--start":
            skip = True
            continue
        if a.startswith("--start="):
            continue
        if a == "--json" and i + 1 < len(argv):
            log = Path(argv[i + 1])
            out += [a, str(log.with_name(f"{log.stem}-from{next_index}{log.suffix}"))]
            skip = True
            continue
        out.append(a)
    return shlex.join(["edgesnn", *out, "--start", str(next_index)])


def run(args: argparse.Namespace) -> int:
    from edgesnn.format import BlobError, load
    from edgesnn.host.client import Client
    from edgesnn.host.proxy import Faults
    from edgesnn.host.transport import Trace
    from edgesnn.stream import Progress, Streamer, StreamInterrupted, fresh_folder, save_outcome
    from edgesnn.stream.samples import ModelInput

    # --limit and --start are range-checked when the line is parsed (edgesnn.cli.argtypes)
    if args.json:
        check_output_file(args.json, "--json")
    if args.plots:
        check_output_dir(args.plots, "--plots")
    if not args.model.is_file():
        raise CliError(f"{args.model}: no such model file")
    blob = args.model.read_bytes()
    try:
        mi = ModelInput.of(load(blob))
    except BlobError as e:
        raise CliError(f"{args.model}: not a valid .esnn model: {e}") from None
    float_model, payload = (None, None)
    if args.checkpoint:
        float_model, payload = _float_model(args.checkpoint, mi.T, args.threads)
    src, meta, classes = _samples(args, mi, payload)
    try:
        faults = Faults.parse(args.faults) if args.faults else None
    except ValueError as e:
        raise CliError(f"--faults: {e}") from None
    root = _mismatch_root(args)
    mismatch_dir: list[Path] = []  # chosen at the first save, so an all-exact run leaves nothing
    progress = Progress(meta["total"], enabled=False if args.no_progress else None)
    saved: list[Path] = []
    unsaved = [0]

    def on_outcome(sample: Any, out: Any) -> None:
        progress(sample, out)
        if out.status == "ok" or sample.u8 is None:  # a file that could not be read has nothing to replay
            return
        if root is None:
            unsaved[0] += 1
            return
        if not mismatch_dir:
            mismatch_dir.append(fresh_folder(root))
        saved.append(save_outcome(mismatch_dir[0], blob, sample, out))

    transport = _open(args, faults)
    if args.trace:
        transport.trace = Trace()
    try:
        with Client(transport, timeout=args.timeout, retries=args.retries) as client:
            streamer = Streamer(
                client,
                blob,
                float_model=float_model,
                qat_model=_qat_model(float_model, payload, mi.static),
                max_resends=args.resends,
                on_outcome=on_outcome,
            )
            streamer.connect()
            report = streamer.run(src, start=args.start)
            if hasattr(transport, "board_memory"):  # the emulated board: its RAM and painted stack
                meta["board_memory"] = transport.board_memory()
    except StreamInterrupted as stop:  # Ctrl-C / SIGTERM: the board is stopped; keep what was done
        progress.close()
        _finish(args, stop.report, transport, faults, meta, classes, saved, mismatch_dir, unsaved[0])
        done = args.start + len(stop.report.outcomes)
        argv = sys.argv[1:]
        how = (
            _resume_command(argv, done)
            if argv[:1] == ["stream"]
            else f"the same command with --start {done} (and another --json log)"
        )
        print(
            f"edgesnn: stopped after {len(stop.report.outcomes)} samples; resume with: {how}", file=sys.stderr
        )
        raise
    except BaseException:
        progress.close()
        raise
    progress.close()
    _finish(args, report, transport, faults, meta, classes, saved, mismatch_dir, unsaved[0])
    if report.ok:
        return 0
    s = report.summary()
    bad = next(o for o in report.outcomes if o.status != "ok") if report.outcomes else None
    why = report.aborted or (f"sample {bad.index}: {bad.error or bad.first_diff}" if bad else "")
    print(
        f"edgesnn: {s['mismatches']} mismatches and {s['errors']} errors in {s['samples']} samples; {why}",
        file=sys.stderr,
    )
    return 1


def _finish(
    args: argparse.Namespace,
    report: Any,
    transport: Any,
    faults: Any,
    meta: dict[str, Any],
    classes: tuple,
    saved: list[Path],
    mismatch_dir: list[Path],
    unsaved: int,
) -> None:
    """The summary table, the fault counts, the --json log, the plot and where the replays went."""
    from edgesnn.stream import plot_confusion, summary_table, write_json

    title = f"{args.model.name} on {report.info.device_name} ({transport.description}):"
    print(summary_table(report, title))
    extra: dict[str, Any] = {
        "model": str(args.model),
        "checkpoint": str(args.checkpoint) if args.checkpoint else None,
        "start": args.start,
        **{k: v for k, v in meta.items() if k not in ("total", "board_memory")},
    }
    if "board_memory" in meta:
        print(f"  board {meta['board_memory']}")
        extra["board_memory"] = meta["board_memory"].to_dict()
    if faults is not None:
        counts = transport.counts
        extra["faults"] = {"spec": faults.describe(), **{k: v for k, v in counts.__dict__.items()}}
        print(
            f"  fault proxy: {counts.dropped} bytes dropped, {counts.corrupted} corrupted, "
            f"{counts.duplicated} duplicated, {counts.resets} board restarts"
        )
    if args.json:
        print(f"wrote {write_json(args.json, report, extra)}")
    if args.plots:
        path = plot_confusion(report, args.plots, classes)
        print(f"wrote {path}" if path else "no predictions to plot")
    if saved:
        print(f"saved {len(saved)} samples that are not bit-exact for replay in {mismatch_dir[0]}/")
    if unsaved:
        print(f"{unsaved} samples are not bit-exact: pass --json LOG or --save-mismatches DIR to keep them")
