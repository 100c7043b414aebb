"""``QATNet``: a spiking ResNet whose forward pass computes exactly the integers of its ``.esnn`` export.

The graph comes from the exporter's own ``capture`` (so pruned blocks, OR/AND/IAND residuals, SynA
attention and the optional stem max-pool are handled, and unsupported layers are refused with the
exporter's message);
parameters are the live float tensors of the wrapped network, quantized on every forward as
``edgesnn export`` would quantize them (``edgesnn.qat.quant``). BatchNorm is frozen: its running
statistics are folded and never updated; gamma and beta still train through the fold.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import torch
from torch import nn

from edgesnn.export import ir
from edgesnn.export.capture import capture
from edgesnn.export.errors import ExportError
from edgesnn.format.registry import OpTable
from edgesnn.models.attention import Attention
from edgesnn.models.config import ModelConfig
from edgesnn.models.layers import Readout
from edgesnn.models.residual import connect
from edgesnn.neurons.lif import LIF
from edgesnn.qat import layers
from edgesnn.qat.attention import attention, quantize_attention_module
from edgesnn.qat.errors import QATError
from edgesnn.qat.quant import QuantConv, conv_abs_max, quantize_conv, quantize_readout

WEIGHT_BITS = (4, 8, 16)


@dataclass(frozen=True)
class IntOutput:
    """Integer outputs of a batch, as the reference returns them: logits int64 [B, classes] and the
    spike count of every LIF op in graph order, int64 [B, num_lif]."""

    logits: torch.Tensor
    spike_counts: torch.Tensor
    logit_scale: float


@dataclass(frozen=True)
class _Step:
    node: ir.Node
    inputs: tuple[str, ...]
    output: str | None
    bn: str | None = None  # the BatchNorm folded into a conv step
    per_tensor: bool = False  # a conv feeding attention: one weight scale (as the exporter chooses)


def _steps(graph: ir.Graph) -> list[_Step]:
    steps: list[_Step] = []
    nodes = list(graph.nodes)
    i = 0
    while i < len(nodes):
        node = nodes[i]
        if isinstance(node.op, ir.Conv):
            bn = nodes[i + 1] if i + 1 < len(nodes) else None
            if bn is None or not isinstance(bn.op, ir.BatchNorm) or bn.inputs != (node.output,):
                raise QATError(f"{node.name}: QAT needs a BatchNorm directly after every conv")
            consumers = graph.consumers(bn.output or "")
            per_tensor = any(isinstance(n.op, ir.Attention) for n in consumers)
            steps.append(_Step(node, node.inputs, bn.output, bn.name, per_tensor))
            i += 2
            continue
        if isinstance(node.op, ir.Attention) and not any(
            s.output == node.inputs[0] and s.per_tensor for s in steps
        ):
            raise QATError(f"{node.name}: attention must follow a conv + BatchNorm")
        if type(node.op) not in STEPS:
            runs = ", ".join(STEPS.supported())
            raise QATError(f"{node.name}: QAT cannot run a {type(node.op).__name__} op (it runs {runs})")
        steps.append(_Step(node, node.inputs, node.output))
        i += 1
    return steps


class QATNet(nn.Module):
    """Wraps ``net`` (a ``SpikingResNet``, possibly with pruned shortcuts); ``forward`` returns real-valued
    logits (integer logits x logit scale) for the loss, ``run_int`` the exact integer outputs."""

    def __init__(self, net: nn.Module, weight_bits: int = 8, static_input: bool = True) -> None:
        super().__init__()
        if weight_bits not in WEIGHT_BITS:
            raise QATError(f"weight bits must be one of {WEIGHT_BITS}, got {weight_bits}")
        try:
            graph = capture(net.eval(), static_input=static_input)
        except ExportError as exc:
            raise QATError(str(exc)) from None
        self.net = net
        self.config = getattr(net, "config", None)
        self.weight_bits = weight_bits
        self.static_input = static_input
        self.input_scale_num = graph.input_scale_num
        self.lif_names = tuple(n.name for n in graph.nodes if isinstance(n.op, ir.Lif))
        self._shapes = {name: t.shape for name, t in graph.tensors.items()}
        self._steps = _steps(graph)

    def _input(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != (4 if self.static_input else 5):
            kind = "a static [B, C, H, W] image" if self.static_input else "[T, B, C, H, W] frames"
            raise QATError(f"input {tuple(x.shape)}: this QAT model takes {kind}")
        num = self.input_scale_num
        q = torch.round(x.detach() * num)
        if not self.training and (not torch.equal(q / num, x) or q.min() < 0 or q.max() > 255):
            raise QATError(f"inputs are not u8 / {num} values: the integer model cannot see them")
        return q.clamp(0, 255).double()

    def _execute(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        config = cast(ModelConfig, self.net.config)  # capture refused a net without one
        run = _Run(self, config.T, {"input": self._input(x)})
        for step in self._steps:
            out = STEPS.of(step.node.op)(step, [run.values[t] for t in step.inputs], run)
            if run.readout is not None:
                return (*run.readout, run.counts)
            if step.output is not None:
                run.values[step.output] = out  # type: ignore[assignment]
        raise QATError("the graph has no readout")  # capture guarantees one; kept for type checkers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits, scale, _ = self._execute(x)
        return logits * scale

    @torch.no_grad()
    def run_int(self, x: torch.Tensor) -> IntOutput:
        was = self.training
        self.eval()
        try:
            logits, scale, counts = self._execute(x)
        finally:
            self.train(was)
        return IntOutput(logits.long(), torch.stack(counts, 1).long(), float(scale))


@dataclass
class _Run:
    """One pass of a QATNet: tensor values, each conv's quantization (the units later ops work in), the
    attention inputs' magnitude bound, LIF spike counts, and (integer logits, logit scale) once read out."""

    qat: QATNet
    T: int
    values: dict[str, torch.Tensor]
    units: dict[str, QuantConv] = field(default_factory=dict)
    x_max: dict[str, int] = field(default_factory=dict)
    counts: list[torch.Tensor] = field(default_factory=list)
    readout: tuple[torch.Tensor, torch.Tensor] | None = None


# capture's op type -> (step, its input tensors, the pass) -> its output tensor (the READOUT sets run.readout)
STEPS: OpTable[Callable[[_Step, list[torch.Tensor], _Run], torch.Tensor | None]] = OpTable("QAT")


@STEPS.register(ir.Conv)
def _conv(step: _Step, args: list[torch.Tensor], run: _Run) -> torch.Tensor:
    op, net = step.node.op, run.qat.net
    assert isinstance(op, ir.Conv)
    # capture names every node after its module: these are the modules that gave the conv and its BN
    conv = cast(nn.Conv2d, net.get_submodule(step.node.name))
    bn = cast(nn.BatchNorm2d, net.get_submodule(step.bn or ""))
    scale = run.qat.input_scale_num if step.inputs[0] == "input" else None
    q = quantize_conv(conv, bn, run.qat.weight_bits, scale, step.per_tensor)
    y = layers.conv(q, args[0], op.stride, op.pad)
    out = y.expand(run.T, *y.shape) if y.dim() == 4 else y
    run.units[step.output or ""] = q
    if step.per_tensor:
        run.x_max[step.output or ""] = conv_abs_max(q, scale or 1)
    return out


@STEPS.register(ir.Attention)
def _attention(step: _Step, args: list[torch.Tensor], run: _Run) -> torch.Tensor:
    x = step.inputs[0]
    module = cast(Attention, run.qat.net.get_submodule(step.node.name))
    unit = float(run.units[x].unit[0])
    qa = quantize_attention_module(module, unit, run.qat._shapes[x], run.T, run.x_max[x])
    run.units[step.output or ""] = run.units[x]
    return attention(qa, args[0])


@STEPS.register(ir.Lif)
def _lif(step: _Step, args: list[torch.Tensor], run: _Run) -> torch.Tensor:
    params = cast(LIF, run.qat.net.get_submodule(step.node.name)).params
    out = layers.lif(args[0], run.units[step.inputs[0]], params)
    run.counts.append(out.detach().sum(dim=(0, 2, 3, 4)))
    return out


@STEPS.register(ir.MaxPool)
def _maxpool(step: _Step, args: list[torch.Tensor], run: _Run) -> torch.Tensor:
    op = step.node.op
    assert isinstance(op, ir.MaxPool)
    pool = nn.functional.max_pool2d(args[0].flatten(0, 1), op.kernel, op.stride, op.pad)
    return pool.reshape(*args[0].shape[:2], *pool.shape[1:])


@STEPS.register(ir.Logic)
def _logic(step: _Step, args: list[torch.Tensor], run: _Run) -> torch.Tensor:
    op = step.node.op
    assert isinstance(op, ir.Logic)
    return connect(op.mode, args[0], args[1])


@STEPS.register(ir.Readout)
def _readout(step: _Step, args: list[torch.Tensor], run: _Run) -> None:
    fc = cast(Readout, run.qat.net.get_submodule(step.node.name)).fc
    _, _, _, h, w = args[0].shape
    qr = quantize_readout(fc, run.qat.weight_bits, run.T * h * w)
    run.readout = (layers.readout(qr, args[0]), qr.logit_scale)
    return None


def qat_model_of(model: nn.Module, payload: dict | None, static: bool) -> QATNet | None:
    """The checkpoint's QAT model (integer semantics of its export) when it was QAT-fine-tuned, else None."""
    qat = ((payload or {}).get("training") or {}).get("qat")
    if not isinstance(qat, dict):
        return None
    return QATNet(model, int(qat.get("weight_bits", 8)), static).eval()


def int_net_for_export(model: nn.Module, weight_bits: int, static_input: bool) -> QATNet:
    """The integer model the exporter prunes a QAT checkpoint on (``export_model(int_model=...)``): the
    ``QATNet`` in eval mode, its ``QATError`` raised as ``ExportError``."""
    try:
        return QATNet(model, weight_bits, static_input).eval()
    except QATError as exc:
        raise ExportError(str(exc)) from None
