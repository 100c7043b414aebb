"""Row streams (firmware/runtime/stream.c, plan.c "row streams"): a spike conv whose int16 current is read by
its LIF (or a recomputed T / C attention and its LIF) keeps a window of rows. The lean plan streams where that
makes the arena smaller; the test builds (-DESNN_TEST_STREAM_ALL) stream wherever the rules allow, so every
window shape runs bit-exactly on the host under ASan/UBSan and on the Cortex-M4 under QEMU."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgesnn.export.passes.memory import plan_arena, stream_rows
from edgesnn.format.blob import parse
from edgesnn.format.model import Attn, Conv
from edgesnn.runtime.c import FIRMWARE, CRuntime
from tests.firmware.conftest import (
    KERNEL_NAMES,
    VECTORS,
    expected,
    kernels_ran,
    meta,
    sanitizer_cli,
    trace_ctx,
)

IDS = [v.name for v in VECTORS]
STREAM_BIT = 1 << KERNEL_NAMES.index("CONV_STREAM")


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_convs_stream_where_the_plan_says(trace_rt: CRuntime, vector: Path):
    """The trace build's CONV_STREAM ran for exactly the convs the vector records (the Python plan)."""
    blob = (vector / "model.esnn").read_bytes()
    x = np.fromfile(vector / "input.bin", dtype=np.uint8)
    ran = kernels_ran(trace_rt, blob, x)
    assert {k for k, names in enumerate(ran) if "CONV_STREAM" in names} == set(meta(vector)["streamed_convs"])


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_spikes_t_packed_where_the_plan_says(trace_rt: CRuntime, vector: Path):
    """The C plan keeps exactly the buffers the vector records (the Python plan) T-packed (plan.c "T-packed
    spikes"), with a step's bits the next power of two >= its channels."""
    from edgesnn.export.passes.memory import pack_code

    blob = (vector / "model.esnn").read_bytes()
    model = parse(blob)
    ctx, _alive = trace_ctx(trace_rt, blob)
    codes = {b: trace_rt.lib.esnn_trace_packed(ctx, b) for b in range(len(model.buffers))}
    want = set(meta(vector)["packed_spikes"])
    assert {b for b, code in codes.items() if code} == want
    assert all(codes[b] == pack_code(model.buffers[b].channels) for b in want)


@pytest.fixture(scope="module")
def streams_cli() -> Path:
    return sanitizer_cli("streams")


def _shape(model, k: int) -> tuple:
    op = model.ops[k]
    after = model.ops[k + 1]
    reader = after.dim.name if isinstance(after, Attn) else "LIF"
    return (op.weights.shape[1], op.stride, stream_rows(op, model.buffers[op.out].height), reader)


def test_every_stream_shape_bit_exact_under_asan(streams_cli: Path, tmp_path: Path):
    """Every vector through the stream-everything plan: ASan/UBSan clean, the vector's logits, spike counts
    and final states, and the streams the Python mirror of that plan expects (kernels.bin of the trace build).
    Together they cover 1x1, 3x3 and 5x5 windows, stride 2, rows below the window, LIF and T / C attention."""
    shapes = set()
    for vector in VECTORS:
        out = tmp_path / vector.name
        out.mkdir()
        cmd = [str(streams_cli), "-o", str(out), str(vector / "model.esnn"), str(vector / "input.bin")]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        assert proc.returncode == 0, f"{vector.name}: {proc.stderr}"
        assert "runtime error" not in proc.stderr and "Sanitizer" not in proc.stderr, proc.stderr
        want = expected(vector)
        for name in ("logits", "spike_counts", "final_state"):
            dtype = "<u4" if name == "spike_counts" else "<i4"
            got = np.fromfile(out / f"{name}.bin", dtype=dtype)
            np.testing.assert_array_equal(got, want[name], err_msg=f"{vector.name} {name}")
        model = parse((vector / "model.esnn").read_bytes())
        streamed = plan_arena(model, final_state=True, every_stream=True).streams.convs
        masks = np.fromfile(out / "kernels.bin", dtype="<u4")
        assert {k for k, m in enumerate(masks) if m & STREAM_BIT} == set(streamed), vector.name
        shapes |= {_shape(model, k) for k in streamed}
    kernels = {s[0] for s in shapes}
    assert {1, 3, 5} <= kernels and any(s[1] == 2 for s in shapes), shapes
    assert {"LIF", "C", "T"} <= {s[3] for s in shapes}, shapes
    assert any(s[2] == 1 and s[0] == 1 for s in shapes), shapes  # k1: one-row window, rows below it


def test_a_lean_plan_streams_only_where_the_arena_shrinks():
    """The greedy pass keeps a conv whole wherever streaming it would not make the arena smaller: streaming
    each of the row_streams vector's whole convs again leaves the arena as large or larger."""
    model = parse((FIRMWARE.parent / "export/vectors/v1/row_streams/model.esnn").read_bytes())
    lean, every = plan_arena(model), plan_arena(model, every_stream=True)
    assert lean.total_bytes <= every.total_bytes
    assert lean.streams.convs < every.streams.convs
    assert all(isinstance(model.ops[k], Conv) for k in every.streams.convs)


def test_every_stream_shape_bit_exact_under_qemu():
    need = ("arm-none-eabi-gcc", "qemu-system-arm", "make")
    if any(shutil.which(t) is None for t in need):
        pytest.skip("needs arm-none-eabi-gcc, qemu-system-arm and make")
    proc = subprocess.run(
        ["make", "-C", str(FIRMWARE), "-j1", "qemu-test-streams"], capture_output=True, text=True, check=False
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert f"{len(VECTORS)}/{len(VECTORS)} vectors bit-exact" in out, out[-3000:]
