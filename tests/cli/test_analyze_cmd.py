"""``edgesnn analyze`` on a briefly trained checkpoint and on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from edgesnn import checkpoint
from edgesnn.cli.main import main
from edgesnn.models.resnet import build_model
from edgesnn.train import TrainConfig, train
from tests.conftest import tiny_config

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("analyze") / "run"
    cfg = TrainConfig(
        dataset="fashion-mnist",
        out_dir=str(out),
        model={**tiny_config(attention="C").to_dict(), "name": "fashion-mnist"},
        epochs=2,
        batch_size=32,
        limit_train=64,
        limit_test=32,
        calib_samples=16,
        threads=1,
        progress=False,
    )
    train(cfg)
    return out / "last.pt"


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(["analyze", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_table_json_and_plots(trained: Path, tmp_path: Path, fashion_dir: Path, capsys) -> None:
    code, out, _ = run(
        capsys, str(trained), "--calib", "24", "--batch-size", "16", "--data-dir", str(fashion_dir)
    )
    assert code == 0
    assert "on fashion-mnist (test, first 24 samples)" in out  # dataset taken from the checkpoint
    assert "stages.1.block.shortcut.lif" in out and "over training" in out
    assert "E_MAC 4.6 pJ, E_AC 0.9 pJ" in out

    plots = tmp_path / "plots"
    code, out, _ = run(
        capsys, str(trained), "--data", "fashion-mnist", "--calib", "24", "--json", "--plots", str(plots),
        "--e-mac", "5", "--near-dead-threshold", "0.2",
    )  # fmt: skip
    assert code == 0
    d = json.loads(out)
    assert d["samples"] == 24 and d["dataset"] == "fashion-mnist"
    assert d["ops"]["e_mac_pj"] == 5.0 and d["pruning"]["near_dead_threshold"] == 0.2
    assert [s["index"] for s in d["pruning"]["shortcuts"]] == [1, 2]
    log = checkpoint.load(trained, with_payload=True)[1]["training"]["firing_log"]
    assert all(s["history"] for s in d["pruning"]["shortcuts"]) and len(log) == 3
    assert sorted(Path(p).name for p in d["plots"]) == [
        "firing_rates.png",
        "spike_counts.png",
        "thermogram.png",
    ]
    assert all((plots / n).stat().st_size > 1000 for n in ("firing_rates.png", "thermogram.png"))


def test_bad_input_is_one_line(trained: Path, tmp_path: Path, capsys) -> None:
    code, _, err = run(capsys, str(trained), "--data-dir", str(tmp_path / "missing"))
    assert code == 1 and err.strip() == f"edgesnn: --data-dir {tmp_path / 'missing'}: no such folder"

    code, _, err = run(capsys, str(tmp_path / "nope.pt"), "--data", "fashion-mnist")
    assert code == 1 and err.startswith("edgesnn: ") and "no such checkpoint file" in err

    with pytest.raises(SystemExit) as info:  # a usage error, found when the line is parsed
        run(capsys, str(trained), "--calib", "0")
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.startswith(
        "edgesnn: analyze: argument --calib: must be 1 or more, got 0"
    )


def test_checkpoint_without_training_log(tmp_path: Path, fashion_dir: Path, capsys) -> None:
    path = checkpoint.save(tmp_path / "bare.pt", build_model(tiny_config()).eval())
    code, _, err = run(capsys, str(path))
    assert code == 1 and "no dataset recorded in the checkpoint; pass --data" in err

    code, out, err = run(
        capsys, str(path), "--data", "fashion-mnist", "--data-dir", str(fashion_dir), "--calib", "8",
        "--plots", str(tmp_path / "p"),
    )  # fmt: skip
    assert code == 0
    assert "edgesnn: note: thermogram.png not written: no training firing log" in err
    assert "wrote" in out and not (tmp_path / "p" / "thermogram.png").exists()
    assert (tmp_path / "p" / "firing_rates.png").stat().st_size > 1000


def test_dataset_that_does_not_fit_the_model(tmp_path: Path, fashion_dir: Path, capsys) -> None:
    cfg = tiny_config(in_channels=2, input_size=(34, 34))
    path = checkpoint.save(tmp_path / "events.pt", build_model(cfg).eval(), training={"dataset": "x"})
    code, _, err = run(capsys, str(path), "--data", "fashion-mnist", "--data-dir", str(fashion_dir))
    assert code == 1
    assert err.strip() == (
        "edgesnn: dataset 'fashion-mnist' gives inputs of 1x28x28, the model expects 2x34x34: wrong --data?"
    )
