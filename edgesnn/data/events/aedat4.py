"""iniVation AEDAT 4 (DV software, DVXplorer / DAVIS): read with the ``aedat`` package or, failing that,
``dv-processing`` (both optional, imported lazily); write with ``dv-processing``.

Only the first event stream is read (frames, IMU and triggers are skipped); ``p`` is the ``on`` flag.
Timestamps are the file's absolute µs clock.

Untrusted files (issue 18): the ``aedat`` decoder panics on corrupt headers — some panics surface as
``pyo3_runtime.PanicException`` (a ``BaseException``), some cannot unwind and abort the whole process
(SIGABRT) — and trusts size fields (GB allocations from a 3 KB file). Rather than decode every file in a
child process (~0.3 s of interpreter start-up per file, a tax on every dataset epoch), the container is
validated here in Python before either backend sees it, which costs a few ms per file:

- the magic line; the IOHeader length (bounded by the file size) and its flatbuffer (root table, vtable,
  every field offset inside the buffer), the compression code, the data-table position (inside the file);
- the stream description: ASCII, well-formed XML of the DV shape (``<dv><node name="outInfo">`` with one
  node per stream, a numeric id, a 4-letter type, integer ``sizeX``/``sizeY`` in 1..65535 for events);
- the packet chain: every packet header (stream id, size) is read, the id must be a declared stream and the
  size must fit in the rest of the file, so no size field can ask for more than the file holds.

The measured panic/abort surface of ``aedat`` 2.3 is the header and description (payload corruption gives
ordinary errors: LZ4 failures, short reads), so what reaches it is what it survives. Belt and braces: a
``PanicException`` that still escapes is caught by name (not ``BaseException``: Ctrl-C still works) and
turned into ``EventFormatError``; decoded coordinates and polarities are checked against the sensor and
reported with the byte offset of their packet. Decompressed payloads are bounded by the codec's ratio (LZ4:
255x the packet size).
"""

from __future__ import annotations

import re
import struct
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgesnn.data.events.errors import EventFormatError, MissingDependencyError, require
from edgesnn.data.events.types import EVENT_DTYPE, EventRecording, EventStream, check_events, concat_events

MAGIC = b"#!AER-DAT4.0"
MAGIC_LINE = b"#!AER-DAT4.0\r\n"
COMPRESSIONS = {0: "NONE", 1: "LZ4", 2: "LZ4_HIGH", 3: "ZSTD", 4: "ZSTD_HIGH"}
MAX_SIDE = 65535


@dataclass
class Container:
    """What the Python pre-validation learnt: streams (id -> attributes), event packet offsets."""

    data_start: int
    data_end: int
    compression: str
    streams: dict[int, dict[str, str]]
    packets: list[tuple[int, int, int]] = field(default_factory=list)  # (offset, stream id, size)

    def event_stream(self, path: Path) -> tuple[int, tuple[int, int]]:
        ids = [k for k, v in self.streams.items() if v.get("typeIdentifier") == "EVTS"]
        if not ids:
            raise EventFormatError(path, self.data_start, "AEDAT 4 file has no event stream")
        sid = ids[0]
        return sid, (int(self.streams[sid]["sizeX"]), int(self.streams[sid]["sizeY"]))


def _check_magic(path: Path) -> None:
    with open(path, "rb") as f:
        head = f.read(len(MAGIC))
    if head != MAGIC:
        raise EventFormatError(path, 0, f"no '#!AER-DAT4.0' magic (starts with {head!r})")


def _u(buf: bytes, pos: int, fmt: str, path: Path, base: int, what: str) -> int:
    n = struct.calcsize(fmt)
    if pos < 0 or pos + n > len(buf):
        raise EventFormatError(path, base + max(0, min(pos, len(buf))), f"IOHeader {what} outside the header")
    return struct.unpack_from(fmt, buf, pos)[0]


def _parse_ioheader(buf: bytes, path: Path, base: int) -> tuple[int, int, bytes]:
    """(compression, dataTablePosition, infoNode) from the IOHeader flatbuffer, offsets bounds-checked."""
    root = _u(buf, 0, "<I", path, base, "root offset")
    if root < 8 or root % 4 or root + 4 > len(buf):
        raise EventFormatError(path, base, f"IOHeader root table offset {root} is invalid")
    vt = root - _u(buf, root, "<i", path, base, "vtable offset")
    vt_size = _u(buf, vt, "<H", path, base, "vtable")
    tab_size = _u(buf, vt + 2, "<H", path, base, "vtable")
    if vt_size < 4 or vt_size % 2 or vt + vt_size > len(buf) or root + tab_size > len(buf) or tab_size < 4:
        raise EventFormatError(path, base + vt, "IOHeader vtable sizes outside the header")

    def field_at(i: int) -> int:
        if 4 + 2 * i >= vt_size:
            return 0
        off = _u(buf, vt + 4 + 2 * i, "<H", path, base, "vtable")
        if off and (off < 4 or off >= tab_size):
            raise EventFormatError(path, base + vt + 4 + 2 * i, f"IOHeader field {i} offset {off} invalid")
        return off

    f0, f1, f2 = field_at(0), field_at(1), field_at(2)
    compression = _u(buf, root + f0, "<i", path, base, "compression") if f0 else 0
    table = _u(buf, root + f1, "<q", path, base, "dataTablePosition") if f1 else -1
    if not f2:
        raise EventFormatError(path, base + root, "IOHeader has no stream description")
    spos = root + f2 + _u(buf, root + f2, "<I", path, base, "description offset")
    slen = _u(buf, spos, "<I", path, base, "description length")
    if spos + 4 + slen + 1 > len(buf) or buf[spos + 4 + slen] != 0:
        raise EventFormatError(path, base + spos, f"IOHeader description of {slen} bytes overruns the header")
    return compression, table, buf[spos + 4 : spos + 4 + slen]


def _parse_description(text: bytes, path: Path, base: int) -> dict[int, dict[str, str]]:
    """The stream table from the DV XML description, checked as strictly as the decoders need it."""
    bad = next((i for i, c in enumerate(text) if c >= 0x80 or (c < 0x20 and c not in b"\t\n\r")), None)
    if bad is not None:
        raise EventFormatError(path, base + bad, f"stream description has a non-ASCII byte 0x{text[bad]:02X}")
    try:
        root = ET.fromstring(text.decode("ascii"))
    except ET.ParseError as e:
        raise EventFormatError(path, base, f"stream description is not well-formed XML: {e}") from None
    outs = [n for n in root if n.tag == "node" and n.get("name") == "outInfo"]
    if root.tag != "dv" or len(outs) != 1:
        raise EventFormatError(path, base, "stream description is not <dv><node name='outInfo'>...")
    streams: dict[int, dict[str, str]] = {}
    for node in outs[0]:
        name = node.get("name", "")
        if node.tag != "node" or not name.isdigit() or len(name) > 9 or int(name) in streams:
            raise EventFormatError(path, base, f"stream description: bad stream node {name!r}")
        attrs: dict[str, str] = {}
        for a in node.iter("attr"):
            key, typ, val = a.get("key"), a.get("type"), (a.text or "")
            if key is None or typ is None:
                raise EventFormatError(path, base, f"stream {name}: <attr> without key/type")
            if typ in ("int", "long") and not re.fullmatch(r"-?\d{1,19}", val):
                raise EventFormatError(path, base, f"stream {name}: {key}={val!r} is not an integer")
            attrs[key] = val
        kind = attrs.get("typeIdentifier", "")
        if not re.fullmatch(r"[A-Z0-9]{4}", kind):
            raise EventFormatError(path, base, f"stream {name}: type identifier {kind!r} invalid")
        if attrs.get("compression", "NONE") not in COMPRESSIONS.values():
            raise EventFormatError(path, base, f"stream {name}: compression {attrs.get('compression')!r}")
        if kind == "EVTS":
            for k in ("sizeX", "sizeY"):
                if k not in attrs or not 1 <= int(attrs[k]) <= MAX_SIDE:
                    raise EventFormatError(
                        path, base, f"event stream {name}: {k} {attrs.get(k)!r} not in 1..65535"
                    )
        streams[int(name)] = attrs
    return streams


def validate_container(path: str | Path) -> Container:
    """Check an AEDAT 4 file's container in Python (see the module docstring); raise EventFormatError."""
    path = Path(path)
    size = _size(path)
    with open(path, "rb") as f:
        head = f.read(len(MAGIC_LINE) + 4)
        if not head.startswith(MAGIC):
            raise EventFormatError(path, 0, f"no '#!AER-DAT4.0' magic (starts with {head[:12]!r})")
        if head[: len(MAGIC_LINE)] != MAGIC_LINE or len(head) < len(MAGIC_LINE) + 4:
            raise EventFormatError(path, 12, "AEDAT 4 magic line not followed by CRLF and a header length")
        hlen = struct.unpack_from("<I", head, len(MAGIC_LINE))[0]
        base = len(MAGIC_LINE) + 4
        if hlen < 12 or base + hlen > size:
            raise EventFormatError(
                path, len(MAGIC_LINE), f"IOHeader length {hlen} outside the file ({size} B)"
            )
        buf = f.read(hlen)
        compression, table, text = _parse_ioheader(buf, path, base)
        if compression not in COMPRESSIONS:
            raise EventFormatError(path, base, f"unknown compression code {compression}")
        data_start = base + hlen
        if table != -1 and table < data_start:
            raise EventFormatError(path, base, f"data table position {table} inside the header")
        desc_off = base + buf.find(text) if text else base
        streams = _parse_description(text, path, desc_off)
        data_end = size if table == -1 else min(table, size)  # past the end: a truncated file
        c = Container(data_start, data_end, COMPRESSIONS[compression], streams)
        pos = data_start
        f.seek(pos)
        while pos < data_end:
            ph = f.read(8)
            if pos + 8 > data_end or len(ph) < 8:
                raise EventFormatError(path, pos, f"packet header truncated ({data_end - pos} bytes left)")
            sid, psize = struct.unpack("<iI", ph)
            if sid not in streams:
                raise EventFormatError(path, pos, f"packet of undeclared stream {sid}")
            if psize > data_end - pos - 8:
                raise EventFormatError(
                    path,
                    pos + 4,
                    f"packet size {psize} beyond the data ({data_end - pos - 8} left; truncated or corrupt)",
                )
            c.packets.append((pos, sid, psize))
            pos += 8 + psize
            f.seek(pos)
        if table > size:
            raise EventFormatError(path, size, f"file truncated: its data table should start at byte {table}")
    return c


def _to_events(
    t: Any, x: Any, y: Any, p: Any, sensor: tuple[int, int], path: Path, offset: int
) -> np.ndarray:
    t, x, y, p = (np.asarray(v) for v in (t, x, y, p))
    if not len(t) == len(x) == len(y) == len(p):
        raise EventFormatError(path, offset, "event packet fields of different lengths")
    ev = np.empty(len(t), dtype=EVENT_DTYPE)
    if len(t):
        w, h = sensor
        lo, pmax = min(int(x.min()), int(y.min())), int(np.asarray(p, np.int64).max())
        if lo < 0 or int(x.max()) >= w or int(y.max()) >= h or pmax > 1:
            raise EventFormatError(
                path,
                offset,
                f"event packet reaches x={int(x.max())}, y={int(y.max())} (min {lo}), p={pmax}"
                f": outside the {w}x{h} sensor",
            )
    ev["t"], ev["x"], ev["y"], ev["p"] = t, x, y, p
    return ev


def _is_panic(e: BaseException) -> bool:
    """pyo3's PanicException derives from BaseException; it is not importable, so it is known by name."""
    return type(e).__name__ == "PanicException"


def _open_with_aedat(path: Path, c: Container) -> tuple[tuple[int, int], Any]:
    aedat = require("aedat", "reading AEDAT 4 files", "events")
    try:
        streams = aedat.Decoder(str(path)).id_to_stream()
    except Exception as e:  # the Rust decoder raises plain exceptions with its own message
        raise EventFormatError(path, 0, f"AEDAT 4 header/stream table unreadable: {_short(e)}") from None
    except BaseException as e:
        if not _is_panic(e):
            raise
        raise EventFormatError(
            path, 0, f"AEDAT 4 header/stream table unreadable (decoder panic): {_short(e)}"
        ) from None
    sid, sensor = c.event_stream(path)
    if sid not in streams or streams[sid].get("type") != "events":
        raise EventFormatError(path, c.data_start, f"the aedat decoder does not see event stream {sid}")
    offsets = [off for off, s, _ in c.packets if s == sid]

    def packets() -> Iterator[np.ndarray]:
        k = 0
        try:
            for pk in aedat.Decoder(str(path)):
                if pk.get("stream_id") == sid and "events" in pk:
                    e = pk["events"]
                    off = offsets[k] if k < len(offsets) else c.data_end
                    k += 1
                    yield _to_events(e["t"], e["x"], e["y"], e["on"], sensor, path, off)
                elif pk.get("stream_id") == sid:
                    k += 1
        except EventFormatError:
            raise
        except Exception as e:
            off = offsets[k] if k < len(offsets) else c.data_end
            raise EventFormatError(
                path, off, f"AEDAT 4 packet data corrupt or truncated: {_short(e)}"
            ) from None
        except BaseException as e:
            if not _is_panic(e):
                raise
            off = offsets[k] if k < len(offsets) else c.data_end
            raise EventFormatError(
                path, off, f"AEDAT 4 packet data corrupt (decoder panic): {_short(e)}"
            ) from None

    return sensor, packets


def _open_with_dv(path: Path, c: Container) -> tuple[tuple[int, int], Any]:
    dv = require("dv_processing", "reading AEDAT 4 files", "camera", "dv-processing")
    try:
        rec = dv.io.MonoCameraRecording(str(path))
    except Exception as e:
        raise EventFormatError(path, 0, f"AEDAT 4 file unreadable: {_short(e)}") from None
    if not rec.isEventStreamAvailable():
        raise EventFormatError(path, c.data_start, "AEDAT 4 file has no event stream")
    sensor = tuple(int(v) for v in rec.getEventResolution())
    if not all(1 <= v <= MAX_SIDE for v in sensor) or len(sensor) != 2:
        raise EventFormatError(path, c.data_start, f"event resolution {sensor} invalid")
    sid = c.event_stream(path)[0]
    offsets = [off for off, s, _ in c.packets if s == sid]

    def packets() -> Iterator[np.ndarray]:
        r = dv.io.MonoCameraRecording(str(path))
        k = 0
        while True:
            off = offsets[k] if k < len(offsets) else c.data_end
            try:
                batch = r.getNextEventBatch()
            except Exception as e:
                raise EventFormatError(path, off, f"AEDAT 4 packet data corrupt: {_short(e)}") from None
            if batch is None:
                return
            k += 1
            a = batch.numpy()
            yield _to_events(a["timestamp"], a["x"], a["y"], a["polarity"], sensor, path, off)

    return sensor, packets


def _short(e: BaseException) -> str:
    """The first line of a backend's message (dv-processing appends a C++ stack trace)."""
    lines = str(e).strip().splitlines()
    return lines[0][:300] if lines else type(e).__name__


def _size(path: Path) -> int:
    return path.stat().st_size


def open_aedat4(path: str | Path, backend: str | None = None) -> EventStream:
    """``backend``: "aedat", "dv-processing" or None (the first that is installed)."""
    path = Path(path)
    if backend not in (None, "aedat", "dv-processing"):
        raise ValueError(f"backend {backend!r} is not 'aedat' or 'dv-processing'")
    c = validate_container(path)  # before any backend sees the file: see the module docstring
    if backend == "aedat":
        sensor, packets = _open_with_aedat(path, c)
    elif backend == "dv-processing":
        sensor, packets = _open_with_dv(path, c)
    else:
        try:
            sensor, packets = _open_with_aedat(path, c)
            backend = "aedat"
        except MissingDependencyError:
            try:
                sensor, packets = _open_with_dv(path, c)
                backend = "dv-processing"
            except MissingDependencyError:
                raise MissingDependencyError(
                    "reading AEDAT 4 needs 'aedat' or 'dv-processing': pip install 'edgesnn[events]'"
                ) from None

    def chunks(n: int) -> Iterator[np.ndarray]:
        pending: list[np.ndarray] = []
        count = 0
        for ev in packets():
            pending.append(ev)
            count += len(ev)
            if count >= n:
                yield concat_events(pending)
                pending, count = [], 0
        if pending:
            yield concat_events(pending)

    return EventStream(path, "aedat4", sensor, chunks, {"backend": backend})


def read_aedat4(path: str | Path, backend: str | None = None) -> EventRecording:
    return open_aedat4(path, backend).read()


def write_aedat4(
    path: str | Path, events: np.ndarray, sensor_size: tuple[int, int], camera: str = "edgesnn"
) -> None:
    """Write an event-only AEDAT 4 file through dv-processing (needs ``pip install dv-processing``)."""
    check_events(events, sensor_size, str(path))
    dv = require("dv_processing", "writing AEDAT 4 files", "camera", "dv-processing")
    store = dv.EventStore()
    for t, x, y, p in zip(
        events["t"].tolist(), events["x"].tolist(), events["y"].tolist(), events["p"].tolist(), strict=True
    ):
        store.push_back(t, x, y, bool(p))
    config = dv.io.MonoCameraWriter.EventOnlyConfig(camera, tuple(int(v) for v in sensor_size))
    writer = dv.io.MonoCameraWriter(str(path), config)
    if len(events):
        writer.writeEvents(store)
    del writer  # the file is finalised when the writer is destroyed
