"""Choose which of a unit's top images to accentuate, so the seeds span its manifestations.

A unit's top-N images often fall into a few groups (a "dog-face" unit firing on dogs, cats and
teddy bears). Accentuating only the strongest k would spend the whole budget on the dominant group,
so we cluster the top-N in feature space and take exemplars round-robin across clusters.

The clustering (:mod:`atlas.pipeline.clusters`) is shared with :mod:`atlas.pipeline.embed.stage`,
which labels the same clusters on its maps; both read the pooled vectors through
:mod:`atlas.pipeline.vectors`.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pandas as pd

from atlas.config.sections import SelectConfig
from atlas.errors import AtlasError
from atlas.pipeline import schema
from atlas.pipeline.clusters import manifestation_clusters, round_robin
from atlas.pipeline.stage import Context, Stage
from atlas.pipeline.vectors import natural_vectors, stack


def choose_seeds(top: pd.DataFrame, feats: np.ndarray, cfg: SelectConfig) -> pd.DataFrame:
    """The seeds of one unit as ``seeds`` rows; ``top`` is its kind=="top" rows, ``feats`` aligned.

    With fewer than k top images all are used; below 3 there is nothing to cluster (cluster 0).
    """
    if len(feats) != len(top):
        raise ValueError(f"choose_seeds: {len(top)} top rows but {len(feats)} feature rows")
    if len(top) == 0:
        return schema.empty("seeds")
    order = np.argsort(top["rank"].to_numpy(), kind="stable")
    top, feats = top.iloc[order].reset_index(drop=True), np.asarray(feats)[order]
    strength = top["activation"].to_numpy(dtype=np.float64)
    if cfg.method == "topk":
        clusters = np.zeros(len(top), dtype=np.int64)
        picks = list(range(min(cfg.k, len(top))))
    else:
        clusters = manifestation_clusters(feats, strength, cfg.max_clusters)
        picks = round_robin(clusters, strength, cfg.k)
    rows = top.iloc[picks]
    return pd.DataFrame(
        {
            "layer": rows["layer"].astype(str).to_numpy(),
            "unit": rows["unit"].astype(np.int64).to_numpy(),
            "rank": np.arange(len(picks), dtype=np.int64),
            "image_id": rows["image_id"].astype(str).to_numpy(),
            "cluster": clusters[picks],
            "activation": strength[picks],
        }
    )


def _compute(ctx: Context, key: str) -> dict:
    """Choose seeds for every unit in ``topk.parquet`` and write ``seeds.parquet``; the diverse
    method needs the natural-image vectors of ``vectors.parquet``."""
    run, cfg = ctx.run, ctx.cfg.select
    top = run.read_table("topk")
    top = top[top["kind"] == "top"]
    if top.empty:
        raise AtlasError("topk.parquet has no top images; run the mine stage first")
    vectors = run.read_table("vectors") if cfg.method == "diverse" else None
    if vectors is not None and vectors.empty:
        raise AtlasError("select.method 'diverse' needs vectors.parquet; run mine, or use 'topk'")
    parts, lookups = [], {}
    for (layer, _unit), grp in top.groupby(["layer", "unit"], sort=True):
        grp = grp.sort_values("rank", kind="stable")
        if vectors is None:
            feats = np.zeros((len(grp), 1))
        else:
            if layer not in lookups:
                lookups[layer] = natural_vectors(vectors, str(layer))
            feats = stack(lookups[layer], grp["image_id"].astype(str).tolist(), "natural")
        parts.append(choose_seeds(grp, feats, cfg))
    seeds = pd.concat(parts, ignore_index=True) if parts else schema.empty("seeds")
    run.write_table("seeds", seeds)
    return {"units": int(seeds.groupby(["layer", "unit"]).ngroups)}


SELECT = Stage("select", inputs=("mine", "describe"), outputs=("seeds",),
               settings=lambda ctx: asdict(ctx.cfg.select), compute=_compute)
