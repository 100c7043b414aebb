"""The emulated Cortex-M4 protocol board (firmware/ports/qemu-mps2-an386 under qemu-system-arm): INFO,
bit-exact vectors (SAMPLE and FRAME by FRAME) with exact, repeatable instruction counts, error replies to
malformed frames, and a reset mid-stream detected through the boot announcement."""

from __future__ import annotations

import shutil
import struct
import time
import zlib

import numpy as np
import pytest

from edgesnn.host import Client, DeviceError, DeviceReset, Encoding
from edgesnn.host.framing import NO_ID, Err, FrameSplitter, Msg, Packet, cobs_encode, encode_frame
from edgesnn.host.messages import Counter, parse_error
from edgesnn.host.qemu import QemuTransport, build_image
from edgesnn.reference import parse
from tests.host.conftest import VECTORS, expected

VECTOR = next(v for v in VECTORS if v.name == "t16_int8_frames")  # time-major, 16 frames of 1x10x10


def need_tools() -> None:
    missing = [t for t in ("qemu-system-arm", "arm-none-eabi-gcc", "make", "cc") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (tests/run.sh installs them)")


@pytest.fixture(scope="module")
def image():
    need_tools()
    return build_image(VECTOR / "model.esnn")


@pytest.fixture
def board(image):
    t = QemuTransport(image.elf)
    yield t
    alive = t.qemu.proc.poll() is None
    t.close()
    assert alive, "QEMU exited during the test (a fault on the board exits with 99)"


def test_image_size_report(image):
    size = image.size
    assert size["model"] == (VECTOR / "model.esnn").stat().st_size
    assert size["flash"] == size["text"] + size["data"] and size["ram"] == size["data"] + size["bss"]
    assert 0 < size["arena"] < size["ram"] and size["stack"] == 16384
    assert image.report.startswith("qemu-mps2-an386: ")


def test_hello_info(board):
    info = Client(board).hello()
    blob = (VECTOR / "model.esnn").read_bytes()
    model = parse(blob)
    assert info.device_name == "qemu-mps2-an386"
    assert info.counter_kind == Counter.INSTRUCTIONS  # -icount shift=7, detected by the board at boot
    assert info.model_status == 0 and info.protocol_version == 1
    assert (info.model_crc, info.model_size) == (zlib.crc32(blob[:-4]), len(blob))
    assert (info.T, info.frames, info.input_shape) == (model.T, model.T, tuple(model.input.shape))
    assert info.encodings == 3 and info.max_payload == 4 + 16 * 100
    assert 0 < info.arena_bytes <= build_image(VECTOR / "model.esnn").size["arena"]


def test_vector_bit_exact_with_repeatable_instruction_counts(board):
    want = expected(VECTOR)
    c = Client(board)
    runs = [c.run_sample(want["input"]) for _ in range(2)]
    for r in runs:
        assert np.array_equal(r.logits, want["logits"])
        assert np.array_equal(r.spike_counts, want["spike_counts"])
        assert r.counter_kind == Counter.INSTRUCTIONS
    # instruction counts from the 25 MHz timer under -icount shift=7: one tick = 3.2 instructions, so two runs
    # of the same sample agree to within one tick (the timer's phase at the start differs by a fraction)
    assert runs[0].counter > 10_000 and abs(runs[0].counter - runs[1].counter) <= 4
    frames = want["input"].reshape(16, 100)
    for t in range(15):
        assert c.send_frame(t, frames[t]) == t + 1
    last = c.send_frame(15, frames[15])
    assert np.array_equal(last.logits, want["logits"])


def test_bits_encoding_matches_reference(board):
    from edgesnn.reference import run

    x = (np.random.default_rng(3).random((16, 1, 10, 10)) < 0.3).astype(np.uint8)
    r = Client(board).run_sample(x, Encoding.BITS)
    ref = run((VECTOR / "model.esnn").read_bytes(), x)
    assert np.array_equal(r.logits, ref.logits) and np.array_equal(r.spike_counts, ref.spike_counts)


def _replies(board, n: int, timeout: float = 5.0) -> list[Packet]:
    sp, got = FrameSplitter(), []
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        got += sp.feed(board.read(0.1))
    assert len(got) == n and all(isinstance(p, Packet) for p in got), got
    return got


def _code(p: Packet) -> int:
    assert p.type == Msg.ERROR
    return parse_error(p.payload).code


def test_malformed_frames_get_error_replies(board):
    hello = encode_frame(Packet(Msg.HELLO, 7, b""))
    bad_crc = bytearray(hello)
    bad_crc[3] ^= 0x01  # a request-id byte (never 0x00 in COBS): the CRC no longer matches
    body = struct.pack("<BBHH", 1, 0x42, 8, 0)
    unknown = cobs_encode(body + struct.pack("<I", zlib.crc32(body))) + b"\x00"
    body = struct.pack("<BBHH", 9, Msg.HELLO, 9, 0)
    version = cobs_encode(body + struct.pack("<I", zlib.crc32(body))) + b"\x00"
    oversize = encode_frame(Packet(Msg.SAMPLE, 10, bytes(2000)))  # > max_payload 1604
    board.write(bytes(bad_crc) + unknown + version + oversize + hello)
    r = _replies(board, 5)
    assert _code(r[0]) == Err.BAD_CRC and r[0].request_id == NO_ID
    assert _code(r[1]) == Err.UNKNOWN_TYPE and r[1].request_id == 8
    assert _code(r[2]) == Err.BAD_VERSION and r[2].request_id == 9
    assert _code(r[3]) == Err.OVERSIZE and r[3].request_id == NO_ID
    assert r[4].type == Msg.INFO and r[4].request_id == 7  # still serving
    with pytest.raises(DeviceError, match="BAD_SEQUENCE"):
        Client(board).send_frame(5, np.zeros(100, np.uint8))


def test_reset_mid_stream_is_detected(board):
    want = expected(VECTOR)
    c = Client(board)
    c.hello()
    frames = want["input"].reshape(16, 100)
    assert c.send_frame(0, frames[0]) == 1
    board.reset_device()  # QEMU monitor system_reset: the board boots again and announces INFO
    with pytest.raises(DeviceReset):
        c.send_frame(1, frames[1])
    assert c.stats.resets_seen == 1
    r = c.run_sample(want["input"])  # resent from its first frame
    assert np.array_equal(r.logits, want["logits"])


def test_host_board_reset_device(board_bin):
    """The host board's reset: the process restarts behind the same transport and announces INFO again."""
    from edgesnn.host.transport import ProcessTransport

    want = expected(VECTOR)
    with ProcessTransport([str(board_bin), str(VECTOR / "model.esnn")]) as t:
        c = Client(t)
        c.hello()
        assert c.send_frame(0, want["input"][:100]) == 1
        t.reset_device()
        with pytest.raises(DeviceReset):
            c.send_frame(1, want["input"][100:200])
        assert np.array_equal(c.run_sample(want["input"]).logits, want["logits"])
