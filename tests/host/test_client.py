"""Client robustness over faulty links: corrupted and dropped bytes are retried with the same id (the device
answers from its cache, so no sample runs twice or is attributed to another), a silent peer times out with one
clear error, a boot announcement mid-request is reported as a device reset, and the trace is a hex dump."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from edgesnn.host import Client, DeviceReset, DeviceTimeout, SerialTransport, Transport, start_host_board
from edgesnn.host.framing import NO_ID, Msg, Packet, encode_frame
from tests.host.conftest import VECTORS, expected

VECTOR = next(v for v in VECTORS if v.name == "t16_int8_frames")


class Faulty(Transport):
    """Wraps a transport; `plan` maps the n-th write to 'flip', 'drop', 'cut' or 'dup'."""

    def __init__(self, inner: Transport, plan: dict[int, str]) -> None:
        super().__init__()
        self.inner, self.plan, self.writes = inner, plan, 0
        self.description = f"faulty {inner.description}"

    def _write(self, data: bytes) -> None:
        action = self.plan.get(self.writes)
        self.writes += 1
        if action == "flip" and len(data) > 3:
            data = data[:2] + bytes([data[2] ^ 0x20]) + data[3:]
        elif action == "drop":
            return
        elif action == "cut":
            data = data[: len(data) // 2]
        elif action == "dup":
            data = data + data
        self.inner.write(data)

    def _read(self, timeout: float) -> bytes:
        return self.inner.read(timeout)

    def close(self) -> None:
        self.inner.close()


@pytest.mark.parametrize("fault", ["flip", "drop", "cut", "dup"])
def test_faults_are_retried_and_results_stay_exact(board_bin: Path, fault: str):
    # max_payload 128: the 16 frames (100 B) go one FRAME each, so faults hit the middle of a sample
    inner = start_host_board(VECTOR / "model.esnn", max_payload=128, build=False)
    plan = {i: fault for i in (1, 5, 9, 17)}
    with Client(Faulty(inner, plan), timeout=0.3, retries=3, link_bps=1e6, compute_s=0.1) as board:
        board.hello()
        for _ in range(2):
            r = board.run_sample(expected(VECTOR)["input"])
            np.testing.assert_array_equal(r.logits, expected(VECTOR)["logits"])
            np.testing.assert_array_equal(r.spike_counts, expected(VECTOR)["spike_counts"])
        if fault == "dup":
            assert board.stats.stray_replies >= 1  # the duplicate's cached reply, dropped by its id
        else:
            assert board.stats.retries >= 3


def test_silent_peer_times_out_with_one_clear_error():
    with Client(SerialTransport("loop://"), timeout=0.1, retries=2, compute_s=0) as board:
        t0 = time.monotonic()
        with pytest.raises(DeviceTimeout, match="no valid reply to HELLO from loop:// after 3 tries"):
            board.hello()  # loop:// echoes our own HELLO: never a valid reply
        assert time.monotonic() - t0 < 5
        assert board.stats.retries == 2 and board.stats.bad_frames >= 1


class Rebooting(Transport):
    """Replies to nothing; after the first write it sends a boot announcement (a device restart)."""

    description = "rebooting board"

    def __init__(self) -> None:
        super().__init__()
        self.out = b""

    def _write(self, data: bytes) -> None:
        self.out = encode_frame(Packet(Msg.INFO, NO_ID, bytes(44)))

    def _read(self, timeout: float) -> bytes:
        data, self.out = self.out, b""
        if not data:
            time.sleep(min(timeout, 0.01))
        return data

    def close(self) -> None:
        pass


def test_boot_announcement_mid_request_is_a_reset():
    board = Client(Rebooting(), timeout=1.0)
    with pytest.raises(DeviceReset, match="restarted during RESET"):
        board.reset()
    assert board.stats.resets_seen == 1


def test_boot_announcement_is_absorbed_by_hello(board_bin: Path):
    with Client(start_host_board(VECTOR / "model.esnn", build=False)) as board:
        board.hello()
        assert board.stats.resets_seen == 1 and board.stats.retries == 0
