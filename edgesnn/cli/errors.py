"""One error type for the CLI; library errors that describe bad input are shown as their message."""

from __future__ import annotations


class CliError(Exception):
    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def as_cli_error(exc: Exception) -> CliError | None:
    """Map the library's user-facing errors to a CliError; anything else is a bug and propagates."""
    from edgesnn.checkpoint import CheckpointError
    from edgesnn.data.idx import IdxError
    from edgesnn.data.images import DataNotFoundError
    from edgesnn.models.config import ConfigError
    from edgesnn.train.trainer import TrainError

    user_errors = (CheckpointError, ConfigError, DataNotFoundError, IdxError, TrainError, FileNotFoundError)
    if isinstance(exc, user_errors):
        return CliError(str(exc))
    if isinstance(exc, KeyError) and exc.args and isinstance(exc.args[0], str) and "unknown" in exc.args[0]:
        return CliError(exc.args[0])
    return None
