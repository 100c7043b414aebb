"""ATTN (MA and IA along T, C and S) against plain-Python loops, plus one case by hand."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from edgesnn.reference import Attn, AttnDim, AttnKind, Conv, run
from tests.reference.builders import CUR, Net


def py_scores(op: Attn, x: list) -> dict:
    """Score per pooled index (t for T, c for C, (h, w) for S) with Python ints, `x` [T][C][H][W]."""
    T, C, H, W = len(x), len(x[0]), len(x[0][0]), len(x[0][0][0])
    cells = list(itertools.product(range(T), range(C), range(H), range(W)))
    w1 = op.w1.tolist()
    if op.dim == AttnDim.S:
        sums = {
            (h, w): sum(x[t][c][h][w] for t in range(T) for c in range(C)) for h in range(H) for w in range(W)
        }
        maxs = {
            (h, w): max(x[t][c][h][w] for t in range(T) for c in range(C)) for h in range(H) for w in range(W)
        }
        k, score = op.n, {}
        for h, w in itertools.product(range(H), range(W)):
            s = 0
            for ky, kx in itertools.product(range(k), range(k)):
                p = (h + ky - k // 2, w + kx - k // 2)
                if p in sums:
                    s += w1[0][ky][kx] * sums[p] + T * C * w1[1][ky][kx] * maxs[p]
            score[h, w] = s
        return score
    w2 = op.w2.tolist()
    axis = 0 if op.dim == AttnDim.T else 1
    n = (T, C)[axis]

    def z(v: list[int]) -> list[int]:
        hid = [max(0, sum(w1[j][k] * v[k] for k in range(n)) >> op.shift) for j in range(op.hidden)]
        return [sum(w2[i][j] * hid[j] for j in range(op.hidden)) for i in range(n)]

    groups = [[x[t][c][h][w] for t, c, h, w in cells if (t, c)[axis] == i] for i in range(n)]
    zs, zm = z([sum(g) for g in groups]), z([max(g) for g in groups])
    return {i: zs[i] + len(groups[0]) * zm[i] for i in range(n)}


def py_attn(op: Attn, x: list) -> list:
    score = py_scores(op, x)
    out = [[[[0 for _ in row] for row in plane] for plane in frame] for frame in x]
    for t, frame in enumerate(x):
        for c, plane in enumerate(frame):
            for h, row in enumerate(plane):
                for w, v in enumerate(row):
                    i = {AttnDim.T: t, AttnDim.C: c, AttnDim.S: (h, w)}[op.dim]
                    if op.kind == AttnKind.MA:
                        m = op.levels.tolist()[sum(1 for b in op.table.tolist() if score[i] >= b)]
                        out[t][c][h][w] = max(0, (m * v) >> 15)
                    else:
                        g = 0 if op.dim == AttnDim.S else i
                        out[t][c][h][w] = max(0, v) if score[i] >= op.table.tolist()[g] else 0
    return out


@pytest.mark.parametrize("dim", list(AttnDim))
@pytest.mark.parametrize("kind", list(AttnKind))
def test_attention_matches_loops(dim, kind):
    rng = np.random.default_rng(int(dim) * 2 + int(kind))
    T, C, H, W = 4, 3, 3, 4
    net = Net(T=T, c=C, h=H, w=W)
    cur = net.identity_current(bias=-100)  # currents -100..155: negative values included
    out = net.buf(CUR, C, H, W)
    if dim == AttnDim.S:
        w1, w2, shift, groups = rng.integers(-6, 7, (2, 3, 3)), None, 0, 1
    else:
        n = T if dim == AttnDim.T else C
        w1, w2, shift, groups = rng.integers(-6, 7, (2, n)), rng.integers(-6, 7, (n, 2)), 3, n
    x = rng.integers(0, 256, (T, C, H, W)).astype(np.uint8)
    currents = (x.astype(int) - 100).tolist()
    probe = Attn(cur, out, dim, AttnKind.IA, w1, [0] * groups, w2=w2, shift=shift)
    scores = sorted(py_scores(probe, currents).values())
    mid = scores[len(scores) // 2]
    if kind == AttnKind.MA:  # a breakpoint tie at `mid` (>= counts it) and levels above 1.0
        op = Attn(
            cur, out, dim, kind, w1, [scores[0], mid, mid], w2=w2, levels=[0, 9000, 40000, 65535], shift=shift
        )
    else:
        op = Attn(cur, out, dim, kind, w1, [mid] * groups, w2=w2, shift=shift)
    k = net.add(op)
    got = run(net.model(layer_major=True), x, trace=True).traces[k]
    expected = py_attn(op, currents)
    assert got.tolist() == expected
    assert np.count_nonzero(expected) > 0 and np.count_nonzero(np.asarray(expected) == 0) > 0


def test_ia_along_t_by_hand():
    # T = 2, one neuron; currents -1 then 5 (u8 input 0, 6 with bias -1); w1 [[1, 1]], w2 [[1], [-1]], shift 0
    # sum = max = [-1, 5], N = 1: hidden = max(0, 4) = 4, z = [4, -4]; score = z(sum) + z(max) = [8, -8]
    # thresholds [8, -8]: both gates open (ties count) -> out = max(0, x) = [0, 5]
    net = Net(T=2, c=1, h=1, w=1)
    cur = net.identity_current(bias=-1)
    out = net.buf(CUR, 1, 1, 1)
    k = net.add(Attn(cur, out, AttnDim.T, AttnKind.IA, [[1, 1]], [8, -8], w2=[[1], [-1]]))
    x = np.array([0, 6], dtype=np.uint8).reshape(2, 1, 1, 1)
    assert run(net.model(layer_major=True), x, trace=True).traces[k].ravel().tolist() == [0, 5]
    net.ops[k] = Attn(cur, out, AttnDim.T, AttnKind.IA, [[1, 1]], [8, -7], w2=[[1], [-1]])
    assert run(net.model(layer_major=True), x, trace=True).traces[k].ravel().tolist() == [0, 0]


def test_ma_levels_by_hand():
    # one step, one neuron, current 1000; S kernel 1: score = 1 * sum + 1 * 0 * max = 1000
    # breakpoints [1000, 2000]: j = 1 -> level 49152 (1.5): out = (49152 * 1000) >> 15 = 1500
    net = Net(T=1, c=1, h=1, w=1)
    cur = net.buf(CUR, 1, 1, 1)
    net.add(Conv(0, cur, [[[[4]]]], [0]))
    out = net.buf(CUR, 1, 1, 1)
    k = net.add(Attn(cur, out, AttnDim.S, AttnKind.MA, [[[1]], [[0]]], [1000, 2000], levels=[0, 49152, 1]))
    x = np.array([250], dtype=np.uint8).reshape(1, 1, 1, 1)
    assert run(net.model(layer_major=True), x, trace=True).traces[k].ravel().tolist() == [1500]
