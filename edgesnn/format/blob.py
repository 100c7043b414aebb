"""Load and validate an `.esnn` blob (export/FORMAT.md section 5) into an immutable `Model`.

Every count, size and offset is checked against the blob length and the format's ranges before any
array is read; each failure raises `BlobError` with a message naming the field.
"""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

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
    MAX_BUFFER_ELEMENTS,
    OP_HEADER,
    PARAM_STRUCTS,
    UNUSED,
    VERSION_MAJOR,
    VERSION_MINOR,
    AttnDim,
    AttnKind,
    BufferKind,
    LogicMode,
    Opcode,
    record_size,
    weight_bytes,
)
from edgesnn.format.model import Attn, Buffer, Conv, Lif, Logic, MaxPool, Model, Op, Readout

ACCEPTED = f"this reader accepts version {VERSION_MAJOR}.{VERSION_MINOR} only"


def load(source: bytes | bytearray | memoryview | str | Path) -> Model:
    """Parse an `.esnn` blob given as bytes or as a path to a file."""
    if isinstance(source, str | Path):
        return parse(Path(source).read_bytes())
    return parse(bytes(source))


def check_range(what: str, value: int, lo: int, hi: int) -> None:
    if not lo <= value <= hi:
        raise BlobError(f"{what}: {value} is outside {lo}..{hi}")


def check_zero(what: str, value: int | bytes) -> None:
    if (value if isinstance(value, int) else any(value)) != 0:
        raise BlobError(f"{what}: reserved, must be 0")


def out_size(size: int, kernel: int, stride: int, pad: int) -> int:
    """floor((size + 2 pad - kernel) / stride) + 1; <= 0 when the window does not fit."""
    return (size + 2 * pad - kernel) // stride + 1


class _Data:
    """The data section: hands out arrays after checking alignment and bounds."""

    def __init__(self, blob: bytes, offset: int, size: int) -> None:
        self.blob, self.offset, self.size = blob, offset, size

    def raw(self, what: str, offset: int, nbytes: int) -> bytes:
        if offset % 4:
            raise BlobError(f"{what}: {offset} is not 4-aligned")
        if offset + nbytes > self.size:
            raise BlobError(
                f"{what}: {offset} + {nbytes} bytes runs past the data section ({self.size} bytes)"
            )
        start = self.offset + offset
        return self.blob[start : start + nbytes]

    def array(self, what: str, offset: int, count: int, dtype: str) -> np.ndarray:
        itemsize = np.dtype(dtype).itemsize
        return np.frombuffer(self.raw(what, offset, count * itemsize), dtype=dtype).copy()

    def weights(self, what: str, offset: int, count: int, bits: int) -> np.ndarray:
        raw = self.raw(what, offset, weight_bytes(count, bits))
        if bits == 16:
            return np.frombuffer(raw, dtype="<i2").astype(np.int16)
        if bits == 8:
            return np.frombuffer(raw, dtype=np.int8).copy()
        packed = np.frombuffer(raw, dtype=np.uint8)
        nibbles = np.empty(2 * packed.size, dtype=np.int16)
        nibbles[0::2] = packed & 0xF
        nibbles[1::2] = packed >> 4
        return ((nibbles[:count] ^ 8) - 8).astype(np.int8)


def parse(blob: bytes) -> Model:
    """Validate every field of `blob` and decode it (FORMAT.md section 5)."""
    n = len(blob)
    if n >= 4 and blob[:4] != MAGIC:
        hint = ""
        if blob[:4] == b"PK\x03\x04":  # torch.save's zip: the usual mix-up is a checkpoint for a model
            hint = "; it looks like a PyTorch checkpoint: export it first with `edgesnn export`"
        raise BlobError(f"magic: {blob[:4]!r} is not {MAGIC!r} (not an .esnn blob){hint}")
    if n < HEADER_SIZE + CRC_SIZE:
        raise BlobError(f"truncated: the blob is {n} bytes, shorter than the 64-byte header plus the CRC")
    fields = HEADER.unpack_from(blob)
    major, minor, header_size, file_size, flags, T, num_classes, num_buffers, num_ops = fields[1:10]
    ops_offset, ops_size, data_offset, data_size, logit_scale, input_scale_num, reserved = fields[10:]
    if major != VERSION_MAJOR:
        raise BlobError(f"version_major: {major}.{minor} is not supported ({ACCEPTED})")
    if minor != VERSION_MINOR:
        raise BlobError(f"version_minor: {major}.{minor} is not supported ({ACCEPTED})")
    if header_size != HEADER_SIZE:
        raise BlobError(f"header_size: {header_size}, expected {HEADER_SIZE}")
    if file_size != n:
        raise BlobError(f"file_size: the header says {file_size} bytes but the blob is {n} bytes")
    stored = struct.unpack_from("<I", blob, n - CRC_SIZE)[0]
    computed = zlib.crc32(blob[: n - CRC_SIZE]) & 0xFFFFFFFF
    if stored != computed:
        raise BlobError(f"CRC32: stored 0x{stored:08x} but the bytes give 0x{computed:08x} (corrupted blob)")
    if flags & ~(FLAG_LAYER_MAJOR | FLAG_STATIC_INPUT):
        raise BlobError(f"flags: unknown bits set in 0x{flags:08x}")
    check_range("T", T, 1, 1024)
    check_range("num_classes", num_classes, 2, 1024)
    check_range("num_buffers", num_buffers, 1, 256)
    check_range("num_ops", num_ops, 1, 256)
    table_end = HEADER_SIZE + BUFFER.size * num_buffers
    if ops_offset < table_end or ops_offset % 4:
        raise BlobError(f"ops_offset: {ops_offset} must be 4-aligned and >= {table_end} (after the buffers)")
    if data_offset % 4:
        raise BlobError(f"data_offset: {data_offset} is not 4-aligned")
    if ops_offset + ops_size > data_offset:
        raise BlobError(f"ops_size: {ops_offset} + {ops_size} runs past data_offset {data_offset}")
    if data_offset + data_size != n - CRC_SIZE:
        raise BlobError(
            f"data_size: data_offset {data_offset} + data_size {data_size} != file_size - 4 ({n - CRC_SIZE})"
        )
    if not (math.isfinite(logit_scale) and logit_scale > 0):
        raise BlobError(f"logit_scale: {logit_scale} must be finite and > 0")
    if input_scale_num < 1:
        raise BlobError(f"input_scale_num: {input_scale_num} must be >= 1")
    check_zero("header reserved", reserved)

    buffers = tuple(_buffer(blob, i) for i in range(num_buffers))
    data = _Data(blob, data_offset, data_size)
    ctx = _Graph(buffers, T, num_classes, bool(flags & FLAG_STATIC_INPUT), data)
    ops: list[Op] = []
    pos, end = ops_offset, ops_offset + ops_size
    for i in range(num_ops):
        ops.append(ctx.op(blob, i, pos, end, num_ops))
        pos += record_size(ops[-1].opcode)
    if pos != end:
        raise BlobError(f"ops_size: {ops_size} bytes but the {num_ops} op records take {pos - ops_offset}")
    for b in range(1, num_buffers):
        if b not in ctx.written:
            raise BlobError(f"buffer {b}: never written by any op")
    if any(isinstance(op, Attn) for op in ops) and not flags & FLAG_LAYER_MAJOR:
        raise BlobError("flags: the graph has ATTN ops but LAYER_MAJOR (bit 0) is not set")
    return Model(
        T=T,
        num_classes=num_classes,
        buffers=buffers,
        ops=tuple(ops),
        layer_major=bool(flags & FLAG_LAYER_MAJOR),
        static_input=bool(flags & FLAG_STATIC_INPUT),
        logit_scale=logit_scale,
        input_scale_num=input_scale_num,
        version=(major, minor),
    )


def _buffer(blob: bytes, i: int) -> Buffer:
    kind, reserved, c, h, w = BUFFER.unpack_from(blob, HEADER_SIZE + BUFFER.size * i)
    what = f"buffer {i}"
    if kind not in BufferKind.__members__.values():
        raise BlobError(f"{what} kind: {kind} is not 0 INPUT_U8, 1 SPIKES or 2 CURRENT")
    if (kind == BufferKind.INPUT_U8) != (i == 0):
        raise BlobError(f"{what} kind: {BufferKind(kind).name}; buffer 0 and only buffer 0 is INPUT_U8")
    check_zero(f"{what} reserved", reserved)
    for name, v in (("channels", c), ("height", h), ("width", w)):
        check_range(f"{what} {name}", v, 1, 4096)
    if c * h * w > MAX_BUFFER_ELEMENTS:
        raise BlobError(
            f"{what} shape: {c}x{h}x{w} = {c * h * w} elements, over the reader limit {MAX_BUFFER_ELEMENTS}"
        )
    return Buffer(BufferKind(kind), c, h, w)


class _Graph:
    """Per-op validation with the buffer bookkeeping (written once, read after written, kinds)."""

    def __init__(self, buffers: tuple[Buffer, ...], T: int, classes: int, static: bool, data: _Data) -> None:
        self.buffers, self.T, self.classes, self.static, self.data = buffers, T, classes, static, data
        self.written: set[int] = {0}

    def read(self, what: str, b: int, kinds: tuple[BufferKind, ...]) -> Buffer:
        if b >= len(self.buffers):
            raise BlobError(f"{what}: buffer {b} does not exist (num_buffers {len(self.buffers)})")
        if b not in self.written:
            raise BlobError(f"{what}: buffer {b} is read before any op writes it")
        buf = self.buffers[b]
        if buf.kind not in kinds:
            want = " or ".join(k.name for k in kinds)
            raise BlobError(f"{what}: buffer {b} is {buf.kind.name}, expected {want}")
        return buf

    def write(self, what: str, b: int, kind: BufferKind) -> Buffer:
        if b >= len(self.buffers):
            raise BlobError(f"{what}: buffer {b} does not exist (num_buffers {len(self.buffers)})")
        if b in self.written:
            raise BlobError(f"{what}: buffer {b} is already written (the input or an earlier op)")
        buf = self.buffers[b]
        if buf.kind != kind:
            raise BlobError(f"{what}: buffer {b} is {buf.kind.name}, expected {kind.name}")
        self.written.add(b)
        return buf

    def op(self, blob: bytes, i: int, pos: int, end: int, num_ops: int) -> Op:
        if pos + OP_HEADER.size > end:
            raise BlobError(f"op {i}: record header at {pos} runs past the op section (ends at {end})")
        opcode, flags, size, in0, in1, out, reserved = OP_HEADER.unpack_from(blob, pos)
        if opcode not in Opcode.__members__.values():
            raise BlobError(f"op {i} opcode: {opcode} is unknown (1 CONV .. 6 READOUT)")
        code = Opcode(opcode)
        p = f"op {i} ({code.name})"
        if size != record_size(code):
            raise BlobError(f"{p} size: {size}, a v1.0 {code.name} record is {record_size(code)} bytes")
        if pos + size > end:
            raise BlobError(f"{p} size: record at {pos} + {size} runs past the op section (ends at {end})")
        check_zero(f"{p} reserved", reserved)
        allowed = CONV_FLAG_STATIC if code == Opcode.CONV else 0
        if flags & ~allowed:
            raise BlobError(f"{p} flags: unknown bits set in 0x{flags:02x}")
        if code != Opcode.LOGIC and in1 != UNUSED:
            raise BlobError(f"{p} in1: {in1}, must be 0xFFFF (unused) for {code.name}")
        if code == Opcode.READOUT:
            if out != UNUSED:
                raise BlobError(f"{p} out: {out}, must be 0xFFFF for READOUT")
            if i != num_ops - 1:
                raise BlobError(f"{p}: READOUT must be the last op (op {num_ops - 1}) and appear once")
        elif i == num_ops - 1:
            raise BlobError(f"{p}: the last op must be READOUT")
        params = PARAM_STRUCTS[code].unpack_from(blob, pos + OP_HEADER.size)
        return getattr(self, code.name.lower())(p, flags, in0, in1, out, params)

    def conv(self, p: str, flags: int, in0: int, in1: int, out: int, params: tuple[Any, ...]) -> Conv:
        cin, cout, kh, kw, stride, pad, bits, reserved, w_off, b_off = params
        src = self.read(f"{p} in0", in0, (BufferKind.INPUT_U8, BufferKind.SPIKES))
        dst = self.write(f"{p} out", out, BufferKind.CURRENT)
        static = bool(flags & CONV_FLAG_STATIC)
        if static and not (in0 == 0 and self.static):
            raise BlobError(f"{p} flags: STATIC needs in0 = buffer 0 and the header's STATIC_INPUT flag")
        if cin != src.channels:
            raise BlobError(f"{p} cin: {cin} != in0 buffer {in0} channels {src.channels}")
        if cout != dst.channels:
            raise BlobError(f"{p} cout: {cout} != out buffer {out} channels {dst.channels}")
        check_range(f"{p} kh", kh, 1, 15)
        check_range(f"{p} kw", kw, 1, 15)
        check_range(f"{p} stride", stride, 1, 8)
        check_range(f"{p} pad", pad, 0, 7)
        if bits not in (4, 8, 16):
            raise BlobError(f"{p} weight_bits: {bits} is not 4, 8 or 16")
        check_zero(f"{p} reserved", reserved)
        ho, wo = out_size(src.height, kh, stride, pad), out_size(src.width, kw, stride, pad)
        if (ho, wo) != (dst.height, dst.width):
            raise BlobError(
                f"{p} output size: {src.height}x{src.width} with kernel {kh}x{kw}, stride {stride}, "
                f"pad {pad} gives {ho}x{wo}, but out buffer {out} is {dst.height}x{dst.width}"
            )
        count = cin * kh * kw * cout
        w = self.data.weights(f"{p} weight_offset", w_off, count, bits).reshape(cin, kh, kw, cout)
        b = self.data.array(f"{p} bias_offset", b_off, cout, "<i4")
        return Conv(in0, out, w, b, stride=stride, pad=pad, weight_bits=bits, static=static)

    def lif(self, p: str, flags: int, in0: int, in1: int, out: int, params: tuple[Any, ...]) -> Lif:
        channels, state_bits, reserved, leak_mul, t_off = params
        src = self.read(f"{p} in0", in0, (BufferKind.CURRENT,))
        dst = self.write(f"{p} out", out, BufferKind.SPIKES)
        if channels != src.channels or channels != dst.channels:
            raise BlobError(f"{p} channels: {channels} != in0 {src.channels} / out {dst.channels} channels")
        if src.shape != dst.shape:
            raise BlobError(f"{p} out: shape {dst.shape} != in0 shape {src.shape}")
        if state_bits not in (16, 32):
            raise BlobError(f"{p} state_bits: {state_bits} is not 16 or 32")
        check_zero(f"{p} reserved", reserved)
        check_range(f"{p} leak_mul", leak_mul, 1, 65536)
        th = self.data.array(f"{p} threshold_offset", t_off, channels, "<i4")
        if th.size and int(th.min()) < 1:
            c = int(np.argmin(th))
            raise BlobError(f"{p} threshold[{c}]: {int(th[c])} must be >= 1")
        return Lif(in0, out, th, leak_mul=leak_mul, state_bits=state_bits)

    def attn(self, p: str, flags: int, in0: int, in1: int, out: int, params: tuple[Any, ...]) -> Attn:
        dim, kind, n, hidden, shift, r1, levels, r2, w1_off, w2_off, t_off = params
        src = self.read(f"{p} in0", in0, (BufferKind.CURRENT,))
        dst = self.write(f"{p} out", out, BufferKind.CURRENT)
        if src.shape != dst.shape:
            raise BlobError(f"{p} out: shape {dst.shape} != in0 shape {src.shape}")
        if dim not in AttnDim.__members__.values():
            raise BlobError(f"{p} dim: {dim} is not 0 T, 1 C or 2 S")
        if kind not in AttnKind.__members__.values():
            raise BlobError(f"{p} kind: {kind} is not 0 MA or 1 IA")
        check_zero(f"{p} reserved", r1)
        check_zero(f"{p} reserved", r2)
        d = AttnDim(dim)
        if d == AttnDim.S:
            check_range(f"{p} n", n, 1, 15)
            if n % 2 == 0:
                raise BlobError(f"{p} n: kernel size {n} must be odd")
            for name, v in (("hidden", hidden), ("shift", shift), ("w2_offset", w2_off)):
                if v != 0:
                    raise BlobError(f"{p} {name}: {v}, must be 0 for dim S")
            w1: np.ndarray = self.data.array(f"{p} w1_offset", w1_off, 2 * n * n, "i1").reshape(2, n, n)
            w2 = None
            groups = 1
        else:
            expect = self.T if d == AttnDim.T else src.channels
            if n != expect:
                source = "the header's T" if d == AttnDim.T else f"in0 buffer {in0} channels"
                raise BlobError(f"{p} n: {n} != {source} ({expect})")
            check_range(f"{p} hidden", hidden, 1, n)
            check_range(f"{p} shift", shift, 0, 62)
            w1 = self.data.array(f"{p} w1_offset", w1_off, hidden * n, "i1").reshape(hidden, n)
            w2 = self.data.array(f"{p} w2_offset", w2_off, n * hidden, "i1").reshape(n, hidden)
            groups = n
        if kind == AttnKind.MA:
            check_range(f"{p} levels", levels, 1, 1024)
            raw = self.data.raw(f"{p} table_offset", t_off, 8 * levels + 2 * (levels + 1))
            table = np.frombuffer(raw[: 8 * levels], dtype="<i8").astype(np.int64)
            lv = np.frombuffer(raw[8 * levels :], dtype="<u2").astype(np.uint16)
            descending = table[1:] < table[:-1]  # compared, not subtracted: np.diff wraps past 2^63
            if np.any(descending):
                j = int(np.argmax(descending))
                raise BlobError(f"{p} breakpoints: not ascending at {j + 1} ({table[j]} > {table[j + 1]})")
        else:
            if levels != 0:
                raise BlobError(f"{p} levels: {levels}, must be 0 for IA")
            table = self.data.array(f"{p} table_offset", t_off, groups, "<i8")
            lv = None
        return Attn(in0, out, d, AttnKind(kind), w1, table, w2=w2, levels=lv, shift=shift)

    def maxpool(self, p: str, flags: int, in0: int, in1: int, out: int, params: tuple[Any, ...]) -> MaxPool:
        kernel, stride, pad, reserved = params
        src = self.read(f"{p} in0", in0, (BufferKind.SPIKES,))
        dst = self.write(f"{p} out", out, BufferKind.SPIKES)
        check_range(f"{p} kernel", kernel, 1, 15)
        check_range(f"{p} stride", stride, 1, 15)
        check_range(f"{p} pad", pad, 0, 7)
        check_zero(f"{p} reserved", reserved)
        ho, wo = out_size(src.height, kernel, stride, pad), out_size(src.width, kernel, stride, pad)
        if (src.channels, ho, wo) != dst.shape:
            raise BlobError(
                f"{p} output size: {src.shape} with kernel {kernel}, stride {stride}, pad {pad} gives "
                f"{(src.channels, ho, wo)}, but out buffer {out} is {dst.shape}"
            )
        return MaxPool(in0, out, kernel, stride, pad)

    def logic(self, p: str, flags: int, in0: int, in1: int, out: int, params: tuple[Any, ...]) -> Logic:
        mode, reserved = params
        a = self.read(f"{p} in0", in0, (BufferKind.SPIKES,))
        b = self.read(f"{p} in1", in1, (BufferKind.SPIKES,))
        dst = self.write(f"{p} out", out, BufferKind.SPIKES)
        if mode not in LogicMode.__members__.values():
            raise BlobError(f"{p} mode: {mode} is not 0 OR, 1 AND or 2 IAND")
        check_zero(f"{p} reserved", reserved)
        if not a.shape == b.shape == dst.shape:
            raise BlobError(f"{p} shapes: in0 {a.shape}, in1 {b.shape} and out {dst.shape} must be equal")
        return Logic(in0, in1, out, LogicMode(mode))

    def readout(self, p: str, flags: int, in0: int, in1: int, out: int, params: tuple[Any, ...]) -> Readout:
        channels, classes, bits, reserved, w_off, b_off = params
        src = self.read(f"{p} in0", in0, (BufferKind.SPIKES,))
        if channels != src.channels:
            raise BlobError(f"{p} channels: {channels} != in0 buffer {in0} channels {src.channels}")
        if classes != self.classes:
            raise BlobError(f"{p} classes: {classes} != header num_classes {self.classes}")
        if bits not in (4, 8, 16):
            raise BlobError(f"{p} weight_bits: {bits} is not 4, 8 or 16")
        check_zero(f"{p} reserved", reserved)
        w = self.data.weights(f"{p} weight_offset", w_off, channels * classes, bits)
        w = w.reshape(channels, classes)
        b = self.data.array(f"{p} bias_offset", b_off, classes, "<i4")
        return Readout(in0, w, b, weight_bits=bits)
