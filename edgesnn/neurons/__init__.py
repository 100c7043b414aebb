"""Spiking neurons."""

from edgesnn.neurons.lif import (
    LIF,
    LIFCell,
    LIFParams,
    LIFState,
    SpikeGate,
    gate_from_rest,
    lif_multistep,
    lif_step,
    spike_fn,
)

__all__ = [
    "LIF",
    "LIFCell",
    "LIFParams",
    "LIFState",
    "SpikeGate",
    "gate_from_rest",
    "lif_multistep",
    "lif_step",
    "spike_fn",
]
