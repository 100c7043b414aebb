"""Where does the event-driven spike conv beat a dense int8 conv? One spike conv at controlled input firing
rates on the emulated Cortex-M4 (QEMU mps2-an386, exact instruction counts, DESIGN.md 5a), against the dense
int8 conv of the same layer (plain C, one MAC per weight per output pixel, firmware/bench/bench_main.c) run
once per inference. Measures; asserts nothing.

Each case is a small model: u8 frames [C, H, W] (values 0 or 2) -> 1x1 identity conv -> LIF (threshold 1, leak
1/2: it fires exactly where the frame is 2) -> the measured conv (random int8 weights within the int16
accumulator bound) -> LIF -> readout. The input spikes are uniform random at each rate, T steps.
- event: the measured conv op's instructions per inference (all T steps; the -DESNN_PROFILE image's per-op
  timer reads, a few instructions of hook included).
- dense: the dense baseline of the model minus that of the same model without the measured conv, so the
  difference is the dense conv alone.

    python bench/bench_firing_sweep.py [--rates 1,2,5,10,20,30,50] [--T 4] [--samples 2]
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_runtime import FIRMWARE, NS_PER_INSN, NS_PER_TICK, build, qemu, run_qemu  # noqa: E402
from edgesnn.format.layout import BufferKind  # noqa: E402
from edgesnn.format.model import Buffer, Conv, Lif, Model, Readout  # noqa: E402
from edgesnn.format.writer import to_bytes  # noqa: E402

# (cin, cout, H, W, stride): the spike convs of the width-1/8 Fashion-MNIST demo topology
LAYERS = [(8, 8, 28, 28, 1), (8, 16, 28, 28, 2), (16, 16, 14, 14, 1), (32, 32, 7, 7, 1), (64, 64, 4, 4, 1)]


def layer_model(cin: int, cout: int, h: int, w: int, stride: int, T: int, with_conv: bool) -> Model:
    rng = np.random.default_rng(0)
    ho, wo = (h - 1) // stride + 1, (w - 1) // stride + 1
    bufs = [Buffer(BufferKind.INPUT_U8, cin, h, w), Buffer(BufferKind.CURRENT, cin, h, w)]
    bufs += [Buffer(BufferKind.SPIKES, cin, h, w)]
    eye = np.zeros((cin, 1, 1, cin), np.int8)
    eye[np.arange(cin), 0, 0, np.arange(cin)] = 1
    ops = [Conv(0, 1, eye, np.zeros(cin, np.int32), 1, 0, 8), Lif(1, 2, np.ones(cin, np.int32), 32768, 16)]
    readout_in, c_out = 2, cin
    if with_conv:
        bufs += [Buffer(BufferKind.CURRENT, cout, ho, wo), Buffer(BufferKind.SPIKES, cout, ho, wo)]
        wmax = min(127, 32000 // (9 * cin))
        wt = rng.integers(-wmax, wmax + 1, (cin, 3, 3, cout)).astype(np.int8)
        ops += [Conv(2, 3, wt, rng.integers(-500, 500, cout).astype(np.int32), stride, 1, 8)]
        ops += [Lif(3, 4, rng.integers(50, 400, cout).astype(np.int32), 32768, 16)]
        readout_in, c_out = 4, cout
    wr = rng.integers(-128, 128, (c_out, 10)).astype(np.int8)
    ops.append(Readout(readout_in, wr, np.zeros(10, np.int32), 8))
    return Model(T, 10, bufs, ops)


def frames(cin: int, h: int, w: int, T: int, rate: float, n: int) -> np.ndarray:
    rng = np.random.default_rng(1)
    return (2 * (rng.random((n, T, cin, h, w)) < rate)).astype(np.uint8)


def event_insns(elf: Path, blob: Path, inputs: Path, n: int, op: int) -> float:
    out = run_qemu(elf, "esnn", blob, inputs, n)
    ticks = sum(int(t) for k, t in re.findall(r"^profile op (\d+) ticks (\d+)$", out, re.M) if int(k) == op)
    return ticks * NS_PER_TICK / NS_PER_INSN / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rates", default="1,2,5,10,20,30,50", help="input firing rates in percent")
    ap.add_argument("--T", type=int, default=4, help="time steps per inference")
    ap.add_argument("--samples", type=int, default=2, help="inferences per measurement")
    ap.add_argument("--firmware", type=Path, default=FIRMWARE, help="the firmware/ tree to measure")
    args = ap.parse_args()
    if shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None:
        sys.exit(
            "needs arm-none-eabi-gcc and qemu-system-arm (apt-get install gcc-arm-none-eabi qemu-system-arm "
            "libnewlib-arm-none-eabi)"
        )
    rates = [float(r) / 100 for r in args.rates.split(",")]
    with tempfile.TemporaryDirectory(prefix="edgesnn-sweep-") as d:
        tmp = Path(d)
        _, elf = build(tmp, args.firmware)
        _, prof = build(tmp, args.firmware, profile=True)
        assert elf is not None and prof is not None
        print(
            f"Cortex-M4 instructions per inference (T={args.T}) of one spike conv; event / dense in brackets:"
        )
        print(f"{'layer':<24}" + "".join(f"{f'{100 * r:g} %':>16}" for r in rates) + f"{'dense':>10}")
        for cin, cout, h, w, s in LAYERS:
            dense = []
            for with_conv in (True, False):
                blob = tmp / f"dense{int(with_conv)}.esnn"
                blob.write_bytes(to_bytes(layer_model(cin, cout, h, w, s, args.T, with_conv)))
                x = frames(cin, h, w, args.T, 0.1, args.samples)
                x.tofile(tmp / "x.bin")
                dense.append(qemu(elf, "dense", blob, tmp / "x.bin", args.samples)[0])
            dense_conv = dense[0] - dense[1]
            blob = tmp / "m.esnn"
            blob.write_bytes(to_bytes(layer_model(cin, cout, h, w, s, args.T, True)))
            cells = []
            for r in rates:
                frames(cin, h, w, args.T, r, args.samples).tofile(tmp / "x.bin")
                ev = event_insns(prof, blob, tmp / "x.bin", args.samples, op=2)
                cells.append(f"{ev / 1e3:>8.0f}k ({ev / dense_conv:4.2f})")
            name = f"{cin}->{cout} 3x3/{s} {h}x{w}"
            print(f"{name:<24}" + "".join(f"{c:>16}" for c in cells) + f"{dense_conv / 1e3:>9.0f}k")


if __name__ == "__main__":
    main()
