"""Upper bound of the MicroPython heap that `devices/micropython/` needs for one model.

`heap_bytes(blob)` mirrors what `esnn_model.Model(blob)` keeps on the heap (the parsed `Blob` with its
`Buffer`/`Op` instances, every weight/bias/threshold array copied out of the blob, every buffer's
`array('i')`/`array('I')`, the LIF states, each op's `_Step` with its parameter array, the step lists) plus
what one `run(x)` returns (logits and counts lists, one `array('i')` final state per LIF) and the largest
transient of init or run (a weight slice copied before its array is built, a conv's parameter list, an
ATTN's score lists). `board=True` adds the protocol board (`esnn_board.py`): the model file read into a
`bytes`, the sample `bytearray`, the receive buffer of a whole sample, the board object and a reply.

Object sizes follow MicroPython's layout for a port whose word is `word` bytes (4 on every MCU port):
the GC hands out blocks of 4 words (16 B) and every allocation is rounded up to whole blocks; an
`array`/`bytearray` object is one block plus its items; a list is one block plus `alloc` words (`[]` starts
at 4 and doubles, `[x] * n` is exact above 4); a tuple is 2 words plus its items; an instance is one block
plus its attribute table (2 words per slot, the table sizes of py/map.c, one size above the count to cover
rehash timing); an int outside the port's small-int range (31 bits on a 32-bit port: the ATTN int64
tables, the CRC) is an mpz of one block plus its 16-bit digits. Array payloads are the same on every port.

Why the 32-bit figure is trusted: the unix port is 64-bit, where every object header, list slot and
attribute slot is twice as large, so it cannot check the 32-bit figure directly. The same accounting is
therefore evaluated with `word=8` and checked against `gc.mem_alloc()` growth on the unix port
(tests/devices/test_micropython_memory.py: measured <= bound <= 1.5 x measured + 2 KiB over every
conformance vector and random small models); `word=4` changes only the object sizes, never what is
counted. The slack covers the transient (freed before the reading) and the headers this accounting
rounds up: bound / measured is 1.01 to 1.05 for payload-heavy models (the 205 KB Fashion-MNIST demo:
1.61 MB measured), up to 1.46 for the 0.5 KB vectors whose heap is mostly headers. `flash_bytes` counts
the `.py` sources as `edgesnn flash` copies them (not `.mpy`), each file in whole 4 KiB filesystem blocks.
Not counted: the runtime modules' code (compiled when imported; part of the profile's reserved RAM), and
the plain kernels' per-step long ints (bits 30/31 of a spike word, freed at once).
"""

from __future__ import annotations

import json
from pathlib import Path

from edgesnn import resources
from edgesnn.format import Attn, AttnDim, BufferKind, Conv, Lif, Logic, MaxPool, Model, Readout, parse

RUNTIME_DIR = resources.micropython_dir()
CORES_64 = ("x86_64", "aarch64")
FS_BLOCK = 4096  # littlefs block on the rp2 and esp32 ports

# py/map.c hash_allocation_sizes: the sizes an attribute table grows through
_MAP_SIZES = (0, 2, 4, 6, 8, 10, 12, 17, 23, 29, 37, 47, 59, 73, 97, 127, 167, 223, 293, 389, 521)
# instance attribute counts (esnn_blob.Op per opcode, esnn_model._Step per op kind)
_OP_ATTRS = {Conv: 16, Lif: 10, Attn: 15, MaxPool: 9, Logic: 7, Readout: 11}
_STEP_ATTRS = {Conv: 9, Lif: 11, Attn: 9, MaxPool: 7, Logic: 6, Readout: 7}
_MODEL_ATTRS = 16
_BLOB_ATTRS = 9
_BUFFER_ATTRS = 6
_BOARD_ATTRS = 24


class _Heap:
    def __init__(self, word: int) -> None:
        self.word = word
        self.block = 4 * word
        self.small = 1 << (8 * word - 2)  # small ints: -2^30 .. 2^30 - 1 on a 32-bit port

    def raw(self, n: int) -> int:
        return -(-n // self.block) * self.block

    def array(self, nbytes: int) -> int:
        return self.raw(4 * self.word) + self.raw(nbytes)

    def bytes(self, n: int) -> int:
        return self.raw(4 * self.word) + self.raw(n + 1)

    def list(self, n: int, grown: bool = False) -> int:
        alloc = max(4, n)
        if grown:  # built by appends: 4, 8, 16, ...
            alloc = 4
            while alloc < n:
                alloc *= 2
        return self.raw(4 * self.word) + self.raw(alloc * self.word)

    def tuple(self, n: int) -> int:
        return self.raw((2 + n) * self.word)

    def instance(self, attrs: int) -> int:
        slots = next(s for s in _MAP_SIZES if s >= attrs + 1)
        return self.raw(4 * self.word) + self.raw(2 * self.word * slots)

    def int(self, v: int) -> int:
        if -self.small <= v < self.small:
            return 0
        digits = -(-max(1, abs(v).bit_length()) // 16)
        return self.raw(4 * self.word) + self.raw(2 * digits)


def _taps(size: int, k: int, stride: int, pad: int, osize: int) -> int:
    """Length of esnn_kernels.tap_table's starts + pairs lists."""
    pairs = 0
    for i in range(size):
        for t in range(k):
            num = i + pad - t
            if num >= 0 and num % stride == 0 and num // stride < osize:
                pairs += 2
    return size + 1 + pairs


def _segments(model: Model) -> tuple[list[int], list[int]]:
    """esnn_model's segment index per op and the steps each buffer holds (1 or T)."""
    seg, k = [], 0
    for op in model.ops:
        if isinstance(op, Attn):
            k += 1
            seg.append(k)
            k += 1
        else:
            seg.append(k)
    made: dict[int, int] = {}
    read: dict[int, list[tuple[int, bool]]] = {}
    for i, op in enumerate(model.ops):
        if not isinstance(op, Readout):
            made[op.out] = seg[i]
        for b in (op.in0, op.in1) if isinstance(op, Logic) else (op.in0,):
            read.setdefault(b, []).append((seg[i], isinstance(op, Attn)))
    once = {op.out for op in model.ops if isinstance(op, Conv) and op.static}
    slots = [1] * len(model.buffers)
    for b in range(1, len(model.buffers)):
        full = any(sg != made[b] and (b not in once or attn) for sg, attn in read.get(b, ()))
        slots[b] = model.T if full else 1
    return seg, slots


def _words(model: Model, b: int) -> int:
    buf = model.buffers[b]
    if buf.kind == BufferKind.SPIKES:
        return buf.height * buf.width * ((buf.channels + 31) // 32)
    return buf.channels * buf.height * buf.width


def word_bytes(core: str) -> int:
    """The word size of a MicroPython port on `core` (a profile's [device] core): 8 on 64-bit hosts."""
    return 8 if core in CORES_64 else 4


def runtime_files() -> list[Path]:
    """What `edgesnn flash` copies to a MicroPython board besides the model: the runtime modules and the
    protocol board (as main.py); the unix-port driver esnn_cli.py stays on the host."""
    return [p for p in sorted(RUNTIME_DIR.glob("esnn_*.py")) if p.name != "esnn_cli.py"]


def flash_bytes(blob_size: int) -> int:
    """Filesystem bytes on the board: the model file plus the runtime's .py sources as copied (not .mpy),
    each rounded up to whole 4 KiB littlefs blocks (rp2 and esp32 ports)."""
    sizes = [blob_size] + [p.stat().st_size for p in runtime_files()]
    return sum(-(-n // FS_BLOCK) * FS_BLOCK for n in sizes)


def heap_bytes(blob: bytes, board: bool = False, word: int = 4) -> int:
    """Bytes of MicroPython heap that `Model(blob)` plus one `run` need at most on a port with `word`-byte
    words (4: every MCU port; 8: the 64-bit unix port); `board=True` adds esnn_board.py's buffers."""
    return model_heap_bytes(parse(blob), len(blob), board, word)


def model_heap_bytes(model: Model, blob_size: int, board: bool = False, word: int = 4) -> int:
    """`heap_bytes` of a decoded model whose blob is `blob_size` bytes."""
    h = _Heap(word)
    nb, nops = len(model.buffers), len(model.ops)
    seg, slots = _segments(model)
    lifs = [op for op in model.ops if isinstance(op, Lif)]

    # the parsed Blob: header fields, buffers, ops with their arrays
    kept = h.instance(_BLOB_ATTRS) + h.raw(2 * word) + h.int(0xFFFFFFFF)  # logit_scale float, crc
    kept += h.list(nb, grown=True) + nb * h.instance(_BUFFER_ATTRS) + h.list(nops, grown=True)
    transient = 0
    for op in model.ops:
        kept += h.instance(_OP_ATTRS[type(op)])
        weights = []
        if isinstance(op, (Conv, Readout)):
            nbytes = op.weights.size * (2 if op.weight_bits == 16 else 1)
            weights = [nbytes, 4 * op.bias.size]
        elif isinstance(op, Lif):
            weights = [4 * op.thresholds.size]
        elif isinstance(op, Attn):
            weights = [op.w1.size] + ([op.w2.size] if op.w2 is not None else [])
            kept += h.list(op.table.size) + sum(h.int(int(v)) for v in op.table)
            if op.levels is not None:
                kept += h.list(op.levels.size)
        kept += sum(h.array(n) for n in weights)
        # the blob slice copied before each array is built (int4: a bytes of `count` zeros)
        transient = max(transient, max((h.bytes(n) for n in weights), default=0))

    # Model: buffers, steps, segments, logits, counts
    kept += h.instance(_MODEL_ATTRS) + 2 * h.list(nb) + h.list(len(model.ops), grown=True)
    kept += h.list(len(lifs), grown=True) + h.list(len(lifs)) + h.array(4 * model.num_classes)
    for b in range(1, nb):
        kept += h.array(4 * slots[b] * _words(model, b))
    nseg = 0
    for i, op in enumerate(model.ops):
        if isinstance(op, Attn) or i == 0 or seg[i] != seg[i - 1]:
            nseg += 1
            kept += h.tuple(2) + (0 if isinstance(op, Attn) else h.list(1))
    kept += h.list(nseg, grown=True) + h.list(nops)  # segments; a segment's step list (<= nops)
    for op in model.ops:
        kept += h.instance(_STEP_ATTRS[type(op)])
        if isinstance(op, Conv):
            src, dst = model.buffers[op.in0], model.buffers[op.out]
            kh, kw = op.weights.shape[1:3]
            n = 14 + _taps(src.height, kh, op.stride, op.pad, dst.height)
            n += _taps(src.width, kw, op.stride, op.pad, dst.width) + op.bias.size
            kept += h.array(4 * n)
            transient = max(transient, 3 * h.list(n, grown=True))  # fixed, rs + rp, list(op.bias)
        elif isinstance(op, Lif):
            buf = model.buffers[op.out]
            size = buf.channels * buf.height * buf.width
            kept += h.array(4 * (9 + op.thresholds.size)) + h.array(op.state_bits // 8 * size) + h.tuple(3)
        elif isinstance(op, Attn):
            buf = model.buffers[op.in0]
            npix = buf.height * buf.width
            groups = model.T if op.dim == AttnDim.T else buf.channels if op.dim == AttnDim.C else npix
            kept += h.array(4 * groups) + h.array(4 * 8) + h.array(12 * groups) + h.tuple(3)
            # per sample: sums, maxs, scores (S), or sums, maxs, two bottleneck outputs, their hidden lists
            # and the scores (T/C); sums of int32 values are long ints on a 32-bit port (not on 64 bits)
            lists = 3 if op.dim == AttnDim.S else 5
            long = h.raw(4 * word) + h.raw(16) if word == 4 else 0
            extra = 0 if op.dim == AttnDim.S else 2 * h.list(op.hidden, grown=True)
            transient = max(transient, lists * (h.list(groups, grown=True) + groups * long) + extra)
        elif isinstance(op, (MaxPool, Logic, Readout)):
            kept += h.array(4 * 10)

    # one run's results: logits and counts lists, a final state array('i') per LIF, the tuples
    result = h.list(model.num_classes, grown=True) + h.list(len(lifs), grown=True) + h.tuple(4)
    result += h.list(len(lifs), grown=True)
    for op in lifs:
        buf = model.buffers[op.out]
        result += h.array(4 * buf.channels * buf.height * buf.width)
    total = kept + result + transient
    if board:
        total += _board_bytes(h, model, blob_size)
    return total


def _board_bytes(h: _Heap, model: Model, blob_size: int) -> int:
    """esnn_board.py around a model: the model file read into a bytes, the sample bytearray, the receive
    buffer of a whole sample, the board and receiver objects, their views, a reply and its COBS encoding."""
    nl = sum(isinstance(op, Lif) for op in model.ops)
    c, hh, ww = model.input.shape
    sample = (1 if model.static_input else model.T) * c * hh * ww
    payload = min(0xFFFF, 4 + sample)
    total = h.bytes(blob_size) + h.array(sample) + h.array(8 + payload + payload // 254 + 8)
    total += h.instance(_BOARD_ATTRS) + h.instance(8) + 4 * h.array(64)  # Board, Receiver, views
    return total + 2 * h.array(16 + 4 * (model.num_classes + nl) + 64)  # a reply and its COBS


# sizeof(esnn_ctx_t) on a port with `word`-byte pointers (firmware/runtime/esnn.h: 4 pointers, a size_t, the
# counters and the error record), rounded up; the esnn_native object adds its header, the blob and arena
# references and the arena length
_CTX_WORDS = 20


def native_heap_bytes(
    model: Model, arena_bytes: int, blob_size: int, board: bool = False, word: int = 4
) -> int:
    """Heap bytes of `esnn_model.Model(blob, final_state=False)` on the C runtime (the native module
    esnn_native) plus one `run`: the native object with its esnn_ctx_t, the arena (`arena_bytes`, the C plan's
    lean arena, + 7 to align it) and its bytearray, the NativeModel instance, the logits and counts arrays,
    one run's result lists and tuple. Not counted: the module's machine code (copied into RAM when imported on
    a bare-metal port: `native_code_bytes`), and the blob, read in place (`board=True` adds esnn_board.py,
    which reads the model file into a bytes, and its buffers)."""
    h = _Heap(word)
    nl = sum(isinstance(op, Lif) for op in model.ops)
    # the native object, the arena, its bytearray view
    total = h.raw(word * (1 + 3 + _CTX_WORDS)) + h.raw(arena_bytes + 7) + h.array(0)
    total += h.instance(14) + h.tuple(7)  # NativeModel and its info() tuple
    total += h.array(4 * model.num_classes) + h.array(4 * nl)
    total += h.list(model.num_classes, grown=True) + h.list(nl, grown=True) + h.tuple(4)  # one run's results
    if board:
        total += _board_bytes(h, model, blob_size)
    return total


# a profile's [device] core -> the esnn_native architecture its MicroPython loads (sys.implementation._mpy);
# no module for the others (xtensa: no compiler from the registries), which run the viper kernels
NATIVE_ARCH = {
    "cortex-m0": "armv6m", "cortex-m0plus": "armv6m", "cortex-m3": "armv7m", "cortex-m4": "armv7emsp",
    "cortex-m4f": "armv7emsp", "cortex-m7": "armv7emsp", "x86_64": "x64",
}  # fmt: skip


def native_code_bytes(core: str) -> int:
    """Bytes of the shipped esnn_native.mpy for `core` (its machine code is copied into RAM on import on a
    bare-metal port; the file is an upper bound), 0 when none is shipped for it."""
    manifest = RUNTIME_DIR / "native" / "prebuilt" / "manifest.json"  # edgesnn.runtime.micropython_native's
    arch = NATIVE_ARCH.get(core)
    if not arch or not manifest.is_file():
        return 0
    return int(json.loads(manifest.read_text()).get("archs", {}).get(arch, 0))
