"""SIGTERM and SIGHUP end a command like Ctrl-C does: as an exception, so every `finally` and `with` on the
way out runs (board processes stopped, temp folders removed, partial logs written). Python's default for
them is to die on the spot, which leaves children and temp files behind."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

HANDLED = (signal.SIGTERM, signal.SIGHUP)


class Terminated(KeyboardInterrupt):
    """The process got SIGTERM or SIGHUP; a KeyboardInterrupt so the code paths of Ctrl-C apply."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise(signum: int, frame: FrameType | None) -> None:
    raise Terminated(signum)


def exit_code(exc: KeyboardInterrupt) -> int:
    """128 + the signal number, as a shell reports a process killed by it (Ctrl-C: 130, SIGTERM: 143)."""
    return 128 + int(getattr(exc, "signum", signal.SIGINT))


@contextmanager
def termination_raises() -> Iterator[None]:
    """While inside: SIGTERM/SIGHUP raise `Terminated`; the previous handlers come back on exit."""
    try:
        previous = {s: signal.signal(s, _raise) for s in HANDLED}
    except ValueError:  # not the main thread: signals cannot be handled here
        yield
        return
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
