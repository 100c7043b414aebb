"""The whole export: prune -> capture -> fold BN -> quantize -> bounds -> blob -> memory plan and device
fit -> float-vs-integer agreement and operation counts. Each stage reports through ``progress``.

The device fit is checked twice (edgesnn.export.fit): first, before the pruning, from the float model
alone (fails at once when even the best pruning cannot make it fit), then exactly on the exported model.

``int_model`` (a quantization-aware fine-tuned checkpoint, whose integer model is the one to keep exact;
pass ``edgesnn.qat.int_net_for_export``): dead shortcuts are decided and verified on the integer model that
it builds instead of the float one. The exporter does not import qat (which builds on the exporter)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from edgesnn.analysis.ops import OpsReport, count_ops
from edgesnn.devices import DeviceProfile
from edgesnn.export import ir
from edgesnn.export.agreement import Agreement, measure_agreement
from edgesnn.export.capture import capture
from edgesnn.export.emit import to_blob
from edgesnn.export.fit import Chain, Planned, check_exact, precheck
from edgesnn.export.passes.bounds import LayerBound, analyse_bounds
from edgesnn.export.passes.fold_bn import fold_batchnorm
from edgesnn.export.passes.memory import MemoryPlan, plan_memory
from edgesnn.export.passes.prune import IntModelOf, PruneResult, drop_dead_shortcuts, drop_dead_shortcuts_int
from edgesnn.export.passes.quantize import quantize

Batches = Sequence[tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class ExportResult:
    model_label: str
    graph: ir.Graph  # quantized, bounds checked
    blob: bytes
    weight_bits: int
    prune: PruneResult | None
    bounds: tuple[LayerBound, ...]
    plan: MemoryPlan
    device: DeviceProfile
    agreement: Agreement
    ops: OpsReport


def export_model(
    model: nn.Module,
    calib: Batches,
    device: DeviceProfile,
    weight_bits: int = 8,
    prune: bool = True,
    progress: Callable[[str], None] | None = None,
    int_model: IntModelOf | None = None,
) -> ExportResult:
    say = progress or (lambda stage: None)
    model = model.eval()
    inputs = [x for x, _ in calib]
    pruned = None
    static = inputs[0].dim() == 4 if inputs else True
    chain, original = Chain(weight_bits, static), model
    say("checking the device fit")
    precheck(model, device, chain, prune)
    if prune and int_model is not None:
        say(f"pruning dead shortcuts of the int{weight_bits} QAT model (verified on the calibration data)")
        model, pruned = drop_dead_shortcuts_int(model, inputs, weight_bits, static, int_model=int_model)
    elif prune:
        say("pruning dead shortcuts (verified on the calibration data)")
        model, pruned = drop_dead_shortcuts(model, inputs)
    say("capturing the graph")
    graph = capture(model, static_input=static)
    say(f"folding BatchNorm, quantizing to int{weight_bits}")
    graph, bounds = analyse_bounds(quantize(fold_batchnorm(graph), weight_bits))
    say("writing the blob")
    blob = to_blob(graph)
    plan = plan_memory(graph, len(blob))
    check_exact(Planned(graph, plan), device, original, chain, pruned.removed if pruned else (), prune)
    say("comparing the float and integer models on the calibration data")
    agreement = measure_agreement(model, blob, calib, graph.input_scale_num)
    say("counting operations")
    ops = count_ops(model, inputs)
    label = getattr(getattr(model, "config", None), "label", type(model).__name__)
    return ExportResult(label, graph, blob, weight_bits, pruned, tuple(bounds), plan, device, agreement, ops)
