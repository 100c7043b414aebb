"""Malformed blobs: every header, buffer and op field, offsets past the end, truncation, CRC, graph rules.

Each corruption re-computes the CRC (unless the CRC is what is tested), so the loader reaches the field.
"""

from __future__ import annotations

import contextlib
import math
import struct
import zlib

import numpy as np
import pytest

from edgesnn.format.layout import record_size
from edgesnn.reference import Attn, AttnDim, AttnKind, BlobError, Conv, Lif, Model, Readout, load, to_bytes
from tests.reference.blobs import every_op_model

BLOB = to_bytes(every_op_model())
OPS_OFFSET, OPS_SIZE, DATA_OFFSET, DATA_SIZE = struct.unpack_from("<IIII", BLOB, 28)


def with_crc(body: bytes) -> bytes:
    return body[:-4] + struct.pack("<I", zlib.crc32(body[:-4]) & 0xFFFFFFFF)


def patch(offset: int, fmt: str, value: object, blob: bytes = BLOB) -> bytes:
    b = bytearray(blob)
    struct.pack_into("<" + fmt, b, offset, value)
    return with_crc(bytes(b))


def op_pos(i: int) -> int:
    model = every_op_model()
    return OPS_OFFSET + sum(record_size(op.opcode) for op in model.ops[:i])


HEADER_CASES = [
    (0, "4s", b"ESNX", "magic"),
    (4, "H", 2, r"version_major: 2\.0 .*accepts version 1\.0"),
    (6, "H", 1, r"version_minor: 1\.1 .*accepts version 1\.0"),
    (8, "H", 60, "header_size"),
    (12, "I", len(BLOB) + 4, "file_size"),
    (12, "I", len(BLOB) - 4, "file_size"),
    (16, "I", 0x7, "flags: unknown"),
    (16, "I", 0x2, "LAYER_MAJOR"),
    (16, "I", 0x1, "STATIC"),
    (20, "H", 0, "T: 0"),
    (20, "H", 1025, "T: 1025"),
    (22, "H", 1, "num_classes"),
    (22, "H", 1025, "num_classes"),
    (24, "H", 0, "num_buffers"),
    (24, "H", 257, "num_buffers"),
    (26, "H", 0, "num_ops"),
    (26, "H", 257, "num_ops"),
    (28, "I", OPS_OFFSET + 2, "ops_offset"),
    (28, "I", 64, "ops_offset"),
    (32, "I", OPS_SIZE + 4, "ops_size"),
    (32, "I", OPS_SIZE - 4, "op section|ops_size"),
    (36, "I", DATA_OFFSET + 2, "data_offset"),
    (36, "I", DATA_OFFSET + 4, "data_size"),
    (40, "I", DATA_SIZE + 4, "data_size"),
    (44, "f", math.nan, "logit_scale"),
    (44, "f", -1.0, "logit_scale"),
    (48, "I", 0, "input_scale_num"),
    (60, "I", 1, "reserved"),
]


@pytest.mark.parametrize(("offset", "fmt", "value", "field"), HEADER_CASES)
def test_every_header_field_is_checked(offset, fmt, value, field):
    with pytest.raises(BlobError, match=field):
        load(patch(offset, fmt, value))


BUFFER_CASES = [
    (0, 0, "B", 1, "buffer 0 kind"),
    (1, 0, "B", 0, "buffer 1 kind"),
    (1, 0, "B", 3, "buffer 1 kind"),
    (1, 1, "B", 1, "buffer 1 reserved"),
    (1, 2, "H", 0, "buffer 1 channels"),
    (1, 2, "H", 4097, "buffer 1 channels"),
    (2, 4, "H", 0, "buffer 2 height"),
    (3, 6, "H", 5000, "buffer 3 width"),
    (3, 2, "HHH", (4096, 4096, 1), "buffer 3 shape.*reader limit"),
    (3, 2, "H", 5, "op 2 .LIF. channels"),
    (2, 4, "H", 5, "op 1 .ATTN. out: shape"),
]


@pytest.mark.parametrize(("buf", "offset", "fmt", "value", "field"), BUFFER_CASES)
def test_every_buffer_field_is_checked(buf, offset, fmt, value, field):
    values = value if isinstance(value, tuple) else (value,)
    b = bytearray(BLOB)
    struct.pack_into("<" + fmt, b, 64 + 8 * buf + offset, *values)
    with pytest.raises(BlobError, match=field):
        load(with_crc(bytes(b)))


OP_CASES = [
    # record header
    (0, 0, "B", 9, r"op 0 opcode: 9"),
    (0, 0, "B", 0, r"op 0 opcode"),
    (0, 1, "B", 3, r"op 0 \(CONV\) flags"),
    (2, 1, "B", 1, r"op 2 \(LIF\) flags"),
    (0, 2, "H", 28, r"op 0 \(CONV\) size"),
    (0, 4, "H", 99, r"op 0 \(CONV\) in0: buffer 99 does not exist"),
    (0, 6, "H", 1, r"op 0 \(CONV\) in1"),
    (0, 8, "H", 0, r"op 0 \(CONV\) out: buffer 0 is already written"),
    (0, 8, "H", 300, r"op 0 \(CONV\) out: buffer 300 does not exist"),
    (0, 10, "H", 1, r"op 0 \(CONV\) reserved"),
    # CONV (op 0: u8 input, STATIC, int4; op 4: spikes, int16)
    (0, 12, "H", 2, "cin"),
    (0, 14, "H", 3, "cout"),
    (0, 16, "B", 0, "kh"),
    (0, 16, "B", 16, "kh"),
    (0, 17, "B", 0, "kw"),
    (0, 18, "B", 9, "stride"),
    (0, 19, "B", 8, "pad"),
    (0, 19, "B", 2, "output size"),
    (0, 20, "B", 5, "weight_bits"),
    (0, 21, "B", 1, "reserved"),
    (0, 24, "I", 2, "weight_offset: 2 is not 4-aligned"),
    (0, 24, "I", DATA_SIZE - 4, r"op 0 \(CONV\) weight_offset: \d+ \+ 18 bytes runs past the data section"),
    (0, 28, "I", 1 << 31, "bias_offset"),
    # LIF (op 2)
    (2, 12, "H", 3, "channels"),
    (2, 14, "B", 8, "state_bits"),
    (2, 15, "B", 1, "reserved"),
    (2, 16, "I", 0, "leak_mul"),
    (2, 16, "I", 65537, "leak_mul"),
    (2, 20, "I", DATA_SIZE, "threshold_offset"),
    (2, 4, "H", 3, r"op 2 \(LIF\) in0: buffer 3 is read before"),
    (2, 4, "H", 0, r"op 2 \(LIF\) in0: buffer 0 is INPUT_U8, expected CURRENT"),
    # ATTN (op 1: dim C, MA)
    (1, 12, "B", 3, "dim"),
    (1, 13, "B", 2, "kind"),
    (1, 14, "H", 5, r"n: 5 != in0 buffer 1 channels"),
    (1, 16, "H", 0, "hidden"),
    (1, 16, "H", 5, "hidden"),
    (1, 18, "B", 63, "shift"),
    (1, 19, "B", 1, "reserved"),
    (1, 20, "H", 0, "levels"),
    (1, 20, "H", 1025, "levels"),
    (1, 22, "H", 1, "reserved"),
    (1, 24, "I", DATA_SIZE, "w1_offset"),
    (1, 28, "I", 3, "w2_offset"),
    (1, 32, "I", DATA_SIZE - 8, "table_offset"),
    # MAXPOOL (op 3)
    (3, 12, "B", 0, "kernel"),
    (3, 12, "B", 3, "output size"),
    (3, 13, "B", 0, "stride"),
    (3, 14, "B", 8, "pad"),
    (3, 15, "B", 1, "reserved"),
    (3, 4, "H", 2, r"buffer 2 is CURRENT, expected SPIKES"),
    # LOGIC (op 6)
    (6, 12, "B", 3, "mode"),
    (6, 13, "B", 1, "reserved"),
    (6, 6, "H", 0xFFFF, r"in1: buffer 65535 does not exist"),
    (6, 6, "H", 3, r"shapes"),
    # READOUT (op 7)
    (7, 8, "H", 3, r"op 7 \(READOUT\) out"),
    (7, 12, "H", 5, "channels"),
    (7, 14, "H", 4, "classes"),
    (7, 16, "B", 2, "weight_bits"),
    (7, 17, "B", 1, "reserved"),
    (7, 20, "I", DATA_SIZE, "weight_offset"),
    (7, 24, "I", 6, "bias_offset"),
    (7, 0, "B", 5, r"op 7 \(LOGIC\) size|op 7"),
]


@pytest.mark.parametrize(("op", "offset", "fmt", "value", "field"), OP_CASES)
def test_every_op_field_is_checked(op, offset, fmt, value, field):
    with pytest.raises(BlobError, match=field):
        load(patch(op_pos(op) + offset, fmt, value))


def test_crc_mismatch_and_every_truncation_raise_blob_error():
    bad = bytearray(BLOB)
    bad[DATA_OFFSET + 5] ^= 0x10
    with pytest.raises(BlobError, match="CRC32"):
        load(bytes(bad))
    for n in range(len(BLOB)):
        with pytest.raises(BlobError):
            load(BLOB[:n])
        if n >= 68:  # truncated, with file_size and CRC made consistent: the section sizes still disagree
            with pytest.raises(BlobError):
                load(patch(12, "I", n, with_crc(BLOB[: n - 4] + b"\0\0\0\0")))
    with pytest.raises(BlobError, match="file_size"):
        load(BLOB + b"\0\0\0\0")


def test_every_single_byte_corruption_raises_blob_error_or_loads():
    for i in range(len(BLOB) - 4):
        b = bytearray(BLOB)
        b[i] ^= 0xFF
        with contextlib.suppress(BlobError):
            load(with_crc(bytes(b)))
        with pytest.raises(BlobError):
            load(bytes(b))  # without the CRC fix


def graph_error(model: Model, field: str) -> None:
    with pytest.raises(BlobError, match=field):
        load(to_bytes(model, validate=False))
    with pytest.raises(BlobError, match=field):
        to_bytes(model)


def test_graph_rules():
    m = every_op_model()
    ops = list(m.ops)

    def replace(i: int, op: object, **kw: object) -> Model:
        new = list(ops)
        new[i] = op
        return Model(T=m.T, num_classes=m.num_classes, buffers=m.buffers, ops=new, **{
            "layer_major": True, "static_input": True, **kw})  # fmt: skip

    lif = ops[2]
    assert isinstance(lif, Lif)
    graph_error(replace(2, Lif(lif.in0, lif.out, [5, 0, 5, 5])), r"op 2 \(LIF\) threshold\[1\]: 0")
    attn = ops[1]
    assert isinstance(attn, Attn)
    graph_error(
        replace(1, Attn(1, 2, AttnDim.C, AttnKind.MA, attn.w1, [3, 0, 7], w2=attn.w2, levels=attn.levels)),
        "breakpoints: not ascending",
    )
    zeros = np.zeros((1, 3), dtype=int)
    graph_error(
        replace(1, Attn(1, 2, AttnDim.T, AttnKind.IA, zeros, [0] * 3, w2=zeros.T)), r"n: 3 != the header's T"
    )
    graph_error(replace(1, attn, layer_major=False), "LAYER_MAJOR")
    graph_error(replace(0, ops[0], static_input=False), "STATIC")
    conv = ops[0]
    assert isinstance(conv, Conv)
    graph_error(replace(4, Conv(4, 1, np.zeros((4, 1, 1, 4), int), [0] * 4)), "buffer 1 is already written")
    graph_error(
        Model(T=4, num_classes=3, buffers=m.buffers, ops=ops[:7], layer_major=True, static_input=True),
        "last op must be READOUT",
    )
    graph_error(
        replace(7, Readout(7, np.zeros((4, 2), int), [0, 0])), r"op 7 \(READOUT\) classes: 2 != header"
    )
    graph_error(
        Model(T=4, num_classes=3, buffers=m.buffers, ops=[*ops[:6], ops[7], ops[6]], layer_major=True,
              static_input=True),
        "READOUT must be the last op",
    )  # fmt: skip
    graph_error(
        Model(
            T=4,
            num_classes=3,
            buffers=[*m.buffers, m.buffers[5]],
            ops=ops,
            layer_major=True,
            static_input=True,
        ),
        "buffer 8: never written",
    )
