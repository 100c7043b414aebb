"""A tiny spiking network trained for a few seconds on EMULATED Fashion-MNIST event streams beats chance."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from edgesnn.data.binning import BinningParams
from edgesnn.data.emulator import EmulatorParams
from edgesnn.data.event_datasets import open_emulated_fashion_mnist
from edgesnn.data.images import DataNotFoundError
from edgesnn.models import ModelConfig, build_model

T = 4
EMULATOR = EmulatorParams(saccade_ms=20)  # 60 ms streams: short, to keep the test fast
BINNING = BinningParams(T=T, split_by="time", window_us=15_000, size=(14, 14))


def _open(split: str, n: int, cache: Path) -> object:
    try:
        return open_emulated_fashion_mnist(
            split, T=T, limit=n, emulator=EMULATOR, binning=BINNING, cache_dir=cache, progress=False
        )
    except DataNotFoundError as e:
        pytest.fail(f"{e} (tests/run.sh installs it)")


def _inputs(x: torch.Tensor) -> torch.Tensor:
    return x.transpose(0, 1).clamp(max=4) / 4  # [B, T, C, H, W] counts -> [T, B, C, H, W] in [0, 1]


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Single-threaded torch: small tensors gain nothing from threads, and a busy machine hurts a lot."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.slow
def test_tiny_snn_on_emulated_streams_beats_chance(tmp_path: Path, one_thread: None) -> None:
    torch.manual_seed(0)
    train, test = _open("train", 800, tmp_path), _open("test", 200, tmp_path)
    frames, label = train[0]
    assert frames.shape == (T, 2, 14, 14) and frames.dtype == torch.float32 and isinstance(label, int)
    cfg = ModelConfig(
        in_channels=2, input_size=(14, 14), T=T, width=0.125, stage_channels=(64,), num_feature_convs=0
    )
    model = build_model(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    gen = torch.Generator().manual_seed(0)
    for _ in range(5):
        model.train()
        perm = torch.randperm(len(train), generator=gen)
        for i in range(0, len(train), 40):
            x, y = train.get_batch(perm[i : i + 40])
            loss = torch.nn.functional.cross_entropy(model(_inputs(x)), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        x, y = test.get_batch(torch.arange(len(test)))
        acc = (model(_inputs(x)).argmax(1) == y).float().mean().item()
    print(f"emulated Fashion-MNIST, tiny SNN: test accuracy {acc:.3f} (chance 0.100)")
    # chance is 10 %; with 200 test items, 20 % is > 4 standard deviations above it
    assert acc > 0.2, f"test accuracy {acc:.3f}"
