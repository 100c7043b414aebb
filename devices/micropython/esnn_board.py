# ruff: noqa: UP031  (%-formatting: every MicroPython port has it, f-strings are optional)
# The MicroPython protocol board: the device side of the edgesnn serial protocol (firmware/PROTOCOL.md) over
# the MicroPython runtime (esnn_model.Model). Mirrors firmware/protocol/esnn_proto.c: the same checks in the
# same order, the same ERROR replies (code, detail, aux, text), the retransmission cache, the boot INFO.
#
#   unix port:  MICROPYPATH=devices/micropython micropython devices/micropython/esnn_board.py \
#                   [--name NAME] [--max-payload N] [--plain] [--no-announce] [--repl-escape] MODEL.esnn
#               (speaks on stdin/stdout; a tty is switched to raw, non-blocking reads)
#   a board:    this file as main.py next to the runtime files and model.esnn (edgesnn flash);
#               binary on the REPL's stream: keyboard interrupt off (micropython.kbd_intr(-1)),
#               sys.stdin.buffer / sys.stdout.buffer.
#
# Where it differs from the C board:
# - model_status: the C loader's esnn_status_t is derived from the field the BlobError names (blob_status:
#   the same value for 99 % of single-byte corruptions of the vectors); a MemoryError
#   while allocating the model is 13 (ARENA), one for the sample buffer 12 (LIMIT); no model file 1 (ARG).
#   arena bytes in INFO = heap bytes the model took (gc.mem_alloc before and after).
# - RUNTIME errors: detail 14 (STATE) for a ValueError of the runtime, 13 for a MemoryError, 1 otherwise.
# - counter: nanoseconds of board wall clock (time.ticks_us * 1000) spent in the runtime for the sample.
# - max_payload: a whole U8 sample (4 + frames * C*H*W, at most 65535) unless --max-payload says otherwise.
# - on a real board, the bytes "\r\x03" arriving between frames (mpremote's Ctrl-C) end the protocol loop
#   and give the REPL back, so `mpremote` can reach a board running this as main.py (a v1 packet never
#   starts with 0x0D 0x03: its first byte is version 1).
import struct
import sys

import esnn_model
import esnn_wire as W

try:
    import micropython
except ImportError:  # CPython
    micropython = None
try:
    from time import ticks_diff, ticks_us
except ImportError:  # CPython
    from time import perf_counter

    def ticks_us():
        return int(perf_counter() * 1e6)

    def ticks_diff(a, b):
        return a - b


ENC_U8 = 0
ENC_BITS = 1
ENC_MASK = 3
COUNTER_NANOSECONDS = 3
NAME_MAX = 32
RESULT_FIXED = 16
ERR_ARG = 1
ERR_ARENA = 13
ERR_STATE = 14
ERR_VALUE = 11
ERR_LIMIT = 12
UNIX = sys.platform in ("linux", "darwin")
USAGE = "usage: esnn_board.py [--name N] [--max-payload N] [--plain] [--no-announce] [--repl-escape] MODEL"
DEFAULT_NAMES = {"rp2": "rp2040-pico", "esp32": "esp32s3", "linux": "micropython-unix"}

_BITS = []  # BITS byte -> its 8 u8 values (LSB first), built at the first BITS frame


def _bits_table():
    if not _BITS:
        for b in range(256):
            _BITS.append(bytes((b >> k) & 1 for k in range(8)))
    return _BITS


_GRAPH_FIELDS = ("channels", "cin", "cout", "classes", "in0", "out", "output", "shapes", "n")


def blob_status(exc):
    """The esnn_status_t the C loader most likely gives for this loading failure, from the field the
    BlobError names (agrees with the C loader on 99 % of single-byte corruptions of the vectors)."""
    if isinstance(exc, MemoryError):
        return ERR_ARENA
    msg = str(exc)
    for prefix, st in (("magic", 2), ("truncated", 3), ("file_size", 3), ("version", 4), ("CRC32", 6)):
        if msg.startswith(prefix):
            return st
    if msg.startswith("buffer"):
        return 9 if "never written" in msg else 7  # GRAPH, BUFFER
    if msg.startswith("op "):
        if "READOUT must" in msg or "last op" in msg:
            return 9
        head = msg.split(":")[0].split(") ")
        field = head[1].split(" ")[0] if len(head) > 1 else ""
        if field.endswith("_offset"):
            return 10  # DATA
        if field == "leak_mul" or field.startswith("threshold["):
            return ERR_VALUE
        return 9 if field in _GRAPH_FIELDS else 8  # GRAPH, OP
    return 5  # a header field


class Board:
    """The protocol over one model. `write(bytes)` sends to the host; feed(chunk) processes received
    bytes and writes every reply before it returns (esnn_proto_feed)."""

    def __init__(self, blob, write, name="", max_payload=None, viper=True):
        import gc

        self.write = write
        self.name = name.encode()[:NAME_MAX]
        self.blob = blob
        self.model = None
        self.arena = 0
        self.frames = 0
        self.frame_size = 0
        self.input = bytearray(0)
        if not blob:
            self.error = "no model file"
            self.status = ERR_ARG  # as esnn_proto_init without a blob
        else:
            try:
                gc.collect()
                before = gc.mem_alloc() if hasattr(gc, "mem_alloc") else 0
                self.model = esnn_model.Model(blob, viper=viper, final_state=False)
                gc.collect()
                self.arena = max(0, (gc.mem_alloc() if hasattr(gc, "mem_alloc") else 0) - before)
                self.status = 0
            except Exception as exc:  # BlobError (a ValueError) or MemoryError: reported in INFO
                self.error = exc
                self.status = blob_status(exc)
        m = self.model
        if m is not None:
            try:  # the sample buffer; too little memory for it is ESNN_ERR_LIMIT, as on a C board
                self.input = bytearray(m.frames * m.frame_size)
            except MemoryError as exc:
                self.model = m = None
                self.error = exc
                self.status = ERR_LIMIT
        if m is not None:
            self.frames = m.frames
            self.frame_size = m.frame_size
            self.stepwise = not m.layer_major and m.frames > 1
            self.flags = struct.unpack_from("<I", blob, 16)[0]
            self.shape = struct.unpack_from("<HHH", blob, 64 + 2)  # buffer 0: kind, c, h, w
            self.num_lif = m.num_lif
        if max_payload is None:
            max_payload = 4 + self.frames * self.frame_size if m is not None else 64
        self.max_payload = max(8, min(0xFFFF, max_payload))
        self.rx = W.Receiver(W.OVERHEAD + self.max_payload)
        self._rxmv = memoryview(self.rx.buf)
        self._frame0 = memoryview(self.input)[: self.frame_size]
        self.next_frame = 0
        self.work = 0
        self.last = None  # (request id, request CRC, reply bytes on the wire)
        self.stats = [0, 0, 0]  # requests that passed the CRC check, ERROR replies, replies resent

    # ---- replies

    def _reply(self, mtype, rid, crc, payload):
        wire = W.packet(mtype, rid, payload)
        self.last = (rid, crc, wire)
        self.write(wire)

    def _error(self, rid, crc, code, detail, aux):
        self.stats[1] += 1
        self._reply(W.MSG_ERROR, rid, crc, W.error_payload(code, detail, aux))

    def _untrusted(self, code, aux):
        self.stats[1] += 1
        self.write(W.packet(W.MSG_ERROR, W.NO_ID, W.error_payload(code, 0, aux)))

    def info_payload(self):
        pl = bytearray(44)
        fmaj, fmin = esnn_model.FORMATS[-1]
        ver = [int(v) for v in esnn_model.RUNTIME_VERSION.split(".")]
        struct.pack_into("<BBBBHHHBB", pl, 0, 1, ver[0], ver[1], ver[2], fmaj, fmin, self.max_payload,
                         self.status, COUNTER_NANOSECONDS)  # fmt: skip
        struct.pack_into("<I", pl, 16, len(self.blob))
        if self.model is not None:
            m = self.model
            crc = struct.unpack_from("<I", self.blob, len(self.blob) - 4)[0]
            struct.pack_into("<IIIIHHHH", pl, 12, crc, len(self.blob), self.arena, self.flags, m.T,
                             m.num_classes, self.num_lif, self.frames)  # fmt: skip
            struct.pack_into("<HHH", pl, 36, self.shape[0], self.shape[1], self.shape[2])
        pl[42] = ENC_MASK
        pl[43] = len(self.name)
        return pl + self.name

    def announce(self):
        self.write(W.packet(W.MSG_INFO, W.NO_ID, self.info_payload()))

    def _result(self, rid, crc, out):
        logits, best, counts = out[0], out[1], out[2]
        nc = len(logits)
        nl = len(counts)
        pl = bytearray(RESULT_FIXED + 4 * (nc + nl))
        work = self.work * 1000  # us -> ns
        struct.pack_into("<HHHBBII", pl, 0, best, nc, nl, COUNTER_NANOSECONDS, 0, work & 0xFFFFFFFF,
                         (work >> 32) & 0xFFFFFFFF)  # fmt: skip
        for k in range(nc):
            struct.pack_into("<i", pl, RESULT_FIXED + 4 * k, logits[k])
        for k in range(nl):
            struct.pack_into("<I", pl, RESULT_FIXED + 4 * (nc + k), counts[k] & 0xFFFFFFFF)
        self._reply(W.MSG_RESULT, rid, crc, pl)

    def _ack(self, rid, crc):
        self._reply(W.MSG_ACK, rid, crc, struct.pack("<HH", self.next_frame, self.frames))

    def _runtime_failed(self, exc, rid, crc):
        self.next_frame = 0
        st = ERR_ARG
        if isinstance(exc, MemoryError):
            st = ERR_ARENA
        elif isinstance(exc, ValueError):
            st = ERR_STATE
        self._error(rid, crc, W.RUNTIME, st, 0)

    # ---- requests

    def _decode(self, src, off, enc, dst):
        """One frame of `enc` data from src[off:] into dst[0:frame_size]; False if BITS padding is set."""
        n = self.frame_size
        if enc == ENC_U8:
            dst[0:n] = self._rxmv[off : off + n]
            return True
        full = n >> 3
        bits = _bits_table()
        j = 0
        for i in range(off, off + full):
            dst[j : j + 8] = bits[src[i]]
            j += 8
        rem = n & 7
        if rem:
            last = src[off + full]
            if last >> rem:
                return False
            dst[j:n] = bits[last][:rem]
        return True

    def _frame_bytes(self, enc):
        return self.frame_size if enc == ENC_U8 else (self.frame_size + 7) >> 3 if enc == ENC_BITS else 0

    def _on_frame(self, b, n, rid, crc):
        pl = W.HEADER
        index = b[pl] | (b[pl + 1] << 8)
        enc = b[pl + 2]
        fb = self._frame_bytes(enc)
        if fb == 0 or b[pl + 3] != 0 or n != 4 + fb:
            self._error(rid, crc, W.BAD_PAYLOAD, enc, 4 + fb)
            return
        if index != 0 and index != self.next_frame:
            self._error(rid, crc, W.BAD_SEQUENCE, 0, self.next_frame)
            return
        if self.stepwise:
            dst = self._frame0
        else:
            dst = memoryview(self.input)[index * self.frame_size : (index + 1) * self.frame_size]
        if not self._decode(b, pl + 4, enc, dst):
            self._error(rid, crc, W.BAD_PAYLOAD, enc, 4 + fb)
            return
        if index == 0:
            self.work = 0
        last = index + 1 == self.frames
        m = self.model
        out = None
        t0 = ticks_us()
        try:
            if self.stepwise:
                if index == 0:
                    m.reset()
                m.step(dst)
                if last:
                    out = m.results(False)
            elif last:
                out = m.run(self.input, False)
        except Exception as exc:
            self.work += ticks_diff(ticks_us(), t0)
            self._runtime_failed(exc, rid, crc)
            return
        self.work += ticks_diff(ticks_us(), t0)
        if last:
            self.next_frame = 0
            self._result(rid, crc, out)
        else:
            self.next_frame = index + 1
            self._ack(rid, crc)

    def _on_sample(self, b, n, rid, crc):
        pl = W.HEADER
        enc = b[pl]
        fb = self._frame_bytes(enc)
        self.next_frame = 0
        want = 4 + fb * self.frames
        if fb == 0 or b[pl + 1] != 0 or b[pl + 2] != 0 or b[pl + 3] != 0 or n != want:
            self._error(rid, crc, W.BAD_PAYLOAD, enc, want)
            return
        fs = self.frame_size
        mv = memoryview(self.input)
        for t in range(self.frames):
            if not self._decode(b, pl + 4 + t * fb, enc, mv[t * fs : (t + 1) * fs]):
                self._error(rid, crc, W.BAD_PAYLOAD, enc, want)
                return
        t0 = ticks_us()
        try:
            out = self.model.run(self.input, False)  # no final states: they do not cross the wire
        except Exception as exc:
            self.work = ticks_diff(ticks_us(), t0)
            self._runtime_failed(exc, rid, crc)
            return
        self.work = ticks_diff(ticks_us(), t0)
        self._result(rid, crc, out)

    def _on_packet(self, length):
        b = self.rx.buf
        if length < W.OVERHEAD:
            self._untrusted(W.FRAMING, length)
            return
        crc = struct.unpack_from("<I", b, length - 4)[0]
        if crc != W.crc32(memoryview(b)[: length - 4]):
            self._untrusted(W.BAD_CRC, length)
            return
        self.stats[0] += 1
        version, mtype, rid, n = struct.unpack_from("<BBHH", b, 0)
        last = self.last
        if last is not None and last[0] == rid and last[1] == crc:  # a retransmission: same reply again
            self.write(last[2])
            self.stats[2] += 1
            return
        if version != W.VERSION:
            self._error(rid, crc, W.BAD_VERSION, W.VERSION, 0)
        elif n != length - W.OVERHEAD:
            self._error(rid, crc, W.BAD_LENGTH, 0, n)
        elif mtype == W.MSG_HELLO:
            self._reply(W.MSG_INFO, rid, crc, self.info_payload())
        elif mtype != W.MSG_RESET and mtype != W.MSG_FRAME and mtype != W.MSG_SAMPLE:
            self._error(rid, crc, W.UNKNOWN_TYPE, mtype, 0)
        elif (n != 0) if mtype == W.MSG_RESET else (n < 4):
            self._error(rid, crc, W.BAD_PAYLOAD, 0, 0 if mtype == W.MSG_RESET else 4)
        elif self.status != 0:
            self._error(rid, crc, W.NO_MODEL, self.status, 0)
        elif mtype == W.MSG_RESET:
            self.next_frame = 0
            self.work = 0
            try:
                self.model.reset()
            except Exception as exc:
                self._runtime_failed(exc, rid, crc)
                return
            self._ack(rid, crc)
        elif mtype == W.MSG_FRAME:
            self._on_frame(b, n, rid, crc)
        else:
            self._on_sample(b, n, rid, crc)

    def _event(self, ev, n):
        if ev == W.EV_FRAME:
            self._on_packet(n)
        elif ev == W.EV_OVERSIZE:
            self._untrusted(W.OVERSIZE, self.max_payload)
        else:
            self._untrusted(W.FRAMING, n)

    def feed(self, data):
        self.rx.feed(data, self._event)


# ---- the loop on a stream


def _raw_nonblocking_tty(fd):
    """unix port on a tty: raw mode (cfmakeraw, Linux flag values), reads return what has arrived (VMIN 0,
    VTIME 0), set with TCSANOW: bytes the host sent during start-up stay queued (termios.setraw would
    flush them). False if `fd` is not a tty."""
    try:
        import termios
    except ImportError:
        return False
    try:
        attr = termios.tcgetattr(fd)
    except Exception:
        return False
    attr[0] &= ~0x5EB  # IGNBRK BRKINT PARMRK ISTRIP INLCR IGNCR ICRNL IXON
    attr[1] &= ~0x1  # OPOST
    attr[3] &= ~(0x8 | 0x40 | 0x2 | 0x1 | 0x8000)  # ECHO ECHONL ICANON ISIG IEXTEN
    attr[2] = (attr[2] & ~(0x30 | 0x100)) | 0x30  # CSIZE PARENB off, CS8
    attr[6][6] = 0  # VMIN
    attr[6][5] = 0  # VTIME
    try:
        termios.tcsetattr(fd, termios.TCSANOW, attr)
    except Exception:
        return False
    return True


def serve(board, inp, poller, chunked, escape=False):
    """Read `inp` until it closes and feed the board. chunked: read(4096) returns what has arrived (a raw
    non-blocking tty); else one byte at a time (a board's stream, pipes). escape: "\\r\\x03" as the first
    bytes of a frame returns (mpremote's Ctrl-C: the REPL takes over)."""
    import select

    one = bytearray(1)
    while True:
        ev = poller.poll(-1)
        if not ev:
            continue
        if chunked:
            data = inp.read(4096)
            if not data:
                if ev[0][1] & (select.POLLHUP | select.POLLERR):
                    return
                continue
            board.feed(data)
            continue
        if not inp.readinto(one):
            return
        rx = board.rx
        if escape and one[0] == 0x03 and rx.started and rx.n == 0 and rx.code == 0x0D and rx.left == 12:
            return  # a v1 packet never starts 0x0D 0x03 (its first byte is version 1)
        board.feed(one)


def _args(argv):
    opts = {"name": DEFAULT_NAMES.get(sys.platform, sys.platform), "max_payload": None, "viper": True}
    opts["announce"] = True
    opts["escape"] = not UNIX
    model = None
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--name" and i + 1 < len(argv):
            opts["name"] = argv[i + 1]
            i += 1
        elif a == "--max-payload" and i + 1 < len(argv):
            opts["max_payload"] = int(argv[i + 1])
            i += 1
        elif a == "--plain":
            opts["viper"] = False
        elif a == "--no-announce":
            opts["announce"] = False
        elif a == "--repl-escape":  # the real-board escape, for tests on the unix port
            opts["escape"] = True
        elif not a.startswith("-") and model is None:
            model = a
        else:
            raise ValueError(USAGE)
        i += 1
    return model, opts


def main(argv):
    import select

    model, opts = _args(argv)
    if model is None:
        model = "model.esnn"
    try:
        with open(model, "rb") as f:
            blob = f.read()
    except OSError as exc:
        if UNIX:
            sys.stderr.write("esnn_board: cannot read %s: %s\n" % (model, exc))
            return 1
        blob = b""  # a board without a model still speaks the protocol (model_status != 0)
    inp = sys.stdin.buffer
    out = sys.stdout.buffer
    chunked = UNIX and _raw_nonblocking_tty(0)
    if micropython is not None and hasattr(micropython, "kbd_intr"):
        micropython.kbd_intr(-1)  # byte 0x03 is data from here on, not KeyboardInterrupt

    def write(data):
        out.write(data)
        if hasattr(out, "flush"):
            out.flush()

    board = Board(blob, write, opts["name"], opts["max_payload"], opts["viper"])
    if board.status != 0 and UNIX:
        why = "%s (status %d, reported in INFO)" % (board.error, board.status)
        sys.stderr.write("esnn_board: model %s: %s\n" % (model, why))
    poller = select.poll()
    poller.register(sys.stdin, select.POLLIN)
    if opts["announce"]:
        board.announce()
    try:
        serve(board, inp, poller, chunked, opts["escape"])
    finally:
        if micropython is not None and hasattr(micropython, "kbd_intr"):
            micropython.kbd_intr(3)
    return 0


if __name__ == "__main__":
    try:
        _code = main(sys.argv[1:] if UNIX else [])
    except OSError:  # the host went away (EIO on a closed pty)
        _code = 0
    if UNIX:
        sys.exit(_code)
