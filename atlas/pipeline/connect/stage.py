"""The ``connect`` stage: for each unit of a mined layer, the units of the mined layer that runs
just before it that drive it most, up and down, on its own top images.

Layers pair up in the order the forward pass runs them (not the config's order): each mined
layer with the mined layer before it. A build that mines one layer writes an empty table. Per
unit the ``connect.keep`` strongest positive and negative inputs are kept, and the input with
the unit's own index when the two layers have the same shape: that channel reaches the unit
through the residual shortcut as well (the same rule as the validation's shortcut-removed
figures, :mod:`atlas.evaluation.pathway`), so it is kept and marked, never hidden.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from atlas.data.loader import make_loader
from atlas.models.maps import as_map
from atlas.models.probe import layer_shapes
from atlas.models.zoo import LoadedModel
from atlas.pipeline import schema
from atlas.pipeline.connect.drive import DriveForward, NoPath
from atlas.pipeline.stage import Context, Stage


def layer_pairs(model: LoadedModel, layers: list[str]) -> list[tuple[str, str]]:
    """(earlier, later) for each mined layer and the mined layer the forward runs before it;
    layers that are not modules of the model (a feature basis) are left out."""
    modules = [n for n in dict.fromkeys(layers) if n in model.layers]
    order = list(layer_shapes(model, modules)) if len(modules) > 1 else modules
    return list(zip(order, order[1:], strict=False))


def same_shape(model: LoadedModel, early: str, late: str) -> bool:
    """Whether the two layers' maps have one shape (C, H, W): a residual stream's."""
    shapes = layer_shapes(model, [early, late])
    x = torch.zeros(1, *shapes[early])
    y = torch.zeros(1, *shapes[late])
    return tuple(as_map(x).shape) == tuple(as_map(y).shape)


class Drives:
    """Summed drives per later unit, filled image batch by image batch."""

    def __init__(self) -> None:
        self.sum: dict[int, torch.Tensor] = {}
        self.count: dict[int, int] = {}

    def add(self, rows: list[tuple[int, int]], drives: torch.Tensor) -> None:
        for (_, unit), d in zip(rows, drives, strict=True):
            self.sum[unit] = self.sum[unit] + d if unit in self.sum else d.double()
            self.count[unit] = self.count.get(unit, 0) + 1

    def frame(self, early: str, late: str, keep: int, shortcut: bool) -> pd.DataFrame:
        """The kept rows: ``keep`` strongest up, ``keep`` strongest down, the shortcut."""
        rows = []
        for unit in sorted(self.sum):
            mean = (self.sum[unit] / self.count[unit]).numpy()
            order = np.argsort(-mean, kind="stable")
            rank = np.empty_like(order)
            rank[order] = np.arange(len(order))
            total = float(np.abs(mean).sum()) or 1.0
            chosen = [c for c in order[:keep] if mean[c] > 0]
            chosen += [c for c in order[::-1][:keep] if mean[c] < 0]
            if shortcut and unit < len(mean) and unit not in chosen:
                chosen.append(unit)
            rows += [(late, unit, early, int(c), int(rank[c]), float(mean[c]),
                      float(mean[c]) / total, int(shortcut and c == unit), self.count[unit])
                     for c in sorted(set(chosen), key=lambda c: rank[c])]
        return pd.DataFrame(rows, columns=list(schema.TABLES["connections"]))


def _pair(ctx: Context, early: str, late: str, top: pd.DataFrame) -> pd.DataFrame:
    model, source, resolved = ctx.inputs()
    cfg = ctx.cfg.connect
    ids = [r.image_id for r in source.records]
    where = {x: i for i, x in enumerate(ids)}
    mine = top[top["layer"] == late]
    listing = mine.groupby("image_id")["unit"].apply(lambda s: sorted(int(u) for u in s))
    positions = sorted(where[x] for x in listing.index if x in where)
    forward = DriveForward(model, early, late, ctx.cfg.mine.reduce)
    drives = Drives()
    loader = make_loader(source, model.input_size, ctx.cfg.mine.batch_size, resolved.workers,
                         positions)
    bar = tqdm(total=len(positions), unit="img", disable=not ctx.bar,
               desc=f"connect {late}", dynamic_ncols=True)
    for batch in loader:
        images = batch.images.to(model.device)
        rows = [(i, u) for i, p in enumerate(batch.positions) for u in listing[ids[p]]]
        for s in range(0, len(rows), cfg.rows_per_pass):
            chunk = rows[s:s + cfg.rows_per_pass]
            keep = sorted({i for i, _ in chunk})
            local = {i: j for j, i in enumerate(keep)}
            drives.add(chunk, forward(images[keep], [(local[i], u) for i, u in chunk]))
        bar.update(len(batch.positions) + len(batch.skipped))
    bar.close()
    return drives.frame(early, late, cfg.keep, same_shape(model, early, late))


def _compute(ctx: Context, key: str) -> dict:
    model, _, _ = ctx.inputs()
    topk = ctx.run.read_table("topk")
    top = topk[(topk["kind"] == "top") & (topk["rank"] < ctx.cfg.connect.top_n)]
    frames, info = [], {}
    for early, late in layer_pairs(model, ctx.cfg.mine.layers):
        try:
            frames.append(_pair(ctx, early, late, top))
            info[late] = early
        except NoPath as e:
            info[late] = f"none: {e}"
    frames = [f for f in frames if len(f)]
    df = pd.concat(frames, ignore_index=True) if frames else schema.empty("connections")
    ctx.run.write_table("connections", df)
    return {"pairs": info, "rows": len(df)}


def _settings(ctx: Context) -> list:
    return [ctx.cfg.connect.result_key(), ctx.cfg.mine.reduce]


CONNECT = Stage("connect", inputs=("mine",), outputs=("connections",), settings=_settings,
                compute=_compute)
