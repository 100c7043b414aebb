"""The MicroPython runtime allocates at init, not per step: after the first step of a sample, `Model.step`
(viper kernels) leaves the heap untouched on every causal vector, and `Model.run(x, states=False)` allocates
only its small result lists."""

from __future__ import annotations

import os
import subprocess

from edgesnn.reference import parse
from edgesnn.runtime.micropython import RUNTIME_DIR, MicroPythonRuntime
from tests.devices.conftest import VECTOR_ROOT, VECTORS

SCRIPT = """
import gc, sys
import esnn_model
blob = open(sys.argv[1], 'rb').read()
x = open(sys.argv[2], 'rb').read()
m = esnn_model.Model(blob)
frame = memoryview(x)[:m.frame_size]
m.reset()
m.step(frame)
worst = 0
for t in range(1, m.T):
    gc.collect(); gc.disable(); a = gc.mem_alloc()
    m.step(frame)
    worst = max(worst, gc.mem_alloc() - a); gc.enable()
m.run(x, False)
gc.collect(); gc.disable(); a = gc.mem_alloc()
m.run(x, False)
run = gc.mem_alloc() - a; gc.enable()
print(worst, run)
"""


def test_no_allocation_per_step(mpy: MicroPythonRuntime, tmp_path):
    script = tmp_path / "alloc.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, MICROPYPATH=str(RUNTIME_DIR))
    causal = [n for n in VECTORS if not parse((VECTOR_ROOT / n / "model.esnn").read_bytes()).layer_major]
    assert len(causal) >= 8
    for name in causal:
        d = VECTOR_ROOT / name
        proc = subprocess.run(
            [mpy.binary, str(script), str(d / "model.esnn"), str(d / "input.bin")],
            capture_output=True, text=True, env=env, check=False, timeout=60,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        step, run = (int(v) for v in proc.stdout.split())
        assert step == 0, f"{name}: {step} bytes allocated by one step"
        assert run <= 512, f"{name}: {run} bytes allocated by one run (results only)"
