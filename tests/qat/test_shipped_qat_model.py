"""The shipped QAT demo model (``python -m edgesnn.zoo.finetune_demo_qat``): its recorded results, and its
``--prune`` export equal to the QAT model on real held-out images."""

from __future__ import annotations

import json

import numpy as np
import torch

from edgesnn import checkpoint
from edgesnn.data.registry import open_dataset
from edgesnn.devices import load_profile
from edgesnn.export.pipeline import export_model
from edgesnn.qat import QATNet, int_net_for_export
from edgesnn.reference import run_batch
from edgesnn.zoo.finetune_demo_qat import QAT_LOG, QAT_MODEL


def test_recorded_results() -> None:
    payload = checkpoint.read(QAT_MODEL)
    final = payload["training"]["qat"]["final"]
    assert final["test_images"] == 10000 and final["logits_equal"] == 10000
    assert final["spike_counts_equal"] == 10000
    records = [json.loads(line) for line in QAT_LOG.read_text().splitlines()]
    assert records[0]["kind"] == "start" and records[-1] == final
    assert records[-2]["kind"] == "train" and records[-2]["step"] == records[-2]["of"]
    assert abs(final["qat_eval_accuracy"] - final["float_accuracy_original"]) <= 0.005


def test_pruned_export_equals_the_qat_model_on_held_out_images() -> None:
    torch.set_num_threads(1)
    net = checkpoint.load(QAT_MODEL)
    ds = open_dataset("fashion-mnist", "test", limit=40)
    x, y = ds.get_batch(torch.arange(len(ds)))
    calib, held_out = (x[:16], y[:16]), x[16:]
    result = export_model(net, [calib], load_profile("host"), 8, prune=True, int_model=int_net_for_export)
    assert result.prune is not None and result.prune.removed  # the demo model has dead shortcuts
    qat = QATNet(checkpoint.load(QAT_MODEL), 8)  # unpruned
    mine = qat.run_int(held_out)
    ref = run_batch(result.blob, torch.round(held_out * 255).to(torch.uint8).numpy())
    np.testing.assert_array_equal(mine.logits.numpy(), ref.logits)
