"""Issue acceptance, end to end through the `edgesnn stream` command: the shipped QAT model exported with
--prune, >= 100 real held-out Fashion-MNIST images streamed to the QEMU Cortex-M4 board and to the host board,
every result bit-exact with the integer reference and equal to the PyTorch QAT model; and a stream to the
QEMU board through 1 % byte faults and device resets: every sample ends verified or with an explicit error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from edgesnn.cli.main import main
from edgesnn.host import Client
from edgesnn.host.proxy import FaultProxy, Faults
from edgesnn.host.qemu import QemuTransport, build_image
from edgesnn.stream import Streamer
from edgesnn.zoo import ZOO_DIR
from tests.conftest import FASHION_DIR
from tests.host.test_proxy import SMALL, distinct_references, samples
from tests.host.test_qemu_board import need_tools

QAT_MODEL = ZOO_DIR / "fashion_mnist_synac_w8_t4_qat.pt"
CALIB = 32  # test images 0..31 calibrate the export; every streamed image is a test-split one


@pytest.fixture(scope="module")
def blob(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("qat-export")
    argv = ["export", str(QAT_MODEL), "--prune", "--calib", "fashion-mnist", "--calib-samples", str(CALIB)]
    argv += ["--data-dir", str(FASHION_DIR), "--device", "qemu-mps2-an386", "-o", str(out), "--threads", "1"]
    code = main(argv)
    assert code == 0
    return out / "model.esnn"


def _stream(blob: Path, device: str, log: Path, n: int, *extra: str) -> dict:
    code = main(["stream", "--device", device, str(blob), "--dataset", "fashion-mnist", "--data-dir",
                 str(FASHION_DIR), "--limit", str(n), "--checkpoint", str(QAT_MODEL), "--json", str(log),
                 "--no-progress", *extra])  # fmt: skip
    report = json.loads(log.read_text())
    assert code == 0, report["summary"]
    return report


@pytest.mark.parametrize("device", ["qemu-mps2-an386", "host"])
def test_100_held_out_images_bit_exact_and_equal_to_pytorch(blob: Path, device: str, tmp_path: Path):
    if device != "host":
        need_tools()
    report = _stream(blob, device, tmp_path / "s.json", 100)
    s = report["summary"]
    assert (s["samples"], s["bit_exact"], s["errors"]) == (100, 100, 0)
    assert (s["pytorch_exact"], s["pytorch_exact_samples"]) == (100, 100)
    assert s["accuracy"] > 0.8 and s["agreement"] >= 0.85  # QAT model vs its float weights
    assert [o["index"] for o in report["samples"]] == list(range(100))


def test_one_percent_faults_and_resets_on_the_emulated_board():
    """As tests/host/test_proxy.py on the host board, here through the QEMU board's TCP serial port: small
    frames (at 1 % per byte a 800-byte image frame almost never arrives intact), resets mid-stream."""
    need_tools()
    items = samples(SMALL, 40, seed=2)
    distinct_references(SMALL, items)
    faults = Faults(drop=0.01 / 3, corrupt=0.01 / 3, dup=0.01 / 3, reset_after=15, seed=4)
    image = build_image(SMALL).elf
    proxy = FaultProxy(lambda: QemuTransport(image), faults)
    with Client(proxy, timeout=0.5, retries=25, compute_s=0.2, resync_quiet_s=0.02) as client:
        report = Streamer(client, SMALL.read_bytes()).run(items)
    outs = report.outcomes
    assert report.aborted is None and [o.index for o in outs] == list(range(40))  # none lost, in order
    assert all(o.status in ("ok", "error") for o in outs)  # never a wrong result
    assert sum(o.status == "ok" for o in outs) >= 36
    assert proxy.counts.resets >= 2 and proxy.counts.dropped > 0  # the board really was reset twice
