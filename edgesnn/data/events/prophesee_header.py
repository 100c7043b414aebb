"""The ``%``-prefixed text header of Prophesee files (.dat, EVT 2.0 and EVT 3.0 .raw)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from edgesnn.data.events.errors import EventFormatError

MAX_HEADER_BYTES = 1 << 20


@dataclass
class PropheseeHeader:
    lines: list[str] = field(default_factory=list)
    keys: dict[str, str] = field(default_factory=dict)
    data_offset: int = 0

    def sensor_size(self) -> tuple[int, int] | None:
        """(W, H) from ``% geometry WxH``, ``% format ...;width=W;height=H`` or ``% Width``/``% Height``."""
        geo = self.keys.get("geometry")
        if geo:
            m = re.fullmatch(r"\s*(\d+)\s*x\s*(\d+)\s*", geo)
            if m:
                return int(m.group(1)), int(m.group(2))
        fmt = self.keys.get("format", "")
        w = re.search(r"width=(\d+)", fmt)
        h = re.search(r"height=(\d+)", fmt)
        if w and h:
            return int(w.group(1)), int(h.group(1))
        lw, lh = self.keys.get("width"), self.keys.get("height")
        if lw and lh and lw.strip().isdigit() and lh.strip().isdigit():
            return int(lw), int(lh)
        return None

    def evt_version(self) -> str | None:
        if "evt" in self.keys:
            return self.keys["evt"].strip()
        fmt = self.keys.get("format", "")
        m = re.match(r"\s*EVT(\d)", fmt)
        return f"{m.group(1)}.0" if m else None


def read_prophesee_header(path: Path) -> PropheseeHeader:
    """Read ``%`` lines from the start; stop after ``% end`` or before the first line without ``%``."""
    hdr = PropheseeHeader()
    with open(path, "rb") as f:
        pos = 0
        while True:
            if f.read(1) != b"%":
                break
            f.seek(pos)
            line = f.readline(4096)
            if not line.endswith(b"\n"):
                raise EventFormatError(path, pos, "header line starting with '%' has no end of line")
            if pos + len(line) > MAX_HEADER_BYTES:
                raise EventFormatError(path, pos, f"header longer than {MAX_HEADER_BYTES} bytes")
            text = line.decode("latin-1").strip()
            pos += len(line)
            body = text[1:].strip()
            hdr.lines.append(body)
            if body.lower() == "end":
                break
            key, _, value = body.partition(" ")
            if key:
                hdr.keys.setdefault(key.lower(), value.strip())
        hdr.data_offset = pos
    return hdr
