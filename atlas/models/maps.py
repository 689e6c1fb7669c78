"""A layer's output as spatial maps, whatever its form: convolutional maps, tokens or vectors.

Convolutional layers give (B, C, H, W); transformer blocks give token sequences (B, T, C); heads
give vectors (B, C). Every reader of activations (mining, objectives, where-maps, pooled
vectors, masks) goes through these functions, so a ViT is read the same way everywhere.
"""

from __future__ import annotations

import math

import torch


def as_map(a: torch.Tensor) -> torch.Tensor:
    """Activations as (B, C, H, W): tokens (B, T, C) become a (B, C, T, 1) column, vectors
    (B, C) a 1x1 map. The channel is what a unit indexes, in every form."""
    if a.dim() == 4:
        return a
    if a.dim() == 3:
        return a.transpose(1, 2).unsqueeze(-1)
    if a.dim() == 2:
        return a[:, :, None, None]
    raise ValueError(f"cannot read activations of shape {tuple(a.shape)}")


def as_grid(a: torch.Tensor) -> torch.Tensor:
    """Like :func:`as_map`, but tokens laid out on the image's patch grid when T, or T less a
    class token, is a square (ViT): what a person should see as a map over the photo."""
    if a.dim() == 3:
        b, t, c = a.shape
        for skip in (0, 1):
            g = math.isqrt(t - skip)
            if g * g == t - skip and g > 1:
                return a[:, skip:].transpose(1, 2).reshape(b, c, g, g)
    return as_map(a)


def grid_width(a: torch.Tensor) -> int:
    """Width of a layer's spatial grid: W of a (B, C, H, W) map, about sqrt(T) for tokens."""
    return a.shape[-1] if a.dim() == 4 else max(1, round(a.shape[1] ** 0.5))


def pooled(a: torch.Tensor) -> torch.Tensor:
    """Spatially averaged channel vectors (B, C), float32 on the CPU."""
    return as_map(a).float().mean(dim=(2, 3)).cpu()
