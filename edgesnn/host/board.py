"""The host board (firmware/ports/host): build it and start it as a process on a pseudo-terminal."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from edgesnn import resources
from edgesnn.host.errors import HostError
from edgesnn.host.transport import ProcessTransport

PORT = resources.firmware_dir() / "ports" / "host"
BUILD = resources.build_dir() / "hostboard"  # the port's make variable B
BINARIES = {"board": BUILD / "esnn_board", "asan": BUILD / "esnn_board_asan"}


def build_host_board(variant: str = "board") -> Path:
    """`make -C firmware/ports/host -j1 B=<BUILD> <variant>` (board or asan); the binary's path."""
    if variant not in BINARIES:
        raise ValueError(f"unknown host board variant {variant!r} (one of {', '.join(BINARIES)})")
    missing = [tool for tool in ("make", "cc") if shutil.which(tool) is None]
    if missing:
        raise HostError(
            f"building the host board needs {' and '.join(missing)} (apt-get install build-essential)"
        )
    resources.require(PORT / "Makefile", "the host board port (firmware/ports/host)")
    argv = ["make", "-C", str(PORT), "-j1", f"B={BUILD}", variant]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
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
