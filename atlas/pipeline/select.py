"""Choose which of a unit's top images to accentuate, so the seeds span its manifestations.

A unit's top-N images often fall into a few groups (a "dog-face" unit firing on dogs, cats and
teddy bears). Accentuating only the strongest k would spend the whole budget on the dominant group,
so we cluster the top-N in feature space and take exemplars round-robin across clusters.

The clustering (:mod:`atlas.pipeline.clusters`) is shared with :mod:`atlas.pipeline.embed`,
which labels the same clusters on its maps; both go through :func:`natural_features` to read the
feature vectors.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from types import SimpleNamespace

import numpy as np
import pandas as pd

from atlas.config.checks import check_choice, check_int
from atlas.errors import AtlasError
from atlas.pipeline import schema
from atlas.pipeline.clusters import manifestation_clusters, round_robin
from atlas.pipeline.rundir import RunDir
from atlas.pipeline.runlock import RunLock
from atlas.pipeline.stage import Context, Stage, run_stage

METHODS = ("diverse", "topk")


@dataclass(frozen=True)
class SelectConfig:
    """How many seeds per unit, and how to choose them."""

    k: int = 8  # seeds per unit
    method: str = "diverse"  # "diverse": round-robin over clusters; "topk": the k strongest
    max_clusters: int = 8  # upper bound on manifestation clusters per unit
    seed: int = 0  # reserved for stochastic methods; Ward clustering is deterministic

    def __post_init__(self) -> None:
        check_choice("select.method", self.method, METHODS)
        check_int("select.k", self.k, 1, 1024)
        check_int("select.max_clusters", self.max_clusters, 1, 64)
        check_int("select.seed", self.seed, 0)


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


def natural_features(features: pd.DataFrame, layer: str) -> dict[str, np.ndarray]:
    """image_id -> pooled vector of the natural images for units of ``layer``.

    Uses the rows whose embedding layer is ``layer`` itself when there are any, otherwise the one
    embedding layer the table holds (several candidate layers and no match is ambiguous: error).
    """
    nat = features[features["kind"] == "natural"]
    nat = nat[nat["layer"] == embedding_layer(features, layer)]
    pairs = zip(nat["image_id"], nat["vector"], strict=True)
    return {str(i): np.asarray(v, dtype=np.float64) for i, v in pairs}


def embedding_layer(features: pd.DataFrame, layer: str) -> str:
    """The features-table layer that serves units of ``layer`` (see :func:`natural_features`)."""
    layers = sorted(features["layer"].astype(str).unique())
    if layer in layers:
        return layer
    if len(layers) == 1:
        return layers[0]
    raise AtlasError(
        f"features.parquet has no vectors for layer {layer!r} and several candidates; "
        f"valid: {', '.join(layers) or '(none)'}"
    )


def stack(lookup: dict[str, np.ndarray], image_ids: list[str], what: str) -> np.ndarray:
    """Vectors for ``image_ids`` in order; a clear error names the first missing id."""
    missing = [i for i in image_ids if i not in lookup]
    if missing:
        raise AtlasError(
            f"features.parquet lacks {len(missing)} {what} vector(s), e.g. image {missing[0]!r}; "
            "re-run the mine stage"
        )
    return np.stack([lookup[i] for i in image_ids]) if image_ids else np.zeros((0, 0))


def _compute(ctx: Context, key: str) -> dict:
    """Choose seeds for every unit in ``topk.parquet`` and write ``seeds.parquet``; the diverse
    method needs the natural-image vectors of ``features.parquet``."""
    run, cfg = ctx.run, ctx.cfg.select
    top = run.read_table("topk")
    top = top[top["kind"] == "top"]
    if top.empty:
        raise AtlasError("topk.parquet has no top images; run the mine stage first")
    features = run.read_table("features") if cfg.method == "diverse" else None
    if features is not None and features.empty:
        raise AtlasError("select.method 'diverse' needs features.parquet; run mine, or use 'topk'")
    parts, lookups = [], {}
    for (layer, _unit), grp in top.groupby(["layer", "unit"], sort=True):
        grp = grp.sort_values("rank", kind="stable")
        if features is None:
            feats = np.zeros((len(grp), 1))
        else:
            if layer not in lookups:
                lookups[layer] = natural_features(features, str(layer))
            feats = stack(lookups[layer], grp["image_id"].astype(str).tolist(), "natural")
        parts.append(choose_seeds(grp, feats, cfg))
    seeds = pd.concat(parts, ignore_index=True) if parts else schema.empty("seeds")
    run.write_table("seeds", seeds)
    return {"units": int(seeds.groupby(["layer", "unit"]).ngroups)}


SELECT = Stage("select", inputs=("mine", "describe"), outputs=("seeds",),
               settings=lambda ctx: asdict(ctx.cfg.select), compute=_compute)


def run_select(run: RunDir, cfg: SelectConfig) -> pd.DataFrame:
    """The select stage alone (``atlas embed``); skipped when done with the same inputs."""
    with RunLock(run.root):
        run_stage(SELECT, Context(run, SimpleNamespace(select=cfg)))
    return run.read_table("seeds")
