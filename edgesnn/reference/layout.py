"""Byte-level constants of the `.esnn` v1.0 format (export/FORMAT.md section 1) and this reader's limits."""

from __future__ import annotations

import struct
from enum import IntEnum

MAGIC = b"ESNN"
VERSION_MAJOR = 1
VERSION_MINOR = 0
HEADER_SIZE = 64
CRC_SIZE = 4
UNUSED = 0xFFFF

FLAG_LAYER_MAJOR = 1 << 0
FLAG_STATIC_INPUT = 1 << 1
CONV_FLAG_STATIC = 1 << 0

HEADER = struct.Struct("<4sHHIIIHHHHIIIIfI12s")
BUFFER = struct.Struct("<BBHHH")
OP_HEADER = struct.Struct("<BBHHHHH")
CONV = struct.Struct("<HHBBBBB3sII")
LIF = struct.Struct("<HBBII")
ATTN = struct.Struct("<BBHHBBHHIII")
MAXPOOL = struct.Struct("<BBBB")
LOGIC = struct.Struct("<B3s")
READOUT = struct.Struct("<HHB3sII")

# This reader's own limit beyond FORMAT.md's ranges (it holds every buffer for all T steps).
MAX_BUFFER_ELEMENTS = 1 << 22


class BufferKind(IntEnum):
    INPUT_U8 = 0
    SPIKES = 1
    CURRENT = 2


class Opcode(IntEnum):
    CONV = 1
    LIF = 2
    ATTN = 3
    MAXPOOL = 4
    LOGIC = 5
    READOUT = 6


class AttnDim(IntEnum):
    T = 0
    C = 1
    S = 2


class AttnKind(IntEnum):
    MA = 0
    IA = 1


class LogicMode(IntEnum):
    OR = 0
    AND = 1
    IAND = 2


PARAM_STRUCTS: dict[Opcode, struct.Struct] = {
    Opcode.CONV: CONV,
    Opcode.LIF: LIF,
    Opcode.ATTN: ATTN,
    Opcode.MAXPOOL: MAXPOOL,
    Opcode.LOGIC: LOGIC,
    Opcode.READOUT: READOUT,
}


def record_size(opcode: Opcode) -> int:
    """Size in bytes of a v1.0 op record (12-byte header + parameters)."""
    return OP_HEADER.size + PARAM_STRUCTS[opcode].size


def weight_bytes(count: int, bits: int) -> int:
    """Bytes taken by `count` signed weights of `bits` bits, without the padding to 4."""
    return (count + 1) // 2 if bits == 4 else count * (bits // 8)


def align4(n: int) -> int:
    return (n + 3) & ~3


assert HEADER.size == HEADER_SIZE
assert BUFFER.size == 8 and OP_HEADER.size == 12
assert [record_size(o) for o in Opcode] == [32, 24, 36, 16, 16, 28]
