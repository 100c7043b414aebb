"""Emulated parts: a device profile with an [emulation] table (edgesnn/devices.py) is validated against the
rest of the profile and against the real part it stands for, with messages naming the file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgesnn.devices import DEVICES_DIR, DeviceError, budget_profile, load_profile, parse_profile


def good() -> dict:
    return {
        "device": {"name": "qemu-x", "core": "cortex-m4", "clock_mhz": 25, "runtime": "c"},
        "memory": {"flash_kib": 512, "ram_kib": 128, "reserved_flash_kib": 64, "reserved_ram_kib": 16},
        "emulation": {"port": "qemu-mps2-an386", "stack_kib": 8},
        "flash": {"method": "qemu"},
    }


def test_the_shipped_emulated_part():
    p = load_profile("qemu-stm32f411")
    assert p.emulated and p.emulator_port == "qemu-mps2-an386" and p.emulated_part == "stm32f411-nucleo"
    assert (p.ram_bytes, p.flash_bytes, p.stack_bytes) == (128 * 1024, 512 * 1024, 8 * 1024)
    real = budget_profile(p)
    assert real.name == "stm32f411-nucleo" and real.model_ram_bytes == p.model_ram_bytes
    assert budget_profile(real) is real and not load_profile("qemu-mps2-an386").emulated


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["emulation"].pop("port"), r"\[emulation\] port: missing"),
        (lambda d: d["emulation"].update(port="renode-x"), r"port: 'renode-x' is not an emulated board"),
        (lambda d: d["emulation"].pop("stack_kib"), r"\[emulation\] stack_kib: missing"),
        (lambda d: d["emulation"].update(stack_kib=0), r"stack_kib: must be in 1\.\.16 \(reserved_ram_kib"),
        (lambda d: d["emulation"].update(stack_kib=17), r"stack_kib: must be in 1\.\.16"),
        (lambda d: d["emulation"].update(stack="8"), r"\[emulation\] stack: unknown key"),
        (lambda d: d["memory"].update(ram_kib=8192), r"\[memory\] ram_kib: 8192 exceeds the 4096 KiB"),
        (lambda d: d["device"].update(runtime="micropython"), r"runtime: an emulated part runs the C"),
        (lambda d: d["flash"].update(method="openocd"), r"\[flash\] method: an emulated part is started"),
        (lambda d: d.update(emulation="qemu"), r"\[emulation\]: expected a table"),
    ],
)
def test_bad_emulation_names_the_field(change, message: str) -> None:
    data = {k: dict(v) for k, v in good().items()}
    change(data)
    with pytest.raises(DeviceError, match=message):
        parse_profile(data, "bad.toml")


def test_the_part_limits_must_be_the_real_parts(tmp_path: Path) -> None:
    shipped = (DEVICES_DIR / "qemu-stm32f411.toml").read_text()  # edited below
    drifted = tmp_path / "drifted.toml"
    drifted.write_text(shipped.replace("ram_kib = 128", "ram_kib = 256"))
    with pytest.raises(DeviceError, match=r"drifted.toml: \[memory\] ram_kib: 256 differs from stm32f411"):
        load_profile(drifted)
    unknown = tmp_path / "unknown.toml"
    unknown.write_text(shipped.replace('part = "stm32f411-nucleo"', 'part = "stm32f999"'))
    with pytest.raises(DeviceError, match=r"unknown.toml: \[emulation\] part: no device profile 'stm32f999'"):
        load_profile(unknown)
