"""``edgesnn verify``: every runtime bit-exact on the conformance vectors, a model on random input, and a
corrupted expected file (or a wrong runtime) reported with exit 1 naming the vector and field."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from edgesnn.cli import verify_cmd
from edgesnn.cli.main import main
from edgesnn.reference import Result

VECTOR_ROOT = Path(__file__).resolve().parents[2] / "export" / "vectors" / "v1"
VECTORS = sorted(p.parent.name for p in VECTOR_ROOT.glob("*/model.esnn"))


def verify(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(["verify", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _c_available() -> bool:
    return shutil.which("cc") is not None and shutil.which("make") is not None


@pytest.mark.parametrize("runtime", ["reference", "c"])
def test_all_vectors_pass(capsys: pytest.CaptureFixture, runtime: str):
    if runtime == "c" and not _c_available():
        pytest.skip("the C runtime needs cc and make")
    code, out, err = verify(capsys, "--runtime", runtime)
    assert code == 0, err
    for name in VECTORS:
        assert any(
            line.startswith(name) and line.split()[1:] == ["ok", "ok", "ok"] for line in out.splitlines()
        )
    assert f"{len(VECTORS)}/{len(VECTORS)} bit-exact ({runtime} runtime)" in out


def test_onnx_vectors_pass(capsys: pytest.CaptureFixture):
    pytest.importorskip("onnxruntime")
    code, out, err = verify(capsys, "--runtime", "onnx", "--vectors", str(VECTOR_ROOT / "residual_or"))
    assert code == 0, err
    assert "1/1 bit-exact (onnx runtime)" in out


def _copy(tmp_path: Path, *names: str) -> Path:
    for name in names:
        shutil.copytree(VECTOR_ROOT / name, tmp_path / name)
    return tmp_path


@pytest.mark.parametrize(
    ("file", "dtype", "field"),
    [
        ("final_state.bin", "<i4", "state"),
        ("logits.bin", "<i4", "logits"),
        ("spike_counts.bin", "<u4", "spikes"),
    ],
)
def test_corrupted_expected_file_exits_1_naming_it(
    capsys: pytest.CaptureFixture, tmp_path: Path, file: str, dtype: str, field: str
):
    root = _copy(tmp_path, "residual_or", "int4_weights")
    path = root / "int4_weights" / file
    arr = np.fromfile(path, dtype=dtype)
    arr[-1] += 1
    arr.tofile(path)
    code, out, err = verify(capsys, "--runtime", "reference", "--vectors", str(root))
    assert code == 1
    assert "1/2 bit-exact" in out
    rows = {line.split()[0]: line.split()[-3:] for line in out.splitlines()[1:3]}
    assert rows["residual_or"] == ["ok", "ok", "ok"]
    assert rows["int4_weights"][("logits", "spikes", "state").index(field)] == "FAIL"
    assert "int4_weights" in err and file in err
    assert "residual_or" not in err
    note = next(line for line in out.splitlines() if "disagrees with" in line)
    assert file in note and "stale or corrupted" in note


def test_layer_diff_names_the_lif_op(capsys: pytest.CaptureFixture, tmp_path: Path):
    root = _copy(tmp_path, "residual_or")
    path = root / "residual_or" / "final_state.bin"
    arr = np.fromfile(path, dtype="<i4")
    arr[0] += 7
    arr.tofile(path)
    code, out, err = verify(capsys, "--runtime", "reference", "--vectors", str(root / "residual_or"))
    assert code == 1
    assert "final_state.bin at op 1 (LIF 0" in err
    assert "state diffs 1  DIFF (first at c=0 y=0 x=0" in out


def test_a_wrong_runtime_is_caught(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch):
    """A runtime that flips one spike count: exit 1, the layer named, the reference siding with the files."""
    from edgesnn.reference import run as reference_run

    def broken(blob: bytes, x: np.ndarray) -> Result:
        r = reference_run(blob, x)
        counts = r.spike_counts.copy()
        counts[1] += 1
        return Result(logits=r.logits, predicted=r.predicted, spike_counts=counts, final_state=r.final_state)

    monkeypatch.setattr(verify_cmd, "_runner", lambda name, kernels: broken)
    code, out, err = verify(capsys, "--vectors", str(VECTOR_ROOT / "residual_and"))
    assert code == 1
    assert "residual_and" in err and "spike_counts.bin at op" in err and "LIF 1" in err
    assert "the runtime under test diverges" in out


@pytest.mark.parametrize("runtime", ["reference", "c"])
def test_model_on_random_and_given_input(capsys: pytest.CaptureFixture, tmp_path: Path, runtime: str):
    if runtime == "c" and not _c_available():
        pytest.skip("the C runtime needs cc and make")
    model = VECTOR_ROOT / "t16_int8_frames" / "model.esnn"
    code, out, err = verify(capsys, "--runtime", runtime, str(model), "--samples", "2", "--seed", "5")
    assert code == 0, err
    assert "random 1 (seed 5)" in out and "2/2 bit-exact" in out
    code, out, err = verify(
        capsys, "--runtime", runtime, str(model), "--input", str(model.parent / "input.bin")
    )
    assert code == 0, err
    assert "input.bin" in out


def test_bad_usage(capsys: pytest.CaptureFixture, tmp_path: Path):
    model = VECTOR_ROOT / "t1_int8" / "model.esnn"
    code, _, err = verify(capsys, str(model), "--vectors", str(VECTOR_ROOT))
    assert code == 1 and "not both" in err
    short = tmp_path / "short.bin"
    short.write_bytes(b"\0" * 3)
    code, _, err = verify(capsys, "--runtime", "reference", str(model), "--input", str(short))
    assert code == 1 and "short.bin" in err
    code, _, err = verify(capsys, "--vectors", str(tmp_path))
    assert code == 1 and "no conformance vectors" in err
    bad = tmp_path / "bad.esnn"
    bad.write_bytes(b"ESNN" + bytes(60))
    code, _, err = verify(capsys, "--runtime", "reference", str(bad))
    assert code == 1 and "bad.esnn" in err


def _need_qemu() -> None:
    if shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("needs qemu-system-arm and arm-none-eabi-gcc (tests/run.sh installs them)")


def test_verify_on_the_qemu_board(capsys: pytest.CaptureFixture):
    _need_qemu()
    vector = verify_cmd.DEFAULT_VECTORS / "residual_or"
    assert main(["verify", "--device", "qemu-mps2-an386", "--vectors", str(vector)]) == 0
    out = capsys.readouterr().out
    assert "residual_or  ok      ok      n/a" in out
    assert "1/1 bit-exact (on qemu-mps2-an386)" in out
    assert "instructions per sample on qemu-mps2-an386" in out


def test_verify_on_a_board_holding_another_model_fails(capsys: pytest.CaptureFixture):
    _need_qemu()
    from edgesnn.host.launch import open_device

    with open_device("qemu-mps2-an386", verify_cmd.DEFAULT_VECTORS / "t1_int8" / "model.esnn") as board:
        url = board.url
        board._serial.close()  # free the board's single connection for the command
        model = verify_cmd.DEFAULT_VECTORS / "residual_or" / "model.esnn"
        assert main(["verify", "--device", "qemu-mps2-an386", "--port", url, str(model)]) == 1
    assert "holds another model" in capsys.readouterr().err
    assert main(["verify", "--port", "socket://127.0.0.1:1", str(model)]) == 1
    assert "--port needs --device" in capsys.readouterr().err
