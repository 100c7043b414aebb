"""Host resource limits: a valid blob of about a kilobyte whose one sample would need gigabytes or 10^10+
operations is refused before anything is allocated or run, by the C binding and the reference, with a message
naming the limit and how to raise it; the CLI says it in one line and exits 1."""

from __future__ import annotations

import time

import numpy as np
import pytest

from edgesnn.format import limits, parse
from edgesnn.format.layout import BufferKind
from edgesnn.format.limits import HostLimits, ResourceLimitError, reference_bytes, worst_case_ops
from edgesnn.format.model import Buffer, Conv, Lif, Model, Readout
from edgesnn.format.writer import to_bytes


def greedy_blob(T: int = 1024, side: int = 256) -> bytes:
    """A 3x3 conv 1 -> 64 channels over side x side frames, its LIF and a readout: about 1.4 KB."""
    buffers = (
        Buffer(BufferKind.INPUT_U8, 1, side, side),
        Buffer(BufferKind.CURRENT, 64, side, side),
        Buffer(BufferKind.SPIKES, 64, side, side),
    )
    ops = (
        Conv(0, 1, np.ones((1, 3, 3, 64), np.int64), np.zeros(64, np.int64), pad=1),
        Lif(1, 2, np.full(64, 100, np.int64)),
        Readout(2, np.ones((64, 2), np.int64), np.zeros(2, np.int64)),
    )
    return to_bytes(Model(T=T, num_classes=2, buffers=buffers, ops=ops))


def test_bounds_of_the_greedy_blob() -> None:
    m = parse(greedy_blob())
    plane, T = 256 * 256 * 64, 1024
    assert worst_case_ops(m) == T * plane * 9 + T * plane + T * plane * 2  # conv, LIF, readout
    assert reference_bytes(m) == 8 * T * (256 * 256 + 2 * plane)


def test_reference_refuses_before_allocating(monkeypatch: pytest.MonkeyPatch) -> None:
    from edgesnn.reference import run

    monkeypatch.delenv(limits.MEMORY_ENV, raising=False)
    start = time.monotonic()
    with pytest.raises(
        ResourceLimitError, match=r"reference buffers, over this host's limit of 268,435,456 B"
    ):
        run(greedy_blob(), np.zeros((1024, 1, 256, 256), np.uint8))
    assert time.monotonic() - start < 5
    small = greedy_blob(T=2, side=16)  # within the defaults: runs
    run(small, np.zeros((2, 1, 16, 16), np.uint8))
    monkeypatch.setenv(limits.MEMORY_ENV, "1000")  # a lower limit from the environment
    with pytest.raises(ResourceLimitError, match=r"\$EDGESNN_MAX_MEMORY="):
        run(small, np.zeros((2, 1, 16, 16), np.uint8))


def test_c_binding_refuses_the_operations_and_the_arena(rt, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(limits.OPS_ENV, raising=False)
    monkeypatch.delenv(limits.MEMORY_ENV, raising=False)
    ops = worst_case_ops(parse(greedy_blob()))
    with pytest.raises(ResourceLimitError, match=rf"{ops:,} operations .*\$EDGESNN_MAX_OPS={ops}"):
        rt.run(greedy_blob(), np.zeros((1024, 1, 256, 256), np.uint8))
    with pytest.raises(ResourceLimitError, match="operations"):
        rt.load(greedy_blob())
    small = greedy_blob(T=2, side=16)
    need = rt.arena_bytes(small, final_state=True)
    monkeypatch.setenv(limits.MEMORY_ENV, str(need - 1))
    with pytest.raises(ResourceLimitError, match=f"needs {need:,} B of C arena"):
        rt.run(small, np.zeros((2, 1, 16, 16), np.uint8))
    monkeypatch.setenv(limits.MEMORY_ENV, str(need))
    rt.run(small, np.zeros((2, 1, 16, 16), np.uint8))


def test_bad_environment_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(limits.OPS_ENV, "lots")
    with pytest.raises(ResourceLimitError, match=r"\$EDGESNN_MAX_OPS='lots': expected a positive integer"):
        HostLimits.from_env()


def test_cli_says_it_in_one_line(tmp_path, capsys) -> None:
    from edgesnn.cli.main import main

    path = tmp_path / "greedy.esnn"
    path.write_bytes(greedy_blob())
    for runtime in ("c", "reference"):
        assert main(["verify", "--runtime", runtime, str(path)]) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "over this host's limit" in err and "Traceback" not in err


def test_c_cli_refuses_an_arena_over_its_limit(rt, tmp_path) -> None:
    """firmware/tools/esnn_run allocates no arena over 256 MiB (exit 3, one line naming --max-arena)."""
    import subprocess

    from edgesnn.runtime.c import BUILD

    cli = BUILD / "host" / "esnn_run"
    chain = [Buffer(BufferKind.INPUT_U8, 1, 256, 256)]
    ops: list = []
    for _ in range(20):  # 20 LIF states of 2^22 int32 membranes kept for -o: 336 MB of arena
        cin = chain[-1].channels
        chain += [Buffer(BufferKind.CURRENT, 64, 256, 256), Buffer(BufferKind.SPIKES, 64, 256, 256)]
        cur, spk = len(chain) - 2, len(chain) - 1
        ops += [Conv(cur - 1, cur, np.ones((cin, 1, 1, 64), np.int64), np.zeros(64, np.int64)),
                Lif(cur, spk, np.full(64, 100, np.int64))]  # fmt: skip
    ops.append(Readout(len(chain) - 1, np.ones((64, 2), np.int64), np.zeros(2, np.int64)))
    big = tmp_path / "big.esnn"
    big.write_bytes(to_bytes(Model(T=1, num_classes=2, buffers=tuple(chain), ops=tuple(ops))))
    frame = tmp_path / "in.bin"
    frame.write_bytes(bytes(256 * 256))
    proc = subprocess.run(
        [str(cli), "-o", str(tmp_path), str(big), str(frame)], capture_output=True, text=True
    )
    assert proc.returncode == 3 and "over the limit of 268435456 B (--max-arena BYTES" in proc.stderr
    small = tmp_path / "small.esnn"
    small.write_bytes(greedy_blob(T=2, side=16))
    frames = tmp_path / "small.bin"
    frames.write_bytes(bytes(2 * 16 * 16))
    run = [str(cli), "--max-arena", "100", str(small), str(frames)]
    assert subprocess.run(run, capture_output=True, text=True).returncode == 3
    assert subprocess.run(run[:1] + run[3:], capture_output=True, text=True).returncode == 0
