"""2-D manifestation maps: per unit (its top-N photos and their accentuations) and per layer.

Each map is a UMAP of spatially pooled feature vectors, with coordinates scaled into [0, 1] for
the site. Clusters come from
:func:`atlas.pipeline.clusters.manifestation_clusters` on the unit's natural
top-N, i.e. exactly the clusters the seeds were chosen from; an accentuation carries its seed's
cluster. The layer-wide map (``unit == -1``) holds a point per unit and every finished
accentuation (:mod:`atlas.pipeline.layer_map`); its ``cluster`` column holds the owning unit.

The layout of a set of vectors in [0, 1]² (UMAP, with fallbacks for small sets) is
:func:`atlas.pipeline.layout.embed_points`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from types import SimpleNamespace

import numpy as np
import pandas as pd

from atlas.config.checks import check_float, check_int
from atlas.errors import AtlasError, unknown
from atlas.pipeline import schema
from atlas.pipeline.clusters import manifestation_clusters, normalize
from atlas.pipeline.layer_map import layer_map
from atlas.pipeline.layout import embed_points
from atlas.pipeline.rundir import RunDir
from atlas.pipeline.runlock import RunLock
from atlas.pipeline.select import embedding_layer, natural_features, stack
from atlas.pipeline.stage import Context, Stage, run_stage

METRICS = ("cosine", "euclidean", "correlation", "manhattan")


@dataclass(frozen=True)
class EmbedConfig:
    """UMAP settings shared by every map of a run."""

    n_neighbors: int = 15
    min_dist: float = 0.1
    metric: str = "cosine"  # pooled post-activation vectors: direction matters, not length
    seed: int = 0  # UMAP random_state: makes maps reproducible (and UMAP single-threaded)
    n_epochs: int = 200  # UMAP's default for small sets is 500; fewer, same picture (README)
    max_clusters: int = 8  # keep equal to SelectConfig.max_clusters so labels match the seeds
    unit_top: int = 8  # top natural images that place a unit on the layer map (layer_map)

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise unknown("embed.metric", self.metric, METRICS)
        check_int("embed.n_neighbors", self.n_neighbors, 2, 200)
        check_float("embed.min_dist", self.min_dist, 0.0, 1.0)
        check_int("embed.seed", self.seed, 0)
        check_int("embed.n_epochs", self.n_epochs, 10, 5000)
        check_int("embed.max_clusters", self.max_clusters, 1, 64)
        check_int("embed.unit_top", self.unit_top, 1, 1024)


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
    """One unit's map: ``top`` its top rows, ``nat`` id->vector, ``acc`` its accent features."""
    top = top.sort_values("rank", kind="stable")
    layer, unit = top["layer"].iloc[0], int(top["unit"].iloc[0])
    ids = top["image_id"].astype(str).tolist()
    nf = stack(nat, ids, "natural")
    clusters = manifestation_clusters(nf, top["activation"].to_numpy(), cfg.max_clusters)
    acc = acc.sort_values("rank", kind="stable")
    af = np.stack([np.asarray(v, dtype=np.float64) for v in acc["vector"]]) if len(acc) else None
    if af is not None and af.shape[1] != nf.shape[1]:
        raise AtlasError(f"features.parquet: accent and natural vectors differ in length ({unit=})")
    xy = embed_points(nf if af is None else np.vstack([nf, af]), cfg)
    parts = [_rows(layer, unit, ids, top["rank"], "natural", xy[: len(ids)], clusters)]
    if af is not None:
        acc_ids = acc["image_id"].astype(str).tolist()
        ac = _accent_clusters(ids, nf, clusters, acc_ids, af)
        parts.append(_rows(layer, unit, acc_ids, acc["rank"], "accent", xy[len(ids) :], ac))
    return pd.concat(parts, ignore_index=True)


def _accent_features(
    features: pd.DataFrame, accents: pd.DataFrame, layer: str, elayer: str
) -> pd.DataFrame:
    """Accent feature rows (at embedding layer ``elayer``) of finished accentuations of units of
    ``layer``; empty when not accentuated yet. Features rows carry only the embedding layer, so
    ``accents.parquet`` says which unit layer an accentuation belongs to."""
    acc = features[(features["kind"] == "accent") & (features["layer"] == elayer)]
    done = accents[accents["layer"] == layer][["unit", "rank", "image_id"]]
    if acc.empty or done.empty:
        return acc.iloc[0:0]
    return acc.merge(done.astype({"image_id": str}), on=["unit", "rank", "image_id"])


def _maps(run: RunDir, cfg: EmbedConfig, with_accents: bool) -> dict:
    """Write ``embed.parquet``: one map per unit in ``topk.parquet`` and one per layer (unit -1).

    ``with_accents=False`` maps natural images alone: a build does that before accentuating,
    when ``features.parquet`` may still hold accent rows of an earlier build.
    """
    top = run.read_table("topk")
    top = top[top["kind"] == "top"]
    features = run.read_table("features")
    if top.empty or features.empty:
        raise AtlasError("embed needs topk.parquet and features.parquet; run the mine stage first")
    accents = run.read_table("accents") if with_accents else schema.empty("accents")
    parts = []
    for layer, ltop in top.groupby("layer", sort=True):
        elayer = embedding_layer(features, str(layer))
        nat = natural_features(features, str(layer))
        acc = _accent_features(features, accents, str(layer), elayer)
        for unit, utop in ltop.groupby("unit", sort=True):
            parts.append(unit_map(utop, nat, acc[acc["unit"] == unit], cfg))
        parts.append(layer_map(str(layer), ltop, nat, acc, cfg,
                               lambda v: embed_points(v, cfg)))
    out = pd.concat(parts, ignore_index=True)
    run.write_table("embed", out)
    return {"rows": len(out)}


def _settings(ctx: Context) -> dict:
    return asdict(ctx.cfg.embed)


# the maps of natural images alone, shown while the build accentuates (an early stage)
EMBED_NATURAL = Stage("embed-natural", inputs=("mine", "describe"), outputs=("embed",),
                      settings=_settings, early=True,
                      compute=lambda ctx, key: _maps(ctx.run, ctx.cfg.embed, False))
EMBED = Stage("embed", inputs=("mine", "describe", "accentuate"), outputs=("embed",),
              settings=_settings, compute=lambda ctx, key: _maps(ctx.run, ctx.cfg.embed, True))


def run_embed(run: RunDir, cfg: EmbedConfig, with_accents: bool = True) -> pd.DataFrame:
    """The embed stage alone (``atlas embed``); skipped when done with the same inputs."""
    with RunLock(run.root):
        run_stage(EMBED if with_accents else EMBED_NATURAL,
                  Context(run, SimpleNamespace(embed=cfg)))
    return schema.check(run.read_table("embed"), "embed")
