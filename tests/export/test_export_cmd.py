"""``edgesnn export`` end to end on a small checkpoint and real Fashion-MNIST images."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgesnn import checkpoint, reference
from edgesnn.cli.main import main
from tests.export.nets import tiny_model


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = tiny_model(attention="C", ia_gate_init=-50.0)  # closed IA gates: both shortcuts dead
    return checkpoint.save(
        tmp_path_factory.mktemp("ck") / "m.pt", model, training={"dataset": "fashion-mnist"}
    )


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_export_writes_blob_c_pair_and_reports(ckpt: Path, tmp_path: Path, fashion_dir: Path, capsys) -> None:
    args = ["export", str(ckpt), "--prune", "--calib", "fashion-mnist", "--calib-samples", "24",
            "--data-dir", str(fashion_dir), "--device", "qemu-mps2-an386", "--threads", "1"]  # fmt: skip
    code, out, err = _run(capsys, *args, "-o", str(tmp_path / "a"))
    assert code == 0, err
    assert "capturing the graph" in err and "# Export report" in out and "schedule **layer-major**" in out
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert files == ["model.c", "model.esnn", "model.h", "report.json", "report.md"]
    blob = (tmp_path / "a" / "model.esnn").read_bytes()
    assert reference.parse(blob).layer_major
    rep = json.loads((tmp_path / "a" / "report.json").read_text())
    assert rep["pruning"]["removed"] == ["stages.0.block.shortcut", "stages.1.block.shortcut"]
    assert rep["pruning"]["check"]["identical"] and rep["memory"]["flash_bytes"] == len(blob)
    assert rep["agreement"]["samples"] == 24 and 0 <= rep["agreement"]["agreement"] <= 1
    assert not any(layer["op"] == "logic" for layer in rep["layers"])
    # deterministic: a second export gives the same bytes and report
    assert _run(capsys, *args, "-o", str(tmp_path / "b"))[0] == 0
    for name in ("model.esnn", "model.c", "report.json", "report.md"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_too_big_for_the_device_is_one_line_with_numbers(
    ckpt: Path, tmp_path: Path, fashion_dir: Path, capsys
) -> None:
    big = tmp_path / "tiny.toml"
    big.write_text('[device]\nname = "tiny"\ncore = "m0"\nclock_mhz = 48\nruntime = "c"\n'
                   "[memory]\nflash_kib = 16\nram_kib = 8\n")  # fmt: skip
    args = [
        "export",
        str(ckpt),
        "--calib",
        "fashion-mnist",
        "--calib-samples",
        "8",
        "--data-dir",
        str(fashion_dir),
    ]
    code, _, err = _run(capsys, *args, "--device", str(big), "-o", str(tmp_path / "o"))
    last = err.strip().splitlines()[-1]
    assert code == 1 and last.startswith("edgesnn: the model does not fit tiny: RAM ")
    assert "8192 B available" in last and "16384 B available" in last
    assert not (tmp_path / "o").exists()


def test_unknown_device(ckpt: Path, tmp_path: Path, capsys) -> None:
    code, _, err = _run(
        capsys, "export", str(ckpt), "--calib", "fashion-mnist", "--device", "nope", "-o", str(tmp_path)
    )
    assert code == 1 and err.startswith("edgesnn: no device profile 'nope'")


def test_export_onnx_agrees_with_the_blob(ckpt: Path, tmp_path: Path, fashion_dir: Path, capsys) -> None:
    import numpy as np

    from edgesnn.export.onnx_step import run_onnx

    args = ["export", str(ckpt), "--prune", "--calib", "fashion-mnist", "--calib-samples", "8",
            "--data-dir", str(fashion_dir), "--device", "host", "--threads", "1", "--onnx"]  # fmt: skip
    code, out, err = _run(capsys, *args, "-o", str(tmp_path / "o"))
    assert code == 0, err
    assert "model.onnx" in out
    blob = (tmp_path / "o" / "model.esnn").read_bytes()
    x = np.random.default_rng(0).integers(0, 256, (1, 1, 28, 28), dtype=np.uint8)
    ours, ref = run_onnx(tmp_path / "o" / "model.onnx", x), reference.run(blob, x)
    assert np.array_equal(ours.logits, ref.logits)
    assert np.array_equal(ours.spike_counts, ref.spike_counts)
