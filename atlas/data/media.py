"""Images to files, written atomically: photos, accentuations, masks, overlays, frames, sheets."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from atlas.data.colormap import heat_rgba
from atlas.io.files import atomic_write_with

QUALITY = 88


def to_pil(x: torch.Tensor) -> Image.Image:
    """(3, H, W) or (H, W) in [0, 1] -> 8-bit PIL image (RGB or L)."""
    a = (x.detach().float().clamp(0, 1) * 255 + 0.5).to(torch.uint8).cpu().numpy()
    return Image.fromarray(a if a.ndim == 2 else np.ascontiguousarray(a.transpose(1, 2, 0)))


def save_webp(path: Path, img: Image.Image, quality: int = QUALITY) -> None:
    atomic_write_with(Path(path), lambda b: img.save(b, "WEBP", quality=quality, method=4))


def save_exact(path: Path, img: Image.Image) -> None:
    """Lossless WebP, for the images a person compares pixel by pixel: a seed and its
    accentuation. Lossy coding noise differs between the two wherever they differ, so at
    quality 88 it added fine-grained "change" that the optimizer never made (measured: the
    share of the change's energy above half Nyquist went from 0.05 to 0.16 on one setting).
    About 50 KB per 224-px image instead of 10 KB. Lossless effort 1 of 6: the same pixels,
    a few percent larger, several times faster to encode than the default effort (two per
    accentuation add up over a build; docs/benchmarks.md)."""
    atomic_write_with(Path(path), lambda b: img.save(b, "WEBP", lossless=True, quality=25,
                                                     method=1))


def overlay(image: torch.Tensor, mask: torch.Tensor) -> Image.Image:
    """The accentuation with its mask (in [0, 1], normalized per unit) drawn over it as heat in
    the colours of the top images' activation maps (:mod:`atlas.data.colormap`): the plain
    image where the mask is cold, red to yellow where it is hot. The *what* with the *where*
    on it, in one picture that reads like the maps beside it."""
    rgb = np.asarray(to_pil(image).convert("RGB"), dtype=np.float64)
    heat = heat_rgba(mask.detach().float().cpu().numpy()).astype(np.float64)
    a = heat[..., 3:] / 255
    out = rgb * (1 - a) + heat[..., :3] * a
    return Image.fromarray((out + 0.5).clip(0, 255).astype(np.uint8))


def save_animation(path: Path, frames: list[torch.Tensor], ms: int = 120) -> None:
    """Seed-to-accentuation frames as one looping animated WebP (last frame held longer)."""
    pil = [to_pil(f) for f in frames]
    durations = [ms] * (len(pil) - 1) + [ms * 8]
    atomic_write_with(Path(path), lambda b: pil[0].save(
        b, "WEBP", save_all=True, append_images=pil[1:], duration=durations, loop=0,
        quality=80))


CHANGE_GAIN = 4.0  # amplification of the "what changed" view; stated wherever it is shown


def change_image(seed: torch.Tensor, accent: torch.Tensor,
                 gain: float = CHANGE_GAIN) -> Image.Image:
    """The accentuation's change, amplified: 0.5 + gain * (accent - seed), per channel (RGB).

    Mid-grey is "unchanged"; a fixed gain (not one scaled to each image) keeps changes of
    different accentuations comparable, and the pages state the factor next to the picture.
    """
    return to_pil((0.5 + gain * (accent.float() - seed.float())).clamp(0, 1))


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)  # Pillow >= 10.1: a scalable font
    except TypeError:  # pragma: no cover - older Pillow
        return ImageFont.load_default()


def sheet(panels: Sequence[Image.Image], captions: Sequence[Sequence[str]], columns: int = 0,
          dark: bool = True, line: int = 16, pad: int = 8) -> Image.Image:
    """Panels on a grid (``columns`` per row; 0: one row), each with its caption lines under it:
    the contact sheets of ``atlas accentuate PHOTO``, ``atlas explain`` and the benchmarks.
    Panels with alpha are laid over the background (what a page shows through a mask)."""
    columns = columns or len(panels)
    w = max(p.width for p in panels)
    h = max(p.height for p in panels)
    lines = max((len(c) for c in captions), default=0)
    cell_h = h + (lines * line + 6 if lines else 0)
    rows = (len(panels) + columns - 1) // columns
    bg, ink = ((24, 24, 24), (230, 230, 230)) if dark else ((255, 255, 255), (0, 0, 0))
    out = Image.new("RGB", (columns * (w + pad) + pad, rows * (cell_h + pad) + pad), bg)
    draw, font = ImageDraw.Draw(out), _font(13)
    for i, p in enumerate(panels):
        x0, y0 = pad + (i % columns) * (w + pad), pad + (i // columns) * (cell_h + pad)
        if p.mode == "RGBA":
            out.paste(p, (x0, y0), p)
        else:
            out.paste(p.convert("RGB"), (x0, y0))
        for j, text in enumerate(captions[i] if i < len(captions) else []):
            draw.text((x0, y0 + h + 4 + j * line), text, fill=ink, font=font)
    return out
