"""Small hand-built models for the reference tests (built with the writer's dataclasses)."""

from __future__ import annotations

import numpy as np

from edgesnn.reference import (
    Attn,
    AttnDim,
    AttnKind,
    Buffer,
    BufferKind,
    Conv,
    Lif,
    Logic,
    LogicMode,
    MaxPool,
    Model,
    Readout,
)

U8, SP, CUR = BufferKind.INPUT_U8, BufferKind.SPIKES, BufferKind.CURRENT


def every_op_model(seed: int = 0) -> Model:
    """One of each op (int4/int8/int16 weights, STATIC conv, MA attention): for round trips and corruption."""
    rng = np.random.default_rng(seed)
    buffers = [
        Buffer(U8, 1, 8, 8),
        Buffer(CUR, 4, 4, 4),
        Buffer(CUR, 4, 4, 4),
        Buffer(SP, 4, 4, 4),
        Buffer(SP, 4, 2, 2),
        Buffer(CUR, 4, 2, 2),
        Buffer(SP, 4, 2, 2),
        Buffer(SP, 4, 2, 2),
    ]
    w4 = rng.integers(-8, 8, (1, 3, 3, 4))
    ops = [
        Conv(0, 1, w4, [1, 2, 3, 4], stride=2, pad=1, weight_bits=4, static=True),
        Attn(
            1,
            2,
            AttnDim.C,
            AttnKind.MA,
            rng.integers(-5, 5, (2, 4)),
            [-3, 0, 7],
            w2=rng.integers(-5, 5, (4, 2)),
            levels=[0, 100, 30000, 32768],
            shift=2,
        ),
        Lif(2, 3, [5, 5, 5, 5], leak_mul=30000, state_bits=16),
        MaxPool(3, 4, 2, 2),
        Conv(4, 5, rng.integers(-300, 300, (4, 1, 1, 4)), [0, 0, 0, 0], weight_bits=16),
        Lif(5, 6, [1, 2, 3, 4]),
        Logic(6, 4, 7, LogicMode.IAND),
        Readout(7, rng.integers(-128, 128, (4, 3)), [1, 2, 3]),
    ]
    return Model(
        T=4, num_classes=3, buffers=buffers, ops=ops, layer_major=True, static_input=True, logit_scale=0.5
    )
