"""The ``describe`` stage: where each unit fires on its top and bottom images, and what honest
labels describe it (dataset classes over-represented among its top images; model classes whose
logits drop when it is ablated).

One extra pass over the images that ``topk.parquet`` lists, never the whole data set: each is
decoded once, run to the mined layer, and only the maps of the units that list it are kept, so
memory grows with the topk table, not with units x images. The ablations ride on the same
forward (:mod:`atlas.pipeline.describe.causal`), and so do the images' pooled vectors and the site's
copies of them (:class:`atlas.pipeline.describe.vectors.NaturalVectors`).
"""

from __future__ import annotations

import time

import torch
from tqdm import tqdm

from atlas.config.sections import DescribeConfig
from atlas.data.loader import Batch, make_loader
from atlas.models.basis import split_name
from atlas.models.hooks import Probe
from atlas.models.receptive import receptive_field
from atlas.models.zoo import LoadedModel
from atlas.pipeline.describe.causal import CutForward, Drops, class_head, class_names
from atlas.pipeline.describe.classes import enriched_classes
from atlas.pipeline.describe.maps import WhereMaps
from atlas.pipeline.describe.plan import Plan
from atlas.pipeline.describe.vectors import NaturalVectors
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
    return [ctx.cfg.describe.result_key(), model.weights]


def _compute(ctx: Context, key: str) -> dict:
    """The pass, then the three tables; returns what the manifest records (the causal entry
    says why there are no causal labels when there are none)."""
    run, cfg = ctx.run, ctx.cfg.describe
    model, source, resolved = ctx.inputs()
    t0 = time.perf_counter()
    topk, stats = run.read_table("topk"), run.read_table("stats")
    reason = causal_skip_reason(model, cfg)
    plan = Plan.make(topk, source, cfg.top_n, causal=not reason)
    base = {layer: split_name(layer)[0] for layer in plan.layers}  # a basis reads its layer
    fields = {layer: receptive_field(model, base[layer]) for layer in plan.layers}
    rf = {layer: f.effective for layer, f in fields.items()}  # the crop: where it mostly looks
    maps, drops, skipped = WhereMaps(rf, model.input_size, cfg.map_side), Drops(), 0
    cuts = {layer: CutForward(model, layer, plan.means(stats, layer)) for layer in plan.layers}
    read = list(dict.fromkeys([*plan.layers, *base.values()]))  # vectors: at the base layers
    probe = Probe(model, read) if len(read) > 1 else None
    loader = make_loader(source, model.input_size, cfg.batch_size, resolved.workers,
                         plan.positions)
    bar = tqdm(total=len(plan.positions), unit="img", disable=not ctx.bar,
               desc="describe", dynamic_ncols=True)
    feats = NaturalVectors(run)
    for batch in loader:
        if len(batch.positions):
            images = batch.images.to(model.device)
            acts = _describe_batch(maps, drops, plan, cuts, probe, images, batch,
                                   cfg.rows_per_pass)
            _collect_vectors(feats, plan, base, acts, batch)
        skipped += len(batch.skipped)
        bar.update(len(batch.positions) + len(batch.skipped))
    bar.close()
    feats.write()
    run.write_table("where", maps.frame(topk))
    run.write_table("classes", enriched_classes(run.read_table("images"), topk, cfg.top_n))
    run.write_table("causal", drops.frame(class_names(model, drops.classes)))
    return {"images": len(plan.positions), "skipped": skipped, "rf_px": rf,
            "rf_theoretical_px": {layer: f.theoretical for layer, f in fields.items()},
            "top_n": cfg.top_n, "causal": reason or "done",
            "pass_seconds": round(time.perf_counter() - t0, 3)}


DESCRIBE = Stage("describe", inputs=("mine",),
                 outputs=("where", "classes", "causal", "vectors"), settings=_settings,
                 compute=_compute, version="5")


def _describe_batch(maps: WhereMaps, drops: Drops, plan: Plan, cuts: dict[str, CutForward],
                    probe: Probe | None, images: torch.Tensor, batch: Batch,
                    limit: int) -> dict[str, torch.Tensor]:
    """One batch: the maps of the units listing each image, and the ablations in chunks of at
    most ``limit`` rows. With one layer its first chunk also yields the layer's output (one
    forward in all); with several, one early-stopping forward reads them all first."""
    ids = [plan.ids[p] for p in batch.positions]
    with torch.inference_mode():
        acts = probe(images) if probe is not None else {}
    for layer, cut in cuts.items():
        chunks = plan.ablation_chunks(layer, ids, limit)
        if layer not in acts:
            chunks = chunks or [[]]
        for n, rows in enumerate(chunks):
            whole = n == 0 and layer not in acts
            keep = list(range(len(ids))) if whole else sorted({i for i, _ in rows})
            local = {i: j for j, i in enumerate(keep)}
            a, logits = cut(images[keep], [(local[i], u) for i, u in rows])
            if whole:
                acts[layer] = a
            if logits is not None:  # rows in batch positions: keep[local] == batch index
                drops.add(layer, rows, logits.float().cpu())
        for i, image_id in enumerate(ids):
            rows_units = plan.listing[layer].get(image_id)
            if rows_units:
                maps.add(layer, *rows_units, acts[layer][i], batch.sizes[i])
    return acts


def _collect_vectors(feats: NaturalVectors, plan: Plan, base: dict[str, str],
                     acts: dict[str, torch.Tensor], batch: Batch) -> None:
    """The batch's image copies, and its pooled vectors at each base layer, for the images a
    unit of that layer (its channels or a basis's features over it) lists. A basis's unit
    layer is placed by its layer's channel vectors: as informative for seeds and maps, and
    C values per image where F codes would be up to F/C times larger."""
    ids = [plan.ids[p] for p in batch.positions]
    feats.save_images(ids, batch.images)
    for layer in dict.fromkeys(base.values()):
        listed = set().union(*(plan.listing[u] for u, b in base.items() if b == layer))
        keep = [i for i, x in enumerate(ids) if x in listed]
        feats.add(layer, [ids[i] for i in keep], acts[layer][keep])
