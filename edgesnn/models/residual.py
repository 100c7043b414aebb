"""Element-wise residual functions g(backbone, shortcut) of Table II.

``x`` is the backbone output and ``y`` the shortcut, as in Eq. 6: out = g(SN(W2 SN(W1 x)), shortcut(x)).
On binary spikes AND, IAND and OR stay binary; ADD yields {0, 1, 2}, which is why the conv after a
SEW-ADD block is not spike-driven. Each branch is computed once by the caller and passed in.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

import torch


class Connect(StrEnum):
    ADD = "ADD"
    AND = "AND"
    IAND = "IAND"
    OR = "OR"


def add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return x + y


def and_(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return x * y


def iand(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (1 - x) * y


def or_(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return x + y - x * y


CONNECT_FUNCTIONS: dict[Connect, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    Connect.ADD: add,
    Connect.AND: and_,
    Connect.IAND: iand,
    Connect.OR: or_,
}

#: Whether g keeps binary inputs binary (then the next conv is accumulate-only).
KEEPS_SPIKES_BINARY: dict[Connect, bool] = {
    Connect.ADD: False,
    Connect.AND: True,
    Connect.IAND: True,
    Connect.OR: True,
}


def connect(kind: Connect | str, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return CONNECT_FUNCTIONS[Connect(kind)](x, y)
