"""Board ports with a real model: the shipped demo model (exported --prune, int8) on the QEMU board,
bit-exact with the integer reference on real Fashion-MNIST test images. The STM32F411 port cross-compiles
and fits its device profile with a vector and with the demo model (~98 KB arena). The
nRF52840 DK port cross-compiles and fits with a vector and with the demo model (256 KiB RAM), and its build
writes the Intel hex that `edgesnn flash --device nrf52840-dk` programs with nrfjprog."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest
import torch

from edgesnn.devices import load_profile
from edgesnn.host import Client
from edgesnn.host.messages import Counter
from edgesnn.host.qemu import QemuTransport, build_image
from tests.conftest import FASHION_DIR, REPO
from tests.host.test_qemu_board import need_tools

VECTORS_DIR = REPO / "export" / "vectors" / "v1"


def need_arm_gcc() -> None:
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("needs arm-none-eabi-gcc (tests/run.sh installs it)")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from edgesnn import checkpoint
    from edgesnn.data.registry import open_dataset
    from edgesnn.export.agreement import to_u8
    from edgesnn.export.pipeline import export_model
    from edgesnn.zoo import DEMO_MODEL

    need_tools()
    if not (FASHION_DIR / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.fail(f"Fashion-MNIST is missing from {FASHION_DIR}: tests/run.sh installs it")
    data_dir = FASHION_DIR
    torch.set_num_threads(1)
    model = checkpoint.load(DEMO_MODEL)
    test = open_dataset("fashion-mnist", "test", str(data_dir))
    calib = [test.get_batch(torch.arange(0, 64))]
    result = export_model(model, calib, load_profile("qemu-mps2-an386"), 8, prune=True)
    path = tmp_path_factory.mktemp("demo") / "demo.esnn"
    path.write_bytes(result.blob)
    x, _ = test.get_batch(torch.arange(1000, 1003))
    return path, to_u8(x, 255)


def test_demo_model_on_qemu_bit_exact(demo):
    from edgesnn.reference import run

    path, images = demo
    blob = path.read_bytes()
    with QemuTransport(build_image(path).elf) as t:
        c = Client(t)
        info = c.hello()
        assert info.model_status == 0 and info.num_classes == 10 and info.frames == 1
        for x in images:
            r = c.run_sample(x[None])
            ref = run(blob, x[None])
            assert np.array_equal(r.logits, ref.logits) and np.array_equal(r.spike_counts, ref.spike_counts)
            assert r.predicted == ref.predicted
            assert r.counter_kind == Counter.INSTRUCTIONS and r.counter > 100_000


def assert_fits_profile(model, board: str):
    """Build `board` with `model`: the image fits the device, and the profile's reserved budgets cover what
    the firmware needs besides the model's arena and blob; the arena is the budget the profile's RAM for
    the model allows (as `edgesnn flash` builds it). Returns the image and the profile."""
    profile = load_profile(board)
    image = build_image(model, board=board, model_ram=profile.model_ram_bytes)
    size = image.size
    assert image.elf.is_file() and image.bin.stat().st_size == size["flash"]
    assert size["flash"] <= profile.flash_bytes and size["ram"] <= profile.ram_bytes
    assert size["flash"] - size["model"] <= profile.reserved_flash_bytes
    assert size["ram"] - size["arena"] <= profile.reserved_ram_bytes
    assert image.report.startswith(f"{board}: ")
    return image, profile


def test_stm32_port_cross_compiles_and_fits():
    need_tools()
    assert_fits_profile(VECTORS_DIR / "residual_or" / "model.esnn", "stm32f411-nucleo")


def test_demo_model_fits_the_stm32(demo):
    """The demo model's lean arena (~98 KB: LIF states per segment, int16 planes, the fused static first
    layer) fits the F411's 128 KiB SRAM with the firmware's buffers and stack (it needed 234 KB before)."""
    path, _ = demo
    image, _ = assert_fits_profile(path, "stm32f411-nucleo")
    assert image.size["arena"] < 110_000


def test_nrf52840_port_cross_compiles_and_fits():
    need_arm_gcc()
    image, profile = assert_fits_profile(VECTORS_DIR / "residual_or" / "model.esnn", "nrf52840-dk")
    size = image.size
    # the vector table at 0: initial SP at the top of the stack in RAM, a Thumb reset vector in flash
    head = image.bin.read_bytes()[:8]
    sp, reset = int.from_bytes(head[:4], "little"), int.from_bytes(head[4:], "little")
    assert 0x20000000 < sp <= 0x20000000 + profile.ram_bytes and reset & 1 and reset < size["flash"]
    # the Intel hex for nrfjprog: its first record loads the vector table at address 0
    hexfile = image.elf.parent / "esnn_board.hex"
    first = hexfile.read_text().splitlines()[0]
    assert first.startswith(":10000000") and first[9:25].upper() == head.hex().upper()


def test_demo_model_fits_the_nrf52840(demo):
    """The demo model's arena fits the nRF52840's 256 KiB RAM with the buffers and the stack; the image's
    arena is the lean plan (LIF states per segment, int16 planes), not the 234 KB of the first runtime."""
    path, _ = demo
    image, _ = assert_fits_profile(path, "nrf52840-dk")
    assert image.size["arena"] < 110_000


def test_flash_dry_run_names_the_built_nrf52840_hex(capsys):
    from edgesnn.cli.main import main

    need_arm_gcc()
    model = VECTORS_DIR / "residual_or" / "model.esnn"
    image = build_image(model, board="nrf52840-dk", model_ram=load_profile("nrf52840-dk").model_ram_bytes)
    assert main(["flash", "--device", "nrf52840-dk", str(model), "--dry-run"]) == 0
    out = capsys.readouterr().out
    m = re.search(r"^\$ nrfjprog --program (\S+) --sectorerase --verify --reset$", out, re.M)
    assert m, out
    assert m.group(1) == str(image.elf.parent / "esnn_board.hex")
    assert (image.elf.parent / "esnn_board.hex").is_file()
    assert re.search(r"make -C \S+/ports/nrf52840-dk -j1 (B=\S+ )?board", out), out
