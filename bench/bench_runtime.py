"""Instructions per inference of the C runtime, per synaptic operation, and against a dense int8 ANN of the
same topology, on the host (valgrind callgrind) and on an emulated Cortex-M4 (QEMU mps2-an386, exact
instruction counts with -icount shift=7 and the CMSDK dual timer, DESIGN.md 5a). Measures; asserts nothing.

Model: the width-1/8 Fashion-MNIST topology (T=4) exported through `edgesnn.export.pipeline.export_model`
with real Fashion-MNIST calibration images: the trained demo checkpoint (edgesnn/zoo/) when present, else
--checkpoint (default: the demo training run's best.pt when there), else a randomly initialised network.

    python bench/bench_runtime.py [--samples 4] [--attention C|none] [--checkpoint PATH] [--profile]

--profile also builds the Cortex-M4 image with -DESNN_PROFILE (firmware/bench/bench_main.c: the timer read
before and after every op) and prints the instructions per inference of each kernel and of each spike conv
(the hook's own cost, a few instructions per op, included). --firmware DIR measures another copy of firmware/.

SOPs (synaptic operations) come from the reference interpreter's traces: every input spike of a spike conv
times its fan-out (output channels x the output positions its kernel window reaches), plus READOUT adds
(spikes x classes). The first conv reads u8 pixels and is counted as dense MACs, listed separately.
The dense baseline (firmware/bench/bench_main.c) runs once per inference: one int8 MAC per weight per
output pixel, plain C loops, the model's own int8 weights.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgesnn.format import Conv, Model, Readout, parse  # noqa: E402
from edgesnn.reference import run as reference_run  # noqa: E402
from tests.firmware.demo_model import DEMO_CHECKPOINT, calibration_images  # noqa: E402

FIRMWARE = ROOT / "firmware"
STD = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]
TRAINING_RUN_BEST = ROOT / "runs" / "zoo-fmnist" / "best.pt"
NS_PER_INSN, NS_PER_TICK = 128, 40  # -icount shift=7: 2^7 ns per instruction; 25 MHz timer


def export_demo(
    attention: str, checkpoint_path: Path | None, calib: int
) -> tuple[bytes, str, torch.nn.Module]:
    from edgesnn import checkpoint
    from edgesnn.devices import load_profile
    from edgesnn.export.pipeline import export_model
    from edgesnn.models.config import preset
    from edgesnn.models.resnet import build_model

    torch.manual_seed(0)
    path = checkpoint_path
    if path is None and attention == "C":
        path = next((p for p in (DEMO_CHECKPOINT, TRAINING_RUN_BEST) if p.is_file()), None)
    if path is not None:
        net, origin = (
            checkpoint.load(path),
            f"checkpoint {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}",
        )
    else:
        net = build_model(preset("fashion-mnist", width=0.125, T=4, attention=attention))
        origin = f"randomly initialised (attention {attention})"
    x, src = calibration_images(calib, seed=0)
    result = export_model(net, [(x, torch.zeros(calib, dtype=torch.long))], load_profile("host"), 8)
    return result.blob, f"{origin}; calibrated on {calib} {src}", net.eval()


def fanout(n_in: int, n_out: int, k: int, stride: int, pad: int) -> np.ndarray:
    """For each input row/column, how many (output position, kernel tap) pairs read it."""
    counts = np.zeros(n_in, dtype=np.int64)
    for o in range(n_out):
        for t in range(k):
            i = o * stride - pad + t
            if 0 <= i < n_in:
                counts[i] += 1
    return counts


def synaptic_ops(model: Model, x: np.ndarray, per_op: dict[int, int] | None = None) -> dict[str, int]:
    """SOPs of one sample from the reference traces, the first layer's dense MACs and the dense ANN MACs.
    per_op, when given, accumulates each spike conv's SOPs under its op index."""
    res = reference_run(model, x, trace=True)
    assert res.traces is not None
    producer = {op.out: k for k, op in enumerate(model.ops) if not isinstance(op, Readout)}
    sops = first_macs = dense_macs = spikes_in = 0
    for k, op in enumerate(model.ops):
        if isinstance(op, Conv):
            cin, kh, kw, cout = op.weights.shape
            _, h_in, w_in = model.buffers[op.in0].shape
            _, h_out, w_out = model.buffers[op.out].shape
            macs = cout * h_out * w_out * cin * kh * kw
            dense_macs += macs
            if op.in0 == 0:
                first_macs += macs * (1 if op.static else model.T)
                continue
            spikes = res.traces[producer[op.in0]].astype(np.int64)  # [T, C, H, W]
            per_pixel = np.outer(
                fanout(h_in, h_out, kh, op.stride, op.pad), fanout(w_in, w_out, kw, op.stride, op.pad)
            )
            op_sops = int((spikes.sum(axis=(0, 1)) * per_pixel).sum()) * cout
            sops += op_sops
            if per_op is not None:
                per_op[k] = per_op.get(k, 0) + op_sops
            spikes_in += int(spikes.sum())
        elif isinstance(op, Readout):
            spikes = res.traces[producer[op.in0]].astype(np.int64)
            classes = op.weights.shape[-1]
            sops += int(spikes.sum()) * classes
            dense_macs += model.buffers[op.in0].shape[0] * classes
    neurons = sum(int(np.prod(model.buffers[op.out].shape)) for op in model.ops if type(op).__name__ == "Lif")
    return {
        "sops": sops,
        "first_macs": first_macs,
        "dense_macs": dense_macs,
        "spikes_in": spikes_in,
        "spikes": int(res.spike_counts.sum()),
        "neurons_steps": neurons * model.T,
        "predicted": int(res.predicted),
    }


def sources(fw: Path) -> tuple[list[Path], Path, Path]:
    """Runtime sources, the bench harness and the QEMU port of a firmware/ tree."""
    runtime = [*sorted((fw / "runtime").glob("*.c")), *sorted((fw / "runtime" / "kernels").glob("*.c"))]
    return runtime, fw / "bench" / "bench_main.c", fw / "ports" / "qemu-mps2-an386"


def build(tmp: Path, fw: Path = FIRMWARE, profile: bool = False) -> tuple[Path, Path | None]:
    runtime_src, bench_src, port = sources(fw)
    host = tmp / "bench_host"
    cmd = [
        "cc",
        *STD,
        "-O2",
        "-g",
        f"-I{fw / 'runtime'}",
        "-o",
        str(host),
        str(bench_src),
        *map(str, runtime_src),
    ]
    subprocess.run(cmd, check=True)
    if shutil.which("arm-none-eabi-gcc") is None:
        return host, None
    elf = tmp / ("bench_m4_profile.elf" if profile else "bench_m4.elf")
    cmd = [
        "arm-none-eabi-gcc", *STD, "-mcpu=cortex-m4", "-mthumb", "-O2",
        "-ffunction-sections", "-fdata-sections", "-DBENCH_M4", f"-I{fw / 'runtime'}",
        *(["-DESNN_PROFILE"] if profile else []),
        "--specs=nano.specs", "--specs=rdimon.specs",
        "-T", str(port / "mps2_an386.ld"), "-Wl,--gc-sections", "-o", str(elf),
        str(port / "startup.S"), str(bench_src), *map(str, runtime_src),
    ]  # fmt: skip
    subprocess.run(cmd, check=True)
    return host, elf


def parse_lines(text: str, mode: str) -> tuple[int, list[int], list[int]]:
    calib = int(re.search(rf"^{mode} calib ticks (\d+)$", text, re.M).group(1))  # type: ignore[union-attr]
    rows = re.findall(rf"^{mode} \d+ predicted (-?\d+) ticks (\d+)$", text, re.M)
    return calib, [int(p) for p, _ in rows], [int(t) for _, t in rows]


def callgrind(host: Path, mode: str, model: Path, inputs: Path, n: int, tmp: Path) -> tuple[float, list[int]]:
    out = tmp / f"callgrind.{mode}"
    fn = f"bench_{mode}_sample"
    cmd = ["valgrind", "--tool=callgrind", f"--toggle-collect={fn}", f"--callgrind-out-file={out}"]
    proc = subprocess.run(
        [*cmd, str(host), mode, str(model), str(inputs), str(n)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stdout + proc.stderr)
    total = int(re.search(r"^summary: (\d+)", out.read_text(), re.M).group(1))  # type: ignore[union-attr]
    return total / n, parse_lines(proc.stdout, mode)[1]


def breakdown(tmp: Path, mode: str, n: int, top: int = 12) -> list[tuple[str, float, float]]:
    """Top functions of a callgrind run: (function, M instructions per inference, % of the total)."""
    if shutil.which("callgrind_annotate") is None:
        return []
    proc = subprocess.run(
        ["callgrind_annotate", str(tmp / f"callgrind.{mode}")], capture_output=True, text=True, check=False
    )
    rows = re.findall(r"^\s*([\d,]+) \(\s*([\d.]+)%\)\s+(\S+):(\S+)", proc.stdout, re.M)
    return [
        (f"{Path(f).name}:{fn}", int(ir.replace(",", "")) / n / 1e6, float(p)) for ir, p, f, fn in rows[:top]
    ]


def run_qemu(elf: Path, mode: str, model: Path, inputs: Path, n: int, budget: int | None = None) -> str:
    args = ",".join(f"arg={a}" for a in ("bench", mode, model, inputs, n, *([budget] if budget else [])))
    cmd = [
        "qemu-system-arm", "-M", "mps2-an386", "-icount", "shift=7", "-display", "none", "-monitor", "none",
        "-nographic", "-serial", "null", "-semihosting-config", f"enable=on,target=native,{args}",
        "-kernel", str(elf),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(proc.stdout + proc.stderr)
    return proc.stdout


def qemu(
    elf: Path, mode: str, model: Path, inputs: Path, n: int, budget: int | None = None
) -> tuple[float, list[int], list[float]]:
    out = run_qemu(elf, mode, model, inputs, n, budget)
    calib, predicted, ticks = parse_lines(out, mode)
    insns = [(t - calib) * NS_PER_TICK / NS_PER_INSN for t in ticks]
    return float(np.mean(insns)), predicted, insns


def qemu_arena(elf: Path, model: Path, inputs: Path, n: int, budget: int) -> tuple[float, list[int], int]:
    """Instructions per inference and the arena the plan uses with an arena budget (ESNN_OPT_FAST)."""
    out = run_qemu(elf, "esnn", model, inputs, n, budget)
    calib, predicted, ticks = parse_lines(out, "esnn")
    used = int(re.search(r"^arena (\d+)$", out, re.M).group(1))  # type: ignore[union-attr]
    return float(np.mean([(t - calib) * NS_PER_TICK / NS_PER_INSN for t in ticks])), predicted, used


def profile(elf: Path, model: Model, blob: Path, inputs: Path, n: int, op_sops: dict[int, int]) -> None:
    """Per-kernel and per-spike-conv Cortex-M4 instructions per inference (the -DESNN_PROFILE image);
    op_sops: each spike conv's SOPs summed over the n samples."""
    out = run_qemu(elf, "esnn", blob, inputs, n)
    kernels: dict[str, float] = {}
    ops: dict[int, float] = {}
    for name, ticks in re.findall(r"^profile (\w+) ticks (\d+)$", out, re.M):
        kernels[name] = kernels.get(name, 0.0) + int(ticks) * NS_PER_TICK / NS_PER_INSN / n
    for k, ticks in re.findall(r"^profile op (\d+) ticks (\d+)$", out, re.M):
        ops[int(k)] = ops.get(int(k), 0.0) + int(ticks) * NS_PER_TICK / NS_PER_INSN / n
    total = sum(kernels.values())
    print("Cortex-M4 instructions per inference by kernel (-DESNN_PROFILE, M):")
    for name, m in sorted(kernels.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<12} {m / 1e6:8.3f}  {100 * m / total:5.1f} %")
    print(f"  {'total':<12} {total / 1e6:8.3f}")
    print("spike convs (op: cin -> cout, kernel/stride, output; M instructions per inference, per SOP):")
    for k, op in enumerate(model.ops):
        if isinstance(op, Conv) and op.in0 != 0 and k in ops:
            cin, kh, kw, cout = op.weights.shape
            _, h, w = model.buffers[op.out].shape
            shape = f"{cin:>3} -> {cout:<3} {kh}x{kw}/{op.stride} {h:>2}x{w:<2}"
            per_sop = ops[k] * n / op_sops[k] if op_sops.get(k) else float("nan")
            print(f"  op {k:<3} {shape} {ops[k] / 1e6:8.3f} {per_sop:6.2f}")
    print("other ops (M instructions per inference; LIF/ATTN: per neuron-step):")
    for k, op in enumerate(model.ops):
        if k in ops and not (isinstance(op, Conv) and op.in0 != 0):
            c, h, w = model.buffers[op.out].shape if not isinstance(op, Readout) else (0, 0, 0)
            neuron_op = c and type(op).__name__ in ("Lif", "Attn")
            per = f"{ops[k] / (c * h * w * model.T):6.2f}" if neuron_op else ""
            print(f"  op {k:<3} {type(op).__name__:<8} {c:>3}x{h:>2}x{w:<2} {ops[k] / 1e6:8.3f} {per}")


def latency(
    host_model: bytes, net: torch.nn.Module, x: np.ndarray, reps: int, fw: Path = FIRMWARE
) -> tuple[float, float]:
    """Wall seconds per inference at batch 1: the host C runtime (ctypes) and PyTorch eager (float)."""
    from edgesnn.runtime.c import CRuntime

    if fw == FIRMWARE:
        rt = CRuntime()
    else:
        subprocess.run(["make", "-C", str(fw), "-j1", "host"], check=True, capture_output=True)
        rt = CRuntime(library=fw / "build" / "host" / "libesnn.so", rebuild=False)
    model = rt.load(host_model)  # loaded once, as on a device (validation is not per sample)
    model.predict(x[:1])
    t0 = time.perf_counter()
    for i in range(reps):
        model.predict(x[i % len(x)])
    c = (time.perf_counter() - t0) / reps
    xt = torch.from_numpy(x.astype(np.float32) / 255.0)
    with torch.inference_mode():
        net(xt[:1])
        t0 = time.perf_counter()
        for i in range(reps):
            net(xt[i % len(x)][None])
    return c, (time.perf_counter() - t0) / reps


def m4_stack(firmware: Path) -> dict | None:
    """Worst-case Cortex-M4 stack of the runtime (firmware/tools/stack_usage.py), or None."""
    import importlib.util

    tool = firmware / "tools" / "stack_usage.py"
    if not tool.is_file() or shutil.which("arm-none-eabi-gcc") is None:
        return None
    spec = importlib.util.spec_from_file_location("stack_usage", tool)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["stack_usage"] = mod
    spec.loader.exec_module(mod)
    return mod.measure()


def dense_activation_bytes(model: Model) -> int:
    """The least activation RAM of a dense int8 network of this topology (ping-pong buffers, a byte a value):
    the largest input + output of one layer (a conv's current and its LIF are one int8 layer there)."""
    best = 0
    for op in model.ops:
        if isinstance(op, Conv):
            i, o = model.buffers[op.in0], model.buffers[op.out]
            best = max(best, i.channels * i.height * i.width + o.channels * o.height * o.width)
    return best


def arena_bytes(blob: bytes) -> tuple[int, int]:
    """The C runtime's planned arena and the arena without buffer reuse (esnn_arena_unplanned)."""
    import ctypes

    from edgesnn.runtime.c import CRuntime

    rt = CRuntime()
    fn = rt.lib.esnn_arena_unplanned
    fn.argtypes = (ctypes.POINTER(ctypes.c_uint8), ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t))
    n = ctypes.c_size_t(0)
    fn((ctypes.c_uint8 * len(blob)).from_buffer_copy(blob), len(blob), ctypes.byref(n))
    return rt.validate(blob).arena_bytes, n.value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=4, help="Fashion-MNIST test images per measurement")
    ap.add_argument(
        "--attention", choices=("C", "none"), default="C", help="SynA-C (default) or attention-free"
    )
    ap.add_argument("--checkpoint", type=Path, help="a checkpoint of the w1/8 topology to export")
    ap.add_argument("--calib", type=int, default=32, help="calibration images for the export")
    ap.add_argument("--reps", type=int, default=20, help="latency repetitions")
    ap.add_argument("--runs", type=int, default=5, help="latency runs (the median is reported)")
    ap.add_argument("--profile", action="store_true", help="per-kernel Cortex-M4 instruction counts")
    ap.add_argument(
        "--budgets", type=int, nargs="*", default=[49152, 65536, 131072], metavar="BYTES",
        help="arena budgets for the plan that spends RAM on speed (ESNN_OPT_FAST): instructions per budget",
    )  # fmt: skip
    ap.add_argument("--firmware", type=Path, default=FIRMWARE, help="the firmware/ tree to measure")
    args = ap.parse_args()
    torch.set_num_threads(1)

    blob, origin, net = export_demo(args.attention, args.checkpoint, args.calib)
    model = parse(blob)
    imgs, src = calibration_images(args.samples, seed=1)
    x = np.round(imgs.numpy() * 255).astype(np.uint8)  # [N, 1, 28, 28], STATIC_INPUT: one frame per sample
    print(f"model: {origin}; {len(blob)} B blob, T={model.T}, {len(model.ops)} ops")
    print(f"inputs: {args.samples} {src}")
    planned, unplanned = arena_bytes(blob)
    print(f"arena: {planned} B planned, {unplanned} B without buffer reuse ({planned / unplanned:.2f}x)")
    stack = m4_stack(args.firmware)
    if stack is not None:
        print(
            f"RAM on Cortex-M4: arena {planned} B + worst-case stack {stack['inference']} B (esnn_run; "
            f"esnn_init {stack['load']} B, firmware/tools/stack_usage.py) = "
            f"{planned + stack['inference']} B; "
            f"a dense int8 network of the same topology holds at least {dense_activation_bytes(model)} B of "
            "activations (the largest int8 input + output pair of one layer)"
        )

    op_sops: dict[int, int] = {}
    stats = [synaptic_ops(model, xi, op_sops) for xi in x]
    mean = {k: float(np.mean([s[k] for s in stats])) for k in stats[0]}
    rate = mean["spikes"] / mean["neurons_steps"]
    print(
        f"per inference: {mean['sops'] / 1e6:.3f} M SOPs, {mean['first_macs'] / 1e6:.3f} M first-layer MACs, "
        f"firing rate {100 * rate:.2f} % of neuron-steps; dense ANN {mean['dense_macs'] / 1e6:.3f} M MACs"
    )

    with tempfile.TemporaryDirectory(prefix="edgesnn-bench-") as d:
        tmp = Path(d)
        (tmp / "model.esnn").write_bytes(blob)
        x.tofile(tmp / "inputs.bin")
        host, elf = build(tmp, args.firmware)
        rows: list[tuple[str, float, float, str]] = []
        ref_pred = [s["predicted"] for s in stats]
        if shutil.which("valgrind"):
            ev, pred = callgrind(host, "esnn", tmp / "model.esnn", tmp / "inputs.bin", args.samples, tmp)
            dn, _ = callgrind(host, "dense", tmp / "model.esnn", tmp / "inputs.bin", args.samples, tmp)
            print(f"host predictions equal the reference: {pred == ref_pred}")
            print("host event-driven instructions by function (M per inference):")
            for fn, m_insn, pct in breakdown(tmp, "esnn", args.samples):
                print(f"  {fn:<34} {m_insn:8.3f}  {pct:5.1f} %")
            rows.append(("host x86-64 -O2 (callgrind)", ev, dn, f"{planned} + ?"))
        else:
            print("valgrind not installed (apt-get install valgrind): no host instruction counts")
        if elf is not None and shutil.which("qemu-system-arm"):
            ev, pred, per = qemu(elf, "esnn", tmp / "model.esnn", tmp / "inputs.bin", args.samples)
            dn, _, _ = qemu(elf, "dense", tmp / "model.esnn", tmp / "inputs.bin", args.samples)
            print(
                f"Cortex-M4 predictions equal the reference: {pred == ref_pred}; "
                f"instructions per sample {[round(p) for p in per]}"
            )
            ram = f"{planned + stack['inference']}" if stack is not None else f"{planned} + ?"
            rows.append(("Cortex-M4 -O2 (QEMU icount)", ev, dn, ram))
            for budget in args.budgets:  # the same model and inputs, the plan given more arena
                model_path, inputs_path = tmp / "model.esnn", tmp / "inputs.bin"
                ev_b, pred_b, used = qemu_arena(elf, model_path, inputs_path, args.samples, budget)
                assert pred_b == ref_pred, f"budget {budget}: predictions differ from the reference"
                ram_b = f"{used + stack['inference']}" if stack is not None else f"{used} + ?"
                rows.append((f"  arena budget {budget} B", ev_b, dn, ram_b))
            if args.profile:
                _, prof_elf = build(tmp, args.firmware, profile=True)
                assert prof_elf is not None
                profile(prof_elf, model, tmp / "model.esnn", tmp / "inputs.bin", args.samples, op_sops)
        else:
            print("arm-none-eabi-gcc / qemu-system-arm missing: no Cortex-M4 counts")

    print()
    head = (
        f"{'target':<30} {'event M insn':>12} {'insn/SOP':>9} {'dense M insn':>12} {'insn/MAC':>9} "
        f"{'event/dense':>11} {'RAM B (arena+stack)':>20}"
    )
    print(head)
    print("-" * len(head))
    for name, ev, dn, ram in rows:
        print(
            f"{name:<30} {ev / 1e6:>12.3f} {ev / mean['sops']:>9.2f} {dn / 1e6:>12.3f} "
            f"{dn / mean['dense_macs']:>9.2f} {ev / dn:>11.3f} {ram:>20}"
        )
    runs = [latency(blob, net, x, args.reps, args.firmware) for _ in range(max(1, args.runs))]
    c_s, torch_s = float(np.median([r[0] for r in runs])), float(np.median([r[1] for r in runs]))
    print(
        f"\nhost latency at batch 1 (median of {len(runs)} runs x {args.reps}): C runtime {1e3 * c_s:.2f} ms "
        f"(ctypes, model loaded once), PyTorch eager {1e3 * torch_s:.2f} ms: {torch_s / c_s:.1f}x "
        f"(ratios per run: {', '.join(f'{t / c:.1f}' for c, t in runs)})"
    )


if __name__ == "__main__":
    main()
