"""CONV and LIF against hand-computed integers and plain-Python loops."""

from __future__ import annotations

import numpy as np
import pytest

from edgesnn.reference import Conv, Lif, run, run_batch
from tests.reference.builders import CUR, SP, Net, py_conv


def test_conv_u8_input_3x3_stride2_pad1_by_hand():
    net = Net(T=1, c=1, h=3, w=3)
    out = net.buf(CUR, 1, 2, 2)
    w = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]]).reshape(1, 3, 3, 1)
    k = net.add(Conv(0, out, w, [10], stride=2, pad=1))
    x = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 200]], dtype=np.uint8).reshape(1, 1, 3, 3)
    got = run(net.model(), x, trace=True).traces[k][0, 0]
    # (0,0): window rows -1..1, cols -1..1 -> w[1:,1:] . x[:2,:2] = 5*1 + 6*2 + 8*4 + 9*5 = 94
    # (0,1): rows -1..1, cols 1..3 -> w[1:,:2] . x[:2,1:] = 4*2 + 5*3 + 7*5 + 8*6 = 106
    # (1,0): rows 1..3, cols -1..1 -> w[:2,1:] . x[1:,:2] = 2*4 + 3*5 + 5*7 + 6*8 = 106
    # (1,1): rows 1..3, cols 1..3 -> w[:2,:2] . x[1:,1:] = 1*5 + 2*6 + 4*8 + 5*200 = 1049
    assert got.tolist() == [[104, 116], [116, 1059]]


@pytest.mark.parametrize(
    ("bits", "k", "stride", "pad"),
    [(4, 3, 2, 1), (8, 1, 1, 0), (16, 3, 1, 1), (8, 1, 2, 0), (4, 3, 1, 0), (8, 5, 2, 2)],
)
def test_conv_on_spikes_matches_loops(bits, k, stride, pad):
    rng = np.random.default_rng(bits + k + stride)
    cin, cout, h, w, T = 3, 5, 7, 6, 2
    net = Net(T=T, c=cin, h=h, w=w)
    spikes = net.spikes_of_input()
    ho, wo = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    out = net.buf(CUR, cout, ho, wo)
    lim = 1 << (bits - 1)
    weights = rng.integers(-lim, lim, (cin, k, k, cout))
    bias = rng.integers(-1000, 1000, cout)
    idx = net.add(Conv(spikes, out, weights, bias, stride=stride, pad=pad, weight_bits=bits))
    x = (rng.random((T, cin, h, w)) < 0.4).astype(np.uint8) * rng.integers(1, 256, (T, cin, h, w)).astype(
        np.uint8
    )
    got = run(net.model(), x, trace=True).traces[idx]
    for t in range(T):
        binary = (x[t] >= 1).astype(int).tolist()
        assert got[t].tolist() == py_conv(binary, weights, bias.tolist(), stride, pad)


def test_conv_u8_multichannel_int16_matches_loops():
    rng = np.random.default_rng(7)
    net = Net(T=1, c=2, h=5, w=5)
    out = net.buf(CUR, 3, 3, 3)
    weights = rng.integers(-30000, 30000, (2, 3, 3, 3))
    idx = net.add(Conv(0, out, weights, [1, -2, 3], stride=2, pad=1, weight_bits=16))
    x = rng.integers(0, 256, (1, 2, 5, 5)).astype(np.uint8)
    got = run(net.model(), x, trace=True).traces[idx][0]
    assert got.tolist() == py_conv(x[0].tolist(), weights, [1, -2, 3], 2, 1)


def lif_run(currents: list[int], threshold: int, **kw: int) -> tuple[list[int], int]:
    """Feed a 1x1x1 LIF the given per-step currents (as u8 input - 128 via the identity conv's bias)."""
    net = Net(T=len(currents), c=1, h=1, w=1)
    cur = net.identity_current(bias=-128)
    spikes = net.lif(cur, threshold, **kw)
    idx = len(net.ops) - 1
    x = (np.array(currents) + 128).astype(np.uint8).reshape(-1, 1, 1, 1)
    res = run(net.model(), x, trace=True)
    assert net.ops[idx].out == spikes
    return res.traces[idx].reshape(-1).tolist(), int(res.final_state[0].reshape(-1)[0])


def test_lif_tau2_floor_and_exact_threshold_tie():
    # U = floor((H + I) / 2): 4 -> U 2 (= threshold: spike, H 0); 3 -> 1; 3 -> 2 spike; 1 -> 0; 2 -> 1
    spikes, final = lif_run([4, 3, 3, 1, 2], threshold=2)
    assert spikes == [1, 0, 1, 0, 0]
    assert final == 1


def test_lif_negative_membrane_floors_toward_minus_infinity():
    # -3 -> floor(-1.5) = -2; then -2 + ((-3 + 2) >> 1) = -2 + (-1) = -3; then -3 + ((5 + 3) >> 1) = 1
    spikes, final = lif_run([-3, -3, 5], threshold=100)
    assert spikes == [0, 0, 0]
    assert final == 1
    _, final = lif_run([-3, -3], threshold=100)
    assert final == -3


def test_lif_leak_mul_tau3():
    # leak_mul 21845: 100 * 21845 >> 16 = 33 (2184500 / 65536 = 33.3); -100 -> floor(-33.3) = -34
    assert lif_run([100], threshold=1000, leak_mul=21845)[1] == 33
    assert lif_run([-100], threshold=1000, leak_mul=21845)[1] == -34
    # then H = 33, I = 0: 33 + ((0 - 33) * 21845 >> 16) = 33 + floor(-11.0) = 33 - 11 = 22
    assert lif_run([100, 0], threshold=1000, leak_mul=21845)[1] == 22


def test_lif_int16_state_saturates_after_the_spike_decision():
    net = Net(T=3, c=1, h=1, w=1)
    cur = net.buf(CUR, 1, 1, 1)
    net.add(Conv(0, cur, np.full((1, 1, 1, 1), 30000), [0], weight_bits=16))  # I = 30000 * x
    lo = net.lif(cur, threshold=1 << 30, state_bits=16)
    k_lo = len(net.ops) - 1
    hi = net.lif(cur, threshold=40000, state_bits=16)
    k_hi = len(net.ops) - 1
    wide = net.lif(cur, threshold=1 << 30, state_bits=32)
    assert len({lo, hi, wide}) == 3
    x = np.array([4, 4, 4], dtype=np.uint8).reshape(3, 1, 1, 1)  # I = 120000 at every step
    res = run(net.model(), x, trace=True)
    # 16-bit: U = 60000 -> H clamps to 32767; U = 32767 + (87233 >> 1) = 76383 -> 32767 again
    assert int(res.final_state[0][0, 0, 0]) == 32767
    # threshold 40000 < U = 60000 (unclamped) -> spike at step 1; H = 0 -> U = 60000 spike again
    assert res.traces[k_hi][:, 0, 0, 0].tolist() == [1, 1, 1]
    assert res.traces[k_lo][:, 0, 0, 0].tolist() == [0, 0, 0]
    # 32-bit: 60000, 90000, 105000
    assert int(res.final_state[2][0, 0, 0]) == 105000
    assert res.spike_counts.tolist() == [0, 3, 0]


def test_lif_per_channel_thresholds_and_counts():
    net = Net(T=2, c=2, h=1, w=2)
    cur = net.identity_current()
    out = net.buf(SP, 2, 1, 2)
    k = net.add(Lif(cur, out, [3, 6]))
    x = np.array([[[[6, 8]], [[6, 12]]], [[[0, 8]], [[0, 12]]]], dtype=np.uint8)  # [T, C, H, W]
    res = run(net.model(), x, trace=True)
    # t0: U = floor(x/2) = [[3, 4], [3, 6]] vs thresholds 3, 6 -> [[1, 1], [0, 1]]
    # t1: channel 0: H 0 -> U [0, 4] -> [0, 1]; channel 1: H [3, 0] -> U [1, 6] -> [0, 1]
    assert res.traces[k][:, :, 0, :].tolist() == [[[1, 1], [0, 1]], [[0, 1], [0, 1]]]
    assert res.spike_counts.tolist() == [5]
    assert res.final_state[0].tolist() == [[[0, 0]], [[1, 0]]]


def test_static_input_equals_repeated_frames_and_run_equals_run_batch():
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 256, (1, 6, 6)).astype(np.uint8)
    results = []
    for static in (True, False):
        net = Net(T=4, c=1, h=6, w=6)
        cur = net.buf(CUR, 4, 6, 6)
        net.add(
            Conv(0, cur, rng.integers(-8, 8, (1, 3, 3, 4)) * 0 + 3, [-500, 0, 5, 9], pad=1, static=static)
        )
        spikes = net.lif(cur, threshold=900)
        net.add(Lif(cur, net.buf(SP, 4, 6, 6), np.full(4, 1500), leak_mul=20000))
        model = net.model(static_input=static)
        assert spikes == 2
        x = frame if static else np.repeat(frame[None], 4, axis=0)
        results.append(run(model, x))
        batch = run_batch(model, np.stack([x, x]))
        assert batch.logits.tolist()[0] == results[-1].logits.tolist()
        assert batch.spike_counts[1].tolist() == results[-1].spike_counts.tolist()
    assert results[0].spike_counts.tolist() == results[1].spike_counts.tolist()
    assert results[0].spike_counts.sum() > 0
    for a, b in zip(results[0].final_state, results[1].final_state, strict=True):
        assert a.tolist() == b.tolist()
