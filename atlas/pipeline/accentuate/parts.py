"""The accentuation stage's finished batches (parts) and how they become tables.

Batches hold whole units, and each finished batch is a part under ``checkpoints/accents-<key>/``
(:class:`atlas.io.parts.PartStore`): a rerun skips the parts that exist, so an interrupted stage
resumes. :meth:`AccentParts.publish` turns the parts that exist into the stage's tables
(``accents``, ``labels``, ``accent_vectors``). It runs during a build too (``final=False``), so
the site can show the units that are done while the others are still running.
"""

from __future__ import annotations

import pandas as pd
import torch

from atlas.errors import AtlasError
from atlas.io.parts import PartStore
from atlas.pipeline import schema
from atlas.pipeline.rundir import RunDir

Part = dict[str, pd.DataFrame]  # table -> the batch's rows
TABLES = ("accents", "labels", "accent_vectors")


def unit_batches(seeds: pd.DataFrame, batch_size: int) -> list[pd.DataFrame]:
    """Group seed rows into batches of whole units of one layer, about ``batch_size`` pairs
    each (a batch optimizes one layer's objective, so it never spans two layers)."""
    out, cur, n = [], [], 0
    for (layer, _), g in seeds.groupby(["layer", "unit"], sort=True):
        if cur and (n + len(g) > batch_size or cur[-1]["layer"].iloc[0] != layer):
            out.append(pd.concat(cur))
            cur, n = [], 0
        cur.append(g.sort_values("rank"))
        n += len(g)
    if cur:
        out.append(pd.concat(cur))
    return out


class AccentParts:
    """The batches of one accentuation stage (one ``key``) and their parts."""

    def __init__(self, run: RunDir, seeds: pd.DataFrame, key: str, batch_size: int):
        self.run = run
        self.store: PartStore[Part] = PartStore(
            run.root / "checkpoints" / f"accents-{key}", ".pt", torch.save,
            lambda path: torch.load(path, weights_only=False))
        self.batches = unit_batches(seeds, batch_size)

    @staticmethod
    def name(batch: pd.DataFrame) -> str:
        first = batch.iloc[0]
        return f"{first['layer']}-{int(first['unit']):06d}"

    def publish(self, final: bool) -> pd.DataFrame:
        """Write the tables of the finished parts (all of them when ``final``); return accents."""
        parts = [p for b in self.batches if (p := self.store.get(self.name(b))) is not None]
        if final and len(parts) != len(self.batches):
            raise AtlasError(f"accentuation incomplete: {len(parts)} of {len(self.batches)} "
                             f"batches in {self.store.folder}; rerun the build to resume")
        out = {}
        for table in TABLES:
            frames = [p[table] for p in parts if len(p[table])]
            out[table] = (pd.concat(frames, ignore_index=True) if frames
                          else schema.empty(table))
            self.run.write_table(table, out[table])
        return out["accents"]
