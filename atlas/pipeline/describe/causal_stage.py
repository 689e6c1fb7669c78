"""The ``causal`` stage: which model classes lose probability when a unit is ablated on its
top images (mean ablation, :mod:`atlas.pipeline.describe.causal`).

It is its own pass, after the site's first render, rather than riding on the describe pass:
the rest of the network runs once per (image, unit) row, which is most of what describing a
unit costs, and nothing the first render needs (seed selection, the natural images' maps)
reads it. Pages show the labels from the next render on.
"""

from __future__ import annotations

import time

from tqdm import tqdm

from atlas.config.sections import DescribeConfig
from atlas.data.loader import make_loader
from atlas.models.zoo import LoadedModel
from atlas.pipeline.describe.causal import CutForward, Drops, class_head, class_names
from atlas.pipeline.describe.plan import Plan
from atlas.pipeline.stage import Context, Stage


def causal_skip_reason(model: LoadedModel, cfg: DescribeConfig) -> str:
    """Why causal labels are not computed ("" when they are)."""
    if not cfg.causal:
        return "describe.causal is off"
    if model.weights == "none":
        return "random weights (model.weights = none): its classes mean nothing"
    if not class_head(model):
        return "the model's output is not a (batch, classes) class head"
    return ""


def _settings(ctx: Context) -> list:
    model, _, _ = ctx.inputs()
    cfg = ctx.cfg.describe
    return [cfg.top_n, cfg.causal, model.weights]


def _compute(ctx: Context, key: str) -> dict:
    """Ablate every unit on its top ``describe.top_n`` images, image by image, each with an
    unablated baseline row; the ``causal`` table (empty, with the reason recorded, when the
    model's classes say nothing)."""
    run, cfg = ctx.run, ctx.cfg.describe
    model, source, resolved = ctx.inputs()
    t0, drops, skipped, images = time.perf_counter(), Drops(), 0, 0
    reason = causal_skip_reason(model, cfg)
    if not reason:
        plan = Plan.make(run.read_table("topk"), source, cfg.top_n, causal=True)
        stats = run.read_table("stats")
        cuts = {layer: CutForward(model, layer, plan.means(stats, layer))
                for layer in plan.layers}
        listed = [p for p in plan.positions
                  if any(plan.ids[p] in plan.ablate[layer] for layer in plan.layers)]
        bar = tqdm(total=len(listed), unit="img", disable=not ctx.bar, desc="causal",
                   dynamic_ncols=True)
        for batch in make_loader(source, model.input_size, cfg.batch_size, resolved.workers,
                                 listed):
            ids = [plan.ids[p] for p in batch.positions]
            x = batch.images.to(model.device)
            for layer, cut in cuts.items():
                for rows in plan.ablation_chunks(layer, ids, cfg.rows_per_pass):
                    keep = sorted({i for i, _ in rows})  # rows in batch positions
                    local = {i: j for j, i in enumerate(keep)}
                    _, logits = cut(x[keep], [(local[i], u) for i, u in rows])
                    drops.add(layer, rows, logits.float().cpu())
            images += len(batch.positions)
            skipped += len(batch.skipped)
            bar.update(len(batch.positions) + len(batch.skipped))
        bar.close()
    run.write_table("causal", drops.frame(class_names(model, drops.classes)))
    return {"causal": reason or "done", "images": images, "skipped": skipped,
            "pass_seconds": round(time.perf_counter() - t0, 3)}


CAUSAL = Stage("causal", inputs=("mine",), outputs=("causal",), settings=_settings,
               compute=_compute, version="1")
