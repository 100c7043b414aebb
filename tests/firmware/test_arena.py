"""Arena planning: buffers share storage after their last reader, one step per buffer except across ATTN
segments, LIF states only over their segment (the lean plan; ESNN_OPT_FINAL_STATE keeps them to the end).
The planned arena is exact (esnn_init accepts it and refuses one byte less), smaller than the unplanned
layout (esnn_arena_unplanned) on the demo-size topology, and every result stays bit-exact."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from edgesnn.reference import parse
from edgesnn.reference import run as reference_run
from edgesnn.runtime.c import CRuntime
from tests.firmware.conftest import VECTORS, meta
from tests.firmware.demo_model import demo_blob

IDS = [v.name for v in VECTORS]


def _u8(blob: bytes) -> ctypes.Array:
    return (ctypes.c_uint8 * len(blob)).from_buffer_copy(blob)


def unplanned(rt: CRuntime, blob: bytes) -> int:
    fn = rt.lib.esnn_arena_unplanned
    fn.argtypes = (ctypes.POINTER(ctypes.c_uint8), ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t))
    n = ctypes.c_size_t(0)
    assert fn(_u8(blob), len(blob), ctypes.byref(n)) == 0
    return n.value


def init_status(rt: CRuntime, blob: bytes, arena_len: int) -> tuple[int, int]:
    """esnn_init on an 8-aligned arena of exactly arena_len bytes: (status, esnn_arena_used)."""
    ctx = ctypes.create_string_buffer(rt.lib.esnn_ctx_size())
    arena = (ctypes.c_uint64 * (arena_len // 8 + 1))()
    code = rt.lib.esnn_init(ctx, _u8(blob), len(blob), arena, arena_len)
    return code, int(rt.lib.esnn_arena_used(ctx)) if code == 0 else 0


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_planned_arena_is_exact_and_never_larger(rt: CRuntime, vector):
    blob = (vector / "model.esnn").read_bytes()
    need = rt.validate(blob).arena_bytes
    assert 0 < need <= unplanned(rt, blob)
    assert init_status(rt, blob, need) == (0, need)
    assert rt.status_name(init_status(rt, blob, need - 8)[0]) == "ESNN_ERR_ARENA"


def test_plan_shares_storage_on_vectors(rt: CRuntime):
    saved = {v.name: unplanned(rt, b) - rt.validate(b).arena_bytes for v in VECTORS for b in [_blob(v)]}
    assert all(s >= 0 for s in saved.values())
    # every multi-layer vector frees something; LAYER_MAJOR ones keep only ATTN-crossing buffers at T steps
    assert sum(s > 0 for s in saved.values()) >= len(VECTORS) - 2, saved
    assert all(saved[v.name] > 0 for v in VECTORS if meta(v)["layer_major"] and meta(v)["T"] > 1), saved


def _blob(vector) -> bytes:
    return (vector / "model.esnn").read_bytes()


@pytest.fixture(scope="module", params=["none", "C"])
def demo(request: pytest.FixtureRequest) -> tuple[str, bytes]:
    blob, _ = demo_blob(request.param, calib=8)
    return request.param, blob


def test_demo_topology_arena_shrinks(rt: CRuntime, demo: tuple[str, bytes]):
    attention, blob = demo
    planned, before = rt.validate(blob).arena_bytes, unplanned(rt, blob)
    print(
        f"\ndemo fashion-mnist w1/8 T4 attention {attention}: "
        f"arena {before} B without reuse, {planned} B planned"
    )
    assert planned < before
    if attention == "none":  # time-major: buffers are one step and shared, LIF states dominate what is left
        assert planned < 0.75 * before
    else:  # LAYER_MAJOR with ATTN: only ATTN-crossing buffers keep T steps
        assert planned < 0.5 * before
    assert init_status(rt, blob, planned) == (0, planned)


def test_demo_topology_bit_exact(rt: CRuntime, demo: tuple[str, bytes]):
    attention, blob = demo
    m = parse(blob)
    rng = np.random.default_rng(3)
    frames = 1 if m.static_input else m.T
    for scale in (255, 40):  # dense and sparse-ish inputs
        x = rng.integers(0, scale + 1, (frames, *m.input.shape), dtype=np.uint8)
        want = reference_run(blob, x)
        for kernels in ("fast", "reference"):
            got = rt.run(blob, x, kernels=kernels, time_major=attention == "none" and kernels == "fast")
            np.testing.assert_array_equal(got.logits, want.logits)
            np.testing.assert_array_equal(got.spike_counts, want.spike_counts)
            for a, b in zip(got.final_state, want.final_state, strict=True):
                np.testing.assert_array_equal(a, b.reshape(-1))
            lean = rt.run(blob, x, kernels=kernels, final_state=False)
            np.testing.assert_array_equal(lean.logits, want.logits)
            np.testing.assert_array_equal(lean.spike_counts, want.spike_counts)


def final_state_status(rt: CRuntime, blob: bytes, options: int) -> str:
    """Status of esnn_final_state(lif 0) after one zero-input run in a plan made with `options`."""
    need = rt.arena_bytes(blob, final_state=bool(options))
    ctx = ctypes.create_string_buffer(rt.lib.esnn_ctx_size())
    arena = (ctypes.c_uint64 * (need // 8 + 1))()
    assert rt.lib.esnn_init_ex(ctx, _u8(blob), len(blob), arena, need, options) == 0
    x = np.zeros(rt.lib.esnn_frame_size(ctx) * rt.lib.esnn_input_frames(ctx), np.uint8)
    assert rt.lib.esnn_run(ctx, x.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8)), x.size) == 0
    n = rt.lib.esnn_state_size(ctx, 0)
    out = np.empty(n, np.int32)
    code = rt.lib.esnn_final_state(ctx, 0, out.ctypes.data_as(ctypes.POINTER(ctypes.c_int32)), n)
    return rt.status_name(code)


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_lean_plan_bit_exact_and_final_state_on_request(rt: CRuntime, vector):
    """The lean plan (what a board runs) gives the vector's logits and spike counts in exactly its arena; it
    is never larger than the ESNN_OPT_FINAL_STATE plan, and final states need that option."""
    from tests.firmware.conftest import expected

    blob, want = _blob(vector), expected(vector)
    x = np.fromfile(vector / "input.bin", dtype=np.uint8)
    lean = rt.run(blob, x, final_state=False)
    np.testing.assert_array_equal(lean.logits, want["logits"])
    np.testing.assert_array_equal(lean.spike_counts, want["spike_counts"])
    assert lean.final_state == ()
    assert rt.arena_bytes(blob) <= rt.arena_bytes(blob, final_state=True) <= unplanned(rt, blob)
    assert final_state_status(rt, blob, 1) == "ESNN_OK"
    assert final_state_status(rt, blob, 0) == "ESNN_ERR_STATE"


def test_lean_plan_saves_the_states_of_finished_segments(rt: CRuntime, demo: tuple[str, bytes]):
    attention, blob = demo
    lean, keep = rt.arena_bytes(blob), rt.arena_bytes(blob, final_state=True)
    print(f"\ndemo attention {attention}: lean arena {lean} B, with final states {keep} B")
    # time-major ("none"): one segment, so only the fused first layer's state is saved; with ATTN every
    # finished segment's states too
    assert lean < (keep if attention == "none" else 0.9 * keep)
    code = rt.lib.esnn_arena_required_ex(_u8(blob), len(blob), 8, ctypes.byref(ctypes.c_size_t()))
    assert rt.status_name(code) == "ESNN_ERR_ARG"  # unknown option bits


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_schedule_choices_as_the_vector_records(rt: CRuntime, vector):
    """Each vector records the lean plan's choices: the CURRENT buffers stored as int16 planes, the LIF
    outputs of fused static first layers, the ATTN ops whose input conv is recomputed and those that store
    it, the ops that begin a segment, the convs that stream, the T-packed spike buffers. The Python plan
    makes exactly those choices and its arena equals the C runtime's, so a C plan that silently fell back
    (int32, conv then LIF, stored instead of recomputed, one time-major segment instead of splits, a word
    per step instead of T-packed) fails here; test_streams.py checks the C plan's own T-packed buffers."""
    from edgesnn.export.passes.memory import choose_segments, fused_static, half_planes, plan_arena

    blob, m = _blob(vector), meta(vector)
    model = parse(blob)
    assert half_planes(model) == set(m["int16_planes"])
    assert fused_static(model) == set(m["fused_static"])
    seg = choose_segments(model)
    assert (seg.recompute, seg.solo) == (set(m["attn_recomputed"]), set(m["attn_stored"]))
    if vector.name == "attn_recompute_and_store":
        assert m["attn_recomputed"] and m["attn_stored"]
    assert seg.first == set(m["segment_starts"])
    if vector.name == "layer_splits":  # made for it: a causal graph the lean plan runs in three segments
        assert not m["layer_major"] and len(m["segment_starts"]) >= 3
    plan = plan_arena(model)
    assert plan.streams.convs == set(m["streamed_convs"])
    assert plan.packed == set(m["packed_spikes"])
    if vector.name == "row_streams":  # made for it: convs streamed into a LIF, a 5x5 and a stride-2 window
        assert len(m["streamed_convs"]) >= 3
    if vector.name == "t_packed_spikes":  # made for it: the u8 stream's LIF stages rows of T-packed spikes
        assert 0 in m["streamed_convs"] and len(m["packed_spikes"]) == 2 and len(m["segment_starts"]) == 3
    assert plan.total_bytes == rt.arena_bytes(blob)
    if vector.name.startswith("int16_planes_"):  # the vectors made for it: conv->LIF and conv->ATTN->LIF
        assert len(m["int16_planes"]) >= 4 and m["fused_static"]
    if m["int16_planes"] or m["fused_static"]:
        assert rt.arena_bytes(blob) < rt.arena_bytes(blob, reference=True)


def test_reference_kernels_need_the_int32_plan(rt: CRuntime):
    blob = next(_blob(v) for v in VECTORS if meta(v)["int16_planes"])
    ctx = ctypes.create_string_buffer(rt.lib.esnn_ctx_size())
    need = rt.arena_bytes(blob)
    arena = (ctypes.c_uint64 * (need // 8 + 1))()
    assert rt.lib.esnn_init_ex(ctx, _u8(blob), len(blob), arena, need, 0) == 0
    assert rt.status_name(rt.lib.esnn_set_kernels(ctx, 1)) == "ESNN_ERR_STATE"
    assert rt.lib.esnn_set_kernels(ctx, 0) == 0


@pytest.mark.parametrize("T", [1, 33, 40])
def test_fused_first_layer_any_number_of_steps(rt: CRuntime, T: int):
    """The fused static first layer writes one spike word per step for any T (the vectors stop at 16): 32
    first-layer channels, so that T steps of spikes stay below the current plane + state it saves."""
    from edgesnn.export.passes.memory import fused_static
    from edgesnn.export.vectors import Builder
    from edgesnn.reference import to_bytes

    b = Builder(np.random.default_rng(T), T=T, c=1, h=6, w=6, static=True, density=0.6)
    x = b.lif(b.conv(0, 32, 3))
    b.readout(b.lif(b.conv(x, 8, 3, stride=2)))
    blob = to_bytes(b.to_model())
    assert fused_static(parse(blob))
    want = reference_run(blob, b.input)
    for final_state in (False, True):
        got = rt.run(blob, b.input, final_state=final_state)
        np.testing.assert_array_equal(got.logits, want.logits)
        np.testing.assert_array_equal(got.spike_counts, want.spike_counts)
        for a, s in zip(got.final_state, want.final_state if final_state else (), strict=True):
            np.testing.assert_array_equal(a, s.reshape(-1))


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_a_budget_buys_speed_within_it(rt: CRuntime, vector):
    """ESNN_OPT_FAST: the plan spends the arena it is given on speed (attention inputs stored, whole current
    planes) and never more than it: C and the Python mirror agree at every budget, the results stay bit-exact,
    and with room for everything nothing is recomputed or streamed."""
    from edgesnn.export.passes.memory import plan_arena

    blob, model = _blob(vector), parse(_blob(vector))
    x = np.fromfile(vector / "input.bin", dtype=np.uint8)
    want = np.fromfile(vector / "logits.bin", dtype="<i4")
    lean = rt.arena_bytes(blob)
    for budget in (lean, lean + 2048, 2 * lean, 1 << 24):
        plan = plan_arena(model, budget=budget)
        assert rt.arena_bytes(blob, budget=budget) == plan.total_bytes <= budget
        np.testing.assert_array_equal(rt.run(blob, x, final_state=False, budget=budget).logits, want)
    roomy = plan_arena(model, budget=1 << 24)
    assert not roomy.segments.recompute and not roomy.streams.convs
    assert plan_arena(model, budget=lean).total_bytes == lean  # the lean plan's own size buys nothing


def test_the_demo_model_trades_arena_for_instructions(rt: CRuntime):
    """The shipped SynA-C model exported as `edgesnn export --prune` does: its lean plan fits 32 KiB; a bigger
    budget stores attention inputs and keeps whole current planes (fewer instructions; python
    bench/bench_runtime.py measures them)."""
    from edgesnn.export.passes.memory import plan_arena

    blob, origin = demo_blob("C", calib=32, prune=True)
    assert origin.startswith("trained checkpoint")
    model = parse(blob)
    lean = plan_arena(model)
    assert lean.total_bytes == rt.arena_bytes(blob) <= 32 * 1024
    assert lean.streams.convs and lean.segments.recompute
    roomy = plan_arena(model, budget=64 * 1024)
    assert roomy.total_bytes == rt.arena_bytes(blob, budget=64 * 1024) <= 64 * 1024
    assert len(roomy.segments.recompute) < len(lean.segments.recompute) and not roomy.streams.convs
