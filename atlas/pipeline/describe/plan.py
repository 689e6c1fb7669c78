"""What the describe pass reads and computes: which images, which units list each, which
ablations run on each, batched so no rest-of-network batch exceeds a row limit."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch

from atlas.data.sources import ImageSource
from atlas.errors import AtlasError
from atlas.pipeline.describe.causal import BASELINE

Rows = list[tuple[int, int]]  # (image index in the batch, unit or BASELINE)


@dataclass
class Plan:
    layers: list[str]
    ids: list[str]  # source position -> image_id
    positions: list[int]  # the source positions to read: every image topk lists, once
    listing: dict[str, dict[str, tuple[list[int], list[int]]]]  # layer -> id -> (rows, units)
    ablate: dict[str, dict[str, list[int]]]  # layer -> id -> units ablated on it

    @classmethod
    def make(cls, topk: pd.DataFrame, source: ImageSource, top_n: int, causal: bool) -> Plan:
        ids = [r.image_id for r in source.records]
        where = {x: i for i, x in enumerate(ids)}
        missing = sorted(set(topk["image_id"]) - set(where))
        if missing:
            raise AtlasError(f"topk lists {len(missing)} images the source lacks (e.g. "
                             f"{missing[0]!r}): the data changed since mining; re-run mine")
        topk = topk.reset_index(drop=True)
        listing: dict = {}
        for (layer, image_id), idx in topk.groupby(["layer", "image_id"]).indices.items():
            listing.setdefault(layer, {})[image_id] = (
                idx.tolist(), topk["unit"].to_numpy()[idx].tolist())
        ablate: dict = {layer: {} for layer in listing}
        if causal:
            top = topk[(topk["kind"] == "top") & (topk["rank"] < top_n)]
            for (layer, image_id), units in top.groupby(["layer", "image_id"])["unit"]:
                ablate[layer][image_id] = sorted(int(u) for u in units)
        positions = sorted(where[x] for x in topk["image_id"].unique())
        return cls(sorted(listing), ids, positions, listing, ablate)

    def means(self, stats: pd.DataFrame, layer: str) -> torch.Tensor:
        """Each unit's data-set mean (``stats.parquet``), the value an ablation sets it to."""
        s = stats[stats["layer"] == layer]
        n = int(s["unit"].max()) + 1 if len(s) else 0
        out = torch.zeros(n, dtype=torch.float32)
        out[torch.tensor(s["unit"].to_numpy())] = torch.tensor(s["mean"].to_numpy(),
                                                               dtype=torch.float32)
        return out

    def ablation_chunks(self, layer: str, ids: list[str], limit: int) -> list[Rows]:
        """The batch's ablation rows, each image's baseline in the same chunk as its
        ablations, at most ``limit`` rows per chunk (an image listed by many units is split)."""
        pieces: list[Rows] = []
        for i, image_id in enumerate(ids):
            units = self.ablate[layer].get(image_id, [])
            for s in range(0, len(units), limit - 1):
                pieces.append([(i, BASELINE)] + [(i, u) for u in units[s:s + limit - 1]])
        chunks: list[Rows] = []
        for p in pieces:
            if chunks and len(chunks[-1]) + len(p) <= limit:
                chunks[-1] += p
            else:
                chunks.append(list(p))
        return chunks
