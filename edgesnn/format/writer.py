"""Serialize a `Model` to `.esnn` bytes (export/FORMAT.md section 1), deterministically.

Layout: header, buffer table, op records in order, then the data section holding each op's arrays in
field order, every array 4-aligned and zero-padded, then the CRC32. The result is validated with the
loader, so a model that breaks the format fails here with the loader's message naming the field.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from edgesnn.format.blob import parse
from edgesnn.format.errors import BlobError
from edgesnn.format.layout import (
    BUFFER,
    CONV_FLAG_STATIC,
    CRC_SIZE,
    FLAG_LAYER_MAJOR,
    FLAG_STATIC_INPUT,
    HEADER,
    HEADER_SIZE,
    MAGIC,
    OP_HEADER,
    PARAM_STRUCTS,
    UNUSED,
    AttnDim,
    AttnKind,
    align4,
    record_size,
)
from edgesnn.format.model import Attn, Conv, Lif, Logic, MaxPool, Model, Op, Readout


def encode_weights(w: np.ndarray, bits: int) -> bytes:
    """Signed weights, flattened in C order: int4 two per byte (low nibble first), int8, int16 LE."""
    flat = np.asarray(w).reshape(-1)
    if bits == 4:
        nib = (flat.astype(np.int16) & 0xF).astype(np.uint8)
        if nib.size % 2:
            nib = np.append(nib, np.uint8(0))
        return (nib[0::2] | (nib[1::2] << 4)).astype(np.uint8).tobytes()
    return flat.astype("<i2" if bits == 16 else "i1").tobytes()


class _DataSection:
    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.size = 0

    def add(self, raw: bytes) -> int:
        offset = self.size
        padded = raw + b"\0" * (align4(len(raw)) - len(raw))
        self.chunks.append(padded)
        self.size += len(padded)
        return offset

    def bytes(self) -> bytes:
        return b"".join(self.chunks)


def _params(op: Op, data: _DataSection) -> tuple[int, tuple[int | bytes, ...]]:
    """(op flags, parameter tuple for the op's struct), appending its arrays to `data`."""
    if isinstance(op, Conv):
        w = data.add(encode_weights(op.weights, op.weight_bits))
        b = data.add(op.bias.astype("<i4").tobytes())
        flags = CONV_FLAG_STATIC if op.static else 0
        return flags, (op.cin, op.cout, op.kh, op.kw, op.stride, op.pad, op.weight_bits, b"", w, b)
    if isinstance(op, Lif):
        t = data.add(op.thresholds.astype("<i4").tobytes())
        return 0, (op.channels, op.state_bits, 0, op.leak_mul, t)
    if isinstance(op, Attn):
        w1 = data.add(op.w1.astype("i1").tobytes())
        w2 = 0 if op.w2 is None else data.add(op.w2.astype("i1").tobytes())
        table = op.table.astype("<i8").tobytes()
        levels = 0
        if op.kind == AttnKind.MA and op.levels is not None:
            table += op.levels.astype("<u2").tobytes()
            levels = int(op.table.size)
        t = data.add(table)
        shift = op.shift if op.dim != AttnDim.S else 0
        return 0, (int(op.dim), int(op.kind), op.n, op.hidden, shift, 0, levels, 0, w1, w2, t)
    if isinstance(op, MaxPool):
        return 0, (op.kernel, op.stride, op.pad, 0)
    if isinstance(op, Logic):
        return 0, (int(op.mode), b"")
    w = data.add(encode_weights(op.weights, op.weight_bits))
    b = data.add(op.bias.astype("<i4").tobytes())
    return 0, (op.channels, op.classes, op.weight_bits, b"", w, b)


def _record(op: Op, flags: int, params: tuple[int | bytes, ...]) -> bytes:
    in1 = op.in1 if isinstance(op, Logic) else UNUSED
    out = UNUSED if isinstance(op, Readout) else op.out
    head = OP_HEADER.pack(int(op.opcode), flags, record_size(op.opcode), op.in0, in1, out, 0)
    return head + PARAM_STRUCTS[op.opcode].pack(*params)


def to_bytes(model: Model, validate: bool = True) -> bytes:
    """The `.esnn` blob of `model`; with `validate`, the bytes are re-read by the loader (BlobError)."""
    data = _DataSection()
    try:
        records = b"".join(_record(op, *_params(op, data)) for op in model.ops)
        table = b"".join(BUFFER.pack(int(b.kind), 0, b.channels, b.height, b.width) for b in model.buffers)
    except struct.error as exc:  # a field too large for its slot; the loader names the field otherwise
        raise BlobError(f"a field does not fit its slot in the record: {exc}") from exc
    ops_offset = HEADER_SIZE + len(table)
    data_offset = ops_offset + len(records)
    file_size = data_offset + data.size + CRC_SIZE
    flags = (FLAG_LAYER_MAJOR if model.layer_major else 0) | (FLAG_STATIC_INPUT if model.static_input else 0)
    major, minor = model.version
    header = HEADER.pack(
        MAGIC, major, minor, HEADER_SIZE, file_size, flags, model.T, model.num_classes,
        len(model.buffers), len(model.ops), ops_offset, len(records), data_offset, data.size,
        model.logit_scale, model.input_scale_num, b"",
    )  # fmt: skip
    body = header + table + records + data.bytes()
    blob = body + struct.pack("<I", zlib.crc32(body) & 0xFFFFFFFF)
    if validate:
        parse(blob)
    return blob


def save(model: Model, path: str | Path) -> bytes:
    """Write the validated blob of `model` to `path` and return it."""
    blob = to_bytes(model)
    Path(path).write_bytes(blob)
    return blob
