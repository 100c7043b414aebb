"""The device-side parser (firmware/protocol) under ASan + UBSan, spoken to with raw bytes: each malformed
frame gets its ERROR reply, retransmissions get the cached reply, random garbage never crashes or hangs it."""

from __future__ import annotations

import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from edgesnn.host.framing import (
    NO_ID,
    Err,
    FrameSplitter,
    Msg,
    Packet,
    cobs_encode,
    encode_frame,
    encode_packet,
)
from edgesnn.host.messages import Encoding, frame_payload, parse_ack, parse_error, parse_info, parse_result
from edgesnn.host.transport import ProcessTransport
from tests.host.conftest import VECTORS, expected

MAX_PAYLOAD = 256
VECTOR = next(v for v in VECTORS if v.name == "t16_int8_frames")  # time-major, 16 frames of 1x10x10


class Raw:
    """Bytes in, decoded packets out, with a deadline on every read."""

    def __init__(self, binary: Path, model: Path, *extra: str) -> None:
        argv = [str(binary), "--max-payload", str(MAX_PAYLOAD), *extra, str(model)]
        self.t = ProcessTransport(argv, pty=False)
        self.sp = FrameSplitter()
        self.items: list = []

    def send(self, data: bytes) -> None:
        self.t.write(data)

    def replies(self, n: int, timeout: float = 5.0) -> list[Packet]:
        deadline = time.monotonic() + timeout
        while len(self.items) < n and time.monotonic() < deadline:
            self.items += self.sp.feed(self.t.read(0.1))
        got, self.items = self.items[:n], self.items[n:]
        assert len(got) == n, f"expected {n} replies, got {got}"
        assert all(isinstance(p, Packet) for p in got), got
        return got

    def reply(self) -> Packet:
        return self.replies(1)[0]

    def quiet(self, s: float = 0.2) -> None:
        deadline = time.monotonic() + s
        while time.monotonic() < deadline:
            self.items += self.sp.feed(self.t.read(0.05))
        assert self.items == [], f"unexpected replies {self.items}"


@pytest.fixture
def dev(asan_bin: Path):
    d = Raw(asan_bin, VECTOR / "model.esnn")
    boot = d.reply()
    assert boot.type == Msg.INFO and boot.request_id == NO_ID
    yield d
    assert d.t.proc.poll() is None, d.t.stderr_text()  # alive: no sanitizer report, no crash
    d.t.close()


def _error(p: Packet, rid: int, code: Err) -> tuple[int, int]:
    assert p.type == Msg.ERROR and p.request_id == rid, p
    e = parse_error(p.payload)
    assert e.code == code, e
    return e.detail, e.aux


def _crc(body: bytes) -> bytes:
    return body + zlib.crc32(body).to_bytes(4, "little")


def test_hello_info(dev: Raw):
    dev.send(encode_frame(Packet(Msg.HELLO, 7)))
    p = dev.reply()
    assert p.type == Msg.INFO and p.request_id == 7
    info = parse_info(p.payload)
    blob = (VECTOR / "model.esnn").read_bytes()
    assert info.model_status == 0 and info.max_payload == MAX_PAYLOAD and info.device_name == "host"
    assert info.model_crc == zlib.crc32(blob[:-4]) and info.model_size == len(blob)
    assert (info.T, info.frames, info.input_shape, info.num_classes) == (16, 16, (1, 10, 10), 5)
    assert info.arena_bytes > 0 and info.format_major == 1 and info.runtime_version.count(".") == 2


def test_bad_crc(dev: Raw):
    raw = bytearray(encode_packet(Packet(Msg.HELLO, 1)))
    raw[-1] ^= 0x40
    dev.send(cobs_encode(bytes(raw)) + b"\x00")
    _error(dev.reply(), NO_ID, Err.BAD_CRC)


def test_oversize_then_recovers(dev: Raw):
    dev.send(b"\x01" * (3 * MAX_PAYLOAD) + b"\x00")
    assert _error(dev.reply(), NO_ID, Err.OVERSIZE)[1] == MAX_PAYLOAD
    big = Packet(Msg.SAMPLE, 2, bytes(MAX_PAYLOAD + 1))
    dev.send(encode_frame(big))
    _error(dev.reply(), NO_ID, Err.OVERSIZE)
    dev.send(encode_frame(Packet(Msg.HELLO, 3)))
    assert dev.reply().type == Msg.INFO


def test_unknown_type_wrong_version_bad_length(dev: Raw):
    dev.send(encode_frame(Packet(0x42, 11)))
    assert _error(dev.reply(), 11, Err.UNKNOWN_TYPE)[0] == 0x42
    dev.send(encode_frame(Packet(Msg.INFO, 12)))  # a reply type sent to the device
    _error(dev.reply(), 12, Err.UNKNOWN_TYPE)
    dev.send(encode_frame(Packet(Msg.HELLO, 13, version=2)))
    assert _error(dev.reply(), 13, Err.BAD_VERSION)[0] == 1
    body = struct.pack("<BBHH", 1, Msg.HELLO, 14, 5) + b"abc"
    dev.send(cobs_encode(_crc(body)) + b"\x00")
    assert _error(dev.reply(), 14, Err.BAD_LENGTH)[1] == 5


def test_framing_errors(dev: Raw):
    dev.send(b"\x09\x01\x02\x00")  # block cut short
    _error(dev.reply(), NO_ID, Err.FRAMING)
    dev.send(cobs_encode(b"\x01\x01\x00\x00") + b"\x00")  # too short for a header + CRC
    assert _error(dev.reply(), NO_ID, Err.FRAMING)[1] == 4
    dev.send(b"\x00\x00\x00")  # empty frames are ignored
    dev.quiet()


def test_bad_payloads(dev: Raw):
    frame = np.zeros(100, dtype=np.uint8)
    cases = [
        Packet(Msg.RESET, 20, b"\x00"),
        Packet(Msg.FRAME, 21, b"\x00\x00"),
        Packet(Msg.FRAME, 22, frame_payload(0, frame, Encoding.U8)[:-1]),
        Packet(Msg.FRAME, 23, b"\x00\x00\x07\x00" + bytes(100)),  # unknown encoding
        Packet(Msg.FRAME, 24, b"\x00\x00\x00\x01" + bytes(100)),  # reserved byte set
        Packet(Msg.FRAME, 25, b"\x00\x00\x01\x00" + bytes(12) + b"\x10"),  # BITS padding bit set
        Packet(Msg.SAMPLE, 26, b"\x00\x00\x00\x00" + bytes(99)),
    ]
    for p in cases:
        dev.send(encode_frame(p))
        _error(dev.reply(), p.request_id, Err.BAD_PAYLOAD)


def test_sequence_and_retransmission(dev: Raw):
    x = expected(VECTOR)["input"].reshape(16, 100)
    dev.send(encode_frame(Packet(Msg.FRAME, 30, frame_payload(3, x[3], Encoding.U8))))
    assert _error(dev.reply(), 30, Err.BAD_SEQUENCE)[1] == 0
    results = []
    for t in range(16):
        wire = encode_frame(Packet(Msg.FRAME, 100 + t, frame_payload(t, x[t], Encoding.U8)))
        dev.send(wire + wire)  # every frame twice: the copy gets the same reply, not a second step
        first, again = dev.replies(2)
        assert first == again and first.request_id == 100 + t
        results.append(first)
    assert [parse_ack(p.payload).next_frame for p in results[:-1]] == list(range(1, 16))
    r = parse_result(results[-1].payload)
    np.testing.assert_array_equal(r.logits, expected(VECTOR)["logits"])
    np.testing.assert_array_equal(r.spike_counts, expected(VECTOR)["spike_counts"])
    dev.send(encode_frame(Packet(Msg.FRAME, 200, frame_payload(1, x[1], Encoding.U8))))
    _error(dev.reply(), 200, Err.BAD_SEQUENCE)
    dev.send(encode_frame(Packet(Msg.RESET, 201)))
    assert parse_ack(dev.reply().payload).next_frame == 0


def test_no_model(asan_bin: Path, tmp_path: Path):
    blob = bytearray((VECTOR / "model.esnn").read_bytes())
    blob[-1] ^= 1
    (tmp_path / "bad.esnn").write_bytes(bytes(blob))
    d = Raw(asan_bin, tmp_path / "bad.esnn", "--no-announce")
    try:
        d.send(encode_frame(Packet(Msg.HELLO, 1)) + encode_frame(Packet(Msg.SAMPLE, 2, bytes(4 + 100))))
        info, err = d.replies(2)
        assert parse_info(info.payload).model_status == 6  # ESNN_ERR_CRC
        assert _error(err, 2, Err.NO_MODEL)[0] == 6
    finally:
        d.t.close()


def test_garbage_never_crashes_or_hangs(dev: Raw):
    rng = np.random.default_rng(3)
    delimiters = 1
    valid = [encode_frame(Packet(Msg.HELLO, 1))[:-1], encode_frame(Packet(Msg.RESET, 2))[:-1]]
    for i in range(300):
        kind = i % 3
        if kind == 0:  # random bytes
            data = rng.integers(0, 256, int(rng.integers(1, 400)), dtype=np.uint8).tobytes()
        else:  # a valid frame with flipped, dropped or inserted bytes
            data = bytearray(valid[i % 2])
            pos = int(rng.integers(0, len(data)))
            if kind == 1:
                data[pos] ^= int(rng.integers(1, 256))
            else:
                del data[pos]
            data = bytes(data)
        dev.send(data + b"\x00")
        delimiters += data.count(0) + 1
    dev.send(encode_frame(Packet(Msg.HELLO, 999)))
    deadline = time.monotonic() + 10
    seen: list = []
    while time.monotonic() < deadline and not any(
        isinstance(p, Packet) and p.request_id == 999 for p in seen
    ):
        seen += dev.sp.feed(dev.t.read(0.1))
    assert any(isinstance(p, Packet) and p.request_id == 999 and p.type == Msg.INFO for p in seen)
    assert all(isinstance(p, Packet) for p in seen)  # the device only ever sends well-formed frames
    assert len(seen) <= delimiters  # at most one reply per frame
