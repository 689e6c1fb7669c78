"""The accentuation stage's finished batches (part files) and how they become tables.

Batches hold whole units, and each finished batch is a part file under
``checkpoints/accents-<key>/``: a rerun skips the parts that exist, so an interrupted stage
resumes. :meth:`AccentParts.publish` turns the parts that exist into ``accents.parquet`` and
``labels.parquet``. It runs during a build too (``final=False``), so the site can show the units
that are done while the others are still running; only the final publish, with every part
present, adds the accent rows of ``features.parquet`` that the maps need.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import torch

from atlas.accent.loop import normalize_masks
from atlas.data.media import change_image, overlay, save_animation, save_exact, save_webp, to_pil
from atlas.errors import AtlasError
from atlas.pipeline import schema
from atlas.pipeline.rundir import RunDir


def unit_batches(seeds: pd.DataFrame, batch_size: int) -> list[pd.DataFrame]:
    """Group seed rows into batches of whole units, about ``batch_size`` pairs each."""
    out, cur, n = [], [], 0
    for _, g in seeds.groupby(["layer", "unit"], sort=True):
        if cur and n + len(g) > batch_size:
            out.append(pd.concat(cur))
            cur, n = [], 0
        cur.append(g.sort_values("rank"))
        n += len(g)
    if cur:
        out.append(pd.concat(cur))
    return out


def write_media(run: RunDir, batch: pd.DataFrame, seeds: torch.Tensor, res) -> dict[str, list]:
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


class AccentParts:
    """The batches of one accentuation stage (one ``key``) and their part files."""

    def __init__(self, run: RunDir, seeds: pd.DataFrame, key: str, batch_size: int):
        self.run, self.key = run, key
        self.dir = run.root / "checkpoints" / f"accents-{key}"
        self.batches = unit_batches(seeds, batch_size)
        self._loaded: dict[Path, dict[str, pd.DataFrame]] = {}  # parts never change once written

    def path(self, batch: pd.DataFrame) -> Path:
        first = batch.iloc[0]
        return self.dir / f"{first['layer']}-{int(first['unit']):06d}.pt"

    def load(self, batch: pd.DataFrame) -> dict[str, pd.DataFrame] | None:
        """The finished part of ``batch``, or None while it is not done (by any rank)."""
        path = self.path(batch)
        if path not in self._loaded:
            if not path.exists():
                return None
            self._loaded[path] = torch.load(path, weights_only=False)
        return self._loaded[path]

    def publish(self, final: bool) -> pd.DataFrame:
        """Write the tables of the finished parts (all of them when ``final``); return accents."""
        parts = [p for b in self.batches if (p := self.load(b)) is not None]
        if final and len(parts) != len(self.batches):
            raise AtlasError(f"accentuation incomplete: {len(parts)} of {len(self.batches)} "
                             f"batches in {self.dir}; rerun the build to resume")
        accents = _concat([_backfill(p["accents"], "accents") for p in parts], "accents")
        self.run.write_table("accents", accents)
        labels = [p["labels"] for p in parts if len(p["labels"])]
        self.run.write_table("labels", _concat(labels, "labels"))
        if final:
            old = self.run.read_table("features")
            natural = old[old["kind"] == "natural"]
            rows: list[Any] = [natural, *(p["features"] for p in parts)]
            self.run.write_table("features", pd.concat(rows, ignore_index=True))
        return accents


def _concat(frames: list[pd.DataFrame], table: str) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True) if frames else schema.empty(table)


_MISSING = {"str": "", "float": float("nan"), "int": 0}


def _backfill(df: pd.DataFrame, table: str) -> pd.DataFrame:
    """Columns the schema gained after some parts were written (e.g. ``change_media``), with
    empty values, so a build resumed across such a change still writes a valid table."""
    missing = {c: k for c, k in schema.TABLES[table].items() if c not in df}
    if missing:
        df = df.copy()
        for col, kind in missing.items():
            df[col] = [[] for _ in range(len(df))] if kind == "list" else _MISSING[kind]
    return df
