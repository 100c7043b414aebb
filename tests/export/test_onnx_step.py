"""The ONNX writer (edgesnn.export.onnx_step) agrees bit for bit with the numpy reference.

Models are built with the reference's dataclasses and writer (random, deterministic weights; LIF
thresholds and attention tables calibrated on the reference's own traces so every layer spikes and
several attention levels are used), then compared field by field: logits, spike counts, final states.
"""

from __future__ import annotations

import builtins
import dataclasses
import json
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest

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
    load,
    run,
    run_batch,
    to_bytes,
)
from edgesnn.reference.kernels import attn_score

REPO = Path(__file__).resolve().parents[2]
VECTORS = REPO / "export" / "vectors" / "v1"
needs_onnx = pytest.mark.skipif(
    any(find_spec(m) is None for m in ("onnx", "onnxruntime", "onnxsim")),
    reason="the onnx extra is not installed (pip install 'edgesnn[onnx]')",
)


class Net:
    """Builds a valid `.esnn` Model op by op, tracking the buffers."""

    def __init__(self, seed: int, c: int, h: int, w: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.buffers = [Buffer(BufferKind.INPUT_U8, c, h, w)]
        self.ops: list = []

    def _new(self, kind: BufferKind, c: int, h: int, w: int) -> int:
        self.buffers.append(Buffer(kind, c, h, w))
        return len(self.buffers) - 1

    def conv(self, src: int, cout: int, k: int, stride: int = 1, pad: int = 0, bits: int = 8, **kw) -> int:
        cin, h, w = self.buffers[src].shape
        ho, wo = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
        lim = 1 << (bits - 1)
        weights = self.rng.integers(-lim, lim, (cin, k, k, cout))
        bias = self.rng.integers(-lim // 4, lim, cout) * (4 if src else 64)
        out = self._new(BufferKind.CURRENT, cout, ho, wo)
        self.ops.append(Conv(src, out, weights, bias, stride=stride, pad=pad, weight_bits=bits, **kw))
        return out

    def lif(self, src: int, leak_mul: int = 32768, state_bits: int = 32, thresholds=None) -> int:
        c, h, w = self.buffers[src].shape
        out = self._new(BufferKind.SPIKES, c, h, w)
        th = np.ones(c, np.int64) if thresholds is None else thresholds
        self.ops.append(Lif(src, out, th, leak_mul=leak_mul, state_bits=state_bits))
        return out

    def attn(self, src: int, dim: AttnDim, kind: AttnKind, T: int) -> int:
        c, h, w = self.buffers[src].shape
        out = self._new(BufferKind.CURRENT, c, h, w)
        if dim == AttnDim.S:
            w1, w2, groups = self.rng.integers(-8, 9, (2, 3, 3)), None, 1
        else:
            n = T if dim == AttnDim.T else c
            w1, w2, groups = self.rng.integers(-8, 9, (2, n)), self.rng.integers(-8, 9, (n, 2)), n
        if kind == AttnKind.MA:
            table, levels = np.arange(4), np.array([0, 9000, 20000, 32768, 40000])
        else:
            table, levels = np.zeros(groups, np.int64), None
        self.ops.append(Attn(src, out, dim, kind, w1, table, w2=w2, levels=levels, shift=3))
        return out

    def maxpool(self, src: int, k: int, stride: int, pad: int = 0) -> int:
        c, h, w = self.buffers[src].shape
        ho, wo = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
        out = self._new(BufferKind.SPIKES, c, ho, wo)
        self.ops.append(MaxPool(src, out, k, stride, pad))
        return out

    def logic(self, a: int, b: int, mode: LogicMode) -> int:
        out = self._new(BufferKind.SPIKES, *self.buffers[a].shape)
        self.ops.append(Logic(a, b, out, mode))
        return out

    def model(self, src: int, T: int, classes: int = 4, bits: int = 8, static: bool = False) -> Model:
        lim = 1 << (bits - 1)
        w = self.rng.integers(-lim, lim, (self.buffers[src].channels, classes))
        self.ops.append(Readout(src, w, self.rng.integers(-1000, 1000, classes), weight_bits=bits))
        layer_major = any(isinstance(op, Attn) for op in self.ops)
        return Model(T, classes, self.buffers, self.ops, layer_major=layer_major, static_input=static)


def calibrate(m: Model, x: np.ndarray) -> Model:
    """Set LIF thresholds (first-step U of each channel's 85th-percentile current) and attention tables
    (quantiles of the score), op by op, on the reference's traces."""
    writer = {op.out: k for k, op in enumerate(m.ops) if not isinstance(op, Readout)}
    for k, op in enumerate(m.ops):
        if not isinstance(op, Lif | Attn):
            continue
        current = run_batch(m, x, trace=True).traces[writer[op.in0]].astype(np.int64)  # [N, T, C, H, W]
        if isinstance(op, Lif):
            per_channel = current.transpose(2, 0, 1, 3, 4).reshape(op.channels, -1)
            first_step = (np.percentile(per_channel, 85, axis=1).astype(np.int64) * op.leak_mul) >> 16
            th = np.maximum(1, first_step)
            new = dataclasses.replace(op, thresholds=th)
        else:
            score = attn_score(op, current.transpose(0, 1, 3, 4, 2))
            if op.kind == AttnKind.MA:
                new = dataclasses.replace(op, table=np.quantile(score, [0.2, 0.4, 0.6, 0.8]).astype(np.int64))
            else:
                flat = score.reshape(score.shape[0], -1)
                groups = op.table.size
                med = np.median(flat, axis=0).astype(np.int64)
                new = dataclasses.replace(op, table=np.resize(med, groups) if groups > 1 else med[:1])
        m = dataclasses.replace(m, ops=(*m.ops[:k], new, *m.ops[k + 1 :]))
    return load(to_bytes(m))


def frames(m: Model, n: int, seed: int) -> np.ndarray:
    t = 1 if m.static_input else m.T
    return np.random.default_rng(seed).integers(0, 256, (n, t, *m.input.shape), dtype=np.uint8)


def assert_same(m: Model, x: np.ndarray, source=None, check_spiking: bool = True) -> None:
    from edgesnn.export.onnx_step import run_onnx_batch

    ref = run_batch(m, x)
    got = run_onnx_batch(m if source is None else source, x)
    assert got.logits.dtype == np.int32 and np.array_equal(got.logits, ref.logits)
    assert np.array_equal(got.predicted, ref.predicted)
    assert np.array_equal(got.spike_counts, ref.spike_counts)
    assert len(got.final_state) == len(ref.final_state)
    for a, b in zip(got.final_state, ref.final_state, strict=True):
        assert a.dtype == np.int32 and np.array_equal(a, b)
    if check_spiking:  # the test means something only if every LIF spikes, but not everywhere
        sizes = np.array([x.shape[0] * m.T * np.prod(s.shape[1:]) for s in ref.final_state])
        totals = ref.spike_counts.sum(axis=0)
        assert np.all(totals > 0) and np.all(totals < sizes), (totals, sizes)


def chain_model(bits: int = 8, T: int = 4) -> Model:
    """u8 3x3 conv (pad 1) -> LIF -> maxpool -> spike 1x1 conv -> LIF (tau 3) -> spike 3x3 stride 2 -> LIF."""
    net = Net(1, 2, 10, 10)
    s = net.lif(net.conv(0, 6, 3, pad=1, bits=bits))
    s = net.maxpool(s, 3, 2, pad=1)
    s = net.lif(net.conv(s, 5, 1, bits=bits), leak_mul=21845)
    s = net.lif(net.conv(s, 4, 3, stride=2, pad=1, bits=bits), leak_mul=50000)
    m = net.model(s, T, bits=bits)
    return calibrate(m, frames(m, 4, 0))


@needs_onnx
@pytest.mark.parametrize("bits", [4, 8, 16])
def test_chain_matches_reference_for_every_weight_width(bits: int) -> None:
    m = chain_model(bits)
    assert_same(m, frames(m, 4, 0))
    assert_same(m, frames(m, 3, 7))  # inputs the thresholds were not calibrated on


@needs_onnx
@pytest.mark.parametrize("T", [1, 16])
def test_spike_conv_7x7_stride_and_time_steps(T: int) -> None:
    net = Net(2, 1, 12, 12)
    s = net.lif(net.conv(0, 4, 3, pad=1))
    s = net.lif(net.conv(s, 4, 7, stride=2, pad=3, bits=16), leak_mul=65536)
    s = net.lif(net.conv(s, 3, 1), leak_mul=12345)
    m = net.model(s, T, bits=16)
    m = calibrate(m, frames(m, 3, 1))
    assert_same(m, frames(m, 3, 1))


@needs_onnx
@pytest.mark.parametrize("mode", list(LogicMode))
def test_logic_residuals(mode: LogicMode) -> None:
    net = Net(3, 2, 8, 8)
    a = net.lif(net.conv(0, 4, 3, pad=1))
    b = net.lif(net.conv(a, 4, 3, pad=1))
    s = net.logic(b, a, mode)
    s = net.lif(net.conv(s, 3, 1))
    m = net.model(s, 4)
    m = calibrate(m, frames(m, 3, 2))
    assert_same(m, frames(m, 3, 2))


@needs_onnx
def test_static_input_is_one_frame_repeated() -> None:
    net = Net(4, 2, 8, 8)
    s = net.lif(net.conv(0, 4, 3, pad=1, static=True))
    s = net.lif(net.conv(s, 4, 3, stride=2))
    m = net.model(s, 4, static=True)
    m = calibrate(m, frames(m, 3, 3))
    x = frames(m, 3, 3)
    assert x.shape[1] == 1
    assert_same(m, x)
    assert_same(m, x[:, 0])  # [N, C, H, W] is accepted too


@needs_onnx
def test_ties_negative_membranes_and_int16_saturation() -> None:
    """Hand-set currents: U exactly at threshold, odd negative currents (floor, not truncation), a 16-bit
    state pushed past both clamps, and a spike decided on the unclamped U."""
    net = Net(5, 1, 3, 3)
    net.buffers.append(Buffer(BufferKind.CURRENT, 6, 3, 3))
    zero = np.zeros((1, 1, 1, 6), np.int64)
    bias = [200, 199, -3, -200001, 100001, 70000]
    net.ops.append(Conv(0, 1, zero, bias))
    thr32 = np.array([100, 100, 7, 1, 2**30, 52000])
    a = net.lif(1, thresholds=thr32)
    b = net.lif(1, state_bits=16, thresholds=thr32)
    c = net.lif(1, leak_mul=21845, thresholds=thr32)
    d = net.lif(1, leak_mul=1, thresholds=np.ones(6, np.int64))  # the smallest leak: (I - H) >> 16
    s = net.logic(net.logic(net.logic(a, b, LogicMode.OR), c, LogicMode.OR), d, LogicMode.OR)
    m = load(to_bytes(net.model(s, 6)))
    x = frames(m, 2, 4)
    assert_same(m, x, check_spiking=False)
    ref = run(m, x[0])
    assert ref.final_state[1].min() == -32768 and ref.final_state[1].max() == 32767  # the clamp acted
    assert ref.final_state[0].min() < -32768  # the int32 state goes past it
    assert ref.spike_counts.min() > 0


@needs_onnx
@pytest.mark.parametrize("dim", list(AttnDim))
@pytest.mark.parametrize("kind", list(AttnKind))
def test_attention_sequence_graph(dim: AttnDim, kind: AttnKind) -> None:
    net = Net(6 + int(dim), 2, 6, 6)
    s = net.lif(net.conv(0, 4, 3, pad=1))
    s = net.lif(net.attn(net.conv(s, 4, 3, pad=1), dim, kind, T=4))
    m = net.model(s, 4)
    m = calibrate(m, frames(m, 3, 5))
    x = frames(m, 3, 5)
    assert_same(m, x)
    # the attention is not trivial: several MA levels are used, the IA gate is both open and shut
    op = m.ops[3]
    score = attn_score(op, run_batch(m, x, trace=True).traces[2].astype(np.int64).transpose(0, 1, 3, 4, 2))
    if kind == AttnKind.MA:
        assert len(np.unique(np.searchsorted(op.table, score, side="right"))) >= 3
    else:
        thr = op.table[0] if dim == AttnDim.S else op.table.reshape((-1, 1, 1, 1) if dim == AttnDim.T else -1)
        assert 0 < np.mean(score >= thr) < 1
    from edgesnn.export.onnx_step import SEQUENCE, to_onnx

    props = {p.key: p.value for p in to_onnx(m).metadata_props}
    assert props["edgesnn.graph"] == SEQUENCE


@needs_onnx
@pytest.mark.parametrize("build", [lambda: chain_model(16), "attn"])
def test_checker_and_simplified_model_agree(build, tmp_path: Path) -> None:
    import onnx

    from edgesnn.export.onnx_step import run_onnx, save_onnx, to_onnx

    if build == "attn":
        net = Net(9, 1, 6, 6)
        s = net.lif(net.attn(net.conv(0, 3, 3, pad=1), AttnDim.C, AttnKind.MA, T=3))
        m = net.model(s, 3)
        m = calibrate(m, frames(m, 2, 6))
    else:
        m = build()
    raw = to_onnx(m)
    onnx.checker.check_model(raw, full_check=True)
    assert raw.opset_import[0].version >= 17
    path = tmp_path / "model.onnx"
    simplified = save_onnx(m, path)
    onnx.checker.check_model(simplified, full_check=True)
    x = frames(m, 2, 8)
    assert_same(m, x, source=simplified, check_spiking=False)
    assert_same(m, x, source=path, check_spiking=False)
    esnn = tmp_path / "model.esnn"
    esnn.write_bytes(to_bytes(m))
    one = run_onnx(esnn, x[0])
    ref = run(m, x[0])
    assert np.array_equal(one.logits, ref.logits) and one.predicted == ref.predicted


@needs_onnx
def test_step_graph_interface() -> None:
    """A causal model gives one step: frame + states in, states + accumulator + per-step counts out."""
    import onnxruntime as ort

    from edgesnn.export.onnx_step import STEP, to_onnx

    m = chain_model()
    proto = to_onnx(m)
    props = {p.key: p.value for p in proto.metadata_props}
    assert props["edgesnn.graph"] == STEP
    assert json.loads(props["edgesnn.readout_bias"]) == m.ops[-1].bias.tolist()
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    ins = {i.name: i for i in session.get_inputs()}
    outs = {o.name for o in session.get_outputs()}
    assert set(ins) == {"input", "state_0", "state_1", "state_2", "logits_in"}
    assert ins["input"].type == "tensor(uint8)" and ins["input"].shape[1:] == [2, 10, 10]
    assert ins["state_1"].type == "tensor(int32)" and ins["state_1"].shape[1:] == [5, 5, 5]
    assert outs == {"state_0_out", "state_1_out", "state_2_out", "logits_out", "spike_counts"}
    # one step from zero state equals the reference with T = 1
    x = frames(m, 2, 9)[:, :1]
    feeds = {k: np.zeros((2, *v.shape[1:]), np.int32) for k, v in ins.items() if k.startswith("state")}
    feeds |= {"input": x[:, 0], "logits_in": np.repeat(m.ops[-1].bias[None], 2, axis=0)}
    step = dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds), strict=True))
    ref = run_batch(dataclasses.replace(m, T=1), x)
    assert np.array_equal(step["logits_out"], ref.logits)
    assert np.array_equal(step["spike_counts"], ref.spike_counts)


@needs_onnx
def test_floor_shift_on_negative_int64() -> None:
    import onnx
    import onnxruntime as ort

    from edgesnn.export.onnx_ops import GraphBuilder

    values = np.array(
        [-(2**62) + 1, -(2**40) - 3, -65537, -65536, -65535, -3, -2, -1, 0, 1, 65535, 65536, 2**62 - 1]
    )
    for shift in (0, 1, 15, 16, 40, 62):
        g = GraphBuilder()
        out = g.floor_shift("x", shift)
        g.nodes.append(onnx.helper.make_node("Identity", [out], ["y"]))
        tp = onnx.TensorProto
        graph = onnx.helper.make_graph(
            g.nodes,
            "shift",
            [onnx.helper.make_tensor_value_info("x", tp.INT64, [values.size])],
            [onnx.helper.make_tensor_value_info("y", tp.INT64, [values.size])],
            initializer=g.initializers,
        )
        model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)])
        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        assert np.array_equal(session.run(None, {"x": values})[0], values >> shift), shift


@needs_onnx
def test_conv_refused_when_int32_partial_sums_are_not_provably_exact() -> None:
    from edgesnn.export.onnx_ops import INT32_LIMIT, conv_bound
    from edgesnn.export.onnx_step import to_onnx

    net = Net(10, 4096, 3, 3)
    s = net.lif(net.conv(0, 1, 3))
    m = load(to_bytes(net.model(s, 1)))
    assert conv_bound(m.ops[0], 255) >= INT32_LIMIT and conv_bound(m.ops[0], 1) < INT32_LIMIT
    with pytest.raises(ValueError, match=r"op 0 \(CONV\).*2\^31"):
        to_onnx(m)


@pytest.mark.parametrize("missing", ["onnx", "onnxruntime", "onnxsim"])
def test_missing_dependency_message(missing: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from edgesnn.export import onnx_step

    real_import = builtins.__import__

    def fake_import(name: str, *args, **kwargs):
        if name == missing or name.startswith(missing + "."):
            raise ImportError(f"No module named '{missing}'", name=missing)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    net = Net(11, 1, 4, 4)
    m = net.model(net.lif(net.conv(0, 2, 1)), 1)
    with pytest.raises(ImportError, match=r"pip install 'edgesnn\[onnx\]'"):
        onnx_step.to_onnx(m, simplify=True)


def _vectors() -> list[Path]:
    return sorted(p.parent for p in VECTORS.glob("*/model.esnn")) if VECTORS.is_dir() else []


@needs_onnx
@pytest.mark.skipif(not _vectors(), reason="no conformance vectors in export/vectors/v1")
def test_every_conformance_vector_replays_bit_exactly() -> None:
    from edgesnn.export.onnx_step import run_onnx

    for d in _vectors():
        m = load(d / "model.esnn")
        t = 1 if m.static_input else m.T
        x = np.fromfile(d / "input.bin", np.uint8).reshape(t, *m.input.shape)
        got = run_onnx(d / "model.esnn", x)
        assert np.array_equal(got.logits, np.fromfile(d / "logits.bin", "<i4")), d.name
        assert np.array_equal(got.spike_counts, np.fromfile(d / "spike_counts.bin", "<u4")), d.name
        state = np.concatenate([s.ravel() for s in got.final_state])
        assert np.array_equal(state, np.fromfile(d / "final_state.bin", "<i4")), d.name
