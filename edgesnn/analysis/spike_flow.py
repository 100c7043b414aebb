"""Which operator layers are spike-driven? Decided from the network's structure, not from measured values.

Every Conv2d / Linear of a ``SpikingResNet`` gets one input kind:

    "encoder"     the first conv: it sees the image or event frames (MAC, Eq. 11's FL^1_conv)
    "attention"   a layer inside MA/IA attention scoring (MAC: real-valued pooled inputs)
    "spikes"      its input is binary by construction (AC: one accumulate per input spike)
    "non-binary"  its input can take values other than 0/1, e.g. the sum of an ADD residual (MAC: the
                  layer is not spike-driven — the paper's point against SEW-ResNet)

A measurement could mistake an ADD output for spikes when the two branches never coincide, so the kind is
propagated through the module types instead (a registry of flow rules, one per module type).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from torch import nn

from edgesnn.analysis.errors import AnalysisError
from edgesnn.analysis.pruning import PrunedSEWBlock
from edgesnn.models.attention import Attention
from edgesnn.models.blocks import MSBlock, SEWBlock, VanillaBlock
from edgesnn.models.layers import ConvBN, ConvUnit, PreActUnit, Readout, SeqMaxPool
from edgesnn.models.residual import KEEPS_SPIKES_BINARY
from edgesnn.models.resnet import SpikingResNet, Stage
from edgesnn.neurons.lif import LIF

ENCODER, ATTENTION, SPIKES, NON_BINARY = "encoder", "attention", "spikes", "non-binary"


@dataclass(frozen=True)
class Signal:
    """What flows between layers: binary spikes or not, and where the non-binary values come from."""

    binary: bool
    origin: str = ""


@dataclass
class InputKinds:
    kinds: dict[str, str] = field(default_factory=dict)  # op layer path -> kind
    reasons: dict[str, str] = field(default_factory=dict)  # op layer path -> human-readable why

    def add(self, name: str, kind: str, reason: str) -> None:
        self.kinds[name] = kind
        self.reasons[name] = reason


FlowRule = Callable[[nn.Module, str, Signal, InputKinds], Signal]
FLOW: dict[type, FlowRule] = {}
# a rule takes its own module type (flow looks rules up by type), so the decorator keeps the signature
_Rule = TypeVar("_Rule", bound=Callable[..., Signal])


def _rule(*types: type) -> Callable[[_Rule], _Rule]:
    def register(fn: _Rule) -> _Rule:
        for t in types:
            FLOW[t] = fn
        return fn

    return register


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def flow(module: nn.Module, path: str, sig: Signal, out: InputKinds) -> Signal:
    """Propagate ``sig`` through ``module`` (at ``path``), recording the input kind of each op layer."""
    rule = FLOW.get(type(module))
    if rule is None:
        raise AnalysisError(
            f"cannot tell whether the inputs of {path or 'the model'} ({type(module).__name__}) are spikes; "
            f"known module types: {sorted(t.__name__ for t in FLOW)}"
        )
    return rule(module, path, sig, out)


def _record_op(name: str, sig: Signal, out: InputKinds) -> None:
    if sig.binary:
        out.add(name, SPIKES, "binary spikes in (accumulate only)")
    else:
        out.add(name, NON_BINARY, f"non-binary input ({sig.origin}): not spike-driven")


def _record_attention(att: nn.Module, path: str, out: InputKinds) -> None:
    for sub, m in att.named_modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            out.add(_join(path, sub), ATTENTION, f"{att.extra_repr()} attention scoring (real-valued)")


@_rule(SpikingResNet)
def _resnet(m: SpikingResNet, path: str, sig: Signal, out: InputKinds) -> Signal:
    stem_conv = _join(path, "stem.conv_bn.conv")
    out.add(stem_conv, ENCODER, "first conv: encodes the input (MAC)")
    s = Signal(m.stem.lif is not None, "stem conv-BN without a neuron")
    for name in ("stem_pool", "features", "stages", "head_lif", "head"):
        child = getattr(m, name)
        if child is not None:
            s = flow(child, _join(path, name), s, out)
    return s


@_rule(nn.Sequential, nn.ModuleList)
def _chain(m: nn.Module, path: str, sig: Signal, out: InputKinds) -> Signal:
    for name, child in m.named_children():
        sig = flow(child, _join(path, name), sig, out)
    return sig


@_rule(Stage)
def _stage(m: Stage, path: str, sig: Signal, out: InputKinds) -> Signal:
    return flow(m.post, _join(path, "post"), flow(m.block, _join(path, "block"), sig, out), out)


@_rule(ConvUnit)
def _conv_unit(m: ConvUnit, path: str, sig: Signal, out: InputKinds) -> Signal:
    _record_op(_join(path, "conv_bn.conv"), sig, out)
    if m.attention is not None:
        _record_attention(m.attention, _join(path, "attention"), out)
    return Signal(True) if m.lif is not None else Signal(False, f"{path} conv-BN without a neuron")


@_rule(ConvBN)
def _conv_bn(m: ConvBN, path: str, sig: Signal, out: InputKinds) -> Signal:
    _record_op(_join(path, "conv"), sig, out)
    return Signal(False, f"{path} membrane values")


@_rule(PreActUnit)
def _preact(m: PreActUnit, path: str, sig: Signal, out: InputKinds) -> Signal:
    _record_op(_join(path, "conv_bn.conv"), Signal(True), out)
    return Signal(False, f"{path} membrane values (MS shortcut)")


@_rule(LIF)
def _lif(m: LIF, path: str, sig: Signal, out: InputKinds) -> Signal:
    return Signal(True)


@_rule(SeqMaxPool)
def _maxpool(m: SeqMaxPool, path: str, sig: Signal, out: InputKinds) -> Signal:
    return sig  # max over a window of spikes is an OR: still binary


@_rule(SEWBlock)
def _sew(m: SEWBlock, path: str, sig: Signal, out: InputKinds) -> Signal:
    b = flow(m.backbone, _join(path, "backbone"), sig, out)
    s = flow(m.shortcut, _join(path, "shortcut"), sig, out)
    if b.binary and s.binary and KEEPS_SPIKES_BINARY[m.connect]:
        return Signal(True)
    return Signal(False, f"{m.connect.value} residual of {path}")


@_rule(PrunedSEWBlock)
def _pruned_sew(m: PrunedSEWBlock, path: str, sig: Signal, out: InputKinds) -> Signal:
    b = flow(m.backbone, _join(path, "backbone"), sig, out)
    return b if m.effect == "identity" else Signal(True)  # zeros are binary


@_rule(VanillaBlock)
def _vanilla(m: VanillaBlock, path: str, sig: Signal, out: InputKinds) -> Signal:
    flow(m.backbone, _join(path, "backbone"), sig, out)
    flow(m.shortcut, _join(path, "shortcut"), sig, out)
    return Signal(True)


@_rule(MSBlock)
def _ms(m: MSBlock, path: str, sig: Signal, out: InputKinds) -> Signal:
    _record_op(_join(path, "conv1.conv"), Signal(True), out)
    flow(m.unit2, _join(path, "unit2"), Signal(True), out)
    _record_op(_join(path, "shortcut.conv"), Signal(True), out)
    return Signal(False, f"{path} membrane shortcut (MS)")


@_rule(Readout)
def _readout(m: Readout, path: str, sig: Signal, out: InputKinds) -> Signal:
    # global average pool + FC on spikes = accumulate the FC column of each spike, scale once at the end
    _record_op(_join(path, "fc"), sig, out)
    return Signal(False, "logits")


@_rule(Attention)
def _attention(m: Attention, path: str, sig: Signal, out: InputKinds) -> Signal:
    _record_attention(m, path, out)
    return Signal(False, f"{path} attention output")


def input_kinds(model: nn.Module) -> InputKinds:
    """The input kind of every Conv2d / Linear of ``model`` (a ``SpikingResNet`` or a pruned copy)."""
    out = InputKinds()
    flow(model, "", Signal(False, "the input"), out)
    ops = {n for n, m in model.named_modules() if isinstance(m, nn.Conv2d | nn.Linear)}
    missing = sorted(ops - set(out.kinds))
    if missing:
        raise AnalysisError(f"no input kind for {missing}: the flow rules do not cover this model")
    return out
