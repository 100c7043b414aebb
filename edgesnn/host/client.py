"""Protocol client: request ids, timeouts scaled by payload size, retransmission and resynchronisation.

    with Client(transport) as board:
        info = board.hello()
        result = board.run_sample(frames)       # SAMPLE, or one FRAME per input frame when it is too big

Every request is retransmitted unchanged (same id; the device resends its cached reply instead of running
again) after a timeout, a transport ERROR (bad CRC, framing, oversize) or an undecodable frame received while
waiting (most likely the reply itself, damaged on the way), up to `retries` times, with a resynchronisation
in between: a lone 0x00 to flush the device's receiver, and the input drained for `resync_quiet_s`.

A boot announcement (INFO with NO_ID) seen while a request other than HELLO waits raises `DeviceReset`: the
sample in progress is lost. `reconnect()` then says HELLO again and checks the device still runs the same
model; the caller sends the sample again from its first frame (edgesnn.stream does)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from edgesnn.host.errors import DeviceReset, DeviceTimeout, FrameError, HostError
from edgesnn.host.framing import NO_ID, OVERHEAD, TRANSPORT_ERRORS, FrameSplitter, Msg, Packet, encode_frame
from edgesnn.host.messages import (
    DeviceResult,
    Encoding,
    Info,
    best_encoding,
    frame_payload,
    parse_ack,
    parse_error,
    parse_info,
    parse_result,
    sample_payload,
)
from edgesnn.host.transport import Transport

REPLY_TYPES = {Msg.HELLO: {Msg.INFO}, Msg.RESET: {Msg.ACK}, Msg.FRAME: {Msg.ACK, Msg.RESULT}}
REPLY_TYPES[Msg.SAMPLE] = {Msg.RESULT}


@dataclass
class LinkStats:
    requests: int = 0
    retries: int = 0
    bad_frames: int = 0  # undecodable frames received
    stray_replies: int = 0  # valid frames for another request id
    resets_seen: int = 0  # boot announcements
    transfer_s: float = 0.0
    history: list[str] = field(default_factory=list)


class Client:
    """One board. `timeout` is the base reply timeout; each request adds its wire bytes over `link_bps`
    (bytes per second, default: QEMU's ~20 KiB/s UART halved) and `compute_s` for the model's work."""

    def __init__(
        self,
        transport: Transport,
        *,
        timeout: float = 1.0,
        retries: int = 3,
        link_bps: float = 10_000.0,
        compute_s: float = 2.0,
        resync_quiet_s: float = 0.05,
    ) -> None:
        self.transport = transport
        self.timeout, self.retries, self.link_bps, self.compute_s = timeout, retries, link_bps, compute_s
        self.resync_quiet_s = resync_quiet_s
        self.info: Info | None = None
        self.stats = LinkStats()
        self._splitter = FrameSplitter()
        self._pending: list[Packet | FrameError] = []
        self._next_id = 0

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.transport.close()

    # -- requests -------------------------------------------------------------------------------------------

    def new_id(self) -> int:
        rid = self._next_id
        self._next_id = (self._next_id + 1) % NO_ID  # 0..0xFFFE; NO_ID is never a request id
        return rid

    def request(self, type_: Msg, payload: bytes = b"", *, compute: bool = False) -> Packet:
        """Send one request and return its reply (INFO / ACK / RESULT); DeviceError for an ERROR reply."""
        if self.info is not None and len(payload) > self.info.max_payload:
            raise HostError(
                f"{type_.name} payload of {len(payload)} bytes exceeds the device's {self.info.max_payload}"
            )
        rid = self.new_id()
        wire = encode_frame(Packet(type_, rid, payload))
        wait = (
            self.timeout
            + (len(wire) + 2 * OVERHEAD + 4096) / self.link_bps
            + (self.compute_s if compute else 0)
        )
        self.stats.requests += 1
        for attempt in range(self.retries + 1):
            if attempt:
                self.stats.retries += 1
                self.resync()
            t0 = time.monotonic()
            self.transport.write(wire)
            reply = self._await(rid, type_, wait)
            self.stats.transfer_s += time.monotonic() - t0
            if reply is None:
                continue
            if reply.type == Msg.ERROR:
                raise parse_error(reply.payload)
            return reply
        raise DeviceTimeout(
            f"no valid reply to {type_.name} from {self.transport.description} after "
            f"{self.retries + 1} tries of {wait:.1f} s "
            "(is it running the edgesnn protocol firmware, at this speed?)"
        )

    def _await(self, rid: int, type_: Msg, wait: float) -> Packet | None:
        """The reply to `rid`, or None to retransmit (timeout or transport error)."""
        deadline = time.monotonic() + wait
        while True:
            while self._pending:
                item = self._pending.pop(0)
                if isinstance(item, FrameError):
                    self.stats.bad_frames += 1
                    return None  # probably our reply, damaged: ask again (the device answers from its cache)
                if item.request_id == NO_ID:
                    if item.type == Msg.INFO:
                        self.stats.resets_seen += 1
                        if type_ != Msg.HELLO:
                            self._pending.clear()
                            raise DeviceReset(
                                f"{self.transport.description} restarted during {type_.name}: "
                                "the sample in progress is lost"
                            )
                        continue
                    if item.type == Msg.ERROR and parse_error(item.payload).code in TRANSPORT_ERRORS:
                        return None
                    self.stats.stray_replies += 1
                    continue
                if item.request_id != rid:
                    self.stats.stray_replies += 1
                    continue
                if item.type != Msg.ERROR and item.type not in REPLY_TYPES[type_]:
                    self.stats.bad_frames += 1
                    continue
                return item
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            data = self.transport.read(min(left, 0.25))
            if data:
                self._pending.extend(self._splitter.feed(data))

    def resync(self, quiet_s: float | None = None) -> None:
        """Flush the device's receiver (a lone 0x00) and drop what is in flight, keeping announcements."""
        quiet_s = self.resync_quiet_s if quiet_s is None else quiet_s
        self.transport.write(b"\x00")
        self._splitter.reset()
        kept: list[Packet | FrameError] = [
            p for p in self._pending if isinstance(p, Packet) and p.request_id == NO_ID and p.type == Msg.INFO
        ]
        self._pending = kept
        while True:
            data = self.transport.read(quiet_s)
            if not data:
                break
            for item in self._splitter.feed(data):
                if isinstance(item, Packet) and item.request_id == NO_ID and item.type == Msg.INFO:
                    self._pending.append(item)
        self._splitter.reset()

    # -- messages -------------------------------------------------------------------------------------------

    def hello(self) -> Info:
        self.info = parse_info(self.request(Msg.HELLO).payload)
        return self.info

    def reconnect(self) -> Info:
        """HELLO after a device reset; HostError when the device now runs another model (or none)."""
        before = self.info
        info = self.hello()
        if before is not None and (info.model_crc, info.model_size) != (before.model_crc, before.model_size):
            raise HostError(
                f"{self.transport.description} came back from a reset with another model "
                f"(CRC {info.model_crc:08x}, {info.model_size} B; was {before.model_crc:08x}, "
                f"{before.model_size} B)"
            )
        if info.model_status != 0:
            raise HostError(
                f"{self.transport.description} came back from a reset without a usable model "
                f"(esnn status {info.model_status})"
            )
        return info

    def require_info(self) -> Info:
        return self.info if self.info is not None else self.hello()

    def reset(self) -> int:
        return parse_ack(self.request(Msg.RESET).payload).next_frame

    def send_frame(
        self, index: int, frame: np.ndarray, encoding: Encoding = Encoding.U8
    ) -> DeviceResult | int:
        """One FRAME: the RESULT after the sample's last frame, else the ACK's next frame index."""
        reply = self.request(Msg.FRAME, frame_payload(index, frame, encoding), compute=True)
        return (
            parse_result(reply.payload) if reply.type == Msg.RESULT else parse_ack(reply.payload).next_frame
        )

    def run_sample(self, sample: np.ndarray, encoding: Encoding | None = None) -> DeviceResult:
        """A whole sample, u8 [frames][C][H][W] (or its size): SAMPLE when it fits, else FRAMEs."""
        info = self.require_info()
        if info.model_status != 0:
            raise HostError(f"the device has no usable model (esnn status {info.model_status})")
        frames = np.ascontiguousarray(sample, dtype=np.uint8).reshape(info.frames, info.frame_values)
        enc = best_encoding(frames, info.encodings) if encoding is None else encoding
        payload = sample_payload(frames, enc)
        if len(payload) <= info.max_payload:
            return parse_result(self.request(Msg.SAMPLE, payload, compute=True).payload)
        result: DeviceResult | int = 0
        for t, frame in enumerate(frames):
            result = self.send_frame(t, frame, enc)
            expect = t + 1 if t + 1 < info.frames else None
            if expect is not None and result != expect:
                raise HostError(f"device expected frame {result} after frame {t}")
        assert isinstance(result, DeviceResult)
        return result
