"""MA breakpoints are ascending (non-decreasing) int64s, whatever their span (FORMAT.md 1.3): the Python
reference once subtracted neighbours (np.diff wraps past 2^63) and refused a span over 2^63 that the C and
MicroPython loaders accept (issue 18, fault 5). Every loader now accepts it, refuses a descending pair, and
the C runtime computes the reference's results on it."""

from __future__ import annotations

import dataclasses
import struct
import zlib

import numpy as np
import pytest

from edgesnn.reference import AttnKind, BlobError, load, parse, to_bytes
from edgesnn.reference import run as reference_run
from tests.firmware.conftest import VECTOR_ROOT

VECTOR = VECTOR_ROOT / "attn_ma_c"


def with_breakpoints(values: list[int]) -> bytes:
    model = parse((VECTOR / "model.esnn").read_bytes())
    k, attn = next((k, op) for k, op in enumerate(model.ops) if getattr(op, "kind", None) == AttnKind.MA)
    table = np.array(attn.table, dtype=np.int64)
    table[: len(values)] = values
    table[len(values) :] = values[-1]  # the rest repeats the last: non-decreasing
    ops = list(model.ops)
    ops[k] = dataclasses.replace(attn, table=table)
    return to_bytes(dataclasses.replace(model, ops=ops))


WIDE = [-(2**63), 2**62]  # ascending, 2^63 + 2^62 apart


def descending() -> bytes:
    """The WIDE blob with its first two breakpoints swapped in place (CRC fixed): the writer refuses to make
    one, as every loader must."""
    blob = bytearray(with_breakpoints(WIDE))
    pair = struct.pack("<qq", *WIDE)
    at = blob.index(pair)
    blob[at : at + 16] = struct.pack("<qq", WIDE[1], WIDE[0])
    blob[-4:] = struct.pack("<I", zlib.crc32(bytes(blob[:-4])) & 0xFFFFFFFF)
    return bytes(blob)


def test_the_reference_accepts_a_span_over_2_63_and_refuses_a_descending_pair():
    load(with_breakpoints(WIDE))
    with pytest.raises(BlobError, match="breakpoints: not ascending at 1"):
        load(descending())


def test_the_c_runtime_agrees_on_both():
    from edgesnn.runtime.c import CRuntime, CRuntimeError, CRuntimeUnavailable

    try:
        rt = CRuntime()
    except CRuntimeUnavailable as e:
        pytest.skip(str(e))
    x = np.fromfile(VECTOR / "input.bin", dtype=np.uint8)
    blob = with_breakpoints(WIDE)
    want = reference_run(blob, x.reshape(-1, 1, 8, 8))
    got = rt.run(blob, x)
    np.testing.assert_array_equal(got.logits, want.logits)
    np.testing.assert_array_equal(got.spike_counts, want.spike_counts)
    with pytest.raises(CRuntimeError, match="ESNN_ERR_VALUE"):
        rt.run(descending(), x)


def test_the_micropython_loader_agrees_on_both():
    from edgesnn.runtime.micropython import MicroPythonRuntime, MicroPythonUnavailable

    try:
        mpy = MicroPythonRuntime()
    except MicroPythonUnavailable as e:
        pytest.skip(str(e))
    wide, down = mpy.validate([with_breakpoints(WIDE), descending()])
    assert wide == ""
    assert down.startswith("BlobError: ") and "breakpoints: not ascending at 1" in down
