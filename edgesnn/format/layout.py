"""Byte-level constants of the `.esnn` v1.0 format (export/FORMAT.md section 1) and this reader's limits.

The numbers come from export/schema.toml through the generated `layout_gen` (run `python export/gen_format.py`
after editing the schema); this module gives them the names the package uses.
"""

from __future__ import annotations

import struct

from edgesnn.format import layout_gen as _gen
from edgesnn.format.layout_gen import (
    CONV_FLAG_STATIC,
    CRC_SIZE,
    FIELDS,
    FLAG_LAYER_MAJOR,
    FLAG_STATIC_INPUT,
    HEADER_SIZE,
    MAGIC,
    UNUSED,
    VERSION_MAJOR,
    VERSION_MINOR,
    AttnDim,
    AttnKind,
    BufferKind,
    Field,
    LogicMode,
    Opcode,
)

if _gen.GENERATOR_VERSION != 1:  # the generated module's shape changed: regenerate, or update this module
    raise ImportError("layout_gen.py is from another export/gen_format.py: run python export/gen_format.py")

__all__ = [
    "ATTN",
    "BUFFER",
    "CONV",
    "CONV_FLAG_STATIC",
    "CRC_SIZE",
    "FIELDS",
    "FLAG_LAYER_MAJOR",
    "FLAG_STATIC_INPUT",
    "HEADER",
    "HEADER_SIZE",
    "LIF",
    "LOGIC",
    "MAGIC",
    "MAXPOOL",
    "MAX_BUFFER_ELEMENTS",
    "OP_HEADER",
    "PARAM_STRUCTS",
    "READOUT",
    "UNUSED",
    "VERSION_MAJOR",
    "VERSION_MINOR",
    "AttnDim",
    "AttnKind",
    "BufferKind",
    "Field",
    "LogicMode",
    "Opcode",
    "align4",
    "record_size",
    "weight_bytes",
]

HEADER = struct.Struct(_gen.HEADER_FORMAT)
BUFFER = struct.Struct(_gen.BUFFER_FORMAT)
OP_HEADER = struct.Struct(_gen.OP_HEADER_FORMAT)
PARAM_STRUCTS: dict[Opcode, struct.Struct] = {
    op: struct.Struct(fmt) for op, fmt in _gen.PARAM_FORMATS.items()
}
CONV = PARAM_STRUCTS[Opcode.CONV]
LIF = PARAM_STRUCTS[Opcode.LIF]
ATTN = PARAM_STRUCTS[Opcode.ATTN]
MAXPOOL = PARAM_STRUCTS[Opcode.MAXPOOL]
LOGIC = PARAM_STRUCTS[Opcode.LOGIC]
READOUT = PARAM_STRUCTS[Opcode.READOUT]

# This reader's own limit beyond FORMAT.md's ranges (it holds every buffer for all T steps).
MAX_BUFFER_ELEMENTS = 1 << 22


def record_size(opcode: Opcode) -> int:
    """Size in bytes of a v1.0 op record (12-byte header + parameters)."""
    return _gen.RECORD_BYTES[opcode]


def weight_bytes(count: int, bits: int) -> int:
    """Bytes taken by `count` signed weights of `bits` bits, without the padding to 4."""
    return (count + 1) // 2 if bits == 4 else count * (bits // 8)


def align4(n: int) -> int:
    return (n + 3) & ~3


# The struct formats and the record sizes are two views of the schema: they must agree.
assert HEADER.size == HEADER_SIZE
assert all(OP_HEADER.size + s.size == record_size(op) for op, s in PARAM_STRUCTS.items())
