"""`edgesnn.export.micropython_memory.heap_bytes` against the real runtime: the heap that `Model(blob)` plus
one `run` keep on the unix port (`gc.mem_alloc()` growth, `gc.collect()` before each reading) for every
conformance vector and random small models, viper and plain kernels.

The unix port is 64-bit, so the bound is evaluated there with `word=8` (the same accounting, twice the
object header and slot sizes): measured <= bound <= 1.5 x measured + 2 KiB. The 32-bit figure used by
`edgesnn flash` differs only in object sizes; it is checked to stay within the 64-bit one plus the long
ints a 32-bit port adds."""

from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest

from edgesnn.export.micropython_memory import heap_bytes
from edgesnn.reference import parse
from edgesnn.reference.layout import AttnDim, AttnKind, BufferKind
from edgesnn.reference.model import Buffer, Conv, Lif, Model, Readout
from edgesnn.reference.writer import to_bytes
from edgesnn.runtime.micropython import RUNTIME_DIR, MicroPythonUnavailable, find_micropython
from tests.devices.conftest import VECTOR_ROOT, VECTORS
from tests.devices.test_micropython_models import attn_model, residual_model, spike_conv_model

MEASURE = """
import gc, sys
import esnn_model
blob = open(sys.argv[1], "rb").read()
x = open(sys.argv[2], "rb").read()
gc.collect()
before = gc.mem_alloc()
m = esnn_model.Model(blob, viper=sys.argv[3] == "viper")
r = m.run(x)
gc.collect()
print("heap", gc.mem_alloc() - before)
"""


@pytest.fixture(scope="module")
def micropython() -> str:
    try:
        return find_micropython()
    except MicroPythonUnavailable as exc:
        pytest.skip(str(exc))


def measure(binary: str, blob: bytes, x: bytes, kernels: str, tmp_path) -> int:
    (tmp_path / "m.esnn").write_bytes(blob)
    (tmp_path / "x.bin").write_bytes(x)
    (tmp_path / "measure.py").write_text(MEASURE)
    argv = [binary, str(tmp_path / "measure.py"), str(tmp_path / "m.esnn"), str(tmp_path / "x.bin"), kernels]
    env = {**os.environ, "MICROPYPATH": str(RUNTIME_DIR)}
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return int(proc.stdout.split()[-1])


def check(binary: str, blob: bytes, x: bytes, tmp_path) -> None:
    bound = heap_bytes(blob, word=8)
    for kernels in ("viper", "plain"):
        measured = measure(binary, blob, x, kernels, tmp_path)
        assert measured <= bound <= 1.5 * measured + 2048, (kernels, measured, bound)
    # 32-bit: the same items with half-size headers and slots, plus the long ints only a 32-bit port has
    assert heap_bytes(blob) <= bound + 64 * 1024
    assert heap_bytes(blob, board=True) > heap_bytes(blob) + len(blob)


@pytest.mark.parametrize("name", VECTORS)
def test_vectors(micropython: str, name: str, tmp_path):
    v = VECTOR_ROOT / name
    check(micropython, (v / "model.esnn").read_bytes(), (v / "input.bin").read_bytes(), tmp_path)


def _input(model: Model, seed: int) -> bytes:
    frames = 1 if model.static_input else model.T
    c, h, w = model.input.shape
    return np.random.default_rng(seed).integers(0, 256, frames * c * h * w, dtype=np.uint8).tobytes()


def bench28() -> Model:
    """1x28x28 static -> conv 16 -> LIF16 -> spike conv 3x3 16->16 -> LIF16 -> readout, T=4 (README)."""
    r = np.random.default_rng(0)
    b = [Buffer(BufferKind.INPUT_U8, 1, 28, 28)]
    b += [Buffer(k, 16, 28, 28) for k in (BufferKind.CURRENT, BufferKind.SPIKES) * 2]
    i8 = lambda *s: r.integers(-127, 128, s).astype(np.int8)  # noqa: E731
    ops = [
        Conv(0, 1, i8(1, 3, 3, 16), np.zeros(16, np.int32), 1, 1, 8, static=True),
        Lif(1, 2, r.integers(8000, 30000, 16).astype(np.int32), 32768, 16),
        Conv(2, 3, i8(16, 3, 3, 16), np.zeros(16, np.int32), 1, 1, 8),
        Lif(3, 4, r.integers(100, 400, 16).astype(np.int32), 32768, 16),
        Readout(4, i8(16, 10), np.zeros(10, np.int32), 8),
    ]
    return Model(4, 10, b, ops, static_input=True)


MODELS = {
    "spike_conv_int4_k5": lambda: spike_conv_model(40, 12, (9, 7), 5, 2, 2, 4, 16, 30000, 1),
    "spike_conv_int16_k3": lambda: spike_conv_model(8, 33, (8, 8), 3, 1, 1, 16, 32, 65536, 2),
    "residual": lambda: residual_model(3),
    "attn_s_ma": lambda: attn_model(AttnDim.S, AttnKind.MA, 4),
    "attn_c_ia": lambda: attn_model(AttnDim.C, AttnKind.IA, 5),
    "bench28": bench28,
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_models(micropython: str, name: str, tmp_path):
    model = MODELS[name]()
    check(micropython, to_bytes(model), _input(model, 7), tmp_path)


NATIVE_MEASURE = """
import gc, sys
import esnn_model
blob = open(sys.argv[1], "rb").read()
x = open(sys.argv[2], "rb").read()
gc.collect()
before = gc.mem_alloc()
m = esnn_model.Model(blob, final_state=False)
assert m.kernels == "native"
r = m.run(x)
gc.collect()
print("heap", gc.mem_alloc() - before, m.arena_bytes)
"""


def native_models() -> dict[str, tuple[bytes, bytes]]:
    out = {v: tuple((VECTOR_ROOT / v / f).read_bytes() for f in ("model.esnn", "input.bin")) for v in VECTORS}
    for name, make in MODELS.items():
        model = make()
        out[name] = (to_bytes(model), _input(model, 7))
    return out


def test_native_heap_bound(micropython: str, tmp_path):
    """The C runtime inside MicroPython (esnn_native, x64 on the unix port): the heap `Model(blob,
    final_state=False)` plus one run keep is within `native_heap_bytes` and close to it, over every vector
    and the test models, and on a 32-bit port the bound is the C plan's arena + at most 24 KiB (the blob is
    read in place; the module's code is counted apart)."""
    from edgesnn.export.micropython_memory import native_heap_bytes
    from edgesnn.export.passes.memory import plan_arena
    from edgesnn.runtime import micropython_native as nat

    try:
        native = nat.module("x64")
    except nat.NativeBuildUnavailable as exc:
        pytest.skip(str(exc))
    script = tmp_path / "measure.py"
    script.write_text(NATIVE_MEASURE)
    env = {**os.environ, "MICROPYPATH": f"{native.parent}:{RUNTIME_DIR}"}
    for name, (blob, x) in native_models().items():
        (tmp_path / "m.esnn").write_bytes(blob)
        (tmp_path / "x.bin").write_bytes(x)
        argv = [micropython, str(script), str(tmp_path / "m.esnn"), str(tmp_path / "x.bin")]
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode == 0, proc.stderr[-2000:]
        measured, arena_len = (int(v) for v in proc.stdout.split()[-2:])
        model = parse(blob)
        arena = plan_arena(model).total_bytes
        assert arena_len == arena + 7, name  # the lean plan, 7 bytes to align its start
        bound = native_heap_bytes(model, arena, len(blob), word=8)
        assert measured <= bound <= measured + 1024, (name, measured, bound)
        assert native_heap_bytes(model, arena, len(blob)) <= arena + 24 * 1024, name
