"""The host board (firmware/ports/host): build it and start it as a process on a pseudo-terminal."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from edgesnn.host.errors import HostError
from edgesnn.host.transport import ProcessTransport

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"
PORT = FIRMWARE / "ports" / "host"
BINARIES = {
    "board": FIRMWARE / "build" / "hostboard" / "esnn_board",
    "asan": FIRMWARE / "build" / "hostboard" / "esnn_board_asan",
}


def build_host_board(variant: str = "board") -> Path:
    """`make -C firmware/ports/host -j1 <variant>` (board or asan); the binary's path."""
    if variant not in BINARIES:
        raise ValueError(f"unknown host board variant {variant!r} (one of {', '.join(BINARIES)})")
    missing = [tool for tool in ("make", "cc") if shutil.which(tool) is None]
    if missing:
        raise HostError(
            f"building the host board needs {' and '.join(missing)} (apt-get install build-essential)"
        )
    proc = subprocess.run(
        ["make", "-C", str(PORT), "-j1", variant], capture_output=True, text=True, timeout=300, check=False
    )
    if proc.returncode != 0:
        raise HostError(f"building the host board failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return BINARIES[variant]


def start_host_board(
    model: Path | str,
    *,
    variant: str = "board",
    pty: bool = True,
    name: str = "host",
    max_payload: int | None = None,
    build: bool = True,
) -> ProcessTransport:
    """Start the host board serving `model`; the returned transport talks to it (raw pty or pipes)."""
    binary = build_host_board(variant) if build else BINARIES[variant]
    argv = [str(binary), "--name", name]
    if max_payload is not None:
        argv += ["--max-payload", str(max_payload)]
    return ProcessTransport([*argv, str(model)], pty=pty)
