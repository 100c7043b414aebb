"""The spike convolution's paths (firmware/runtime/kernels/conv.c), bit-exact against the reference
interpreter on the host build (fast and reference kernels) and under QEMU. On Cortex-M4 a 3x3 / stride 1 /
pad 1 conv with 8, 16 or 32 output channels and at most 32 input channels takes the unrolled spike-outer
kernels: one variant per row case (first, last, other rows) and column case (first, last, other columns). The
cases cover every variant, single-row and single-column maps and maps too small for them (the fallbacks),
dense and sparse firing, and the layers the unrolled kernels do not take (stride 2, two spike words per pixel,
64 outputs), which on Cortex-M4 run spike-outer over tap tables."""

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
from tests.firmware.conftest import assert_c_matches_reference, kernels_ran

T = 4


def conv_model(cin: int, cout: int, hw: tuple[int, int], stride: int, dense: bool, seed: int = 0) -> Model:
    """u8 [1, H, W] -> conv 3x3 -> LIF (spikes [cin]) -> spike conv 3x3 / stride / pad 1 -> LIF -> readout.
    Weights stay within the int16 accumulator bound (|bias| + sum |w| <= 32767), so the fast path is taken."""
    rng = np.random.default_rng(seed)
    h, w = hw
    ho, wo = (h - 1) // stride + 1, (w - 1) // stride + 1
    bufs = [Buffer(BufferKind.INPUT_U8, 1, h, w), Buffer(BufferKind.CURRENT, cin, h, w)]
    bufs += [Buffer(BufferKind.SPIKES, cin, h, w), Buffer(BufferKind.CURRENT, cout, ho, wo)]
    bufs += [Buffer(BufferKind.SPIKES, cout, ho, wo)]
    w0 = rng.integers(-128, 128, (1, 3, 3, cin)).astype(np.int8)
    th0 = rng.integers(1, 200, cin) if dense else rng.integers(6000, 30000, cin)
    wmax = min(127, 32000 // (9 * cin))
    w1 = rng.integers(-wmax, wmax + 1, (cin, 3, 3, cout)).astype(np.int8)
    ops = [
        Conv(0, 1, w0, rng.integers(-500, 500, cin).astype(np.int32), 1, 1, 8),
        Lif(1, 2, th0.astype(np.int32), 32768, 16),
        Conv(2, 3, w1, rng.integers(-700, 700, cout).astype(np.int32), stride, 1, 8),
        Lif(3, 4, rng.integers(1, 300, cout).astype(np.int32), 32768, 16),
        Readout(4, rng.integers(-128, 128, (cout, 7)).astype(np.int8), rng.integers(-99, 99, 7), 8),
    ]
    return Model(T, 7, bufs, ops)


CASES = [
    (8, 8, (6, 7), 1, True),
    (8, 8, (5, 9), 1, False),
    (16, 16, (4, 5), 1, True),
    (8, 16, (3, 3), 1, True),
    (32, 32, (3, 4), 1, True),
    (16, 32, (5, 3), 1, False),
    (8, 8, (2, 3), 1, True),  # first and last row only
    (8, 16, (1, 5), 1, True),  # one row: fallback
    (8, 8, (4, 2), 1, True),  # two columns: fallback
    (8, 24, (4, 4), 1, True),  # 24 outputs: fallback
    (40, 16, (3, 4), 1, True),  # two spike words per pixel: fallback
    (8, 16, (7, 6), 2, True),  # stride 2: the spike-outer tap-table kernels (cout 16, 32, 64)
    (16, 32, (6, 5), 2, False),
    (64, 64, (3, 4), 1, True),  # two spike words per pixel, 64 outputs
    (32, 64, (5, 5), 2, True),
]
IDS = [f"{ci}to{co}-{h}x{w}-s{s}-{'dense' if d else 'sparse'}" for ci, co, (h, w), s, d in CASES]


def inputs(seed: int, hw: tuple[int, int]) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (T, 1, *hw), dtype=np.uint8)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_conv_paths_bit_exact(rt: CRuntime, case):
    model = conv_model(*case)
    blob = to_bytes(model)
    x = inputs(1, case[2])
    want = reference_run(blob, x, trace=True)
    assert want.traces is not None
    rate = float(want.traces[1].mean())  # firing of the spike conv's input
    assert (0.25 < rate < 0.95) if case[4] else (0.02 < rate < 0.25), f"input firing {rate:.2f}"
    assert_c_matches_reference(rt, blob, x, want)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_conv_paths_take_the_fast_kernels(trace_rt: CRuntime, case):
    """The trace build (-DESNN_TRACE) says which kernels ran: the spike conv (op 2) took the int16
    accumulators (acc16; on the host the portable / SSE2 kernels, never the int32 tap tables), its LIF (op 3)
    read the int16 plane (cur16) except with 24 channels (not a 32-channel block of 8, 16 or 32: plan.c
    lif_takes16; the conv then writes int32 and the LIF takes its 2^30-bounded kernel), and the reference
    kernels run only when asked for. Where the lean plan streams a conv (plan.c "row streams", the u8 conv
    one output row at a time) it also says CONV_STREAM."""
    from edgesnn.export.passes.memory import plan_arena
    from edgesnn.format.blob import parse

    blob = to_bytes(conv_model(*case))
    ran = kernels_ran(trace_rt, blob, inputs(1, case[2]))
    streams = plan_arena(parse(blob)).streams.convs
    assert ran[2] == ({"CONV_ACC16", "CONV_STREAM"} if 2 in streams else {"CONV_ACC16"}), ran
    assert ran[3] == ({"LIF_SMALL"} if case[1] == 24 else {"LIF_CUR16"}), ran
    assert ran[0] == ({"CONV_U8", "CONV_STREAM"} if 0 in streams else {"CONV_U8"}), ran  # one row at a time
    assert ran[4] == {"OTHER"}, ran
    assert "REFERENCE" not in set().union(*ran), ran
    ref = kernels_ran(trace_rt, blob, inputs(1, case[2]), kernels="reference")
    assert all(r == {"REFERENCE"} for r in ref[1:]), ref


def test_conv_paths_bit_exact_under_qemu(tmp_path: Path):
    """Every case above on the Cortex-M4 build: logits, spike counts and final states."""
    from tests.firmware.test_qemu import NEEDED, make, run_vectors_under_qemu, write_vector

    if any(shutil.which(t) is None for t in NEEDED):
        pytest.skip("needs arm-none-eabi-gcc, qemu-system-arm and make (tests/run.sh installs them)")
    assert make("qemu-image").returncode == 0
    dirs = []
    for k, case in enumerate(CASES):
        blob = to_bytes(conv_model(*case))
        for j in range(2):
            dirs.append(write_vector(tmp_path / f"conv_{k}_{j}", blob, inputs(10 + j, case[2])))
    run_vectors_under_qemu(tmp_path, dirs)
