"""Emit: the blob passes the reference loader, is deterministic, and the C pair embeds it exactly."""

from __future__ import annotations

import re

import numpy as np

from edgesnn import reference
from edgesnn.export.capture import capture
from edgesnn.export.emit import c_header, c_source, to_blob
from edgesnn.export.passes.bounds import analyse_bounds
from edgesnn.export.passes.fold_bn import fold_batchnorm
from edgesnn.export.passes.quantize import quantize
from tests.export.nets import tiny_model


def _blob(**overrides) -> bytes:
    return to_blob(analyse_bounds(quantize(fold_batchnorm(capture(tiny_model(**overrides))), 8))[0])


def test_blob_loads_with_header_flags_and_ops() -> None:
    m = reference.parse(_blob(attention="S"))
    assert m.T == 2 and m.num_classes == 10 and m.static_input and m.layer_major
    assert m.buffers[0].kind == reference.BufferKind.INPUT_U8 and m.buffers[0].shape == (1, 28, 28)
    assert m.ops[0].static and isinstance(m.ops[-1], reference.Readout)
    assert sum(isinstance(op, reference.Logic) for op in m.ops) == 2
    assert not reference.parse(_blob()).layer_major


def test_deterministic() -> None:
    assert _blob(attention="C") == _blob(attention="C")


def test_c_pair_embeds_the_blob_with_a_version_guard() -> None:
    blob = _blob()
    h, c = c_header("esnn_model", len(blob)), c_source("esnn_model", "model.h", blob)
    assert "#define ESNN_HEADER_VERSION 1" in h and f"extern const uint8_t esnn_model[{len(blob)}];" in h
    assert "#if !defined(ESNN_FORMAT_MAJOR) || ESNN_FORMAT_MAJOR != 1" in c and "#error" in c
    body = c.split("= {", 1)[1]
    values = bytes(int(v, 16) for v in re.findall(r"0x([0-9a-f]{2})", body))
    assert values == blob and np.frombuffer(values[:4], np.uint8).tobytes() == b"ESNN"
