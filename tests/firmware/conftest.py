"""Shared fixtures for the C runtime tests: the host build (built on demand) and the conformance vectors."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgesnn.reference import run as reference_run
from edgesnn.runtime.c import FIRMWARE, CRuntime, CRuntimeUnavailable, build

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


@pytest.fixture(scope="session")
def rt() -> CRuntime:
    try:
        return CRuntime()
    except CRuntimeUnavailable as e:
        pytest.skip(f"C runtime unavailable: {e}")


@pytest.fixture(scope="session")
def asan_cli() -> Path:
    if shutil.which("cc") is None or shutil.which("make") is None:
        pytest.skip("the sanitizer build needs cc and make")
    try:
        build("asan")
    except CRuntimeUnavailable as e:
        pytest.fail(f"ASan/UBSan build failed: {e}")
    return FIRMWARE / "build" / "asan" / "esnn_run"


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
