"""Pick the reader/writer for a file: by its magic bytes first, then by extension."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edgesnn.data.events.aedat2 import open_aedat2, write_aedat2
from edgesnn.data.events.aedat4 import open_aedat4, write_aedat4
from edgesnn.data.events.aedat31 import open_aedat31, write_aedat31
from edgesnn.data.events.dat import open_dat, write_dat
from edgesnn.data.events.errors import EventFormatError
from edgesnn.data.events.evt2 import open_evt2, write_evt2
from edgesnn.data.events.evt3 import open_evt3, write_evt3
from edgesnn.data.events.nmnist import open_nmnist, write_nmnist
from edgesnn.data.events.npy import open_npy, write_npy
from edgesnn.data.events.prophesee_header import read_prophesee_header
from edgesnn.data.events.types import EventRecording, EventStream

OPENERS: dict[str, Callable[..., EventStream]] = {
    "aedat4": open_aedat4,
    "aedat31": open_aedat31,
    "aedat2": open_aedat2,
    "dat": open_dat,
    "evt2": open_evt2,
    "evt3": open_evt3,
    "nmnist": open_nmnist,
    "npy": open_npy,
}

WRITERS: dict[str, Callable[..., None]] = {
    "aedat4": write_aedat4,
    "aedat31": write_aedat31,
    "aedat2": lambda path, events, sensor_size, **kw: write_aedat2(path, events, **kw),
    "dat": write_dat,
    "evt2": write_evt2,
    "evt3": write_evt3,
    "nmnist": write_nmnist,
    "npy": write_npy,
}

EXTENSIONS = {".aedat4": "aedat4", ".dat": "dat", ".bin": "nmnist", ".npy": "npy", ".npz": "npy"}


def detect_format(path: str | Path) -> str:
    """The format name of an existing file (a key of ``OPENERS``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such event file")
    with open(path, "rb") as f:
        head = f.read(16)
    ext = path.suffix.lower()
    for magic, fmt in ((b"#!AER-DAT4", "aedat4"), (b"#!AER-DAT3", "aedat31"), (b"#!AER-DAT2", "aedat2")):
        if head.startswith(magic):
            return fmt
    if head.startswith(b"\x93NUMPY") or (head.startswith(b"PK\x03\x04") and ext == ".npz"):
        return "npy"
    if head.startswith(b"%"):
        if ext == ".dat":
            return "dat"
        version = read_prophesee_header(path).evt_version()
        if version and version[0] in "23":
            return f"evt{version[0]}"
        raise EventFormatError(path, 0, f"Prophesee header without a known EVT version ({version!r})")
    if ext in EXTENSIONS and EXTENSIONS[ext] in ("nmnist",):
        return EXTENSIONS[ext]
    raise EventFormatError(
        path,
        0,
        f"unrecognised event file: extension {ext!r}, starts with {head[:12]!r} (formats: {list(OPENERS)})",
    )


def open_events(path: str | Path, format: str | None = None, **options: Any) -> EventStream:
    """Open any supported event file for chunked reading (``stream.chunks(n)``)."""
    fmt = format or detect_format(path)
    if fmt not in OPENERS:
        raise ValueError(f"unknown event format {fmt!r}; known: {list(OPENERS)}")
    return OPENERS[fmt](path, **options)


def read_events(path: str | Path, format: str | None = None, **options: Any) -> EventRecording:
    """Read a whole event file into memory: events (x, y, t µs, p) and sensor size."""
    return open_events(path, format, **options).read()


def write_events(
    path: str | Path, events: np.ndarray, sensor_size: tuple[int, int], format: str, **options: Any
) -> None:
    if format not in WRITERS:
        raise ValueError(f"unknown event format {format!r}; known: {list(WRITERS)}")
    WRITERS[format](path, events, sensor_size, **options)
