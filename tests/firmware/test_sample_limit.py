"""A blob that is valid by the format but whose one sample (frame bytes x frames) would wrap a 32-bit size_t:
4096 x 32 x 32 u8 channels per frame, T = 1024 frames = 2^32 bytes, 0 on a Cortex-M. Every C loader refuses
it (ESNN_ERR_LIMIT naming the input) before any buffer is sized from that product: on the host, in the
Cortex-M4 image under QEMU, and the protocol board reports it in INFO instead of accepting samples."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from edgesnn.reference import Buffer, BufferKind, Conv, Lif, Model, Readout, to_bytes
from edgesnn.runtime.c import CRuntime
from tests.firmware.test_qemu import make, qemu


def wrapping_blob(frames: int = 1024) -> bytes:
    """1 x 1 conv over 4096 input channels of 32 x 32, a LIF, a readout: tiny weights, a huge sample."""
    buffers = (
        Buffer(BufferKind.INPUT_U8, 4096, 32, 32),
        Buffer(BufferKind.CURRENT, 1, 32, 32),
        Buffer(BufferKind.SPIKES, 1, 32, 32),
    )
    ops = (
        Conv(0, 1, np.ones((4096, 1, 1, 1), np.int64), np.zeros(1, np.int64)),
        Lif(1, 2, np.full(1, 100, np.int64)),
        Readout(2, np.ones((1, 2), np.int64), np.zeros(2, np.int64)),
    )
    return to_bytes(Model(T=frames, num_classes=2, buffers=buffers, ops=ops))


def test_host_loader_refuses_a_sample_over_the_limit(rt: CRuntime):
    v = rt.validate(wrapping_blob())
    assert v.status == "ESNN_ERR_LIMIT" and v.field.startswith("input:") and v.buffer == 0
    # the same model with a sample under 2^28 bytes loads
    assert rt.validate(wrapping_blob(frames=63)).ok


@pytest.mark.skipif(
    any(shutil.which(t) is None for t in ("arm-none-eabi-gcc", "qemu-system-arm", "make")),
    reason="needs arm-none-eabi-gcc and qemu-system-arm (tests/run.sh installs them)",
)
def test_cortex_m4_loader_refuses_it(tmp_path: Path):
    case = tmp_path / "wrap"
    case.mkdir()
    (case / "model.esnn").write_bytes(wrapping_blob())
    listing = tmp_path / "list.txt"
    listing.write_text(f"expect ESNN_ERR_LIMIT {case}/\nexpect ESNN_OK {case}/\n")
    assert make("qemu-image").returncode == 0
    proc = qemu(listing)
    assert f"PASS {case}/" in proc.stdout  # the 32-bit loader refuses it with ESNN_ERR_LIMIT ...
    assert f"FAIL {case}/: ESNN_ERR_LIMIT" in proc.stdout  # ... and the harness catches a wrong expectation
    assert "1/2 vectors" in proc.stdout and proc.returncode == 1
