"""Builders for single-op test models, plus plain-Python versions of the FORMAT.md formulas.

The plain versions use Python ints and nested loops only (no numpy arithmetic), so they are an
independent check of the vectorised kernels.
"""

from __future__ import annotations

import numpy as np

from edgesnn.reference import Buffer, BufferKind, Conv, Lif, Model, Op, Readout

U8, SP, CUR = BufferKind.INPUT_U8, BufferKind.SPIKES, BufferKind.CURRENT


class Net:
    """Buffers and ops added in order; `model()` closes the graph with a zero READOUT if none was added."""

    def __init__(self, T: int, c: int, h: int, w: int) -> None:
        self.T = T
        self.buffers = [Buffer(U8, c, h, w)]
        self.ops: list[Op] = []

    def buf(self, kind: BufferKind, c: int, h: int, w: int) -> int:
        self.buffers.append(Buffer(kind, c, h, w))
        return len(self.buffers) - 1

    def add(self, op: Op) -> int:
        self.ops.append(op)
        return len(self.ops) - 1

    def identity_current(self, bias: int | list[int] = 0) -> int:
        """CURRENT = input + bias through a 1x1 identity conv (so tests can feed any current, u8 - bias)."""
        c, h, w = self.buffers[0].shape
        out = self.buf(CUR, c, h, w)
        weights = np.eye(c, dtype=np.int64).reshape(c, 1, 1, c)
        self.add(Conv(0, out, weights, np.broadcast_to(np.asarray(bias), (c,))))
        return out

    def spikes_of_input(self) -> int:
        """SPIKES = (input >= 1): identity conv, then a tau = 1 LIF (leak_mul 65536) with threshold 1."""
        cur = self.identity_current()
        c, h, w = self.buffers[cur].shape
        out = self.buf(SP, c, h, w)
        self.add(Lif(cur, out, np.ones(c, dtype=np.int64), leak_mul=65536))
        return out

    def lif(self, cur: int, threshold: int = 1 << 30, **kw: int) -> int:
        c, h, w = self.buffers[cur].shape
        out = self.buf(SP, c, h, w)
        self.add(Lif(cur, out, np.full(c, threshold), **kw))
        return out

    def model(self, classes: int = 2, **kw: object) -> Model:
        if not self.ops or not isinstance(self.ops[-1], Readout):
            last = len(self.buffers) - 1
            if self.buffers[last].kind != SP:
                last = self.lif(last)
            c = self.buffers[last].channels
            self.add(Readout(last, np.zeros((c, classes), dtype=np.int64), np.zeros(classes, dtype=np.int64)))
        return Model(T=self.T, num_classes=classes, buffers=self.buffers, ops=self.ops, **kw)  # type: ignore[arg-type]


def py_conv(x: list, w: np.ndarray, bias: list[int], stride: int, pad: int) -> list:
    """FORMAT.md CONV with loops: `x` [cin][H][W] ints, `w` [cin][kh][kw][cout]."""
    cin, kh, kw, cout = w.shape
    h, wd = len(x[0]), len(x[0][0])
    ho, wo = (h + 2 * pad - kh) // stride + 1, (wd + 2 * pad - kw) // stride + 1
    out = [[[int(bias[co]) for _ in range(wo)] for _ in range(ho)] for co in range(cout)]
    for co in range(cout):
        for y in range(ho):
            for xx in range(wo):
                for ci in range(cin):
                    for ky in range(kh):
                        for kx in range(kw):
                            iy, ix = y * stride + ky - pad, xx * stride + kx - pad
                            if 0 <= iy < h and 0 <= ix < wd:
                                out[co][y][xx] += int(w[ci, ky, kx, co]) * int(x[ci][iy][ix])
    return out


def py_pool(x: list, k: int, stride: int, pad: int) -> list:
    """MAXPOOL as OR with loops on [C][H][W] 0/1 ints."""
    h, wd = len(x[0]), len(x[0][0])
    ho, wo = (h + 2 * pad - k) // stride + 1, (wd + 2 * pad - k) // stride + 1
    out = [[[0] * wo for _ in range(ho)] for _ in x]
    for c, plane in enumerate(x):
        for y in range(ho):
            for xx in range(wo):
                for ky in range(k):
                    for kx in range(k):
                        iy, ix = y * stride + ky - pad, xx * stride + kx - pad
                        if 0 <= iy < h and 0 <= ix < wd:
                            out[c][y][xx] |= plane[iy][ix]
    return out
