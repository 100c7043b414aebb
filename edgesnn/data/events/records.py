"""Bounded reading of files made of fixed-size binary records after a header."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from edgesnn.data.events.errors import EventFormatError


def check_whole_records(path: Path, data_offset: int, record_size: int, what: str) -> int:
    """Number of complete records after ``data_offset``; a trailing partial record is an error."""
    size = os.path.getsize(path)
    if size < data_offset:
        raise EventFormatError(path, size, f"file ends inside the header (header needs {data_offset} bytes)")
    n, rest = divmod(size - data_offset, record_size)
    if rest:
        at = data_offset + n * record_size
        raise EventFormatError(
            path, at, f"truncated {what}: the last record has {rest} of {record_size} bytes"
        )
    return n


def iter_records(
    path: Path, data_offset: int, dtype: np.dtype, records_per_block: int
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(byte offset, records)`` blocks of at most ``records_per_block`` records of ``dtype``."""
    dtype = np.dtype(dtype)
    n_total = check_whole_records(path, data_offset, dtype.itemsize, f"{dtype.itemsize}-byte record")
    with open(path, "rb") as f:
        f.seek(data_offset)
        done = 0
        while done < n_total:
            n = min(records_per_block, n_total - done)
            block = np.fromfile(f, dtype=dtype, count=n)
            if len(block) != n:  # the file shrank while we read it
                at = data_offset + (done + len(block)) * dtype.itemsize
                raise EventFormatError(path, at, "file ended early (was it truncated while being read?)")
            yield data_offset + done * dtype.itemsize, block
            done += n
