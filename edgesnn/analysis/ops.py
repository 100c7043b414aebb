"""Operation counts and energy (paper Eq. 11), measured on data.

    E = E_MAC * N_MAC + E_AC * N_AC,   N_AC = sum over spike-driven layers of FLOPs * fr

Per operator layer (every Conv2d and Linear, plus the weighting multiply of each attention unit), per
sample and summed over the time steps that are actually evaluated:

- ``flops``: dense multiply-accumulates (zero padding included). A static image's first conv is computed
  once for all T steps, so it counts once; event frames count T times.
- ``input_rate``: measured fraction of non-zero input values (for spikes: the firing rate of the layer
  feeding it). For the readout FC it is the rate of the spikes entering the global average pool.
- MAC layers (``spike_flow``: encoder, attention, non-binary input) cost ``flops`` MACs; AC layers cost
  ``flops * input_rate`` accumulates — the synaptic operations (SOPs).

BN is folded into the convs and OR/max-pool are bitwise, so none of them is counted; LIF updates are not
counted either (Eq. 11 does not). E_MAC = 4.6 pJ and E_AC = 0.9 pJ are the 45 nm figures the paper uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import torch
from torch import nn

from edgesnn.analysis.errors import AnalysisError
from edgesnn.analysis.spike_flow import ATTENTION, ENCODER, SPIKES, input_kinds
from edgesnn.models.attention import Attention
from edgesnn.models.layers import Readout

E_MAC_PJ = 4.6
E_AC_PJ = 0.9


@dataclass(frozen=True)
class EnergyModel:
    e_mac_pj: float = E_MAC_PJ
    e_ac_pj: float = E_AC_PJ

    def __post_init__(self) -> None:
        if self.e_mac_pj < 0 or self.e_ac_pj < 0:
            raise AnalysisError(f"energies per operation must be >= 0, got {self.e_mac_pj}, {self.e_ac_pj}")


@dataclass(frozen=True)
class OpRow:
    name: str
    layer: str  # "conv", "fc" or "weighting" (attention's w * x)
    kind: str  # spike_flow kind: encoder, attention, spikes, non-binary
    reason: str
    flops: float  # dense MACs per sample over the evaluated steps
    input_rate: float

    @property
    def op(self) -> str:
        return "AC" if self.kind == SPIKES else "MAC"

    @property
    def macs(self) -> float:
        return self.flops if self.op == "MAC" else 0.0

    @property
    def acs(self) -> float:
        """Synaptic operations (SOPs): one accumulate per input spike and synapse."""
        return self.flops * self.input_rate if self.op == "AC" else 0.0

    @property
    def spike_driven(self) -> bool:
        return self.kind in (SPIKES, ENCODER, ATTENTION)


@dataclass(frozen=True)
class OpsReport:
    rows: tuple[OpRow, ...]
    samples: int
    energy_model: EnergyModel = field(default_factory=EnergyModel)

    @property
    def macs(self) -> float:
        return sum(r.macs for r in self.rows)

    @property
    def acs(self) -> float:
        return sum(r.acs for r in self.rows)

    @property
    def flops(self) -> float:
        return sum(r.flops for r in self.rows)

    @property
    def energy_pj(self) -> float:
        """Energy per sample in picojoules (Eq. 11)."""
        return self.energy_model.e_mac_pj * self.macs + self.energy_model.e_ac_pj * self.acs

    @property
    def non_spike_driven(self) -> list[str]:
        """Layers that must multiply because their input is not binary (e.g. after an ADD residual)."""
        return [r.name for r in self.rows if not r.spike_driven]

    def to_dict(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "e_mac_pj": self.energy_model.e_mac_pj,
            "e_ac_pj": self.energy_model.e_ac_pj,
            "flops": self.flops,
            "macs": self.macs,
            "acs": self.acs,
            "energy_pj": self.energy_pj,
            "non_spike_driven": self.non_spike_driven,
            "layers": [
                {
                    "name": r.name,
                    "layer": r.layer,
                    "kind": r.kind,
                    "op": r.op,
                    "reason": r.reason,
                    "flops": r.flops,
                    "input_rate": r.input_rate,
                    "macs": r.macs,
                    "acs": r.acs,
                }
                for r in self.rows
            ],
        }


@dataclass
class _Tally:
    flops: float = 0.0
    nonzero: float = 0.0
    elements: int = 0


def _dense_macs(module: nn.Module, out: torch.Tensor) -> float:
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        return float(out.numel()) * (module.in_channels // module.groups) * kh * kw
    return float(out.numel()) * cast(nn.Linear, module).in_features  # hooked: Conv2d and Linear only


def _count_input(t: _Tally, x: torch.Tensor) -> None:
    t.nonzero += float((x != 0).sum(dtype=torch.float64))
    t.elements += x.numel()


@torch.no_grad()
def count_ops(
    model: nn.Module, batches: Sequence[torch.Tensor], energy: EnergyModel | None = None
) -> OpsReport:
    """Run ``model`` (eval mode) over ``batches`` and count FLOPs, MACs, ACs and energy per sample."""
    if not batches:
        raise AnalysisError("no calibration data: operation counts are measured on data")
    kinds = input_kinds(model)
    ops: dict[str, _Tally] = {}
    rates: dict[str, _Tally] = {}
    weighting: dict[str, _Tally] = {}
    samples = [0]
    handles = []
    modules = dict(model.named_modules())
    readout_fc = {f"{n}.fc": n for n, m in modules.items() if isinstance(m, Readout)}

    def op_hook(name: str):
        def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            ops[name].flops += _dense_macs(module, output)
            if name not in readout_fc:
                _count_input(rates[name], inputs[0])

        return hook

    def readout_hook(fc_name: str):
        def hook(module: nn.Module, inputs: tuple) -> None:
            _count_input(rates[fc_name], inputs[0])

        return hook

    def weighting_hook(name: str):
        def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            weighting[name].flops += float(output.numel())
            _count_input(weighting[name], inputs[0])

        return hook

    def count_samples(module: nn.Module, inputs: tuple) -> None:
        x = inputs[0]
        samples[0] += x.shape[0] if x.dim() == 4 else x.shape[1]

    for name in kinds.kinds:
        ops[name], rates[name] = _Tally(), _Tally()
        handles.append(modules[name].register_forward_hook(op_hook(name)))
    for fc_name, readout in readout_fc.items():
        handles.append(modules[readout].register_forward_pre_hook(readout_hook(fc_name)))
    for name, m in modules.items():
        if isinstance(m, Attention):
            weighting[name] = _Tally()
            handles.append(m.register_forward_hook(weighting_hook(name)))
    handles.append(model.register_forward_pre_hook(count_samples))
    was = model.training
    model.eval()
    try:
        for x in batches:
            model(x)
    finally:
        model.train(was)
        for h in handles:
            h.remove()
    n = samples[0]
    if n == 0:
        raise AnalysisError("the calibration batches were empty")
    rows = []
    for name, t in ops.items():
        if t.flops == 0:
            continue  # never evaluated (e.g. behind a pruned shortcut)
        r = rates[name]
        layer = "fc" if isinstance(modules[name], nn.Linear) else "conv"
        rows.append(
            OpRow(
                name,
                layer,
                kinds.kinds[name],
                kinds.reasons[name],
                t.flops / n,
                r.nonzero / r.elements if r.elements else 0.0,
            )
        )
    for name, t in weighting.items():
        if t.flops:
            rate = t.nonzero / t.elements if t.elements else 0.0
            why = "attention weighting w * x"
            rows.append(OpRow(f"{name}.weighting", "weighting", ATTENTION, why, t.flops / n, rate))
    order = {name: float(i) for i, name in enumerate(modules)}
    for name in weighting:  # after the attention's own scoring layers
        order[f"{name}.weighting"] = max(v for k, v in order.items() if k.startswith(f"{name}.")) + 0.5
    rows.sort(key=lambda r: order[r.name])
    return OpsReport(tuple(rows), n, energy or EnergyModel())
