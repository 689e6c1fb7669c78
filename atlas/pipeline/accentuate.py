"""The accentuation stage: every chosen (unit, seed) pair of a run, batched, resumable.

Batches hold whole units (all of a unit's seeds), so a unit's attribution masks are normalized
collectively (one shared scale) inside its batch. Each finished batch is written as a part file
with its media (:mod:`atlas.pipeline.accent_parts`); a rerun skips the parts that exist, so an
interrupted stage resumes.
"""

from __future__ import annotations

import time
from dataclasses import asdict

import pandas as pd
import torch
from tqdm import tqdm

from atlas.accent.loop import AccentConfig, accentuate, auto_batch, concat_results, to_input
from atlas.accent.objectives import Target
from atlas.data.loader import make_loader
from atlas.data.media import CHANGE_GAIN
from atlas.data.sources import ImageSource
from atlas.models.hooks import LOGITS, Probe
from atlas.models.zoo import LoadedModel
from atlas.pipeline.accent_parts import AccentParts, write_media
from atlas.pipeline.features import feature_rows, pooled
from atlas.pipeline.inputs import planned_units
from atlas.pipeline.rundir import RunDir, atomic_write_with
from atlas.pipeline.stage import Context, Stage


def load_seeds(source: ImageSource, ids: list[str], size: int) -> torch.Tensor:
    pos = {r.image_id: r.index for r in source.records}
    batch = next(iter(make_loader(source, size, len(ids), 0, [pos[i] for i in ids])))
    if len(batch.positions) != len(ids):
        raise RuntimeError(f"seed images failed to decode: {batch.skipped}")
    return batch.images


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
        vals, cls = mean.topk(top)
        rows += [(layer, int(unit), r, int(c), model.class_names[int(c)], float(v))
                 for r, (v, c) in enumerate(zip(vals, cls, strict=False))]
    return pd.DataFrame(rows, columns=["layer", "unit", "rank", "class_index", "class_name",
                                       "score"])


def run_batch(run: RunDir, model: LoadedModel, source: ImageSource, batch: pd.DataFrame,
              cfg: AccentConfig) -> dict[str, pd.DataFrame]:
    seeds = load_seeds(source, list(batch["image_id"]), cfg.canvas)
    layer = batch["layer"].iloc[0]
    units = torch.tensor(batch["unit"].to_numpy())
    size = auto_batch(cfg.batch_size, model.device)
    chunks = [accentuate(model, seeds[i:i + size], Target(layer, units[i:i + size],
                                                          kind=cfg.target), cfg)
              for i in range(0, len(units), size)]
    res = concat_results(chunks)
    media = write_media(run, batch, seeds, res)
    accents = pd.DataFrame({
        "layer": batch["layer"].to_numpy(), "unit": batch["unit"].to_numpy(),
        "image_id": batch["image_id"].to_numpy(), "rank": batch["rank"].to_numpy(),
        "seed_activation": res.seed_activation.numpy(),
        "final_activation": res.final_activation.numpy(),
        "gain": (res.final_activation / res.seed_activation).numpy(),
        "latent_distance": res.latent_distance.numpy(), "pixel_rmse": res.pixel_rmse.numpy(),
        "steps": cfg.steps, "lam": cfg.lam, "param": cfg.param, "reg_layer": cfg.reg_layer,
        **media, "change_gain": CHANGE_GAIN, "trajectory": [t.tolist() for t in res.trajectory],
    })
    vec = pooled(model, to_input(res.images, model.input_size), layer)
    feats = feature_rows(layer, "accent", list(batch["unit"]), list(batch["rank"]),
                         list(batch["image_id"]), vec)
    return {"accents": accents, "features": feats,
            "labels": label_rows(model, batch, seeds, res.images)}


def chosen_seeds(ctx: Context) -> pd.DataFrame:
    """The seeds to accentuate: those select chose, of the planned units."""
    seeds = ctx.run.read_table("seeds")
    layer, units = planned_units(ctx.cfg, ctx.run)
    return seeds[(seeds["layer"] == layer) & seeds["unit"].isin(units)]


def _compute(ctx: Context, key: str) -> dict:
    """Accentuate every batch (resuming from part files; each rank takes every world-th
    batch), reporting each new one; rank 0 collects the parts into accents/labels/features."""
    d, run, model, cfg = ctx.dist, ctx.run, ctx.model, ctx.cfg.accent
    seeds = d.broadcast(chosen_seeds(ctx) if d.main else None)
    parts = AccentParts(run, seeds, key, auto_batch(cfg.batch_size, model.device))
    mine = parts.batches[d.rank::d.world]
    bar = tqdm(total=sum(map(len, mine)), unit="acc", disable=not ctx.bar,
               desc="accentuate", dynamic_ncols=True)
    t0 = time.perf_counter()
    for b in mine:
        path = parts.path(b)
        if not path.exists():
            part = run_batch(run, model, ctx.source, b, cfg)
            atomic_write_with(path, lambda buf, p=part: torch.save(p, buf))
            ctx.progressed(lambda: parts.publish(final=False))
        bar.update(len(b))
    bar.close()
    d.barrier()
    if not d.main:
        return {}
    n = len(parts.publish(final=True))
    return {"pairs": n, "seconds_per_accent": round((time.perf_counter() - t0) * d.world
                                                    / max(n, 1), 3)}


def _settings(ctx: Context) -> list:
    return [asdict(ctx.cfg.accent), planned_units(ctx.cfg, ctx.run)]


ACCENTUATE = Stage("accentuate", inputs=("mine", "describe", "select"),
                   outputs=("accents", "labels"), settings=_settings, compute=_compute,
                   version="2", sharded=True, checkpoints=("accents-*",))
