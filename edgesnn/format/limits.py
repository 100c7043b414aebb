"""Resource bounds for hosts that run blobs they do not trust.

A valid blob of a few hundred bytes can describe a graph whose one sample needs gigabytes (a 4096-channel
32 x 32 frame, T = 1024) or hours of arithmetic. The format allows it (FORMAT.md's ranges); a host should not
find out by swapping or hanging. Before running, the host C binding (`edgesnn.runtime.c`) and the reference
interpreter (`edgesnn.reference`) check one sample's memory (the C arena; the reference's buffers, every
buffer for all T as int64) and its worst-case operations (every synapse of every conv and readout active at
every step) against `HostLimits`, and refuse with `ResourceLimitError`, which names the limit, the model's
figure and how to raise it. Defaults: 256 MiB, 10^10 operations; `EDGESNN_MAX_MEMORY` / `EDGESNN_MAX_OPS`
(bytes / operations) or a `HostLimits` argument raise them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from edgesnn.format.model import Attn, Conv, Lif, Logic, MaxPool, Model, Readout

MEMORY_ENV = "EDGESNN_MAX_MEMORY"
OPS_ENV = "EDGESNN_MAX_OPS"


class ResourceLimitError(ValueError):
    """One sample of the model would exceed a host limit; the message says which, by how much, and how to
    raise it."""


@dataclass(frozen=True)
class HostLimits:
    memory_bytes: int = 256 << 20
    ops: int = 10**10

    @classmethod
    def from_env(cls) -> HostLimits:
        """The defaults, or $EDGESNN_MAX_MEMORY / $EDGESNN_MAX_OPS where set (a positive integer)."""
        out = cls()
        for env, name in ((MEMORY_ENV, "memory_bytes"), (OPS_ENV, "ops")):
            raw = os.environ.get(env)
            if raw is None:
                continue
            try:
                value = int(raw)
            except ValueError:
                value = 0
            if value <= 0:
                raise ResourceLimitError(f"${env}={raw!r}: expected a positive integer")
            out = HostLimits(**{**out.__dict__, name: value})
        return out


def worst_case_ops(model: Model) -> int:
    """Operations of one sample if every input were non-zero: each conv and readout synapse, each LIF,
    ATTN, LOGIC and MAXPOOL output element, at every step (a STATIC conv once)."""
    T, total = model.T, 0
    for op in model.ops:
        if isinstance(op, Readout):
            total += T * model.buffers[op.in0].elements * int(op.weights.shape[1])
        elif isinstance(op, Conv):
            cin, kh, kw, _ = op.weights.shape
            total += (1 if op.static else T) * model.buffers[op.out].elements * int(cin * kh * kw)
        elif isinstance(op, MaxPool):
            total += T * model.buffers[op.out].elements * op.kernel * op.kernel
        elif isinstance(op, Lif | Attn | Logic):
            total += T * model.buffers[op.out].elements
        # any other op type: nothing to count (the interpreter refuses it by name)
    return total


def reference_bytes(model: Model) -> int:
    """The reference interpreter's buffers for one sample: every buffer for all T steps as int64."""
    return sum(8 * model.T * b.elements for b in model.buffers)


def check(model: Model, memory_bytes: int, what: str, limits: HostLimits | None = None) -> None:
    """Refuse (ResourceLimitError) when one sample needs more than the limits: `memory_bytes` of `what`
    ("C arena", "reference buffers") or more worst-case operations."""
    lim = limits if limits is not None else HostLimits.from_env()
    if memory_bytes > lim.memory_bytes:
        raise ResourceLimitError(
            f"one sample needs {memory_bytes:,} B of {what}, over this host's limit of "
            f"{lim.memory_bytes:,} B (raise it with ${MEMORY_ENV}={memory_bytes} or "
            "HostLimits(memory_bytes=...))"
        )
    ops = worst_case_ops(model)
    if ops > lim.ops:
        raise ResourceLimitError(
            f"one sample may take {ops:,} operations (every synapse active), over this host's limit of "
            f"{lim.ops:,} (raise it with ${OPS_ENV}={ops} or HostLimits(ops=...))"
        )
