"""Fixtures of the MicroPython runtime tests: skipped, with the reason, only where the unix-port `micropython`
binary is missing (CI installs the dev extra, which brings it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgesnn.reference import Result
from edgesnn.runtime.micropython import MicroPythonRuntime, MicroPythonUnavailable

VECTOR_ROOT = Path(__file__).resolve().parents[2] / "export" / "vectors" / "v1"
VECTORS = sorted(p.parent.name for p in VECTOR_ROOT.glob("*/model.esnn"))


@pytest.fixture(scope="session")
def mpy() -> MicroPythonRuntime:
    try:
        return MicroPythonRuntime()
    except MicroPythonUnavailable as exc:
        pytest.skip(str(exc))


def assert_same(got: Result, want: Result, what: str) -> None:
    """Logits, predicted class, spike counts and every final state equal, bit for bit."""
    np.testing.assert_array_equal(got.logits, want.logits, err_msg=f"{what}: logits")
    assert got.predicted == want.predicted, what
    np.testing.assert_array_equal(got.spike_counts, want.spike_counts, err_msg=f"{what}: spike counts")
    assert len(got.final_state) == len(want.final_state), what
    for i, (a, b) in enumerate(zip(got.final_state, want.final_state, strict=True)):
        np.testing.assert_array_equal(a, np.asarray(b).reshape(-1), err_msg=f"{what}: final state of LIF {i}")
