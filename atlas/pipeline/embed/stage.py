"""2-D manifestation maps: per unit (its top-N photos and their accentuations) and per layer.

Each map is a UMAP of spatially pooled vectors (:mod:`atlas.pipeline.vectors`), with
coordinates scaled into [0, 1] for the site. Clusters come from
:func:`atlas.pipeline.clusters.manifestation_clusters` on the unit's natural top-N, i.e. exactly
the clusters the seeds were chosen from; an accentuation carries its seed's cluster. The
layer-wide map (its own table, :mod:`atlas.pipeline.embed.layer_map`) holds a point per unit and
every finished accentuation.

The layout of a set of vectors in [0, 1]² (UMAP, with fallbacks for small sets) is
:func:`atlas.pipeline.embed.layout.embed_points`.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pandas as pd

from atlas.config.sections import EmbedConfig
from atlas.errors import AtlasError
from atlas.pipeline import schema
from atlas.pipeline.clusters import manifestation_clusters, normalize
from atlas.pipeline.embed.layer_map import layer_map
from atlas.pipeline.embed.layout import embed_points
from atlas.pipeline.rundir import RunDir
from atlas.pipeline.stage import Context, Stage
from atlas.pipeline.vectors import natural_vectors, stack


def _accent_clusters(nat_ids, nat_feats, nat_clusters, acc_ids, acc_feats) -> np.ndarray:
    """An accentuation's cluster: its seed's, else the nearest cluster centroid (cosine)."""
    of_seed = dict(zip(nat_ids, nat_clusters, strict=True))
    cents = np.stack(
        [normalize(nat_feats)[nat_clusters == c].mean(axis=0) for c in np.unique(nat_clusters)]
    )
    out = []
    for i, v in zip(acc_ids, normalize(acc_feats), strict=True):
        out.append(of_seed[i] if i in of_seed else int(np.argmin(((cents - v) ** 2).sum(axis=1))))
    return np.asarray(out, dtype=np.int64)


def _rows(layer, unit, ids, ranks, kind, xy, clusters) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "layer": str(layer),
            "unit": np.int64(unit),
            "image_id": [str(i) for i in ids],
            "rank": np.asarray(ranks, dtype=np.int64),
            "kind": kind,
            "x": xy[:, 0].astype(np.float64),
            "y": xy[:, 1].astype(np.float64),
            "cluster": np.asarray(clusters, dtype=np.int64),
        }
    )


def unit_map(top: pd.DataFrame, nat: dict, acc: pd.DataFrame, cfg: EmbedConfig) -> pd.DataFrame:
    """One unit's map: ``top`` its top rows, ``nat`` id->vector, ``acc`` its accent vectors."""
    top = top.sort_values("rank", kind="stable")
    layer, unit = top["layer"].iloc[0], int(top["unit"].iloc[0])
    ids = top["image_id"].astype(str).tolist()
    nf = stack(nat, ids, "natural")
    clusters = manifestation_clusters(nf, top["activation"].to_numpy(), cfg.max_clusters)
    acc = acc.sort_values("rank", kind="stable")
    af = np.stack([np.asarray(v, dtype=np.float64) for v in acc["vector"]]) if len(acc) else None
    if af is not None and af.shape[1] != nf.shape[1]:
        raise AtlasError(f"accent and natural vectors differ in length ({unit=}); re-run mine")
    xy = embed_points(nf if af is None else np.vstack([nf, af]), cfg)
    parts = [_rows(layer, unit, ids, top["rank"], "natural", xy[: len(ids)], clusters)]
    if af is not None:
        acc_ids = acc["image_id"].astype(str).tolist()
        ac = _accent_clusters(ids, nf, clusters, acc_ids, af)
        parts.append(_rows(layer, unit, acc_ids, acc["rank"], "accent", xy[len(ids) :], ac))
    return pd.concat(parts, ignore_index=True)


def _maps(run: RunDir, cfg: EmbedConfig, with_accents: bool) -> dict:
    """Write ``embed.parquet`` (one map per unit in ``topk.parquet``) and ``layer_map.parquet``
    (one map per layer). ``with_accents=False`` maps natural images alone: a build does that
    before accentuating, so the site has maps while it works."""
    top = run.read_table("topk")
    top = top[top["kind"] == "top"]
    vectors = run.read_table("vectors")
    if top.empty or vectors.empty:
        raise AtlasError("embed needs topk.parquet and vectors.parquet; run atlas mine first")
    accents = run.read_table("accent_vectors") if with_accents else schema.empty(
        "accent_vectors")
    units, layers = [], []
    for layer, ltop in top.groupby("layer", sort=True):
        nat = natural_vectors(vectors, str(layer))
        acc = accents[accents["layer"] == layer]
        for unit, utop in ltop.groupby("unit", sort=True):
            units.append(unit_map(utop, nat, acc[acc["unit"] == unit], cfg))
        layers.append(layer_map(str(layer), ltop, nat, acc, cfg,
                                lambda v: embed_points(v, cfg)))
    embed, lmap = pd.concat(units, ignore_index=True), pd.concat(layers, ignore_index=True)
    run.write_table("embed", embed)
    run.write_table("layer_map", lmap)
    return {"rows": len(embed), "layer_map_rows": len(lmap)}


def _settings(ctx: Context) -> dict:
    return asdict(ctx.cfg.embed)


# the maps of natural images alone, shown while the build accentuates (an early stage)
EMBED_NATURAL = Stage("embed-natural", inputs=("mine", "describe"),
                      outputs=("embed", "layer_map"), settings=_settings, early=True,
                      compute=lambda ctx, key: _maps(ctx.run, ctx.cfg.embed, False))
EMBED = Stage("embed", inputs=("mine", "describe", "accentuate"), outputs=("embed", "layer_map"),
              settings=_settings, compute=lambda ctx, key: _maps(ctx.run, ctx.cfg.embed, True))
