"""The LIF kernel's paths for int32 currents (firmware/runtime/kernels/lif.c), bit-exact against the reference
interpreter on the host build (fast and reference kernels), under ASan/UBSan and under QEMU (the Cortex-M4
kernels): currents bounded below 2^30 (32-bit arithmetic; with leak 1/2, 8 channels and a 32-bit state the
Cortex-M4 assembly kernel), unbounded currents (int64), power-of-two and other leaks, 16- and 32-bit states.
Currents reach +-(2^30 - 1) and thresholds sit at the edges of the 32-bit comparison (2^30 - 1, 2^30,
2^31 - 1) and at 1. The int16 current planes (an acc16 spike conv feeding a 16-bit LIF: the SIMD kernels, the
Cortex-M4 assembly for 8, 16, 32 and 64 channels) with currents at +-32767, thresholds 1 and 32767 and odd
pixel counts."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from edgesnn.format.layout import BufferKind
from edgesnn.format.model import Buffer, Conv, Lif, Model, Readout
from edgesnn.format.writer import to_bytes
from edgesnn.reference import run as reference_run
from edgesnn.runtime.c import CRuntime
from tests.firmware.conftest import assert_asan_clean, assert_c_matches_reference

T = 6
LIMIT = 2**30 - 1  # the largest current bound that takes the 32-bit paths


def lif_model(
    c: int, hw: tuple[int, int], leak_mul: int, state_bits: int, bounded: bool, seed: int = 0
) -> Model:
    """u8 [1, H, W] frames -> conv (int16 weights, 3x3, pad 1) -> LIF -> readout; the conv bias puts the
    current bound at exactly 2^30 - 1 (bounded) or past it."""
    rng = np.random.default_rng(seed)
    h, w = hw
    bufs = [Buffer(BufferKind.INPUT_U8, 1, h, w), Buffer(BufferKind.CURRENT, c, h, w)]
    bufs += [Buffer(BufferKind.SPIKES, c, h, w)]
    wt = rng.integers(-32767, 32768, (1, 3, 3, c)).astype(np.int16)
    wt[..., 0] = 32767  # channel 0 reaches +(2^30 - 1) on a bright frame, channel 1 -(2^30 - 1)
    wt[..., 1] = -32767
    room = LIMIT - 255 * np.abs(wt.astype(np.int64)).sum(axis=(0, 1, 2))
    bias = (room * rng.choice([-1, 1], c) * rng.uniform(0, 1, c)).astype(np.int64)
    bias[0], bias[1] = room[0], -room[1]
    if not bounded:
        bias[2] = room[2] + 1
    th = rng.integers(1, 2**29, c).astype(np.int64)
    th[:6] = [LIMIT, 2**30, 2**31 - 1, 1, 2**29, LIMIT - 1]
    wr = rng.integers(-128, 128, (c, 5)).astype(np.int8)
    ops = [
        Conv(0, 1, wt, bias.astype(np.int32), 1, 1, 16),
        Lif(1, 2, th.astype(np.int32), leak_mul, state_bits),
        Readout(2, wr, rng.integers(-99, 99, 5).astype(np.int32), 8),
    ]
    return Model(T, 5, bufs, ops)


def cur16_model(c: int, hw: tuple[int, int], seed: int = 0) -> Model:
    """u8 [1, H, W] -> static conv -> LIF -> spike conv (int8, bound <= 32767: int16 plane) -> 16-bit LIF with
    leak 1/2 (reads the plane) -> readout; channels 0 and 1 of the plane reach +32767 and -32767."""
    rng = np.random.default_rng(seed)
    h, w = hw
    cur, spk = BufferKind.CURRENT, BufferKind.SPIKES
    bufs = [Buffer(BufferKind.INPUT_U8, 1, h, w), Buffer(cur, c, h, w), Buffer(spk, c, h, w)]
    bufs += [Buffer(cur, c, h, w), Buffer(spk, c, h, w)]
    w0, b0 = rng.integers(-40, 80, (1, 3, 3, c)).astype(np.int8), rng.integers(-50, 50, c).astype(np.int32)
    w2 = rng.integers(-40, 41, (c, 3, 3, c)).astype(np.int8)
    room = 32767 - np.abs(w2.astype(np.int64)).sum(axis=(0, 1, 2))
    b2 = rng.integers(-200, 300, c).astype(np.int32)
    b2[0], b2[1] = room[0], -room[1]
    th = rng.integers(1, 400, c).astype(np.int32)
    th[:4] = [32767, 1, 32766, 2]
    wr, br = rng.integers(-128, 128, (c, 5)).astype(np.int8), rng.integers(-99, 99, 5).astype(np.int32)
    ops = [
        Conv(0, 1, w0, b0, 1, 1, 8, static=True),
        Lif(1, 2, rng.integers(1, 4000, c).astype(np.int32), 32768, 32),
        Conv(2, 3, w2, b2, 1, 1, 8),
        Lif(3, 4, th, 32768, 16),
        Readout(4, wr, br, 8),
    ]
    return Model(T, 5, bufs, ops, layer_major=True, static_input=True)


CUR16 = [(8, (5, 7)), (8, (1, 1)), (8, (2, 3)), (8, (2, 4)), (16, (3, 5)), (32, (3, 3)), (64, (1, 3))]
CUR16_IDS = [f"cur16-c{c}-{h}x{w}" for c, (h, w) in CUR16]


@pytest.mark.parametrize("case", CUR16, ids=CUR16_IDS)
def test_lif_cur16_bit_exact(rt: CRuntime, case):
    blob = to_bytes(cur16_model(*case))
    rng = np.random.default_rng(4)
    for scale in (255, 60):
        x = rng.integers(0, scale + 1, (1, 1, *case[1]), dtype=np.uint8)
        want = reference_run(blob, x)
        assert_c_matches_reference(rt, blob, x, want)


CASES = [
    (8, (5, 7), 32768, 32, True),  # Cortex-M4: the assembly kernel (4 pixels per loop; 35 % 4 = 3)
    (8, (1, 1), 32768, 32, True),  # one pixel
    (8, (2, 3), 32768, 32, True),
    (8, (2, 4), 32768, 32, True),
    (8, (3, 4), 16384, 32, True),
    (8, (3, 4), 32768, 16, True),
    (16, (3, 4), 32768, 32, True),
    (40, (2, 3), 32768, 32, True),
    (8, (3, 4), 40000, 32, True),
    (8, (3, 4), 32768, 32, False),
    (8, (3, 4), 32768, 16, False),
]
IDS = [f"c{c}-{h}x{w}-leak{m}-state{b}-{'bounded' if k else 'int64'}" for c, (h, w), m, b, k in CASES]


def frames(seed: int, hw: tuple[int, int]) -> list[np.ndarray]:
    """Bright, dark and mixed frame sequences (the currents swing between the bounds)."""
    rng = np.random.default_rng(seed)
    bright = np.full((T, 1, *hw), 255, np.uint8)
    bright[1::3] = 0
    return [bright, rng.integers(0, 256, (T, 1, *hw), dtype=np.uint8)]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_lif_paths_bit_exact(rt: CRuntime, case):
    blob = to_bytes(lif_model(*case))
    fired = 0
    for x in frames(1, case[1]):
        want = reference_run(blob, x)
        fired += int(want.spike_counts[0])
        assert_c_matches_reference(rt, blob, x, want)
    assert 0 < fired < 2 * T * case[0] * case[1][0] * case[1][1], "the LIF neither silent nor saturated"


def test_lif_paths_asan_clean(asan_cli: Path, tmp_path: Path):
    for k, case in enumerate(CASES):
        assert_asan_clean(asan_cli, tmp_path, to_bytes(lif_model(*case)), frames(2, case[1])[1], IDS[k])


def test_lif_paths_bit_exact_under_qemu(tmp_path: Path):
    """Every case above (both model families) on the Cortex-M4 build: logits, spike counts and final
    states."""
    from tests.firmware.test_qemu import NEEDED, make, run_vectors_under_qemu, write_vector

    if any(shutil.which(t) is None for t in NEEDED):
        pytest.skip("needs arm-none-eabi-gcc, qemu-system-arm and make (tests/run.sh installs them)")
    assert make("qemu-image").returncode == 0
    dirs = []
    for k, case in enumerate(CASES):
        blob = to_bytes(lif_model(*case))
        for j, x in enumerate(frames(3, case[1])):
            dirs.append(write_vector(tmp_path / f"lif_{k}_{j}", blob, x))
    rng = np.random.default_rng(5)
    for k, case in enumerate(CUR16):
        blob = to_bytes(cur16_model(*case))
        assert reference_run(blob, np.zeros((1, 1, *case[1]), np.uint8)).spike_counts.size == 2
        for j, scale in enumerate((255, 60)):
            x = rng.integers(0, scale + 1, (1, 1, *case[1]), dtype=np.uint8)
            dirs.append(write_vector(tmp_path / f"cur16_{k}_{j}", blob, x))
    run_vectors_under_qemu(tmp_path, dirs)
