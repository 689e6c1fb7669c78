"""Where a unit fires on an image: its activation map, the region the model saw, and a crop.

Coordinates are fractions of the ORIGINAL image (after EXIF orientation), so the site can place
them over a thumbnail of any size. The model saw the centre square of the original
(:func:`atlas.data.decode.crop_box`); the map covers exactly that square, row-major.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from atlas.data.decode import crop_box
from atlas.models.maps import as_grid


def pool_map(fmap: torch.Tensor, side: int) -> torch.Tensor:
    """(N, H, W) maps average-pooled to at most ``side`` per side (small maps unchanged):
    a 56x56 map of 3,136 floats per image would dominate the run's tables for no visible gain."""
    h, w = fmap.shape[-2:]
    if h <= side and w <= side:
        return fmap
    return F.adaptive_avg_pool2d(fmap[:, None].float(), (min(h, side), min(w, side)))[:, 0]


def view_box(width: int, height: int) -> list[float]:
    """The centre square the model saw, as [x0, y0, x1, y1] fractions of the original."""
    box = crop_box(width, height, 1)
    x0, y0, x1, y1 = box.box
    return [x0 / width, y0 / height, x1 / width, y1 / height]


def peak_box(y: int, x: int, map_h: int, map_w: int, rf_px: int, size: int,
             width: int, height: int) -> list[float]:
    """A square of side ``rf_px`` model-input pixels centred on map cell (y, x), clipped to the
    view, as [x0, y0, x1, y1] fractions of the original image."""
    cy, cx = (y + 0.5) * size / map_h, (x + 0.5) * size / map_w  # cell centre, input pixels
    half = rf_px / 2
    lo_x, hi_x = max(0.0, cx - half), min(float(size), cx + half)
    lo_y, hi_y = max(0.0, cy - half), min(float(size), cy + half)
    box = crop_box(width, height, size)
    (ox0, oy0), (ox1, oy1) = box.to_original(lo_x, lo_y), box.to_original(hi_x, hi_y)
    return [ox0 / width, oy0 / height, ox1 / width, oy1 / height]


def where_cells(grid: torch.Tensor, units: list[int], side: int
                ) -> tuple[np.ndarray, list[tuple[int, int]], tuple[int, int]]:
    """For one image's (C, H, W) maps and the ``units`` that list it: their pooled maps (N, h*w)
    float32, the full-resolution argmax cell (y, x) of each, and the pooled (h, w)."""
    sel = grid[units].detach().float().cpu()  # (N, H, W)
    w = sel.shape[-1]
    flat = sel.flatten(1).argmax(1).tolist()
    cells = [(p // w, p % w) for p in flat]
    pooled = pool_map(sel, side)
    return pooled.flatten(1).numpy().astype(np.float32), cells, tuple(pooled.shape[-2:])


class WhereMaps:
    """The where-table rows, filled image by image, indexed by their topk row."""

    def __init__(self, rf: dict[str, int], size: int, side: int):
        self.rf, self.size, self.side = rf, size, side
        self.rows: dict[int, tuple] = {}  # topk row -> (map, h, w, view, box)

    def add(self, layer: str, rows: list[int], units: list[int], acts: torch.Tensor,
            wh: tuple[int, int]) -> None:
        """One image's layer output (C, H, W or T, C) and the topk rows that list it."""
        grid = as_grid(acts[None])[0]
        maps, cells, (h, w) = where_cells(grid, units, self.side)
        big_h, big_w = grid.shape[-2:]
        view = view_box(*wh)
        for r, m, (y, x) in zip(rows, maps, cells, strict=True):
            box = peak_box(y, x, big_h, big_w, self.rf[layer], self.size, *wh)
            self.rows[r] = (m, h, w, view, box)

    def frame(self, topk: pd.DataFrame) -> pd.DataFrame:
        """One row per topk row, in order; an image that failed to decode gets an empty map.
        ``scale``: per unit, the median of its top maps' peaks: one heat scale for all of the
        unit's images, so weaker images look weaker, and the stronger half of its top images
        reach full heat at their peak (the largest peak, an earlier choice, is often one
        outlier photo, and left every other map too faint to see on the pages). Floored at a
        tiny positive value so a unit whose top maps never rise above zero shows no heat rather
        than an inverted one."""
        empty = (np.zeros(0, np.float32), 0, 0, [], [])
        got = [self.rows.get(r, empty) for r in range(len(topk))]
        out = topk[["layer", "unit", "kind", "rank", "image_id"]].reset_index(drop=True)
        out["map"] = [g[0] for g in got]
        out["map_h"] = np.array([g[1] for g in got], dtype=np.int64)
        out["map_w"] = np.array([g[2] for g in got], dtype=np.int64)
        out["view"] = [g[3] for g in got]
        out["box"] = [g[4] for g in got]
        out["rf_px"] = out["layer"].map(self.rf).astype(np.int64)
        peak = out["map"].map(lambda m: float(m.max()) if len(m) else float("-inf"))
        top = peak.where((out["kind"] == "top") & np.isfinite(peak))
        scale = top.groupby([out["layer"], out["unit"]]).transform("median").fillna(1e-6)
        out["scale"] = scale.clip(lower=1e-6).astype(np.float64)
        return out
