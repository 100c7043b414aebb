"""Payloads of the edgesnn serial protocol (firmware/PROTOCOL.md section 4): INFO, ACK, RESULT and ERROR
parsers, FRAME / SAMPLE builders with the U8 and BITS encodings."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from edgesnn.host.errors import DeviceError, HostError
from edgesnn.host.framing import Err


class Encoding(IntEnum):
    U8 = 0
    BITS = 1


class Counter(IntEnum):
    NONE = 0
    INSTRUCTIONS = 1
    CYCLES = 2
    NANOSECONDS = 3


INFO = struct.Struct("<B3BHHHBBIIIIHHHHHHHBB")
ACK = struct.Struct("<HH")
RESULT = struct.Struct("<HHHBBQ")
ERROR = struct.Struct("<BBH")
FRAME = struct.Struct("<HBB")
SAMPLE = struct.Struct("<B3x")


@dataclass(frozen=True)
class Info:
    protocol_version: int
    runtime_version: str
    format_major: int
    format_minor_max: int
    max_payload: int
    model_status: int
    counter_kind: Counter
    model_crc: int
    model_size: int
    arena_bytes: int
    flags: int
    T: int
    num_classes: int
    num_lif: int
    frames: int
    input_shape: tuple[int, int, int]
    encodings: int
    device_name: str

    @property
    def frame_values(self) -> int:
        c, h, w = self.input_shape
        return c * h * w

    @property
    def layer_major(self) -> bool:
        return bool(self.flags & 1)


def parse_info(payload: bytes) -> Info:
    if len(payload) < INFO.size:
        raise HostError(f"INFO of {len(payload)} bytes, expected at least {INFO.size}")
    f = INFO.unpack_from(payload)
    name_len = f[-1]
    if len(payload) != INFO.size + name_len:
        raise HostError(f"INFO of {len(payload)} bytes with a {name_len}-byte name")
    return Info(
        protocol_version=f[0],
        runtime_version=f"{f[1]}.{f[2]}.{f[3]}",
        format_major=f[4],
        format_minor_max=f[5],
        max_payload=f[6],
        model_status=f[7],
        counter_kind=Counter(f[8]) if f[8] in Counter._value2member_map_ else Counter.NONE,
        model_crc=f[9],
        model_size=f[10],
        arena_bytes=f[11],
        flags=f[12],
        T=f[13],
        num_classes=f[14],
        num_lif=f[15],
        frames=f[16],
        input_shape=(f[17], f[18], f[19]),
        encodings=f[20],
        device_name=payload[INFO.size :].decode("ascii", "replace"),
    )


@dataclass(frozen=True)
class Ack:
    next_frame: int
    frames: int


def parse_ack(payload: bytes) -> Ack:
    if len(payload) != ACK.size:
        raise HostError(f"ACK of {len(payload)} bytes, expected {ACK.size}")
    return Ack(*ACK.unpack(payload))


@dataclass(frozen=True)
class DeviceResult:
    predicted: int
    logits: np.ndarray  # int32 [num_classes]
    spike_counts: np.ndarray  # uint32 [num_lif]
    counter_kind: Counter
    counter: int


def parse_result(payload: bytes) -> DeviceResult:
    if len(payload) < RESULT.size:
        raise HostError(f"RESULT of {len(payload)} bytes, expected at least {RESULT.size}")
    predicted, nc, nl, kind, _, counter = RESULT.unpack_from(payload)
    if len(payload) != RESULT.size + 4 * (nc + nl):
        raise HostError(f"RESULT of {len(payload)} bytes for {nc} classes and {nl} LIF ops")
    logits = np.frombuffer(payload, dtype="<i4", count=nc, offset=RESULT.size).astype(np.int32)
    spikes = np.frombuffer(payload, dtype="<u4", count=nl, offset=RESULT.size + 4 * nc).astype(np.uint32)
    kind_ = Counter(kind) if kind in Counter._value2member_map_ else Counter.NONE
    return DeviceResult(predicted, logits, spikes, kind_, counter)


def parse_error(payload: bytes) -> DeviceError:
    if len(payload) < ERROR.size:
        return DeviceError(0, "MALFORMED", 0, 0, f"ERROR payload of {len(payload)} bytes")
    code, detail, aux = ERROR.unpack_from(payload)
    name = Err(code).name if code in Err._value2member_map_ else f"code {code}"
    return DeviceError(code, name, detail, aux, payload[ERROR.size :].decode("ascii", "replace"))


def encode_values(frame: np.ndarray, encoding: Encoding) -> bytes:
    """One frame of u8 values as U8 bytes or BITS (LSB first; values must be 0/1)."""
    flat = np.ascontiguousarray(frame, dtype=np.uint8).reshape(-1)
    if encoding == Encoding.U8:
        return flat.tobytes()
    if flat.size and flat.max() > 1:
        raise ValueError("BITS encoding needs values 0 or 1")
    return np.packbits(flat, bitorder="little").tobytes()


def best_encoding(sample: np.ndarray, encodings: int) -> Encoding:
    """BITS when every value is 0/1 and the device accepts it, else U8."""
    binary = sample.size == 0 or int(np.max(sample)) <= 1
    return Encoding.BITS if binary and encodings & (1 << Encoding.BITS) else Encoding.U8


def frame_payload(index: int, frame: np.ndarray, encoding: Encoding) -> bytes:
    return FRAME.pack(index, encoding, 0) + encode_values(frame, encoding)


def sample_payload(frames: np.ndarray, encoding: Encoding) -> bytes:
    return SAMPLE.pack(encoding) + b"".join(encode_values(f, encoding) for f in frames)
