"""The accentuation stage: every chosen (unit, seed) pair of a run, batched, resumable.

Batches hold whole units (all of a unit's seeds), so a unit's attribution masks are normalized
collectively (one shared scale) inside its batch. Each finished batch is written as a part
(:mod:`atlas.pipeline.accentuate.parts`) with its media (:mod:`atlas.pipeline.accentuate.media`);
a rerun skips the parts that exist, so an interrupted stage resumes.
"""

from __future__ import annotations

from dataclasses import asdict

import pandas as pd
import torch

from atlas.accent.loop import accentuate, concat_results, to_input
from atlas.accent.objectives import Target
from atlas.config.accent import AccentConfig
from atlas.config.resolved import Resolved
from atlas.data.loader import load_by_id
from atlas.data.media import CHANGE_GAIN
from atlas.data.sources import ImageSource
from atlas.models.basis import split_name
from atlas.models.hooks import LOGITS, Probe
from atlas.models.maps import pooled
from atlas.models.zoo import LoadedModel
from atlas.pipeline.accentuate.media import write_media
from atlas.pipeline.accentuate.parts import TABLES, AccentParts, Part
from atlas.pipeline.pairs import run_parts
from atlas.pipeline.rundir import RunDir
from atlas.pipeline.session import planned_units
from atlas.pipeline.stage import Context, Stage


def label_rows(model: LoadedModel, batch: pd.DataFrame, seeds: torch.Tensor,
               images: torch.Tensor, top: int = 5) -> pd.DataFrame:
    """The classes each unit's accentuations drive most: mean logit increase seed -> accent
    (none for random weights: two forwards to the logits the site would hide)."""
    if not model.labels_classes:
        return pd.DataFrame()
    probe = Probe(model, [LOGITS])
    with torch.inference_mode():
        s = model.input_size
        delta = (probe(to_input(images, s).to(model.device))[LOGITS]
                 - probe(to_input(seeds, s).to(model.device))[LOGITS]).float().cpu()
    rows = []
    b = batch.reset_index(drop=True)
    for (layer, unit), idx in b.groupby(["layer", "unit"]).groups.items():
        mean = delta[list(idx)].mean(0)
        vals, cls = mean.topk(min(top, mean.numel()))  # a head may have fewer classes
        rows += [(layer, int(unit), r, int(c), model.class_names[int(c)], float(v))
                 for r, (v, c) in enumerate(zip(vals, cls, strict=False))]
    return pd.DataFrame(rows, columns=["layer", "unit", "rank", "class_index", "class_name",
                                       "score"])


def run_batch(run: RunDir, model: LoadedModel, source: ImageSource, batch: pd.DataFrame,
              cfg: AccentConfig, resolved: Resolved) -> Part:
    """Accentuate one batch of whole units; its rows of the stage's tables."""
    seeds = load_by_id(source, list(batch["image_id"]), cfg.canvas)
    layer = batch["layer"].iloc[0]
    units = torch.tensor(batch["unit"].to_numpy())
    size = resolved.accent_batch
    chunks = [accentuate(model, seeds[i:i + size], Target(layer, units[i:i + size],
                                                          kind=cfg.target), cfg,
                         reg_layer=resolved.reg_for(layer), view_px=resolved.view_px)
              for i in range(0, len(units), size)]
    res = concat_results(chunks)
    media = write_media(run, batch, seeds, res)
    keys = {"layer": batch["layer"].to_numpy(), "unit": batch["unit"].to_numpy(),
            "image_id": batch["image_id"].to_numpy(), "rank": batch["rank"].to_numpy()}
    accents = pd.DataFrame({
        **keys,
        "seed_activation": res.seed_activation.numpy(),
        "final_activation": res.final_activation.numpy(),
        "gain": (res.final_activation / res.seed_activation).numpy(),
        "latent_distance": res.latent_distance.numpy(), "pixel_rmse": res.pixel_rmse.numpy(),
        "steps": cfg.steps, "lam": cfg.lam, "param": cfg.param,
        "reg_layer": resolved.reg_for(layer), **media, "change_gain": CHANGE_GAIN,
        "trajectory": [t.tolist() for t in res.trajectory],
    })
    base = split_name(layer)[0]  # placed by the channel vectors, as natural images are
    with torch.inference_mode():
        acts = Probe(model, [base])(to_input(res.images, model.input_size).to(model.device))
    vectors = pd.DataFrame({**keys, "vector": [v.tolist() for v in pooled(acts[base]).numpy()]})
    return {"accents": accents, "accent_vectors": vectors,
            "labels": label_rows(model, batch, seeds, res.images)}


def chosen_seeds(ctx: Context) -> pd.DataFrame:
    """The seeds to accentuate: those select chose, of the planned units."""
    seeds = ctx.run.read_table("seeds")
    plan = planned_units(ctx.cfg, ctx.run)
    keep = [(seeds["layer"] == layer) & seeds["unit"].isin(units) for layer, units in plan.items()]
    return seeds[pd.concat(keep, axis=1).any(axis=1)] if keep else seeds.iloc[:0]


def _compute(ctx: Context, key: str) -> dict:
    """Accentuate every batch (resuming from parts; each rank takes every world-th batch),
    reporting each new one; rank 0 collects the parts into the stage's tables."""
    d, run, cfg = ctx.dist, ctx.run, ctx.cfg.accent
    model, source, resolved = ctx.inputs()
    seeds = d.broadcast(chosen_seeds(ctx) if d.main else None)
    parts = AccentParts(run, seeds, key, resolved.accent_batch)
    took = run_parts(ctx, parts, lambda b: run_batch(run, model, source, b, cfg, resolved),
                     "accentuate")
    if not d.main:
        return {}
    n = len(parts.publish(final=True))
    return {"pairs": n, "seconds_per_accent": round(took * d.world
                                                    / max(n, 1), 3)}


def _settings(ctx: Context) -> list:
    _, _, resolved = ctx.inputs()
    plan = planned_units(ctx.cfg, ctx.run)
    return [asdict(ctx.cfg.accent), plan, {layer: resolved.reg_for(layer) for layer in plan},
            resolved.view_px]


ACCENTUATE = Stage("accentuate", inputs=("mine", "describe", "select"), outputs=TABLES,
                   settings=_settings, compute=_compute, version="3", sharded=True,
                   checkpoints=("accents-*",))
