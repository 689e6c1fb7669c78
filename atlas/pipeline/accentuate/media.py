"""An accentuation batch's pictures: seed, accentuation, mask, overlay, change and frames.

Masks are normalized per unit (one shared scale over the unit's seeds, the paper's collective
normalization) before they are written. Seed and accentuation are lossless, the rest lossy.
"""

from __future__ import annotations

import pandas as pd
import torch

from atlas.accent.loop import AccentResult
from atlas.data.media import save_animation
from atlas.pipeline.pairs import PAIR, normalized, save_pair
from atlas.pipeline.rundir import RunDir


def write_media(run: RunDir, batch: pd.DataFrame, seeds: torch.Tensor,
                res: AccentResult) -> dict[str, list]:
    """Write a finished batch's media (masks normalized per unit); return the media columns."""
    masks = normalized(res.masks, batch.reset_index(drop=True).groupby(["layer", "unit"]).groups)
    cols: dict[str, list] = {k: [] for k in (*PAIR, "frames_media")}
    for i, row in enumerate(batch.itertuples()):
        base = f"media/accents/{row.layer}/{row.unit}/{row.rank}"
        paths = save_pair(run, row.image_id, base, seeds[i], res.images[i], masks[i])
        frames = []
        if res.frames:
            frames = [f"{base}-frames.webp"]
            save_animation(run.root / frames[0], [f[i] for f in res.frames])
        for k, v in paths.items():
            cols[k].append(v)
        cols["frames_media"].append(frames)
    return cols
