"""Memory plan: the exporter's RAM figure is exactly the C runtime's arena (esnn_arena_required) for the
emitted blob, on every conformance vector, on small graphs and on the demo-size model; plus the fit check."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from edgesnn.devices import load_profile
from edgesnn.export.capture import capture
from edgesnn.export.emit import layer_major, to_blob
from edgesnn.export.errors import ExportError
from edgesnn.export.passes.bounds import analyse_bounds
from edgesnn.export.passes.fold_bn import fold_batchnorm
from edgesnn.export.passes.memory import (
    BUFFER_SLOT,
    OP_SLOT,
    check_fit,
    fused_static,
    micropython_ram,
    pack_code,
    pack_words,
    plan_arena,
    plan_memory,
)
from edgesnn.export.passes.quantize import quantize
from edgesnn.reference import parse
from edgesnn.runtime.c import CRuntime
from tests.export.nets import tiny_model

VECTOR_DIR = Path(__file__).resolve().parents[2] / "export" / "vectors" / "v1"
VECTORS = sorted(VECTOR_DIR.glob("*/model.esnn"))


def _graph(**overrides):
    return analyse_bounds(quantize(fold_batchnorm(capture(tiny_model(**overrides))), 8))[0]


def test_time_major_plan_by_hand() -> None:
    g = _graph()
    assert not layer_major(g)
    plan = plan_memory(g, 1234)
    assert plan.schedule == "time-major" and plan.flash_bytes == 1234
    stem, stem_lif = plan.layers[0], plan.layers[1]
    model = parse(to_blob(g))
    # the static stem runs fused with its LIF over all T: no current plane, no state, T steps of spikes, a
    # uint32 word per pixel per step, or T-packed where that makes the arena smaller (4 channels take 4 bits
    # a step: a pixel's T = 2 steps in one word; the test builds' plan packs whatever the rules allow)
    assert fused_static(model) == {model.ops[1].out}
    assert stem.output_bytes == 0 and stem_lif.state_bytes == 0
    arena = plan_arena(model)
    words = pack_words(g.T, 4) if model.ops[1].out in arena.packed else g.T
    assert stem_lif.output_bytes == 28 * 28 * 4 * words
    assert model.ops[1].out in plan_arena(model, every_stream=True).packed and pack_words(g.T, 4) == 1
    # the plain plan (ESNN_OPT_REFERENCE): an int32 current for one step and one membrane per neuron
    bits = g.nodes[1].op.state_bits
    plain = plan_arena(model, final_state=True, reference=True)
    assert plain.buffer_bytes[model.ops[0].out] == 4 * 28 * 28 * 4
    assert any(it.name == "state 1" and it.bytes == 4 * 28 * 28 * bits // 8 for it in plain.items)
    assert arena.fixed_bytes >= OP_SLOT * len(model.ops) + BUFFER_SLOT * len(model.buffers)
    # time-major: every LIF state lives for the whole sample, never shared
    for it in plain.items:
        if it.name.startswith("state"):
            assert (it.first, it.last) == (0, len(model.ops) - 1)
    assert plan.peak_ram_bytes == arena.total_bytes >= max(r.live_bytes for r in plan.layers)


def test_t_packed_layout() -> None:
    """A step of a T-packed buffer takes the next power of two >= its channels in bits (pack_code is 1 + its
    log2), so 32 / bits steps share a word."""
    assert [pack_code(c) for c in (1, 2, 3, 4, 5, 8, 9, 16)] == [1, 2, 3, 3, 4, 4, 5, 5]
    assert [pack_words(4, c) for c in (1, 8, 16)] == [1, 1, 2]
    assert [pack_words(8, 8), pack_words(9, 8), pack_words(33, 1), pack_words(16, 16)] == [2, 3, 2, 8]


def test_attention_input_stored_or_recomputed_and_weighted_in_place() -> None:
    g = _graph(attention="T")
    plan = plan_memory(g, 0)
    assert layer_major(g) and plan.schedule == "layer-major"
    model = parse(to_blob(g))
    k = next(k for k, op in enumerate(model.ops) if type(op).__name__ == "Attn")
    cur, out = model.ops[k].in0, model.ops[k].out
    lean, plain = plan_arena(model), plan_arena(model, reference=True)
    # plain (ESNN_OPT_REFERENCE): the ATTN alone over all T steps, its input current stored for all T
    assert k in plain.segments.solo and plain.buffer_bytes[cur] == g.T * 4 * 28 * 28 * 4
    # lean: its input conv recomputed (a segment from the conv on), one step of current
    assert k in lean.segments.recompute and k - 1 in lean.segments.first
    assert lean.buffer_bytes[cur] <= 4 * 28 * 28 * 4 < plain.buffer_bytes[cur]
    att = next(r for r in plan.layers if r.kind == "qattention")
    assert att.output_bytes == lean.buffer_bytes[out]
    # either way the ATTN output shares its input's storage: no item of its own
    for arena in (lean, plain):
        assert not [it for it in arena.items if it.name == f"buffer {out}"]


@pytest.mark.parametrize("path", VECTORS, ids=[p.parent.name for p in VECTORS])
def test_plan_equals_c_arena_on_vectors(rt: CRuntime, path: Path) -> None:
    blob = path.read_bytes()
    assert plan_arena(parse(blob)).total_bytes == rt.validate(blob).arena_bytes
    for final_state in (False, True):
        for reference in (False, True):
            want = rt.arena_bytes(blob, final_state=final_state, reference=reference)
            assert plan_arena(parse(blob), final_state, reference).total_bytes == want


@pytest.mark.parametrize("attention", ["none", "T", "C", "S"])
def test_exporter_peak_equals_c_arena(rt: CRuntime, attention: str) -> None:
    g = _graph(attention=attention)
    blob = to_blob(g)
    assert plan_memory(g, len(blob)).peak_ram_bytes == rt.validate(blob).arena_bytes


def test_demo_model_peak_equals_c_arena(rt: CRuntime) -> None:
    """The demo topology (Fashion-MNIST preset, width 1/8, SynA-C, T=4) through the exporter's passes."""
    from edgesnn.models.config import preset
    from edgesnn.models.resnet import build_model

    torch.manual_seed(0)
    net = build_model(preset("fashion-mnist", width=0.125, T=4, attention="C")).eval()
    g = analyse_bounds(quantize(fold_batchnorm(capture(net, static_input=True)), 8))[0]
    blob = to_blob(g)
    plan, need = plan_memory(g, len(blob)), rt.validate(blob).arena_bytes
    print(f"\ndemo w1/8 SynA-C T4: exporter peak RAM {plan.peak_ram_bytes} B, esnn_arena_required {need} B")
    assert layer_major(g) and plan.peak_ram_bytes == need


def test_fit_check_names_required_and_available() -> None:
    plan = plan_memory(_graph(), 600_000)
    check_fit(plan, load_profile("host"))
    stm32 = load_profile("stm32f411-nucleo")  # 512 KiB flash less what the profile reserves for firmware
    avail = stm32.model_flash_bytes
    msg = rf"^the model does not fit stm32f411-nucleo: flash 600000 B required, {avail} B available$"
    with pytest.raises(ExportError, match=msg):
        check_fit(plan, stm32)
    peak = plan.peak_ram_bytes
    tight = replace(load_profile("stm32f411-nucleo"), ram_bytes=peak - 1, reserved_ram_bytes=0)
    with pytest.raises(ExportError, match=rf"RAM {peak} B required, {peak - 1} B available; flash"):
        check_fit(plan, tight)


def test_micropython_profile_is_checked_with_the_micropython_heap() -> None:
    from edgesnn.export.micropython_memory import flash_bytes, heap_bytes

    g = _graph()
    blob = to_blob(g)
    plan = plan_memory(g, len(blob))
    assert plan.micropython_heap_bytes == heap_bytes(blob, board=True)
    assert plan.micropython_flash_bytes == flash_bytes(len(blob))
    # a core without a shipped esnn_native (xtensa): the viper kernels' heap, one buffer per tensor
    pico = replace(load_profile("rp2040-pico"), core="xtensa-lx7")
    heap, avail = plan.micropython_heap_bytes, pico.model_ram_bytes
    assert micropython_ram(plan, pico) == (heap, "MicroPython heap (viper kernels)")
    assert plan.peak_ram_bytes < avail < heap
    viper = r"MicroPython heap \(viper kernels\)"
    with pytest.raises(ExportError, match=rf"{viper} {heap} B required, {avail} B"):
        check_fit(plan, pico)
    check_fit(plan, replace(pico, ram_bytes=heap, reserved_ram_bytes=0))
    tight = replace(pico, ram_bytes=heap - 1, reserved_ram_bytes=0)
    msg = rf"^the model does not fit rp2040-pico: {viper} {heap} B required, {heap - 1}"
    with pytest.raises(ExportError, match=msg):
        check_fit(plan, tight)
    roomy_c = replace(tight, runtime="c")  # the C arena is far smaller: C profiles keep their own figures
    assert plan.peak_ram_bytes < heap - 1
    check_fit(plan, roomy_c)


def test_micropython_profile_with_esnn_native_is_checked_with_the_c_arena() -> None:
    """The Pico's MicroPython loads the shipped armv6m esnn_native: its heap is the C runtime's lean arena,
    the blob, the board's buffers and the module's code, far below the viper kernels' figure."""
    from edgesnn.export.micropython_memory import native_code_bytes, native_heap_bytes

    g = _graph()
    blob = to_blob(g)
    plan = plan_memory(g, len(blob))
    model = parse(blob)
    native = native_heap_bytes(model, plan.peak_ram_bytes, len(blob), board=True)
    assert plan.micropython_native_heap_bytes == native
    pico = load_profile("rp2040-pico")
    code = native_code_bytes(pico.core)
    assert code > 10_000  # the shipped armv6m module
    heap, what = micropython_ram(plan, pico)
    assert heap == plan.micropython_native_heap_bytes + code and "esnn_native armv6m" in what
    assert heap < plan.micropython_heap_bytes
    assert plan.micropython_native_heap_bytes < plan.peak_ram_bytes + len(blob) + 24 * 1024
    check_fit(plan, replace(pico, ram_bytes=heap, reserved_ram_bytes=0))
    with pytest.raises(ExportError, match=r"MicroPython heap \(esnn_native armv6m, \d+ B code\)"):
        check_fit(plan, replace(pico, ram_bytes=heap - 1, reserved_ram_bytes=0))


def test_splits_make_a_causal_graph_smaller_than_one_time_major_segment() -> None:
    """plan.c choose_splits: the layer_splits vector's lean plan (three segments) takes less arena than the
    same graph run as one time-major segment (every LIF state alive at once), and a graph whose later ops
    read the input frames is never split after them (esnn_step would have no frame for them)."""
    from edgesnn.export.passes.memory import Segments, _plan

    model = parse((VECTOR_DIR / "layer_splits" / "model.esnn").read_bytes())
    plan = plan_arena(model)
    assert len(plan.segments.first) >= 3
    one = _plan(model, Segments(frozenset({0}), frozenset(), frozenset()), False, False)
    assert plan.total_bytes < one[0] + one[1]
    edge = parse((VECTOR_DIR / "edge_ties_negative_saturation" / "model.esnn").read_bytes())
    last_input = max(k for k, op in enumerate(edge.ops) if op.in0 == 0)
    assert not [k for k in plan_arena(edge).segments.first if 0 < k <= last_input]


def test_board_arena_budget_spends_the_ram_a_board_leaves_on_speed() -> None:
    """memory.board_arena_budget (what board_config's ARENA_BUDGET gets from `flash`): the RAM for the
    model less the protocol's I/O buffers, in 8-byte words, never above what the fastest plan uses; None
    when that is no more than the lean plan (the board then runs the lean plan)."""
    from edgesnn.export.passes.memory import FASTEST, board_arena_budget, board_io_bytes

    model = parse((VECTOR_DIR / "attn_recompute_and_store" / "model.esnn").read_bytes())
    lean, fastest = plan_arena(model), plan_arena(model, budget=FASTEST)
    io = board_io_bytes(model)
    assert lean.segments.recompute and not fastest.segments.recompute
    assert board_arena_budget(model, lean.total_bytes + io) is None
    assert board_arena_budget(model, 1 << 24) == -(-fastest.total_bytes // 8) * 8
    middle = board_arena_budget(model, (lean.total_bytes + fastest.total_bytes) // 2 + io + 5)
    assert middle is not None and middle % 8 == 0 and lean.total_bytes < middle < fastest.total_bytes
    assert plan_arena(model, budget=middle).total_bytes <= middle
