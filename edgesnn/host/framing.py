"""Framing of the edgesnn serial protocol (firmware/PROTOCOL.md sections 1-3): COBS + 0x00 delimiter,
the 6-byte header and the CRC32 trailer. Pure functions plus a streaming splitter; no I/O."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from enum import IntEnum

from edgesnn.host.errors import FrameError

VERSION = 1
HEADER = struct.Struct("<BBHH")  # version, type, request_id, length
OVERHEAD = HEADER.size + 4
NO_ID = 0xFFFF
MAX_PAYLOAD = 0xFFFF


class Msg(IntEnum):
    """Message types (firmware/protocol/esnn_frame.h ESNN_MSG_LIST)."""

    HELLO = 0x01
    RESET = 0x02
    FRAME = 0x03
    SAMPLE = 0x04
    INFO = 0x81
    ACK = 0x82
    RESULT = 0x83
    ERROR = 0x8F


class Err(IntEnum):
    """ERROR codes (firmware/protocol/esnn_frame.h ESNN_PERR_LIST)."""

    FRAMING = 1
    BAD_CRC = 2
    OVERSIZE = 3
    BAD_VERSION = 4
    BAD_LENGTH = 5
    UNKNOWN_TYPE = 6
    BAD_PAYLOAD = 7
    BAD_SEQUENCE = 8
    NO_MODEL = 9
    RUNTIME = 10


# Errors that answer a frame whose header could not be trusted: the pending request is sent again.
TRANSPORT_ERRORS = frozenset({Err.FRAMING, Err.BAD_CRC, Err.OVERSIZE})


def crc32(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def cobs_encode(data: bytes) -> bytes:
    """COBS without the delimiter (254-byte blocks)."""
    out = bytearray()
    i, n = 0, len(data)
    while True:
        j = i
        while j < n and data[j] != 0 and j - i < 254:
            j += 1
        code = j - i + 1
        out.append(code)
        out += data[i:j]
        if j == n:
            return bytes(out)
        i = j if code == 0xFF else j + 1


def cobs_decode(data: bytes) -> bytes:
    """Inverse of cobs_encode; FrameError(FRAMING) for a 0x00 inside or a block cut short."""
    out = bytearray()
    i, n = 0, len(data)
    if n == 0:
        raise FrameError(Err.FRAMING, "empty COBS frame")
    while i < n:
        code = data[i]
        if code == 0:
            raise FrameError(Err.FRAMING, f"0x00 inside a COBS frame at byte {i}")
        end = i + code
        if end > n:
            raise FrameError(Err.FRAMING, f"COBS block at byte {i} wants {code - 1} bytes, {n - i - 1} left")
        block = data[i + 1 : end]
        if 0 in block:
            raise FrameError(Err.FRAMING, "0x00 inside a COBS block")
        out += block
        if code != 0xFF and end < n:
            out.append(0)
        i = end
    return bytes(out)


@dataclass(frozen=True)
class Packet:
    type: int
    request_id: int
    payload: bytes = b""
    version: int = VERSION

    def __str__(self) -> str:
        try:
            name = Msg(self.type).name
        except ValueError:
            name = f"type 0x{self.type:02x}"
        return f"{name} id={self.request_id} len={len(self.payload)}"


def encode_packet(packet: Packet) -> bytes:
    """Header + payload + CRC32 (not yet COBS-encoded)."""
    if len(packet.payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(packet.payload)} bytes exceeds {MAX_PAYLOAD}")
    body = HEADER.pack(packet.version, packet.type, packet.request_id, len(packet.payload)) + packet.payload
    return body + struct.pack("<I", crc32(body))


def encode_frame(packet: Packet) -> bytes:
    """The bytes on the wire: COBS(packet) + 0x00."""
    return cobs_encode(encode_packet(packet)) + b"\x00"


def decode_packet(raw: bytes) -> Packet:
    """Check size, CRC and length field of a decoded frame (the checks a device makes, in its order)."""
    if len(raw) < OVERHEAD:
        raise FrameError(Err.FRAMING, f"frame of {len(raw)} bytes is shorter than {OVERHEAD}")
    (crc,) = struct.unpack_from("<I", raw, len(raw) - 4)
    if crc != crc32(raw[:-4]):
        raise FrameError(Err.BAD_CRC, "CRC32 mismatch")
    version, type_, request_id, length = HEADER.unpack_from(raw)
    if version != VERSION:
        raise FrameError(Err.BAD_VERSION, f"protocol version {version}, this host speaks {VERSION}")
    if length != len(raw) - OVERHEAD:
        raise FrameError(Err.BAD_LENGTH, f"length field {length}, frame holds {len(raw) - OVERHEAD}")
    return Packet(type_, request_id, bytes(raw[HEADER.size : -4]), version)


class FrameSplitter:
    """Cuts a byte stream at 0x00 delimiters into decoded packets, with a bounded buffer.

    feed() returns a list of Packet or FrameError items, in order; empty frames are skipped; a frame longer
    than max_encoded is dropped up to its delimiter and reported as OVERSIZE."""

    def __init__(self, max_payload: int = MAX_PAYLOAD) -> None:
        self.max_encoded = OVERHEAD + max_payload + (OVERHEAD + max_payload) // 254 + 1
        self._buf = bytearray()
        self._oversize = False

    def reset(self) -> None:
        self._buf.clear()
        self._oversize = False

    def feed(self, data: bytes) -> list[Packet | FrameError]:
        out: list[Packet | FrameError] = []
        for chunk_end, piece in _pieces(data):
            if not self._oversize:
                self._buf += piece
                if len(self._buf) > self.max_encoded:
                    self._buf.clear()
                    self._oversize = True
            if not chunk_end:
                continue
            if self._oversize:
                out.append(FrameError(Err.OVERSIZE, f"frame longer than {self.max_encoded} encoded bytes"))
            elif self._buf:
                try:
                    out.append(decode_packet(cobs_decode(bytes(self._buf))))
                except FrameError as e:
                    out.append(e)
            self._buf.clear()
            self._oversize = False
        return out


def _pieces(data: bytes) -> list[tuple[bool, bytes]]:
    """Split at 0x00: (ends_with_delimiter, bytes before it)."""
    parts = bytes(data).split(b"\x00")
    return [(True, p) for p in parts[:-1]] + ([(False, parts[-1])] if parts[-1] else [])
