"""An MA attention weighting of a large current passes 2^31 - 1 (a conv bias near 2^31 with level 0xFFFF,
1.99 x): its output is a CURRENT, int32, so it wraps modulo 2^32 (FORMAT.md 1.3, ATTN). The C and
MicroPython runtimes stored it so; the reference kept int64 (issue 18, fault 5). Now the reference, the C
runtime (fast and reference kernels), the MicroPython runtime and the ONNX export agree on such a blob."""

from __future__ import annotations

import dataclasses
from importlib.util import find_spec

import numpy as np
import pytest

from edgesnn.reference import AttnKind, Conv, parse, to_bytes
from edgesnn.reference import run as reference_run
from edgesnn.reference.kernels import attn
from tests.firmware.conftest import VECTOR_ROOT

VECTOR = VECTOR_ROOT / "attn_ma_c"


def overflowing() -> bytes:
    """attn_ma_c with the attention's input conv biased to 2^31 - 2^20 and every MA level 0xFFFF."""
    model = parse((VECTOR / "model.esnn").read_bytes())
    ops = list(model.ops)
    k = next(k for k, op in enumerate(ops) if getattr(op, "kind", None) == AttnKind.MA)
    conv = next(op for op in ops if isinstance(op, Conv) and op.out == ops[k].in0)
    ops[ops.index(conv)] = dataclasses.replace(conv, bias=np.full_like(conv.bias, 2**31 - 2**20))
    ops[k] = dataclasses.replace(ops[k], levels=np.full_like(ops[k].levels, 0xFFFF))
    return to_bytes(dataclasses.replace(model, ops=ops))


def inputs() -> np.ndarray:
    """The vector's input, [frames, C, H, W]."""
    return np.fromfile(VECTOR / "input.bin", dtype=np.uint8).reshape(-1, 1, 8, 8)


def test_the_reference_wraps_the_weighting_to_int32():
    model = parse(overflowing())
    op = next(op for op in model.ops if getattr(op, "kind", None) == AttnKind.MA)
    x = np.full((1, model.T, 8, 8, 6), 2**31 - 2**20, dtype=np.int64)
    y = attn(op, x)
    assert y.dtype == np.int32 and (y < 0).all()  # 1.99 x (2^31 - 2^20) > 2^31 - 1: wrapped
    assert (y.astype(np.int64) % 2**32 == ((0xFFFF * x) >> 15) % 2**32).all()


def _agrees(run, kernel_sets: tuple[str, ...]) -> None:
    """`run(blob, input, kernels=...)` of a runtime equals the reference on the overflowing blob."""
    blob = overflowing()
    want = reference_run(blob, inputs())
    for kernels in kernel_sets:
        got = run(blob, inputs().reshape(-1), kernels=kernels)
        np.testing.assert_array_equal(np.asarray(got.logits), want.logits, err_msg=kernels)
        np.testing.assert_array_equal(np.asarray(got.spike_counts), want.spike_counts, err_msg=kernels)


def test_c_runtime_agrees(rt):
    _agrees(rt.run, ("fast", "reference"))


def test_micropython_runtime_agrees():
    from edgesnn.runtime.micropython import MicroPythonRuntime, MicroPythonUnavailable

    try:
        mpy = MicroPythonRuntime()
    except MicroPythonUnavailable as e:
        pytest.skip(str(e))
    _agrees(mpy.run, ("viper", "plain"))


@pytest.mark.skipif(find_spec("onnxruntime") is None, reason="the onnx extra is not installed")
def test_onnx_export_agrees():
    from edgesnn.export.onnx_step import run_onnx_batch
    from edgesnn.reference import load
    from edgesnn.reference.interpreter import run_batch

    model = load(overflowing())
    x = inputs()[None]  # a batch of one
    ref, got = run_batch(model, x), run_onnx_batch(model, x)
    np.testing.assert_array_equal(got.logits, ref.logits)
    np.testing.assert_array_equal(got.spike_counts, ref.spike_counts)
