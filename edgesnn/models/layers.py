"""Multi-step building layers over ``[T, B, C, H, W]``.

Stateless layers (conv, BN, pooling) fold time into the batch; neurons and attention see the sequence.
"""

from __future__ import annotations

import torch
from torch import nn

from edgesnn.models.attention import Attention
from edgesnn.neurons.lif import LIF


def seq_apply(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Apply a per-frame module to every step of ``[T, B, ...]``."""
    t, b = x.shape[:2]
    y = module(x.flatten(0, 1))
    return y.view(t, b, *y.shape[1:])


class ConvBN(nn.Module):
    """Conv2d (no bias) + BatchNorm2d applied to every time step."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return seq_apply(self.bn, seq_apply(self.conv, x))


class ConvUnit(nn.Module):
    """conv-BN-[attention]-LIF, the paper's basic unit (attention sits after BN, before the LIF).

    ``lif=None`` leaves the BN output as is (Vanilla blocks add the shortcut before the neuron).
    ``static=True`` accepts a static ``[B, C, H, W]`` input and computes conv-BN once for all T steps,
    since a repeated image gives the same conv output at every step (direct encoding).
    """

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel: int,
        stride: int = 1,
        attention: Attention | None = None,
        lif: LIF | None = None,
    ) -> None:
        super().__init__()
        self.conv_bn = ConvBN(cin, cout, kernel, stride)
        self.attention = attention
        self.lif = lif

    def forward(self, x: torch.Tensor, T: int | None = None) -> torch.Tensor:
        if x.dim() == 4:  # static input: one conv for all steps
            if T is None:
                raise ValueError("a static [B, C, H, W] input needs T")
            y = self.conv_bn(x.unsqueeze(0)).expand(T, *([-1] * x.dim()))
        else:
            y = self.conv_bn(x)
        if self.attention is not None:
            y = self.attention(y)
        if self.lif is not None:
            y = self.lif(y)
        return y


class PreActUnit(nn.Module):
    """LIF-conv-BN (MS-ResNet's pre-activation order): spikes in, membrane-like values out."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, lif: LIF) -> None:
        super().__init__()
        self.lif = lif
        self.conv_bn = ConvBN(cin, cout, kernel, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_bn(self.lif(x))


class SeqMaxPool(nn.Module):
    """MaxPool k3 s2 p1 per step; on binary spikes it is an OR over the window."""

    def __init__(self, kernel: int = 3, stride: int = 2, padding: int = 1) -> None:
        super().__init__()
        self.pool = nn.MaxPool2d(kernel, stride, padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return seq_apply(self.pool, x)


class Readout(nn.Module):
    """Global average pool + FC at every step; the prediction is the mean over T (Table X)."""

    def __init__(self, cin: int, num_classes: int) -> None:
        super().__init__()
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.mean(dim=(3, 4)))  # [T, B, classes]
