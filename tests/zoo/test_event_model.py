"""The shipped event-input demo model (edgesnn/zoo/emulated_fashion_mnist_or_w8_t8.pt): it loads, records the
binning a stream must reproduce, exports with --prune for the QEMU board, and on held-out EMULATED streams of
Fashion-MNIST test images it beats chance widely with the exported blob bit-exact with its QAT forward."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import edgesnn
from edgesnn import checkpoint
from edgesnn.data.emulator import emulate_batch
from edgesnn.data.events.dispatch import write_events
from edgesnn.data.images import load_fashion_mnist
from edgesnn.data.sources import FileSource, stream_frames
from edgesnn.devices import load_profile
from edgesnn.export.agreement import to_u8 as float_to_u8
from edgesnn.export.pipeline import export_model
from edgesnn.qat import QATNet, int_net_for_export
from edgesnn.reference import run_batch
from edgesnn.zoo import DEMO_MODEL
from edgesnn.zoo import train_event_model as zoo

N_HELD_OUT = 20
FIRST = 1000  # test images 1000..1019: inside the script's held-out set, not the first calibration batch


@pytest.fixture(scope="module")
def shipped() -> tuple[torch.nn.Module, dict]:
    torch.set_num_threads(1)
    assert zoo.EVENT_MODEL.is_file(), f"{zoo.EVENT_MODEL}: missing (python -m edgesnn.zoo.train_event_model)"
    model = edgesnn.load(zoo.EVENT_MODEL)
    _, payload = checkpoint.load(zoo.EVENT_MODEL, with_payload=True)
    return model, payload


@pytest.fixture(scope="module")
def streams(shipped) -> tuple[torch.Tensor, torch.Tensor]:
    return zoo.held_out(FIRST, N_HELD_OUT, zoo.binning_of(shipped[1]))


def test_config_is_the_event_preset_with_the_recorded_binning(shipped) -> None:
    model, payload = shipped
    cfg = model.config
    assert cfg == zoo.MODEL
    assert (cfg.name, cfg.in_channels, cfg.num_classes) == ("emulated-fashion-mnist", 2, 10)
    assert (cfg.attention, cfg.block, cfg.connect, cfg.width) == ("none", "sew", "OR", 0.125)
    binning = zoo.binning_of(payload)
    assert binning == zoo.BINNING
    assert binning.split_by == "time" and binning.window_us is not None  # streamable: fixed windows
    assert zoo.check_config(cfg, binning) == []
    inp = payload["training"]["input"]
    assert inp["sensor_size"] == [34, 34] and inp["t_start"] == "first_event" and inp["emulated"] is True
    assert inp["emulator"] == zoo.EMULATOR.to_dict()
    assert payload["training"]["dataset"] == "emulated-fashion-mnist"


def test_binning_of_refuses_an_image_model() -> None:
    _, payload = checkpoint.load(DEMO_MODEL, with_payload=True)
    with pytest.raises(ValueError, match="training\\['binning'\\]"):
        zoo.binning_of(payload)


def test_recorded_binning_is_what_streaming_a_file_gives(shipped, tmp_path: Path) -> None:
    """Replaying an emulated stream through FileSource + stream_frames (one window per frame, the window
    origin at the first event) gives exactly the frames the model was trained on."""
    binning = zoo.binning_of(shipped[1])
    image = load_fashion_mnist("test").images[FIRST : FIRST + 1, 0]
    events = emulate_batch(image, zoo.EMULATOR, zoo.EMULATOR_SEED, FIRST)[0]  # test image FIRST's stream
    write_events(tmp_path / "s.bin", events, tuple(zoo.EMULATOR.canvas), "nmnist")  # N-MNIST file
    x, _ = zoo.held_out(FIRST, 1, binning)
    with FileSource(tmp_path / "s.bin") as src:
        frames = [fr[0] for _, fr in stream_frames(src, binning)]
    assert len(frames) == binning.T  # the 300 ms stream fills exactly T windows
    streamed = zoo.to_u8(np.stack(frames))
    assert np.array_equal(streamed, float_to_u8(x[:, 0], 255))


def test_exports_pruned_and_bit_exact_and_accurate_on_held_out_streams(shipped, streams) -> None:
    model, payload = shipped
    x, y = streams
    res = export_model(
        model, [(x, y)], load_profile("qemu-mps2-an386"), 8, prune=True, int_model=int_net_for_export
    )
    assert res.plan.schedule == "time-major"  # causal: the board runs it frame by frame
    ref = run_batch(res.blob, float_to_u8(x.transpose(0, 1), 255))
    mine = QATNet(model, 8, static_input=False).eval().run_int(x)
    assert np.array_equal(ref.logits, mine.logits.numpy())
    right = int((torch.as_tensor(ref.predicted) == y).sum())
    assert right >= 10, f"integer model right on {right} of {N_HELD_OUT} held-out streams (chance: 2)"
    assert float(res.agreement.agreement) >= 0.8
    # the script's own held-out numbers, recorded in the checkpoint
    exact = payload["training"]["bit_exact"]
    assert exact["bit_exact_logits"] == exact["samples"] >= 1000
    assert exact["schedule"] == "time-major" and exact["device"] == "qemu-mps2-an386"


def test_log_records_the_plan_and_the_result() -> None:
    records = [json.loads(line) for line in zoo.EVENT_LOG.read_text().splitlines()]
    kinds = [r["kind"] for r in records]
    for kind in ("start", "throughput", "plan", "data", "epoch", "qat", "exact", "done"):
        assert kind in kinds, f"{zoo.EVENT_LOG.name} has no {kind!r} record"
    plan = next(r for r in records if r["kind"] == "plan")
    assert plan["train_images"] > 0 and plan["epochs"] > 0 and set(plan["rates"]) >= {"train", "emulate"}
    done = next(r for r in records if r["kind"] == "done")
    assert done["total_min"] <= 60
