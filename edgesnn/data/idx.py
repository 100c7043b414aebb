"""MNIST-style idx files (raw or gzip), read with full validation of the header against the file size."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

# idx type code -> numpy dtype (big-endian as stored)
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class IdxError(ValueError):
    """A malformed idx file; the message names the file and the byte offset at fault."""


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except FileNotFoundError:
        raise
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise IdxError(f"{path}: cannot decompress/read ({exc})") from exc


def read_idx(path: str | Path) -> np.ndarray:
    """Read an idx1/idx3 array; returns native-endian data shaped as the header says."""
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise IdxError(f"{path}: file is {len(data)} bytes, too short for the idx magic (offset 0)")
    zero, type_code, ndim = data[0] << 8 | data[1], data[2], data[3]
    if zero != 0:
        raise IdxError(f"{path}: offset 0: bad idx magic {data[:4].hex()} (expected 0000 <type> <ndim>)")
    if type_code not in _IDX_DTYPES:
        raise IdxError(f"{path}: offset 2: unknown idx type code 0x{type_code:02x}")
    if not 1 <= ndim <= 4:
        raise IdxError(f"{path}: offset 3: {ndim} dimensions; idx files here have 1 to 4")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IdxError(f"{path}: truncated header: {len(data)} bytes, need {header}")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_IDX_DTYPES[type_code])
    need = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != need:
        raise IdxError(
            f"{path}: offset {header}: header says shape {shape} ({need} bytes in all) "
            f"but the file has {len(data)} bytes ({'truncated' if len(data) < need else 'trailing data'})"
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=False)


def write_idx(path: str | Path, arr: np.ndarray) -> None:
    """Write an array as an idx file (gzip when the name ends in .gz); used for fixtures and subsets."""
    path = Path(path)
    codes = {np.dtype(v).newbyteorder("="): k for k, v in _IDX_DTYPES.items()}
    native = np.dtype(arr.dtype).newbyteorder("=")
    if native not in codes:
        raise ValueError(f"idx cannot store dtype {arr.dtype}")
    header = bytes([0, 0, codes[native], arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    payload = header + np.ascontiguousarray(arr).astype(_IDX_DTYPES[codes[native]]).tobytes()
    if path.suffix == ".gz":
        with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
            f.write(payload)  # mtime=0: byte-identical output for identical input
    else:
        path.write_bytes(payload)
