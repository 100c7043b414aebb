"""The ATTN kernel's arithmetic paths, chosen at load time from exact bounds (firmware/runtime/esnn.c "fast
paths"), bit-exact against the reference interpreter for every dim and kind, on the host build (fast and
reference kernels) and under ASan/UBSan: an int16 plane in and out (acc16 CONV -> ATTN -> 16-bit LIF), an
int16 plane in and int32 out (the LIF keeps a 32-bit state), int32 in with 32-bit sums and products, and the
int64 arithmetic (int16 weights: no bound small enough)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgesnn.reference import run as reference_run
from edgesnn.reference.layout import AttnDim, AttnKind, BufferKind
from edgesnn.reference.model import Attn, Buffer, Conv, Lif, Model, Readout
from edgesnn.reference.writer import to_bytes
from edgesnn.runtime.c import CRuntime

T, C, H, W = 4, 8, 6, 6


def attn_model(dim: AttnDim, kind: AttnKind, lif_bits: int, wide: bool, seed: int = 0) -> Model:
    """u8 [1, H, W] -> static conv -> LIF -> spike conv (C outputs) -> ATTN -> LIF -> readout."""
    rng = np.random.default_rng(seed)
    cur, spk = BufferKind.CURRENT, BufferKind.SPIKES
    bufs = [Buffer(BufferKind.INPUT_U8, 1, H, W), Buffer(cur, C, H, W), Buffer(spk, C, H, W)]
    bufs += [Buffer(cur, C, H, W), Buffer(cur, C, H, W), Buffer(spk, C, H, W)]
    if wide:  # int16 weights: the conv bound is far past int16, the ATTN runs its int64 arithmetic
        w2 = rng.integers(-30000, 30001, (C, 3, 3, C)).astype(np.int16)
        b2, bits = rng.integers(-2000, 2001, C).astype(np.int32), 16
        th = rng.integers(1, 60000, C).astype(np.int32)
    else:
        w2 = rng.integers(-60, 91, (C, 3, 3, C)).astype(np.int8)
        b2, bits = rng.integers(-100, 101, C).astype(np.int32), 8
        th = rng.integers(1, 300, C).astype(np.int32)
    n = {AttnDim.T: T, AttnDim.C: C, AttnDim.S: 3}[dim]
    hidden = 0 if dim == AttnDim.S else 2
    w1 = rng.integers(-20, 21, (2, 3, 3) if dim == AttnDim.S else (hidden, n)).astype(np.int8)
    w2a = None if dim == AttnDim.S else rng.integers(-20, 21, (n, hidden)).astype(np.int8)
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
        Attn(3, 4, dim, kind, w1, table, w2a, levels, shift=0 if dim == AttnDim.S else 3),
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
        for kernels in ("fast", "reference"):
            got = rt.run(blob, x, kernels=kernels)
            np.testing.assert_array_equal(got.logits, want.logits)
            np.testing.assert_array_equal(got.spike_counts, want.spike_counts)
            for a, b in zip(got.final_state, want.final_state, strict=True):
                np.testing.assert_array_equal(a, b.reshape(-1))


def test_attn_paths_asan_clean(asan_cli: Path, tmp_path: Path):
    rng = np.random.default_rng(2)
    for k, (dim, kind, lif_bits, wide) in enumerate(CASES):
        blob = to_bytes(attn_model(dim, kind, lif_bits, wide))
        (tmp_path / "m.esnn").write_bytes(blob)
        x = rng.integers(0, 256, (1, 1, H, W), dtype=np.uint8)
        x.tofile(tmp_path / "x.bin")
        want = reference_run(blob, x)
        for flags in ((), ("--ref",)):
            out = tmp_path / f"out{k}{''.join(flags)}"
            out.mkdir()
            cmd = [str(asan_cli), *flags, "-o", str(out), str(tmp_path / "m.esnn"), str(tmp_path / "x.bin")]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            assert proc.returncode == 0, f"{IDS[k]} {flags}: {proc.stderr}"
            assert "runtime error" not in proc.stderr and "Sanitizer" not in proc.stderr, proc.stderr
            logits = np.fromfile(out / "logits.bin", dtype="<i4")
            np.testing.assert_array_equal(logits, want.logits)
