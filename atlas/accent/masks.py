"""Attribution masks: the accumulated |d target / d pixels| of a run, made legible.

The loop sums the gradient over the views of its attribution steps; :func:`finish_masks` turns
the sum into a mean over the views that saw each pixel and smooths it at the target layer's
grid; :func:`normalize_masks` maps the masks of images shown together to [0, 1] with one shared
scale (the paper's collective normalization), so relative relevance stays visible.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from atlas.config.accent import AccentConfig
from atlas.models.maps import grid_width


def finish_masks(masks: torch.Tensor, seen: torch.Tensor, cfg: AccentConfig,
                  last: torch.Tensor) -> torch.Tensor:
    """Summed attributions -> the mask: averaged over the views that saw each pixel, then
    smoothed by one cell of the target layer's grid (``last``: its output on the last views)."""
    if cfg.mask_coverage:
        masks = coverage_mean(masks, seen.to(masks))
    if cfg.mask_smooth > 0:
        masks = gaussian_blur(masks, cfg.mask_smooth * cfg.canvas / grid_width(last))
    return masks


def count_views(seen: torch.Tensor, boxes: list[tuple[int, int, int, int]]) -> None:
    """Add 1 to every canvas pixel inside each view's box (image i owns boxes i*T..i*T+T-1).

    Random crops inside the canvas cover its centre more often than its border, so a summed
    gradient map is brighter in the middle whatever the unit: a vignette on every mask.
    Dividing by this count turns the sum into a mean over the views that saw the pixel.
    """
    t = len(boxes) // seen.shape[0]
    for k, (top, left, bottom, right) in enumerate(boxes):
        seen[k // t, top:bottom, left:right] += 1


def coverage_mean(sums: torch.Tensor, seen: torch.Tensor, prior: float = 0.5) -> torch.Tensor:
    """Per-pixel mean attribution over the views that saw each pixel, shrunk toward the
    image's overall mean where few views did.

    Corner pixels are inside a random crop only when the crop nearly fills the canvas, so a
    plain mean there rests on a handful of samples and lit up corners at random. Adding
    ``prior`` times the average count of pseudo-samples at the image's mean keeps well-seen
    pixels at their own mean and pulls rarely seen ones toward the image's typical value.
    """
    c = prior * seen.mean((1, 2), keepdim=True)
    mu = sums.sum((1, 2), keepdim=True) / seen.sum((1, 2), keepdim=True).clamp_min(1e-12)
    return (sums + c * mu) / (seen + c).clamp_min(1e-12)


def gaussian_blur(maps: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (N, H, W) maps, reflect-padded, sigma in pixels.

    An attribution map is per-pixel |gradient|: it peaks on edges and fine texture inside the
    region the unit reads, so at page size it looks like grain. The unit itself only sees the
    image at the resolution of its layer's grid; blurring at that scale shows that region.
    """
    r = min(int(3 * sigma + 0.5), min(maps.shape[-2:]) - 1)
    if r < 1:
        return maps
    t = torch.arange(-r, r + 1, dtype=maps.dtype, device=maps.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    x = F.pad(maps[:, None], (r, r, r, r), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1))
    return F.conv2d(x, k.view(1, 1, -1, 1))[:, 0]


def normalize_masks(masks: torch.Tensor, q: float = 0.995, floor: float = 0.5) -> torch.Tensor:
    """Map a set of masks to [0, 1]: each from its own ``floor`` quantile (0), all by one
    shared scale (the set's ``q`` quantile above those floors), so relative relevance across
    the images shown together stays visible.

    Averaged over the views that saw each pixel and smoothed, an attribution map has little
    dynamic range: scaled from 0 it made an overlay that showed nearly the whole image. A
    floor shared by the set made the weaker images' masks black; each image's own median
    shows where in it the unit looked, and the shared scale how strongly.
    """
    lo = torch.tensor([_quantile(m, floor) for m in masks], dtype=masks.dtype,
                      device=masks.device).view(-1, *[1] * (masks.dim() - 1))
    above = masks - lo
    hi = _quantile(above, q)
    return (above / max(hi, 1e-12)).clamp(0, 1)


def _quantile(x: torch.Tensor, q: float) -> float:
    """``q`` quantile of a tensor's values (a fixed random subset above a million values)."""
    flat = x.flatten().float()
    if flat.numel() > 1_000_000:
        flat = flat[torch.randperm(flat.numel(), generator=torch.Generator().manual_seed(0))
                    [:1_000_000]]
    return float(torch.quantile(flat, q))

