"""One accentuation's pictures, as every accentuating stage writes them: the seed (once per
image, lossless), the accentuation (lossless), its mask, overlay and change (lossy), with masks
scaled per group first (the paper's collective normalization: a unit's seeds, or a class's
accentuations, share one scale)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pandas as pd
import torch
from tqdm import tqdm

from atlas.accent.masks import normalize_masks
from atlas.data.media import change_image, overlay, save_exact, save_webp, to_pil
from atlas.pipeline.rundir import RunDir
from atlas.pipeline.stage import Context

PAIR = ("seed_media", "accent_media", "mask_media", "overlay_media", "change_media")


def normalized(masks: torch.Tensor, groups: dict) -> torch.Tensor:
    """``masks`` scaled per group (``groups``: {key: row indices}, e.g. a unit's seeds), so
    the masks of one unit (or one class) share a scale."""
    out = torch.zeros_like(masks)
    for idx in groups.values():
        out[list(idx)] = normalize_masks(masks[list(idx)])
    return out


def save_pair(run: RunDir, image_id: str, base: str, seed: torch.Tensor, image: torch.Tensor,
              mask: torch.Tensor) -> dict[str, str]:
    """Write one accentuation's pictures under ``base`` (the seed once per image); return the
    run-relative path of each (the columns of :data:`PAIR`)."""
    paths = dict(zip(PAIR, (f"media/seeds/{image_id}.webp", f"{base}-accent.webp",
                            f"{base}-mask.webp", f"{base}-overlay.webp", f"{base}-change.webp"),
                     strict=True))
    if not (run.root / paths["seed_media"]).exists():
        save_exact(run.root / paths["seed_media"], to_pil(seed))
    save_exact(run.root / paths["accent_media"], to_pil(image))
    save_webp(run.root / paths["mask_media"], to_pil(mask))
    save_webp(run.root / paths["overlay_media"], overlay(image, mask))
    save_webp(run.root / paths["change_media"], change_image(seed, image))
    return paths


def run_parts(ctx: Context, parts: Any, work: Callable[[pd.DataFrame], Any], desc: str) -> float:
    """Run this rank's batches of ``parts`` (every world-th; a batch already saved is skipped,
    so a killed stage resumes), publishing progress as each finishes; the seconds they took.
    ``parts`` has ``batches``, ``store``, ``name(batch)`` and ``publish(final)``."""
    d = ctx.dist
    mine = parts.batches[d.rank::d.world]
    bar = tqdm(total=sum(map(len, mine)), unit="acc", disable=not ctx.bar, desc=desc,
               dynamic_ncols=True)
    t0 = time.perf_counter()
    for b in mine:
        if not parts.store.has(parts.name(b)):
            parts.store.save(parts.name(b), work(b))
            ctx.progressed(lambda: parts.publish(final=False))
        bar.update(len(b))
    bar.close()
    d.barrier()
    return time.perf_counter() - t0
