"""The ``#``-prefixed text header of jAER / cAER AEDAT 2.0 and 3.x files."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from edgesnn.data.events.errors import EventFormatError

MAX_HEADER_BYTES = 1 << 20


@dataclass
class AedatHeader:
    version: str  # "2.0", "3.1", ...
    lines: list[str] = field(default_factory=list)
    data_offset: int = 0


def read_aedat_header(path: Path, versions: tuple[str, ...]) -> AedatHeader:
    """Parse ``#!AER-DATv`` and the following ``#`` lines (up to ``#!END-HEADER`` if present).

    Raises ``EventFormatError`` at byte 0 if the file does not start with one of ``versions``.
    """
    with open(path, "rb") as f:
        first = f.readline(256)
        if not first.startswith(b"#!AER-DAT"):
            raise EventFormatError(path, 0, f"no '#!AER-DAT' magic (starts with {first[:16]!r})")
        version = first[len(b"#!AER-DAT") :].strip().decode("latin-1")
        if not any(version.startswith(v) for v in versions):
            raise EventFormatError(
                path, 9, f"AEDAT version {version!r}; this reader handles {list(versions)}"
            )
        hdr = AedatHeader(version, [first.decode("latin-1").strip()], len(first))
        while True:
            pos = hdr.data_offset
            if f.read(1) != b"#":
                break
            f.seek(pos)
            line = f.readline(4096)
            if not line.endswith(b"\n"):
                raise EventFormatError(path, pos, "header line starting with '#' has no end of line")
            if pos + len(line) > MAX_HEADER_BYTES:
                raise EventFormatError(path, pos, f"header longer than {MAX_HEADER_BYTES} bytes")
            hdr.data_offset += len(line)
            text = line.decode("latin-1").strip()
            hdr.lines.append(text)
            if text == "#!END-HEADER":
                break
    return hdr
