"""Checks of the paths a command writes to, made before the work so a long run never ends in an error
about where to put its results."""

from __future__ import annotations

import os
from pathlib import Path

from edgesnn.cli.errors import CliError


def _check_creatable(path: Path, option: str) -> None:
    """The nearest existing folder above ``path`` must be a folder this process can write in."""
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise CliError(f"{option} {path}: {parent} is a file, not a folder: choose another path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CliError(f"{option} {path}: no permission to write in {parent}: choose another path")


def check_output_dir(path: str | os.PathLike[str], option: str) -> Path:
    """A folder the command will create (if needed) and write files into."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise CliError(
            f"{option} {path}: a file of that name exists; give a folder to write into "
            "(it is created if missing)"
        )
    if path.is_dir():
        if not os.access(path, os.W_OK | os.X_OK):
            raise CliError(f"{option} {path}: no permission to write in this folder: choose another")
        return path
    _check_creatable(path, option)
    return path


def check_output_file(path: str | os.PathLike[str], option: str) -> Path:
    """A file the command will write (replacing it if it exists)."""
    path = Path(path)
    if path.is_dir():
        raise CliError(f"{option} {path}: is a folder; give a file name, e.g. {path / 'out.json'}")
    if path.exists():
        if not os.access(path, os.W_OK):
            raise CliError(f"{option} {path}: no permission to replace this file: choose another")
        return path
    _check_creatable(path, option)
    return path
