"""The input contract: what a device receives (u8) and what the float model sees, per kind of checkpoint."""

import numpy as np
import pytest
import torch

from edgesnn.analysis.calibration import calibration_batches
from edgesnn.data.binning import BinningParams
from edgesnn.data.input_contract import IMAGES, InputContract, InputContractError, contract_of
from edgesnn.export.capture import capture
from edgesnn.models import SpikingResNet
from edgesnn.models.config import preset

RECORDED = {
    "training": {
        "dataset": "emulated-fashion-mnist",
        "binning": {"T": 4, "split_by": "time", "window_us": 1000, "size": [17, 17]},
        "input": {"kind": "events", "t_start": "first_event", "u8": "min(count, 255)", "float": "u8 / 255",
                  "sensor_size": [34, 34]},
    }
}  # fmt: skip


def test_images_by_default_and_for_image_datasets():
    assert contract_of(None, 4) == IMAGES
    assert contract_of({"training": {"dataset": "fashion-mnist"}}, 4).scale_num == 255


def test_registry_event_dataset_means_raw_counts():
    c = contract_of({"training": {"dataset": "emulated-fashion-mnist"}}, 8)
    assert c.is_events and c.scale_num == 1 and c.u8_max is None and c.t_start == 0
    assert c.binning.T == 8 and c.binning.split_by == "time"


def test_recorded_contract_wins():
    c = contract_of(RECORDED, 4)
    assert (c.scale_num, c.u8_max, c.t_start, c.sensor_size) == (255, 255, None, (34, 34))
    assert c.binning == BinningParams(T=4, split_by="time", window_us=1000, size=(17, 17))
    # saturates as in training: a count of 300 is sent as 255
    assert c.counts_to_u8(np.array([0, 3, 300]), "x").tolist() == [0, 3, 255]
    assert np.allclose(c.float_input(np.array([255], np.uint8)), 1.0)


def test_recorded_contract_errors_name_the_field():
    bad = {"training": {**RECORDED["training"], "binning": {**RECORDED["training"]["binning"], "T": 3}}}
    with pytest.raises(InputContractError, match=r"training\['binning'\]: T=3"):
        contract_of(bad, 4)
    bad = {"training": {**RECORDED["training"], "input": {**RECORDED["training"]["input"], "float": "u8*2"}}}
    with pytest.raises(InputContractError, match=r"training\['input'\]\['float'\]"):
        contract_of(bad, 4)


def test_counts_above_u8_are_an_error_unless_clipped():
    c = InputContract("events", 1)
    with pytest.raises(ValueError, match="sample 7: 256 events in one cell"):
        c.counts_to_u8(np.array([1, 256]), "sample 7")
    assert c.counts_to_u8(np.array([1, 256]), "sample 7", clip=True).tolist() == [1, 255]


def test_event_presets_export_with_count_scale():
    cfg = preset("emulated-fashion-mnist", T=2, width=0.0625, input_size=(17, 17))
    assert cfg.input_scale_num == 1
    assert capture(SpikingResNet(cfg).eval(), static_input=False).input_scale_num == 1
    assert capture(SpikingResNet(preset("fashion-mnist", T=2, width=0.0625)).eval()).input_scale_num == 255


def test_calibration_frames_follow_the_recorded_contract(fashion_dir):
    cfg = preset("emulated-fashion-mnist", T=4, width=0.0625, input_size=(17, 17), input_scale_num=255)
    batches = calibration_batches("emulated-fashion-mnist", "test", str(fashion_dir), 5, 3, cfg, RECORDED)
    assert [tuple(x.shape) for x, _ in batches] == [(4, 3, 2, 17, 17), (4, 2, 2, 17, 17)]
    x = torch.cat([b[0] for b in batches], 1)
    assert x.sum() > 0 and torch.equal(torch.round(x * 255), x * 255)  # u8 / 255 grid
