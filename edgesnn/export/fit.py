"""The device fit check, first and fast, with a message that says what to change.

`precheck` needs only the float model (no calibration data): capture -> fold BN -> quantize -> bounds ->
blob -> memory plan, in well under a second. The model as it is gives the upper bound (pruning only ever
removes ops); with every SEW shortcut removed, the most `--prune` could do, the lower bound. When even the
lower bound does not fit, the export fails at once instead of after the minute of pruning and agreement
work. `check_exact` is the same check on the model really exported (after pruning), with the same message.

A failure is one line: the figures of `edgesnn.export.passes.memory.check_fit`, then what is live at the
peak of the C arena (by graph node name), then the changes that would make it fit with the bytes each
saves, each computed by planning the changed model: `--prune` at best, a smaller width (the same preset
built with random weights at 1/2, 1/4, 1/8 of the width), a smaller T (the same weights where shapes
allow), and `--ram-budget` for a board with more RAM free than its profile assumes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import torch
from torch import nn

from edgesnn.analysis.pruning import list_shortcuts, remove_shortcuts
from edgesnn.devices import DeviceProfile
from edgesnn.export import ir
from edgesnn.export.arena_notes import describe_peak, peak
from edgesnn.export.capture import capture
from edgesnn.export.emit import to_blob, to_model
from edgesnn.export.errors import ExportError
from edgesnn.export.passes.bounds import analyse_bounds
from edgesnn.export.passes.fold_bn import fold_batchnorm
from edgesnn.export.passes.memory import MemoryPlan, check_fit, micropython_ram, plan_memory
from edgesnn.export.passes.quantize import quantize

PRUNE_NOTE = "even with every shortcut removed (the most --prune can do)"


@dataclass(frozen=True)
class Planned:
    graph: ir.Graph
    plan: MemoryPlan


@dataclass(frozen=True)
class Chain:
    """How the model is exported: what every variant is planned with."""

    weight_bits: int = 8
    static: bool = True  # one input frame repeated over T (images), as the calibration data would say


def static_for(dataset: str, payload: dict | None) -> bool:
    """Whether the calibration data of `dataset` are static images (edgesnn.cli.analyze_cmd's layout:
    frame datasets and checkpoints with a recorded event contract give T frames)."""
    from edgesnn.data.registry import dataset_spec

    training = (payload or {}).get("training") or {}
    return not (dataset_spec(dataset).frames or ("input" in training and "binning" in training))


def plan_net(net: nn.Module, chain: Chain, removed: Sequence[str] = ()) -> Planned:
    """The memory plan of `net` with the shortcuts `removed`, through the exporter's own passes."""
    if removed:
        net = remove_shortcuts(net, removed)
    graph = capture(net.eval(), static_input=chain.static)
    graph = analyse_bounds(quantize(fold_batchnorm(graph), chain.weight_bits))[0]
    blob = to_blob(graph)
    return Planned(graph, plan_memory(graph, len(blob)))


def ram_of(plan: MemoryPlan, device: DeviceProfile) -> int:
    """The RAM figure check_fit compares for this device's runtime."""
    return micropython_ram(plan, device)[0] if device.runtime == "micropython" else plan.peak_ram_bytes


def _failure(plan: MemoryPlan, device: DeviceProfile) -> str | None:
    try:
        check_fit(plan, device)
    except ExportError as exc:
        return str(exc)
    return None


def precheck(net: nn.Module, device: DeviceProfile, chain: Chain, prune: bool) -> Planned:
    """Fail fast (ExportError, one line) when the model cannot fit `device` even after the best pruning;
    returns the unpruned plan (the upper bound)."""
    upper = plan_net(net, chain)
    failure = _failure(upper.plan, device)
    if failure is None:
        return upper
    shortcuts = [s.name for s in list_shortcuts(net)]
    if prune and shortcuts:
        lower = plan_net(net, chain, shortcuts)
        failure = _failure(lower.plan, device)
        if failure is None:
            return upper  # pruning might make it fit: the exact check follows the pruning
        raise ExportError(explain(failure, lower, device, net, chain, shortcuts, prune, PRUNE_NOTE))
    raise ExportError(explain(failure, upper, device, net, chain, (), prune))


def check_exact(
    planned: Planned, device: DeviceProfile, net: nn.Module, chain: Chain, removed: Sequence[str], prune: bool
) -> None:
    """The check on the model really exported (`net` before pruning, `removed` what pruning removed)."""
    failure = _failure(planned.plan, device)
    if failure is not None:
        raise ExportError(explain(failure, planned, device, net, chain, removed, prune))


def explain(
    failure: str,
    planned: Planned,
    device: DeviceProfile,
    net: nn.Module,
    chain: Chain,
    removed: Sequence[str],
    prune: bool,
    note: str = "",
) -> str:
    parts = [failure] + ([note] if note else [])
    if device.runtime != "micropython":  # the MicroPython heap is not the C arena: no peak to show
        names = [n.name for n in planned.graph.nodes]
        parts.append(describe_peak(peak(to_model(planned.graph)), names))
    fixes = options(planned, device, net, chain, removed, prune)
    if fixes:
        parts.append("to fit: " + "; ".join(fixes))
    return "; ".join(parts)


def options(
    planned: Planned,
    device: DeviceProfile,
    net: nn.Module,
    chain: Chain,
    removed: Sequence[str],
    prune: bool,
) -> list[str]:
    """The changes that would make the model fit, each with the bytes it saves (computed by planning)."""
    need = ram_of(planned.plan, device)
    out = []
    shortcuts = [s.name for s in list_shortcuts(net)]
    if not prune and shortcuts:
        lower = ram_of(plan_net(net, chain, shortcuts).plan, device)
        if lower < need:
            out.append(f"--prune saves at most {need - lower} B")
    cfg = getattr(net, "config", None)
    if cfg is not None:
        widths = [cfg.width / 2**i for i in (1, 2, 3)]
        out += _shrink(net, chain, device, removed, need, "width", widths)
        steps = sorted({max(1, cfg.T // 2**i) for i in (1, 2)} - {cfg.T}, reverse=True)
        out += _shrink(net, chain, device, removed, need, "T", steps)
    if need > device.model_ram_bytes:
        out.append(f"--ram-budget {need} if the board has that much RAM free for the model")
    return out


def _variant(net: nn.Module, field: str, value: float) -> nn.Module:
    """The same preset with one field changed: random weights (seeded, the global RNG untouched), then
    every parameter of `net` whose shape still matches (all of them when only T changes, bar T attention)."""
    from edgesnn.models.config import ModelConfig
    from edgesnn.models.resnet import build_model  # torch model zoo: only needed for a failure

    config = cast(ModelConfig, net.config)  # options() asks only for a net with a config
    with torch.random.fork_rng():
        torch.manual_seed(0)
        variant = build_model(config.with_(**{field: value}))
    own = variant.state_dict()
    same = {k: v for k, v in net.state_dict().items() if k in own and own[k].shape == v.shape}
    variant.load_state_dict(same, strict=False)
    return variant.eval()


def _shrink(
    net: nn.Module,
    chain: Chain,
    device: DeviceProfile,
    removed: Sequence[str],
    need: int,
    field: str,
    values: Sequence[float],
) -> list[str]:
    """The first of `values` for `field` at which the model fits, or, if none does, the one that needs the
    least RAM; nothing when that is no less than today's `need` (e.g. T = 1: nothing left to T-pack)."""
    current = getattr(net.config, field)
    tried = None
    for value in values:
        try:
            variant = _variant(net, field, value)
            gone = [s.name for s in list_shortcuts(variant) if s.name in set(removed)]
            plan = plan_net(variant, chain, gone).plan
        except Exception:  # a suggestion must never hide the failure it explains (e.g. too narrow to build)
            break
        this = (value, ram_of(plan, device), _failure(plan, device) is None)
        if tried is None or this[2] or this[1] < tried[1]:
            tried = this
        if this[2]:
            break
    if tried is None:
        return []
    value, ram, fits = tried
    if ram >= need:  # no help: not a fix worth naming
        return []
    what = "MicroPython heap" if device.runtime == "micropython" else "RAM"
    saving = f"{what} {ram} B, saves {need - ram} B"
    return [f"{field} {value:g} instead of {current:g} ({saving}{'' if fits else ', still too large'})"]
