"""The Cortex-M4 builds: static library size and no-allocator check, and every conformance vector bit-exact in
the mps2-an386 test image under qemu-system-arm (semihosting: vector files, printf, exit status)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgesnn.runtime.c import FIRMWARE
from tests.firmware.conftest import VECTORS

NEEDED = ("arm-none-eabi-gcc", "qemu-system-arm", "make")
pytestmark = pytest.mark.skipif(
    any(shutil.which(t) is None for t in NEEDED),
    reason="needs arm-none-eabi-gcc (gcc-arm-none-eabi, libnewlib-arm-none-eabi) and qemu-system-arm; "
    "tests/run.sh installs them",
)


def make(*targets: str) -> subprocess.CompletedProcess[str]:
    cmd = ["make", "-C", str(FIRMWARE), "-j1", *targets]
    return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=600)


def qemu(vector_list: Path) -> subprocess.CompletedProcess[str]:
    elf = FIRMWARE / "build" / "m4" / "esnn_qemu.elf"
    cmd = [
        "qemu-system-arm", "-M", "mps2-an386", "-display", "none", "-monitor", "none", "-nographic",
        "-serial", "null", "-semihosting-config",
        f"enable=on,target=native,arg=esnn_qemu,arg={vector_list}", "-kernel", str(elf),
    ]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=300)


def test_m4_library_has_no_allocator_and_no_ram():
    proc = make("m4", "check-noalloc")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "check-noalloc: ok" in proc.stdout
    size = (FIRMWARE / "build" / "m4" / "size.txt").read_text()
    totals = next(ln for ln in size.splitlines() if "TOTALS" in ln).split()
    text, data, bss = map(int, totals[:3])
    assert data == 0 and bss == 0
    # code-size budget for the whole runtime; the unrolled 3x3 Cortex-M4 conv kernels take about 7 KiB of it
    assert 0 < text < 64 * 1024


def test_every_vector_bit_exact_under_qemu():
    proc = make("qemu-test")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert f"{len(VECTORS)}/{len(VECTORS)} vectors bit-exact" in proc.stdout
    for v in VECTORS:
        assert f"PASS ../export/vectors/v1/{v.name}/" in proc.stdout


def test_qemu_image_fails_on_a_wrong_expectation(tmp_path: Path):
    assert make("qemu-image").returncode == 0
    good, bad = VECTORS[0], tmp_path / "bad"
    shutil.copytree(good, bad)
    logits = np.fromfile(bad / "logits.bin", dtype="<i4")
    logits[0] += 1
    logits.astype("<i4").tofile(bad / "logits.bin")
    lst = tmp_path / "list.txt"
    lst.write_text(f"{good}/\n{bad}/\n")
    proc = qemu(lst)
    assert proc.returncode == 1, proc.stdout
    assert f"PASS {good}/" in proc.stdout
    assert f"FAIL {bad}/: logits" in proc.stdout
    assert "1/2 vectors bit-exact" in proc.stdout


def test_demo_model_bit_exact_under_qemu(tmp_path: Path):
    """The demo topology takes the Cortex-M4 fast paths the small vectors do not reach (int16 SIMD spike conv
    with cout 8..64, int16 current planes read by the SIMD LIF, ATTN reading and writing int16 planes):
    logits, spike counts and every final LIF state bit-exact with the reference, dense and sparse inputs."""
    from edgesnn.reference import parse
    from tests.firmware.demo_model import demo_blob

    assert make("qemu-image").returncode == 0
    blob, _ = demo_blob("C", calib=8)
    m = parse(blob)
    rng = np.random.default_rng(5)
    dirs = []
    for scale in (255, 40):
        x = rng.integers(0, scale + 1, (1 if m.static_input else m.T, *m.input.shape), dtype=np.uint8)
        dirs.append(write_vector(tmp_path / f"demo_{scale}", blob, x))
    run_vectors_under_qemu(tmp_path, dirs)


def test_attn_paths_bit_exact_under_qemu(tmp_path: Path):
    """Every ATTN arithmetic path (tests/firmware/test_attn_paths.py: int16 plane in/out with the Cortex-M4
    SIMD kernels, int16 in and int32 out, int64) for T, C and S, MA and IA, bit-exact under QEMU."""
    from edgesnn.format.writer import to_bytes
    from tests.firmware.test_attn_paths import CASES, H, W, attn_model

    assert make("qemu-image").returncode == 0
    rng = np.random.default_rng(6)
    dirs = []
    for k, case in enumerate(CASES):
        blob = to_bytes(attn_model(*case))
        x = rng.integers(0, 256, (1, 1, H, W), dtype=np.uint8)
        dirs.append(write_vector(tmp_path / f"attn_{k}", blob, x))
    run_vectors_under_qemu(tmp_path, dirs)


def write_vector(d: Path, blob: bytes, x: np.ndarray) -> Path:
    """A vector folder (FORMAT.md section 4 layout) whose expected files are the reference's outputs."""
    from edgesnn.reference import run as reference_run

    want = reference_run(blob, x)
    d.mkdir()
    (d / "model.esnn").write_bytes(blob)
    (d / "input.bin").write_bytes(x.tobytes())
    (d / "logits.bin").write_bytes(np.asarray(want.logits, "<i4").tobytes())
    (d / "spike_counts.bin").write_bytes(np.asarray(want.spike_counts, "<u4").tobytes())
    states = np.concatenate([np.asarray(s, "<i4").ravel() for s in want.final_state])
    (d / "final_state.bin").write_bytes(states.tobytes())
    return d


def run_vectors_under_qemu(tmp_path: Path, dirs: list[Path]) -> None:
    lst = tmp_path / "list.txt"
    lst.write_text("".join(f"{d}/\n" for d in dirs))
    proc = qemu(lst)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert f"{len(dirs)}/{len(dirs)} vectors bit-exact" in proc.stdout
