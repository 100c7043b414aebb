"""`edgesnn finetune --qat`: a normal checkpoint with the QAT settings, whose `edgesnn export` blob gives
exactly the logits and spike counts of the fine-tuned QAT model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from edgesnn import checkpoint
from edgesnn.cli.main import main
from edgesnn.qat import QATNet
from edgesnn.reference import run_batch
from tests.export.nets import tiny_model


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("bits", [8, 4])
def test_finetune_then_export_is_bit_exact(
    trained: Path, held_out, tmp_path: Path, capsys, bits: int
) -> None:
    out = tmp_path / "qat"
    code, text, _ = _run(capsys, "finetune", str(trained), "--qat", "--epochs", "1", "--lr", "2e-3",
                         "--out", str(out), "--weight-bits", str(bits), "--limit-train", "128",
                         "--limit-test", "48", "--batch-size", "32", "--threads", "1")  # fmt: skip
    assert code == 0 and "QAT int" in text and f"--weight-bits {bits}" in text
    net, payload = checkpoint.load(out / "last.pt", with_payload=True)
    qat_meta = payload["training"]["qat"]
    assert (
        qat_meta["weight_bits"] == bits and len(qat_meta["history"]) == 2 and payload["training"]["step"] == 4
    )
    assert payload["training"]["dataset"] == "fashion-mnist" and checkpoint.read(out / "best.pt")
    source = checkpoint.load(trained)
    assert not torch.equal(source.stem.conv_bn.conv.weight, net.stem.conv_bn.conv.weight)
    records = [json.loads(line) for line in (out / "finetune_log.jsonl").read_text().splitlines()]
    assert [r["kind"] for r in records] == ["start", "epoch"] and records[1]["step"] == 4

    exported = tmp_path / "export"
    code, _, _ = _run(capsys, "export", str(out / "last.pt"), "--calib", "fashion-mnist", "--calib-samples",
                      "48", "--device", "host", "-o", str(exported), "--weight-bits", str(bits),
                      "--threads", "1")  # fmt: skip
    assert code == 0
    x, _ = held_out
    ref = run_batch((exported / "model.esnn").read_bytes(), torch.round(x * 255).to(torch.uint8).numpy())
    mine = QATNet(net, bits).run_int(x)
    np.testing.assert_array_equal(mine.logits.numpy(), ref.logits)
    np.testing.assert_array_equal(mine.spike_counts.numpy(), ref.spike_counts)
    # the QAT accuracy the command reports is the exported model's accuracy
    labels = held_out[1].numpy()
    assert records[1]["int_accuracy"] == pytest.approx(float((ref.predicted == labels).mean()))


def test_synA_model_finetunes_and_exports_with_prune_bit_exact(held_out, tmp_path: Path, capsys) -> None:
    net = tiny_model(attention="C", ia_gate_init=-50.0)  # every IA gate closed: both shortcuts dead
    ckpt = checkpoint.save(tmp_path / "att.pt", net, {"dataset": "fashion-mnist"})
    out = tmp_path / "o"
    code, text, _ = _run(capsys, "finetune", str(ckpt), "--qat", "--out", str(out), "--limit-train", "32",
                         "--limit-test", "16", "--batch-size", "16", "--threads", "1")  # fmt: skip
    assert code == 0 and "QAT int8" in text
    exported = tmp_path / "export"
    code, _, _ = _run(capsys, "export", str(out / "last.pt"), "--prune", "--calib", "fashion-mnist",
                      "--calib-samples", "16", "--device", "host", "-o", str(exported),
                      "--threads", "1")  # fmt: skip
    assert code == 0
    report = json.loads((exported / "report.json").read_text())
    assert report["pruning"]["removed"] == ["stages.0.block.shortcut", "stages.1.block.shortcut"]
    x, _ = held_out
    ref = run_batch((exported / "model.esnn").read_bytes(), torch.round(x * 255).to(torch.uint8).numpy())
    mine = QATNet(checkpoint.load(out / "last.pt"), 8).run_int(x)  # unpruned
    np.testing.assert_array_equal(mine.logits.numpy(), ref.logits)


def test_qat_flag_is_required(trained: Path, tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["finetune", str(trained), "--out", str(tmp_path)])
    assert exc.value.code == 2 and "--qat" in capsys.readouterr().err
