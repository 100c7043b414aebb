"""Errors of the host side: one `HostError` family, shown by the CLI as one line (`edgesnn: <message>`;
the CLI maps it, see `edgesnn.cli.errors.USER_ERRORS`)."""

from __future__ import annotations


class HostError(Exception):
    """A failure talking to a board; the message says the likely cause."""


class FrameError(ValueError):
    """A received frame that cannot be decoded (COBS, size, CRC); `code` is the protocol's ERROR code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class DeviceError(HostError):
    """The device answered with an ERROR packet."""

    def __init__(self, code: int, name: str, detail: int, aux: int, message: str) -> None:
        super().__init__(f"device error {name} (detail {detail}, aux {aux}): {message}")
        self.code, self.name, self.detail, self.aux = code, name, detail, aux


class DeviceTimeout(HostError):
    """No valid reply within the timeout after every retry."""


class DeviceReset(HostError):
    """The device announced a boot while a request was pending: the sample in progress is lost."""
