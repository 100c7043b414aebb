"""Stopping ``edgesnn stream`` / ``edgesnn flash`` with Ctrl-C (SIGINT), SIGTERM or SIGKILL: no board process
(esnn_board, qemu-system-arm) outlives the command, no temp folder stays behind, and an interrupted stream
keeps its summary and --json log of the samples done and says how to resume."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from edgesnn.data.events import make_events, write_events
from tests.cli.proc_tree import wait_for_child, wait_gone
from tests.cli.test_stream_cmd import FRAMES

REPO = Path(__file__).resolve().parents[2]
QEMU_MODEL = REPO / "export" / "vectors" / "v1" / "residual_or" / "model.esnn"
ENV = os.environ | {"PYTHONPATH": str(REPO)}

pytestmark = pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads /proc (Linux)")


@pytest.fixture(scope="module")
def board() -> Path:
    if shutil.which("cc") is None or shutil.which("make") is None:
        pytest.skip("the host board needs cc and make")
    from edgesnn.host import build_host_board

    return build_host_board()


@pytest.fixture
def long_stream(tmp_path: Path, board: Path) -> tuple[Path, Path]:
    """An event model and a folder of 3000 recordings (hard links of one): a stream that runs for seconds."""
    import dataclasses

    from edgesnn.reference import load, to_bytes

    model = tmp_path / "events.esnn"
    model.write_bytes(to_bytes(dataclasses.replace(load(FRAMES.read_bytes()), input_scale_num=1)))
    rng = np.random.default_rng(0)
    ev = make_events(
        rng.integers(0, 32, 200), rng.integers(0, 32, 200), np.sort(rng.integers(0, 9000, 200)), np.ones(200)
    )
    folder = tmp_path / "rec" / "0"
    folder.mkdir(parents=True)
    write_events(folder / "r0000.raw", ev, (32, 32), "evt2")
    for i in range(1, 3000):
        os.link(folder / "r0000.raw", folder / f"r{i:04d}.raw")
    return model, tmp_path / "rec"


def _stream(model: Path, inp: Path, log: Path) -> subprocess.Popen:
    argv = [sys.executable, "-m", "edgesnn", "stream", "--device", "host", "--no-build", "--no-progress"]
    argv += [str(model), "--input", str(inp), "--json", str(log)]
    return subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, env=ENV
    )


def _stop_mid_stream(proc: subprocess.Popen, sig: int) -> tuple[int, str, str, int, str]:
    """Wait for the board and a second of streaming, send ``sig``; (exit code, out, err, board pid, cmd)."""
    try:
        pid, cmd = wait_for_child(proc.pid, "esnn_board")
        time.sleep(1.5)
        assert proc.poll() is None, "the stream ended before the signal: make it longer"
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, out, err, pid, cmd


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_stopped_stream_keeps_its_log_and_says_how_to_resume(long_stream, tmp_path: Path, sig, code):
    model, inp = long_stream
    log = tmp_path / "log.json"
    rc, out, err, board, cmd = _stop_mid_stream(_stream(model, inp, log), sig)
    assert rc == code, err
    assert wait_gone(board, cmd), "the board process outlived the stream"
    data = json.loads(log.read_text())
    n = data["summary"]["samples"]
    assert 0 < n < 3000 and [s["index"] for s in data["samples"]] == list(range(n))
    assert all(s["status"] == "ok" for s in data["samples"])
    assert "interrupted after" in data["summary"]["aborted"] and f"{n}/{n}" in out  # the summary table
    m = re.search(r"resume with: (.*)", err)
    assert m and f"--start {n}" in m.group(1) and "log-from" in m.group(1), err
    assert ("terminated" if sig == signal.SIGTERM else "interrupted") in err
    assert not (tmp_path / "log-mismatches").exists()


def test_resumed_stream_numbers_from_start(long_stream, tmp_path: Path, capsys):
    from edgesnn.cli.main import main

    model, inp = long_stream
    log = tmp_path / "rest.json"
    argv = ["stream", "--device", "host", "--no-build", "--no-progress", str(model), "--input", str(inp)]
    assert main([*argv, "--start", "2995", "--json", str(log)]) == 0, capsys.readouterr().err
    data = json.loads(log.read_text())
    assert [s["index"] for s in data["samples"]] == [2995, 2996, 2997, 2998, 2999]
    assert data["start"] == 2995 and data["samples"][0]["source"].endswith("r2995.raw")


def test_killed_stream_takes_its_board_along(long_stream, tmp_path: Path):
    """SIGKILL runs no cleanup: the board goes by its parent-death signal (edgesnn.host.children)."""
    model, inp = long_stream
    rc, _, _, board, cmd = _stop_mid_stream(_stream(model, inp, tmp_path / "log.json"), signal.SIGKILL)
    assert rc == -signal.SIGKILL
    assert wait_gone(board, cmd), "the board process outlived a killed stream"


def _flash(device: str, model: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgesnn", "flash", "--device", device, str(model)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=ENV,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if "use --port" in line:
            return proc, line
    proc.wait()
    raise AssertionError(f"flash printed no port: {proc.stderr.read() if proc.stderr else ''}")


def test_sigterm_to_flash_qemu_stops_qemu_and_removes_its_temp_folder():
    if shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("needs qemu-system-arm and arm-none-eabi-gcc (tests/run.sh installs them)")
    proc, _ = _flash("qemu-mps2-an386", QEMU_MODEL)
    try:
        pid, cmd = wait_for_child(proc.pid, "qemu-system-arm", timeout=10)
        temp = Path(re.search(r"unix:(\S+)/monitor\.sock", cmd).group(1))
        assert temp.is_dir()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 143 and "terminated" in err
    assert wait_gone(pid, cmd), "qemu-system-arm outlived flash"
    assert not temp.exists(), f"{temp} left behind"


def test_sigterm_to_flash_host_stops_the_board(board: Path):
    proc, _ = _flash("host", QEMU_MODEL)
    try:
        pid, cmd = wait_for_child(proc.pid, "esnn_board", timeout=10)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 143
    assert wait_gone(pid, cmd), "the host board outlived flash"
