"""Attribution masks: where in the image the accentuation raised the unit, made legible.

:func:`finish_masks` makes a run's mask (``accent.mask``): the gradient of the target at the
regularization layer (|d target / d A_l| summed over channels, every step's views pasted back
through their boxes) or at the pixels (|d target / d pixels| on the attribution steps), turned
into a mean over the views that saw each pixel, or the change itself; then smooths it at the
target layer's grid.
:func:`normalize_masks` maps the masks of images shown together to [0, 1] with one shared scale
(the paper's collective normalization), so relative relevance stays visible.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from atlas.config.accent import AccentConfig
from atlas.models.maps import grid_width


def finish_masks(grads: torch.Tensor, seen: torch.Tensor, change: torch.Tensor,
                 cfg: AccentConfig, last: torch.Tensor) -> torch.Tensor:
    """The mask of ``cfg.mask`` from a run's summed attributions ``grads``, the views that saw
    each pixel ``seen`` and the per-pixel change ``change`` (|accentuation - seed| summed over
    colours), smoothed by ``cfg.mask_smooth`` cells of the target layer's grid (``last``: its
    output on the last views).

    The layer-gradient mask agrees best with where the unit fires on the accentuation, then
    the pixel gradient; the change is free too but also marks where the regularizer let the
    image drift (docs/benchmarks.md, "Which mask").
    """
    if cfg.mask == "change":
        masks = change
    else:
        masks = coverage_mean(grads, seen.to(grads)) if cfg.mask_coverage else grads
    if cfg.mask_smooth > 0:
        masks = gaussian_blur(masks, cfg.mask_smooth * cfg.canvas / grid_width(last))
    return masks


class BoxMaps:
    """The views' layer maps summed per box (rows numbered as :class:`ViewStream` draws
    boxes), with how many views each box had; pasted onto the canvas once, at the end, so a
    box a pool reuses is resized once rather than at every step, and a step adds its maps with
    one ``index_add_`` instead of a resize per view."""

    def __init__(self, rows: int, pairs: int) -> None:
        self.rows, self.pairs = rows, pairs
        self.sums: torch.Tensor | None = None
        self.hits = torch.zeros(rows)
        self.owner = torch.zeros(rows, dtype=torch.long)  # the pair each row's box belongs to

    def add(self, rows: torch.Tensor, maps: torch.Tensor) -> None:
        """A step's maps (N*T, h, w), pair i's views at rows i*T .. i*T+T-1 of ``maps``."""
        if self.sums is None:
            self.sums = maps.new_zeros(self.rows, *maps.shape[1:])
        self.sums.index_add_(0, rows.to(maps.device), maps)
        self.hits.index_add_(0, rows, torch.ones(len(rows)))
        self.owner[rows] = torch.arange(len(rows)) // (len(rows) // self.pairs)

    def paste(self, canvas: torch.Tensor, seen: torch.Tensor | None,
              boxes: list[tuple[int, int, int, int]]) -> None:
        """Add every box's summed map into ``canvas`` (and its count of views into ``seen``);
        ``boxes``: every row's pixel box."""
        if self.sums is None:
            return
        for r in self.hits.nonzero().flatten().tolist():
            (top, left, bottom, right), i = boxes[r], int(self.owner[r])
            canvas[i, top:bottom, left:right] += F.interpolate(
                self.sums[r][None, None], size=(bottom - top, right - left), mode="bilinear",
                align_corners=False)[0, 0].to(canvas)
            if seen is not None:
                seen[i, top:bottom, left:right] += self.hits[r]


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
    shared scale, so relative relevance across the images shown together stays visible.

    The scale is the median over the set of each mask's ``q`` quantile above its floor: the
    rule of the top images' heatmaps (one scale per unit, the median of their peaks), so the
    stronger half of a unit's masks reach full heat at their peaks and the weaker ones stay
    dimmer in proportion. Scaled to the set's single strongest mask, every other mask of the
    unit stayed below the heat colours' threshold and its overlay showed nothing. The own
    floor (the median) shows where in each image the unit looked: an attribution map has
    little dynamic range, and scaled from 0 it lit up nearly the whole image.
    """
    lo = torch.tensor([_quantile(m, floor) for m in masks], dtype=masks.dtype,
                      device=masks.device).view(-1, *[1] * (masks.dim() - 1))
    above = masks - lo
    hi = float(torch.tensor([_quantile(m, q) for m in above]).median()) if len(above) else 1.0
    return (above / max(hi, 1e-12)).clamp(0, 1)


def _quantile(x: torch.Tensor, q: float) -> float:
    """``q`` quantile of a tensor's values (a fixed random subset above a million values)."""
    flat = x.flatten().float()
    if flat.numel() > 1_000_000:
        flat = flat[torch.randperm(flat.numel(), generator=torch.Generator().manual_seed(0))
                    [:1_000_000]]
    return float(torch.quantile(flat, q))


