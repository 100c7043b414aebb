"""Fault injection between host and board: a `Transport` that wraps the board's transport and damages the
bytes going through it, both ways, and can restart the board.

    proxy = FaultProxy(lambda: start_host_board(model), Faults(drop=0.003, corrupt=0.003, dup=0.003, seed=1))
    with Client(proxy) as board: ...

- Each byte, independently, is dropped with probability ``drop``, replaced by another value with probability
  ``corrupt`` or sent twice with probability ``dup`` (so ``rate=r`` in a spec means r/3 each: r of all bytes
  are damaged). The draws depend only on the seed and the position of the byte in its direction's stream,
  not on how the bytes are chunked, so a run is reproducible.
- ``reset_after=N``: after every N results (RESULT packets with distinct request ids) the next request is cut
  in half and the board is restarted behind the transport — the transport's ``reset_device()`` when it has
  one, else the factory given to the proxy opens a new board (``open_device`` / ``start_host_board``). The new
  board announces itself (INFO with NO_ID), which the client reports as `DeviceReset`.

It runs in the caller's thread (inside `write` / `read`), so no bytes are reordered. ``Faults.parse``
reads the ``--faults`` spec of `edgesnn stream`: ``drop=0.003,corrupt=0.003,dup=0.003,reset_after=40,seed=1``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields

import numpy as np

from edgesnn.host.errors import HostError
from edgesnn.host.framing import NO_ID, FrameSplitter, Msg, Packet
from edgesnn.host.transport import Transport


@dataclass(frozen=True)
class Faults:
    drop: float = 0.0
    corrupt: float = 0.0
    dup: float = 0.0
    reset_after: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("drop", "corrupt", "dup"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"fault rate {name}={v} must be in [0, 1]")
        if self.drop + self.corrupt + self.dup > 1.0:
            raise ValueError("fault rates drop + corrupt + dup must not exceed 1")
        if self.reset_after is not None and self.reset_after < 1:
            raise ValueError(f"reset_after={self.reset_after} must be >= 1")

    @property
    def damages_bytes(self) -> bool:
        return self.drop + self.corrupt + self.dup > 0

    @classmethod
    def parse(cls, spec: str) -> Faults:
        """``key=value`` pairs separated by commas; keys drop, corrupt, dup, rate (= r/3 each), reset_after,
        seed."""
        known = {f.name for f in fields(cls)} | {"rate"}
        kw: dict[str, float | int] = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            key, sep, value = part.partition("=")
            key = key.strip().replace("-", "_")
            if not sep or key not in known:
                raise ValueError(f"fault spec {part!r}: expected key=value with key in {sorted(known)}")
            try:
                num = float(value)
            except ValueError:
                raise ValueError(f"fault spec {part!r}: {value!r} is not a number") from None
            if key == "rate":
                kw.update(drop=num / 3, corrupt=num / 3, dup=num / 3)
            elif key in ("reset_after", "seed"):
                kw[key] = int(num)
            else:
                kw[key] = num
        return cls(**kw)  # type: ignore[arg-type]

    def describe(self) -> str:
        parts = [f"{k} {getattr(self, k):g}" for k in ("drop", "corrupt", "dup") if getattr(self, k)]
        if self.reset_after:
            parts.append(f"reset after every {self.reset_after} results")
        return ", ".join(parts or ["no faults"]) + f" (seed {self.seed})"


@dataclass
class FaultCounts:
    dropped: int = 0
    corrupted: int = 0
    duplicated: int = 0
    resets: int = 0
    results: int = 0
    bytes_to_device: int = 0
    bytes_from_device: int = 0
    log: list[str] = field(default_factory=list)


class _Mangler:
    """Per-byte faults of one direction: one uniform draw per byte from one stream, replacement values from
    another, so chunking does not change which bytes are hit."""

    def __init__(self, faults: Faults, seed: list[int]) -> None:
        self.f = faults
        self.pick = np.random.default_rng([*seed, 0])
        self.values = np.random.default_rng([*seed, 1])

    def __call__(self, data: bytes, counts: FaultCounts) -> bytes:
        if not data or not self.f.damages_bytes:
            return data
        u = self.pick.random(len(data))
        arr = np.frombuffer(data, dtype=np.uint8).copy()
        d, c = self.f.drop, self.f.drop + self.f.corrupt
        drop, corrupt, dup = u < d, (u >= d) & (u < c), (u >= c) & (u < c + self.f.dup)
        n_corrupt = int(corrupt.sum())
        if n_corrupt:
            flips = 1 + (self.values.random(n_corrupt) * 255).astype(np.uint8)  # one draw per byte: 1..255
            arr[corrupt] ^= flips
        repeats = np.ones(len(arr), dtype=np.int64)
        repeats[drop], repeats[dup] = 0, 2
        counts.dropped += int(drop.sum())
        counts.corrupted += n_corrupt
        counts.duplicated += int(dup.sum())
        return np.repeat(arr, repeats).tobytes()


def _can_reset(t: Transport) -> bool:
    """Whether the transport's class implements ``reset_device`` (the base class's only refuses)."""
    own = getattr(type(t), "reset_device", None)
    return own is not None and own is not getattr(Transport, "reset_device", None)


class FaultProxy(Transport):
    """See the module docstring. ``board``: an open transport, or a factory that opens one (needed for
    ``reset_after`` unless the transport has ``reset_device()``)."""

    def __init__(self, board: Transport | Callable[[], Transport], faults: Faults) -> None:
        super().__init__()
        self._open = None if isinstance(board, Transport) else board
        self.inner: Transport = board if isinstance(board, Transport) else board()
        if faults.reset_after and self._open is None and not _can_reset(self.inner):
            self.inner.close()
            raise HostError(
                f"resetting {self.inner.description} needs a board this host starts (--device), "
                "not a port it only talks to"
            )
        self.faults = faults
        self.counts = FaultCounts()
        self._to = _Mangler(faults, [faults.seed, 0])
        self._from = _Mangler(faults, [faults.seed, 1])
        self._results = FrameSplitter()
        self._last_result_id = NO_ID
        self._since_reset = 0
        self.description = f"{self.inner.description} via fault proxy ({faults.describe()})"

    def _write(self, data: bytes) -> None:
        due = self.faults.reset_after is not None and self._since_reset >= self.faults.reset_after
        if due and len(data) > 1:  # a request (not a lone resync delimiter): cut it, then restart the board
            self.inner.write(self._to(data[: len(data) // 2], self.counts))
            self.reset_device()
            return
        self.counts.bytes_to_device += len(data)
        self.inner.write(self._to(data, self.counts))

    def _read(self, timeout: float) -> bytes:
        data = self.inner.read(timeout)
        if data:
            self.counts.bytes_from_device += len(data)
            for item in self._results.feed(data):
                if isinstance(item, Packet) and item.type == Msg.RESULT:
                    if item.request_id != self._last_result_id:
                        self.counts.results += 1
                        self._since_reset += 1
                    self._last_result_id = item.request_id
        return self._from(data, self.counts)

    def reset_device(self) -> None:
        """Restart the board behind this transport now."""
        self.counts.resets += 1
        self.counts.log.append(f"reset {self.counts.resets} after {self.counts.results} results")
        self._since_reset = 0
        self._results.reset()
        self._last_result_id = NO_ID
        if _can_reset(self.inner) or self._open is None:
            self.inner.reset_device()
            return
        self.inner.close()
        self.inner = self._open()

    def close(self) -> None:
        self.inner.close()
