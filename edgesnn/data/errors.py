"""Errors of the dataset readers, torch-free so that event readers and ``edgesnn stream`` can raise them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class DataNotFoundError(FileNotFoundError):
    """The dataset's files are not where we looked; the message says where and how to get them."""


def where_looked(what: str, dirs: Sequence[Path]) -> str:
    """Where a reader searched for ``what``, for its not-found message (never an empty list)."""
    if not dirs:
        return "no --data-dir given and EDGESNN_DATA is not set"
    return f"looked for {what} in " + ", ".join(map(str, dirs))
