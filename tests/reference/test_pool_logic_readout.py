"""MAXPOOL as OR, LOGIC OR/AND/IAND and READOUT (ties -> lowest index) by hand and with loops."""

from __future__ import annotations

import numpy as np
import pytest

from edgesnn.reference import Logic, LogicMode, MaxPool, Readout, run
from tests.reference.builders import SP, Net, py_pool


@pytest.mark.parametrize(("k", "stride", "pad"), [(2, 2, 0), (3, 2, 1), (3, 1, 1), (1, 1, 0)])
def test_maxpool_is_or_over_the_window(k, stride, pad):
    rng = np.random.default_rng(k * 10 + stride + pad)
    T, C, H, W = 2, 2, 5, 6
    net = Net(T=T, c=C, h=H, w=W)
    spikes = net.spikes_of_input()
    ho, wo = (H + 2 * pad - k) // stride + 1, (W + 2 * pad - k) // stride + 1
    idx = net.add(MaxPool(spikes, net.buf(SP, C, ho, wo), k, stride, pad))
    x = (rng.random((T, C, H, W)) < 0.2).astype(np.uint8) * 7
    got = run(net.model(), x, trace=True).traces[idx]
    for t in range(T):
        assert got[t].tolist() == py_pool((x[t] > 0).astype(int).tolist(), k, stride, pad)


def test_maxpool_by_hand():
    net = Net(T=1, c=1, h=2, w=4)
    spikes = net.spikes_of_input()
    idx = net.add(MaxPool(spikes, net.buf(SP, 1, 1, 2), 2, 2))
    x = np.array([[0, 0, 0, 0], [0, 1, 0, 0]], dtype=np.uint8).reshape(1, 1, 2, 4)
    assert run(net.model(), x, trace=True).traces[idx].ravel().tolist() == [1, 0]


@pytest.mark.parametrize(("mode", "expected"), [(LogicMode.OR, [0, 1, 1, 1]), (LogicMode.AND, [0, 0, 0, 1]),
                                                (LogicMode.IAND, [0, 1, 0, 0])])  # fmt: skip
def test_logic_truth_tables(mode, expected):
    # channel 0 = a (backbone), channel 1 = b (shortcut), split with two 1x1 convs from the input
    from edgesnn.reference import Conv, Lif
    from tests.reference.builders import CUR

    net = Net(T=1, c=2, h=1, w=4)
    bufs = []
    for ch in range(2):
        cur = net.buf(CUR, 1, 1, 4)
        w = np.zeros((2, 1, 1, 1), dtype=int)
        w[ch] = 1
        net.add(Conv(0, cur, w, [0]))
        bufs.append(net.buf(SP, 1, 1, 4))
        net.add(Lif(cur, bufs[-1], [1], leak_mul=65536))
    idx = net.add(Logic(bufs[0], bufs[1], net.buf(SP, 1, 1, 4), mode))
    x = np.array([[0, 0, 1, 1], [0, 1, 0, 1]], dtype=np.uint8).reshape(1, 2, 1, 4)  # (a, b) = 00 01 10 11
    assert run(net.model(), x, trace=True).traces[idx].ravel().tolist() == expected


def test_readout_sums_spikes_over_time_and_space():
    net = Net(T=2, c=2, h=1, w=2)
    spikes = net.spikes_of_input()
    weights = np.array([[3, -1, 7], [-2, 5, -8]])
    net.add(Readout(spikes, weights, [100, -50, 7], weight_bits=4))
    x = np.array([[[[1, 1]], [[0, 1]]], [[[0, 1]], [[1, 1]]]], dtype=np.uint8)
    res = run(net.model(classes=3), x, trace=True)
    # channels 0 and 1 spike 3 times each: 100 + 9 - 6 = 103; -50 - 3 + 15 = -38; 7 + 21 - 24 = 4
    assert res.logits.tolist() == [103, -38, 4]
    assert res.logits.dtype == np.int32 and res.predicted == 0
    # running logits after step 1: channel 0 twice, channel 1 once
    assert res.traces[-1][0].tolist() == [100 + 6 - 2, -50 - 2 + 5, 7 + 14 - 8]


@pytest.mark.parametrize(("T", "predicted"), [(1, 0), (4, 1)])
def test_readout_ties_go_to_the_lowest_index(T, predicted):
    net = Net(T=T, c=1, h=1, w=1)
    spikes = net.spikes_of_input()
    net.add(Readout(spikes, [[0, 2, 2, 1]], [9, 7, 7, 8], weight_bits=16))
    one = np.ones((T, 1, 1, 1), dtype=np.uint8)
    res = run(net.model(classes=4), one)
    assert res.logits.tolist() == [9, 7 + 2 * T, 7 + 2 * T, 8 + T]  # T = 1: four-way tie; T = 4: 1 and 2 tie
    assert res.predicted == predicted
