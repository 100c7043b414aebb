"""``edgesnn demo`` end to end on the emulated board: the shipped image model's accuracy and natural pruning,
its QAT export streamed to the QEMU Cortex-M4 board (bit-exact, equal to PyTorch), the event model streamed as
emulated DVS streams, and the host-board fallback when QEMU is missing."""

import re
import shutil

import pytest

from edgesnn.cli import demo_cmd
from edgesnn.cli.main import main
from edgesnn.zoo import DEMO_MODEL

SMALL = ["--eval", "500", "--calib", "32", "--images", "8", "--streams", "4", "--skip-verify"]


def test_demo_on_the_emulated_board(fashion_dir, capsys, tmp_path):
    if shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None:
        pytest.fail("the emulated board needs qemu-system-arm and gcc-arm-none-eabi (tests/run.sh installs)")
    assert DEMO_MODEL.is_file(), "the shipped demo model is part of the package"
    code = main(["demo", "--out", str(tmp_path), *SMALL])
    out = capsys.readouterr().out
    assert code == 0, out[-3000:]
    acc = float(re.search(r"held-out accuracy: ([\d.]+)% on 500", out).group(1))
    assert acc > 80.0  # the shipped model is ~88 % accurate on the full test set
    # natural pruning: shortcuts 1 and 3 died during training, shortcut 2 is alive and kept as an OR
    assert "stages.0.block.shortcut.lif      died at epoch 1" in out
    pruned = "pruned shortcuts: stages.0.block.shortcut, stages.2.block.shortcut"
    assert f"{pruned}; kept as OR: stages.1.block.shortcut" in out
    assert "image on qemu-mps2-an386:" in out and "events on qemu-mps2-an386:" in out
    assert re.search(r"bit-exact with the reference\s+8/8", out)
    assert re.search(r"logits equal to QAT PyTorch\s+8/8", out)
    assert re.search(r"bit-exact with the reference\s+4/4", out)
    assert re.search(r"device instructions per sample\s+mean [\d,]+", out)
    assert "demo passed" in out and "12/12 streamed samples bit-exact on qemu-mps2-an386" in out
    assert (tmp_path / "image" / "model.esnn").is_file() and (tmp_path / "events" / "stream.json").is_file()


def test_falls_back_to_the_host_board_without_qemu(monkeypatch, capsys):
    monkeypatch.setattr(shutil, "which", lambda t: None if t == "qemu-system-arm" else "/usr/bin/" + t)
    assert demo_cmd.pick_device("qemu-mps2-an386") == "host"
    assert "qemu-system-arm not found, so the demo runs on the host board" in capsys.readouterr().out
    assert demo_cmd.pick_device("host") == "host"
