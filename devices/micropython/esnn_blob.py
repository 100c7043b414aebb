# ruff: noqa: UP031  (%-formatting: every MicroPython port has it, f-strings are optional)
# Parse and validate an .esnn v1.0 blob (export/FORMAT.md sections 1 and 5) on MicroPython (or CPython).
#
# Every count, dimension, offset and the CRC32 is checked before any array is read; a failure raises
# BlobError (a ValueError) whose message starts with the field it names. Arrays come out as `array`s:
# weights int8 ('b', int4 unpacked to one per element) or int16 ('h'), biases and thresholds int32 ('i');
# ATTN breakpoints/thresholds and levels as lists of Python ints (exact 64-bit values).
import struct
from array import array

try:
    from binascii import crc32
except ImportError:  # CPython without binascii.crc32 (never in practice)
    from zlib import crc32

# The format's constants and tables come from esnn_format.py, generated from export/schema.toml (run
# `python export/gen_format.py` after editing the schema); the other modules take them from here.
from esnn_format import (  # noqa: F401  (DIM_C, LOGIC_OR, ... are re-exported for esnn_model / esnn_kernels)
    ATTN,
    BUFFER_FORMAT,
    BUFFER_SIZE,
    CONV,
    CONV_FLAG_STATIC,
    CRC_SIZE,
    CURRENT,
    DIM_C,
    DIM_S,
    DIM_T,
    FLAG_LAYER_MAJOR,
    FLAG_STATIC_INPUT,
    GENERATOR_VERSION,
    HEADER_FORMAT,
    HEADER_SIZE,
    INPUT_U8,
    KIND_IA,
    KIND_MA,
    KIND_NAMES,
    LIF,
    LOGIC,
    LOGIC_AND,
    LOGIC_IAND,
    LOGIC_OR,
    MAGIC,
    MAXPOOL,
    OP_HEADER_FORMAT,
    OP_HEADER_SIZE,
    OP_NAMES,
    READOUT,
    RECORDS,
    SPIKES,
    UNUSED,
    VERSION,
)

if GENERATOR_VERSION != 1:
    raise ImportError("esnn_format.py is from another export/gen_format.py: regenerate it")
MAX_ELEMENTS = 1 << 22  # this reader's own limit per buffer and step (as the Python reference)


class BlobError(ValueError):
    pass


def _range(what, v, lo, hi):
    if v < lo or v > hi:
        raise BlobError("%s: %d is outside %d..%d" % (what, v, lo, hi))


def _zero(what, v):
    if (v != 0) if isinstance(v, int) else any(b != 0 for b in v):
        raise BlobError("%s: reserved, must be 0" % what)


def out_size(size, kernel, stride, pad):
    return (size + 2 * pad - kernel) // stride + 1


class Buffer:
    def __init__(self, kind, c, h, w):
        self.kind = kind
        self.c = c
        self.h = h
        self.w = w
        self.size = c * h * w
        self.nw = (c + 31) >> 5  # 32-bit spike words per pixel


class Op:
    # Fields common to every op; the parameters are set by the per-opcode parsers below.
    def __init__(self, opcode, flags, in0, in1, out):
        self.opcode = opcode
        self.flags = flags
        self.in0 = in0
        self.in1 = in1
        self.out = out


class Blob:
    # A validated model: header fields, `buffers` (list of Buffer) and `ops` (list of Op).
    pass


class _Data:
    def __init__(self, blob, offset, size):
        self.blob = blob
        self.offset = offset
        self.size = size

    def check(self, what, offset, nbytes):
        if offset % 4:
            raise BlobError("%s: %d is not 4-aligned" % (what, offset))
        if offset + nbytes > self.size:
            raise BlobError(
                "%s: %d + %d bytes runs past the data section (%d bytes)" % (what, offset, nbytes, self.size)
            )
        return self.offset + offset

    def ints(self, what, offset, count, code):
        nbytes = count * {"b": 1, "h": 2, "i": 4}[code]
        start = self.check(what, offset, nbytes)
        return array(code, bytes(self.blob[start : start + nbytes]))  # little-endian host, as every MCU port

    def weights(self, what, offset, count, bits):
        if bits == 16:
            return self.ints(what, offset, count, "h")
        if bits == 8:
            return self.ints(what, offset, count, "b")
        start = self.check(what, offset, (count + 1) // 2)
        out = array("b", bytes(count))
        blob = self.blob
        for i in range(count):
            nib = (blob[start + (i >> 1)] >> (4 * (i & 1))) & 0xF
            out[i] = (nib ^ 8) - 8
        return out

    def i64(self, what, offset, count):
        start = self.check(what, offset, 8 * count)
        return list(struct.unpack_from("<%dq" % count, self.blob, start)) if count else []


def parse(blob):
    """Validate `blob` (bytes-like) and return a Blob; raises BlobError naming the first bad field."""
    n = len(blob)
    if n >= 4 and bytes(blob[:4]) != MAGIC:
        raise BlobError("magic: %r is not b'ESNN' (not an .esnn blob)" % bytes(blob[:4]))
    if n < HEADER_SIZE + CRC_SIZE:
        raise BlobError("truncated: the blob is %d bytes, shorter than the 64-byte header plus the CRC" % n)
    f = struct.unpack_from(HEADER_FORMAT, blob, 0)
    major, minor, header_size, file_size, flags, T, classes, nbuf, nops = f[1:10]
    ops_offset, ops_size, data_offset, data_size, logit_scale, input_scale, reserved = f[10:]
    if major != VERSION[0]:
        raise BlobError(
            "version_major: %d.%d is not supported (this reader accepts 1.0 only)" % (major, minor)
        )
    if minor != VERSION[1]:
        raise BlobError(
            "version_minor: %d.%d is not supported (this reader accepts 1.0 only)" % (major, minor)
        )
    if header_size != HEADER_SIZE:
        raise BlobError("header_size: %d, expected 64" % header_size)
    if file_size != n:
        raise BlobError("file_size: the header says %d bytes but the blob is %d bytes" % (file_size, n))
    stored = struct.unpack_from("<I", blob, n - 4)[0]
    computed = crc32(memoryview(blob)[: n - 4]) & 0xFFFFFFFF
    if stored != computed:
        raise BlobError(
            "CRC32: stored 0x%08x but the bytes give 0x%08x (corrupted blob)" % (stored, computed)
        )
    if flags & ~(FLAG_LAYER_MAJOR | FLAG_STATIC_INPUT):
        raise BlobError("flags: unknown bits set in 0x%08x" % flags)
    _range("T", T, 1, 1024)
    _range("num_classes", classes, 2, 1024)
    _range("num_buffers", nbuf, 1, 256)
    _range("num_ops", nops, 1, 256)
    table_end = HEADER_SIZE + BUFFER_SIZE * nbuf
    if ops_offset < table_end or ops_offset % 4:
        raise BlobError(
            "ops_offset: %d must be 4-aligned and >= %d (after the buffers)" % (ops_offset, table_end)
        )
    if data_offset % 4:
        raise BlobError("data_offset: %d is not 4-aligned" % data_offset)
    if ops_offset + ops_size > data_offset:
        raise BlobError("ops_size: %d + %d runs past data_offset %d" % (ops_offset, ops_size, data_offset))
    if data_offset + data_size != n - 4:
        raise BlobError(
            "data_size: data_offset %d + data_size %d != file_size - 4 (%d)" % (data_offset, data_size, n - 4)
        )
    if not (logit_scale > 0 and logit_scale < float("inf")):  # also false for NaN
        raise BlobError("logit_scale: %r must be finite and > 0" % logit_scale)
    if input_scale < 1:
        raise BlobError("input_scale_num: %d must be >= 1" % input_scale)
    _zero("header reserved", reserved)

    m = Blob()
    m.T = T
    m.num_classes = classes
    m.layer_major = bool(flags & FLAG_LAYER_MAJOR)
    m.static_input = bool(flags & FLAG_STATIC_INPUT)
    m.logit_scale = logit_scale
    m.input_scale_num = input_scale
    m.crc = stored
    m.buffers = [_buffer(blob, i) for i in range(nbuf)]
    g = _Graph(m, _Data(blob, data_offset, data_size))
    m.ops = []
    pos = ops_offset
    end = ops_offset + ops_size
    for i in range(nops):
        op = g.op(blob, i, pos, end, nops)
        m.ops.append(op)
        pos += RECORDS[op.opcode][0]
    if pos != end:
        raise BlobError(
            "ops_size: %d bytes but the %d op records take %d" % (ops_size, nops, pos - ops_offset)
        )
    for b in range(1, nbuf):
        if b not in g.written:
            raise BlobError("buffer %d: never written by any op" % b)
    if not m.layer_major:
        for op in m.ops:
            if op.opcode == ATTN:
                raise BlobError("flags: the graph has ATTN ops but LAYER_MAJOR (bit 0) is not set")
    return m


def _buffer(blob, i):
    kind, reserved, c, h, w = struct.unpack_from(BUFFER_FORMAT, blob, HEADER_SIZE + BUFFER_SIZE * i)
    what = "buffer %d" % i
    if kind > CURRENT:
        raise BlobError("%s kind: %d is not 0 INPUT_U8, 1 SPIKES or 2 CURRENT" % (what, kind))
    if (kind == INPUT_U8) != (i == 0):
        raise BlobError("%s kind: %s; buffer 0 and only buffer 0 is INPUT_U8" % (what, KIND_NAMES[kind]))
    _zero(what + " reserved", reserved)
    _range(what + " channels", c, 1, 4096)
    _range(what + " height", h, 1, 4096)
    _range(what + " width", w, 1, 4096)
    if c * h * w > MAX_ELEMENTS:
        raise BlobError(
            "%s shape: %dx%dx%d = %d elements, over the reader limit %d"
            % (what, c, h, w, c * h * w, MAX_ELEMENTS)
        )
    return Buffer(kind, c, h, w)


class _Graph:
    # Per-op validation with the buffer bookkeeping (written once, read after written, kinds).
    def __init__(self, m, data):
        self.m = m
        self.data = data
        self.written = {0}

    def _get(self, what, b):
        if b >= len(self.m.buffers):
            raise BlobError("%s: buffer %d does not exist (num_buffers %d)" % (what, b, len(self.m.buffers)))
        return self.m.buffers[b]

    def read(self, what, b, kinds):
        buf = self._get(what, b)
        if b not in self.written:
            raise BlobError("%s: buffer %d is read before any op writes it" % (what, b))
        if buf.kind not in kinds:
            want = " or ".join(KIND_NAMES[k] for k in kinds)
            raise BlobError("%s: buffer %d is %s, expected %s" % (what, b, KIND_NAMES[buf.kind], want))
        return buf

    def write(self, what, b, kind):
        buf = self._get(what, b)
        if b in self.written:
            raise BlobError("%s: buffer %d is already written (the input or an earlier op)" % (what, b))
        if buf.kind != kind:
            raise BlobError(
                "%s: buffer %d is %s, expected %s" % (what, b, KIND_NAMES[buf.kind], KIND_NAMES[kind])
            )
        self.written.add(b)
        return buf

    def op(self, blob, i, pos, end, nops):
        if pos + OP_HEADER_SIZE > end:
            raise BlobError(
                "op %d: record header at %d runs past the op section (ends at %d)" % (i, pos, end)
            )
        opcode, flags, size, in0, in1, out, reserved = struct.unpack_from(OP_HEADER_FORMAT, blob, pos)
        if opcode not in RECORDS:
            raise BlobError("op %d opcode: %d is unknown (1 CONV .. 6 READOUT)" % (i, opcode))
        name = OP_NAMES[opcode]
        p = "op %d (%s)" % (i, name)
        rsize, fmt = RECORDS[opcode]
        if size != rsize:
            raise BlobError("%s size: %d, a v1.0 %s record is %d bytes" % (p, size, name, rsize))
        if pos + size > end:
            raise BlobError(
                "%s size: record at %d + %d runs past the op section (ends at %d)" % (p, pos, size, end)
            )
        _zero(p + " reserved", reserved)
        allowed = CONV_FLAG_STATIC if opcode == CONV else 0
        if flags & ~allowed:
            raise BlobError("%s flags: unknown bits set in 0x%02x" % (p, flags))
        if opcode != LOGIC and in1 != UNUSED:
            raise BlobError("%s in1: %d, must be 0xFFFF (unused) for %s" % (p, in1, name))
        if opcode == READOUT:
            if out != UNUSED:
                raise BlobError("%s out: %d, must be 0xFFFF for READOUT" % (p, out))
            if i != nops - 1:
                raise BlobError("%s: READOUT must be the last op (op %d) and appear once" % (p, nops - 1))
        elif i == nops - 1:
            raise BlobError("%s: the last op must be READOUT" % p)
        params = struct.unpack_from(fmt, blob, pos + OP_HEADER_SIZE)
        op = Op(opcode, flags, in0, in1, out)
        op.index = i
        (None, self.conv, self.lif, self.attn, self.maxpool, self.logic, self.readout)[opcode](p, op, params)
        return op

    def conv(self, p, op, params):
        cin, cout, kh, kw, stride, pad, bits, reserved, w_off, b_off = params
        src = self.read(p + " in0", op.in0, (INPUT_U8, SPIKES))
        dst = self.write(p + " out", op.out, CURRENT)
        op.static = bool(op.flags & CONV_FLAG_STATIC)
        if op.static and not (op.in0 == 0 and self.m.static_input):
            raise BlobError("%s flags: STATIC needs in0 = buffer 0 and the header's STATIC_INPUT flag" % p)
        if cin != src.c:
            raise BlobError("%s cin: %d != in0 buffer %d channels %d" % (p, cin, op.in0, src.c))
        if cout != dst.c:
            raise BlobError("%s cout: %d != out buffer %d channels %d" % (p, cout, op.out, dst.c))
        _range(p + " kh", kh, 1, 15)
        _range(p + " kw", kw, 1, 15)
        _range(p + " stride", stride, 1, 8)
        _range(p + " pad", pad, 0, 7)
        if bits not in (4, 8, 16):
            raise BlobError("%s weight_bits: %d is not 4, 8 or 16" % (p, bits))
        _zero(p + " reserved", reserved)
        ho = out_size(src.h, kh, stride, pad)
        wo = out_size(src.w, kw, stride, pad)
        if ho != dst.h or wo != dst.w:
            raise BlobError(
                "%s output size: %dx%d with kernel %dx%d, stride %d, pad %d gives %dx%d, "
                "but out buffer %d is %dx%d"
                % (p, src.h, src.w, kh, kw, stride, pad, ho, wo, op.out, dst.h, dst.w)
            )
        op.cin, op.cout, op.kh, op.kw, op.stride, op.pad, op.weight_bits = (
            cin,
            cout,
            kh,
            kw,
            stride,
            pad,
            bits,
        )
        op.weights = self.data.weights(p + " weight_offset", w_off, cin * kh * kw * cout, bits)
        op.bias = self.data.ints(p + " bias_offset", b_off, cout, "i")

    def lif(self, p, op, params):
        channels, state_bits, reserved, leak_mul, t_off = params
        src = self.read(p + " in0", op.in0, (CURRENT,))
        dst = self.write(p + " out", op.out, SPIKES)
        if channels != src.c or channels != dst.c:
            raise BlobError("%s channels: %d != in0 %d / out %d channels" % (p, channels, src.c, dst.c))
        if src.h != dst.h or src.w != dst.w:
            raise BlobError("%s out: shape differs from in0's" % p)
        if state_bits not in (16, 32):
            raise BlobError("%s state_bits: %d is not 16 or 32" % (p, state_bits))
        _zero(p + " reserved", reserved)
        _range(p + " leak_mul", leak_mul, 1, 65536)
        th = self.data.ints(p + " threshold_offset", t_off, channels, "i")
        for c in range(channels):
            if th[c] < 1:
                raise BlobError("%s threshold[%d]: %d must be >= 1" % (p, c, th[c]))
        op.channels, op.state_bits, op.leak_mul, op.thresholds = channels, state_bits, leak_mul, th

    def attn(self, p, op, params):
        dim, kind, n, hidden, shift, r1, levels, r2, w1_off, w2_off, t_off = params
        src = self.read(p + " in0", op.in0, (CURRENT,))
        dst = self.write(p + " out", op.out, CURRENT)
        if (src.c, src.h, src.w) != (dst.c, dst.h, dst.w):
            raise BlobError("%s out: shape differs from in0's" % p)
        if dim > DIM_S:
            raise BlobError("%s dim: %d is not 0 T, 1 C or 2 S" % (p, dim))
        if kind > KIND_IA:
            raise BlobError("%s kind: %d is not 0 MA or 1 IA" % (p, kind))
        _zero(p + " reserved", r1)
        _zero(p + " reserved", r2)
        if dim == DIM_S:
            _range(p + " n", n, 1, 15)
            if n % 2 == 0:
                raise BlobError("%s n: kernel size %d must be odd" % (p, n))
            for name, v in (("hidden", hidden), ("shift", shift), ("w2_offset", w2_off)):
                if v != 0:
                    raise BlobError("%s %s: %d, must be 0 for dim S" % (p, name, v))
            op.w1 = self.data.ints(p + " w1_offset", w1_off, 2 * n * n, "b")
            op.w2 = None
            groups = 1
        else:
            expect = self.m.T if dim == DIM_T else src.c
            if n != expect:
                source = "the header's T" if dim == DIM_T else "in0 buffer %d channels" % op.in0
                raise BlobError("%s n: %d != %s (%d)" % (p, n, source, expect))
            _range(p + " hidden", hidden, 1, n)
            _range(p + " shift", shift, 0, 62)
            op.w1 = self.data.ints(p + " w1_offset", w1_off, hidden * n, "b")
            op.w2 = self.data.ints(p + " w2_offset", w2_off, n * hidden, "b")
            groups = n
        if kind == KIND_MA:
            _range(p + " levels", levels, 1, 1024)
            start = self.data.check(p + " table_offset", t_off, 8 * levels + 2 * (levels + 1))
            table = list(struct.unpack_from("<%dq" % levels, self.data.blob, start))
            lv = list(struct.unpack_from("<%dH" % (levels + 1), self.data.blob, start + 8 * levels))
            for j in range(levels - 1):
                if table[j + 1] < table[j]:
                    raise BlobError(
                        "%s breakpoints: not ascending at %d (%d > %d)" % (p, j + 1, table[j], table[j + 1])
                    )
        else:
            if levels != 0:
                raise BlobError("%s levels: %d, must be 0 for IA" % (p, levels))
            table = self.data.i64(p + " table_offset", t_off, groups)
            lv = None
        op.dim, op.kind, op.n, op.hidden, op.shift = dim, kind, n, hidden, shift
        op.table, op.levels = table, lv

    def maxpool(self, p, op, params):
        kernel, stride, pad, reserved = params
        src = self.read(p + " in0", op.in0, (SPIKES,))
        dst = self.write(p + " out", op.out, SPIKES)
        _range(p + " kernel", kernel, 1, 15)
        _range(p + " stride", stride, 1, 15)
        _range(p + " pad", pad, 0, 7)
        _zero(p + " reserved", reserved)
        ho = out_size(src.h, kernel, stride, pad)
        wo = out_size(src.w, kernel, stride, pad)
        if (src.c, ho, wo) != (dst.c, dst.h, dst.w):
            raise BlobError(
                "%s output size: %dx%dx%d with kernel %d, stride %d, pad %d gives %dx%dx%d, "
                "but out buffer %d is %dx%dx%d"
                % (p, src.c, src.h, src.w, kernel, stride, pad, src.c, ho, wo, op.out, dst.c, dst.h, dst.w)
            )
        op.kernel, op.stride, op.pad = kernel, stride, pad

    def logic(self, p, op, params):
        mode, reserved = params
        a = self.read(p + " in0", op.in0, (SPIKES,))
        b = self.read(p + " in1", op.in1, (SPIKES,))
        dst = self.write(p + " out", op.out, SPIKES)
        if mode > LOGIC_IAND:
            raise BlobError("%s mode: %d is not 0 OR, 1 AND or 2 IAND" % (p, mode))
        _zero(p + " reserved", reserved)
        if not ((a.c, a.h, a.w) == (b.c, b.h, b.w) == (dst.c, dst.h, dst.w)):
            raise BlobError("%s shapes: in0, in1 and out must be equal" % p)
        op.mode = mode

    def readout(self, p, op, params):
        channels, classes, bits, reserved, w_off, b_off = params
        src = self.read(p + " in0", op.in0, (SPIKES,))
        if channels != src.c:
            raise BlobError("%s channels: %d != in0 buffer %d channels %d" % (p, channels, op.in0, src.c))
        if classes != self.m.num_classes:
            raise BlobError("%s classes: %d != header num_classes %d" % (p, classes, self.m.num_classes))
        if bits not in (4, 8, 16):
            raise BlobError("%s weight_bits: %d is not 4, 8 or 16" % (p, bits))
        _zero(p + " reserved", reserved)
        op.channels, op.classes, op.weight_bits = channels, classes, bits
        op.weights = self.data.weights(p + " weight_offset", w_off, channels * classes, bits)
        op.bias = self.data.ints(p + " bias_offset", b_off, classes, "i")
