"""Transports: a byte pipe to a board with a read timeout. `SerialTransport` opens any pyserial URL
(a device path, `socket://HOST:PORT` for QEMU, `loop://` for tests); `ProcessTransport` starts a process
(the host board) on a pseudo-terminal or on pipes. `Trace` hex-dumps the traffic (`--trace`)."""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import sys
import time
import tty
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TextIO

from edgesnn.host.children import die_with_parent
from edgesnn.host.errors import HostError


class Trace:
    """Hex dump of every chunk written and read: `> 12 bytes` / `< 12 bytes` then 16 bytes a line."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out if out is not None else sys.stderr

    def __call__(self, direction: str, data: bytes) -> None:
        lines = [f"{direction} {len(data)} bytes"]
        for i in range(0, len(data), 16):
            lines.append(f"  {i:04x}  {data[i : i + 16].hex(' ')}")
        print("\n".join(lines), file=self.out, flush=True)


def stop_process(proc: subprocess.Popen) -> None:
    """Terminate a board process, killing it when it does not exit within 5 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


class Transport(ABC):
    description = "transport"

    def __init__(self) -> None:
        self.trace: Trace | None = None

    def write(self, data: bytes) -> None:
        if self.trace:
            self.trace(">", data)
        self._write(data)

    def read(self, timeout: float) -> bytes:
        """Bytes available within `timeout` seconds (b"" when none came)."""
        data = self._read(max(timeout, 0.0))
        if data and self.trace:
            self.trace("<", data)
        return data

    @abstractmethod
    def _write(self, data: bytes) -> None: ...

    @abstractmethod
    def _read(self, timeout: float) -> bytes: ...

    @abstractmethod
    def close(self) -> None: ...

    def reset_device(self) -> None:
        """Reset the board behind this transport (a power-on reset: it boots again and announces INFO with
        request id NO_ID), keeping the transport open. Boards started from here implement it (QEMU: the
        monitor's `system_reset`; the host board: the process is restarted on a new pty behind the same
        transport); a plain serial port cannot reset a board and raises HostError."""
        raise HostError(f"{self.description}: this transport cannot reset the device (use its reset button)")

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SerialTransport(Transport):
    """Any pyserial URL: /dev/ttyACM0, /dev/pts/N, socket://127.0.0.1:PORT, loop://, rfc2217://..."""

    def __init__(self, url: str, baudrate: int = 115200, connect_timeout: float = 0.0) -> None:
        super().__init__()
        try:
            import serial
        except ImportError as e:
            raise HostError("pyserial is not installed: pip install pyserial (an edgesnn dependency)") from e
        self.description = url
        deadline = time.monotonic() + connect_timeout
        while True:
            try:
                self._port = serial.serial_for_url(url, baudrate=baudrate, timeout=0.05, write_timeout=5.0)
                break
            except (serial.SerialException, ValueError, OSError) as e:
                if time.monotonic() >= deadline:
                    raise HostError(
                        f"cannot open {url}: {e} (is the board connected / the emulator listening?)"
                    ) from e
                time.sleep(0.05)

    def _write(self, data: bytes) -> None:
        try:
            self._port.write(data)
            self._port.flush()
        except Exception as e:  # pyserial raises SerialException/SerialTimeoutException/OSError
            raise HostError(f"writing to {self.description} failed: {e}") from e

    def _read(self, timeout: float) -> bytes:
        self._port.timeout = timeout
        try:
            first = self._port.read(1)
            if not first:
                return b""
            self._port.timeout = 0
            return first + self._port.read(65536)
        except Exception as e:
            raise HostError(f"reading from {self.description} failed: {e}") from e

    def close(self) -> None:
        self._port.close()


class ProcessTransport(Transport):
    """A board as a child process speaking on its stdin/stdout, through a raw pseudo-terminal (`pty=True`,
    like a serial port) or plain pipes. stderr is kept in a file-like buffer for error messages."""

    def __init__(self, argv: Sequence[str], pty: bool = True, cwd: str | None = None) -> None:
        super().__init__()
        self.description = " ".join(argv)
        self._argv, self._pty, self._cwd = list(argv), pty, cwd
        self._start()

    def _start(self) -> None:
        argv, pty, cwd = self._argv, self._pty, self._cwd
        self._stderr = os.pipe()
        if pty:
            master, slave = os.openpty()
            tty.setraw(slave)
            self._rfd = self._wfd = master
            child_in = child_out = slave
        else:
            r_in, w_in = os.pipe()
            r_out, w_out = os.pipe()
            self._rfd, self._wfd = r_out, w_in
            child_in, child_out = r_in, w_out
        try:
            self.proc = subprocess.Popen(
                list(argv),
                stdin=child_in,
                stdout=child_out,
                stderr=self._stderr[1],
                cwd=cwd,
                close_fds=True,
                preexec_fn=die_with_parent(),
            )
        except OSError as e:
            raise HostError(f"cannot start {argv[0]}: {e}") from e
        finally:
            for fd in {child_in, child_out, self._stderr[1]}:
                os.close(fd)
        os.set_blocking(self._stderr[0], False)

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            _, w, _ = select.select([], [self._wfd], [], 5.0)
            if not w:
                raise HostError(f"{self.description}: not accepting input ({self.stderr_text()})")
            try:
                n = os.write(self._wfd, view)
            except OSError as e:
                raise HostError(f"{self.description} exited: {self.stderr_text()}") from e
            view = view[n:]

    def _read(self, timeout: float) -> bytes:
        r, _, _ = select.select([self._rfd], [], [], timeout)
        if not r:
            return b""
        try:
            data = os.read(self._rfd, 65536)
        except OSError:  # EIO on a pty whose child exited
            data = b""
        if not data:
            raise HostError(f"{self.description} exited (status {self.proc.poll()}): {self.stderr_text()}")
        return data

    def stderr_text(self) -> str:
        try:
            return os.read(self._stderr[0], 65536).decode(errors="replace").strip() or "no message"
        except (BlockingIOError, OSError):
            return "no message"

    def reset_device(self) -> None:
        """Restart the board process (a fresh boot: it announces INFO again) behind this transport."""
        self.close()
        self._start()

    def close(self) -> None:
        stop_process(self.proc)
        for fd in {self._rfd, self._wfd, self._stderr[0]}:
            with contextlib.suppress(OSError):
                os.close(fd)
