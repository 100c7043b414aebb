"""Fixtures for the host side of the serial protocol: the host board (built once per session, -O2 and
ASan+UBSan) and the conformance vectors."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from edgesnn.host import HostError, build_host_board

REPO = Path(__file__).resolve().parents[2]
VECTORS = sorted(p.parent for p in (REPO / "export" / "vectors" / "v1").glob("*/model.esnn"))


def expected(vector: Path) -> dict[str, np.ndarray]:
    return {
        "input": np.fromfile(vector / "input.bin", dtype=np.uint8),
        "logits": np.fromfile(vector / "logits.bin", dtype="<i4"),
        "spike_counts": np.fromfile(vector / "spike_counts.bin", dtype="<u4"),
    }


def _build(variant: str) -> Path:
    if shutil.which("cc") is None or shutil.which("make") is None:
        pytest.skip("the host board needs cc and make")
    try:
        return build_host_board(variant)
    except HostError as e:
        pytest.fail(str(e))


@pytest.fixture(scope="session")
def board_bin() -> Path:
    return _build("board")


@pytest.fixture(scope="session")
def asan_bin() -> Path:
    return _build("asan")
