"""Firing-rate monitors: forward hooks on every LIF layer and every IA gate neuron.

Counts are exact sums of spikes (floats of 0/1 summed in float64), so "dead" means a sum of exactly 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from edgesnn.neurons.lif import LIF, SpikeGate


def layer_role(name: str) -> str:
    """'gate' for IA gate neurons, 'shortcut' for the LIF on a residual shortcut, else 'backbone'."""
    if name.endswith("attention.gate"):
        return "gate"
    if ".shortcut." in f".{name}." and name.endswith("lif"):
        return "shortcut"
    return "backbone"


def spiking_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Every neuron layer in forward-definition order, with its module path."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, LIF | SpikeGate)]


@dataclass
class LayerStats:
    name: str
    role: str
    spikes: float = 0.0
    elements: int = 0
    samples: int = 0
    per_step: torch.Tensor | None = None  # spikes summed per time step (LIF layers)
    per_channel: torch.Tensor | None = None  # spikes summed per channel (conv LIF layers)
    neurons: int = 0  # neurons per sample (elements per step per sample for LIF layers)

    @property
    def rate(self) -> float:
        return self.spikes / self.elements if self.elements else 0.0

    @property
    def dead(self) -> bool:
        return self.elements > 0 and self.spikes == 0.0

    @property
    def spikes_per_sample(self) -> float:
        return self.spikes / self.samples if self.samples else 0.0

    @property
    def spikes_per_neuron(self) -> float:
        """Spikes of one neuron over one whole sample (all T steps), averaged over neurons and samples."""
        return self.spikes / (self.neurons * self.samples) if self.neurons and self.samples else 0.0


@dataclass
class FiringMonitor:
    """``with FiringMonitor(model) as mon: model(x)`` then ``mon.stats`` / ``mon.rates()``."""

    model: nn.Module
    stats: dict[str, LayerStats] = field(default_factory=dict)
    _handles: list = field(default_factory=list)

    def __enter__(self) -> FiringMonitor:
        for name, module in spiking_layers(self.model):
            self.stats[name] = LayerStats(name, layer_role(name))
            self._handles.append(module.register_forward_hook(self._hook(name)))
        return self

    def __exit__(self, *exc: object) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def _hook(self, name: str):
        def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            st = self.stats[name]
            out = output.detach()
            st.spikes += float(out.sum(dtype=torch.float64))
            st.elements += out.numel()
            batch = out.shape[1] if out.dim() >= 2 else 1
            st.samples += batch
            if isinstance(module, LIF):
                st.neurons = out[0, 0].numel()
                steps = out.flatten(1).sum(1, dtype=torch.float64)
                st.per_step = steps if st.per_step is None else st.per_step + steps
                if out.dim() == 5:
                    ch = out.sum(dim=(0, 1, 3, 4), dtype=torch.float64)
                    st.per_channel = ch if st.per_channel is None else st.per_channel + ch
            else:
                st.neurons = out[:, 0].numel()

        return hook

    def rates(self) -> dict[str, float]:
        return {n: s.rate for n, s in self.stats.items()}


@torch.no_grad()
def measure_firing(model: nn.Module, batches, train_mode: bool = False) -> FiringMonitor:
    """Run ``model`` over ``batches`` (iterable of inputs) in eval mode (or train mode, which uses and
    updates BN batch statistics) and return the filled monitor."""
    was_training = model.training
    model.train(train_mode)
    try:
        with FiringMonitor(model) as mon:
            for x in batches:
                model(x)
    finally:
        model.train(was_training)
    return mon
