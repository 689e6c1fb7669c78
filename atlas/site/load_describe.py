"""Read the describe stage's tables (where / classes / causal) into the site's units.

They answer "what does this unit respond to, and where": its activation map on each top and
bottom image, the dataset classes over-represented among its top images, and the model classes
its ablation lowers. Runs made before the stage (or with it skipped) lack them; every reader
here then leaves the units as they were. Cells are untrusted: bad numbers become None/skipped.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from atlas.pipeline.rundir import RunDir
from atlas.site.content import Causal, DataClass, Unit, Where
from atlas.site.read import by_unit, records, text
from atlas.site.safe import finite


def _quad(v: Any) -> tuple[float, float, float, float] | None:
    """Four finite fractions [x0, y0, x1, y1] with x0 < x1, y0 < y1, else None."""
    try:
        q = [float(x) for x in (v if v is not None else [])]
    except (TypeError, ValueError):
        return None
    if len(q) != 4 or not all(math.isfinite(x) for x in q) or q[0] >= q[2] or q[1] >= q[3]:
        return None
    return (q[0], q[1], q[2], q[3])


def where_of(r: dict[str, Any]) -> Where | None:
    """One where.parquet row as a :class:`Where`, or None when it cannot be drawn."""
    h, w = int(finite(r.get("map_h"), 0) or 0), int(finite(r.get("map_w"), 0) or 0)
    try:
        values = np.asarray(r.get("map") if r.get("map") is not None else [], dtype=np.float64)
    except (TypeError, ValueError):
        return None
    view, box = _quad(r.get("view")), _quad(r.get("box"))
    if h < 1 or w < 1 or values.size != h * w or view is None:
        return None
    values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
    scale = finite(r.get("scale"))
    if scale is None or scale <= 0:
        scale = float(values.max()) if values.max() > 0 else 1.0
    return Where(map=[float(x) for x in values], h=h, w=w, view=view, box=box or view,
                 scale=scale, rf_px=int(finite(r.get("rf_px"), 0) or 0))


def attach(run: RunDir, units: list[Unit]) -> None:
    """Give ``units`` their maps (on their shots), dataset classes and causal labels."""
    index = {(u.layer, u.unit): u for u in units}
    for r in records(run, "where"):
        u = index.get((str(r["layer"]), int(r["unit"])))
        if u is None:
            continue
        shots = u.bottom if text(r.get("kind")) == "bottom" else u.top
        rank = int(r["rank"])
        for s in shots:
            if s.rank == rank:
                s.where = where_of(r)
                break
    for k, rows in by_unit(records(run, "classes")).items():
        rows.sort(key=lambda r: finite(r.get("p_value"), 1.0) or 0.0)  # both fields, by p
        if k in index:
            index[k].classes = [DataClass(
                field=text(r.get("field")) or "label", name=text(r.get("name")),
                count=int(finite(r.get("count"), 0) or 0),
                top_n=int(finite(r.get("top_n"), 0) or 0),
                data_count=int(finite(r.get("data_count"), 0) or 0),
                data_total=int(finite(r.get("data_total"), 0) or 0),
                p_value=finite(r.get("p_value")), enrichment=finite(r.get("enrichment")))
                for r in rows if text(r.get("name"))]
    for k, rows in by_unit(records(run, "causal")).items():
        if k in index:
            index[k].causal = [Causal(
                class_index=int(finite(r.get("class_index"), -1) or 0),
                name=text(r.get("class_name")), drop=finite(r.get("drop")),
                images=int(finite(r.get("images"), 0) or 0))
                for r in rows if text(r.get("class_name"))]


def random_weights(manifest: dict[str, Any]) -> bool:
    """Whether the run's model had random weights (config model.weights == "none"): its class
    names then say nothing about a unit, so the pages hide model-class labels."""
    for rec in (manifest.get("config"), manifest):
        model = rec.get("model") if isinstance(rec, dict) else None
        if isinstance(model, dict) and str(model.get("weights", "")).lower() == "none":
            return True
    return False
