"""Capture: walk the model's own module structure into the IR (``edgesnn.export.ir``).

A registry maps each supported module type to a mapper ``(ctx, path, module, x) -> output tensor``; any
other module fails with its path, its type and the supported set. Types known to be outside format v1
(MS and Vanilla blocks, ADD residuals, input pooling) fail with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, cast

import numpy as np
import torch
from torch import nn

from edgesnn.analysis.pruning import PrunedSEWBlock
from edgesnn.export import ir
from edgesnn.export.errors import ExportError
from edgesnn.models.attention import Attention, AttentionDim, BottleneckMLP, SpatialScorer
from edgesnn.models.blocks import MSBlock, SEWBlock, VanillaBlock
from edgesnn.models.layers import ConvUnit, PreActUnit, Readout, SeqMaxPool
from edgesnn.models.resnet import SpikingResNet, Stage
from edgesnn.neurons.lif import LIF, LIFParams


class Capture:
    """Collects nodes and tensor shapes while the mappers walk the model."""

    def __init__(self, T: int, static_input: bool) -> None:
        self.T = T
        self.static_input = static_input
        self.nodes: list[ir.Node] = []
        self.tensors: dict[str, ir.Tensor] = {}

    def add(
        self, name: str, op: ir.Op, inputs: tuple[str, ...], kind: ir.TensorKind | None, shape=None
    ) -> str:
        out = None
        if kind is not None:
            out = (
                f"{name}:{kind}"
                if f"{name}:{kind}" not in self.tensors
                else f"{name}:{kind}:{len(self.nodes)}"
            )
            self.tensors[out] = ir.Tensor(out, kind, tuple(shape))
        self.nodes.append(ir.Node(name, op, inputs, out))
        return out or ""

    def shape(self, tensor: str) -> tuple[int, int, int]:
        return self.tensors[tensor].shape

    def visit(self, path: str, module: nn.Module, x: str) -> str:
        mapper = MAPPERS.get(type(module))
        if mapper is None:
            why = REJECTED.get(type(module))
            where = path or "<model>"
            if why:
                raise ExportError(f"{where} ({type(module).__name__}): not supported by .esnn v1: {why}")
            supported = ", ".join(sorted(t.__name__ for t in MAPPERS))
            raise ExportError(
                f"{where}: unsupported module type {type(module).__name__} (supported: {supported})"
            )
        return mapper(self, path, module, x)


def _arr(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float64)


def _join(path: str, child: str) -> str:
    return f"{path}.{child}" if path else child


def _lif_op(path: str, p: LIFParams) -> ir.Lif:
    if p.v_reset != 0.0:
        raise ExportError(f"{path}: v_reset = {p.v_reset}; .esnn v1 neurons reset to 0")
    return ir.Lif(p.v_threshold, p.v_reset, p.tau)


def map_sequence(ctx: Capture, path: str, module: nn.Module, x: str) -> str:
    for name, child in module.named_children():
        x = ctx.visit(_join(path, name), child, x)
    return x


def map_resnet(ctx: Capture, path: str, m: SpikingResNet, x: str) -> str:
    if m.input_pool is not None:
        raise ExportError(
            f"{_join(path, 'input_pool')} (AdaptiveAvgPool2d): not supported by .esnn v1: "
            "pool the input on the host"
        )
    for name in ("stem", "stem_pool", "features", "stages", "head_lif", "head"):
        child = getattr(m, name)
        if child is not None:
            x = ctx.visit(_join(path, name), child, x)
    return x


def map_conv_unit(ctx: Capture, path: str, m: ConvUnit, x: str) -> str:
    conv, bn = m.conv_bn.conv, m.conv_bn.bn
    if conv.groups != 1 or conv.dilation != (1, 1) or conv.padding_mode != "zeros":
        raise ExportError(
            f"{path}.conv_bn.conv: grouped, dilated or non-zero-padded convs are not in .esnn v1"
        )
    if (
        conv.kernel_size[0] != conv.kernel_size[1]
        or conv.stride[0] != conv.stride[1]
        or conv.padding[0] != conv.padding[1]
        or isinstance(conv.padding, str)  # "same"/"valid", refused by the line above; narrows the type
    ):
        raise ExportError(f"{path}.conv_bn.conv: non-square kernel, stride or padding is not in .esnn v1")
    if m.lif is None:
        raise ExportError(f"{path} (ConvUnit without LIF): a membrane-valued output is not in .esnn v1")
    k, s, p = conv.kernel_size[0], conv.stride[0], conv.padding[0]
    cin, h, w = ctx.shape(x)
    if cin != conv.in_channels:
        raise ExportError(f"{path}: expects {conv.in_channels} input channels, gets {cin}")
    shape = (conv.out_channels, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1)
    static = ctx.tensors[x].kind == "input" and ctx.static_input
    bias = None if conv.bias is None else _arr(conv.bias)
    y = ctx.add(
        f"{path}.conv_bn.conv", ir.Conv(_arr(conv.weight), bias, s, p, static), (x,), "current", shape
    )
    # BatchNorm2d's defaults (affine, track_running_stats), as ConvBN builds it
    assert bn.running_mean is not None and bn.running_var is not None
    bn_op = ir.BatchNorm(_arr(bn.weight), _arr(bn.bias), _arr(bn.running_mean), _arr(bn.running_var), bn.eps)
    y = ctx.add(f"{path}.conv_bn.bn", bn_op, (y,), "current", shape)
    if m.attention is not None:
        y = ctx.visit(f"{path}.attention", m.attention, y)
    return ctx.visit(f"{path}.lif", m.lif, y)


def map_attention(ctx: Capture, path: str, m: Attention, x: str) -> str:
    if m.dim is AttentionDim.S:
        w1, w2 = _arr(cast(SpatialScorer, m.scorer).conv.weight)[0], None  # [2, k, k]
    else:
        mlp = cast(BottleneckMLP, m.scorer)  # what Attention builds for dim T and C
        w1, w2 = _arr(mlp.fc1.weight), _arr(mlp.fc2.weight)
    gate = _lif_op(f"{path}.gate", m.gate.params) if m.kind.value == "IA" else None
    bias = None if m.gate_bias is None else _arr(m.gate_bias)
    op = ir.Attention(m.dim.value, m.kind.value, w1, w2, bias, gate)
    return ctx.add(path, op, (x,), "current", ctx.shape(x))


def map_lif(ctx: Capture, path: str, m: LIF, x: str) -> str:
    return ctx.add(path, _lif_op(path, m.params), (x,), "spikes", ctx.shape(x))


def map_maxpool(ctx: Capture, path: str, m: SeqMaxPool, x: str) -> str:
    pool = m.pool
    k, s, p = (v if isinstance(v, int) else v[0] for v in (pool.kernel_size, pool.stride, pool.padding))
    if pool.dilation not in (1, (1, 1)) or pool.ceil_mode:
        raise ExportError(f"{path}.pool: dilated or ceil-mode max-pooling is not in .esnn v1")
    c, h, w = ctx.shape(x)
    shape = (c, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1)
    return ctx.add(path, ir.MaxPool(k, s, p), (x,), "spikes", shape)


def map_sew_block(ctx: Capture, path: str, m: SEWBlock, x: str) -> str:
    if m.connect.value not in ("OR", "AND", "IAND"):
        raise ExportError(
            f"{path} (SEWBlock, connect={m.connect.value}): ADD residuals give non-binary spikes; "
            ".esnn v1 has OR/AND/IAND only"
        )
    a = ctx.visit(_join(path, "backbone"), m.backbone, x)
    b = ctx.visit(_join(path, "shortcut"), m.shortcut, x)
    if ctx.shape(a) != ctx.shape(b):
        raise ExportError(f"{path}: backbone {ctx.shape(a)} and shortcut {ctx.shape(b)} shapes differ")
    mode = cast(Literal["OR", "AND", "IAND"], m.connect.value)  # ADD refused above
    return ctx.add(_join(path, "connect"), ir.Logic(mode), (a, b), "spikes", ctx.shape(a))


def map_pruned_block(ctx: Capture, path: str, m: PrunedSEWBlock, x: str) -> str:
    if m.effect != "identity":
        raise ExportError(
            f"{path} (PrunedSEWBlock, {m.connect.value}): a block that outputs zeros is not in .esnn v1"
        )
    return ctx.visit(_join(path, "backbone"), m.backbone, x)


def map_stage(ctx: Capture, path: str, m: Stage, x: str) -> str:
    return ctx.visit(_join(path, "post"), m.post, ctx.visit(_join(path, "block"), m.block, x))


def map_readout(ctx: Capture, path: str, m: Readout, x: str) -> str:
    c = ctx.shape(x)[0]
    if m.fc.in_features != c:
        raise ExportError(f"{path}.fc: expects {m.fc.in_features} channels, gets {c}")
    bias = _arr(m.fc.bias) if m.fc.bias is not None else np.zeros(m.fc.out_features)
    ctx.add(path, ir.Readout(_arr(m.fc.weight), bias), (x,), None)
    return x


MAPPERS: dict[type, Callable[..., str]] = {
    SpikingResNet: map_resnet,
    nn.Sequential: map_sequence,
    nn.ModuleList: map_sequence,
    Stage: map_stage,
    SEWBlock: map_sew_block,
    PrunedSEWBlock: map_pruned_block,
    ConvUnit: map_conv_unit,
    Attention: map_attention,
    LIF: map_lif,
    SeqMaxPool: map_maxpool,
    Readout: map_readout,
}

REJECTED: dict[type, str] = {
    MSBlock: "MS blocks add membrane potentials (ADD residual); use block='sew', connect='OR'",
    VanillaBlock: "Vanilla blocks add currents before the neuron; use block='sew', connect='OR'",
    PreActUnit: "pre-activation (MS-ResNet) units output membrane values, not spikes",
    nn.AdaptiveAvgPool2d: "pool the input on the host",
}


def capture(model: nn.Module, static_input: bool | None = None) -> ir.Graph:
    """The IR of ``model`` (eval-mode parameters). ``static_input`` defaults to the dataset kind: a model
    with one input frame repeated over T (images) when ``T`` frames are not given."""
    cfg = getattr(model, "config", None)
    if cfg is None:
        raise ExportError(f"{type(model).__name__}: no .config; export needs a SpikingResNet")
    static = True if static_input is None else static_input
    for path, module in model.named_modules():  # name the block family before any of its pieces
        if type(module) in REJECTED:
            raise ExportError(
                f"{path} ({type(module).__name__}): not supported by .esnn v1: {REJECTED[type(module)]}"
            )
    ctx = Capture(cfg.T, static)
    h, w = cfg.input_size
    ctx.tensors["input"] = ir.Tensor("input", "input", (cfg.in_channels, h, w))
    with torch.no_grad():
        ctx.visit("", model, "input")
    readouts = [n for n in ctx.nodes if isinstance(n.op, ir.Readout)]
    if len(readouts) != 1 or ctx.nodes[-1] is not readouts[0]:
        raise ExportError("the model must end in exactly one readout (global average pool + FC)")
    scale = getattr(cfg, "input_scale_num", 255)
    return ir.Graph(tuple(ctx.nodes), ctx.tensors, cfg.T, cfg.num_classes, static, scale)
