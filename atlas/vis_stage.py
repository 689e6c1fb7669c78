"""Noise-seeded feature visualization of each accentuated unit, for contrast on the site.

Same machinery as accentuation (parameterization, views, objective) with no seed and no
regularizer: classic feature visualization, which shows what a unit likes in isolation.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import torch
from tqdm import tqdm

from atlas.accentuate import auto_batch, visualize
from atlas.distributed import Dist
from atlas.media import save_webp, to_pil
from atlas.models import LoadedModel
from atlas.objectives import Target
from atlas.runs import RunDir, stable_hash


def run_vis(cfg, run: RunDir, model: LoadedModel, progress: bool = True,
            d: Dist | None = None) -> pd.DataFrame:
    """One visualization per accentuated unit; chunks of units sharded over ranks."""
    d = d or Dist()
    acc = run.read_table("accents")
    units = sorted({(r.layer, int(r.unit)) for r in acc.itertuples()})
    vcfg = replace(cfg.accent, frames=0)
    key = stable_hash([run.stage("accentuate").get("hash"), units, "vis-v1"])
    if run.stage_done("vis", key) and run.has("vis"):
        return run.read_table("vis")
    d.barrier()
    if d.main:
        run.start_stage("vis", key)
    rows = []
    bs = auto_batch(vcfg.batch_size, model.device)
    starts = list(range(0, len(units), bs))[d.rank::d.world]
    for i in tqdm(starts, disable=not progress, desc="visualize"):
        chunk = units[i:i + bs]
        by_layer: dict[str, list[int]] = {}
        for layer, unit in chunk:
            by_layer.setdefault(layer, []).append(unit)
        for layer, us in by_layer.items():
            res = visualize(model, Target(layer, torch.tensor(us), kind=vcfg.target), vcfg)
            for j, unit in enumerate(us):
                path = f"media/vis/{layer}/{unit}.webp"
                save_webp(run.root / path, to_pil(res.images[j]))
                rows.append((layer, unit, float(res.final_activation[j]), path))
    rows = sorted(r for part in d.gather(rows) for r in part)
    df = pd.DataFrame(rows, columns=["layer", "unit", "final_activation", "vis_media"])
    if d.main:
        run.write_table("vis", df)
        run.finish_stage("vis", key, units=len(df))
    d.barrier()
    return df
