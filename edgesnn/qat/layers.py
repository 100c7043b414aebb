"""The integer ops of FORMAT.md as differentiable torch float64 functions over ``[T, B, C, H, W]``.

Values are exact integers in the forward pass; gradients use straight-through estimators (rounding and
the leak's floor) and the float neuron's ATan surrogate, evaluated on the real-valued distance
``(U - threshold) * unit`` so its width matches float training.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from edgesnn.neurons.lif import LIFParams, spike_fn
from edgesnn.qat.quant import QuantConv, QuantReadout, leak_mul, lif_threshold
from edgesnn.qat.ste import floor_ste


def conv(q: QuantConv, x: torch.Tensor, stride: int, pad: int) -> torch.Tensor:
    """CONV: ``x`` u8 values or spikes, ``[T, B, C, H, W]`` or a static ``[B, C, H, W]`` (computed once,
    as the STATIC flag does); returns the accumulator with the same leading dims."""
    lead = x.shape[:-3]
    y = F.conv2d(x.reshape(-1, *x.shape[-3:]), q.weight, None, stride, pad)
    y = y + q.bias[:, None, None]
    return y.reshape(*lead, *y.shape[1:])


def lif(current: torch.Tensor, q: QuantConv, p: LIFParams) -> torch.Tensor:
    """LIF over ``[T, B, C, H, W]`` integer currents in units ``q.unit``:
    U = H + floor((I - H) * leak_mul / 65536), S = U >= threshold, hard reset to 0.

    No int16 clamp: the exporter picks 16-bit state only when its bounds prove the clamp never acts."""
    thr = lif_threshold(p.v_threshold, q.unit)[:, None, None]
    unit = q.unit.detach()[:, None, None]
    mul = leak_mul(p.tau)
    h = torch.zeros_like(current[0])
    spikes = []
    for t in range(current.shape[0]):
        u = h + floor_ste((current[t] - h) * mul / 65536)
        s = spike_fn((u - thr) * unit, p.alpha)  # sign of (u - thr) kept exactly: fires iff u >= thr
        spikes.append(s)
        keep = 1 - (s.detach() if p.detach_reset else s)
        h = u * keep
    return torch.stack(spikes)


def readout(q: QuantReadout, spikes: torch.Tensor) -> torch.Tensor:
    """READOUT: integer logits ``[B, classes]`` = bias + sum over t, h, w of spikes . w."""
    counts = spikes.sum(dim=(0, 3, 4))
    return counts @ q.weight.T + q.bias
