"""Processes read from /proc (psutil is not a dependency): descendants of a process and whether one lives."""

from __future__ import annotations

import time
from pathlib import Path


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def descendants(pid: int) -> list[int]:
    out, todo = [], children(pid)
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children(p)
    return out


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def alive(pid: int, was: str) -> bool:
    """True while ``pid`` is still the process whose command line was ``was`` and not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X") and cmdline(pid) == was


def wait_for_child(pid: int, needle: str, timeout: float = 60.0) -> tuple[int, str]:
    """The first descendant of ``pid`` whose command line holds ``needle`` (pid, command line)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for c in descendants(pid):
            cmd = cmdline(c)
            if needle in cmd:
                return c, cmd
        time.sleep(0.05)
    raise AssertionError(f"no {needle} process under {pid} within {timeout} s")


def wait_gone(pid: int, was: str, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid, was):
            return True
        time.sleep(0.05)
    return False
