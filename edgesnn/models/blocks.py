"""Downsampling residual blocks of the three Spiking ResNet families (paper Fig. 2, Eqs. 4-6).

Every block evaluates its backbone and its shortcut exactly once per forward pass.
"""

from __future__ import annotations

import torch
from torch import nn

from edgesnn.models.layers import ConvBN, ConvUnit, PreActUnit
from edgesnn.models.residual import Connect, connect


class SEWBlock(nn.Module):
    """Eq. 6: out = g(SN(W2 SN(W1 x)), SN(Wd x)); with ``connect=OR`` this is the OR-SEW block.

    The shortcut is conv1x1 s2 + BN (+ IA) + LIF: its LIF is what "natural pruning" silences.
    """

    def __init__(self, backbone: nn.Sequential, shortcut: ConvUnit, kind: Connect) -> None:
        super().__init__()
        self.backbone = backbone
        self.shortcut = shortcut
        self.connect = Connect(kind)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return connect(self.connect, self.backbone(x), self.shortcut(x))

    def extra_repr(self) -> str:
        return f"connect={self.connect.value}"


class VanillaBlock(nn.Module):
    """Eq. 4: out = SN(W2 SN(W1 x) + Wd x) — the sum of membrane inputs is fed to one neuron."""

    def __init__(self, cin: int, cout: int, lif_factory) -> None:
        super().__init__()
        self.backbone = nn.Sequential(
            ConvUnit(cin, cout, 3, stride=2, lif=lif_factory()),
            ConvUnit(cout, cout, 3, stride=1, lif=None),
        )
        self.shortcut = ConvBN(cin, cout, 1, stride=2)
        self.lif = lif_factory()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lif(self.backbone(x) + self.shortcut(x))


class MSBlock(nn.Module):
    """Eq. 5 (membrane shortcut): out = W2 SN(W1 SN(x)) + Wd SN(x), real-valued in and out.

    SN(x) is computed once and feeds both paths, so every conv here sees binary spikes.
    """

    def __init__(self, cin: int, cout: int, lif_factory) -> None:
        super().__init__()
        self.lif = lif_factory()
        self.conv1 = ConvBN(cin, cout, 3, stride=2)
        self.unit2 = PreActUnit(cout, cout, 3, 1, lif_factory())
        self.shortcut = ConvBN(cin, cout, 1, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.lif(x)
        return self.unit2(self.conv1(s)) + self.shortcut(s)
