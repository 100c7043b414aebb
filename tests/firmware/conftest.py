"""Shared fixtures for the C runtime tests: the host build (built on demand) and the conformance vectors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

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
