import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import edgesnn
from edgesnn import checkpoint
from edgesnn.analysis.monitor import spiking_layers
from edgesnn.train import TrainConfig, TrainError, build_trainer, evaluate, train
from tests.conftest import REPO

TINY = {"width": 0.0625, "T": 2, "num_feature_convs": 2, "stage_channels": (128, 256), "attention": "C"}


@pytest.fixture(scope="module")
def learned(tmp_path_factory):
    """Width 1/8, T=4 SynA-C net, 250 steps of 32 real Fashion-MNIST images."""
    out = tmp_path_factory.mktemp("learn")
    cfg = TrainConfig(
        dataset="fashion-mnist",
        out_dir=str(out),
        model={"width": 0.125, "T": 4, "attention": "C"},
        epochs=1,
        batch_size=32,
        lr=5e-3,
        limit_train=250 * 32,
        limit_test=1000,
        threads=1,
        progress=False,
    )
    trainer = build_trainer(cfg)
    before = evaluate(trainer.model, trainer.test_ds, 500, "mse")
    result = trainer.run()
    return cfg, before, result, trainer


@pytest.mark.slow  # the `learned` fixture: ~110 s of training on 2 shared cores
def test_a_few_hundred_steps_lower_the_loss_and_beat_chance(fashion_dir, learned):
    _, before, result, trainer = learned
    after = evaluate(trainer.model, trainer.test_ds, 500, "mse")
    assert result["step"] == 250
    assert after["loss"] < 0.9 * before["loss"]
    assert after["accuracy"] >= 0.25, after  # chance is 0.10 on 1000 held-out images
    assert abs(result["accuracy"] - after["accuracy"]) < 1e-9


@pytest.mark.slow  # the `learned` fixture (the quick subset: test_loop.py checks the log's records)
def test_firing_log_starts_before_the_first_step_and_covers_every_neuron(learned):
    cfg, _, _, trainer = learned
    _, payload = checkpoint.load(f"{cfg.out_dir}/best.pt", with_payload=True)
    log = payload["training"]["firing_log"]
    assert [e["epoch"] for e in log] == [0, 1] and log[0]["step"] == 0 and log[1]["step"] == 250
    names = {n for n, _ in spiking_layers(trainer.model)}
    assert set(log[0]["rates"]) == names
    assert sum(n.endswith("attention.gate") for n in names) == 3  # one IA gate per shortcut
    lines = [json.loads(x) for x in Path(cfg.out_dir, "train_log.jsonl").read_text().splitlines()]
    assert [x["kind"] for x in lines] == ["start", "firing", "epoch", "firing"]
    meta = payload["training"]
    assert meta["dataset"] == "fashion-mnist" and meta["seed"] == 0 and meta["epoch"] == 1
    assert meta["edgesnn_version"] == edgesnn.__version__


def _tiny_cfg(out, **kw):
    base = dict(
        dataset="fashion-mnist",
        out_dir=str(out),
        model=dict(TINY),
        epochs=2,
        batch_size=32,
        limit_train=96,
        limit_test=64,
        calib_samples=32,
        threads=1,
        progress=False,
    )
    base.update(kw)
    return TrainConfig(**base)


def test_resume_continues_from_the_same_step_with_identical_weights(tmp_path):
    straight = train(_tiny_cfg(tmp_path / "a"))
    first = train(_tiny_cfg(tmp_path / "b", stop_after=1))
    assert first["epoch"] == 1 and first["step"] == 3
    resumed = train(_tiny_cfg(tmp_path / "b", resume=True))
    assert resumed["step"] == straight["step"] == 6
    a = torch.load(tmp_path / "a" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=True)
    for k, v in a["state_dict"].items():
        assert torch.equal(v, b["state_dict"][k]), k
    assert len(b["training"]["firing_log"]) == 3  # before step 1, after epochs 1 and 2


def test_resume_refuses_a_different_model(tmp_path):
    train(_tiny_cfg(tmp_path, epochs=1))
    with pytest.raises(TrainError, match="holds a OR-Spiking ResNet21"):
        train(_tiny_cfg(tmp_path, resume=True, model=dict(TINY, T=3)))


def test_ddp_with_two_processes_writes_the_same_checkpoint_format(tmp_path):
    out = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        "29533",
        "-m",
        "edgesnn",
        "train",
        "--dataset",
        "fashion-mnist",
        "--limit-train",
        "64",
        "--limit-test",
        "32",
        "--calib-samples",
        "16",
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--width",
        "0.0625",
        "--T",
        "2",
        "--threads",
        "1",
        "--out",
        str(out),
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    model, payload = checkpoint.load(out / "best.pt", with_payload=True)
    single = train(_tiny_cfg(tmp_path / "single", epochs=1))
    single_payload = torch.load(tmp_path / "single" / "best.pt", weights_only=True)
    assert set(payload) == set(single_payload) - {"resume"} | (set(payload) & {"resume"})
    assert payload["training"]["world_size"] == 2
    assert payload["training"]["step"] == 4  # 64 samples / (2 ranks x 8 per rank)
    assert single["step"] == 3
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, 10)
