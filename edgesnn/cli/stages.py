"""Progress of long steps, on stderr: a line per stage with the time the previous one took, and a tqdm bar
for loops (shown only on a terminal, tqdm's ``disable=None``, as the training and stream bars)."""

from __future__ import annotations

import sys
import time
from typing import Any


class Stages:
    """``say = Stages(); say("capturing the graph")`` prints ``  .. capturing the graph`` and, from the
    second stage on, how long the previous stage took; ``say.done()`` closes the last one."""

    def __init__(self) -> None:
        self._t: float | None = None

    def _took(self) -> str:
        return "" if self._t is None else f"  ({time.monotonic() - self._t:.1f} s)"

    def __call__(self, stage: str) -> None:
        took = self._took()
        if took:
            print(f"     done{took}", file=sys.stderr, flush=True)
        print(f"  .. {stage}", file=sys.stderr, flush=True)
        self._t = time.monotonic()

    def done(self) -> None:
        took = self._took()
        if took:
            print(f"     done{took}", file=sys.stderr, flush=True)
        self._t = None


def bar(total: int, desc: str, unit: str = "sample") -> Any:
    """A tqdm bar on stderr, only on a terminal."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=None, leave=False, file=sys.stderr)
