"""The emitted C is compiled (emlearn's habit): `model.c`/`model.h` from `edgesnn export` are built with the
host runtime (firmware/runtime) and a small main, run on one sample, and the logits equal the Python
reference's; the version guard in model.c tests `ESNN_FORMAT_MAJOR`, which esnn.h defines, so a runtime of
another format major fails to compile with the guard's #error."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgesnn import reference
from edgesnn.export.emit import c_header, c_source
from tests.conftest import REPO
from tests.export.test_emit import _blob

RUNTIME = REPO / "firmware" / "runtime"
CC = shutil.which("cc")
pytestmark = pytest.mark.skipif(CC is None, reason="needs a C compiler (cc)")

MAIN = """#include <stdio.h>
#include <stdlib.h>
#include "esnn.h"
#include "model.h"

static const uint8_t input[] = {%s};

int main(void) {
    size_t arena_len = 0;
    if (esnn_arena_required(esnn_model, ESNN_MODEL_SIZE, &arena_len) != ESNN_OK) return 2;
    void *ctx = malloc(esnn_ctx_size()), *arena = malloc(arena_len);
    if (esnn_init(ctx, esnn_model, ESNN_MODEL_SIZE, arena, arena_len) != ESNN_OK) return 3;
    if (esnn_run(ctx, input, sizeof input) != ESNN_OK) return 4;
    const int32_t *logits = esnn_logits(ctx);
    for (size_t i = 0; i < %d; i++) printf("%%ld\\n", (long)logits[i]);
    return 0;
}
"""


def _write(tmp: Path, blob: bytes, x: np.ndarray, classes: int) -> None:
    (tmp / "model.h").write_text(c_header("esnn_model", len(blob)))
    (tmp / "model.c").write_text(c_source("esnn_model", "model.h", blob))
    (tmp / "main.c").write_text(MAIN % (", ".join(map(str, x.ravel())), classes))


def _compile(tmp: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    sources = [*sorted(RUNTIME.glob("*.c")), *sorted((RUNTIME / "kernels").glob("*.c"))]
    argv = [CC, "-std=c11", "-O1", *flags, f"-I{RUNTIME}", f"-I{tmp}", "-o", str(tmp / "model_main")]
    argv += [str(tmp / "main.c"), str(tmp / "model.c"), *map(str, sources)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=300)


def test_emitted_c_runs_like_the_reference(tmp_path: Path) -> None:
    blob = _blob(attention="S")
    model = reference.parse(blob)
    x = np.random.default_rng(0).integers(0, 256, (1, *model.input.shape), dtype=np.uint8)
    _write(tmp_path, blob, x, model.num_classes)
    built = _compile(tmp_path)
    assert built.returncode == 0, built.stderr
    ran = subprocess.run([str(tmp_path / "model_main")], capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, f"exit {ran.returncode}: {ran.stderr}"
    logits = [int(v) for v in ran.stdout.split()]
    assert logits == reference.run(model, x).logits.tolist()


def test_the_version_guard_fires_on_another_format_major(tmp_path: Path) -> None:
    blob = _blob()
    model = reference.parse(blob)
    x = np.zeros((1, *model.input.shape), dtype=np.uint8)
    _write(tmp_path, blob, x, model.num_classes)
    (tmp_path / "esnn.h").write_text(  # esnn.h of a runtime that reads format 2
        f'#include "{RUNTIME / "esnn.h"}"\n#undef ESNN_FORMAT_MAJOR\n#define ESNN_FORMAT_MAJOR 2\n'
    )
    (tmp_path / "main.c").write_text("int main(void) { return 0; }\n")
    built = subprocess.run(
        [CC, "-std=c11", f"-I{tmp_path}", f"-I{RUNTIME}", "-c", "-o", str(tmp_path / "model.o"),
         str(tmp_path / "model.c")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert built.returncode != 0
    assert "#error" in built.stderr and "another format major: re-export the model" in built.stderr
