"""The exporter's integer parameters (``export/passes/fold_bn.py`` + ``export/passes/quantize.py``)
recomputed in torch float64 from the live float weights, with straight-through gradients.

Every operation mirrors the numpy one in the same order (IEEE float64 add, multiply, divide and sqrt are
correctly rounded in both libraries, and both round half to even), so the integers are identical to the
ones ``edgesnn export`` writes for the same weights; ``tests/qat`` checks this op by op.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from edgesnn.qat.ste import round_ste


def qmax_of(bits: int) -> int:
    return 2 ** (bits - 1) - 1


@dataclass(frozen=True)
class QuantConv:
    """Integer-valued float64 weight ``[cout, cin, kh, kw]`` and bias ``[cout]`` (differentiable through
    the STE) in units ``unit`` (detached): real current = acc * unit."""

    weight: torch.Tensor
    bias: torch.Tensor
    unit: torch.Tensor


def folded(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """BN folded into the conv with eval statistics (``fold_batchnorm``): w * g, (b - mean) * g + beta."""
    # BatchNorm2d's defaults (affine, track_running_stats), as ConvBN builds it
    assert bn.running_mean is not None and bn.running_var is not None
    mean, var = bn.running_mean.detach().double(), bn.running_var.detach().double()
    g = bn.weight.double() / torch.sqrt(var + bn.eps)
    bias = conv.bias.double() if conv.bias is not None else torch.zeros_like(g)
    return conv.weight.double() * g[:, None, None, None], (bias - mean) * g + bn.bias.double()


def quantize_conv(
    conv: nn.Conv2d, bn: nn.BatchNorm2d, bits: int, input_scale_num: int | None, per_tensor: bool = False
) -> QuantConv:
    """``input_scale_num``: the u8 input's scale for the first conv, ``None`` for a conv on spikes;
    ``per_tensor``: one scale for all output channels (the exporter's choice for a conv feeding attention)."""
    w, b = folded(conv, bn)
    qmax = qmax_of(bits)
    peak = w.detach().abs().reshape(w.shape[0], -1).amax(1)
    if per_tensor:
        peak = torch.full_like(peak, float(peak.max()))
    s = torch.where(peak > 0, peak / qmax, torch.ones_like(peak))
    unit = s / input_scale_num if input_scale_num is not None else s
    wq = torch.clamp(round_ste(w / s[:, None, None, None]), -qmax, qmax)
    return QuantConv(wq, round_ste(b / unit), unit)


def conv_abs_max(q: QuantConv, in_max: int) -> int:
    """Worst-case |accumulator| over all inputs in [0, in_max] (``bounds.conv_range``)."""
    w = q.weight.detach().long().reshape(q.weight.shape[0], -1)
    b = q.bias.detach().long()
    hi = b + in_max * w.clamp(min=0).sum(1)
    lo = b + in_max * w.clamp(max=0).sum(1)
    return int(torch.maximum(lo.abs(), hi.abs()).max())


def lif_threshold(v_threshold: float, unit: torch.Tensor) -> torch.Tensor:
    """max(1, round(V_th / unit)) per channel, detached."""
    return torch.clamp(torch.round(v_threshold / unit.detach()), min=1)


def leak_mul(tau: float) -> int:
    return round(65536 / tau)


@dataclass(frozen=True)
class QuantReadout:
    weight: torch.Tensor  # integer-valued [classes, channels]
    bias: torch.Tensor  # integer-valued [classes], already multiplied by steps = T*H*W
    logit_scale: torch.Tensor  # s / steps (detached): real logit = integer logit * logit_scale


def quantize_readout(fc: nn.Linear, bits: int, steps: int) -> QuantReadout:
    w = fc.weight.double()
    bias = fc.bias.double() if fc.bias is not None else torch.zeros(w.shape[0], dtype=torch.float64)
    qmax = qmax_of(bits)
    peak = w.detach().abs().max()
    s = peak / qmax if float(peak) > 0 else torch.ones((), dtype=torch.float64)
    wq = torch.clamp(round_ste(w / s), -qmax, qmax)
    return QuantReadout(wq, round_ste(bias * steps / s), s / steps)
