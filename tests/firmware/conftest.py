"""Shared fixtures for the C runtime tests: the host build (built on demand) and the conformance vectors."""

from __future__ import annotations

import ctypes
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgesnn.reference import run as reference_run
from edgesnn.runtime.c import BUILD, FIRMWARE, KERNELS, CRuntime, CRuntimeUnavailable, build

VECTOR_ROOT = FIRMWARE.parent / "export" / "vectors" / "v1"
VECTORS = sorted(p.parent for p in VECTOR_ROOT.glob("*/model.esnn"))


def expected(vector: Path) -> dict[str, np.ndarray]:
    return {
        "logits": np.fromfile(vector / "logits.bin", dtype="<i4"),
        "spike_counts": np.fromfile(vector / "spike_counts.bin", dtype="<u4"),
        "final_state": np.fromfile(vector / "final_state.bin", dtype="<i4"),
    }


def meta(vector: Path) -> dict:
    return json.loads((vector / "vector.json").read_text())


def sanitizer_cli(target: str) -> Path:
    """The esnn_run CLI of a sanitizer build (`make <target>`: asan, portable, streams); skips without
    cc / make, fails when the build does."""
    if shutil.which("cc") is None or shutil.which("make") is None:
        pytest.skip("the sanitizer build needs cc and make")
    try:
        build(target)
    except CRuntimeUnavailable as e:
        pytest.fail(f"{target} build (ASan/UBSan) failed: {e}")
    return BUILD / target / "esnn_run"


@pytest.fixture(scope="session")
def asan_cli() -> Path:
    return sanitizer_cli("asan")


def assert_c_matches_reference(rt: CRuntime, blob: bytes, x: np.ndarray, want=None, label: str = "") -> None:
    """The host build's fast and reference kernels against the reference interpreter (its result `want`
    when the caller has it): logits, spike counts and final states, bit for bit."""
    want = reference_run(blob, x) if want is None else want
    for kernels in ("fast", "reference"):
        got = rt.run(blob, x, kernels=kernels)
        msg = f"{label} {kernels}".strip()
        np.testing.assert_array_equal(got.logits, want.logits, err_msg=msg)
        np.testing.assert_array_equal(got.spike_counts, want.spike_counts, err_msg=msg)
        for a, b in zip(got.final_state, want.final_state, strict=True):
            np.testing.assert_array_equal(a, b.reshape(-1), err_msg=msg)


def assert_asan_clean(asan_cli: Path, tmp: Path, blob: bytes, x: np.ndarray, label: str) -> None:
    """The ASan/UBSan CLI (fast and --ref kernels) runs the blob on x without a sanitizer report and gives the
    reference's logits."""
    (tmp / "m.esnn").write_bytes(blob)
    x.tofile(tmp / "x.bin")
    want = reference_run(blob, x)
    for flags in ((), ("--ref",)):
        out = tmp / f"out-{label}{''.join(flags)}"
        out.mkdir()
        cmd = [str(asan_cli), *flags, "-o", str(out), str(tmp / "m.esnn"), str(tmp / "x.bin")]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        assert proc.returncode == 0, f"{label} {flags}: {proc.stderr}"
        assert "runtime error" not in proc.stderr and "Sanitizer" not in proc.stderr, proc.stderr
        logits = np.fromfile(out / "logits.bin", dtype="<i4")
        np.testing.assert_array_equal(logits, want.logits, err_msg=label)


# esnn.h ESNN_KERNEL_LIST, in order: bit k of esnn_trace_kernels is KERNEL_NAMES[k].
KERNEL_NAMES = (
    "REFERENCE", "CONV_U8", "CONV_SPIKE32", "CONV_ACC16", "CONV_K3_M4", "CONV_SO_M4", "STATIC_FUSED",
    "LIF_CUR16", "LIF_SMALL", "LIF_LOOP", "ATTN_FAST32", "ATTN_IN16", "ATTN_I64", "ATTN_RECOMPUTE",
    "CONV_STREAM", "OTHER",
)  # fmt: skip


@pytest.fixture(scope="session")
def trace_rt() -> CRuntime:
    """The host runtime built with -DESNN_TRACE (make trace): esnn_trace_kernels says which kernels ran."""
    try:
        build("trace")
        rt = CRuntime(BUILD / "trace" / "libesnn.so", rebuild=False)
    except CRuntimeUnavailable as e:
        pytest.skip(f"C runtime unavailable: {e}")
    rt.lib.esnn_trace_kernels.argtypes = (ctypes.c_void_p, ctypes.c_uint16)
    rt.lib.esnn_trace_kernels.restype = ctypes.c_uint32
    rt.lib.esnn_trace_packed.argtypes = (ctypes.c_void_p, ctypes.c_uint16)
    rt.lib.esnn_trace_packed.restype = ctypes.c_uint32
    return rt


def trace_ctx(rt: CRuntime, blob: bytes, reference: bool = False) -> tuple:
    """A context of a trace build (`trace_rt`) initialised over `blob` with the lean plan (or the reference
    kernels' plan): (ctx, what must stay alive while it is used)."""
    lib = rt.lib
    need = rt.arena_bytes(blob, final_state=False, reference=reference)
    blob_buf = (ctypes.c_uint8 * len(blob)).from_buffer_copy(blob)
    ctx = ctypes.create_string_buffer(lib.esnn_ctx_size())
    arena = ctypes.create_string_buffer(need + 8)
    assert lib.esnn_init_ex(ctx, blob_buf, len(blob), arena, need + 8, 2 if reference else 0) == 0
    return ctx, (blob_buf, arena)


def kernels_ran(rt: CRuntime, blob: bytes, x: np.ndarray, kernels: str = "fast") -> list[set[str]]:
    """One sample through a trace build (`trace_rt`): per op, the names of the kernel variants that ran."""
    lib = rt.lib
    ctx, _alive = trace_ctx(rt, blob, reference=kernels == "reference")
    assert lib.esnn_set_kernels(ctx, KERNELS[kernels]) == 0
    data = np.ascontiguousarray(x, dtype=np.uint8).reshape(-1)
    assert lib.esnn_run(ctx, data.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8)), data.size) == 0
    nops = int.from_bytes(blob[26:28], "little")
    masks = [lib.esnn_trace_kernels(ctx, i) for i in range(nops)]
    return [{n for k, n in enumerate(KERNEL_NAMES) if m >> k & 1} for m in masks]
