"""``edgesnn flash``: the fit check, --dry-run commands for every kind of board, and QEMU serving a port."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from edgesnn.cli.main import main

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "export" / "vectors" / "v1" / "residual_or" / "model.esnn"


@pytest.mark.parametrize(
    ("device", "expect"),
    [
        (
            "stm32f411-nucleo",
            [
                r"make -C \S+/ports/stm32f411-nucleo",
                r"openocd -f board/st_nucleo_f4.cfg -c 'program \S+/esnn_board.elf verify reset exit'",
                r"# or: pyocd flash --target stm32f411retx",
            ],
        ),
        (
            "qemu-mps2-an386",
            [
                r"make -C \S+/ports/qemu-mps2-an386",
                r"qemu-system-arm -M mps2-an386 .*-icount shift=7 .*-serial tcp:127.0.0.1:PORT,server=on",
            ],
        ),
        ("host", [r"esnn_board --pty --name host"]),
        ("rp2040-pico", [r"mpremote connect /dev/ttyACM0 cp \S+model.esnn :model.esnn"]),
        ("nrf52840-dk", [r"make -C \S+/ports/nrf52840-dk", r"nrfjprog --program \S+esnn_board.hex"]),
    ],
)
def test_dry_run_prints_commands(device, expect, capsys):
    assert main(["flash", "--device", device, str(MODEL), "--dry-run"]) == 0
    out = capsys.readouterr().out
    if device == "rp2040-pico":  # the MicroPython runtime's figures
        fits = rf"fits {device}: MicroPython heap \d+ of 196608 B, flash \(model \+ runtime files\) \d+ of"
    else:
        fits = rf"fits {device}: RAM \d+ of \d+ B, flash 1688 of \d+ B"
    assert re.search(fits, out), out
    for pattern in expect:
        assert re.search(pattern, out), (pattern, out)
    if device == "nrf52840-dk":  # a C board builds its arena from the RAM its profile leaves the model
        from edgesnn.devices import load_profile
        from edgesnn.host.qemu import arena_budget

        budget = arena_budget(MODEL.read_bytes(), model_ram=load_profile(device).model_ram_bytes)
        assert budget is not None and f"the board's arena is {budget} B" in out
        assert re.search(rf"make -C \S+/ports/nrf52840-dk .* ARENA_BUDGET={budget}$", out, re.M), out


def test_model_that_does_not_fit_fails_with_required_vs_available(tmp_path, capsys):
    profile = tmp_path / "tiny.toml"
    profile.write_text(
        '[device]\nname = "tiny"\ncore = "cortex-m0"\nclock_mhz = 16\nruntime = "c"\n'
        "[memory]\nflash_kib = 2\nram_kib = 4\nreserved_flash_kib = 1\nreserved_ram_kib = 1\n"
    )
    assert main(["flash", "--device", str(profile), str(MODEL), "--dry-run"]) == 1
    err = capsys.readouterr().err
    assert re.search(
        r"does not fit tiny: RAM \d+ B required, 3072 B available; flash 1688 B required, 1024 B", err
    )


def test_micropython_fit_uses_the_micropython_heap_bound(capsys):
    from edgesnn.export.micropython_memory import flash_bytes, heap_bytes

    blob = MODEL.read_bytes()
    assert main(["flash", "--device", "rp2040-pico", str(MODEL), "--dry-run"]) == 0
    out = capsys.readouterr().out
    heap, flash = heap_bytes(blob, board=True), flash_bytes(len(blob))
    assert heap > len(blob) and flash > len(blob)
    assert f"fits rp2040-pico: MicroPython heap {heap} of {(264 - 72) * 1024} B" in out, out
    assert f"flash (model + runtime files) {flash} of {(2048 - 640) * 1024} B" in out, out


def test_micropython_model_that_does_not_fit_names_the_heap(tmp_path, capsys):
    from edgesnn.cli.flash_cmd import model_needs
    from edgesnn.export.micropython_memory import flash_bytes, heap_bytes

    profile = tmp_path / "tiny-mp.toml"
    profile.write_text(
        '[device]\nname = "tiny-mp"\ncore = "cortex-m0plus"\nclock_mhz = 48\nruntime = "micropython"\n'
        "[memory]\nflash_kib = 64\nram_kib = 40\nreserved_flash_kib = 16\nreserved_ram_kib = 24\n"
        '[flash]\nmethod = "mpremote"\ncommand = "mpremote connect {serial} cp {model} :model.esnn"\n'
    )
    blob = MODEL.read_bytes()
    heap, flash = heap_bytes(blob, board=True), flash_bytes(len(blob))
    assert heap > 16 * 1024 and flash > 48 * 1024
    assert max(model_needs(blob, "m")) < 16 * 1024  # the C runtime's figures would fit
    assert main(["flash", "--device", str(profile), str(MODEL), "--dry-run"]) == 1
    err = capsys.readouterr().err
    assert (
        f"does not fit tiny-mp: MicroPython heap {heap} B required, 16384 B available; "
        f"flash (model + runtime files) {flash} B required, 49152 B available"
    ) in err, err


def test_c_profile_without_a_port_names_the_ports_there_are(tmp_path, capsys):
    profile = tmp_path / "board-x.toml"
    profile.write_text(
        '[device]\nname = "board-x"\ncore = "cortex-m4"\nclock_mhz = 64\nruntime = "c"\n'
        "[memory]\nflash_kib = 1024\nram_kib = 256\n"
        '[flash]\nmethod = "openocd"\ncommand = "openocd {elf}"\n'
    )
    assert main(["flash", "--device", str(profile), str(MODEL), "--dry-run"]) == 0
    assert "no C port firmware/ports/board-x yet" in capsys.readouterr().out
    assert main(["flash", "--device", str(profile), str(MODEL)]) == 1
    err = capsys.readouterr().err
    assert "no C port for board-x in firmware/ports" in err
    assert "nrf52840-dk" in err and "stm32f411-nucleo" in err


def test_bad_device_and_model_name_the_problem(capsys):
    assert main(["flash", "--device", "nope", str(MODEL), "--dry-run"]) == 1
    assert "no device profile 'nope'" in capsys.readouterr().err
    assert main(["flash", "--device", "host", "/nonexistent.esnn", "--dry-run"]) == 1
    assert "cannot read /nonexistent.esnn" in capsys.readouterr().err


def test_flash_qemu_serves_a_port_until_interrupted():
    if shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("needs qemu-system-arm and arm-none-eabi-gcc (tests/run.sh installs them)")
    from edgesnn.host import Client, SerialTransport

    proc = subprocess.Popen(
        [sys.executable, "-m", "edgesnn", "flash", "--device", "qemu-mps2-an386", str(MODEL)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=os.environ | {"PYTHONPATH": str(REPO)},
    )
    try:
        assert proc.stdout is not None
        url = None
        for line in proc.stdout:
            m = re.search(r"use --port (socket://127\.0\.0\.1:\d+)", line)
            if m:
                url = m.group(1)
                break
        assert url, "no --port URL printed"
        with Client(SerialTransport(url, connect_timeout=10)) as c:
            info = c.hello()
        assert info.device_name == "qemu-mps2-an386" and info.model_size == MODEL.stat().st_size
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
