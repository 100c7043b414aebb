"""Natural pruning: find the SEW shortcuts whose LIF never fires on calibration data and remove them.

A shortcut is *dead* when its LIF output is exactly zero on every calibration sample and time step, and
*nearly dead* when it fires, but at a rate below a threshold. Dead shortcuts can be removed without changing
anything only where g(x, 0) is known (``SILENT_SHORTCUT``):

    OR   x + 0 - x*0 = x   -> the block becomes its backbone (identity on the backbone output)
    ADD  x + 0       = x   -> the block becomes its backbone (identity)
    AND  x * 0       = 0   -> the block outputs zeros (its backbone need not run)
    IAND (1 - x) * 0 = 0   -> the block outputs zeros (its backbone need not run)

Nearly dead shortcuts are reported, never removed here: removing them changes outputs, so the caller
decides (see ``edgesnn.analysis.pruning_check.removal_effect`` for the accuracy change).

Shortcuts are named by module path (``stages.0.block.shortcut``) and numbered from 1 in forward order,
as the paper's "shortcut 1, 2, 3" (Tables III/IV).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import nn

from edgesnn.analysis.errors import AnalysisError
from edgesnn.analysis.monitor import FiringMonitor, measure_firing
from edgesnn.models.blocks import SEWBlock
from edgesnn.models.residual import Connect

#: What a SEW block computes when its shortcut is silent: "identity" (the backbone output) or "zero".
SILENT_SHORTCUT: dict[Connect, str] = {
    Connect.OR: "identity",
    Connect.ADD: "identity",
    Connect.AND: "zero",
    Connect.IAND: "zero",
}

DEFAULT_NEAR_DEAD = 0.01  # firing rate below which a live shortcut is reported as nearly dead


@dataclass(frozen=True)
class ShortcutInfo:
    index: int  # 1-based, forward order ("shortcut 1")
    name: str  # module path of the shortcut unit, e.g. "stages.0.block.shortcut"
    block: str  # module path of the SEW block
    connect: str  # residual function of the block
    lif: str  # module path of the shortcut's LIF (the layer the firing monitor reports)
    gate: str | None  # module path of its IA gate neuron, if the shortcut has IA attention


def list_shortcuts(model: nn.Module) -> list[ShortcutInfo]:
    """Every spiking shortcut of the model (SEW blocks), in forward order; pruned ones are left out."""
    out: list[ShortcutInfo] = []
    for path, m in model.named_modules():
        if isinstance(m, SEWBlock):
            name = f"{path}.shortcut"
            att = m.shortcut.attention
            has_gate = att is not None and getattr(att, "gate", None) is not None
            gate = f"{name}.attention.gate" if has_gate else None
            out.append(ShortcutInfo(len(out) + 1, name, path, m.connect.value, f"{name}.lif", gate))
    return out


@dataclass(frozen=True)
class ShortcutFiring:
    shortcut: ShortcutInfo
    spikes: float  # total spikes of the shortcut LIF over the calibration set
    rate: float  # spikes / (elements over all steps and samples)
    gate_rate: float | None  # fraction of open IA gate entries, if gated
    status: str  # "dead", "nearly dead" or "alive"


@dataclass(frozen=True)
class PruningReport:
    shortcuts: tuple[ShortcutFiring, ...]
    samples: int
    near_dead_threshold: float

    @property
    def dead(self) -> list[str]:
        """Names of the shortcuts that never fired: safe to remove where ``SILENT_SHORTCUT`` applies."""
        return [s.shortcut.name for s in self.shortcuts if s.status == "dead"]

    @property
    def near_dead(self) -> list[str]:
        return [s.shortcut.name for s in self.shortcuts if s.status == "nearly dead"]

    def label(self) -> str:
        """Paper style: "all shortcuts", "shortcut 1,3" or "none"."""
        dead = [s.shortcut.index for s in self.shortcuts if s.status == "dead"]
        if not dead:
            return "none"
        if len(dead) == len(self.shortcuts):
            return "all shortcuts"
        return "shortcut " + ",".join(map(str, dead))

    def to_dict(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "near_dead_threshold": self.near_dead_threshold,
            "label": self.label(),
            "dead": self.dead,
            "near_dead": self.near_dead,
            "shortcuts": [
                {
                    "index": s.shortcut.index,
                    "name": s.shortcut.name,
                    "lif": s.shortcut.lif,
                    "gate": s.shortcut.gate,
                    "connect": s.shortcut.connect,
                    "spikes": s.spikes,
                    "rate": s.rate,
                    "gate_rate": s.gate_rate,
                    "status": s.status,
                }
                for s in self.shortcuts
            ],
        }


def find_dead_shortcuts(
    model: nn.Module,
    calib_batches: Sequence[torch.Tensor],
    near_dead_threshold: float = DEFAULT_NEAR_DEAD,
) -> PruningReport:
    """Measure every shortcut LIF (eval mode) over ``calib_batches`` and classify it."""
    if not calib_batches:
        raise AnalysisError("no calibration data: natural pruning is decided on measured firing")
    return classify_shortcuts(model, measure_firing(model, calib_batches), near_dead_threshold)


def classify_shortcuts(
    model: nn.Module, mon: FiringMonitor, near_dead_threshold: float = DEFAULT_NEAR_DEAD
) -> PruningReport:
    """Classify the shortcuts of ``model`` from a firing measurement already taken on it."""
    if near_dead_threshold < 0:
        raise AnalysisError(f"near-dead threshold must be >= 0, got {near_dead_threshold}")
    rows = []
    for sc in list_shortcuts(model):
        st = mon.stats.get(sc.lif)
        if st is None or st.elements == 0:
            raise AnalysisError(f"{sc.lif} never ran on the calibration data")
        gate_rate = mon.stats[sc.gate].rate if sc.gate else None
        if st.spikes == 0:
            status = "dead"
        elif st.rate < near_dead_threshold:
            status = "nearly dead"
        else:
            status = "alive"
        rows.append(ShortcutFiring(sc, st.spikes, st.rate, gate_rate, status))
    samples = max((s.samples for s in mon.stats.values() if s.role != "gate"), default=0)
    return PruningReport(tuple(rows), samples, near_dead_threshold)


class PrunedSEWBlock(nn.Module):
    """A SEW block whose shortcut was removed: g(backbone(x), 0) per ``SILENT_SHORTCUT``.

    ``effect="identity"`` (OR, ADD) returns the backbone output; ``effect="zero"`` (AND, IAND) returns
    zeros of the block's output shape without running the backbone.
    """

    def __init__(self, block: SEWBlock, name: str) -> None:
        super().__init__()
        self.backbone = block.backbone
        self.connect = block.connect
        self.effect = SILENT_SHORTCUT[block.connect]
        self.removed = name
        conv = block.shortcut.conv_bn.conv
        self._out_channels = conv.out_channels
        # ConvBN pads by an int (kernel // 2), never by "same"/"valid"
        self._geometry = (conv.kernel_size, conv.stride, cast(tuple[int, ...], conv.padding))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.effect == "identity":
            return self.backbone(x)
        (kh, kw), (sh, sw), (ph, pw) = self._geometry
        h, w = x.shape[-2:]
        shape = (*x.shape[:-3], self._out_channels, (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1)
        return x.new_zeros(shape)

    def extra_repr(self) -> str:
        return f"connect={self.connect.value}, shortcut removed ({self.removed}): {self.effect}"


def remove_shortcuts(model: nn.Module, names: Iterable[str]) -> nn.Module:
    """A deep copy of ``model`` in which the named shortcuts (``stages.i.block.shortcut``) are not evaluated.

    The original is untouched. Removing a shortcut that fires changes the outputs: check with
    ``verify_pruning`` (dead ones) or ``removal_effect`` (nearly dead ones).
    """
    wanted = list(dict.fromkeys(names))
    known = {s.name: s for s in list_shortcuts(model)}
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise AnalysisError(f"no such shortcut(s) {unknown}; the model has {sorted(known) or 'none'}")
    pruned = copy.deepcopy(model)
    for name in wanted:
        parent_path, _, attr = known[name].block.rpartition(".")
        parent = pruned.get_submodule(parent_path) if parent_path else pruned
        block = getattr(parent, attr)
        setattr(parent, attr, PrunedSEWBlock(block, name))
    return pruned


def pruned_shortcuts(model: nn.Module) -> list[str]:
    """Names of the shortcuts removed from ``model`` by ``remove_shortcuts``."""
    return [m.removed for m in model.modules() if isinstance(m, PrunedSEWBlock)]
