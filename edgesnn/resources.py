"""Where the parts of edgesnn that are not Python live, in a checkout and in an installed package alike.

    firmware_dir()     the C runtime, board ports and protocol (firmware/)
    devices_dir()      the device profiles (devices/*.toml)
    micropython_dir()  the MicroPython runtime (devices/micropython/)
    vectors_dir()      the conformance vectors (export/vectors/v1/)
    build_dir()        where C builds go

In a source checkout (editable install, or PYTHONPATH=.) these are the repository's own folders. A wheel or
``pip install .`` ships copies under ``edgesnn/_bundled/`` (setup.py puts them there), keeping the repository
layout, so the Makefiles' relative paths hold. Builds never write into an installed package: they go to
firmware/build in a writable checkout, else to ``$EDGESNN_CACHE/build/<key>`` (default ~/.cache/edgesnn).
Every path is computed, nothing is created; ``require`` turns a missing one into one clear line.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
BUNDLED = PACKAGE / "_bundled"


class ResourceMissing(FileNotFoundError):
    """A part of edgesnn that this installation lacks; the message says which and how to get it."""


@functools.cache
def root() -> Path:
    """The folder holding firmware/, devices/ and export/: the checkout, else the bundled copy."""
    checkout = PACKAGE.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "firmware" / "Makefile").is_file():
        return checkout
    return BUNDLED  # may be absent (a broken install): require() says so when a command needs it


def is_checkout() -> bool:
    return root() != BUNDLED


def firmware_dir() -> Path:
    return root() / "firmware"


def devices_dir() -> Path:
    return root() / "devices"


def micropython_dir() -> Path:
    return root() / "devices" / "micropython"


def vectors_dir() -> Path:
    return root() / "export" / "vectors" / "v1"


def cache_dir() -> Path:
    cache = os.environ.get("EDGESNN_CACHE")
    return Path(cache) if cache else Path.home() / ".cache" / "edgesnn"


@functools.cache
def build_dir() -> Path:
    """firmware/build in a writable checkout; else a cache folder keyed by the firmware tree it builds."""
    firmware = firmware_dir()
    if is_checkout() and os.access(firmware, os.W_OK):
        return firmware / "build"
    # the key changes with the installed sources (path, names, sizes, times): a reinstall never reuses
    # objects built from other sources, whatever their timestamps say
    key = hashlib.sha256(str(firmware).encode())
    for path in sorted(firmware.rglob("*")):
        if path.is_file():
            stat = path.stat()
            key.update(f"{path.relative_to(firmware)} {stat.st_size} {stat.st_mtime_ns}\n".encode())
    return cache_dir() / "build" / key.hexdigest()[:16]


def require(path: Path, what: str) -> Path:
    """``path`` when it exists; else ResourceMissing naming ``what`` and the fix."""
    if path.exists():
        return path
    if is_checkout():
        fix = "this checkout is incomplete (git status shows what is missing)"
    else:
        fix = "the installed package is incomplete: reinstall edgesnn (pip install --force-reinstall)"
    raise ResourceMissing(f"{what} not found: {path} does not exist; {fix}")
