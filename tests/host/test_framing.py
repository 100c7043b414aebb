"""Host-side framing: COBS and packet round trips, the stream splitter on malformed input, and the message
tables against the C header they mirror."""

from __future__ import annotations

import re
import zlib

import numpy as np
import pytest

from edgesnn.host.errors import FrameError
from edgesnn.host.framing import (
    NO_ID,
    OVERHEAD,
    Err,
    FrameSplitter,
    Msg,
    Packet,
    cobs_decode,
    cobs_encode,
    decode_packet,
    encode_frame,
    encode_packet,
)
from edgesnn.host.messages import Encoding, encode_values, frame_payload, parse_result, sample_payload
from tests.host.conftest import REPO

EDGE_CASES = [b"", b"\x00", b"\x00\x00", b"\x01", b"\x11\x00\x22", bytes(range(1, 255)), bytes(range(1, 256))]
EDGE_CASES += [bytes(range(1, 255)) + b"\x00", b"\xff" * 254, b"\xff" * 255, b"\xff" * 508 + b"\x00" * 3]


@pytest.mark.parametrize("data", EDGE_CASES, ids=range(len(EDGE_CASES)))
def test_cobs_round_trip_edges(data: bytes):
    enc = cobs_encode(data)
    assert 0 not in enc
    assert len(enc) <= len(data) + len(data) // 254 + 1
    assert cobs_decode(enc) == data


def test_cobs_known_encodings():
    assert cobs_encode(b"") == b"\x01"
    assert cobs_encode(b"\x00") == b"\x01\x01"
    assert cobs_encode(b"\x11\x22\x00\x33") == b"\x03\x11\x22\x02\x33"
    assert cobs_encode(bytes(range(1, 255))) == b"\xff" + bytes(range(1, 255))
    assert cobs_encode(bytes(range(1, 256))) == b"\xff" + bytes(range(1, 255)) + b"\x02\xff"


def test_cobs_round_trip_random():
    rng = np.random.default_rng(1)
    for _ in range(300):
        n = int(rng.integers(0, 1200))
        data = rng.integers(0, 256, n, dtype=np.uint8)
        data[rng.random(n) < rng.random() * 0.3] = 0
        assert cobs_decode(cobs_encode(data.tobytes())) == data.tobytes()


def test_cobs_decode_rejects_truncation_and_zeros():
    with pytest.raises(FrameError) as e:
        cobs_decode(b"\x05\x01\x02")
    assert e.value.code == Err.FRAMING
    with pytest.raises(FrameError):
        cobs_decode(b"\x03\x01\x00")
    with pytest.raises(FrameError):
        cobs_decode(b"")


def test_packet_layout_and_crc():
    raw = encode_packet(Packet(Msg.FRAME, 0x1234, b"\x07\x08"))
    assert raw[:6] == bytes([1, 0x03, 0x34, 0x12, 2, 0]) and raw[6:8] == b"\x07\x08"
    assert int.from_bytes(raw[-4:], "little") == zlib.crc32(raw[:-4])
    assert len(raw) == OVERHEAD + 2
    assert decode_packet(raw) == Packet(Msg.FRAME, 0x1234, b"\x07\x08")


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda r: r[:-1] + bytes([r[-1] ^ 1]), Err.BAD_CRC),
        (lambda r: r[:5], Err.FRAMING),
        (lambda r: _recrc(bytes([2]) + r[1:-4]), Err.BAD_VERSION),
        (lambda r: _recrc(r[:4] + b"\x09\x00" + r[6:-4]), Err.BAD_LENGTH),
    ],
    ids=["crc", "short", "version", "length"],
)
def test_decode_packet_errors(mutate, code):
    raw = encode_packet(Packet(Msg.INFO, 3, b"abc"))
    with pytest.raises(FrameError) as e:
        decode_packet(mutate(raw))
    assert e.value.code == code


def _recrc(body: bytes) -> bytes:
    return body + zlib.crc32(body).to_bytes(4, "little")


def test_splitter_resynchronises_after_garbage_and_splits_anywhere():
    packets = [Packet(Msg.ACK, i, bytes([i, 0, 0, i])) for i in range(5)]
    stream = b"\x13\x37garbage" + b"\x00" + b"\x00\x00" + b"".join(encode_frame(p) for p in packets)
    for chunk in (1, 3, 7, len(stream)):
        sp = FrameSplitter()
        items = [x for i in range(0, len(stream), chunk) for x in sp.feed(stream[i : i + chunk])]
        assert [x for x in items if isinstance(x, Packet)] == packets
        assert sum(isinstance(x, FrameError) for x in items) == 1  # the garbage frame, nothing else


def test_splitter_bounds_oversize_frames():
    sp = FrameSplitter(max_payload=16)
    items = sp.feed(b"\x01" * 5000)
    assert items == [] and len(sp._buf) <= sp.max_encoded
    items = sp.feed(b"\x00" + encode_frame(Packet(Msg.ACK, 1, b"\x00\x00\x01\x00")))
    assert isinstance(items[0], FrameError) and items[0].code == Err.OVERSIZE
    assert items[1] == Packet(Msg.ACK, 1, b"\x00\x00\x01\x00")


def test_splitter_fuzz_never_raises():
    rng = np.random.default_rng(2)
    good = encode_frame(Packet(Msg.RESULT, 9, bytes(24)))
    for _ in range(200):
        noise = rng.integers(0, 256, int(rng.integers(0, 80)), dtype=np.uint8).tobytes()
        sp = FrameSplitter(max_payload=64)
        items = sp.feed(noise) + sp.feed(b"\x00" + good)
        assert items[-1] == Packet(Msg.RESULT, 9, bytes(24))


def test_bits_encoding_is_lsb_first_and_padded():
    frame = np.array([1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1], dtype=np.uint8)
    assert encode_values(frame, Encoding.BITS) == bytes([0x01, 0x06])
    assert frame_payload(2, frame, Encoding.U8) == b"\x02\x00\x00\x00" + frame.tobytes()
    assert sample_payload(np.stack([frame, frame]), Encoding.BITS) == b"\x01\x00\x00\x00" + b"\x01\x06" * 2
    with pytest.raises(ValueError):
        encode_values(np.array([2], dtype=np.uint8), Encoding.BITS)


def test_result_parser_checks_sizes():
    payload = (2).to_bytes(2, "little") + (3).to_bytes(2, "little") + (1).to_bytes(2, "little") + bytes(10)
    payload += np.array([-5, 7, 1], dtype="<i4").tobytes() + np.array([42], dtype="<u4").tobytes()
    r = parse_result(payload)
    assert r.predicted == 2 and r.logits.tolist() == [-5, 7, 1] and r.spike_counts.tolist() == [42]
    with pytest.raises(Exception, match="RESULT"):
        parse_result(payload[:-1])


def test_python_tables_match_the_c_header():
    header = (REPO / "firmware" / "protocol" / "esnn_frame.h").read_text()
    msgs = dict(re.findall(r"X\(ESNN_MSG_(\w+), (0x[0-9A-F]+)\)", header))
    errs = dict(re.findall(r"X\(ESNN_PERR_(\w+), (\d+),", header))
    assert {m.name: m.value for m in Msg} == {k: int(v, 16) for k, v in msgs.items()}
    assert {e.name: e.value for e in Err} == {k: int(v) for k, v in errs.items()}
    assert f"ESNN_PROTO_NO_ID 0x{NO_ID:X}u" in header and f"ESNN_PROTO_OVERHEAD {OVERHEAD}u" in header
