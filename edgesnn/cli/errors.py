"""One error type for the CLI; library errors that describe bad input are shown as their message."""

from __future__ import annotations

import sys


class CliError(Exception):
    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# The library's user-facing errors, as (module, class): an error can only be one of these when its module
# was imported, so they are looked up in sys.modules rather than imported (most of them import torch).
USER_ERRORS = (
    ("edgesnn.checkpoint", "CheckpointError"),
    ("edgesnn.data.errors", "DataNotFoundError"),
    ("edgesnn.data.idx", "IdxError"),
    ("edgesnn.export.errors", "ExportError"),
    ("edgesnn.format.limits", "ResourceLimitError"),  # an untrusted blob over the host's limits
    ("edgesnn.host.errors", "HostError"),  # and its DeviceError, DeviceTimeout, DeviceReset, ImageTooBig
    ("edgesnn.models.config", "ConfigError"),
    ("edgesnn.stream.samples", "StreamInputError"),
    ("edgesnn.train.loop", "TrainError"),
)


def _user_error_types() -> tuple[type[BaseException], ...]:
    found = (getattr(sys.modules.get(module), name, None) for module, name in USER_ERRORS)
    return (FileNotFoundError, *(t for t in found if isinstance(t, type)))


def as_cli_error(exc: Exception) -> CliError | None:
    """Map the library's user-facing errors to a CliError; anything else is a bug and propagates."""
    if isinstance(exc, _user_error_types()):
        return CliError(str(exc))
    if isinstance(exc, KeyError) and exc.args and isinstance(exc.args[0], str) and "unknown" in exc.args[0]:
        return CliError(exc.args[0])
    return None
