"""Every conformance vector bit-exact on the host C build: both kernel sets, esnn_run and esnn_step, the
ctypes binding, the CLI, and the CLI under AddressSanitizer + UndefinedBehaviorSanitizer."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgesnn.reference import run as reference_run
from edgesnn.runtime.c import CLI, FIRMWARE, CRuntime, CRuntimeError, CRuntimeUnavailable, build
from tests.firmware.conftest import VECTORS, expected, meta

IDS = [v.name for v in VECTORS]


def test_vectors_are_there():
    assert len(VECTORS) >= 16


@pytest.mark.parametrize("kernels", ["fast", "reference"])
@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_vector_bit_exact(rt: CRuntime, vector: Path, kernels: str):
    blob = (vector / "model.esnn").read_bytes()
    x = np.fromfile(vector / "input.bin", dtype=np.uint8)
    want = expected(vector)
    got = rt.run(blob, x, kernels=kernels)
    np.testing.assert_array_equal(got.logits, want["logits"])
    np.testing.assert_array_equal(got.spike_counts, want["spike_counts"])
    np.testing.assert_array_equal(np.concatenate(got.final_state), want["final_state"])
    assert got.predicted == meta(vector)["predicted"] == int(np.argmax(want["logits"]))


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_vector_time_major_steps(rt: CRuntime, vector: Path):
    blob = (vector / "model.esnn").read_bytes()
    x = np.fromfile(vector / "input.bin", dtype=np.uint8)
    if meta(vector)["layer_major"]:
        with pytest.raises(CRuntimeError, match="ESNN_ERR_STATE"):
            rt.run(blob, x, time_major=True)
        return
    want = expected(vector)
    got = rt.run(blob, x, time_major=True)
    np.testing.assert_array_equal(got.logits, want["logits"])
    np.testing.assert_array_equal(got.spike_counts, want["spike_counts"])
    np.testing.assert_array_equal(np.concatenate(got.final_state), want["final_state"])


@pytest.mark.parametrize("vector", VECTORS[:4], ids=IDS[:4])
def test_matches_python_reference_on_random_input(rt: CRuntime, vector: Path):
    blob = (vector / "model.esnn").read_bytes()
    x = np.fromfile(vector / "input.bin", dtype=np.uint8)
    rng = np.random.default_rng(7)
    for _ in range(3):
        y = rng.integers(0, 256, size=x.size, dtype=np.uint8)
        ref = reference_run(blob, y.reshape(-1, *_input_shape(blob)))
        got = rt.run(blob, y)
        np.testing.assert_array_equal(got.logits, ref.logits)
        np.testing.assert_array_equal(got.spike_counts, ref.spike_counts)
        for a, b in zip(got.final_state, ref.final_state, strict=True):
            np.testing.assert_array_equal(a, b.reshape(-1))


def _input_shape(blob: bytes) -> tuple[int, int, int]:
    c, h, w = np.frombuffer(blob, dtype="<u2", count=3, offset=64 + 2)
    return int(c), int(h), int(w)


def test_binding_errors(rt: CRuntime):
    vector = VECTORS[0]
    blob = (vector / "model.esnn").read_bytes()
    x = np.fromfile(vector / "input.bin", dtype=np.uint8)
    with pytest.raises(ValueError, match="input"):
        rt.run(blob, x[:-1])
    with pytest.raises(CRuntimeError, match="ESNN_ERR_CRC"):
        rt.run(blob[:-1] + bytes([blob[-1] ^ 1]), x)
    v = rt.validate(blob)
    assert v.ok and v.arena_bytes > 0 and v.arena_bytes % 8 == 0
    assert rt.version.count(".") == 2


def _cli(exe: Path, vector: Path, out: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    out.mkdir(parents=True, exist_ok=True)
    cmd = [str(exe), *flags, "-o", str(out), str(vector / "model.esnn"), str(vector / "input.bin")]
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def _assert_files_equal(vector: Path, out: Path) -> None:
    for name in ("logits.bin", "spike_counts.bin", "final_state.bin"):
        assert (out / name).read_bytes() == (vector / name).read_bytes(), f"{vector.name}: {name}"


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_cli_writes_bit_exact_files(rt: CRuntime, vector: Path, tmp_path: Path):
    build("host")
    proc = _cli(CLI, vector, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"predicted {meta(vector)['predicted']}" in proc.stdout
    _assert_files_equal(vector, tmp_path)


def test_cli_reports_errors(tmp_path: Path):
    build("host")
    bad = tmp_path / "bad.esnn"
    bad.write_bytes(b"ESNN" + bytes(100))
    proc = subprocess.run([str(CLI), str(bad), str(VECTORS[0] / "input.bin")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "ESNN_ERR_" in proc.stderr


def test_asan_ubsan_runs_every_vector_clean(asan_cli: Path, tmp_path: Path):
    for vector in VECTORS:
        for flags in ((), ("--ref",), ("--step",)):
            if flags == ("--step",) and meta(vector)["layer_major"]:
                continue
            out = tmp_path / f"{vector.name}{''.join(flags)}"
            proc = _cli(asan_cli, vector, out, *flags)
            assert proc.returncode == 0, f"{vector.name} {flags}: {proc.stderr}"
            assert "runtime error" not in proc.stderr and "Sanitizer" not in proc.stderr, proc.stderr
            _assert_files_equal(vector, out)


def test_asan_ubsan_runs_the_lean_plan_of_every_vector(asan_cli: Path):
    """Without -o the CLI runs the lean plan a board runs (states reused after their segment, int16 planes,
    the fused first layer, recomputed attention inputs) in exactly its arena: clean under ASan/UBSan, and
    the printed logits and spike counts are the vector's."""
    for vector in VECTORS:
        cmd = [str(asan_cli), str(vector / "model.esnn"), str(vector / "input.bin")]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        assert proc.returncode == 0, f"{vector.name}: {proc.stderr}"
        assert "runtime error" not in proc.stderr and "Sanitizer" not in proc.stderr, proc.stderr
        lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines() if " " in line)
        want = expected(vector)
        assert lines["logits"].split() == [str(v) for v in want["logits"]], vector.name
        assert lines["spike_counts"].split() == [str(v) for v in want["spike_counts"]], vector.name


def test_portable_kernels_run_every_vector_clean(tmp_path: Path):
    """The portable C kernels (-DESNN_NO_ASM: no SSE2 intrinsics, no M4 asm) bit-exact under ASan/UBSan."""
    try:
        build("portable")
    except CRuntimeUnavailable as e:
        pytest.skip(f"portable build unavailable: {e}")
    exe = FIRMWARE / "build" / "portable" / "esnn_run"
    for vector in VECTORS:
        out = tmp_path / vector.name
        proc = _cli(exe, vector, out)
        assert proc.returncode == 0, f"{vector.name}: {proc.stderr}"
        assert "runtime error" not in proc.stderr and "Sanitizer" not in proc.stderr, proc.stderr
        _assert_files_equal(vector, out)
