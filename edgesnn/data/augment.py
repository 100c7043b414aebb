"""Batch augmentations, driven by an explicit generator so that training is reproducible and resumable."""

from __future__ import annotations

import torch


def hflip(x: torch.Tensor, gen: torch.Generator, p: float = 0.5) -> torch.Tensor:
    """Flip each image of ``[B, ..., W]`` left-right with probability ``p`` (paper: Fashion-MNIST)."""
    mask = torch.rand(x.shape[0], generator=gen) < p
    if mask.any():
        x = x.clone()
        x[mask] = x[mask].flip(-1)
    return x


def shift(x: torch.Tensor, gen: torch.Generator, max_px: int = 2) -> torch.Tensor:
    """Translate each image by up to ``max_px`` pixels, filling with zeros (paper: MNIST RandomAffine)."""
    out = torch.zeros_like(x)
    shifts = torch.randint(-max_px, max_px + 1, (x.shape[0], 2), generator=gen).tolist()
    h, w = x.shape[-2:]
    for i, (dy, dx) in enumerate(shifts):
        ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
        xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
        out[i, ..., yd, xd] = x[i, ..., ys, xs]
    return out


AUGMENTATIONS = {"none": lambda x, gen: x, "hflip": hflip, "shift": shift}
