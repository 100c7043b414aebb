"""Board processes that never outlive the host process that started them.

`subprocess.Popen(..., preexec_fn=die_with_parent())`: on Linux the child asks the kernel
(prctl PR_SET_PDEATHSIG) for SIGTERM when its parent dies, so even a SIGKILLed `edgesnn stream` leaves no
esnn_board or qemu-system-arm behind. Elsewhere it returns None (cleanup then relies on the parent's
try/finally, which `edgesnn.cli.signals` makes run on SIGTERM too).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn for Popen (None where the kernel has no parent-death signal)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:  # runs in the child between fork and exec: no allocation-heavy work
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec
