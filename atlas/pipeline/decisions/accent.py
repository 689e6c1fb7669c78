"""The ``class-accentuate`` stage: each planned class accentuation (:mod:`.plan`), batched and
resumable like unit accentuations.

Every batch holds whole groups (a failure's pair stays together, so its two masks share one
scale, the paper's collective normalization); each finished batch is a part under
``checkpoints/class-accents-<key>/`` and a rerun skips the parts that exist. The table is
published from the parts after each batch, so the site shows the classes that are done while
the others run.
"""

from __future__ import annotations

from dataclasses import asdict

import pandas as pd
import torch

from atlas.accent.decision import ClassAccents, accentuate_classes, class_config, class_entry
from atlas.accent.loop import concat_results
from atlas.data.loader import load_by_id
from atlas.data.media import CHANGE_GAIN
from atlas.errors import AtlasError
from atlas.io.parts import PartStore
from atlas.names import slug
from atlas.pipeline import schema
from atlas.pipeline.decisions.plan import batches, plan
from atlas.pipeline.pairs import PAIR, normalized, run_parts, save_pair
from atlas.pipeline.rundir import RunDir
from atlas.pipeline.stage import Context, Stage

TABLE = "class_accents"


def _accentuate(ctx: Context, batch: pd.DataFrame, seeds: torch.Tensor) -> ClassAccents:
    model, _, resolved = ctx.inputs()
    classes = [int(c) for c in batch["class_index"]]
    size = resolved.accent_batch
    parts = [accentuate_classes(model, seeds[i:i + size], classes[i:i + size], ctx.cfg.accent,
                                reg_layer=resolved.class_reg_layer, view_px=resolved.view_px)
             for i in range(0, len(classes), size)]
    return ClassAccents(concat_results([p.result for p in parts]),
                        torch.cat([p.before for p in parts]), torch.cat([p.after for p in parts]))


def _media(run: RunDir, batch: pd.DataFrame, seeds: torch.Tensor,
           acc: ClassAccents) -> dict[str, list]:
    """Write the batch's pictures (masks normalized per group); the media columns."""
    res = acc.result
    masks = normalized(res.masks, batch.reset_index(drop=True).groupby("group").groups)
    cols: dict[str, list] = {k: [] for k in PAIR}
    for i, row in enumerate(batch.itertuples()):
        base = f"media/classes/{row.class_index}/{row.kind}-{slug(row.image_id)}"
        for k, v in save_pair(run, row.image_id, base, seeds[i], res.images[i],
                              masks[i]).items():
            cols[k].append(v)
    return cols


def run_batch(ctx: Context, batch: pd.DataFrame) -> pd.DataFrame:
    """Accentuate one batch of whole groups; its rows of the table."""
    model, source, resolved = ctx.inputs()
    cfg = class_config(ctx.cfg.accent)
    names = list(model.class_names or [])
    seeds = load_by_id(source, list(batch["image_id"]), cfg.canvas)
    acc = _accentuate(ctx, batch, seeds)
    entries = [class_entry(names, int(c), acc.before[i], acc.after[i])
               for i, c in enumerate(batch["class_index"])]
    keys = ("logit_before", "logit_after", "prob_before", "prob_after", "top_after",
            "top_after_prob")
    return pd.DataFrame({
        "kind": batch["kind"].to_numpy(), "class_index": batch["class_index"].to_numpy(),
        "class_name": [e["name"] for e in entries], "image_id": batch["image_id"].to_numpy(),
        "rank": batch["rank"].to_numpy(), **{k: [e[k] for e in entries] for k in keys},
        "latent_distance": acc.result.latent_distance.numpy(),
        "pixel_rmse": acc.result.pixel_rmse.numpy(), "steps": cfg.steps, "lam": cfg.lam,
        "reg_layer": resolved.class_reg_layer, **_media(ctx.run, batch, seeds, acc),
        "change_gain": CHANGE_GAIN})


class ClassParts:
    """The batches of one stage key and their finished parts."""

    def __init__(self, run: RunDir, queue: pd.DataFrame, key: str, size: int):
        self.run, self.batches = run, batches(queue, size)
        self.store: PartStore[pd.DataFrame] = PartStore(
            run.root / "checkpoints" / f"class-accents-{key}", ".parquet",
            lambda df, buf: df.to_parquet(buf, index=False), pd.read_parquet)

    @staticmethod
    def name(batch: pd.DataFrame) -> str:
        return f"{int(batch['rank'].iloc[0]):06d}"

    def publish(self, final: bool) -> int:
        """Write the table from the finished parts (all of them when ``final``)."""
        parts = [p for b in self.batches if (p := self.store.get(self.name(b))) is not None]
        if final and len(parts) != len(self.batches):
            raise AtlasError(f"class accentuation incomplete: {len(parts)} of "
                             f"{len(self.batches)} batches in {self.store.folder}; rerun the "
                             "build to resume")
        parts = [p for p in parts if len(p)]
        df = pd.concat(parts, ignore_index=True) if parts else schema.empty(TABLE)
        self.run.write_table(TABLE, df)
        return len(df)


def queue(ctx: Context) -> pd.DataFrame:
    """The planned accentuations (none when the model's classes mean nothing)."""
    _, _, resolved = ctx.inputs()
    preds = ctx.run.read_table("predictions")
    return plan(preds if resolved.class_reg_layer else preds.iloc[:0], ctx.cfg.classes)


def _compute(ctx: Context, key: str) -> dict:
    d, run = ctx.dist, ctx.run
    _, _, resolved = ctx.inputs()
    todo = d.broadcast(queue(ctx) if d.main else None)
    parts = ClassParts(run, todo, key, resolved.accent_batch)
    took = run_parts(ctx, parts, lambda b: run_batch(ctx, b), "class accents")
    if not d.main:
        return {}
    n = parts.publish(final=True)
    kinds = todo["kind"].value_counts().to_dict() if len(todo) else {}
    return {"accents": n, "classes": int(kinds.get("class", 0)),
            "failures": int(kinds.get("predicted", 0)),
            "seconds_per_accent": round(took * d.world / max(n, 1), 3)}


def _settings(ctx: Context) -> list:
    _, _, resolved = ctx.inputs()
    c = ctx.cfg.classes
    return [asdict(class_config(ctx.cfg.accent)), c.accents, c.failures,
            resolved.class_reg_layer, resolved.view_px]


CLASS_ACCENTUATE = Stage("class-accentuate", inputs=("predict",), outputs=(TABLE,),
                         settings=_settings, compute=_compute, sharded=True,
                         checkpoints=("class-accents-*",))
