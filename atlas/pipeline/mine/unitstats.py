"""Everything mining keeps for the units of one layer: top-k, bottom-k, moments, a sample.

Memory is O(units x (k + sample)), never O(images). The sample holds the activations of the
images with the highest content-defined priority, from which quantiles and the histogram are
computed; they are exact whenever the data set has no more images than the sample size.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from atlas.models.maps import as_map
from atlas.pipeline.mine.topk import RunningMoments, RunningTopK

QUANTILES = {"q01": 0.01, "q10": 0.10, "q50": 0.50, "q90": 0.90, "q99": 0.99}


def reduce_map(fmap: torch.Tensor, how: str) -> torch.Tensor:
    """A layer's output (any form, :func:`atlas.models.maps.as_map`) -> (B, U) by spatial mean
    or max."""
    flat = as_map(fmap).flatten(2)
    return flat.amax(2) if how == "max" else flat.mean(2)


class LayerStats:
    def __init__(self, units: int, k: int, bottom_k: int, sample: int):
        self.top, self.bottom = RunningTopK(units, k), RunningTopK(units, bottom_k)
        self.moments = RunningMoments(units)
        self.sample = RunningTopK(1, sample)
        self.map_hw = (1, 1)

    def update(self, fmap: torch.Tensor, positions: torch.Tensor, prio: torch.Tensor, how: str):
        fmap = as_map(fmap).detach().float()
        scores = reduce_map(fmap, how)
        self.map_hw = tuple(fmap.shape[2:])
        where = fmap.flatten(2).argmax(2)  # spatial argmax per unit, (B, U)
        self.top.add(scores, positions, where=where)
        self.bottom.add(-scores, positions, where=where)
        self.moments.add(scores)
        self.sample.add(prio[:, None], positions, acts=scores[:, None, :])

    def merge(self, other: LayerStats) -> None:
        for name in ("top", "bottom", "moments", "sample"):
            getattr(self, name).merge(getattr(other, name))

    def state_dict(self) -> dict:
        return {
            "top": self.top.state_dict(), "bottom": self.bottom.state_dict(),
            "moments": self.moments.state_dict(), "sample": self.sample.state_dict(),
            "map_hw": self.map_hw,
        }

    def load_state_dict(self, state: dict) -> None:
        for name in ("top", "bottom", "moments", "sample"):
            getattr(self, name).load_state_dict(state[name])
        self.map_hw = tuple(state["map_hw"])

    def topk_frame(self, layer: str, ids: list[str]) -> pd.DataFrame:
        rows = []
        h, w = self.map_hw
        for kind, tk, sign in (("top", self.top, 1.0), ("bottom", self.bottom, -1.0)):
            where = tk.payload.get("where", torch.zeros_like(tk.ids))
            for unit in range(tk.units):
                for rank in range(tk.ids.shape[1]):
                    pos = int(where[unit, rank])
                    rows.append((
                        layer, unit, kind, rank, ids[int(tk.ids[unit, rank])],
                        sign * float(tk.scores[unit, rank]), pos // w, pos % w, h, w,
                    ))
        cols = ["layer", "unit", "kind", "rank", "image_id", "activation",
                "argmax_y", "argmax_x", "map_h", "map_w"]
        return pd.DataFrame(rows, columns=cols)

    def stats_frame(self, layer: str, bins: int) -> pd.DataFrame:
        acts = self.sample.payload["acts"][0].numpy()  # (n_sample, units)
        m = self.moments
        rows = []
        for unit in range(m.sum.shape[0]):
            a = acts[:, unit].astype(np.float64)
            lo, hi = float(m.min[unit]), float(m.max[unit])
            counts, edges = np.histogram(a, bins=bins, range=(lo, hi if hi > lo else lo + 1e-6))
            q = {k: float(np.quantile(a, p)) for k, p in QUANTILES.items()}
            rows.append({
                "layer": layer, "unit": unit, "count": m.count, "mean": float(m.mean[unit]),
                "std": float(m.std[unit]), "min": lo, "max": hi, **q,
                "hist_counts": counts.tolist(), "hist_edges": edges.tolist(),
            })
        return pd.DataFrame(rows)
