"""Noise-seeded feature visualization of every planned unit, for contrast on the site.

Same machinery as accentuation (parameterization, views, objective) with no seed and no
regularizer: classic feature visualization, which shows what a unit likes in isolation. It does
not depend on accentuation, so a build runs it first: one optimization per unit against at least
four per unit for accentuation, it gives every page a picture of what the unit likes early on.

Resumable like accentuation: each chunk of units (one ``visualize`` call) is a part
(:class:`atlas.io.parts.PartStore`) under ``checkpoints/vis-<key>/`` and a rerun skips the chunks
that exist; :meth:`VisPlan.publish` writes ``vis.parquet`` from the parts that exist, during a
build (for the site) and at the end. Chunks are sharded over ranks.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace

import pandas as pd
import torch
from tqdm import tqdm

from atlas.accent.loop import visualize
from atlas.accent.objectives import Target
from atlas.config.accent import AccentConfig
from atlas.config.resolved import Resolved
from atlas.data.media import save_webp, to_pil
from atlas.io.parts import PartStore
from atlas.models.zoo import LoadedModel
from atlas.pipeline import schema
from atlas.pipeline.rundir import RunDir
from atlas.pipeline.session import planned_pairs
from atlas.pipeline.stage import Context, Stage

Row = tuple[str, int, float, str]  # layer, unit, final activation, media path
Chunk = list[tuple[str, int]]


def vis_config(cfg: AccentConfig) -> AccentConfig:
    """The accentuation settings as visualization uses them: no animation frames, and
    attribution only on step 0 (the loop always takes it there), since the site shows no mask
    for a visualization and every attribution step costs one more shallow backward pass."""
    return replace(cfg, frames=0, mask_every=min(cfg.steps + 1, 100_000))


def _rows(path) -> list[Row]:
    return [tuple(r) for r in json.loads(path.read_text())]


@dataclass
class VisPlan:
    """The units to visualize, in chunks of one ``visualize`` call each, under one key."""

    run: RunDir
    units: list[tuple[str, int]]
    cfg: AccentConfig  # already through vis_config
    chunk: int
    parts: PartStore[list[Row]]

    @classmethod
    def make(cls, run: RunDir, units: list[tuple[str, int]], accent: AccentConfig, key: str,
             chunk: int) -> VisPlan:
        store = PartStore(run.root / "checkpoints" / f"vis-{key}", ".json",
                          lambda rows, buf: buf.write(json.dumps(rows, indent=2,
                                                                 sort_keys=True).encode()),
                          _rows)
        return cls(run, sorted(units), vis_config(accent), chunk, store)

    def chunks(self) -> list[Chunk]:
        """Chunks of units of one layer each (a ``visualize`` call targets one layer)."""
        out: list[Chunk] = []
        for layer, unit in self.units:
            if out and len(out[-1]) < self.chunk and out[-1][0][0] == layer:
                out[-1].append((layer, unit))
            else:
                out.append([(layer, unit)])
        return out

    @staticmethod
    def name(chunk: Chunk) -> str:
        return f"{chunk[0][0]}-{chunk[0][1]:06d}"

    def publish(self) -> pd.DataFrame:
        """Write ``vis.parquet`` from the chunks that are done; return it."""
        rows = sorted(r for c in self.chunks() for r in (self.parts.get(self.name(c)) or []))
        df = pd.DataFrame(rows, columns=list(schema.TABLES["vis"])) if rows else schema.empty(
            "vis")
        self.run.write_table("vis", df)
        return df


def _visualize(plan: VisPlan, model: LoadedModel, resolved: Resolved, chunk: Chunk) -> list[Row]:
    layer = chunk[0][0]
    units = [u for _, u in chunk]
    res = visualize(model, Target(layer, torch.tensor(units), kind=plan.cfg.target), plan.cfg,
                    reg_layer=resolved.reg_for(layer), view_px=resolved.view_px)
    rows = []
    for j, unit in enumerate(units):
        path = f"media/vis/{layer}/{unit}.webp"
        save_webp(plan.run.root / path, to_pil(res.images[j]))
        rows.append((layer, unit, float(res.final_activation[j]), path))
    return rows


def _units(ctx: Context) -> list[tuple[str, int]]:
    return planned_pairs(ctx.cfg, ctx.run)


def _settings(ctx: Context) -> list:
    _, _, resolved = ctx.inputs()
    # the chunk is in the key: a unit's starting noise depends on its place in the call
    return [asdict(vis_config(ctx.cfg.accent)), sorted(_units(ctx)), resolved.vis_batch,
            sorted({resolved.reg_for(layer) for layer, _ in _units(ctx)}), resolved.view_px]


def _compute(ctx: Context, key: str) -> dict:
    """Visualize every planned unit (resuming from part files), reporting each new chunk."""
    d = ctx.dist
    model, _, resolved = ctx.inputs()
    plan = VisPlan.make(ctx.run, _units(ctx), ctx.cfg.accent, key, resolved.vis_batch)
    mine = plan.chunks()[d.rank::d.world]
    for chunk in tqdm(mine, disable=not ctx.bar, desc="visualize", dynamic_ncols=True):
        if not plan.parts.has(plan.name(chunk)):
            plan.parts.save(plan.name(chunk), _visualize(plan, model, resolved, chunk))
            ctx.progressed(plan.publish)
    d.barrier()
    return {"units": len(plan.publish())} if d.main else {}


VIS = Stage("vis", inputs=("mine",), outputs=("vis",), settings=_settings, compute=_compute,
            version="3", sharded=True, checkpoints=("vis-*",))
