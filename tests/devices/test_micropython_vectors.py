"""Every conformance vector in export/vectors/v1 through the MicroPython runtime on the unix port, bit for bit
against the expected files, with the viper kernels and with the plain ones; causal graphs also streamed
through `Model.step` (time-major)."""

from __future__ import annotations

import numpy as np
import pytest

from edgesnn.reference import Result, parse
from edgesnn.runtime.micropython import MicroPythonRuntime
from tests.devices.conftest import VECTOR_ROOT, VECTORS, assert_same


def expected(name: str) -> tuple[bytes, np.ndarray, Result]:
    d = VECTOR_ROOT / name
    blob = (d / "model.esnn").read_bytes()
    m = parse(blob)
    sizes = [m.buffers[op.out].channels * m.buffers[op.out].height * m.buffers[op.out].width
             for op in m.ops if op.opcode.name == "LIF"]  # fmt: skip
    flat = np.fromfile(d / "final_state.bin", dtype="<i4")
    logits = np.fromfile(d / "logits.bin", dtype="<i4")
    want = Result(
        logits=logits,
        predicted=int(np.argmax(logits)),
        spike_counts=np.fromfile(d / "spike_counts.bin", dtype="<u4").astype(np.int64),
        final_state=tuple(np.split(flat, np.cumsum(sizes)[:-1])),
    )
    return blob, np.fromfile(d / "input.bin", dtype=np.uint8), want


def test_vectors_exist():
    assert len(VECTORS) >= 16


@pytest.mark.parametrize("kernels", ["viper", "plain"])
@pytest.mark.parametrize("name", VECTORS)
def test_vector_bit_exact(mpy: MicroPythonRuntime, name: str, kernels: str):
    blob, x, want = expected(name)
    timed = mpy.run_timed(blob, x, kernels=kernels)
    assert timed.kernels == kernels
    assert_same(timed.result, want, f"{name} ({kernels})")


@pytest.mark.parametrize(
    "name", [n for n in VECTORS if not parse((VECTOR_ROOT / n / "model.esnn").read_bytes()).layer_major]
)
def test_vector_streamed_step_by_step(mpy: MicroPythonRuntime, name: str):
    blob, x, want = expected(name)
    assert_same(mpy.run(blob, x, kernels="viper", time_major=True), want, f"{name} (step)")


def test_step_refused_for_layer_major(mpy: MicroPythonRuntime):
    from edgesnn.runtime.micropython import MicroPythonError

    blob, x, _ = expected("attn_ma_t")
    with pytest.raises(MicroPythonError, match="LAYER_MAJOR"):
        mpy.run(blob, x, time_major=True)
