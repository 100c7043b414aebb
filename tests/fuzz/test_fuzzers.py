"""The libFuzzer harnesses of firmware/fuzz (clang, ASan + UBSan): the C loader with one inference three
ways (fast kernels / reference kernels / ESNN_OPT_FAST, bit-exact with each other), and the device side of the
serial protocol. The regressions they found replay first; then a short fixed-seed run of 100,000 executions
each (firmware/fuzz/README.md: how to run them for hours)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgesnn.format import Conv, parse
from edgesnn.format.writer import to_bytes
from edgesnn.host.framing import Msg, Packet, encode_frame
from edgesnn.runtime.c import BUILD, FIRMWARE
from tests.firmware.conftest import VECTORS, meta

# The short run (>= 10^5 executions each, fixed seed; about a minute each on 2 cores); longer
# campaigns: firmware/fuzz/README.md.
RUNS = 100_000
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fuzzers() -> Path:
    if shutil.which("clang") is None or shutil.which("make") is None:
        pytest.skip("the fuzzers need clang (apt-get install clang; tests/run.sh installs it) and make")
    argv = ["make", "-C", str(FIRMWARE), "-j1", f"B={BUILD}", "fuzz"]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return BUILD / "fuzz"


def overflowing_first_layer() -> bytes:
    """A valid blob whose fused first layer's currents pass int32 (a bias near 2^31 plus 255 x a weight): the
    harness's UBSan found the fused kernel adding them as signed ints (undefined); they wrap, as in every
    conv."""
    vector = next(v for v in VECTORS if meta(v)["fused_static"])
    model = parse((vector / "model.esnn").read_bytes())
    ops = list(model.ops)
    conv = ops[0]
    assert isinstance(conv, Conv) and conv.static
    bias = np.full_like(conv.bias, 2**31 - 100)
    ops[0] = dataclasses.replace(conv, bias=bias, weights=np.full_like(conv.weights, 127))
    return to_bytes(dataclasses.replace(model, ops=ops))


def seeds(folder: Path) -> Path:
    """Every conformance vector's blob (int4_weights' fused first layer made the harness find pointer
    arithmetic on the NULL storage of a fused current), and the crafted regressions."""
    folder.mkdir()
    for v in VECTORS:
        (folder / f"{v.name}.esnn").write_bytes((v / "model.esnn").read_bytes())
    (folder / "overflowing_first_layer.esnn").write_bytes(overflowing_first_layer())
    return folder


def run(binary: Path, args: list[str], env: dict | None = None) -> str:
    proc = subprocess.run(
        [str(binary), *args], capture_output=True, text=True, timeout=900, env=env, check=False
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "runtime error" not in out and "ERROR: " not in out, out[-4000:]
    return out


def test_loader_regressions_replay(fuzzers: Path, tmp_path: Path):
    """Each seed once, every one through the three-way inference (ESNN_FUZZ_EVERY): both regressions trap
    on the code before their fixes."""
    corpus = seeds(tmp_path / "seeds")
    env = dict(os.environ, ESNN_FUZZ_EVERY="1")
    out = run(fuzzers / "fuzz_loader", sorted(str(p) for p in corpus.iterdir()), env)
    assert out.count("Executed ") == len(VECTORS) + 1


def test_loader_fuzzer_short_run(fuzzers: Path, tmp_path: Path):
    corpus = seeds(tmp_path / "corpus")
    out = run(fuzzers / "fuzz_loader", [f"-runs={RUNS}", "-seed=1", "-max_len=16384", "-timeout=20",
                                        "-rss_limit_mb=4096", str(corpus)])  # fmt: skip
    assert f"Done {RUNS} runs" in out


def protocol_seeds(folder: Path) -> Path:
    """Requests as the harness frames them (a 0 byte, then type, id, length, payload per packet) and one raw
    wire frame (a 1 byte, then bytes as they arrive)."""

    def packets(*pkts: tuple[int, int, bytes]) -> bytes:
        return bytes([0]) + b"".join(bytes([t, rid, len(p)]) + p for t, rid, p in pkts)

    folder.mkdir()
    cases = {
        "hello": packets((Msg.HELLO, 1, b"")),
        "reset_hello": packets((Msg.RESET, 2, b""), (Msg.HELLO, 3, b"")),
        "frame": packets((Msg.FRAME, 4, bytes(67))),
        "sample": packets((Msg.SAMPLE, 5, bytes(101))),
        "raw_hello": bytes([1]) + encode_frame(Packet(Msg.HELLO, 7)),
    }
    for name, data in cases.items():
        (folder / name).write_bytes(data)
    return folder


def test_protocol_fuzzer_short_run(fuzzers: Path, tmp_path: Path):
    corpus = protocol_seeds(tmp_path / "corpus")
    env = dict(os.environ, ESNN_FUZZ_MODEL=str(VECTORS[0] / "model.esnn"))
    out = run(fuzzers / "fuzz_protocol", [f"-runs={RUNS}", "-seed=1", "-max_len=4096", "-timeout=20",
                                          "-rss_limit_mb=4096", str(corpus)], env)  # fmt: skip
    assert f"Done {RUNS} runs" in out
