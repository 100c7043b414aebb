"""The emulated Cortex-M4 board: build the protocol firmware for a model, run it under qemu-system-arm.

    image = build_image(model)                       # firmware/ports/qemu-mps2-an386, cached by model hash
    with QemuTransport(image.elf) as t:              # UART0 on a TCP server port, via pyserial socket://
        info = Client(t).hello()
        t.reset_device()                             # QEMU monitor `system_reset`: the board boots again

QEMU runs with `-icount shift=7`, so RESULT counters are exact guest instruction counts (INFO counter_kind
1, DESIGN.md 5a). Images are built by `make -C firmware/ports/<board> board` into
firmware/build/board-<board>/models/<sha256 of the blob>[-<limits>]/ and reused while make finds them up
to date (the runtime's sources are make prerequisites, so an edited runtime rebuilds them).

A real part's limits: `build_image(model, limits=BoardLimits(ram_kib=128, flash_kib=512, stack_kib=8,
name="qemu-stm32f411"))` links the image with the part's RAM, flash and stack (an image that does not fit
fails with `ImageTooBig`, as the part's own link would), and `QemuTransport.stack_usage()` reads the
painted stack's high-water mark through the monitor (board_startup.S paints it at boot; an overflow hits
the MPU guard below it and the board exits with status 99 and says "stack overflow").
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from edgesnn import resources
from edgesnn.host.children import die_with_parent
from edgesnn.host.errors import HostError
from edgesnn.host.transport import SerialTransport, Transport, stop_process

if TYPE_CHECKING:
    from edgesnn.devices import DeviceProfile

FIRMWARE = resources.firmware_dir()
BOARD = "qemu-mps2-an386"
QEMU = "qemu-system-arm"
APT = {
    "qemu-system-arm": "qemu-system-arm",
    "arm-none-eabi-gcc": "gcc-arm-none-eabi libnewlib-arm-none-eabi",
    "make": "build-essential",
    "cc": "build-essential",
}
STACK_PAINT = 0x5AC3A53C  # board_startup.S: BOARD_STACK_PAINT, every stack word at boot
RESET_BOOT_S = 5.0  # a reset board announces itself within this (else it is power-cycled)
BOOT_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class BoardImage:
    """A built board firmware: the ELF, its raw flash image and the size report of the build."""

    board: str
    elf: Path
    bin: Path
    size: dict[str, int]  # text data bss flash ram model code arena stack [stack_limit ram_size] (bytes)
    report: str  # the build's one-line size report
    limits: BoardLimits | None = None  # the part's limits it was linked with (None: the board's own)

    @property
    def ram_capacity(self) -> int | None:
        """The RAM the image was linked against (bytes), when the build reports it."""
        return self.size.get("ram_size")


@dataclass(frozen=True)
class BoardLimits:
    """A real part's limits for the emulated board's link (firmware/ports/qemu-mps2-an386/board.ld):
    RAM, flash and reserved stack in KiB, the device profile name the board reports in INFO, and the RAM the
    profile gives the model (bytes; 0: none given, the board runs the lean plan), which sets the arena
    budget (edgesnn.export.passes.memory.board_arena_budget)."""

    ram_kib: int
    flash_kib: int
    stack_kib: int
    name: str
    model_ram: int = 0

    def make_vars(self) -> list[str]:
        return [
            f"RAM_KIB={self.ram_kib}",
            f"FLASH_KIB={self.flash_kib}",
            f"STACK_KIB={self.stack_kib}",
            f"BOARD_NAME={self.name}",
        ]

    @property
    def key(self) -> str:
        return f"{self.name}-r{self.ram_kib}-f{self.flash_kib}-s{self.stack_kib}"


def limits_of(profile: DeviceProfile) -> BoardLimits | None:
    """The limits an emulated part's profile (edgesnn.devices: an [emulation] table naming this port)
    links the board with; None for any other profile."""
    if profile.emulator_port != BOARD:
        return None
    return BoardLimits(
        ram_kib=profile.ram_bytes // 1024,
        flash_kib=profile.flash_bytes // 1024,
        stack_kib=(profile.stack_bytes or 0) // 1024,
        name=profile.name,
        model_ram=profile.model_ram_bytes,
    )


class ImageTooBig(HostError):
    """The model's image does not fit the part's flash or RAM: the link failed, as it would for the part."""


@dataclass(frozen=True)
class BoardMemory:
    """The board's RAM as linked and used: .data + .bss (arena, protocol buffers and statics, the
    reserved stack) of the RAM it was linked against, and the stack's high-water mark."""

    ram: int
    capacity: int
    arena: int
    stack: int
    stack_used: int

    @property
    def other(self) -> int:
        return self.ram - self.arena - self.stack

    def to_dict(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in ("ram", "capacity", "arena", "other", "stack", "stack_used")}

    def __str__(self) -> str:
        return (
            f"RAM {self.ram:,} B of {self.capacity:,} B (arena {self.arena:,}, protocol buffers and statics "
            f"{self.other:,}, stack {self.stack:,} reserved, its high-water mark {self.stack_used:,} B)"
        )


@dataclass(frozen=True)
class StackUsage:
    """The painted stack's high-water mark: bytes ever used of the reserved stack."""

    used: int
    size: int

    def __str__(self) -> str:
        return f"stack high-water mark {self.used:,} B of {self.size:,} B reserved"


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


def arena_budget(blob: bytes, limits: BoardLimits | None = None, model_ram: int | None = None) -> int | None:
    """The arena budget of the board image (board_config ARENA_BUDGET): from the RAM the part's profile gives
    the model (`model_ram`, else the limits'); None (the lean plan) without one, or when the blob does not
    parse (the build then reports it)."""
    from edgesnn.export.passes.memory import board_arena_budget
    from edgesnn.format import BlobError, parse

    ram = model_ram or (limits.model_ram if limits is not None else 0)
    if not ram:
        return None
    try:
        return board_arena_budget(parse(blob), ram)
    except BlobError:
        return None


def image_dir(
    blob: bytes,
    board: str = BOARD,
    payload_cap: int | None = None,
    limits: BoardLimits | None = None,
    model_ram: int | None = None,
) -> Path:
    """Where the image of the model `blob` for `board` (with a part's `limits`, the arena budget the RAM for
    the model sets) is built."""
    suffix = f"-p{payload_cap}" if payload_cap else ""
    if limits is not None:
        suffix += f"-{limits.key}"
    budget = arena_budget(blob, limits, model_ram)
    if budget is not None:
        suffix += f"-a{budget}"
    return board_build_dir(board) / "models" / (model_hash(blob) + suffix)


def _too_big(log: str, board: str, model: Path, limits: BoardLimits | None) -> str | None:
    """One line saying which region of the part the image overflows, and by how much; None if not that."""
    found = dict(re.findall(r"region `(\w+)' overflowed by (\d+) bytes", log))
    if not found:
        return None
    sizes = {"RAM": limits.ram_kib, "FLASH": limits.flash_kib} if limits else {}
    what = []
    for region, over in found.items():
        n, kib = int(over), sizes.get(region)
        need = f"needs {kib * 1024 + n:,} B of {kib * 1024:,}, " if kib else ""
        what.append(f"{region} {need}overflowed by {n:,} B")
    part = f"{limits.name} ({limits.ram_kib} KiB RAM, {limits.flash_kib} KiB flash)" if limits else board
    hint = " (the arena, the protocol buffers and the stack share the RAM)" if "RAM" in found else ""
    return f"{model} does not fit {part}: the link fails, {'; '.join(what)}{hint}"


def build_image(
    model: Path | str,
    board: str = BOARD,
    payload_cap: int | None = None,
    limits: BoardLimits | None = None,
    model_ram: int | None = None,
) -> BoardImage:
    """`make -C firmware/ports/<board> board` for `model`; the output folder is keyed by the blob's hash
    (and the part's `limits`, which only the emulated board takes). With the RAM a profile gives the model
    (`model_ram`, or the limits') the arena is the budget that RAM allows and the board runs ESNN_OPT_FAST's
    plan in it (arena_budget); else the lean plan. ImageTooBig when it does not fit."""
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
    if limits is not None and board != BOARD:
        raise HostError(f"only the {BOARD} port links with a part's limits, not {board}")
    out = image_dir(blob, board, payload_cap, limits, model_ram)
    budget = arena_budget(blob, limits, model_ram)
    out.mkdir(parents=True, exist_ok=True)
    copy = out / "model.esnn"
    if not copy.is_file() or copy.read_bytes() != blob:
        tmp = out / "model.esnn.tmp"
        tmp.write_bytes(blob)
        tmp.replace(copy)
    argv = ["make", "-C", str(port), "-j1", f"B={root}", "board", f"MODEL={copy}", f"OUT={out}"]
    if payload_cap is not None:
        argv.append(f"PAYLOAD_CAP={payload_cap}")
    if budget is not None:
        argv.append(f"ARENA_BUDGET={budget}")
    if limits is not None:
        argv += limits.make_vars()
    with open(root / ".lock", "w") as lock:  # one build at a time per board (tests and CLI may overlap)
        fcntl.flock(lock, fcntl.LOCK_EX)
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0:
        log = (proc.stdout + proc.stderr)[-3000:]
        too_big = _too_big(log, board, model, limits)
        if too_big:
            raise ImageTooBig(too_big)
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
    return BoardImage(board, out / "esnn_board.elf", out / "esnn_board.bin", size, report, limits)


def read_size(elf: Path | str) -> dict[str, int]:
    """The build's size.txt next to `elf` (key=value, bytes); {} when there is none."""
    path = Path(elf).parent / "size.txt"
    if not path.is_file():
        return {}
    pairs = (line.partition("=") for line in path.read_text().splitlines())
    return {k: int(v) for k, _, v in pairs if v.isdigit()}


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

    def read_memory(self, address: int, size: int) -> bytes:
        """`size` bytes of guest physical memory from `address` (monitor `pmemsave` into the temp folder)."""
        path = os.path.join(self._dir.name, "memory.bin")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        self.monitor(f'pmemsave {address:#x} {size} "{path}"')  # unquoted, "/" divides
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            raise HostError(f"the QEMU monitor did not save guest memory at {address:#x}: {e}") from e
        if len(data) != size:
            raise HostError(f"the QEMU monitor saved {len(data)} of {size} B of guest memory at {address:#x}")
        return data

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
        self.image: BoardImage | None = None  # set by start_qemu_board
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
            data += self._read_serial(0.1)
        data = data.lstrip(b"\x00")
        self._last_boot = data[: data.index(b"\x00") + 1]
        return data[data.index(b"\x00") + 1 :]

    def _boot_frame(self, timeout: float) -> bytes:
        """Everything up to and including the boot INFO frame (kept, so the client sees the reset)."""
        rest = self._await_boot(timeout)
        return self._last_boot + rest

    def _read_serial(self, timeout: float) -> bytes:
        """Read the UART; when the socket drops because QEMU exited (a fault: status 99 and the board's
        message, e.g. a stack overflow), say that instead of the socket error."""
        try:
            return self._serial.read(timeout)
        except HostError:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.qemu.proc.wait(timeout=2.0)
            self._check_alive()
            raise

    def _write(self, data: bytes) -> None:
        self._check_alive()
        self._serial.write(data)

    def _read(self, timeout: float) -> bytes:
        if self._held:
            data, self._held = self._held, b""
            return data
        data = self._read_serial(timeout)
        if not data:
            self._check_alive()
        return data

    def _check_alive(self) -> None:
        status = self.qemu.proc.poll()
        if status is not None:
            log = self.qemu.log_text()
            board = [ln for ln in log.splitlines() if ln.startswith("esnn board fault:")]  # board_fault()
            why = " (a fault on the board: exit 99)" if status == 99 else ""
            said = board[-1] if board else log
            raise HostError(f"{self.description} exited with status {status}{why}: {said}")

    def stack_usage(self) -> StackUsage:
        """The stack's high-water mark since boot: the stack is painted at boot (board_startup.S), so the
        lowest word that no longer holds the paint is the deepest the stack has been. Read through the
        monitor (the guest is idle between requests); needs the build's size.txt next to the ELF."""
        size = read_size(self._elf)
        if "stack_limit" not in size or "stack" not in size:
            raise HostError(f"{self._elf}: no stack_limit in its size.txt (built before the stack guard)")
        data = self.qemu.read_memory(size["stack_limit"], size["stack"])
        paint = STACK_PAINT.to_bytes(4, "little")
        free = next((i for i in range(0, len(data), 4) if data[i : i + 4] != paint), len(data)) // 4
        return StackUsage(used=size["stack"] - 4 * free, size=size["stack"])

    def board_memory(self) -> BoardMemory:
        """The image's RAM (size.txt next to the ELF) with the stack's high-water mark read now."""
        size, stack = read_size(self._elf), self.stack_usage()
        return BoardMemory(size["ram"], size.get("ram_size", 0), size["arena"], stack.size, stack.used)

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
    model: Path | str,
    *,
    build: bool = True,
    icount: bool = True,
    payload_cap: int | None = None,
    limits: BoardLimits | None = None,
) -> QemuTransport:
    """Build (or reuse) the image for `model` (with a part's `limits`) and start it; the transport's
    close() stops QEMU; its `image` is the built image (None with build=False)."""
    image = None
    if build:
        image = build_image(model, payload_cap=payload_cap, limits=limits)
        elf = image.elf
    else:
        elf = image_dir(Path(model).read_bytes(), BOARD, payload_cap, limits) / "esnn_board.elf"
        if not elf.is_file():
            raise HostError(f"no QEMU board image for {model} at {elf} (build it: drop build=False)")
    transport = QemuTransport(elf, icount=icount)
    transport.image = image
    return transport
