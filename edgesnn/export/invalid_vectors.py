"""The invalid-blob corpus (`export/vectors/v1/invalid/<case>.esnn` + `cases.json`): blobs every runtime must
refuse, each with the C loader's status and the field its message names (FORMAT.md's rule, one per case).

Each case corrupts one field of a committed conformance vector and re-computes the CRC (unless the CRC, the
magic or the length is the point), so the loader reaches the field. The reference, the C runtime (host,
ASan, the Cortex-M4 image), the MicroPython loader and the protocol boards replay the corpus
(tests/export/test_invalid_vectors.py); a runtime that accepts a case, or refuses it for another reason,
fails there. Written by `python export/make_vectors.py` with the valid vectors.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgesnn.format import parse
from edgesnn.format.layout import record_size

INVALID_DIR = "invalid"


@dataclass(frozen=True)
class Case:
    name: str
    base: str  # the valid vector it corrupts
    covers: str
    status: str  # the C loader's esnn_status_t name
    field: str  # what every runtime's message names (a substring of each)


def _crc(body: bytes) -> bytes:
    return body[:-4] + struct.pack("<I", zlib.crc32(body[:-4]) & 0xFFFFFFFF)


def _patch(blob: bytes, offset: int, fmt: str, *values: object, crc: bool = True) -> bytes:
    b = bytearray(blob)
    struct.pack_into("<" + fmt, b, offset, *values)
    return _crc(bytes(b)) if crc else bytes(b)


def _op(blob: bytes, i: int) -> int:
    """Byte offset of op i's record."""
    model = parse(blob)
    return struct.unpack_from("<I", blob, 28)[0] + sum(record_size(op.opcode) for op in model.ops[:i])


def _buffer(k: int) -> int:
    return 64 + 8 * k


def _data_size(blob: bytes) -> int:
    return struct.unpack_from("<I", blob, 40)[0]


Corrupt = Callable[[bytes], bytes]


def _header(offset: int, fmt: str, value: object, crc: bool = True) -> Corrupt:
    return lambda b: _patch(b, offset, fmt, value(b) if callable(value) else value, crc=crc)


def _field(op: Callable[[bytes], int] | int, offset: int, fmt: str, value: object) -> Corrupt:
    """A field of op `op` (an index, or a function of the blob that finds it)."""

    def corrupt(b: bytes) -> bytes:
        k = op(b) if callable(op) else op
        return _patch(b, _op(b, k) + offset, fmt, value(b) if callable(value) else value)

    return corrupt


def _first(kind: str) -> Callable[[bytes], int]:
    return lambda b: next(i for i, op in enumerate(parse(b).ops) if type(op).__name__ == kind)


def _flip(b: bytes) -> bytes:  # a data byte, CRC left as it was
    x = bytearray(b)
    x[len(x) - 8] ^= 0x10
    return bytes(x)


# (name, the vector it corrupts, what it covers, C status, field named) -> the corruption
_TABLE: list[tuple[Case, Corrupt]] = [
    (Case("magic", "t1_int8", "not an .esnn blob", "ESNN_ERR_MAGIC", "magic"),
     _header(0, "4s", b"ESNX", crc=False)),
    (Case("truncated", "t1_int8", "shorter than the header", "ESNN_ERR_TRUNCATED", "shorter"),
     lambda b: b[:40]),
    (Case("version_major", "t1_int8", "a major version this runtime does not read", "ESNN_ERR_VERSION",
          "version_major"), _header(4, "H", 2)),
    (Case("crc", "t1_int8", "one flipped data byte, CRC not updated", "ESNN_ERR_CRC", "CRC32"), _flip),
    (Case("file_size", "t1_int8", "file_size larger than the file", "ESNN_ERR_TRUNCATED", "file_size"),
     _header(12, "I", lambda b: len(b) + 4)),
    (Case("flags_unknown", "t1_int8", "an unknown header flag bit", "ESNN_ERR_HEADER", "flags"),
     _header(16, "I", 0x7)),
    (Case("t_zero", "t1_int8", "T = 0", "ESNN_ERR_HEADER", "T"), _header(20, "H", 0)),
    (Case("num_classes_one", "t1_int8", "one class", "ESNN_ERR_HEADER", "num_classes"), _header(22, "H", 1)),
    (Case("ops_offset_misaligned", "t1_int8", "op section not 4-aligned", "ESNN_ERR_HEADER", "ops_offset"),
     _header(28, "I", lambda b: struct.unpack_from("<I", b, 28)[0] + 2)),
    (Case("logit_scale_nan", "t1_int8", "logit_scale NaN", "ESNN_ERR_HEADER", "logit_scale"),
     _header(44, "f", float("nan"))),
    (Case("header_reserved", "t1_int8", "reserved header bytes not zero", "ESNN_ERR_HEADER", "reserved"),
     _header(60, "I", 1)),
    (Case("buffer_kind", "t1_int8", "buffer 1 of kind 0", "ESNN_ERR_BUFFER", "kind"),
     _header(_buffer(1), "B", 0)),
    (Case("buffer_channels", "t1_int8", "buffer 1 with 0 channels", "ESNN_ERR_BUFFER", "channels"),
     _header(_buffer(1) + 2, "H", 0)),
    (Case("opcode", "t1_int8", "op 0 with opcode 9", "ESNN_ERR_OP", "opcode"), _field(0, 0, "B", 9)),
    (Case("conv_kh_zero", "t1_int8", "a 0-high conv kernel", "ESNN_ERR_OP", "kh"), _field(0, 16, "B", 0)),
    (Case("conv_weights_past_data", "t1_int8", "conv weights past the data section", "ESNN_ERR_DATA",
          "weight_offset"), _field(0, 24, "I", lambda b: _data_size(b) - 4)),
    (Case("lif_leak_zero", "t1_int8", "LIF leak_mul 0", "ESNN_ERR_VALUE", "leak_mul"), _field(1, 16, "I", 0)),
    (Case("lif_state_bits", "t1_int8", "LIF state of 8 bits", "ESNN_ERR_OP", "state_bits"),
     _field(1, 14, "B", 8)),
    (Case("read_before_write", "t1_int8", "an op reading a buffer no earlier op wrote", "ESNN_ERR_GRAPH",
          "read before"), _field(1, 4, "H", 3)),
    (Case("maxpool_kernel_zero", "spike_convs_k7_k3_k1", "a 0-wide max-pool", "ESNN_ERR_OP", "kernel"),
     _field(2, 12, "B", 0)),
    (Case("logic_mode", "residual_or", "LOGIC mode 3", "ESNN_ERR_OP", "mode"),
     _field(_first("Logic"), 12, "B", 3)),
    (Case("attn_dim", "attn_ma_c", "ATTN dim 3", "ESNN_ERR_OP", "dim"), _field(_first("Attn"), 12, "B", 3)),
    (Case("attn_without_layer_major", "attn_ma_c", "an ATTN op in a graph without LAYER_MAJOR",
          "ESNN_ERR_HEADER", "LAYER_MAJOR"),
     _header(16, "I", lambda b: struct.unpack_from("<I", b, 16)[0] & ~1)),
    (Case("readout_classes", "t1_int8", "READOUT classes != num_classes", "ESNN_ERR_GRAPH", "classes"),
     _field(lambda b: len(parse(b).ops) - 1, 14, "H", 4)),
]  # fmt: skip
CASES: dict[str, tuple[Case, Corrupt]] = {c.name: (c, fn) for c, fn in _TABLE}


def build_cases(vectors: Path) -> dict[str, tuple[Case, bytes]]:
    """Every case's blob, from the valid vectors under `vectors` (the folder holding `<name>/model.esnn`)."""
    out = {}
    for name, (case, fn) in CASES.items():
        base = (vectors / case.base / "model.esnn").read_bytes()
        out[name] = (case, fn(base))
    return out


def cases_json(cases: dict[str, tuple[Case, bytes]]) -> bytes:
    table = {
        n: {"base": c.base, "covers": c.covers, "status": c.status, "field": c.field}
        for n, (c, _) in sorted(cases.items())
    }
    return (json.dumps(table, indent=2, sort_keys=True) + "\n").encode()


def write_invalid(vectors: Path, force: bool = False) -> list[Path]:
    """Write `<vectors>/invalid/<case>.esnn` and `cases.json`; refuses to overwrite unless `force`."""
    out = vectors / INVALID_DIR
    cases = build_cases(vectors)
    files = {f"{n}.esnn": blob for n, (_, blob) in cases.items()} | {"cases.json": cases_json(cases)}
    if out.exists() and not force:
        raise FileExistsError(f"{out} exists (pass force=True to overwrite)")
    out.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (out / name).write_bytes(data)
    return [out / n for n in sorted(files)]
