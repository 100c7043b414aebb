"""Writer/loader round trip: load(to_bytes(m)) == m, deterministic bytes, int4/int16 packing."""

from __future__ import annotations

import numpy as np
import pytest

from edgesnn.format.writer import encode_weights
from edgesnn.reference import BlobError, Conv, Readout, load, save, to_bytes
from tests.reference.blobs import every_op_model


def test_round_trip_equal_and_deterministic(tmp_path):
    model = every_op_model()
    blob = to_bytes(model)
    assert load(blob) == model
    assert to_bytes(load(blob)) == blob
    assert to_bytes(every_op_model()) == blob
    save(model, tmp_path / "m.esnn")
    assert load(tmp_path / "m.esnn") == model
    assert load(blob) != every_op_model(seed=1)


def test_arrays_are_read_only_and_typed():
    model = load(to_bytes(every_op_model()))
    conv = model.ops[0]
    assert isinstance(conv, Conv) and conv.weights.dtype == np.int8 and conv.bias.dtype == np.int32
    with pytest.raises(ValueError):
        conv.weights[0, 0, 0, 0] = 1
    assert model.ops[4].weights.dtype == np.int16


def test_int4_packing_low_nibble_first():
    assert encode_weights(np.array([1, -1, -8, 7, 3]), 4) == bytes([0xF1, 0x78, 0x03])
    assert encode_weights(np.array([-2, 300]), 16) == bytes([0xFE, 0xFF, 0x2C, 0x01])


def test_writer_refuses_values_outside_the_bit_width():
    with pytest.raises(BlobError, match="CONV weights"):
        Conv(0, 1, np.full((1, 1, 1, 1), 8), [0], weight_bits=4)
    with pytest.raises(BlobError, match="READOUT weights"):
        Readout(1, np.full((1, 2), 128), [0, 0], weight_bits=8)
