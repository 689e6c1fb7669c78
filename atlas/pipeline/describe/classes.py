"""Dataset classes over-represented among a unit's top images, with an honest significance test.

A class is listed for a unit when it appears among the unit's ``top_n`` images more often than
its share of the whole mined data set predicts: the hypergeometric upper tail (drawing
``top_n`` images without replacement from ``data_total``, of which ``data_count`` carry the
class) must be below ``alpha``, and at least ``min_count`` top images must carry it, so one
lucky image of a rare class is never a label. No correction for the many classes tested per
unit is applied: the p-value is shown beside the counts so a reader can judge it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import hypergeom

FIELDS = ("label", "group")
COLUMNS = ["layer", "unit", "rank", "field", "name", "count", "top_n", "data_count",
           "data_total", "p_value", "enrichment"]


def top_images(topk: pd.DataFrame, n: int) -> pd.DataFrame:
    """The first ``n`` natural top images of every (layer, unit)."""
    top = topk[(topk["kind"] == "top") & (topk["rank"] < n)]
    return top[["layer", "unit", "rank", "image_id"]]


def enriched_classes(images: pd.DataFrame, topk: pd.DataFrame, n: int, alpha: float = 0.05,
                     min_count: int = 2, per_field: int = 5) -> pd.DataFrame:
    """Rows of ``classes.parquet``: per unit and field, the significant classes, ``rank`` 0 the
    smallest p-value (ties: larger enrichment, then name) within the (unit, field)."""
    top = top_images(topk, n)
    sizes = top.groupby(["layer", "unit"]).size().rename("top_n")
    parts = []
    for fieldname in FIELDS:
        if fieldname not in images.columns:
            continue  # an older run's images table: no groups
        values = images.set_index("image_id")[fieldname].fillna("").astype(str)
        data = values[values != ""].value_counts()
        hits = top.assign(name=top["image_id"].map(values).fillna(""))
        hits = hits[hits["name"] != ""]
        if hits.empty:
            continue
        counts = hits.groupby(["layer", "unit", "name"]).size().rename("count").reset_index()
        counts = counts.join(sizes, on=["layer", "unit"])
        counts["field"] = fieldname
        counts["data_count"] = counts["name"].map(data).astype(np.int64)
        counts["data_total"] = len(values)
        parts.append(counts[counts["count"] >= min_count])
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if frame.empty:
        return pd.DataFrame(columns=COLUMNS)
    frame["p_value"] = hypergeom.sf(frame["count"] - 1, frame["data_total"],
                                    frame["data_count"], frame["top_n"])
    frame["enrichment"] = ((frame["count"] / frame["top_n"])
                           / (frame["data_count"] / frame["data_total"]))
    frame = frame[frame["p_value"] < alpha]
    frame = frame.sort_values(["layer", "unit", "field", "p_value", "enrichment", "name"],
                              ascending=[True, True, True, True, False, True])
    frame["rank"] = frame.groupby(["layer", "unit", "field"]).cumcount()
    frame = frame[frame["rank"] < per_field]
    return frame[COLUMNS].reset_index(drop=True)
