"""Streaming throughput (samples/s, events/s) over the host board's pty and, when qemu-system-arm and the
qemu-mps2-an386 opener exist, over the emulated Cortex-M4 UART, with the share of the link's round trips
spent in transfer vs compute. Measures; asserts nothing.

Workloads (both through `edgesnn.stream.Streamer`, every result checked bit-exactly against the reference):

- images: the shipped demo model (width 1/8, T=4) exported with --prune on 8 real Fashion-MNIST test images,
  streamed held-out images (U8 frames, 784 B per sample, STATIC_INPUT);
- events: the 2x16x16, T=4 conformance model with input scale 1, fed emulated Fashion-MNIST event streams
  binned with the training binning (binary 16x16 frames, BITS encoding: 4 x 64 B per sample).

Rates: "link" = samples / sum of round trips (what the board and link sustain), "stream" = with the host's
reference and float checks. Compute share: from the RESULT counter when it is a time (host board: ns); on QEMU
(instruction counts, no timing model) from the round trip minus a same-size request the board rejects unread.

    python bench/bench_streaming.py [--samples 50] [--boards host,qemu-mps2-an386]
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgesnn.format import load, to_bytes  # noqa: E402
from edgesnn.host import Client  # noqa: E402
from edgesnn.host.launch import OPENERS, open_device  # noqa: E402
from edgesnn.stream import ModelInput, Streamer, dataset_samples, resolve_binning  # noqa: E402


def demo_blob(folder: Path) -> tuple[Path, torch.nn.Module]:
    from edgesnn import checkpoint
    from edgesnn.data.images import load_fashion_mnist
    from edgesnn.devices import load_profile
    from edgesnn.export.pipeline import export_model
    from edgesnn.zoo import DEMO_MODEL

    model = checkpoint.load(DEMO_MODEL)
    x, y = load_fashion_mnist("test").get_batch(torch.arange(8))
    blob = export_model(model, [(x, y)], load_profile("qemu-mps2-an386"), 8, prune=True).blob
    path = folder / "demo.esnn"
    path.write_bytes(blob)
    return path, model


def event_blob(folder: Path) -> Path:
    m = load((ROOT / "export/vectors/v1/spike_convs_k7_k3_k1/model.esnn").read_bytes())
    path = folder / "events.esnn"
    path.write_bytes(to_bytes(dataclasses.replace(m, input_scale_num=1)))
    return path


def run(board: str, model: Path, samples: list, float_model: torch.nn.Module | None) -> dict:
    with Client(open_device(board, model), timeout=5.0) as client:
        streamer = Streamer(client, model.read_bytes(), float_model=float_model)
        streamer.connect()
        report = streamer.run(samples)
    s = report.summary()
    s["link_samples_per_s"] = s["samples"] / s["round_trip_s"] if s["round_trip_s"] else None
    s["link_events_per_s"] = s["events"] / s["round_trip_s"] if s["round_trip_s"] and s["events"] else None
    return s


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=50)
    p.add_argument("--boards", default="host,qemu-mps2-an386")
    args = p.parse_args()
    torch.set_num_threads(1)
    boards = [b for b in args.boards.split(",") if b]
    if "qemu-mps2-an386" in boards and (
        shutil.which("qemu-system-arm") is None or "qemu-mps2-an386" not in OPENERS
    ):
        print("qemu-mps2-an386: skipped (qemu-system-arm or its opener is missing)")
        boards.remove("qemu-mps2-an386")
    with tempfile.TemporaryDirectory() as tmp:
        demo, float_model = demo_blob(Path(tmp))
        events = event_blob(Path(tmp))
        mi_d, mi_e = ModelInput.of(load(demo.read_bytes())), ModelInput.of(load(events.read_bytes()))
        images = list(dataset_samples("fashion-mnist", mi_d, limit=8 + args.samples))[8:]
        binning, _ = resolve_binning(
            mi_e, dataset="emulated-fashion-mnist", overrides={"size": (16, 16), "mode": "binary"}
        )
        ev = list(dataset_samples("emulated-fashion-mnist", mi_e, limit=args.samples, params=binning))
        print(
            f"{'board':<18}{'workload':<9}{'n':>4}{'exact':>7}{'link s/s':>10}{'link ev/s':>12}"
            f"{'stream s/s':>12}{'transfer':>10}{'compute':>9}  device counter mean"
        )
        for board in boards:
            for name, model, items, fm in (
                ("images", demo, images, float_model),
                ("events", events, ev, None),
            ):
                s = run(board, model, items, fm)
                share = s["compute_share"]
                fmt = lambda v, f: "n/a" if v is None else format(v, f)  # noqa: E731
                print(
                    f"{board:<18}{name:<9}{s['samples']:>4}{s['bit_exact']:>7}"
                    f"{fmt(s['link_samples_per_s'], '.1f'):>10}{fmt(s['link_events_per_s'], ',.0f'):>12}"
                    f"{fmt(s['samples_per_s'], '.1f'):>12}"
                    f"{fmt(None if share is None else 100 * (1 - share), '.1f') + '%':>10}"
                    f"{fmt(None if share is None else 100 * share, '.1f') + '%':>9}"
                    f"  {fmt(s['counter_mean'], ',.0f')} {s['counter_kind']}"
                )


if __name__ == "__main__":
    main()
