"""`edgesnn stream` checks a QAT checkpoint's device results for *equality* with PyTorch: the shipped event
model (QAT-fine-tuned) streamed as emulated DVS streams to the host board, binned by its recorded contract;
a QAT model that differs by one weight is caught as a mismatch."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from edgesnn import checkpoint
from edgesnn.analysis.calibration import calibration_batches
from edgesnn.devices import load_profile
from edgesnn.export.pipeline import export_model
from edgesnn.host import Client, start_host_board
from edgesnn.qat import int_net_for_export, qat_model_of
from edgesnn.reference import load
from edgesnn.stream import ModelInput, Streamer
from edgesnn.stream.samples import dataset_samples, resolve_contract
from edgesnn.zoo.train_event_model import EVENT_MODEL
from tests.conftest import FASHION_DIR


@pytest.fixture(scope="module")
def event_model(tmp_path_factory: pytest.TempPathFactory):
    torch.set_num_threads(1)
    model, payload = checkpoint.load(EVENT_MODEL, with_payload=True)
    calib = calibration_batches(
        "emulated-fashion-mnist", "test", str(FASHION_DIR), 16, 16, model.config, payload
    )
    result = export_model(model, calib, load_profile("host"), 8, prune=True, int_model=int_net_for_export)
    path = tmp_path_factory.mktemp("event") / "model.esnn"
    path.write_bytes(result.blob)
    return path, model, payload


def _samples(path: Path, payload: dict, fashion_dir: Path, n: int):
    mi = ModelInput.of(load(path.read_bytes()))
    contract = resolve_contract(mi, "emulated-fashion-mnist", payload)
    assert contract.t_start is None and contract.u8_max == 255  # as recorded, not the dataset's defaults
    items = list(dataset_samples("emulated-fashion-mnist", mi, root=fashion_dir, limit=n, contract=contract))
    return mi, items[-6:]  # not the calibration streams


def test_qat_checkpoint_equal_to_pytorch_on_every_sample(board_bin: Path, event_model, fashion_dir: Path):
    path, model, payload = event_model
    mi, items = _samples(path, payload, fashion_dir, 22)
    qat = qat_model_of(model, payload, mi.static)
    assert qat is not None
    with Client(start_host_board(path, build=False), timeout=3.0) as client:
        report = Streamer(client, path.read_bytes(), float_model=model, qat_model=qat).run(items)
    s = report.summary()
    assert s["bit_exact"] == 6 and s["pytorch_exact"] == 6 and s["pytorch_exact_samples"] == 6
    assert all(o.events and o.events > 100 for o in report.outcomes)


def test_a_different_pytorch_model_is_caught(board_bin: Path, event_model, fashion_dir: Path):
    path, model, payload = event_model
    mi, items = _samples(path, payload, fashion_dir, 22)
    other = copy.deepcopy(model)
    with torch.no_grad():
        other.head.fc.bias[0] += 5.0  # the readout bias of class 0: every integer logit 0 moves
    qat = qat_model_of(other, payload, mi.static)
    with Client(start_host_board(path, build=False), timeout=3.0) as client:
        report = Streamer(client, path.read_bytes(), qat_model=qat).run(items)
    s = report.summary()
    assert s["pytorch_exact"] == 0 and s["mismatches"] == 6 and not report.ok
    assert "vs QAT PyTorch" in report.outcomes[0].first_diff
