"""The streaming core on the host board: the shipped demo model (exported once per session) on real held-out
Fashion-MNIST images, bit-exact and compared with the float model; event files binned with the training
binning and sent bit-packed; a damaged result caught as a mismatch; the model check at connect; binning
resolution and u8 conversion errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from edgesnn.data.events import make_events, write_events
from edgesnn.host import Client, HostError, Transport, start_host_board
from edgesnn.host.framing import FrameSplitter, Msg, Packet, encode_frame
from edgesnn.reference import load, to_bytes
from edgesnn.stream import (
    ModelInput,
    Sample,
    Streamer,
    StreamInputError,
    dataset_samples,
    event_file_samples,
    resolve_binning,
    to_device_u8,
)
from tests.conftest import FASHION_DIR
from tests.host.conftest import VECTORS

FRAMES = next(v for v in VECTORS if v.name == "spike_convs_k7_k3_k1") / "model.esnn"  # T=4, 2x16x16


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory):
    """The shipped model exported for the host profile on 8 real test images; (blob path, float model)."""
    from edgesnn import checkpoint
    from edgesnn.data.images import load_fashion_mnist
    from edgesnn.devices import load_profile
    from edgesnn.export.pipeline import export_model
    from edgesnn.zoo import DEMO_MODEL

    torch.set_num_threads(1)
    model = checkpoint.load(DEMO_MODEL)
    x, y = load_fashion_mnist("test", FASHION_DIR).get_batch(torch.arange(8))
    result = export_model(model, [(x, y)], load_profile("host"), 8, prune=True)
    path = tmp_path_factory.mktemp("demo") / "model.esnn"
    path.write_bytes(result.blob)
    return path, model


def test_demo_model_on_real_images_bit_exact_with_float_agreement(board_bin: Path, demo, fashion_dir: Path):
    path, model = demo
    mi = ModelInput.of(load(path.read_bytes()))
    items = list(dataset_samples("fashion-mnist", mi, root=fashion_dir, limit=20))[8:]  # not the calibration
    assert len(items) == 12 and all(s.label is not None for s in items)
    with Client(start_host_board(path, build=False), timeout=2.0) as client:
        report = Streamer(client, path.read_bytes(), float_model=model).run(items)
    s = report.summary()
    assert report.ok and s["bit_exact"] == 12 and s["errors"] == 0
    assert s["agreement_samples"] == 12 and s["agreement"] >= 0.75
    assert s["accuracy"] >= 0.6 and s["counter_kind"] == "nanoseconds" and s["counter_min"] > 0
    assert 0 < s["compute_share"] < 1
    assert [o.index for o in report.outcomes] == list(range(12))


def _scale_one(tmp_path: Path) -> Path:
    """The 2x16x16, T=4 vector with input_scale_num 1: event counts are its u8 input as they are."""
    m = load(FRAMES.read_bytes())
    path = tmp_path / "events.esnn"
    path.write_bytes(to_bytes(dataclasses.replace(m, input_scale_num=1)))
    return path


def _recording(path: Path, n: int, seed: int, fmt: str = "evt2") -> None:
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, 100_000, n))
    ev = make_events(rng.integers(0, 64, n), rng.integers(0, 64, n), t, rng.integers(0, 2, n))
    write_events(path, ev, (64, 64), fmt)


def test_event_files_binned_and_sent_bit_packed(board_bin: Path, tmp_path: Path):
    model = _scale_one(tmp_path)
    mi = ModelInput.of(load(model.read_bytes()))
    files = []
    for i, fmt in enumerate(["evt2", "evt3", "npy"]):
        ext = {"evt2": ".raw", "evt3": ".raw", "npy": ".npy"}[fmt]
        (tmp_path / str(i)).mkdir()
        files.append(tmp_path / str(i) / f"rec{ext}")
        _recording(files[-1], 3000, i, fmt)
    params, origin = resolve_binning(mi, overrides={"mode": "binary"})
    assert params.size == (16, 16) and params.polarity == "split" and params.T == 4
    assert "mode=binary" in origin
    items = list(event_file_samples(files, mi, params))
    assert [s.label for s in items] == [0, 1, 2] and all(s.events == 3000 for s in items)
    assert all(s.u8.max() == 1 for s in items)
    transport = start_host_board(model, build=False)
    written: list[int] = []
    transport.trace = lambda direction, data: written.append(len(data)) if direction == ">" else None
    with Client(transport, timeout=2.0) as client:
        report = Streamer(client, model.read_bytes()).run(items)
    assert report.ok and report.summary()["events"] == 9000
    assert len(written) == 1 + 3 and max(written) < 300  # one SAMPLE each, bit-packed: 4 + 4 * 64 bytes
    counts = list(event_file_samples(files, mi, dataclasses.replace(params, mode="count")))
    assert all(s.u8.max() > 1 for s in counts)  # counts go as U8 values


def test_truncated_event_file_is_an_explicit_error_sample(tmp_path: Path):
    mi = ModelInput.of(load(FRAMES.read_bytes()))
    path = tmp_path / "cut.raw"
    _recording(path, 100, 0)
    path.write_bytes(path.read_bytes()[:-3])
    params, _ = resolve_binning(mi)
    (item,) = event_file_samples([path], mi, params)
    assert item.u8 is None and str(path) in item.error and "truncated" in item.error


class FlipLogit(Transport):
    """Passes bytes through, but adds 1 to logit 0 of the `which`-th RESULT (re-framed with a valid CRC)."""

    def __init__(self, inner: Transport, which: int) -> None:
        super().__init__()
        self.inner, self.which, self.results = inner, which, 0
        self.splitter = FrameSplitter()
        self.description = f"flipping {inner.description}"

    def _write(self, data: bytes) -> None:
        self.inner.write(data)

    def _read(self, timeout: float) -> bytes:
        out = b""
        for item in self.splitter.feed(self.inner.read(timeout)):
            assert isinstance(item, Packet)
            payload = item.payload
            if item.type == Msg.RESULT:
                if self.results == self.which:
                    logit = int.from_bytes(payload[16:20], "little", signed=True) + 1
                    payload = payload[:16] + logit.to_bytes(4, "little", signed=True) + payload[20:]
                self.results += 1
            out += encode_frame(Packet(item.type, item.request_id, payload))
        return out

    def close(self) -> None:
        self.inner.close()


def test_a_damaged_result_is_a_mismatch_naming_the_field(board_bin: Path):
    rng = np.random.default_rng(0)
    items = [Sample(rng.integers(0, 256, (4, 2, 16, 16), dtype=np.uint8), source=str(i)) for i in range(3)]
    with Client(FlipLogit(start_host_board(FRAMES, build=False), 1)) as client:
        report = Streamer(client, FRAMES.read_bytes()).run(items)
    assert [o.status for o in report.outcomes] == ["ok", "mismatch", "ok"] and not report.ok
    assert report.outcomes[1].first_diff.startswith("logits[0]: device ")
    rec = report.outcomes[1].record()
    assert rec["device_logits"][0] == rec["reference_logits"][0] + 1


def test_connect_refuses_a_board_with_another_model(board_bin: Path):
    other = next(v for v in VECTORS if v.name == "residual_or") / "model.esnn"
    with (
        Client(start_host_board(other, build=False)) as client,
        pytest.raises(HostError, match="another model"),
    ):
        Streamer(client, FRAMES.read_bytes()).connect()


def test_binning_resolution_and_u8_conversion():
    mi = ModelInput(T=4, frames=4, shape=(2, 34, 34), scale_num=255, static=False)
    params, origin = resolve_binning(mi, dataset="emulated-fashion-mnist")
    assert params.split_by == "time" and params.window_us == 75_000 and "emulated-fashion-mnist" in origin
    payload = {"training": {"dataset": "emulated-fashion-mnist"}}
    assert resolve_binning(mi, checkpoint_payload=payload)[0] == params
    assert resolve_binning(mi, overrides={"window_us": 10})[0].split_by == "time"
    with pytest.raises(StreamInputError, match="channel"):
        resolve_binning(mi, overrides={"polarity": "merge"})
    frames = np.zeros((4, 2, 34, 34), np.float32)
    frames[0, 0, 0, 0] = 1
    assert to_device_u8(frames, mi, "x")[0, 0, 0, 0] == 255
    frames[0, 0, 0, 0] = 2
    with pytest.raises(StreamInputError, match="--clip"):
        to_device_u8(frames, mi, "x")
    assert to_device_u8(frames, mi, "x", clip=True)[0, 0, 0, 0] == 255
    with pytest.raises(StreamInputError, match="the model takes 4 x 2 x 34 x 34"):
        to_device_u8(np.zeros((4, 2, 16, 16)), mi, "x")
