"""The emulated Cortex-M4 board: build the protocol firmware for a model, run it under qemu-system-arm.

    image = build_image(model)                       # firmware/ports/qemu-mps2-an386, cached by model hash
    with QemuTransport(image.elf) as t:              # UART0 on a TCP server port, via pyserial socket://
        info = Client(t).hello()
        t.reset_device()                             # QEMU monitor `system_reset`: the board boots again

QEMU runs with `-icount shift=7`, so RESULT counters are exact guest instruction counts (INFO counter_kind
1, DESIGN.md 5a). Images are built by `make -C firmware/ports/<board> board` into
firmware/build/board-<board>/models/<sha256 of the blob>/ and reused while make finds them up to date
(the runtime's sources are make prerequisites, so an edited runtime rebuilds them).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from edgesnn import resources
from edgesnn.host.children import die_with_parent
from edgesnn.host.errors import HostError
from edgesnn.host.transport import SerialTransport, Transport, stop_process

FIRMWARE = resources.firmware_dir()
BOARD = "qemu-mps2-an386"
QEMU = "qemu-system-arm"
APT = {
    "qemu-system-arm": "qemu-system-arm",
    "arm-none-eabi-gcc": "gcc-arm-none-eabi libnewlib-arm-none-eabi",
    "make": "build-essential",
    "cc": "build-essential",
}
RESET_BOOT_S = 5.0  # a reset board announces itself within this (else it is power-cycled)
BOOT_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class BoardImage:
    """A built board firmware: the ELF, its raw flash image and the size report of the build."""

    board: str
    elf: Path
    bin: Path
    size: dict[str, int]  # text data bss flash ram model code arena stack (bytes)
    report: str  # the build's one-line size report


def require_tools(*tools: str) -> None:
    """HostError naming the apt packages when a tool is missing."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        packages = " ".join(dict.fromkeys(APT.get(t, t) for t in missing))
        raise HostError(f"{', '.join(missing)} not found: apt-get install {packages}")


def model_hash(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()[:16]


def board_build_dir(board: str) -> Path:
    """The port's build folder (its make variable B): objects shared by all models, one folder per model."""
    return resources.build_dir() / f"board-{board}"


def image_dir(blob: bytes, board: str = BOARD, payload_cap: int | None = None) -> Path:
    """Where the image of the model `blob` for `board` is built."""
    suffix = f"-p{payload_cap}" if payload_cap else ""
    return board_build_dir(board) / "models" / (model_hash(blob) + suffix)


def build_image(model: Path | str, board: str = BOARD, payload_cap: int | None = None) -> BoardImage:
    """`make -C firmware/ports/<board> board` for `model`; the output folder is keyed by the blob's hash."""
    resources.require(FIRMWARE / "Makefile", "the C runtime sources (firmware/)")
    port = FIRMWARE / "ports" / board
    if not (port / "Makefile").is_file():
        ports = sorted(p.name for p in (FIRMWARE / "ports").glob("*/Makefile") if p.parent.name != "host")
        raise HostError(f"no C port for {board!r} in firmware/ports (ports: {', '.join(ports)})")
    require_tools("make", "cc", "arm-none-eabi-gcc")
    model = Path(model)
    try:
        blob = model.read_bytes()
    except OSError as e:
        raise HostError(f"cannot read {model}: {e.strerror or e}") from e
    root = board_build_dir(board)
    out = image_dir(blob, board, payload_cap)
    out.mkdir(parents=True, exist_ok=True)
    copy = out / "model.esnn"
    if not copy.is_file() or copy.read_bytes() != blob:
        tmp = out / "model.esnn.tmp"
        tmp.write_bytes(blob)
        tmp.replace(copy)
    argv = ["make", "-C", str(port), "-j1", f"B={root}", "board", f"MODEL={copy}", f"OUT={out}"]
    if payload_cap is not None:
        argv.append(f"PAYLOAD_CAP={payload_cap}")
    with open(root / ".lock", "w") as lock:  # one build at a time per board (tests and CLI may overlap)
        fcntl.flock(lock, fcntl.LOCK_EX)
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0:
        log = (proc.stdout + proc.stderr)[-3000:]
        raise HostError(f"building the {board} firmware for {model} failed:\n{log}")
    size = {}
    for line in (out / "size.txt").read_text().splitlines():
        key, _, value = line.partition("=")
        if value.isdigit():
            size[key] = int(value)
    report = next((ln for ln in proc.stdout.splitlines() if ln.startswith(f"{board}: ")), "")
    if not report:
        report = (
            f"{board}: {out / 'esnn_board.elf'}: flash {size['flash']} B (model {size['model']}), "
            f"RAM {size['ram']} B (arena {size['arena']}, stack {size['stack']}) (up to date)"
        )
    return BoardImage(board, out / "esnn_board.elf", out / "esnn_board.bin", size, report)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def qemu_argv(elf: Path | str, port: int, *, monitor: str | None = None, icount: bool = True) -> list[str]:
    """The qemu-system-arm command line of the board: UART0 on a TCP server port that waits for a client
    (the guest starts when the host connects, so no byte is lost); semihosting only for a fault exit."""
    argv = [QEMU, "-M", "mps2-an386", "-display", "none", "-nodefaults"]
    argv += ["-monitor", f"unix:{monitor},server=on,wait=off" if monitor else "none"]
    if icount:
        argv += ["-icount", "shift=7"]
    argv += ["-semihosting-config", "enable=on,target=native", "-kernel", str(elf)]
    argv += ["-serial", f"tcp:127.0.0.1:{port},server=on,wait=on"]
    return argv


class QemuProcess:
    """qemu-system-arm serving the board on a free TCP port (retried if the port was taken meanwhile),
    with its monitor on a unix socket for `system_reset`."""

    def __init__(self, elf: Path | str, *, icount: bool = True, attempts: int = 3) -> None:
        require_tools(QEMU)
        self._dir = tempfile.TemporaryDirectory(prefix="edgesnn-qemu-")
        self.monitor_path = os.path.join(self._dir.name, "monitor.sock")
        self._log = open(os.path.join(self._dir.name, "qemu.log"), "w+b")  # noqa: SIM115 (kept open)
        try:
            for attempt in range(attempts):
                self.port = free_port()
                self.argv = qemu_argv(elf, self.port, monitor=self.monitor_path, icount=icount)
                self.proc = subprocess.Popen(
                    self.argv, stdout=self._log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent()
                )
                if self._wait_listening():
                    return
                if attempt + 1 == attempts or "Address already in use" not in self.log_text():
                    text = self.log_text()
                    raise HostError(
                        f"{QEMU} did not start (status {self.proc.poll()}): {text or 'no message'}"
                    )
        except BaseException:  # an error, Ctrl-C or SIGTERM while starting: no QEMU or temp folder is left
            self.stop()
            raise

    @property
    def url(self) -> str:
        return f"socket://127.0.0.1:{self.port}"

    def _wait_listening(self, timeout: float = BOOT_TIMEOUT_S) -> bool:
        """True once QEMU says it waits for a connection (a probing connect would start the guest)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "waiting for connection" in self.log_text():
                return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.01)
        return False

    def log_text(self) -> str:
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode(errors="replace").strip()

    def monitor(self, command: str, timeout: float = 5.0) -> str:
        """Run one QEMU monitor command (e.g. `system_reset`); its output."""
        deadline = time.monotonic() + timeout
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            try:
                s.connect(self.monitor_path)
            except OSError as e:
                why = self.log_text() or "no message"
                raise HostError(f"cannot reach the QEMU monitor: {e} ({why})") from e
            data = b""
            while b"(qemu)" not in data and time.monotonic() < deadline:
                data += s.recv(4096)
            s.sendall(command.encode() + b"\n")
            data = b""
            while data.count(b"(qemu)") < 1 and time.monotonic() < deadline:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        return data.decode(errors="replace")

    def stop(self) -> None:
        """Stop QEMU and remove its temp folder (monitor socket, log); safe to call again."""
        if getattr(self, "proc", None) is not None:
            stop_process(self.proc)
        with contextlib.suppress(OSError):
            self._log.close()
        self._dir.cleanup()


class QemuTransport(Transport):
    """The emulated board: QEMU started on `elf`, reached through pyserial's `socket://` URL.

    On open it waits for the board's boot announcement (INFO with request id NO_ID) and drops it, so the
    first request is never sent before the firmware listens. `reset_device()` resets the board through
    the QEMU monitor (`system_reset`, a power-on reset: the same image boots and announces INFO again);
    `close()` stops QEMU."""

    def __init__(
        self, elf: Path | str, *, icount: bool = True, connect_timeout: float = BOOT_TIMEOUT_S
    ) -> None:
        super().__init__()
        self._elf, self._icount = elf, icount
        self.qemu = QemuProcess(elf, icount=icount)
        self.description = f"qemu-system-arm mps2-an386 ({self.qemu.url})"
        self._held = b""
        try:
            self._serial = SerialTransport(self.qemu.url, connect_timeout=connect_timeout)
            self._held = self._await_boot(connect_timeout)
        except BaseException:
            self.qemu.stop()
            raise

    @property
    def url(self) -> str:
        return self.qemu.url

    def _await_boot(self, timeout: float) -> bytes:
        """Read up to the end of the boot INFO frame (its 0x00 delimiter); what follows is kept."""
        data = b""
        deadline = time.monotonic() + timeout
        while b"\x00" not in data.lstrip(b"\x00"):
            if time.monotonic() >= deadline or self.qemu.proc.poll() is not None:
                raise HostError(
                    f"the QEMU board sent no boot announcement within {timeout:.0f} s "
                    f"(status {self.qemu.proc.poll()}): {self.qemu.log_text() or 'no message'}"
                )
            data += self._serial.read(0.1)
        data = data.lstrip(b"\x00")
        self._last_boot = data[: data.index(b"\x00") + 1]
        return data[data.index(b"\x00") + 1 :]

    def _boot_frame(self, timeout: float) -> bytes:
        """Everything up to and including the boot INFO frame (kept, so the client sees the reset)."""
        rest = self._await_boot(timeout)
        return self._last_boot + rest

    def _write(self, data: bytes) -> None:
        self._check_alive()
        self._serial.write(data)

    def _read(self, timeout: float) -> bytes:
        if self._held:
            data, self._held = self._held, b""
            return data
        data = self._serial.read(timeout)
        if not data:
            self._check_alive()
        return data

    def _check_alive(self) -> None:
        status = self.qemu.proc.poll()
        if status is not None:
            why = " (a fault on the board: exit 99)" if status == 99 else ""
            raise HostError(f"{self.description} exited with status {status}{why}: {self.qemu.log_text()}")

    def reset_device(self) -> None:
        """Reset the board (monitor `system_reset`) and wait for its boot announcement, which stays in the
        input for the client to see. QEMU's UART can stop reading the socket when bytes arrive while the
        rebooting guest has RX disabled; a board that does not announce itself within RESET_BOOT_S is
        power-cycled (QEMU restarted on the same image) instead."""
        self._check_alive()
        self.qemu.monitor("system_reset")
        data = b""
        deadline = time.monotonic() + RESET_BOOT_S
        while b"\x00" not in data.lstrip(b"\x00") and time.monotonic() < deadline:
            data += self._serial.read(0.1)
        if b"\x00" in data.lstrip(b"\x00"):
            self._held += data
            return
        with contextlib.suppress(Exception):
            self._serial.close()
        self.qemu.stop()
        self.qemu = QemuProcess(self._elf, icount=self._icount)
        self.description = f"qemu-system-arm mps2-an386 ({self.qemu.url})"
        self._serial = SerialTransport(self.qemu.url, connect_timeout=BOOT_TIMEOUT_S)
        self._held = self._boot_frame(BOOT_TIMEOUT_S)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._serial.close()
        self.qemu.stop()


def start_qemu_board(
    model: Path | str, *, build: bool = True, icount: bool = True, payload_cap: int | None = None
) -> QemuTransport:
    """Build (or reuse) the image for `model` and start it; the transport's close() stops QEMU."""
    if build:
        image = build_image(model, payload_cap=payload_cap)
        elf = image.elf
    else:
        elf = image_dir(Path(model).read_bytes(), BOARD, payload_cap) / "esnn_board.elf"
        if not elf.is_file():
            raise HostError(f"no QEMU board image for {model} at {elf} (build it: drop build=False)")
    return QemuTransport(elf, icount=icount)
