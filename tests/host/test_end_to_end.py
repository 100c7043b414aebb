"""The Python client drives the host board over a pseudo-terminal: every conformance vector bit-exact
(SAMPLE, and FRAME by FRAME when the sample exceeds max_payload), BITS frames against the Python reference,
the board's own pty opened as a serial URL, and a model that does not load."""

from __future__ import annotations

import io
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

from edgesnn.host import Client, DeviceError, Encoding, HostError, SerialTransport, Trace, start_host_board
from edgesnn.reference import run as reference_run
from tests.host.conftest import VECTORS, expected

IDS = [v.name for v in VECTORS]


def _check(vector: Path, result) -> None:
    want = expected(vector)
    np.testing.assert_array_equal(result.logits, want["logits"])
    np.testing.assert_array_equal(result.spike_counts, want["spike_counts"])
    assert result.predicted == int(np.argmax(want["logits"]))


def test_vectors_are_there():
    assert len(VECTORS) >= 16


def _frame_values(vector: Path) -> int:
    c, h, w = np.frombuffer((vector / "model.esnn").read_bytes(), dtype="<u2", count=3, offset=66)
    return int(c) * int(h) * int(w)


@pytest.mark.parametrize("split", [False, True], ids=["sample", "frames"])
def test_every_vector_bit_exact_over_a_pty(board_bin: Path, split: bool):
    for vector in VECTORS:
        max_payload = 4 + _frame_values(vector) if split else None  # one FRAME fits, a 2-frame SAMPLE not
        transport = start_host_board(vector / "model.esnn", max_payload=max_payload, build=False)
        with Client(transport, timeout=2.0) as board:
            info = board.hello()
            blob = (vector / "model.esnn").read_bytes()
            assert info.model_status == 0 and info.model_crc == zlib.crc32(blob[:-4])
            assert info.counter_kind.name == "NANOSECONDS"
            for _ in range(2):  # twice: the second sample starts from a clean state
                result = board.run_sample(expected(vector)["input"])
                _check(vector, result)
                assert result.counter > 0
            frames_sent = board.stats.requests - 1
            big = 4 + expected(vector)["input"].size > info.max_payload
            assert frames_sent == (2 * info.frames if big else 2), vector.name
            assert board.stats.retries == 0 and board.stats.bad_frames == 0


@pytest.mark.parametrize("encoding", [Encoding.BITS, Encoding.U8])
def test_binary_inputs_against_the_reference(board_bin: Path, encoding: Encoding):
    rng = np.random.default_rng(5)
    for vector in [v for v in VECTORS if v.name in ("t16_int8_frames", "spike_convs_k7_k3_k1", "attn_ia_t")]:
        blob = (vector / "model.esnn").read_bytes()
        max_payload = 4 + _frame_values(vector)
        with Client(start_host_board(vector / "model.esnn", max_payload=max_payload, build=False)) as board:
            info = board.hello()
            for _ in range(2):
                x = (rng.random((info.frames, *info.input_shape)) < 0.4).astype(np.uint8)
                got = board.run_sample(x, encoding)
                ref = reference_run(blob, x)
                np.testing.assert_array_equal(got.logits, ref.logits)
                np.testing.assert_array_equal(got.spike_counts, ref.spike_counts)


def test_board_pty_as_a_serial_url(board_bin: Path):
    vector = VECTORS[0]
    proc = subprocess.Popen(
        [str(board_bin), "--pty", "--name", "host-pty", str(vector / "model.esnn")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        path = proc.stdout.readline().strip()
        assert path.startswith("/dev/"), proc.stderr.read()
        trace = io.StringIO()
        transport = SerialTransport(path, connect_timeout=5.0)
        transport.trace = Trace(trace)
        with Client(transport) as board:
            assert board.hello().device_name == "host-pty"
            _check(vector, board.run_sample(expected(vector)["input"]))
        dump = trace.getvalue()
        assert dump.startswith("> ") and "\n< " in dump and "  0000  " in dump
    finally:
        proc.terminate()
        proc.wait(timeout=5)


def test_model_that_does_not_load(board_bin: Path, tmp_path: Path):
    blob = bytearray((VECTORS[0] / "model.esnn").read_bytes())
    blob[-1] ^= 0xFF
    (tmp_path / "bad.esnn").write_bytes(bytes(blob))
    with Client(start_host_board(tmp_path / "bad.esnn", pty=False, build=False)) as board:
        assert board.hello().model_status == 6  # ESNN_ERR_CRC
        with pytest.raises(HostError, match="no usable model"):
            board.run_sample(expected(VECTORS[0])["input"])
        with pytest.raises(DeviceError, match="NO_MODEL"):
            board.reset()
