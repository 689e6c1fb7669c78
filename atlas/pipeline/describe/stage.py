"""The ``describe`` stage: where each unit fires on its top and bottom images, and what honest
labels describe it (dataset classes over-represented among its top images). The model classes
that drop when a unit is ablated are the ``causal`` stage's
(:mod:`atlas.pipeline.describe.causal_stage`), a pass of their own after the first render.

One extra pass over the images that ``topk.parquet`` lists, never the whole data set: each is
decoded once, run to the mined layer, and only the maps of the units that list it are kept, so
memory grows with the topk table, not with units x images. The images' pooled vectors and the
site's copies of them ride on the same forward
(:class:`atlas.pipeline.describe.vectors.NaturalVectors`).
"""

from __future__ import annotations

import time

import torch
from tqdm import tqdm

from atlas.data.loader import Batch, make_loader
from atlas.models.basis import split_name
from atlas.models.hooks import Probe
from atlas.models.receptive import receptive_field
from atlas.pipeline.describe.classes import enriched_classes
from atlas.pipeline.describe.maps import WhereMaps
from atlas.pipeline.describe.plan import Plan
from atlas.pipeline.describe.vectors import NaturalVectors
from atlas.pipeline.stage import Context, Stage


def _settings(ctx: Context) -> list:
    model, _, _ = ctx.inputs()
    key = ctx.cfg.describe.result_key()
    key.pop("causal")  # the causal stage's setting
    return [key, model.weights]


def _compute(ctx: Context, key: str) -> dict:
    """The pass, then the three tables; returns what the manifest records."""
    run, cfg = ctx.run, ctx.cfg.describe
    model, source, resolved = ctx.inputs()
    t0 = time.perf_counter()
    topk = run.read_table("topk")
    plan = Plan.make(topk, source, cfg.top_n, causal=False)
    base = {layer: split_name(layer)[0] for layer in plan.layers}  # a basis reads its layer
    fields = {layer: receptive_field(model, base[layer]) for layer in plan.layers}
    rf = {layer: f.effective for layer, f in fields.items()}  # the crop: where it mostly looks
    maps, skipped = WhereMaps(rf, model.input_size, cfg.map_side), 0
    read = list(dict.fromkeys([*plan.layers, *base.values()]))  # vectors: at the base layers
    probe = Probe(model, read)  # one forward that stops at the deepest (a basis: its codes)
    loader = make_loader(source, model.input_size, cfg.batch_size, resolved.workers,
                         plan.positions)
    bar = tqdm(total=len(plan.positions), unit="img", disable=not ctx.bar,
               desc="describe", dynamic_ncols=True)
    feats = NaturalVectors(run)
    for batch in loader:
        if len(batch.positions):
            images = batch.images.to(model.device)
            acts = _describe_batch(maps, plan, probe, images, batch)
            _collect_vectors(feats, plan, base, acts, batch)
        skipped += len(batch.skipped)
        bar.update(len(batch.positions) + len(batch.skipped))
    bar.close()
    feats.write()
    run.write_table("where", maps.frame(topk))
    run.write_table("classes", enriched_classes(run.read_table("images"), topk, cfg.top_n))
    return {"images": len(plan.positions), "skipped": skipped, "rf_px": rf,
            "rf_theoretical_px": {layer: f.theoretical for layer, f in fields.items()},
            "top_n": cfg.top_n,
            "pass_seconds": round(time.perf_counter() - t0, 3)}


DESCRIBE = Stage("describe", inputs=("mine",),
                 outputs=("where", "classes", "vectors"), settings=_settings,
                 compute=_compute, version="6")


def _describe_batch(maps: WhereMaps, plan: Plan, probe: Probe, images: torch.Tensor,
                    batch: Batch) -> dict[str, torch.Tensor]:
    """One batch: every listed layer read in one early-stopping forward, then the maps of the
    units listing each image."""
    ids = [plan.ids[p] for p in batch.positions]
    with torch.inference_mode():
        acts = probe(images)
    for layer in plan.layers:
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
