# Framing of the edgesnn serial protocol, device side, for MicroPython (firmware/PROTOCOL.md sections 1, 2):
# COBS with a 0x00 delimiter, the 6-byte packet header, CRC32. Mirrors firmware/protocol/esnn_frame.c:
# the same receiver state machine (so the same FRAMING / OVERSIZE verdicts and `aux` byte counts), the same
# encoder (a packet ending on a full 254-byte block gets no extra code byte), the same error texts.
#
#   rx = Receiver(10 + max_payload)
#   rx.feed(chunk, handle)                # handle(event, n) at each delimiter: EV_FRAME (rx.buf[0:n] holds
#                                         # a packet), EV_OVERSIZE, EV_ERROR (ended inside a COBS block)
#   out.write(packet(MSG_INFO, NO_ID, payload))   # header + payload + CRC32, COBS-encoded, delimiter
#
# Nothing here allocates per byte: the receiver decodes block by block into one preallocated bytearray.
import struct

try:
    from binascii import crc32 as _crc32
except ImportError:  # a port built without binascii.crc32: a nibble table, as esnn_frame.c
    _crc32 = None

VERSION = 1
HEADER = 6  # version, type, request_id, length
OVERHEAD = 10  # header + CRC32
NO_ID = 0xFFFF

# Message types (esnn_frame.h ESNN_MSG_LIST)
MSG_HELLO = 0x01
MSG_RESET = 0x02
MSG_FRAME = 0x03
MSG_SAMPLE = 0x04
MSG_INFO = 0x81
MSG_ACK = 0x82
MSG_RESULT = 0x83
MSG_ERROR = 0x8F

# ERROR codes and texts (esnn_frame.h ESNN_PERR_LIST)
FRAMING = 1
BAD_CRC = 2
OVERSIZE = 3
BAD_VERSION = 4
BAD_LENGTH = 5
UNKNOWN_TYPE = 6
BAD_PAYLOAD = 7
BAD_SEQUENCE = 8
NO_MODEL = 9
RUNTIME = 10
ERROR_TEXT = (
    "unknown error",
    "frame ends inside a COBS block or is too short",
    "CRC32 mismatch",
    "frame larger than max_payload",
    "unsupported protocol version",
    "length field does not match the frame",
    "unknown message type",
    "payload invalid for its type",
    "frame index out of sequence",
    "no usable model",
    "runtime error",
)
MSG_MAX = 48  # message bytes in an ERROR payload

# Receiver events (esnn_cobs_event_t)
EV_FRAME = 1
EV_EMPTY = 2
EV_OVERSIZE = 3
EV_ERROR = 4

_TAB = (
    0x00000000, 0x1DB71064, 0x3B6E20C8, 0x26D930AC, 0x76DC4190, 0x6B6B51F4, 0x4DB26158, 0x5005713C,
    0xEDB88320, 0xF00F9344, 0xD6D6A3E8, 0xCB61B38C, 0x9B64C2B0, 0x86D3D2D4, 0xA00AE278, 0xBDBDF21C,
)  # fmt: skip


def crc32(data, crc=0):
    """CRC32 (IEEE 802.3, as zlib.crc32) of a bytes-like object; chain with crc = the previous result."""
    if _crc32 is not None:
        return _crc32(data, crc) & 0xFFFFFFFF
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        crc = (crc >> 4) ^ _TAB[crc & 15]
        crc = (crc >> 4) ^ _TAB[crc & 15]
    return crc ^ 0xFFFFFFFF


class Receiver:
    """Streaming COBS decoder into a buffer of `cap` bytes (esnn_cobs_rx_*). `n` counts decoded bytes and
    stops at cap + 1: enough to say "oversize" without writing past the buffer."""

    def __init__(self, cap):
        self.cap = cap
        self.buf = bytearray(cap)
        self._mv = memoryview(self.buf)
        self.n = 0
        self.code = 0
        self.left = 0
        self.started = False

    def _put(self, src, k):
        # k decoded bytes from the memoryview src (len k)
        n = self.n
        room = self.cap - n
        if room > 0:
            m = k if k < room else room
            self._mv[n : n + m] = src[:m]
        n += k
        self.n = n if n <= self.cap else self.cap + 1

    def feed(self, data, handle):
        """Decode the bytes of `data` (bytes); at every delimiter call handle(event, n): EV_FRAME with the
        packet in buf[0:n], EV_OVERSIZE, or EV_ERROR (the frame ended inside a block). Empty frames are
        ignored. handle() runs before the next byte is decoded (it may use buf)."""
        mv = memoryview(data)
        i = 0
        end = len(data)
        while i < end:
            if self.left == 0:
                b = data[i]
                i += 1
                if b == 0:
                    ev = self._end()
                    if ev != EV_EMPTY:
                        handle(ev, self.n)
                    continue
                if not self.started:
                    self.n = 0
                elif self.code != 0xFF:  # the previous block (not a full 0xFF one) implied a zero
                    if self.n < self.cap:
                        self.buf[self.n] = 0
                    if self.n <= self.cap:
                        self.n += 1
                self.code = b
                self.left = b - 1
                self.started = True
            else:
                stop = i + self.left
                if stop > end:
                    stop = end
                z = data.find(b"\x00", i, stop)
                if z >= 0:
                    stop = z
                if stop > i:
                    self._put(mv[i:stop], stop - i)
                    self.left -= stop - i
                    i = stop
                if z >= 0:  # a delimiter while the block still expects bytes
                    i += 1
                    ev = EV_OVERSIZE if self.n > self.cap else EV_ERROR
                    self.code = 0
                    self.left = 0
                    self.started = False
                    handle(ev, self.n)

    def _end(self):
        if not self.started:
            ev = EV_EMPTY
            self.n = 0
        elif self.n > self.cap:
            ev = EV_OVERSIZE
        else:
            ev = EV_FRAME
        self.code = 0
        self.left = 0
        self.started = False
        return ev


def cobs(data):
    """COBS-encode data (bytes-like) and append the 0x00 delimiter (esnn_cobs_write)."""
    out = bytearray()
    mv = memoryview(data)
    n = len(data)
    i = 0
    while True:
        lim = i + 254
        if lim > n:
            lim = n
        j = data.find(b"\x00", i, lim) if lim > i else -1
        if j < 0:
            j = lim
        code = j - i + 1
        out.append(code)
        if j > i:
            out.extend(mv[i:j])
        if j == n:
            break
        i = j if code == 0xFF else j + 1
    out.append(0)
    return out


def packet(mtype, rid, payload=b""):
    """The bytes on the wire for one packet: COBS(header + payload + CRC32) + 0x00."""
    n = len(payload)
    body = bytearray(HEADER + n + 4)
    struct.pack_into("<BBHH", body, 0, VERSION, mtype, rid, n)
    body[HEADER : HEADER + n] = payload
    struct.pack_into("<I", body, HEADER + n, crc32(memoryview(body)[: HEADER + n]))
    return cobs(body)


def error_payload(code, detail, aux):
    """ERROR payload: code, detail, aux (clipped to 0xFFFF), the code's text."""
    text = ERROR_TEXT[code] if 0 < code < len(ERROR_TEXT) else ERROR_TEXT[0]
    msg = text.encode()[:MSG_MAX]
    return struct.pack("<BBH", code, detail & 0xFF, aux if aux <= 0xFFFF else 0xFFFF) + msg
