"""Errors raised by the event readers: every one names the file and the byte offset of the problem."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType


class EventFormatError(ValueError):
    """A truncated, corrupt or wrong-format event file. ``path`` and ``offset`` locate the problem."""

    def __init__(self, path: str | Path, offset: int, problem: str) -> None:
        self.path = Path(path)
        self.offset = int(offset)
        self.problem = problem
        super().__init__(f"{self.path}: byte {self.offset}: {problem}")


class MissingDependencyError(ImportError):
    """An optional package needed for this feature is not installed; the message says how to get it."""


def require(module: str, feature: str, extra: str, pip_name: str | None = None) -> ModuleType:
    """Import an optional dependency lazily, or raise ``MissingDependencyError`` saying how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingDependencyError(
            f"{feature} needs the optional package {pip_name or module!r}: "
            f"pip install 'edgesnn[{extra}]' (or pip install {pip_name or module}) [{e}]"
        ) from None
