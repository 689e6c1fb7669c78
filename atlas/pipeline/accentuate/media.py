"""An accentuation batch's pictures: seed, accentuation, mask, overlay, change and frames.

Masks are normalized per unit (one shared scale over the unit's seeds, the paper's collective
normalization) before they are written. Seed and accentuation are lossless, the rest lossy.
"""

from __future__ import annotations

import pandas as pd
import torch

from atlas.accent.loop import AccentResult
from atlas.accent.masks import normalize_masks
from atlas.data.media import change_image, overlay, save_animation, save_exact, save_webp, to_pil
from atlas.pipeline.rundir import RunDir


def write_media(run: RunDir, batch: pd.DataFrame, seeds: torch.Tensor,
                res: AccentResult) -> dict[str, list]:
    """Write a finished batch's media (masks normalized per unit); return the media columns."""
    masks = torch.zeros_like(res.masks)
    for _, idx in batch.reset_index(drop=True).groupby(["layer", "unit"]).groups.items():
        masks[list(idx)] = normalize_masks(res.masks[list(idx)])
    cols: dict[str, list] = {k: [] for k in ("seed_media", "accent_media", "mask_media",
                                             "overlay_media", "change_media",
                                             "frames_media")}
    for i, row in enumerate(batch.itertuples()):
        base = f"media/accents/{row.layer}/{row.unit}/{row.rank}"
        paths = {"seed_media": f"media/seeds/{row.image_id}.webp",
                 "accent_media": f"{base}-accent.webp", "mask_media": f"{base}-mask.webp",
                 "overlay_media": f"{base}-overlay.webp", "change_media": f"{base}-change.webp"}
        if not (run.root / paths["seed_media"]).exists():
            save_exact(run.root / paths["seed_media"], to_pil(seeds[i]))
        save_exact(run.root / paths["accent_media"], to_pil(res.images[i]))
        save_webp(run.root / paths["mask_media"], to_pil(masks[i]))
        save_webp(run.root / paths["overlay_media"], overlay(res.images[i], masks[i]))
        save_webp(run.root / paths["change_media"], change_image(seeds[i], res.images[i]))
        frames = []
        if res.frames:
            frames = [f"{base}-frames.webp"]
            save_animation(run.root / frames[0], [f[i] for f in res.frames])
        for k, v in paths.items():
            cols[k].append(v)
        cols["frames_media"].append(frames)
    return cols
