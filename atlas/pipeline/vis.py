"""Noise-seeded feature visualization of every planned unit, for contrast on the site.

Same machinery as accentuation (parameterization, views, objective) with no seed and no
regularizer: classic feature visualization, which shows what a unit likes in isolation. It does
not depend on accentuation, so a build runs it first: one optimization per unit against at least
four per unit for accentuation, it gives every page a picture of what the unit likes early on.

Resumable like accentuation: each chunk of units (one ``visualize`` call) is a part file under
``checkpoints/vis-<key>/`` and a rerun skips the chunks that exist; :meth:`VisPlan.publish` writes
``vis.parquet`` from the parts that exist, during a build (for the site) and at the end.
Chunks are sharded over ranks.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import pandas as pd
import torch
from tqdm import tqdm

from atlas.accent.loop import AccentConfig, auto_batch, visualize
from atlas.accent.objectives import Target
from atlas.data.media import save_webp, to_pil
from atlas.models.zoo import LoadedModel
from atlas.pipeline import schema
from atlas.pipeline.inputs import planned_units
from atlas.pipeline.rundir import RunDir, atomic_write_json
from atlas.pipeline.stage import Context, Stage

Row = tuple[str, int, float, str]  # layer, unit, final activation, media path
# Units per visualize call on a CPU when accent.batch_size is auto. Accentuation takes 1 pair
# at a time there (flat cost, memory); for visualization a batch of 8 units costs no more per
# unit, degrades less when other processes compete for the cores, and stays near 1 GB (the
# measurements are in the README's benchmarks).
CPU_UNITS = 8


def vis_config(cfg: AccentConfig) -> AccentConfig:
    """The accentuation settings as visualization uses them: no animation frames, and
    attribution only on step 0 (the loop always takes it there), since the site shows no mask
    for a visualization and every attribution step costs one more shallow backward pass."""
    return replace(cfg, frames=0, mask_every=min(cfg.steps + 1, 100_000))


def vis_chunk(cfg: AccentConfig, device: torch.device) -> int:
    return cfg.batch_size or (CPU_UNITS if device.type == "cpu" else auto_batch(0, device))


@dataclass
class VisPlan:
    """The units to visualize, in chunks of one ``visualize`` call each, under one key."""

    run: RunDir
    units: list[tuple[str, int]]
    cfg: AccentConfig  # already through vis_config
    key: str
    chunk: int
    _loaded: dict[Path, list[Row]] = field(default_factory=dict)

    @classmethod
    def make(cls, run: RunDir, units: list[tuple[str, int]], accent: AccentConfig, key: str,
             device: torch.device) -> VisPlan:
        cfg = vis_config(accent)
        return cls(run, sorted(units), cfg, key, vis_chunk(cfg, device))

    @property
    def dir(self) -> Path:
        return self.run.root / "checkpoints" / f"vis-{self.key}"

    def chunks(self) -> list[list[tuple[str, int]]]:
        """Chunks of units of one layer each (a ``visualize`` call targets one layer)."""
        out: list[list[tuple[str, int]]] = []
        for layer, unit in self.units:
            if out and len(out[-1]) < self.chunk and out[-1][0][0] == layer:
                out[-1].append((layer, unit))
            else:
                out.append([(layer, unit)])
        return out

    def path(self, chunk: list[tuple[str, int]]) -> Path:
        return self.dir / f"{chunk[0][0]}-{chunk[0][1]:06d}.json"

    def load(self, chunk: list[tuple[str, int]]) -> list[Row] | None:
        path = self.path(chunk)
        if path not in self._loaded:
            if not path.exists():
                return None
            self._loaded[path] = [tuple(r) for r in json.loads(path.read_text())]
        return self._loaded[path]

    def publish(self) -> pd.DataFrame:
        """Write ``vis.parquet`` from the chunks that are done; return it."""
        rows = sorted(r for c in self.chunks() for r in (self.load(c) or []))
        df = pd.DataFrame(rows, columns=list(schema.TABLES["vis"])) if rows else schema.empty(
            "vis")
        self.run.write_table("vis", df)
        return df


def _visualize(plan: VisPlan, model: LoadedModel, chunk: list[tuple[str, int]]) -> list[Row]:
    layer = chunk[0][0]
    units = [u for _, u in chunk]
    res = visualize(model, Target(layer, torch.tensor(units), kind=plan.cfg.target), plan.cfg)
    rows = []
    for j, unit in enumerate(units):
        path = f"media/vis/{layer}/{unit}.webp"
        save_webp(plan.run.root / path, to_pil(res.images[j]))
        rows.append((layer, unit, float(res.final_activation[j]), path))
    return rows


def _units(ctx: Context) -> list[tuple[str, int]]:
    layer, units = planned_units(ctx.cfg, ctx.run)
    return [(layer, u) for u in units]


def _settings(ctx: Context) -> list:
    cfg = vis_config(ctx.cfg.accent)
    # the chunk is in the key: a unit's starting noise depends on its place in the call
    return [asdict(cfg), sorted(_units(ctx)), vis_chunk(cfg, ctx.model.device)]


def _compute(ctx: Context, key: str) -> dict:
    """Visualize every planned unit (resuming from part files), reporting each new chunk."""
    d = ctx.dist
    plan = VisPlan.make(ctx.run, _units(ctx), ctx.cfg.accent, key, ctx.model.device)
    mine = plan.chunks()[d.rank::d.world]
    for chunk in tqdm(mine, disable=not ctx.bar, desc="visualize", dynamic_ncols=True):
        if not plan.path(chunk).exists():
            atomic_write_json(plan.path(chunk), _visualize(plan, ctx.model, chunk))
            ctx.progressed(plan.publish)
    d.barrier()
    return {"units": len(plan.publish())} if d.main else {}


VIS = Stage("vis", inputs=("mine",), outputs=("vis",), settings=_settings, compute=_compute,
            version="3", sharded=True, checkpoints=("vis-*",))
