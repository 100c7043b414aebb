import pytest
import torch

import edgesnn
from edgesnn import checkpoint
from edgesnn.checkpoint import CheckpointError
from edgesnn.cli.main import main
from edgesnn.models import build_model
from tests.conftest import tiny_config


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(3)
    model = build_model(tiny_config(attention="C", ia_gate_init=2.5))
    model.train()
    model(torch.rand(8, 1, 28, 28))  # move BN running stats away from their defaults
    model.eval()
    path = checkpoint.save(tmp_path / "m.pt", model, {"dataset": "fashion-mnist", "accuracy": 0.5, "seed": 3})
    return model, path


def test_round_trip_rebuilds_the_model_and_outputs_are_bit_identical(saved):
    model, path = saved
    loaded = edgesnn.load(path)
    assert loaded.config == model.config
    x = torch.rand(4, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    _, payload = checkpoint.load(path, with_payload=True)
    assert payload["training"]["dataset"] == "fashion-mnist"
    assert payload["package_version"] == edgesnn.__version__


def test_other_architecture_is_reported_with_the_differences(saved, tmp_path):
    _, path = saved
    payload = torch.load(path, weights_only=True)
    payload["model_config"]["attention"] = "none"  # config says no attention, weights have it
    torch.save(payload, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match=r"do not fit the architecture OR-Spiking ResNet21.*unexpected"):
        checkpoint.load(tmp_path / "other.pt")


def test_newer_format_asks_for_an_upgrade(saved, tmp_path):
    _, path = saved
    payload = torch.load(path, weights_only=True)
    payload["format_version"] = checkpoint.FORMAT_VERSION + 1
    torch.save(payload, tmp_path / "new.pt")
    with pytest.raises(CheckpointError, match="upgrade edgesnn"):
        checkpoint.load(tmp_path / "new.pt")


def test_unknown_config_field_is_reported(saved, tmp_path):
    _, path = saved
    payload = torch.load(path, weights_only=True)
    payload["model_config"]["hyperdrive"] = True
    torch.save(payload, tmp_path / "field.pt")
    with pytest.raises(CheckpointError, match="hyperdrive"):
        checkpoint.load(tmp_path / "field.pt")


def test_bare_state_dict_and_garbage_are_rejected(saved, tmp_path):
    model, path = saved
    torch.save(model.state_dict(), tmp_path / "bare.pt")
    with pytest.raises(CheckpointError, match=r"not an edgesnn checkpoint.*bare state_dict"):
        checkpoint.load(tmp_path / "bare.pt")
    data = path.read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="damaged or cut short"):
        checkpoint.load(tmp_path / "cut.pt")
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        checkpoint.load(tmp_path / "missing.pt")


def test_cli_prints_one_line_error_and_exits_1(tmp_path, capsys):
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    code = main(["train", "--resume", "--out", str(tmp_path / "nowhere"), "--limit-train", "8"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("edgesnn: --resume: no ") and "Traceback" not in err
