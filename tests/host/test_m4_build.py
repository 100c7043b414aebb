"""The device side of the protocol cross-compiles for Cortex-M4 with no allocator and no RAM of its own."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.host.conftest import REPO


def test_protocol_m4_no_alloc():
    if shutil.which("arm-none-eabi-gcc") is None or shutil.which("make") is None:
        pytest.skip("needs arm-none-eabi-gcc and make (tests/run.sh installs them)")
    proc = subprocess.run(
        ["make", "-C", str(REPO / "firmware"), "-f", "protocol.mk", "-j1", "check-noalloc"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "check-noalloc: ok" in proc.stdout
