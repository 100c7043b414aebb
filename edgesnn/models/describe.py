"""A layer table for a config: module path, type, output shape per step, parameters."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from edgesnn.models.attention import Attention
from edgesnn.models.blocks import MSBlock, SEWBlock, VanillaBlock
from edgesnn.models.config import ModelConfig
from edgesnn.models.layers import Readout, SeqMaxPool
from edgesnn.models.resnet import build_model
from edgesnn.neurons.lif import LIF

_SHOWN = (
    nn.Conv2d,
    nn.BatchNorm2d,
    LIF,
    Attention,
    SeqMaxPool,
    nn.AdaptiveAvgPool2d,
    SEWBlock,
    VanillaBlock,
    MSBlock,
    Readout,
)


@dataclass
class LayerRow:
    name: str
    kind: str
    shape: tuple[int, ...]  # output shape of one sample at one time step
    params: int


def _kind(m: nn.Module) -> str:
    if isinstance(m, nn.Conv2d):
        k, s = m.kernel_size[0], m.stride[0]
        return f"Conv c{m.out_channels}k{k}s{s}"
    if isinstance(m, Attention):
        return f"{m.kind.value}-{m.dim.value} attention"
    if isinstance(m, SEWBlock):
        return f"{m.connect.value} residual"
    if isinstance(m, VanillaBlock | MSBlock):
        return "ADD residual"
    if isinstance(m, Readout):
        return "AvgPool + FC (mean over T)"
    return type(m).__name__


def _own_params(m: nn.Module) -> int:
    if isinstance(m, SEWBlock | VanillaBlock | MSBlock | Readout):
        return 0 if not isinstance(m, Readout) else sum(p.numel() for p in m.parameters())
    return sum(p.numel() for p in m.parameters())


def describe(config: ModelConfig) -> tuple[list[LayerRow], int]:
    """Rows in execution order and the total parameter count (one dummy sample, T=config.T)."""
    model = build_model(config).eval()
    rows: list[LayerRow] = []

    def hook(name: str):
        def fn(m: nn.Module, inp: tuple, out: torch.Tensor) -> None:
            shape = tuple(out.shape)
            per_sample = shape[1:] if len(shape) == 2 else shape[-3:] if len(shape) >= 4 else shape[2:]
            if isinstance(m, nn.Conv2d | nn.BatchNorm2d | nn.AdaptiveAvgPool2d):
                per_sample = shape[1:]
            rows.append(LayerRow(name, _kind(m), tuple(per_sample), _own_params(m)))

        return fn

    handles = [m.register_forward_hook(hook(n)) for n, m in model.named_modules() if isinstance(m, _SHOWN)]
    with torch.no_grad():
        model(torch.zeros(1, config.in_channels, *config.input_size))
    for h in handles:
        h.remove()
    return rows, sum(p.numel() for p in model.parameters())


def format_table(config: ModelConfig, rows: list[LayerRow], total: int) -> str:
    width = max(len(r.name) for r in rows)
    lines = [
        f"{config.label} — preset {config.name}, width {config.width}, T={config.T}, "
        f"input {config.in_channels}x{config.input_size[0]}x{config.input_size[1]}, "
        f"{config.num_classes} classes",
        f"{'layer':<{width}}  {'type':<28} {'output (per step)':<18} {'params':>10}",
    ]
    lines.append("-" * len(lines[1]))
    for r in rows:
        shape = "x".join(map(str, r.shape))
        lines.append(f"{r.name:<{width}}  {r.kind:<28} {shape:<18} {r.params:>10,}")
    lines.append("-" * len(lines[1]))
    lines.append(f"{'total parameters':<{width}}  {'':<28} {'':<18} {total:>10,}")
    return "\n".join(lines)
