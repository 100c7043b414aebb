"""Leaky integrate-and-fire neuron: a functional core with explicit state and thin modules.

This is the float twin of the integer neuron the exporter emits, so the arithmetic order is fixed and
written down here once (Table I of the paper, SpikingJelly's ``decay_input=True`` form):

    charge:  U_t = H_{t-1} + (I_t - (H_{t-1} - V_reset)) / tau
    fire:    S_t = [U_t >= V_th]                    (ties fire; Heaviside forward, ATan backward)
    reset:   H_t = U_t * (1 - S_t) + V_reset * S_t  (hard reset; S_t detached when detach_reset)

With tau = 2 and V_reset = 0 the charge is the mean (H + I) / 2, which the integer neuron computes as an
arithmetic right shift. Layers run multi-step over ``[T, B, ...]`` (time on dim 0) starting from rest
(H_0 = V_reset); ``LIFCell`` runs one step with the state passed in and out, for streaming.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import NamedTuple

import torch
from torch import nn


@dataclass(frozen=True)
class LIFParams:
    """Neuron hyper-parameters (paper Table I defaults)."""

    v_threshold: float = 1.0
    v_reset: float = 0.0
    tau: float = 2.0
    alpha: float = 2.0  # ATan surrogate sharpness
    detach_reset: bool = True

    def __post_init__(self) -> None:
        if self.tau < 1.0:
            raise ValueError(f"LIF tau must be >= 1 (got {self.tau}): tau < 1 amplifies instead of leaking")
        if self.v_threshold <= self.v_reset:
            raise ValueError(f"LIF v_threshold ({self.v_threshold}) must exceed v_reset ({self.v_reset})")
        if self.alpha <= 0:
            raise ValueError(f"ATan surrogate alpha must be positive (got {self.alpha})")

    def to_dict(self) -> dict:
        return asdict(self)


class LIFState(NamedTuple):
    """Membrane state after reset (H in the paper's notation)."""

    v: torch.Tensor


class ATanSpike(torch.autograd.Function):
    """Exact Heaviside forward (x >= 0 fires); ATan surrogate backward.

    d/dx [arctan(pi/2 * alpha * x) / pi + 1/2] = alpha / 2 / (1 + (pi/2 * alpha * x)^2)
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, alpha: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor) -> tuple[torch.Tensor, None]:
        (x,) = ctx.saved_tensors
        alpha = ctx.alpha
        grad = alpha / 2 / (1 + (math.pi / 2 * alpha * x) ** 2)
        return grad_out * grad, None


def spike_fn(x: torch.Tensor, alpha: float) -> torch.Tensor:
    return ATanSpike.apply(x, alpha)


def lif_charge(x: torch.Tensor, v: torch.Tensor, p: LIFParams) -> torch.Tensor:
    return v + (x - (v - p.v_reset)) / p.tau


def lif_fire(u: torch.Tensor, p: LIFParams) -> torch.Tensor:
    return spike_fn(u - p.v_threshold, p.alpha)


def lif_reset(u: torch.Tensor, s: torch.Tensor, p: LIFParams) -> torch.Tensor:
    s_r = s.detach() if p.detach_reset else s
    return u * (1 - s_r) + p.v_reset * s_r


def lif_step(x: torch.Tensor, state: LIFState | None, p: LIFParams) -> tuple[torch.Tensor, LIFState]:
    """One time step: charge, fire, reset. ``state=None`` means at rest (v = V_reset)."""
    v = torch.full_like(x, p.v_reset) if state is None else state.v
    u = lif_charge(x, v, p)
    s = lif_fire(u, p)
    return s, LIFState(lif_reset(u, s, p))


def lif_multistep(
    x_seq: torch.Tensor, p: LIFParams, state: LIFState | None = None
) -> tuple[torch.Tensor, LIFState]:
    """Run ``lif_step`` over time (dim 0). Returns spikes ``[T, ...]`` and the final state."""
    spikes = []
    for t in range(x_seq.shape[0]):
        s, state = lif_step(x_seq[t], state, p)
        spikes.append(s)
    assert state is not None, "empty time dimension"
    return torch.stack(spikes), state


def gate_from_rest(score: torch.Tensor, p: LIFParams) -> torch.Tensor:
    """A single LIF step from rest: the binary IA gate, 1 iff (score - V_reset)/tau + V_reset >= V_th.

    Defined per sample (no state carried across the batch or across calls) — deliberately unlike the
    public reference code, whose IA neuron integrates across the batch dimension.
    """
    s, _ = lif_step(score, None, p)
    return s


class LIF(nn.Module):
    """Multi-step LIF layer over ``[T, B, ...]``, starting from rest on each call."""

    def __init__(self, params: LIFParams | None = None) -> None:
        super().__init__()
        self.params = params or LIFParams()

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        if x_seq.dim() < 2:
            raise ValueError(f"LIF expects [T, B, ...], got shape {tuple(x_seq.shape)}")
        return lif_multistep(x_seq, self.params)[0]

    def extra_repr(self) -> str:
        p = self.params
        return f"v_th={p.v_threshold}, v_reset={p.v_reset}, tau={p.tau}, alpha={p.alpha}"


class LIFCell(nn.Module):
    """Single-step LIF for streaming: ``spikes, state = cell(x_t, state)``."""

    def __init__(self, params: LIFParams | None = None) -> None:
        super().__init__()
        self.params = params or LIFParams()

    def forward(self, x: torch.Tensor, state: LIFState | None = None) -> tuple[torch.Tensor, LIFState]:
        return lif_step(x, state, self.params)


class SpikeGate(nn.Module):
    """The IA neuron: one LIF step from rest on an attention score, giving exactly binary weights."""

    def __init__(self, params: LIFParams | None = None) -> None:
        super().__init__()
        self.params = params or LIFParams()

    def forward(self, score: torch.Tensor) -> torch.Tensor:
        return gate_from_rest(score, self.params)
