"""``edgesnn stream`` end to end on the host board: event files in, summary and --json out; a truncated file
and a damaged result exit 1 with the sample saved for replay; bad options give one-line errors."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edgesnn.cli import stream_cmd
from edgesnn.cli.main import main
from edgesnn.data.events import make_events, write_events
from edgesnn.host import build_host_board
from edgesnn.reference import load, to_bytes
from tests.host.conftest import VECTORS
from tests.host.test_stream import FlipLogit

FRAMES = next(v for v in VECTORS if v.name == "spike_convs_k7_k3_k1") / "model.esnn"


@pytest.fixture(scope="session")
def board_bin() -> Path:
    if shutil.which("cc") is None or shutil.which("make") is None:
        pytest.skip("the host board needs cc and make")
    return build_host_board()


@pytest.fixture
def model(tmp_path: Path, board_bin: Path) -> Path:
    path = tmp_path / "events.esnn"
    path.write_bytes(to_bytes(dataclasses.replace(load(FRAMES.read_bytes()), input_scale_num=1)))
    return path


def recordings(folder: Path, n: int) -> Path:
    rng = np.random.default_rng(0)
    for i in range(n):
        (folder / str(i % 3)).mkdir(parents=True, exist_ok=True)
        t = np.sort(rng.integers(0, 50_000, 500))
        ev = make_events(rng.integers(0, 32, 500), rng.integers(0, 32, 500), t, rng.integers(0, 2, 500))
        write_events(folder / str(i % 3) / f"r{i}.raw", ev, (32, 32), "evt2")
    return folder


def stream(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(["stream", "--no-build", "--no-progress", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_event_folder_bit_exact_with_json_log(capsys, tmp_path: Path, model: Path):
    inp = recordings(tmp_path / "rec", 5)
    log = tmp_path / "log.json"
    code, out, err = stream(capsys, "--device", "host", str(model), "--input", str(inp), "--json", str(log))
    assert code == 0, err
    assert "the model's input shape" in out and "5/5 (100.0%)" in out and "device nanoseconds" in out
    data = json.loads(log.read_text())
    assert data["summary"]["samples"] == 5 and data["summary"]["bit_exact"] == 5
    assert data["summary"]["events"] == 2500 and data["summary"]["accuracy"] is not None
    assert [s["index"] for s in data["samples"]] == list(range(5))
    assert data["samples"][0]["label"] == 0 and data["binning"]["size"] == [16, 16]
    assert data["device"]["name"] == "host" and not (tmp_path / "log-mismatches").exists()


def test_truncated_file_exits_1_naming_it(capsys, tmp_path: Path, model: Path):
    inp = recordings(tmp_path / "rec", 2)
    bad = inp / "1" / "r1.raw"
    bad.write_bytes(bad.read_bytes()[:-3])
    log = tmp_path / "log.json"
    code, out, err = stream(capsys, "--device", "host", str(model), "--input", str(inp), "--json", str(log))
    assert code == 1
    assert f"sample 1: {bad}: byte" in err and "truncated" in err
    assert "1/2" in out and json.loads(log.read_text())["samples"][1]["status"] == "error"


def test_damaged_result_exits_1_and_saves_the_sample(capsys, tmp_path: Path, model: Path, monkeypatch):
    real_open = stream_cmd._open
    monkeypatch.setattr(stream_cmd, "_open", lambda args, faults: FlipLogit(real_open(args, faults), 1))
    inp = recordings(tmp_path / "rec", 3)
    saved = tmp_path / "saved"
    code, _, err = stream(
        capsys, "--device", "host", str(model), "--input", str(inp), "--save-mismatches", str(saved)
    )
    assert code == 1 and "1 mismatches and 0 errors in 3 samples" in err and "logits[0]" in err
    folder = saved / "000001"
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["status"] == "mismatch" and meta["index"] == 1 and "verify --runtime c" in meta["replay"]
    dev = np.fromfile(folder / "device_logits.bin", dtype="<i4")
    ref = np.fromfile(folder / "reference_logits.bin", dtype="<i4")
    assert dev[0] == ref[0] + 1 and (dev[1:] == ref[1:]).all()
    assert np.fromfile(folder / "input.bin", dtype=np.uint8).size == 4 * 2 * 16 * 16
    assert (saved / "model.esnn").read_bytes() == model.read_bytes()
    assert sorted(p.name for p in saved.iterdir()) == ["000001", "model.esnn"]


def test_faults_option_still_bit_exact(capsys, tmp_path: Path, model: Path):
    inp = recordings(tmp_path / "rec", 4)
    code, out, err = stream(
        capsys,
        "--device",
        "host",
        str(model),
        "--input",
        str(inp),
        "--faults",
        "reset_after=2",
        "--mode",
        "binary",
    )
    assert code == 0, err
    assert "4/4" in out and "board restarts" in out and "device resets" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--input", "nowhere"], "--input nowhere: no such file or folder"),
        ([], "give exactly one input"),
        (["--dataset", "fashion-mnist", "--mode", "binary"], "holds images"),
        (["--camera", "--window-us", "1000"], "--camera"),
        (["--input", "x", "--faults", "drop=7"], "--faults"),
    ],
)
def test_bad_input_is_one_clear_line(capsys, tmp_path: Path, model: Path, argv, message, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if "--faults" in argv:
        recordings(tmp_path / "x", 1)
    code, _, err = stream(capsys, "--device", "host", str(model), *argv)
    assert code == 1 and message in err and err.count("\n") == 1


def test_missing_model_file(capsys, tmp_path: Path):
    code, _, err = stream(capsys, "--device", "host", str(tmp_path / "none.esnn"), "--input", "x")
    assert code == 1 and "none.esnn: no such model file" in err
