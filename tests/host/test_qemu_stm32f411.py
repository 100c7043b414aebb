"""The emulated Cortex-M4 linked with the STM32F411's limits (devices/qemu-stm32f411.toml: 128 KiB RAM,
512 KiB flash, 8 KiB stack): the shipped QAT demo model, exported for stm32f411-nucleo's budget, streams
bit-exactly on it through `edgesnn stream`; the painted stack's high-water mark is reported and stays in
the reserved stack; a stack too small for the model faults on the MPU guard ("stack overflow", exit 99)
instead of corrupting the arena; the arena is the budget the part's RAM leaves the model, spent on speed
(ESNN_OPT_FAST: the plan the exporter computes for it); a model too big for 128 KiB fails the link with one
clear line, and links on the 4 MB default image."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from edgesnn.export.passes.memory import plan_arena
from edgesnn.format import parse
from edgesnn.host import Client, HostError
from edgesnn.host.launch import emulated_limits, open_device
from edgesnn.host.qemu import BoardLimits, ImageTooBig, QemuTransport, arena_budget, build_image
from tests.conftest import FASHION_DIR
from tests.host.test_qemu_board import need_tools

PART = "qemu-stm32f411"
CALIB = 64  # calibration: test images 0..63; streamed: from START on
START = 1000


@pytest.fixture(scope="module")
def qat_demo(tmp_path_factory):
    """The shipped QAT demo model exported --prune for stm32f411-nucleo's budget (as `edgesnn demo`)."""
    from edgesnn import checkpoint
    from edgesnn.data.registry import open_dataset
    from edgesnn.devices import load_profile
    from edgesnn.export.pipeline import export_model
    from edgesnn.qat import int_net_for_export
    from edgesnn.zoo import ZOO_DIR

    need_tools()
    if not (FASHION_DIR / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.fail(f"Fashion-MNIST is missing from {FASHION_DIR}: tests/run.sh installs it")
    torch.set_num_threads(1)
    model = checkpoint.load(ZOO_DIR / "fashion_mnist_synac_w8_t4_qat.pt")
    test = open_dataset("fashion-mnist", "test", str(FASHION_DIR))
    calib = [test.get_batch(torch.arange(0, CALIB))]
    result = export_model(
        model, calib, load_profile("stm32f411-nucleo"), 8, prune=True, int_model=int_net_for_export
    )
    path = tmp_path_factory.mktemp("qat_demo") / "demo_qat.esnn"
    path.write_bytes(result.blob)
    return path


@pytest.fixture(scope="module")
def too_big(tmp_path_factory):
    """A model whose arena (~146 KB: attention over T = 64) cannot fit 128 KiB; its blob fits the flash."""
    from edgesnn.devices import load_profile
    from edgesnn.export.pipeline import export_model
    from edgesnn.models.config import preset
    from edgesnn.models.resnet import build_model

    need_tools()
    torch.manual_seed(0)
    net = build_model(preset("fashion-mnist", width=0.125, T=64, attention="T"))
    x = (torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0)) > 0.6).float()
    result = export_model(net, [(x, torch.zeros(4, dtype=torch.long))], load_profile("host"), 8, prune=False)
    path = tmp_path_factory.mktemp("too_big") / "too_big.esnn"
    path.write_bytes(result.blob)
    assert len(result.blob) < 432 * 1024  # the flash would take it: RAM is what fails
    return path


def test_profile_links_the_part_limits():
    limits = emulated_limits(PART)
    assert limits == BoardLimits(ram_kib=128, flash_kib=512, stack_kib=8, name=PART, model_ram=112 * 1024)
    assert emulated_limits("qemu-mps2-an386") is None and emulated_limits("stm32f411-nucleo") is None


def test_qat_demo_streams_bit_exact_on_the_128k_image(qat_demo, tmp_path, capsys):
    from edgesnn.cli.main import main

    log = tmp_path / "stream.json"
    data_dir = ["--data-dir", str(FASHION_DIR)]
    images = ["--dataset", "fashion-mnist", *data_dir, "--start", str(START), "--limit", "5"]
    argv = ["stream", "--device", PART, str(qat_demo), *images, "--json", str(log), "--no-progress"]
    code = main(argv)
    out = capsys.readouterr().out
    assert code == 0, out[-3000:]
    assert f"on {PART} (qemu-system-arm" in out
    assert "bit-exact with the reference    5/5 (100.0%)" in out
    data = json.loads(log.read_text())
    memory = data["board_memory"]
    # the image as linked: everything in the part's 128 KiB, the arena the runtime's own figure
    image = build_image(qat_demo, limits=emulated_limits(PART))
    size = image.size
    assert size["ram_size"] == 128 * 1024 and size["stack"] == 8 * 1024 and size["ram"] <= 128 * 1024
    assert size["flash"] <= 512 * 1024
    assert memory["capacity"] == 128 * 1024 and memory["ram"] == size["ram"]
    assert memory["arena"] == size["arena"] and memory["stack"] == 8 * 1024
    # the painted stack's high-water mark: measured (boot + 5 samples), inside the reserved stack
    assert 256 < memory["stack_used"] < memory["stack"]
    assert f"high-water mark {memory['stack_used']:,} B" in out
    # the firmware besides the arena fits what the part's profile reserves
    assert size["ram"] - size["arena"] <= 16 * 1024


def test_qat_demo_results_equal_the_reference(qat_demo):
    """The same on the protocol level: logits, spike counts and class of each real image equal the integer
    reference, and the instruction counter is exact (icount)."""
    from edgesnn.data.registry import open_dataset
    from edgesnn.export.agreement import to_u8
    from edgesnn.host.messages import Counter
    from edgesnn.reference import run

    blob = qat_demo.read_bytes()
    test = open_dataset("fashion-mnist", "test", str(FASHION_DIR))
    images = to_u8(test.get_batch(torch.arange(START + 10, START + 13))[0], 255)
    # the part's RAM for the model buys speed: the arena is that budget and the board runs ESNN_OPT_FAST's
    # plan in it, the plan the exporter computes (attention inputs stored instead of recomputed)
    budget = arena_budget(blob, emulated_limits(PART))
    model = parse(blob)
    assert budget is not None and plan_arena(model).total_bytes < budget <= 128 * 1024
    fast = plan_arena(model, budget=budget)
    assert len(fast.segments.recompute) < len(plan_arena(model).segments.recompute)
    assert build_image(qat_demo, limits=emulated_limits(PART)).size["arena"] == budget
    with Client(open_device(PART, qat_demo)) as c:
        info = c.hello()
        assert info.device_name == PART and info.model_status == 0 and info.frames == 1
        assert info.arena_bytes == fast.total_bytes
        for x in images:
            r = c.run_sample(x[None])
            ref = run(blob, x[None])
            assert np.array_equal(r.logits, ref.logits) and np.array_equal(r.spike_counts, ref.spike_counts)
            assert r.predicted == ref.predicted and r.counter_kind == Counter.INSTRUCTIONS
        usage = c.transport.stack_usage()
        assert 0 < usage.used < usage.size == 8 * 1024


def test_a_stack_too_small_faults_on_the_guard(qat_demo):
    """With less stack than the model needs, the first deep frame lands in the MPU guard below RAM: the
    board exits 99 saying "stack overflow" (not a corrupted arena, nor a wrong result)."""
    with Client(open_device(PART, qat_demo)) as c:
        c.hello()
        used = c.transport.stack_usage().used
    kib = (used - 1) // 1024  # the largest whole-KiB stack smaller than the high-water mark
    if kib < 1:
        pytest.skip(f"the model uses {used} B of stack: no smaller stack (>= 1 KiB) to overflow")
    image = build_image(qat_demo, limits=BoardLimits(128, 512, kib, PART))
    overflow = r"status 99 .*: esnn board fault: stack overflow \(the \d+ B stack ran into its MPU guard"
    with pytest.raises(HostError, match=overflow), Client(QemuTransport(image.elf)) as c:
        c.hello()
        c.run_sample(np.zeros((1, 1, 28, 28), np.uint8))


def test_a_model_too_big_for_128k_fails_the_link(too_big, capsys):
    from edgesnn.cli.main import main

    with pytest.raises(ImageTooBig) as err:
        build_image(too_big, limits=emulated_limits(PART))
    msg = str(err.value)
    assert "\n" not in msg
    assert f"does not fit {PART} (128 KiB RAM, 512 KiB flash): the link fails, RAM needs " in msg
    assert "of 131,072, overflowed by" in msg and "FLASH" not in msg
    # stream says the same and exits 1, without starting QEMU
    assert main(["stream", "--device", PART, str(too_big), "--dataset", "fashion-mnist", "--limit", "1"]) == 1
    assert f"does not fit {PART}" in capsys.readouterr().err
    # the same model links on the emulator's own 4 MB (the default image)
    image = build_image(too_big)
    assert image.size["ram"] > 128 * 1024 and image.size["ram_size"] == 4096 * 1024
    assert image.size["stack"] == 16 * 1024


def test_qat_demo_streams_bit_exact_on_a_64k_part(qat_demo, tmp_path, capsys):
    """The same model on a 64 KiB-RAM part (devices/qemu-nrf52832.toml): the lean plan's arena (~32 KB), the
    protocol buffers and the 8 KiB stack fit, and every streamed result is bit-exact."""
    from edgesnn.cli.main import main
    from edgesnn.devices import load_profile

    part = load_profile("qemu-nrf52832")
    assert part.ram_bytes == 64 * 1024 and emulated_limits(part.name).ram_kib == 64
    log = tmp_path / "stream.json"
    data_dir = ["--data-dir", str(FASHION_DIR)]
    images = ["--dataset", "fashion-mnist", *data_dir, "--start", str(START), "--limit", "3"]
    argv = ["stream", "--device", part.name, str(qat_demo), *images, "--json", str(log), "--no-progress"]
    code = main(argv)
    out = capsys.readouterr().out
    assert code == 0, out[-3000:]
    assert "bit-exact with the reference    3/3 (100.0%)" in out
    memory = json.loads(log.read_text())["board_memory"]
    assert memory["capacity"] == 64 * 1024 and memory["ram"] <= 64 * 1024 and memory["stack"] == 8 * 1024
    assert memory["stack_used"] < memory["stack"]
