"""The fake runs' images: smooth colourful 'photos', and accentuations of them (a stripe texture
blended in under a blob mask) with the mask, overlay, change view and frames the site shows."""

from __future__ import annotations

import colorsys
from pathlib import Path

import numpy as np
from PIL import Image

from atlas.io.files import atomic_write_with
from atlas.pipeline.rundir import RunDir

PAYLOADS = ('<script>alert(1)</script>', '"onerror=alert(1)', "<img src=x onerror=alert(1)>")
CHANGE_GAIN = 4.0  # as atlas.data.media writes the change view


def webp(path: Path, img: Image.Image) -> None:
    """Save directly (no fsync): a fake run is scratch data and big ones write 10k files."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format="WEBP", quality=70, method=0)


def natural(rng: np.random.Generator, size: int) -> Image.Image:
    """A smooth, colourful 'photo': a gradient plus a few discs, so thumbnails look like images."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    base = rng.uniform(0.2, 0.8, 3)
    img = np.stack([base[c] + 0.3 * np.sin(3 * xx * (c + 1) + 2 * yy) for c in range(3)], -1)
    for _ in range(3):
        cy, cx, r = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.08, 0.25)
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
        img[disc] = rng.uniform(0, 1, 3)
    return Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8))


def accent(seed: Image.Image, hue: float, freq: float) -> tuple[Image.Image, Image.Image]:
    """A unit-specific stripe texture blended into the seed where a blob mask is high."""
    size = seed.size[0]
    yy, xx = np.mgrid[0:size, 0:size] / size
    colour = np.array(colorsys.hsv_to_rgb(hue, 0.9, 1.0))
    stripes = 0.5 + 0.5 * np.sin(freq * 6.28 * (xx + yy))
    mask = np.exp(-((yy - 0.5) ** 2 + (xx - 0.45) ** 2) / 0.08)
    s = np.asarray(seed, dtype=np.float64) / 255
    out = s * (1 - mask[..., None]) + (stripes[..., None] * colour) * mask[..., None]
    acc = Image.fromarray((np.clip(out, 0, 1) * 255).astype(np.uint8))
    return acc, Image.fromarray((mask * 255).astype(np.uint8), "L")


def accent_media(run: RunDir, frames: int, base: str, image_id: str, hue: float,
                 freq: float, animated: bool = False) -> dict[str, object]:
    """An accentuation of image ``image_id`` with its mask, overlay, change view and
    ``frames`` steps (one animated WebP when ``animated``), written under ``base``; the media
    columns of a row that points at them."""
    seed = Image.open(run.media / "images" / f"{image_id}.webp").convert("RGB")
    acc, mask = accent(seed, hue, freq)
    overlay = acc.convert("RGBA")
    overlay.putalpha(mask)
    media = {"seed_media": f"media/images/{image_id}.webp", "accent_media": f"{base}/acc.webp",
             "mask_media": f"{base}/mask.webp", "overlay_media": f"{base}/overlay.webp",
             "change_media": f"{base}/change.webp"}
    diff = np.asarray(acc, np.float64) - np.asarray(seed, np.float64)
    change = Image.fromarray(np.clip(127.5 + CHANGE_GAIN * diff, 0, 255).astype(np.uint8))
    for key, img in (("accent_media", acc), ("mask_media", mask), ("overlay_media", overlay),
                     ("change_media", change)):
        webp(run.root / str(media[key]), img)
    steps = [Image.blend(seed, acc, f / max(1, frames - 1)) for f in range(frames)]
    if animated and steps:  # one looping animated WebP, as the accentuate stage writes it
        files = [f"{base}/frames.webp"]
        atomic_write_with(run.root / files[0], lambda buf: steps[0].save(
            buf, format="WEBP", save_all=True, append_images=steps[1:], duration=150, loop=0,
            quality=60, method=0))
    else:  # or one file per step
        files = [f"{base}/frame{f}.webp" for f in range(len(steps))]
        for path, img in zip(files, steps, strict=True):
            webp(run.root / path, img)
    return {**media, "frames_media": files}
