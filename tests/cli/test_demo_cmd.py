"""``edgesnn demo`` end to end on the emulated board with a real part's budget (qemu-stm32f411: the QEMU
Cortex-M4 linked with the STM32F411's 128 KiB RAM): the shipped image model's accuracy and natural pruning,
its QAT export for stm32f411-nucleo streamed to the board (bit-exact, equal to PyTorch) with the board's RAM
against the part's, the event model streamed as emulated DVS streams, and the host-board fallback when
QEMU is missing."""

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
    assert "for stm32f411-nucleo" in out and "(stm32f411-nucleo) -> " in out  # exported for the part
    assert "image on qemu-stm32f411:" in out and "events on qemu-stm32f411:" in out
    # the RAM of each image against the part's 128 KiB, and the painted stack inside its 8 KiB
    rams = re.findall(r"qemu-stm32f411 \(128 KiB RAM\): RAM ([\d,]+) B of 131,072 B \(arena [\d,]+, .*"
                      r"stack 8,192 reserved, its high-water mark ([\d,]+) B\)", out)  # fmt: skip
    assert len(rams) == 2, out[-3000:]
    for ram, stack in rams:
        assert int(ram.replace(",", "")) <= 131_072 and 0 < int(stack.replace(",", "")) < 8192
    assert re.search(r"bit-exact with the reference\s+8/8", out)
    assert re.search(r"logits equal to QAT PyTorch\s+8/8", out)
    assert re.search(r"bit-exact with the reference\s+4/4", out)
    assert re.search(r"device instructions per sample\s+mean [\d,]+", out)
    assert "demo passed" in out and "12/12 streamed samples bit-exact on qemu-stm32f411" in out
    assert (tmp_path / "image" / "model.esnn").is_file() and (tmp_path / "events" / "stream.json").is_file()


def test_falls_back_to_the_host_board_without_qemu(monkeypatch, capsys):
    monkeypatch.setattr(shutil, "which", lambda t: None if t == "qemu-system-arm" else "/usr/bin/" + t)
    assert demo_cmd.pick_device("qemu-stm32f411") == "host"
    assert "qemu-system-arm not found, so the demo runs on the host board" in capsys.readouterr().out
    assert demo_cmd.pick_device("qemu-mps2-an386") == "host"
    assert demo_cmd.pick_device("host") == "host"
