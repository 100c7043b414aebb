"""Plain numpy event arrays: ``.npy`` (a structured array) or ``.npz`` (``events`` or separate ``x``, ``y``,
``t``, ``p`` arrays, plus an optional ``sensor_size``). Field aliases ``ts``/``timestamp`` (t) and
``polarity``/``on`` (p) are accepted; ``.npy`` files are memory-mapped, so chunks stay bounded.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from edgesnn.data.events.errors import EventFormatError
from edgesnn.data.events.types import EVENT_DTYPE, EventRecording, EventStream, check_events

MAX_SIDE = 65535
ALIASES = {"t": ("t", "ts", "timestamp"), "p": ("p", "polarity", "on"), "x": ("x",), "y": ("y",)}


def _field(names: tuple[str, ...], key: str, path: Path, offset: int) -> str:
    for alias in ALIASES[key]:
        if alias in names:
            return alias
    raise EventFormatError(
        path, offset, f"no {key!r} field (or alias {ALIASES[key]}); fields are {list(names)}"
    )


def _header(f: BinaryIO, path: Path, base: int, what: str) -> tuple[np.dtype, tuple[int, ...], int]:
    """(dtype, shape, header length) of the .npy stream at ``f``; numpy's own parse errors (TokenError,
    SyntaxError, ValueError...) become EventFormatError at ``base``."""
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except Exception as e:  # numpy parses the header with ast/tokenize: any error means a corrupt header
        raise EventFormatError(
            path, base, f"{what}: not a readable .npy header: {type(e).__name__}: {e}"
        ) from None
    if dtype.hasobject:
        raise EventFormatError(path, base, f"{what}: object arrays are not event data")
    if fortran and len(shape) > 1:
        raise EventFormatError(path, base, f"{what}: Fortran-ordered array")
    return dtype, tuple(shape), f.tell()


def _nbytes(dtype: np.dtype, shape: tuple[int, ...]) -> int:
    return int(np.prod(shape, dtype=object)) * dtype.itemsize


def _load_npy(path: Path) -> tuple[np.ndarray, int]:
    """The memory-mapped array and the byte offset of its data, its size checked against the file."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        dtype, shape, data_off = _header(f, path, 0, ".npy")
    need = _nbytes(dtype, shape)
    if need > size - data_off:
        raise EventFormatError(
            path,
            size,
            f".npy header declares {shape} x {dtype.itemsize} B = {need} B, file has {size - data_off}",
        )
    if need == 0:
        return np.empty(shape, dtype), data_off
    try:
        return np.memmap(path, dtype=dtype, mode="r", offset=data_off, shape=shape), data_off
    except Exception as e:
        raise EventFormatError(path, data_off, f"array data unreadable: {type(e).__name__}: {e}") from None


def _load_npz(path: Path) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Every member array, each read only after its header's size was checked against the zip entry (the
    entry's own size against the deflate ratio bound): no allocation larger than what the file can hold."""
    size = path.stat().st_size
    out: dict[str, np.ndarray] = {}
    offsets: dict[str, int] = {}
    try:
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                off = max(0, min(info.header_offset, size))
                if not info.filename.endswith(".npy"):
                    continue
                name = info.filename[:-4]
                if info.file_size > 1100 * info.compress_size + 4096 or info.compress_size > size:
                    raise EventFormatError(
                        path,
                        off,
                        f"zip entry {info.filename}: {info.file_size} B from {info.compress_size} B",
                    )
                with z.open(info) as f:
                    dtype, shape, hlen = _header(f, path, off, info.filename)  # type: ignore[arg-type]
                    need = _nbytes(dtype, shape)
                    if need != info.file_size - hlen:
                        raise EventFormatError(
                            path,
                            off,
                            f"{info.filename}: header declares {need} B of data, entry holds "
                            f"{info.file_size - hlen}",
                        )
                    data = f.read(need)
                if len(data) != need:
                    raise EventFormatError(path, off, f"{info.filename}: data truncated")
                out[name] = np.frombuffer(data, dtype=dtype).reshape(shape)
                offsets[name] = off
    except EventFormatError:
        raise
    except Exception as e:  # zipfile.BadZipFile, zlib.error, NotImplementedError (method), EOFError, OSError
        raise EventFormatError(path, 0, f"not a readable .npz file: {type(e).__name__}: {e}") from None
    return out, offsets


def _sensor(v: np.ndarray, path: Path, offset: int) -> tuple[int, int]:
    v = np.asarray(v).ravel()
    if v.dtype.kind not in "iu" or len(v) < 2 or not all(1 <= int(a) <= MAX_SIDE for a in v[:2]):
        raise EventFormatError(
            path, offset, f"stored sensor_size {v[:4].tolist()} is not two sides in 1..65535"
        )
    return int(v[0]), int(v[1])


def _convert(a: Any, names: dict[str, str], path: Path, offset: int) -> np.ndarray:
    """Cast to EVENT_DTYPE, refusing what the cast would wrap (negative or huge x/y, non-integers)."""
    n = len(a[names["t"]])
    ev = np.empty(n, dtype=EVENT_DTYPE)
    for key, src in names.items():
        col = np.asarray(a[src])
        kinds = "iuf" if key == "t" else "iub"
        if col.dtype.kind not in kinds:
            raise EventFormatError(path, offset, f"field {src!r} has dtype {col.dtype}, not an integer type")
        if key != "t" and n and (int(col.min()) < 0 or int(col.max()) > (1 if key == "p" else MAX_SIDE)):
            raise EventFormatError(
                path, offset, f"field {src!r} spans {int(col.min())}..{int(col.max())}: not a valid {key}"
            )
        if key == "t" and col.dtype.kind == "f" and n and not np.isfinite(col).all():
            raise EventFormatError(path, offset, f"field {src!r} has non-finite timestamps")
        ev[key] = col
    return ev


def open_npy(path: str | Path, sensor_size: tuple[int, int] | None = None) -> EventStream:
    """Without a stored or given ``sensor_size`` the size is ``(max x + 1, max y + 1)``.

    Every problem — numpy's header parser errors (``tokenize.TokenError``, ``SyntaxError``), a damaged zip
    (``zipfile.BadZipFile``), sizes the file cannot hold, fields out of range — is an ``EventFormatError``
    naming the file and the byte offset (the array data, the zip entry, or the chunk's first record).
    """
    path = Path(path)
    stored = None
    if path.suffix == ".npz":
        members, offs = _load_npz(path)
        if "sensor_size" in members:
            stored = _sensor(members["sensor_size"], path, offs["sensor_size"])
        data: Any = members.get("events", members)
        base, step = offs.get("events", 0), 0  # a zip entry: offsets name the entry, not the record
    else:
        data, base = _load_npy(path)
        step = data.dtype.itemsize
    if isinstance(data, dict):
        keys = tuple(data)
        names = {k: _field(keys, k, path, 0) for k in ("x", "y", "t", "p")}
        cols = [data[v] for v in names.values()]
        n = len(cols[0]) if cols[0].ndim == 1 else -1
        if any(c.ndim != 1 or len(c) != n for c in cols):
            raise EventFormatError(
                path, 0, f"x, y, t, p arrays are not 1-D of one length: {[c.shape for c in cols]}"
            )

        def get(lo: int, hi: int) -> np.ndarray:
            return _convert({k: v[lo:hi] for k, v in data.items()}, names, path, 0)
    else:
        arr = data
        if arr.dtype.names is None or arr.ndim != 1:
            raise EventFormatError(
                path, base, f"expected a 1-D structured event array, got {arr.dtype} {arr.shape}"
            )
        names = {k: _field(arr.dtype.names, k, path, base) for k in ("x", "y", "t", "p")}
        n = len(arr)

        def get(lo: int, hi: int) -> np.ndarray:
            return _convert(arr[lo:hi], names, path, base + lo * step)

    if sensor_size is not None:
        sensor = (int(sensor_size[0]), int(sensor_size[1]))
    elif stored is not None:
        sensor = stored
    else:
        ev = get(0, n)
        sensor = (int(ev["x"].max()) + 1, int(ev["y"].max()) + 1) if n else (1, 1)

    def chunks(k: int) -> Iterator[np.ndarray]:
        for lo in range(0, n, k):
            ev = get(lo, min(n, lo + k))
            try:
                check_events(ev, sensor, f"{path} (events {lo}..)")
            except ValueError as e:
                raise EventFormatError(path, base + lo * step, str(e)) from None
            yield ev

    return EventStream(path, "npy", sensor, chunks)


def read_npy(path: str | Path, sensor_size: tuple[int, int] | None = None) -> EventRecording:
    return open_npy(path, sensor_size).read()


def write_npy(path: str | Path, events: np.ndarray, sensor_size: tuple[int, int]) -> None:
    """``.npz`` (events + sensor_size) or ``.npy`` (events only) by the path's suffix."""
    check_events(events, sensor_size, str(path))
    ev = events.astype(EVENT_DTYPE, copy=False)
    path = Path(path)
    if path.suffix == ".npz":
        with open(path, "wb") as f:
            np.savez(f, events=ev, sensor_size=np.asarray(sensor_size, dtype=np.int64))
    else:
        with open(path, "wb") as f:
            np.save(f, ev)
