"""The one training loop (issue 15, item 4): `edgesnn train` and `finetune --qat` run the same `Trainer`,
record the same core keys and resume the same way; a resumed run equals an uninterrupted one (CPU, 1
thread)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from edgesnn import checkpoint
from edgesnn.models.resnet import build_model
from edgesnn.qat import QATNet
from edgesnn.qat.finetune import FinetuneConfig, finetune
from edgesnn.train import Hook, LoopConfig, TrainConfig, Trainer, TrainError, train
from edgesnn.train.loop import TimeBudget, fixed
from tests.conftest import tiny_config

CORE_EPOCH_KEYS = {"kind", "epoch", "step", "train_loss", "seconds"}


class Batches:
    """32 random u8/255 images with labels: a dataset with ``get_batch`` (as the cached ones)."""

    def __init__(self, n: int = 32, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randint(0, 256, (n, 1, 28, 28), generator=g).float() / 255
        self.y = torch.randint(0, 10, (n,), generator=g)

    def __len__(self) -> int:
        return len(self.y)

    def get_batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[idx], self.y[idx]


class SaveLast(Hook):
    def __init__(self, path: Path) -> None:
        self.path = path

    def on_epoch(self, t: Trainer, r) -> None:
        meta = {"epoch": t.epoch, "step": t.step, "history": t.history}
        t.history.append({"epoch": r.epoch, "train_loss": r.train_loss})
        checkpoint.save(self.path, t.model, meta, t.resume_state())


def _trainer(path: Path, qat: bool, schedule: str, **loop) -> Trainer:
    torch.manual_seed(0)
    model = build_model(tiny_config())
    cfg = LoopConfig(epochs=3, batch_size=8, lr=2e-3, seed=1, schedule=schedule, **loop)
    flip = lambda x, g: torch.where(torch.rand(len(x), 1, 1, 1, generator=g) < 0.5, x.flip(-1), x)  # noqa: E731
    return Trainer(model, Batches(), cfg, wrap=QATNet if qat else None, augment=flip, hooks=[SaveLast(path)])


@pytest.mark.parametrize(("qat", "schedule"), [(False, "cosine"), (True, "constant")])
def test_a_resumed_run_equals_an_uninterrupted_one(tmp_path: Path, qat: bool, schedule: str) -> None:
    torch.set_num_threads(1)
    straight = _trainer(tmp_path / "a.pt", qat, schedule)
    straight.run()
    first = _trainer(tmp_path / "b.pt", qat, schedule, stop_after=1)
    assert first.run()["epoch"] == 1 and first.step == 4
    resumed = _trainer(tmp_path / "b.pt", qat, schedule)
    resumed.resume_from(checkpoint.read(tmp_path / "b.pt"), tmp_path / "b.pt")
    assert (resumed.epoch, resumed.step) == (1, 4)
    resumed.run()
    assert resumed.step == straight.step == 12
    for k, v in straight.model.state_dict().items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k
    a, b = straight.opt.state_dict()["state"], resumed.opt.state_dict()["state"]
    assert all(torch.equal(a[i]["exp_avg"], b[i]["exp_avg"]) for i in a)
    assert [h["train_loss"] for h in straight.history] == [h["train_loss"] for h in resumed.history]


def test_resumed_mid_epoch_with_a_step_schedule_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    """The zoo QAT script's shape: one pass over a fixed subset, cosine LR over the steps, augmentation
    seeded per step, resumed inside the pass."""
    torch.set_num_threads(1)
    subset = torch.randperm(32, generator=torch.Generator().manual_seed(3))[:24]
    kw = dict(schedule="cosine-steps", total_steps=3, augment_rng="step")

    def make() -> Trainer:
        t = _trainer(tmp_path / "x.pt", True, **kw)
        t.order = fixed(subset)
        t.loop.epochs = 1
        return t

    straight = make()
    straight.run()
    part = make()
    part.loop.max_steps = 1
    part.run()
    resumed = make()
    resumed.opt.load_state_dict(part.opt.state_dict())
    resumed.model.load_state_dict(part.model.state_dict())
    resumed.step = resumed.batch = 1
    resumed.run()
    assert resumed.step == straight.step == 3
    for k, v in straight.model.state_dict().items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k


def test_time_budget_stops_before_an_epoch_that_would_overrun(tmp_path: Path) -> None:
    t = _trainer(tmp_path / "t.pt", False, "cosine")
    said = []
    t.hooks.append(TimeBudget(deadline=0.0, on_stop=said.append))  # long past: only the first epoch runs
    assert t.run()["epoch"] == 1 and said == [1]


def test_unknown_schedule_is_refused() -> None:
    with pytest.raises(TrainError, match="unknown schedule"):
        Trainer(build_model(tiny_config()), Batches(), LoopConfig(schedule="step"))


def test_train_and_finetune_qat_share_the_loop(tmp_path: Path) -> None:
    """Both commands' logs carry the loop's core epoch keys, both last.pt hold the optimiser state, and
    `finetune` resumed from its last.pt equals the uninterrupted fine-tune."""
    torch.set_num_threads(1)
    model = {"width": 0.0625, "T": 2, "num_feature_convs": 2, "stage_channels": (128, 256)}
    train(TrainConfig(out_dir=str(tmp_path / "float"), model=model, epochs=1, batch_size=32, limit_train=64,
                      limit_test=32, calib_samples=16, threads=1, progress=False))  # fmt: skip
    lines = [json.loads(x) for x in (tmp_path / "float" / "train_log.jsonl").read_text().splitlines()]
    assert [x["kind"] for x in lines] == ["start", "firing", "epoch", "firing"]
    train_epoch = lines[2]

    def ft(out: str, epochs: int, resume: bool = False) -> dict:
        cfg = FinetuneConfig(checkpoint=str(tmp_path / "float" / "best.pt"), out_dir=str(tmp_path / out),
                             epochs=epochs, lr=2e-3, limit_train=64, limit_test=16, batch_size=32,
                             threads=1, resume=resume)  # fmt: skip
        return finetune(cfg, say=lambda s: None)

    straight = ft("qat", 2)
    ft("qat-resumed", 1)
    resumed = ft("qat-resumed", 2, resume=True)
    assert straight["steps"] == resumed["steps"] == 4
    assert straight["history"] == resumed["history"]
    records = [json.loads(x) for x in (tmp_path / "qat" / "finetune_log.jsonl").read_text().splitlines()]
    assert [r["kind"] for r in records] == ["start", "epoch", "epoch"]
    assert set(train_epoch) >= CORE_EPOCH_KEYS and set(records[1]) >= CORE_EPOCH_KEYS
    log = (tmp_path / "qat-resumed" / "finetune_log.jsonl").read_text()
    again = [json.loads(x) for x in log.splitlines()]
    assert [r["kind"] for r in again] == ["start", "epoch", "epoch"]
    a = checkpoint.read(tmp_path / "qat" / "last.pt")
    b = checkpoint.read(tmp_path / "qat-resumed" / "last.pt")
    c = checkpoint.read(tmp_path / "float" / "last.pt")
    assert set(a["resume"]) == {"optimizer"} and set(c["resume"]) == {"optimizer", "scheduler"}
    for k, v in a["state_dict"].items():
        assert torch.equal(v, b["state_dict"][k]), k
    with pytest.raises(TrainError, match=r"no .* to resume from"):
        ft("nothing-here", 1, resume=True)
