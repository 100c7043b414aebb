"""Open a board by device-profile name: build what it needs, start it, return a transport to it.

`open_device("host", model)` starts the host board (firmware/ports/host) serving the blob on a pty;
`open_device("qemu-mps2-an386", model)` builds the Cortex-M4 firmware with the blob in flash and runs it
under qemu-system-arm (edgesnn/host/qemu.py); `open_device("micropython-unix", model)` runs the MicroPython
protocol board (devices/micropython/esnn_board.py) on the unix port (edgesnn/host/micropython_board.py).
Every returned transport has `reset_device()` (a board reset mid-stream: QEMU's monitor `system_reset`, the
host board or the MicroPython interpreter restarted) and `close()` (stops the board).
A device profile with an `[emulation]` table (e.g. `qemu-stm32f411`: the emulated Cortex-M4 linked with the
STM32F411's 128 KiB RAM, 512 KiB flash and 8 KiB stack, edgesnn/devices.py) opens its emulated board
built with the profile's limits. Emulated and physical boards register an opener in `OPENERS`; a name
without one (nor an [emulation] profile) fails with the list.
`edgesnn stream`, `edgesnn verify --device` and `edgesnn demo` all go through here, so a new board is
one opener away from every command."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgesnn.host.board import start_host_board
from edgesnn.host.errors import HostError
from edgesnn.host.transport import Transport

if TYPE_CHECKING:
    from edgesnn.host.qemu import BoardLimits

Opener = Callable[..., Transport]


def _open_host(model: Path, *, build: bool = True, **_: object) -> Transport:
    return start_host_board(model, build=build)


def _open_qemu(
    model: Path,
    *,
    build: bool = True,
    icount: bool = True,
    payload_cap: int | None = None,
    limits: BoardLimits | None = None,
    **_: object,
) -> Transport:
    from edgesnn.host.qemu import start_qemu_board

    return start_qemu_board(model, build=build, icount=icount, payload_cap=payload_cap, limits=limits)


def emulated_limits(device: str) -> BoardLimits | None:
    """The BoardLimits of an emulated part's profile (`[emulation]` table), or None when `device` is not
    one (no such profile, or a profile without [emulation])."""
    from edgesnn.devices import DEVICES_DIR, DeviceError, load_profile
    from edgesnn.host.qemu import limits_of

    if not (Path(device).is_file() or (DEVICES_DIR / f"{device}.toml").is_file()):
        return None
    try:
        profile = load_profile(device)
    except DeviceError as exc:
        raise HostError(str(exc)) from None
    if profile.emulated and limits_of(profile) is None:
        raise HostError(f"{profile.name}: no opener for the emulated board {profile.emulator_port!r}")
    return limits_of(profile)


def _open_micropython(
    model: Path, *, max_payload: int | None = None, kernels: str = "viper", **_: object
) -> Transport:
    from edgesnn.host.micropython_board import start_micropython_board

    return start_micropython_board(model, max_payload=max_payload, kernels=kernels)


OPENERS: dict[str, Opener] = {
    "host": _open_host,
    "qemu-mps2-an386": _open_qemu,
    "micropython-unix": _open_micropython,
}


def open_device(device: str, model: Path | str, *, build: bool = True, **options: Any) -> Transport:
    """A transport to `device` running `model` (an .esnn blob); the caller closes it (stops the board)."""
    model = Path(model)
    if not model.is_file():
        raise HostError(f"{model}: no such model file")
    opener = OPENERS.get(device)
    if opener is None:
        limits = emulated_limits(device)
        if limits is not None:
            return _open_qemu(model, build=build, **(options | {"limits": limits}))
    if opener is None:
        known = ", ".join(sorted(OPENERS))
        raise HostError(
            f"device {device!r} cannot be started from here (boards this host can start: {known}); "
            "for a physical board pass --port with its serial URL"
        )
    return opener(model, build=build, **options)
