"""Device profiles ``devices/<name>.toml``: core, clock, flash and RAM budgets, runtime and transport.

    [device]                      [memory]                 [transport]         [flash]
    name = "stm32f411-nucleo"     flash_kib = 512          serial = "/dev/ttyACM0"   method = "openocd"
    core = "cortex-m4"            ram_kib = 128            baud = 115200       command = "openocd ... {elf}"
    clock_mhz = 100               reserved_ram_kib = 16    (optional)          alternatives = ["pyocd ..."]
    runtime = "c"                 reserved_flash_kib = 64                      (optional)

``reserved_*`` is what the runtime itself needs (firmware code, stack, the MicroPython heap); the model
gets the rest. ``[flash] command`` (and each of ``alternatives``) is the command line that puts a built
image on the board, with placeholders {elf} {bin} {hex} (the firmware built by firmware/ports/<name>),
{model} (the .esnn blob) and {serial}; `edgesnn flash` fills them in. Every error names the file and field.

An emulated part: a profile with an ``[emulation]`` table is a firmware port run under an emulator but
linked with this profile's ``[memory]`` limits, so that an image runs here only if it would fit the part:

    [emulation]
    port = "qemu-mps2-an386"      # the emulated board's firmware port (EMULATOR_PORTS), run under QEMU
    part = "stm32f411-nucleo"     # optional: the real part it stands for; load_profile checks that
                                  # [memory] (flash_kib, ram_kib, reserved_*) equals that profile's
    stack_kib = 8                 # the stack reserved in the link, out of reserved_ram_kib

The image is linked with RAM = ram_kib, flash = flash_kib and the stack (firmware/ports/<port>/board.ld),
and reports the profile's name in INFO. Rules: runtime "c"; ram_kib and flash_kib within what the emulated
board has; 1 <= stack_kib <= reserved_ram_kib (or < ram_kib when nothing is reserved); [flash] method,
when given, "qemu".
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from edgesnn import resources

RUNTIMES = ("c", "micropython", "host")
PLACEHOLDERS = ("elf", "bin", "hex", "model", "serial")
# Emulated boards a profile's [emulation] port may name: (flash KiB, RAM KiB) the emulator gives them.
EMULATOR_PORTS = {"qemu-mps2-an386": (4096, 4096)}
DEVICES_DIR = resources.devices_dir()


class DeviceError(ValueError):
    """A device profile that cannot be used; the message names the file and field."""


@dataclass(frozen=True)
class DeviceProfile:
    name: str
    core: str
    clock_mhz: float
    runtime: str
    flash_bytes: int
    ram_bytes: int
    reserved_flash_bytes: int = 0
    reserved_ram_bytes: int = 0
    serial: str | None = None
    baud: int | None = None
    flash_method: str | None = None
    flash_command: str | None = None
    flash_alternatives: tuple[str, ...] = ()
    ram_budget_bytes: int | None = None  # --ram-budget: the model's RAM, overriding ram - reserved_ram
    emulator_port: str | None = None  # [emulation] port: run on this emulated board with these limits
    emulated_part: str | None = None  # [emulation] part: the real part's profile it stands for
    stack_bytes: int | None = None  # [emulation] stack_kib, in bytes

    @property
    def emulated(self) -> bool:
        return self.emulator_port is not None

    @property
    def model_flash_bytes(self) -> int:
        return self.flash_bytes - self.reserved_flash_bytes

    @property
    def model_ram_bytes(self) -> int:
        if self.ram_budget_bytes is not None:
            return self.ram_budget_bytes
        return self.ram_bytes - self.reserved_ram_bytes

    def with_ram_budget(self, budget: int | None) -> DeviceProfile:
        """This profile with the model's RAM set to `budget` bytes (None: the profile's own budget)."""
        return self if budget is None else replace(self, ram_budget_bytes=budget)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__} | {
            "model_flash_bytes": self.model_flash_bytes,
            "model_ram_bytes": self.model_ram_bytes,
        }


def _field(
    src: str, table: dict, section: str, key: str, kinds: tuple[type, ...], required: bool = True
) -> Any:
    where = f"{src}: [{section}] {key}"
    if key not in table:
        if required:
            raise DeviceError(f"{where}: missing")
        return None
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise DeviceError(f"{where}: expected {names}, got {type(value).__name__} {value!r}")
    return value


def _command(src: str, key: str, value: str) -> str:
    import string

    try:
        names = {f for _, f, _, _ in string.Formatter().parse(value) if f is not None}
    except ValueError as exc:
        raise DeviceError(f"{src}: [flash] {key}: {exc}") from None
    unknown = sorted(names - set(PLACEHOLDERS))
    if unknown:
        raise DeviceError(
            f"{src}: [flash] {key}: unknown placeholder {{{unknown[0]}}} (known: {PLACEHOLDERS})"
        )
    return value


def _positive(src: str, section: str, key: str, value: float | None) -> None:
    if value is not None and value <= 0:
        raise DeviceError(f"{src}: [{section}] {key}: must be > 0, got {value}")


def parse_profile(data: dict[str, Any], src: str = "profile") -> DeviceProfile:
    for section in ("device", "memory"):
        if not isinstance(data.get(section), dict):
            raise DeviceError(f"{src}: [{section}]: missing table")
    dev, mem = data["device"], data["memory"]
    transport, flash = data.get("transport", {}), data.get("flash", {})
    name = _field(src, dev, "device", "name", (str,))
    core = _field(src, dev, "device", "core", (str,))
    clock = _field(src, dev, "device", "clock_mhz", (int, float))
    runtime = _field(src, dev, "device", "runtime", (str,))
    if runtime not in RUNTIMES:
        raise DeviceError(f"{src}: [device] runtime: {runtime!r} is not one of {RUNTIMES}")
    flash_kib = _field(src, mem, "memory", "flash_kib", (int,))
    ram_kib = _field(src, mem, "memory", "ram_kib", (int,))
    res_flash = _field(src, mem, "memory", "reserved_flash_kib", (int,), required=False) or 0
    res_ram = _field(src, mem, "memory", "reserved_ram_kib", (int,), required=False) or 0
    for key, value in (("clock_mhz", clock),):
        _positive(src, "device", key, value)
    for key, value in (("flash_kib", flash_kib), ("ram_kib", ram_kib)):
        _positive(src, "memory", key, value)
    if not 0 <= res_flash < flash_kib:
        raise DeviceError(
            f"{src}: [memory] reserved_flash_kib: must be in 0..{flash_kib - 1}, got {res_flash}"
        )
    if not 0 <= res_ram < ram_kib:
        raise DeviceError(f"{src}: [memory] reserved_ram_kib: must be in 0..{ram_kib - 1}, got {res_ram}")
    command = _field(src, flash, "flash", "command", (str,), required=False)
    alternatives = _field(src, flash, "flash", "alternatives", (list,), required=False) or []
    for i, alt in enumerate(alternatives):
        if not isinstance(alt, str):
            raise DeviceError(f"{src}: [flash] alternatives[{i}]: expected str, got {type(alt).__name__}")
    baud = _field(src, transport, "transport", "baud", (int,), required=False)
    _positive(src, "transport", "baud", baud)
    method = _field(src, flash, "flash", "method", (str,), required=False)
    port, part, stack_kib = _emulation(src, data, runtime, flash_kib, ram_kib, res_ram, method)
    return DeviceProfile(
        name=name,
        core=core,
        clock_mhz=float(clock),
        runtime=runtime,
        flash_bytes=flash_kib * 1024,
        ram_bytes=ram_kib * 1024,
        reserved_flash_bytes=res_flash * 1024,
        reserved_ram_bytes=res_ram * 1024,
        serial=_field(src, transport, "transport", "serial", (str,), required=False),
        baud=baud,
        flash_method=method,
        flash_command=_command(src, "command", command) if command else None,
        flash_alternatives=tuple(_command(src, f"alternatives[{i}]", a) for i, a in enumerate(alternatives)),
        emulator_port=port,
        emulated_part=part,
        stack_bytes=stack_kib * 1024 if stack_kib is not None else None,
    )


def _emulation(
    src: str, data: dict, runtime: str, flash_kib: int, ram_kib: int, res_ram: int, method: str | None
) -> tuple[str | None, str | None, int | None]:
    """The [emulation] table checked against the rest of the profile: (port, part, stack_kib)."""
    if "emulation" not in data:
        return None, None, None
    emu = data["emulation"]
    if not isinstance(emu, dict):
        raise DeviceError(f"{src}: [emulation]: expected a table, got {type(emu).__name__}")
    unknown = sorted(set(emu) - {"port", "part", "stack_kib"})
    if unknown:
        raise DeviceError(f"{src}: [emulation] {unknown[0]}: unknown key (known: port, part, stack_kib)")
    port = _field(src, emu, "emulation", "port", (str,))
    if port not in EMULATOR_PORTS:
        raise DeviceError(
            f"{src}: [emulation] port: {port!r} is not an emulated board (known: {', '.join(EMULATOR_PORTS)})"
        )
    part = _field(src, emu, "emulation", "part", (str,), required=False)
    stack_kib = _field(src, emu, "emulation", "stack_kib", (int,))
    if runtime != "c":
        raise DeviceError(f"{src}: [device] runtime: an emulated part runs the C runtime, got {runtime!r}")
    if method is not None and method != "qemu":
        raise DeviceError(f"{src}: [flash] method: an emulated part is started with 'qemu', got {method!r}")
    max_flash, max_ram = EMULATOR_PORTS[port]
    for key, value, most in (("flash_kib", flash_kib, max_flash), ("ram_kib", ram_kib, max_ram)):
        if value > most:
            raise DeviceError(f"{src}: [memory] {key}: {value} exceeds the {most} KiB that {port} has")
    top = res_ram if res_ram else ram_kib - 1
    if not 1 <= stack_kib <= top:
        what = "reserved_ram_kib (the stack is part of what the firmware reserves)" if res_ram else "ram_kib"
        raise DeviceError(f"{src}: [emulation] stack_kib: must be in 1..{top} ({what}), got {stack_kib}")
    return port, part, stack_kib


def _check_part(profile: DeviceProfile, src: str) -> None:
    """An emulated part's [memory] must be the real part's, so that what runs here fits there."""
    try:
        real = load_profile(profile.emulated_part or "")
    except DeviceError as exc:
        raise DeviceError(f"{src}: [emulation] part: {exc}") from None
    if real.emulated:
        raise DeviceError(f"{src}: [emulation] part: {real.name!r} is itself emulated; name a real part")
    for attr, key in (
        ("flash_bytes", "flash_kib"),
        ("ram_bytes", "ram_kib"),
        ("reserved_flash_bytes", "reserved_flash_kib"),
        ("reserved_ram_bytes", "reserved_ram_kib"),
    ):
        mine, theirs = getattr(profile, attr) // 1024, getattr(real, attr) // 1024
        if mine != theirs:
            raise DeviceError(
                f"{src}: [memory] {key}: {mine} differs from {real.name}'s {theirs} "
                "([emulation] part: an emulated part takes the real part's limits)"
            )


def fit_problems(profile: DeviceProfile, ram_bytes: int, flash_bytes: int) -> list[str]:
    """What a model needing `ram_bytes` of RAM and `flash_bytes` of flash lacks on `profile` (required vs
    available, after the profile's reserved budgets); [] when it fits."""
    problems = []
    if ram_bytes > profile.model_ram_bytes:
        problems.append(f"RAM {ram_bytes} B required, {profile.model_ram_bytes} B available")
    if flash_bytes > profile.model_flash_bytes:
        problems.append(f"flash {flash_bytes} B required, {profile.model_flash_bytes} B available")
    return problems


def load_profile(name_or_path: str | Path) -> DeviceProfile:
    """A profile by path, or by name from ``devices/`` (``stm32f411-nucleo``)."""
    path = Path(name_or_path)
    if not path.is_file():
        path = DEVICES_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        resources.require(DEVICES_DIR, "the device profiles (devices/)")
        known = sorted(p.stem for p in DEVICES_DIR.glob("*.toml"))
        raise DeviceError(f"no device profile {name_or_path!r} (a .toml path or one of {known})")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise DeviceError(f"{path}: not valid TOML: {exc}") from None
    profile = parse_profile(data, str(path))
    if profile.emulated_part is not None:
        _check_part(profile, str(path))
    return profile


def budget_profile(profile: DeviceProfile) -> DeviceProfile:
    """The profile whose budgets an export for `profile` targets: the real part an emulated one stands
    for, else the profile itself."""
    return load_profile(profile.emulated_part) if profile.emulated_part else profile
