"""The C runtime as the MicroPython dynamic native module `esnn_native` (devices/micropython/native/): built
for x64 (once per source hash, cached) and run on the unix-port `micropython`; every conformance vector
bit for bit (logits, spike counts, final states through ESNN_OPT_FINAL_STATE), streamed step by step, the lean
plan (no final states) giving the same results, no heap allocation per run, malformed blobs refused with
the C loader's status and field as a ValueError, and a shipped module per architecture.
The package ships the modules prebuilt (devices/micropython/native/prebuilt/): a test fails when they are
older than the runtime sources, so the modules the tests run are the ones users get."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from edgesnn.reference import parse
from edgesnn.runtime import micropython_native as nat
from edgesnn.runtime.micropython import RUNTIME_DIR, MicroPythonRuntime
from tests.devices.conftest import VECTOR_ROOT, VECTORS, assert_same
from tests.devices.test_micropython_malformed import SMALL, patched
from tests.devices.test_micropython_vectors import expected


@pytest.fixture(scope="module")
def native_x64() -> Path:
    return nat.module("x64")


def run_script(mpy: MicroPythonRuntime, native: Path, script: str) -> str:
    with tempfile.TemporaryDirectory(prefix="esnn-nat-") as tmp:
        path = Path(tmp) / "t.py"
        path.write_text(script)
        env = dict(os.environ, MICROPYPATH=f"{native.parent}:{RUNTIME_DIR}")
        proc = subprocess.run(
            [mpy.binary, str(path)], capture_output=True, text=True, env=env, timeout=60, check=False
        )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc.stdout


@pytest.mark.parametrize("name", VECTORS)
def test_vector_bit_exact(mpy: MicroPythonRuntime, native_x64: Path, name: str):
    blob, x, want = expected(name)
    timed = mpy.run_timed(blob, x, kernels="native")
    assert timed.kernels == "native"
    assert_same(timed.result, want, f"{name} (native)")


@pytest.mark.parametrize(
    "name", [n for n in VECTORS if not parse((VECTOR_ROOT / n / "model.esnn").read_bytes()).layer_major]
)
def test_vector_streamed_step_by_step(mpy: MicroPythonRuntime, native_x64: Path, name: str):
    blob, x, want = expected(name)
    assert_same(mpy.run(blob, x, kernels="native", time_major=True), want, f"{name} (native, step)")


def test_lean_plan_same_results_and_no_allocation_per_run(mpy: MicroPythonRuntime, native_x64: Path):
    # every vector with the lean arena (no final states): the same logits, prediction and counts as with
    # ESNN_OPT_FINAL_STATE, a smaller or equal arena, and gc.mem_alloc() unchanged over three native runs
    names = repr(VECTORS)
    script = f"""
import gc
import esnn_model
for name in {names}:
    d = "{VECTOR_ROOT}/" + name + "/"
    blob = open(d + "model.esnn", "rb").read()
    x = open(d + "input.bin", "rb").read()
    full = esnn_model.Model(blob)
    lean = esnn_model.Model(blob, final_state=False)
    assert full.kernels == "native" and lean.kernels == "native"
    a = full.run(x)
    b = lean.run(x)
    assert b[3] is None and a[3] is not None
    assert a[:3] == b[:3], (name, a[:3], b[:3])
    assert lean.arena_bytes <= full.arena_bytes
    run, logits, counts = lean.native.run, lean.logits, lean.counts
    gc.collect()
    before = gc.mem_alloc()
    run(x, logits, counts)
    run(x, logits, counts)
    run(x, logits, counts)
    grown = gc.mem_alloc() - before
    assert grown == 0, (name, grown)
    print(name, lean.arena_bytes, full.arena_bytes)
"""
    out = run_script(mpy, native_x64, script)
    assert len(out.splitlines()) == len(VECTORS)


def test_malformed_blobs_raise_value_error_naming_the_field(mpy: MicroPythonRuntime, native_x64: Path):
    ops_offset, data_size = (int.from_bytes(SMALL[o : o + 4], "little") for o in (28, 40))
    cases = {
        "ESNN_ERR_MAGIC": (b"XSNN" + SMALL[4:], "magic"),
        "ESNN_ERR_CRC": (SMALL[:-1] + bytes([SMALL[-1] ^ 0x80]), ""),
        "ESNN_ERR_TRUNCATED": (SMALL[:40], ""),
        "ESNN_ERR_VERSION": (patched(SMALL, 4, "H", 2), "version_major"),
        "ESNN_ERR_OP": (patched(SMALL, ops_offset, "B", 9), "opcode"),
        "ESNN_ERR_DATA": (patched(SMALL, ops_offset + 24, "I", data_size + 4), ""),
    }
    verdicts = mpy.validate([blob for blob, _ in cases.values()], native=True)
    for (status, (_, field)), verdict in zip(cases.items(), verdicts, strict=True):
        assert verdict.startswith(f"BlobError: {status}: "), (status, verdict)
        assert field in verdict, (status, field, verdict)
    try:  # the C host library's own verdict: the same status, field, op and buffer
        from edgesnn.runtime.c import CRuntime, CRuntimeUnavailable

        c = CRuntime()
    except (ImportError, CRuntimeUnavailable):
        return
    for (blob, _), verdict in zip(cases.values(), verdicts, strict=True):
        v = c.validate(blob)
        assert verdict.startswith(f"BlobError: {v.status}: "), (v, verdict)
        assert v.field in verdict, (v, verdict)
        if v.op >= 0:
            assert f"op {v.op}" in verdict, (v, verdict)
    # a good blob is accepted and runs (the verdict line carries its results)
    assert mpy.validate([SMALL], run=True, native=True)[0].startswith("ok ")


# MicroPython's .mpy header: b"M", version 6, then the native arch code (py/persistentcode.h MP_NATIVE_ARCH_*)
ARCH_CODES = {"x64": 2, "armv6m": 4, "armv7m": 5, "armv7emsp": 7}


def test_shipped_modules_match_the_sources():
    """Every shipped module was built from the current glue, Makefile and runtime: a change to
    firmware/runtime without `--update-prebuilt` fails here, naming the command."""
    manifest = nat.prebuilt_manifest()
    assert manifest["source_key"] == nat.source_key(), (
        "devices/micropython/native/prebuilt/ is older than the sources: "
        "EDGESNN_MPY_DIR=<micropython> python -m edgesnn.runtime.micropython_native --update-prebuilt"
    )
    assert set(manifest["archs"]) == set(ARCH_CODES)


@pytest.mark.parametrize("arch", sorted(ARCH_CODES))
def test_shipped_module_is_for_its_architecture(arch: str):
    path = nat.module(arch)
    data = path.read_bytes()
    assert data[:2] == b"M\x06" and data[2] >> 2 == ARCH_CODES[arch], (arch, data[:4])
    assert len(data) == nat.prebuilt_manifest()["archs"][arch] > 10_000


def test_stale_prebuilt_module_says_how_to_refresh(monkeypatch):
    monkeypatch.setattr(nat, "source_key", lambda: "0" * 16)
    monkeypatch.delenv("EDGESNN_MPY_DIR", raising=False)
    with pytest.raises(
        nat.NativeBuildUnavailable, match=r"older than the runtime sources.*--update-prebuilt"
    ):
        nat.module("x64")
