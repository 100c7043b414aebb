"""The ATTN kernel's arithmetic paths, chosen at load time from exact bounds (firmware/runtime/plan.c "fast
paths"), bit-exact against the reference interpreter for every dim and kind, on the host build (fast and
reference kernels) and under ASan/UBSan: an int16 plane in and out (acc16 CONV -> ATTN -> 16-bit LIF), an
int16 plane in and int32 out (the LIF keeps a 32-bit state), int32 in with 32-bit sums and products, and the
int64 arithmetic (int16 weights: no bound small enough)."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from edgesnn.format.layout import AttnDim, AttnKind, BufferKind
from edgesnn.format.model import Attn, Buffer, Conv, Lif, Model, Readout
from edgesnn.format.writer import to_bytes
from edgesnn.reference import run as reference_run
from edgesnn.runtime.c import CRuntime
from tests.firmware.conftest import assert_asan_clean, assert_c_matches_reference

T, C, H, W = 4, 8, 6, 6


def attn_model(
    dim: AttnDim,
    kind: AttnKind,
    lif_bits: int,
    wide: bool,
    seed: int = 0,
    shape: tuple[int, int, int] = (C, H, W),
    spread: bool = False,
) -> Model:
    """u8 [1, H, W] -> static conv -> LIF -> spike conv (C outputs) -> ATTN -> LIF -> readout. spread: conv
    outputs up to about 25000 (still an int16 plane in and out), a wider bottleneck with non-negative
    first-layer weights and shift 0, so that its hidden values pass 2^32 (breakpoints: see spread_model)."""
    rng = np.random.default_rng(seed)
    C, H, W = shape
    cur, spk = BufferKind.CURRENT, BufferKind.SPIKES
    bufs = [Buffer(BufferKind.INPUT_U8, 1, H, W), Buffer(cur, C, H, W), Buffer(spk, C, H, W)]
    bufs += [Buffer(cur, C, H, W), Buffer(cur, C, H, W), Buffer(spk, C, H, W)]
    if wide:  # int16 weights: the conv bound is far past int16, the ATTN runs its int64 arithmetic
        w2 = rng.integers(-30000, 30001, (C, 3, 3, C)).astype(np.int16)
        b2, bits = rng.integers(-2000, 2001, C).astype(np.int32), 16
        th = rng.integers(1, 60000, C).astype(np.int32)
    elif spread:  # |conv output| <= 15000 + 9 C lim <= 25000: int16 planes in (acc16) and out (40000 / 2^15)
        lim = min(90, max(1, 10000 // (9 * C)))
        w2 = rng.integers(-lim, lim + 1, (C, 3, 3, C)).astype(np.int8)
        b2, bits = rng.integers(-5000, 15001, C).astype(np.int32), 8
        th = rng.integers(1, 30000, C).astype(np.int32)
    else:
        w2 = rng.integers(-60, 91, (C, 3, 3, C)).astype(np.int8)
        b2, bits = rng.integers(-100, 101, C).astype(np.int32), 8
        th = rng.integers(1, 300, C).astype(np.int32)
    n = {AttnDim.T: T, AttnDim.C: C, AttnDim.S: 3}[dim]
    hidden = 0 if dim == AttnDim.S else max(2, n // 4) if spread else 2
    wmax = 128 if spread else 21
    w1_shape = (2, 3, 3) if dim == AttnDim.S else (hidden, n)
    w1 = rng.integers(0 if spread else -wmax, wmax, w1_shape).astype(np.int8)
    w2a = None if dim == AttnDim.S else rng.integers(-wmax, wmax, (n, hidden)).astype(np.int8)
    scale = 10**7 if wide else 10**4
    if kind == AttnKind.MA:
        table = np.sort(rng.integers(-scale, scale, 15)).astype(np.int64)
        levels = rng.integers(0, 65536, 16).astype(np.uint16)
        levels[-1] = 65535 if wide else 40000  # > 2^15: outputs above the input
    else:
        table = rng.integers(-scale, scale, 1 if dim == AttnDim.S else n).astype(np.int64)
        levels = None
    w0, b0 = rng.integers(-40, 80, (1, 3, 3, C)).astype(np.int8), rng.integers(-50, 50, C).astype(np.int32)
    wr, br = rng.integers(-128, 128, (C, 5)).astype(np.int8), rng.integers(-99, 99, 5).astype(np.int32)
    ops = [
        Conv(0, 1, w0, b0, 1, 1, 8, static=True),
        Lif(1, 2, rng.integers(1, 4000, C).astype(np.int32), 32768, 32),
        Conv(2, 3, w2, b2, 1, 1, bits),
        Attn(3, 4, dim, kind, w1, table, w2a, levels, shift=0 if dim == AttnDim.S or spread else 3),
        Lif(4, 5, th, 32768, lif_bits),
        Readout(5, wr, br, 8),
    ]
    return Model(T, 5, bufs, ops, layer_major=True, static_input=True)


CASES = [
    (dim, kind, lif_bits, wide)
    for dim in (AttnDim.T, AttnDim.C, AttnDim.S)
    for kind in (AttnKind.MA, AttnKind.IA)
    for lif_bits, wide in ((16, False), (32, False), (16, True))
]
IDS = [f"{d.name}-{k.name}-lif{b}-{'int64' if w else 'int32'}" for d, k, b, w in CASES]


@pytest.mark.parametrize(("dim", "kind", "lif_bits", "wide"), CASES, ids=IDS)
def test_attn_paths_bit_exact(rt: CRuntime, dim, kind, lif_bits, wide):
    blob = to_bytes(attn_model(dim, kind, lif_bits, wide))
    rng = np.random.default_rng(1)
    for scale in (255, 60):
        x = rng.integers(0, scale + 1, (1, 1, H, W), dtype=np.uint8)
        want = reference_run(blob, x)
        assert 0 < want.spike_counts[-1] < T * C * H * W, "the ATTN's LIF neither silent nor saturated"
        assert_c_matches_reference(rt, blob, x, want)


def test_attn_paths_asan_clean(asan_cli: Path, tmp_path: Path):
    rng = np.random.default_rng(2)
    for k, (dim, kind, lif_bits, wide) in enumerate(CASES):
        blob = to_bytes(attn_model(dim, kind, lif_bits, wide))
        x = rng.integers(0, 256, (1, 1, H, W), dtype=np.uint8)
        assert_asan_clean(asan_cli, tmp_path, blob, x, IDS[k])


# C attention over int16 planes (the Cortex-M4 SIMD statistics, bottleneck and apply passes): every row stride
# the kernel specialises (C = 8 .. 64) and a generic one (128), H * W a multiple of 4 or not, MA and IA, int16
# and int32 out; hidden values past 2^32, multipliers mixing 0, 2^15 (pass/zero columns) and the rest.
SPREAD = [
    (kind, lif_bits, shape)
    for kind in (AttnKind.MA, AttnKind.IA)
    for lif_bits, shape in ((16, (8, 5, 5)), (16, (16, 6, 6)), (16, (32, 7, 7)), (16, (64, 6, 6)),
                            (16, (128, 3, 5)), (32, (32, 5, 3)))
]  # fmt: skip
SPREAD_IDS = [f"{k.name}-lif{b}-{c}x{h}x{w}" for k, b, (c, h, w) in SPREAD]


def spread_model(
    kind: AttnKind, lif_bits: int, shape: tuple[int, int, int], x: np.ndarray, seed: int = 0
) -> Model:
    """The spread model with its breakpoints (MA) or thresholds (IA) moved onto the scores input x gives:
    every channel's score equal to one of them or one below, so that a score off by one changes its
    multiplier."""
    m = attn_model(AttnDim.C, kind, lif_bits, False, seed=seed, shape=shape, spread=True)
    op = m.ops[3]
    cur = reference_run(m, x, trace=True).traces[2].astype(object)  # the ATTN's input [T, C, H, W]
    N = cur.shape[0] * cur.shape[2] * cur.shape[3]

    def z(v: list[int]) -> list[int]:
        w1, w2 = op.w1.astype(object), op.w2.astype(object)
        hid = [max(0, int(sum(w1[j] * v)) >> op.shift) for j in range(w1.shape[0])]
        return [int(sum(w2[i] * hid)) for i in range(w2.shape[0])]

    zs = z(cur.sum(axis=(0, 2, 3)))
    zm = z(cur.max(axis=(0, 2, 3)))
    scores = [a + N * b for a, b in zip(zs, zm, strict=True)]
    rng = np.random.default_rng(seed + 100)
    table = np.array(scores, dtype=np.int64) + rng.integers(0, 2, len(scores))  # on the score or one above
    if kind == AttnKind.MA:  # mostly 0 / 2^15 levels: whole pass/zero columns of 4 channels
        table = np.sort(table)
        levels = np.where(rng.random(len(table) + 1) < 0.8, rng.choice([0, 32768], len(table) + 1),
                          rng.integers(1, 40001, len(table) + 1)).astype(np.uint16)  # fmt: skip
        op = replace(op, table=table, levels=levels)
    else:
        op = replace(op, table=table)
    return replace(m, ops=(*m.ops[:3], op, *m.ops[4:]))


@pytest.mark.parametrize(("kind", "lif_bits", "shape"), SPREAD, ids=SPREAD_IDS)
def test_attn_c_spread_bit_exact(rt: CRuntime, kind, lif_bits, shape):
    rng = np.random.default_rng(3)
    for scale in (255, 60):
        x = rng.integers(0, scale + 1, (1, 1, *shape[1:]), dtype=np.uint8)
        blob = to_bytes(spread_model(kind, lif_bits, shape, x))
        want = reference_run(blob, x)
        assert_c_matches_reference(rt, blob, x, want)


def test_attn_c_spread_bit_exact_under_qemu(tmp_path: Path):
    """The SPREAD models under qemu-system-arm (the Cortex-M4 SIMD paths), 3 inputs each."""
    from tests.firmware import test_qemu as q

    if any(shutil.which(t) is None for t in q.NEEDED):
        pytest.skip("needs arm-none-eabi-gcc and qemu-system-arm")
    assert q.make("qemu-image").returncode == 0
    rng = np.random.default_rng(4)
    dirs = []
    for k, case in enumerate(SPREAD):
        for scale in (255, 60, 20):
            x = rng.integers(0, scale + 1, (1, 1, *case[2][1:]), dtype=np.uint8)
            blob = to_bytes(spread_model(*case, x, seed=k))
            dirs.append(q.write_vector(tmp_path / f"spread_{k}_{scale}", blob, x))
    q.run_vectors_under_qemu(tmp_path, dirs)
