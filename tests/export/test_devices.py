"""Device profiles load and validate with messages naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgesnn.devices import DEVICES_DIR, DeviceError, load_profile, parse_profile

GOOD = {
    "device": {"name": "x", "core": "m4", "clock_mhz": 64, "runtime": "c"},
    "memory": {"flash_kib": 512, "ram_kib": 128},
}


@pytest.mark.parametrize("path", sorted(DEVICES_DIR.glob("*.toml")), ids=lambda p: p.stem)
def test_shipped_profiles_load(path: Path) -> None:
    p = load_profile(path.stem)
    assert (
        p.name == path.stem
        and 0 < p.model_ram_bytes <= p.ram_bytes
        and 0 < p.model_flash_bytes <= p.flash_bytes
    )


def test_known_budgets() -> None:
    p = load_profile("stm32f411-nucleo")
    assert (p.flash_bytes, p.ram_bytes, p.runtime) == (512 * 1024, 128 * 1024, "c")
    assert load_profile("rp2040-pico").runtime == "micropython"
    assert load_profile(DEVICES_DIR / "qemu-mps2-an386.toml").clock_mhz == 25


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["memory"].pop("ram_kib"), r"\[memory\] ram_kib: missing"),
        (lambda d: d["memory"].update(ram_kib="128"), r"\[memory\] ram_kib: expected int, got str"),
        (lambda d: d["device"].update(runtime="zephyr"), r"\[device\] runtime: 'zephyr' is not one of"),
        (lambda d: d["memory"].update(flash_kib=0), r"\[memory\] flash_kib: must be > 0"),
        (
            lambda d: d["memory"].update(reserved_ram_kib=128),
            r"\[memory\] reserved_ram_kib: must be in 0\.\.127",
        ),
        (lambda d: d.pop("device"), r"\[device\]: missing table"),
    ],
)
def test_bad_profiles_name_the_field(change, message: str) -> None:
    data = {k: dict(v) for k, v in GOOD.items()}
    change(data)
    with pytest.raises(DeviceError, match=message):
        parse_profile(data, "bad.toml")


def test_unknown_profile_lists_known(tmp_path: Path) -> None:
    with pytest.raises(DeviceError, match=r"no device profile 'nope'.*stm32f411-nucleo"):
        load_profile("nope")
    bad = tmp_path / "x.toml"
    bad.write_text("[device\n")
    with pytest.raises(DeviceError, match="not valid TOML"):
        load_profile(bad)
