"""The layer-wide map: ``layer_map.parquet``, one map per layer.

Every unit is on it, accentuated or not. A unit is placed by what it responds to in natural
images: one row of kind ``unit`` at the activation-weighted mean direction of the pooled vectors
of its top ``unit_top`` natural images (``image_id`` is its top image, shown on hover; ``rank``
is -1). Its accentuations, where they exist, are rows of kind ``accent`` embedded in the same
UMAP: they land near the units that drive images alike, and show where a unit pushes its seeds.
So the map is complete from the first render after mining and fills in as accentuations finish.

Why one point per unit and not its top images themselves: the pooled vector of a photo does not
depend on the unit, and the 254 bundled photos are shared by the top lists of 112 units, so
image points would stack exactly on each other and could not tell units apart; a weighted mean
over a unit's own top images is distinct per unit and says which images made it.

"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from atlas.config.sections import EmbedConfig
from atlas.pipeline.clusters import normalize
from atlas.pipeline.vectors import stack


def unit_vectors(top: pd.DataFrame, nat: dict[str, np.ndarray], n: int) -> pd.DataFrame:
    """Per unit of ``top`` (one layer's top rows): its top image and its place vector.

    Directions are averaged (rows normalized first) because the layer map compares directions
    (cosine); weights are the activations clipped at 0, equal when none is positive.
    """
    rows = []
    for unit, g in top.groupby("unit", sort=True):
        g = g.sort_values("rank", kind="stable").head(n)
        ids = g["image_id"].astype(str).tolist()
        w = np.clip(np.nan_to_num(g["activation"].to_numpy(np.float64)), 0.0, None)
        w = w if w.sum() > 0 else np.ones(len(ids))
        v = (w[:, None] * normalize(stack(nat, ids, "natural"))).sum(axis=0) / w.sum()
        rows.append((int(unit), ids[0], v))
    return pd.DataFrame(rows, columns=["unit", "image_id", "vector"])


def layer_map(layer: str, top: pd.DataFrame, nat: dict[str, np.ndarray], acc: pd.DataFrame,
              cfg: EmbedConfig, embed: Callable[[np.ndarray], np.ndarray]) -> pd.DataFrame:
    """The layer-wide map of ``layer``: a ``unit`` row per unit, an ``accent`` row per finished
    accentuation (``acc``: its accent feature rows). ``embed`` lays vectors out in [0, 1]²."""
    units = unit_vectors(top, nat, cfg.unit_top)
    acc = acc.sort_values(["unit", "rank"], kind="stable")
    vecs = [*units["vector"], *(np.asarray(v, dtype=np.float64) for v in acc["vector"])]
    xy = embed(np.stack(vecs)) if vecs else np.zeros((0, 2))
    n = len(units)
    return pd.DataFrame({
        "layer": str(layer),
        "unit": np.asarray([*units["unit"], *acc["unit"]], dtype=np.int64),
        "kind": ["unit"] * n + ["accent"] * len(acc),
        "rank": np.asarray([-1] * n + acc["rank"].tolist(), dtype=np.int64),
        "image_id": [*units["image_id"], *acc["image_id"].astype(str)],
        "x": xy[:, 0].astype(np.float64), "y": xy[:, 1].astype(np.float64),
    })
