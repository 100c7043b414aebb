"""SynA attention: MA (sigmoid weights) on the backbone, IA (binary LIF gate) on the shortcut.

All modules take BN outputs ``x`` of shape ``[T, B, C, H, W]`` and return ``relu(w * x)`` with ``w``
broadcast from a per-sample score computed along one dimension:

- ``T`` (time):    pool over C, H, W  -> [B, T]; shared bottleneck MLP T -> T/r -> T.
- ``C`` (channel): pool over T, H, W  -> [B, C]; shared bottleneck MLP C -> C/k -> C.
- ``S`` (spatial): mean and max over T and C -> [B, 2, H, W]; conv(2 -> 1, k x k).

score = MLP(avgpool x) + MLP(maxpool x) (+ gate bias for IA). MA weights are sigmoid(score) in (0, 1);
IA weights are a single LIF step from rest on the score (exactly {0, 1}: with tau = 2, open iff score >= 2).
Pooling spans the whole sequence, so every variant is non-causal: it needs all T steps before step 1.
"""

from __future__ import annotations

from enum import StrEnum

import torch
from torch import nn

from edgesnn.neurons.lif import LIFParams, SpikeGate


class AttentionDim(StrEnum):
    T = "T"
    C = "C"
    S = "S"


class AttentionKind(StrEnum):
    MA = "MA"  # multi-dimensional attention: sigmoid weights
    IA = "IA"  # inhibitory attention: binary LIF gate


class BottleneckMLP(nn.Module):
    """Shared two-layer bottleneck without biases (MA/CBAM style): n -> hidden -> n."""

    def __init__(self, n: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(n, hidden, bias=False)
        self.fc2 = nn.Linear(hidden, n, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(x)))


class SpatialScorer(nn.Module):
    """conv(2 -> 1, k x k) over [mean; max] maps."""

    def __init__(self, kernel: int) -> None:
        super().__init__()
        if kernel % 2 != 1:
            raise ValueError(f"spatial attention kernel must be odd (got {kernel})")
        self.conv = nn.Conv2d(2, 1, kernel, padding=kernel // 2, bias=False)

    def forward(self, mean: torch.Tensor, peak: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([mean, peak], dim=1))[:, 0]


class Attention(nn.Module):
    """One SynA attention unit: ``dim`` in {T, C, S}, ``kind`` in {MA, IA}.

    ``size`` is T for time attention and C for channel attention (unused for S). ``reduction`` is r (T)
    or k (C); ``kernel`` is the spatial conv size. ``gate_init`` initialises the IA gate bias, a learned
    offset added once to the score: the gate opens when score + bias >= V_th * tau (= 2 by default).
    """

    def __init__(
        self,
        dim: AttentionDim | str,
        kind: AttentionKind | str,
        size: int = 0,
        reduction: int = 4,
        kernel: int = 7,
        lif: LIFParams | None = None,
        gate_init: float = 0.0,
    ) -> None:
        super().__init__()
        self.dim = AttentionDim(dim)
        self.kind = AttentionKind(kind)
        if self.dim is AttentionDim.S:
            self.scorer: nn.Module = SpatialScorer(kernel)
            bias_shape: tuple[int, ...] = (1,)
        else:
            if size < 1:
                raise ValueError(f"{self.dim.value}-attention needs its size (T or C), got {size}")
            self.scorer = BottleneckMLP(size, max(1, size // max(1, reduction)))
            bias_shape = (size,)
        if self.kind is AttentionKind.IA:
            self.gate_bias = nn.Parameter(torch.full(bias_shape, float(gate_init)))
            self.gate = SpikeGate(lif)
        else:
            self.register_parameter("gate_bias", None)

    def score(self, x: torch.Tensor) -> torch.Tensor:
        """Per-sample score, shaped to broadcast against ``x`` ([T, B, C, H, W])."""
        if self.dim is AttentionDim.T:
            flat = x.permute(1, 0, 2, 3, 4).flatten(2)  # [B, T, CHW]
            s = self.scorer(flat.mean(-1)) + self.scorer(flat.amax(-1))  # [B, T]
        elif self.dim is AttentionDim.C:
            flat = x.permute(1, 2, 0, 3, 4).flatten(2)  # [B, C, THW]
            s = self.scorer(flat.mean(-1)) + self.scorer(flat.amax(-1))  # [B, C]
        else:
            mean = x.mean(dim=(0, 2)).unsqueeze(1)  # [B, 1, H, W]
            peak = x.amax(dim=(0, 2)).unsqueeze(1)
            s = self.scorer(mean, peak)  # [B, H, W]
        if self.gate_bias is not None:
            s = s + self.gate_bias
        return self._broadcast(s)

    def _broadcast(self, s: torch.Tensor) -> torch.Tensor:
        if self.dim is AttentionDim.T:
            return s.t()[:, :, None, None, None]  # [T, B, 1, 1, 1]
        if self.dim is AttentionDim.C:
            return s[None, :, :, None, None]  # [1, B, C, 1, 1]
        return s[None, :, None, :, :]  # [1, B, 1, H, W]

    def weights(self, x: torch.Tensor) -> torch.Tensor:
        s = self.score(x)
        if self.kind is AttentionKind.IA:
            return self.gate(s)
        return torch.sigmoid(s)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5:
            raise ValueError(f"attention expects [T, B, C, H, W], got shape {tuple(x.shape)}")
        return torch.relu(self.weights(x) * x)

    def extra_repr(self) -> str:
        return f"{self.kind.value}-{self.dim.value}"
