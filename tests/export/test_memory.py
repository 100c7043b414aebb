"""Memory plan (schedule, buffer reuse, peak) and the device fit check."""

from __future__ import annotations

from dataclasses import replace

import pytest

from edgesnn.devices import load_profile
from edgesnn.export.capture import capture
from edgesnn.export.emit import layer_major
from edgesnn.export.errors import ExportError
from edgesnn.export.passes.bounds import analyse_bounds
from edgesnn.export.passes.fold_bn import fold_batchnorm
from edgesnn.export.passes.memory import check_fit, plan_memory
from edgesnn.export.passes.quantize import quantize
from tests.export.nets import tiny_model


def _graph(**overrides):
    return analyse_bounds(quantize(fold_batchnorm(capture(tiny_model(**overrides))), 8))[0]


def test_time_major_plan_by_hand() -> None:
    g = _graph()
    assert not layer_major(g)
    plan = plan_memory(g, 1234)
    assert plan.schedule == "time-major" and plan.flash_bytes == 1234
    stem, stem_lif = plan.layers[0], plan.layers[1]
    assert stem.output_bytes == 4 * 28 * 28 * 4  # int32 current, one step
    bits = g.nodes[1].op.state_bits
    assert stem_lif.output_bytes == 4 * 28 * 28 // 8 and stem_lif.state_bytes == 4 * 28 * 28 * bits // 8
    states = sum(r.state_bytes for r in plan.layers)
    # while the stem runs: input frame (784 B), stem current, every LIF state and the readout accumulators
    assert stem.live_bytes == 784 + 4 * 28 * 28 * 4 + states
    assert plan.peak_ram_bytes == max(r.live_bytes for r in plan.layers)


def test_attention_forces_layer_major_with_all_steps_buffered() -> None:
    g = _graph(attention="T")
    plan = plan_memory(g, 0)
    assert layer_major(g) and plan.schedule == "layer-major"
    att = next(r for r in plan.layers if r.kind == "qattention")
    c, h, w = 4, 28, 28
    assert att.output_bytes == g.T * c * h * w * 4
    lif = next(r for r in plan.layers if r.name == "stem.lif")
    assert lif.output_bytes == g.T * c * h * w // 8


def test_fit_check_names_required_and_available() -> None:
    plan = plan_memory(_graph(), 600_000)
    check_fit(plan, load_profile("host"))
    msg = r"^the model does not fit stm32f411-nucleo: flash 600000 B required, 475136 B available$"
    with pytest.raises(ExportError, match=msg):
        check_fit(plan, load_profile("stm32f411-nucleo"))
    peak = plan.peak_ram_bytes
    tight = replace(load_profile("stm32f411-nucleo"), ram_bytes=peak - 1, reserved_ram_bytes=0)
    with pytest.raises(ExportError, match=rf"RAM {peak} B required, {peak - 1} B available; flash"):
        check_fit(plan, tight)
