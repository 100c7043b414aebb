"""Random small models from the reference writer through the MicroPython runtime (viper and plain kernels),
bit for bit against `edgesnn.reference.run`: spike convs with stride 1 and 2, kernels 1 to 5, more than 32
input channels (two spike words per pixel), int4/int8/int16 weights, 16- and 32-bit LIF states with several
leaks, MAXPOOL and every LOGIC mode, and ATTN along T, C and S as MA and IA."""

from __future__ import annotations

import numpy as np
import pytest

from edgesnn.reference import kernels as ref_kernels
from edgesnn.reference import run as reference_run
from edgesnn.reference.layout import AttnDim, AttnKind, BufferKind, LogicMode
from edgesnn.reference.model import Attn, Buffer, Conv, Lif, Logic, MaxPool, Model, Readout
from edgesnn.reference.writer import to_bytes
from edgesnn.runtime.micropython import MicroPythonRuntime
from tests.devices.conftest import assert_same

CUR, SPK = BufferKind.CURRENT, BufferKind.SPIKES


def _w(rng: np.random.Generator, shape: tuple[int, ...], bits: int, lim: int) -> np.ndarray:
    top = min(lim, (1 << (bits - 1)) - 1)
    return rng.integers(-top, top + 1, shape).astype(np.int16 if bits == 16 else np.int8)


def _static_front(rng: np.random.Generator) -> list:
    """u8 [1, H, W] -> static 3x3 conv to 8 channels (buffer 1) -> 32-bit LIF (spikes in buffer 2)."""
    w = _w(rng, (1, 3, 3, 8), 8, 90)
    conv = Conv(0, 1, w, rng.integers(-50, 50, 8).astype(np.int32), 1, 1, 8, static=True)
    return [conv, Lif(1, 2, rng.integers(1, 3000, 8).astype(np.int32), 32768, 32)]


def spike_conv_model(
    cin: int, cout: int, hw: tuple[int, int], k: int, stride: int, pad: int, bits: int, state_bits: int,
    leak: int, seed: int,
) -> Model:  # fmt: skip
    """u8 [2, H, W] -> conv 3x3 (int8) -> LIF32 -> spike conv k x k / stride / pad -> LIF -> readout."""
    rng = np.random.default_rng(seed)
    h, w = hw
    ho, wo = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    bufs = [Buffer(BufferKind.INPUT_U8, 2, h, w), Buffer(CUR, cin, h, w), Buffer(SPK, cin, h, w)]
    bufs += [Buffer(CUR, cout, ho, wo), Buffer(SPK, cout, ho, wo)]
    lim = 7 if bits == 4 else 120 if bits == 8 else 3000
    ops = [
        Conv(0, 1, _w(rng, (2, 3, 3, cin), 8, 127), rng.integers(-800, 800, cin).astype(np.int32), 1, 1, 8),
        Lif(1, 2, rng.integers(1, 9000, cin).astype(np.int32), 32768, 32),
        Conv(
            2,
            3,
            _w(rng, (cin, k, k, cout), bits, lim),
            rng.integers(-90, 90, cout).astype(np.int32),
            stride,
            pad,
            bits,
        ),
        Lif(3, 4, rng.integers(1, 8 * lim, cout).astype(np.int32), leak, state_bits),
        Readout(4, _w(rng, (cout, 6), bits, 100), rng.integers(-99, 99, 6).astype(np.int32), bits),
    ]
    return Model(5, 6, bufs, ops)


SPIKE_CASES = [
    # cin, cout, hw, k, stride, pad, weight bits, state bits, leak
    (8, 8, (6, 7), 3, 1, 1, 8, 32, 32768),
    (8, 16, (7, 6), 3, 2, 1, 8, 16, 32768),
    (40, 16, (4, 5), 3, 1, 1, 8, 16, 20000),  # two spike words per pixel
    (64, 24, (5, 5), 1, 2, 0, 16, 32, 65536),  # two full words, 1x1 stride 2, int16 weights, no leak
    (33, 8, (5, 4), 5, 2, 2, 4, 16, 1),  # one bit into the second word, int4, the smallest leak
    (16, 8, (3, 9), 3, 1, 0, 16, 16, 50000),
]


@pytest.mark.parametrize("case", SPIKE_CASES, ids=[f"case{i}" for i in range(len(SPIKE_CASES))])
def test_spike_conv_models(mpy: MicroPythonRuntime, case):
    blob = to_bytes(spike_conv_model(*case, seed=case[0] + case[1] + case[3]))
    x = np.random.default_rng(1).integers(0, 256, (5, 2, *case[2]), dtype=np.uint8)
    want = reference_run(blob, x)
    assert 0 < want.spike_counts[0] < 5 * case[0] * case[2][0] * case[2][1], "the spike conv's input fires"
    assert case[-1] == 1 or want.spike_counts[1] > 0, "its LIF fires (except with the tiny leak)"
    for kernels in ("viper", "plain"):
        assert_same(mpy.run(blob, x, kernels=kernels), want, f"{case} {kernels}")
    assert_same(mpy.run(blob, x, time_major=True), want, f"{case} step")


def residual_model(seed: int) -> Model:
    """u8 [1, 8, 7] (static) -> conv -> LIF (40 ch) -> [conv -> LIF] x 2 -> OR / AND / IAND -> maxpool 3/2/1
    -> readout: every LOGIC mode over two spike words per pixel."""
    rng = np.random.default_rng(seed)
    c, h, w = 40, 8, 7
    bufs = [Buffer(BufferKind.INPUT_U8, 1, h, w), Buffer(CUR, c, h, w), Buffer(SPK, c, h, w)]
    ops: list = [
        Conv(
            0,
            1,
            _w(rng, (1, 3, 3, c), 8, 127),
            rng.integers(-300, 300, c).astype(np.int32),
            1,
            1,
            8,
            static=True,
        ),
        Lif(1, 2, rng.integers(1, 6000, c).astype(np.int32), 32768, 16),
    ]
    for branch in range(2):
        bufs += [Buffer(CUR, c, h, w), Buffer(SPK, c, h, w)]
        b = len(bufs) - 2
        ops.append(
            Conv(2, b, _w(rng, (c, 3, 3, c), 8, 40), rng.integers(-50, 80, c).astype(np.int32), 1, 1, 8)
        )
        ops.append(Lif(b, b + 1, rng.integers(1, 250 + 100 * branch, c).astype(np.int32), 40000, 32))
    prev = 2
    for mode in (LogicMode.OR, LogicMode.AND, LogicMode.IAND):
        bufs.append(Buffer(SPK, c, h, w))
        ops.append(Logic(4 if mode != LogicMode.AND else prev, 6, len(bufs) - 1, mode))
        prev = len(bufs) - 1
    bufs.append(Buffer(SPK, c, 4, 4))
    ops.append(MaxPool(prev, len(bufs) - 1, 3, 2, 1))
    ops.append(Readout(len(bufs) - 1, _w(rng, (c, 4), 8, 127), rng.integers(-99, 99, 4).astype(np.int32), 8))
    return Model(4, 4, bufs, ops, static_input=True)


def test_residual_logic_and_maxpool(mpy: MicroPythonRuntime):
    blob = to_bytes(residual_model(7))
    x = np.random.default_rng(2).integers(0, 256, (1, 1, 8, 7), dtype=np.uint8)
    want = reference_run(blob, x)
    assert all(want.spike_counts > 0)
    for kernels in ("viper", "plain"):
        assert_same(mpy.run(blob, x, kernels=kernels), want, kernels)
    assert_same(mpy.run(blob, x, time_major=True), want, "step")


def attn_model(dim: AttnDim, kind: AttnKind, seed: int) -> Model:
    """u8 [1, 6, 5] (static) -> conv -> LIF -> spike conv (40 ch) -> ATTN -> LIF16, OR a shortcut (spike conv
    -> LIF, made before the ATTN, read after it: it must keep all T steps) -> readout; LAYER_MAJOR."""
    rng = np.random.default_rng(seed)
    T, C, H, W = 4, 40, 6, 5
    bufs = [Buffer(BufferKind.INPUT_U8, 1, H, W), Buffer(CUR, 8, H, W), Buffer(SPK, 8, H, W)]
    bufs += [Buffer(CUR, C, H, W), Buffer(CUR, C, H, W), Buffer(SPK, C, H, W)]
    n = {AttnDim.T: T, AttnDim.C: C, AttnDim.S: 3}[dim]
    hidden = 0 if dim == AttnDim.S else 3
    w1 = rng.integers(-30, 30, (2, 3, 3) if dim == AttnDim.S else (hidden, n)).astype(np.int8)
    w2 = None if dim == AttnDim.S else rng.integers(-30, 30, (n, hidden)).astype(np.int8)
    if kind == AttnKind.MA:
        table = np.sort(rng.integers(-(10**6), 10**6, 12)).astype(np.int64)
        levels = rng.integers(0, 65536, 13).astype(np.uint16)
        levels[-1] = 50000
    else:
        table = rng.integers(-(10**5), 10**5, 1 if dim == AttnDim.S else n).astype(np.int64)
        levels = None
    ops = [
        *_static_front(rng),
        Conv(2, 3, _w(rng, (8, 3, 3, C), 8, 90), rng.integers(-100, 100, C).astype(np.int32), 1, 1, 8),
        Conv(2, 6, _w(rng, (8, 1, 1, C), 8, 90), rng.integers(-100, 100, C).astype(np.int32), 1, 0, 8),
        Lif(6, 7, rng.integers(1, 200, C).astype(np.int32), 32768, 32),
        Attn(3, 4, dim, kind, w1, table, w2, levels, shift=0 if dim == AttnDim.S else 4),
        Lif(4, 5, rng.integers(1, 300, C).astype(np.int32), 32768, 16),
        Logic(5, 7, 8, LogicMode.OR),
        Readout(8, _w(rng, (C, 5), 8, 127), rng.integers(-99, 99, 5).astype(np.int32), 8),
    ]
    bufs += [Buffer(CUR, C, H, W), Buffer(SPK, C, H, W), Buffer(SPK, C, H, W)]
    return Model(T, 5, bufs, ops, layer_major=True, static_input=True)


ATTN_CASES = [(d, k) for d in (AttnDim.T, AttnDim.C, AttnDim.S) for k in (AttnKind.MA, AttnKind.IA)]


@pytest.mark.parametrize(("dim", "kind"), ATTN_CASES, ids=[f"{d.name}-{k.name}" for d, k in ATTN_CASES])
def test_attn_models(mpy: MicroPythonRuntime, dim: AttnDim, kind: AttnKind):
    blob = to_bytes(attn_model(dim, kind, seed=3 * int(dim) + int(kind)))
    x = np.random.default_rng(4).integers(0, 256, (1, 1, 6, 5), dtype=np.uint8)
    want = reference_run(blob, x)
    assert want.spike_counts[-1] > 0 and want.spike_counts[-2] > 0
    for kernels in ("viper", "plain"):
        assert_same(mpy.run(blob, x, kernels=kernels), want, f"{dim.name} {kind.name} {kernels}")


def test_static_conv_straight_into_attn(mpy: MicroPythonRuntime):
    """A STATIC conv read by an ATTN directly: the ATTN sees the same frame at every step."""
    rng = np.random.default_rng(5)
    T, C, H, W = 3, 6, 5, 4
    bufs = [Buffer(BufferKind.INPUT_U8, 2, H, W), Buffer(CUR, C, H, W), Buffer(CUR, C, H, W)]
    bufs += [Buffer(SPK, C, H, W)]
    ops = [
        Conv(
            0,
            1,
            _w(rng, (2, 3, 3, C), 8, 90),
            rng.integers(-500, 500, C).astype(np.int32),
            1,
            1,
            8,
            static=True,
        ),
        Attn(
            1,
            2,
            AttnDim.T,
            AttnKind.MA,
            rng.integers(-9, 9, (2, T)).astype(np.int8),
            np.array([-(10**6), 0, 10**6]),
            rng.integers(-9, 9, (T, 2)).astype(np.int8),
            np.array([0, 20000, 32768, 45000], dtype=np.uint16),
            shift=2,
        ),
        Lif(2, 3, rng.integers(1, 5000, C).astype(np.int32), 30000, 32),
        Readout(3, _w(rng, (C, 4), 8, 127), rng.integers(-99, 99, 4).astype(np.int32), 8),
    ]
    blob = to_bytes(Model(T, 4, bufs, ops, layer_major=True, static_input=True))
    x = rng.integers(0, 256, (1, 2, H, W), dtype=np.uint8)
    want = reference_run(blob, x)
    assert want.spike_counts[0] > 0
    for kernels in ("viper", "plain"):
        assert_same(mpy.run(blob, x, kernels=kernels), want, kernels)


def extreme_lif_model(leak: int, state_bits: int, seed: int) -> Model:
    """u8 [1, 5, 6] frames -> conv (int16 weights) whose biases push currents to within 255 * sum|w| of
    +-(2^31 - 1) -> LIF (thresholds at 1, 2^30, 2^31 - 1, ...) -> readout: I - H far outside int32."""
    rng = np.random.default_rng(seed)
    c, h, w = 8, 5, 6
    bufs = [Buffer(BufferKind.INPUT_U8, 1, h, w), Buffer(CUR, c, h, w), Buffer(SPK, c, h, w)]
    wt = rng.integers(-32767, 32768, (1, 3, 3, c)).astype(np.int16)
    room = (2**31 - 1) - 255 * np.abs(wt.astype(np.int64)).sum(axis=(0, 1, 2))
    bias = (room * np.array([1, -1, 1, -1, 0.5, -0.5, 0.01, -0.99])).astype(np.int64)
    th = np.array([1, 2**30, 2**31 - 1, 2**30 - 1, 5, 2**29, 1000, 2**31 - 2], dtype=np.int64)
    ops = [
        Conv(0, 1, wt, bias.astype(np.int32), 1, 1, 16),
        Lif(1, 2, th.astype(np.int32), leak, state_bits),
        Readout(2, _w(rng, (c, 5), 8, 127), rng.integers(-99, 99, 5).astype(np.int32), 8),
    ]
    return Model(6, 5, bufs, ops)


@pytest.mark.parametrize(
    ("leak", "state_bits"), [(32768, 32), (65536, 32), (1, 32), (40000, 16), (65535, 32)]
)
def test_lif_extreme_currents(mpy: MicroPythonRuntime, leak: int, state_bits: int):
    blob = to_bytes(extreme_lif_model(leak, state_bits, seed=leak % 97))
    x = np.random.default_rng(6).integers(0, 256, (6, 1, 5, 6), dtype=np.uint8)
    x[::2] = 255 - x[::2]  # swings between bright and dark frames: large |I - H|
    want = reference_run(blob, x)
    for kernels in ("viper", "plain"):
        assert_same(mpy.run(blob, x, kernels=kernels), want, f"leak {leak} {kernels}")


def test_viper_lif_formula_exact_under_int32_wrap():
    """The viper LIF's split of U = H + ((I - H) * leak) >> 16, evaluated with 32-bit wrap-around as on a
    board, equals the int64 formula whenever U fits int32 (the exporter's guarantee), for any int32 I, H."""

    def wrap(v: int) -> int:
        return ((v + 2**31) % 2**32) - 2**31

    def board(i: int, h: int, leak: int) -> int:  # esnn_viper.lif32, line by line
        hi = wrap((i >> 16) - (h >> 16))
        lo = (i & 0xFFFF) - (h & 0xFFFF)
        if lo < 0:
            lo, hi = lo + 65536, wrap(hi - 1)
        low = wrap(wrap((lo >> 8) * leak) + (wrap((lo & 0xFF) * leak) >> 8)) >> 8
        return wrap(wrap(h + wrap(hi * leak)) + low)

    rng = np.random.default_rng(7)
    checked = 0
    for _ in range(50_000):
        leak = int(rng.choice([1, 255, 256, 32768, 40000, 65535, 65536, int(rng.integers(1, 65537))]))
        i, h = (int(v) for v in rng.integers(-(2**31), 2**31, 2))
        if rng.random() < 0.3:
            h = int(rng.integers(-70000, 70000))
        u = h + (((i - h) * leak) >> 16)
        if -(2**31) <= u < 2**31:
            checked += 1
            assert board(i, h, leak) == u, (i, h, leak)
    assert checked > 40_000


def chunked_attn_model(dim: AttnDim, table: np.ndarray, levels: np.ndarray, seed: int) -> Model:
    """An ATTN input of 4 x 48 x 16 x 16 = 49152 elements (the viper pooling runs in two chunks of at most
    32768) with currents near +-2^25 (int16 weights): pooled sums far past int32; shift 0, mixed signs."""
    rng = np.random.default_rng(seed)
    T, C, H, W = 4, 48, 16, 16
    bufs = [Buffer(BufferKind.INPUT_U8, 1, H, W), Buffer(CUR, 8, H, W), Buffer(SPK, 8, H, W)]
    bufs += [Buffer(CUR, C, H, W), Buffer(CUR, C, H, W), Buffer(SPK, C, H, W)]
    n = {AttnDim.T: T, AttnDim.C: C, AttnDim.S: 3}[dim]
    w1 = rng.integers(-30, 30, (2, 3, 3) if dim == AttnDim.S else (4, n)).astype(np.int8)
    w2 = None if dim == AttnDim.S else rng.integers(-30, 30, (n, 4)).astype(np.int8)
    ops = [
        *_static_front(rng),
        Conv(
            2,
            3,
            _w(rng, (8, 3, 3, C), 16, 32767),
            rng.integers(-(2**25), 2**25, C).astype(np.int32),
            1,
            1,
            16,
        ),
        Attn(3, 4, dim, AttnKind.MA, w1, table, w2, levels, shift=0),
        Lif(4, 5, rng.integers(1, 2**25, C).astype(np.int32), 32768, 32),
        Readout(5, _w(rng, (C, 5), 8, 127), rng.integers(-99, 99, 5).astype(np.int32), 8),
    ]
    return Model(T, 5, bufs, ops, layer_major=True, static_input=True)


@pytest.mark.parametrize("dim", [AttnDim.T, AttnDim.C, AttnDim.S], ids=["T", "C", "S"])
def test_attn_pooled_in_chunks_scores_on_breakpoints(mpy: MicroPythonRuntime, dim: AttnDim):
    """The ATTN's breakpoints are its own scores on this input (from the reference), so a score off by one
    in either direction changes a level: the chunked 16-bit partial sums and the maxes must fold exactly."""
    seed = 8 + int(dim)
    x = np.random.default_rng(seed).integers(0, 256, (1, 1, 16, 16), dtype=np.uint8)
    first = chunked_attn_model(dim, np.array([0]), np.array([30000, 40000], dtype=np.uint16), seed)
    a = reference_run(to_bytes(first), x, trace=True).traces[2]  # the ATTN input [T, C, H, W]
    assert int(np.abs(a.astype(np.int64)).sum()) > 2**36, "pooled sums far past int32"
    scores = np.unique(ref_kernels.attn_score(first.ops[3], a.transpose(0, 2, 3, 1)[None]))
    assert scores.size > 1 and np.abs(scores).max() > 2**31
    rng = np.random.default_rng(seed)
    table = np.sort(np.concatenate([scores, scores + 1]))  # every score s sits between s and s + 1
    levels = rng.integers(0, 65536, table.size + 1).astype(np.uint16)
    blob = to_bytes(chunked_attn_model(dim, table.astype(np.int64), levels, seed))
    want = reference_run(blob, x, trace=True)
    assert want.traces is not None and (want.traces[3] > 0).any() and want.spike_counts[-1] > 0
    for kernels in ("viper", "plain"):
        assert_same(mpy.run(blob, x, kernels=kernels), want, f"{dim.name} {kernels}")
