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


class Firing:
    """Per unit: how many images it fires on (somewhere above 0), and at how many positions.

    A sparse dictionary's feature is judged by its density: one that fires everywhere says
    nothing, one that never fires is dead. Counts merge exactly across shards."""

    def __init__(self, units: int):
        self.images = torch.zeros(units, dtype=torch.float64)
        self.positions = torch.zeros(units, dtype=torch.float64)
        self.seen_images, self.seen_positions = 0, 0

    def add(self, flat: torch.Tensor, peak: torch.Tensor) -> None:
        """``flat``: (B, U, P) a batch's maps, contiguous; ``peak`` (B, U) their maxima."""
        # a map's maximum above 0 is "fires somewhere"; positions counted as a float sum of
        # 0/1 (exact far beyond a batch's positions), along the contiguous positions first:
        # boolean reductions, or one over two dimensions at once, cost a basis's thousand
        # units several times more on a CPU
        self.images += (peak > 0).sum(0).double().cpu()
        self.positions += (flat > 0).float().sum(2).sum(0).double().cpu()
        self.seen_images += flat.shape[0]
        self.seen_positions += flat.shape[0] * flat.shape[2]

    def merge(self, other: Firing) -> None:
        self.images += other.images
        self.positions += other.positions
        self.seen_images += other.seen_images
        self.seen_positions += other.seen_positions

    def state_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("images", "positions", "seen_images",
                                              "seen_positions")}

    def load_state_dict(self, state: dict) -> None:
        for k, v in state.items():
            setattr(self, k, v.clone() if isinstance(v, torch.Tensor) else v)


class LayerStats:
    PARTS = ("top", "bottom", "moments", "sample", "firing")

    def __init__(self, units: int, k: int, bottom_k: int, sample: int):
        self.top, self.bottom = RunningTopK(units, k), RunningTopK(units, bottom_k)
        self.moments = RunningMoments(units)
        self.sample = RunningTopK(1, sample)
        self.firing = Firing(units)
        self.map_hw = (1, 1)

    def update(self, fmap: torch.Tensor, positions: torch.Tensor, prio: torch.Tensor, how: str):
        fmap = as_map(fmap).detach().float()
        self.map_hw = tuple(fmap.shape[2:])
        # one contiguous (B, U, positions) copy serves every statistic: each unit's positions
        # are then summed in the same order whatever the layer's memory layout or unit count
        # (a basis's one-hot feature scores exactly as its channel does), and a basis's codes,
        # which arrive channels-last, are not copied again by each read of a permuted view
        flat = fmap.flatten(2).contiguous()
        peak, where = flat.max(2)  # spatial maximum and its first position per unit, (B, U)
        scores = peak if how == "max" else flat.mean(2)
        self.top.add(scores, positions, where=where)
        self.bottom.add(-scores, positions, where=where)
        self.moments.add(scores)
        self.sample.add(prio[:, None], positions, acts=scores[:, None, :])
        self.firing.add(flat, peak)

    def merge(self, other: LayerStats) -> None:
        for name in self.PARTS:
            getattr(self, name).merge(getattr(other, name))

    def state_dict(self) -> dict:
        return {**{name: getattr(self, name).state_dict() for name in self.PARTS},
                "map_hw": self.map_hw}

    def load_state_dict(self, state: dict) -> None:
        for name in self.PARTS:
            getattr(self, name).load_state_dict(state[name])
        self.map_hw = tuple(state["map_hw"])

    def topk_frame(self, layer: str, ids: list[str]) -> pd.DataFrame:
        """One row per (kind, unit, rank): every top row (by unit, then rank), then every
        bottom row; built from whole arrays, as a basis's thousand units made a row-by-row
        loop a visible share of mining."""
        h, w = self.map_hw
        parts = []
        for kind, tk, sign in (("top", self.top, 1.0), ("bottom", self.bottom, -1.0)):
            units, k = tk.ids.shape
            where = tk.payload.get("where", torch.zeros_like(tk.ids)).numpy().astype(np.int64)
            parts.append(pd.DataFrame({
                "layer": layer, "unit": np.repeat(np.arange(units), k), "kind": kind,
                "rank": np.tile(np.arange(k), units),
                "image_id": np.asarray(ids, dtype=object)[tk.ids.numpy().reshape(-1)],
                "activation": sign * tk.scores.numpy().astype(np.float64).reshape(-1),
                "argmax_y": (where // w).reshape(-1), "argmax_x": (where % w).reshape(-1),
                "map_h": h, "map_w": w}))
        return pd.concat(parts, ignore_index=True)

    def stats_frame(self, layer: str, bins: int) -> pd.DataFrame:
        acts = self.sample.payload["acts"][0].numpy().astype(np.float64)  # (n_sample, units)
        m, f = self.moments, self.firing
        # every unit's quantiles in one call (a basis has thousands of units)
        qs = np.quantile(acts, list(QUANTILES.values()), axis=0)  # (quantiles, units)
        lo, hi = m.min.numpy(), m.max.numpy()
        counts, edges = histograms(acts, lo, np.where(hi > lo, hi, lo + 1e-6), bins)
        mean, std = m.mean.tolist(), m.std.tolist()  # once: each is a whole vector
        rows = []
        for unit in range(m.sum.shape[0]):
            q = {k: float(qs[i, unit]) for i, k in enumerate(QUANTILES)}
            rows.append({
                "layer": layer, "unit": unit, "count": m.count, "mean": mean[unit],
                "std": std[unit], "min": float(lo[unit]), "max": float(hi[unit]), **q,
                "hist_counts": counts[unit].tolist(), "hist_edges": edges[unit].tolist(),
                "fire_images": float(f.images[unit]) / max(f.seen_images, 1),
                "fire_positions": float(f.positions[unit]) / max(f.seen_positions, 1),
            })
        return pd.DataFrame(rows)


def histograms(acts: np.ndarray, lo: np.ndarray, hi: np.ndarray, bins: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """Every unit's ``np.histogram(acts[:, u], bins, range=(lo[u], hi[u]))`` at once: counts
    (U, bins) and edges (U, bins + 1), the same numbers (numpy's own arithmetic for equal bins,
    including its corrections at the edges), where a call per unit looped over a basis's
    thousand units."""
    units = acts.shape[1]
    edges = np.stack([np.linspace(a, b, bins + 1) for a, b in zip(lo, hi, strict=True)])
    keep = (acts >= lo) & (acts <= hi)
    idx = ((acts - lo) / (hi - lo) * bins).astype(np.intp)
    idx = np.clip(np.where(idx == bins, bins - 1, idx), 0, bins - 1)  # clip: values not kept
    col = np.arange(units)
    idx -= acts < edges[col, idx]
    idx += (acts >= edges[col, idx + 1]) & (idx != bins - 1)
    flat = (idx + col * bins)[keep]
    return np.bincount(flat, minlength=units * bins).reshape(units, bins), edges
