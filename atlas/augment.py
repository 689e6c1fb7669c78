"""Random box crops plus pixel noise, applied identically to the accentuation and its seed.

All crops of all images are taken in one ``grid_sample`` call (an affine grid per crop), which is
differentiable and batches over (unit, seed) pairs. Crops are upsampled or mildly downsampled to
the model input; bilinear sampling is adequate for side fractions near or above input/canvas.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from atlas.validation import check_float, check_int


@dataclass
class AugmentConfig:
    crops: int = 4  # crops per image per step
    min_side: float = 0.5  # crop side as a fraction of the canvas, uniform in [min, max]
    max_side: float = 1.0
    noise: float = 0.02  # std of additive pixel noise

    def validate(self) -> None:
        check_int("augment.crops", self.crops, 1, 256)
        check_float("augment.min_side", self.min_side, 0.0, 1.0, open_lo=True)
        check_float("augment.max_side", self.max_side, self.min_side, 1.0)
        check_float("augment.noise", self.noise, 0.0, 1.0)


@dataclass
class Views:
    """One step's random views: affine crop boxes (N*T, 2, 3) and noise (N*T, 3, S, S)."""

    theta: torch.Tensor
    noise: torch.Tensor
    size: int

    def apply(self, images: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """(N, 3, H, W) -> (N*T, 3, S, S): image i's T crops are rows i*T .. i*T+T-1."""
        t = self.theta.shape[0] // images.shape[0]
        src = images.repeat_interleave(t, dim=0)
        grid = F.affine_grid(self.theta, [src.shape[0], 3, self.size, self.size],
                             align_corners=False)
        out = F.grid_sample(src, grid, mode="bilinear", padding_mode="reflection",
                            align_corners=False)
        return out + (self.noise if noise is None else noise)


def draw_views(cfg: AugmentConfig, n: int, size: int, generator: torch.Generator,
               device: torch.device | str = "cpu",
               noise_generator: torch.Generator | None = None) -> Views:
    """Draw ``cfg.crops`` boxes per image for ``n`` images; reproducible from the generators.

    Boxes come from ``generator`` (CPU, tiny); the noise, which is large, from
    ``noise_generator`` on the device where it is used (a CPU draw of a 64-pair batch's
    noise plus its copy to a GPU cost more than the model's step there).
    """
    m = n * cfg.crops
    side = cfg.min_side + (cfg.max_side - cfg.min_side) * torch.rand(m, generator=generator)
    # box centre so that the box stays inside the canvas; coordinates in [-1, 1]
    cx = (1 - side) * (2 * torch.rand(m, generator=generator) - 1)
    cy = (1 - side) * (2 * torch.rand(m, generator=generator) - 1)
    theta = torch.zeros(m, 2, 3)
    theta[:, 0, 0], theta[:, 1, 1] = side, side
    theta[:, 0, 2], theta[:, 1, 2] = cx, cy
    noise_gen = noise_generator or generator
    noise = cfg.noise * torch.randn(m, 3, size, size, generator=noise_gen,
                                    device=noise_gen.device)
    return Views(theta.to(device), noise.to(device), size)
