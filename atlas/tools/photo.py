"""Accentuate one photo toward one unit and save what a person looks at.

Writes the accentuation, the attribution-mask overlay and a side-by-side sheet
(seed | accentuation | overlay) as PNG files, and returns the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from atlas.accent.loop import accentuate
from atlas.accent.masks import normalize_masks
from atlas.accent.objectives import Target
from atlas.config.accent import AccentConfig
from atlas.config.resolved import Resolved
from atlas.data.decode import read_photo
from atlas.data.media import overlay, sheet, to_pil
from atlas.io.files import atomic_write_with
from atlas.models.zoo import LoadedModel


@dataclass(frozen=True)
class PhotoResult:
    seed_activation: float
    final_activation: float
    latent_distance: float
    pixel_rmse: float
    side: Path  # the side-by-side sheet

    @property
    def gain(self) -> str:
        if self.seed_activation <= 0:
            return "n/a (seed activation <= 0)"
        return f"{self.final_activation / self.seed_activation:.2f}x"


def _png(path: Path, img) -> None:
    atomic_write_with(path, lambda b: img.save(b, "PNG"))


def accentuate_photo(model: LoadedModel, photo: str | Path, layer: str, unit: int,
                     cfg: AccentConfig, resolved: Resolved, out: Path) -> PhotoResult:
    """Accentuate ``photo`` toward ``layer``'s ``unit``; write three PNGs into ``out``."""
    seed = read_photo(photo, cfg.canvas)[None]
    res = accentuate(model, seed, Target(layer, torch.tensor([unit]), kind=cfg.target), cfg,
                     reg_layer=resolved.reg_layer, view_px=resolved.view_px)
    mask = normalize_masks(res.masks)[0]
    stem = f"{Path(photo).stem}-{layer}-{unit}"
    _png(out / f"{stem}-accent.png", to_pil(res.images[0]))
    over = overlay(res.images[0], mask)
    _png(out / f"{stem}-overlay.png", over)
    s, f = float(res.seed_activation[0]), float(res.final_activation[0])
    side = out / f"{stem}-side.png"
    _png(side, sheet([to_pil(seed[0]), to_pil(res.images[0]), over],
                     [["seed"], [f"accentuation {f:.2f} (seed {s:.2f})"], ["attribution overlay"]]))
    return PhotoResult(s, f, float(res.latent_distance[0]), float(res.pixel_rmse[0]), side)
