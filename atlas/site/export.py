"""What a unit page shows, as data: per-unit JSON and a per-layer CSV (``atlas export``).

The site writes both beside its pages (download links on unit pages and the index) and the CLI
writes them for scripts; one function builds each record so the two never disagree. Media are
relative paths: to the JSON file in a site, to the run directory from the CLI. CSV cells that a
spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@`` first) are quoted as text: labels
and file names come from user data. Numbers stay numbers, and a column whose numbers have a unit
names it (``_pts``: percentage points, ``_pct``: percent, ``_x_best_photo``: times the unit's
activation on its best photo). Causal effects are percentage points of probability everywhere,
as the pages show them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from atlas.errors import AtlasError
from atlas.io.files import atomic_write_bytes
from atlas.site.content import Atlas, Pic, Shot, Unit
from atlas.site.export_decisions import export_decisions, unit_links
from atlas.site.tabular import csv_text, json_text

Place = Callable[[str | None], str | None]
FORMATS = ("json", "csv")
STATS = ("count", "mean", "std", "min", "max", "q01", "q10", "q50", "q90", "q99")
HIDDEN = "hidden: the run's model has random weights (model.weights = none)"


def _r(v: float | None, digits: int = 6) -> float | None:
    return None if v is None or not math.isfinite(v) else float(f"{v:.{digits}g}")


def _digits(values: list[float], digits: int) -> list[float]:
    """``values`` to about ``digits`` significant digits of their largest (one call per map)."""
    a = np.asarray(values, np.float64)
    top = float(np.abs(a).max()) if a.size else 0.0
    places = digits - 1 - int(np.floor(np.log10(top))) if top > 0 else digits
    return np.round(a, max(0, places)).tolist()


def _pic(p: Pic, place: Place) -> dict[str, Any]:
    return {"image_id": p.image_id, "label": p.label, "media": place(p.media),
            "credit": {"author": p.credit.author, "license": p.credit.license,
                       "url": p.credit.url, "source": p.credit.source}}


def _shot(s: Shot, place: Place) -> dict[str, Any]:
    out: dict[str, Any] = {"rank": s.rank, "activation": _r(s.activation), **_pic(s.pic, place)}
    w = s.where
    if w is not None:
        out["where"] = {"map": _digits(w.map, 4), "map_h": w.h, "map_w": w.w,
                        "view": [_r(v) for v in w.view], "box": [_r(v) for v in w.box],
                        "rf_px": w.rf_px, "scale": _r(w.scale)}
    return out


def model_labels(atlas: Atlas, u: Unit) -> dict[str, Any]:
    """The causal and accentuation effects (or why they are hidden)."""
    if atlas.random_weights:
        return {"causal_effect": HIDDEN, "accentuation_effect": HIDDEN}
    return {"causal_effect": [{"class": c.name, "class_index": c.class_index,
                               "probability_drop_pts": _pts(c.drop), "images": c.images}
                              for c in u.causal],
            "accentuation_effect": [{"class": n, "mean_logit_increase": _r(s)}
                                    for n, s in u.labels]}


def unit_record(atlas: Atlas, u: Unit, place: Place) -> dict[str, Any]:
    """Everything ``u``'s page shows, as numbers and media paths (``place`` maps them)."""
    stats = {k: _r(u.stats.get(k)) for k in STATS} if u.stats else None
    if u.stats:
        stats["hist_counts"] = [_r(v) for v in u.stats.get("hist_counts", [])]
        stats["hist_edges"] = [_r(v) for v in u.stats.get("hist_edges", [])]
    return {
        "layer": u.layer, "unit": u.unit, "top_activation": _r(u.top_activation),
        "stats": stats,
        "top_rule": {"threshold": _r(u.threshold), "above": len(u.strong), "kept": len(u.top),
                     "means": "top images have an activation above the unit's 90th "
                              "percentile over the data (stats q90); the rest of the kept "
                              "images are weak"},
        "top": [_shot(s, place) for s in u.strong],
        "weak": [_shot(s, place) for s in u.weak],
        "bottom": [_shot(s, place) for s in u.bottom],
        "dataset_classes": [{"field": c.field, "name": c.name, "count": c.count,
                             "top_n": c.top_n, "data_count": c.data_count,
                             "data_total": c.data_total, "p_value": _r(c.p_value),
                             "enrichment": _r(c.enrichment)} for c in u.classes],
        **model_labels(atlas, u),
        "manifestations": u.clusters, "map_spread": _r(u.spread),
        "accentuations": [_accent(a, place) for a in u.accents],
        "feature_visualization": {"media": place(u.vis_media),
                                  "activation": _r(u.vis_activation)} if u.vis_media else None,
        "feature": _feature(u),
        **unit_links(atlas, u),
    }


def _feature(u: Unit) -> dict[str, Any] | None:
    """What a feature of a basis is (None for a channel): its basis and its own facts."""
    b, f = u.basis, u.feature
    if b is None or f is None:
        return None
    return {"basis": {"name": b.name, "kind": b.kind, "layer": b.layer, "features": b.size,
                      "channels": b.width, "activation": b.activation, "k": b.k,
                      "metrics": {k: _r(v) for k, v in b.metrics.items()},
                      "learned": b.learned, "source": b.source},
            "name": f.name, "fires_on_images": _r(f.fire_images),
            "fires_at_positions": _r(f.fire_positions),
            "made_of": [{"channel": c, "weight": _r(w)} for c, w in f.channels],
            "nearest": [{"feature": n, "cosine": _r(s)} for n, s in f.nearest]}


def _accent(a: Any, place: Place) -> dict[str, Any]:
    return {"rank": a.rank, "seed": _pic(a.pic, place), "seed_media": place(a.seed_media),
            "accent_media": place(a.accent_media), "mask_media": place(a.mask_media),
            "overlay_media": place(a.overlay_media), "change_media": place(a.change_media),
            "change_gain": _r(a.change_gain), "frames": [place(f) for f in a.frames],
            "seed_activation": _r(a.seed_activation),
            "final_activation": _r(a.final_activation),
            "seed_standing": a.seed_standing.text if a.seed_standing else None,
            "final_standing": a.final_standing.text if a.final_standing else None,
            "latent_distance": _r(a.latent_distance), "pixel_rmse": _r(a.pixel_rmse),
            "steps": a.steps, "lam": _r(a.lam), "param": a.param, "reg_layer": a.reg_layer,
            "trajectory": [_r(v) for v in a.trajectory]}


def _pts(drop: float | None) -> float | None:
    """A probability drop (0-1) in percentage points, as the pages show it."""
    return None if drop is None else _r(100 * drop, 4)


def _join(items: list[str], n: int = 5) -> str:
    return "; ".join(items[:n])


def layer_row(atlas: Atlas, u: Unit) -> dict[str, Any]:
    """One CSV row: the unit's numbers and its labels, short."""
    st = u.stats or {}
    best = u.strongest.final_standing if u.strongest else None
    hidden = "hidden (random weights)" if atlas.random_weights else None
    pts = [_pts(c.drop) for c in u.causal]
    return {
        "layer": u.layer, "unit": u.unit, "page": f"{u.unit}.html", "json": f"{u.unit}.json",
        "top_activation": _r(u.top_activation), "mean": _r(st.get("mean")),
        "std": _r(st.get("std")), "q90": _r(st.get("q90")), "q99": _r(st.get("q99")),
        "top_above_q90": len(u.strong), "kept": len(u.top), "weak": len(u.weak),
        "manifestations": u.clusters, "map_spread": _r(u.spread),
        "accentuations": len(u.accents),
        "strongest_accentuation_activation": _r(best.value) if best else None,
        "strongest_accentuation_percentile_pct": _r(best.percentile, 4) if best else None,
        "strongest_accentuation_x_best_photo": _r(best.times_best, 4) if best else None,
        "dataset_classes": _join([f"{c.name} ({c.count}/{c.top_n} top, "
                                  f"{c.data_count}/{c.data_total} data)" for c in u.classes]),
        "causal_effect_pts": hidden or _join([f"{c.name} {-(p or 0):+.3g}"
                                              for c, p in zip(u.causal, pts, strict=True)]),
        "accentuation_effect_logit": hidden or _join([f"{n} {s or 0:+.3g}" for n, s in u.labels]),
    }


def export_run(run_dir: str | Path, fmt: str,
               out: str | Path | None = None) -> tuple[Path, list[Path]]:
    """``atlas export``: per-unit JSON (``units/<layer>/<unit>.json``) or one CSV per layer
    (``<layer>.csv``) under ``out`` (default ``RUN/export``); media paths run-relative.
    Returns the folder and the files written."""
    from atlas.site.load import load_atlas

    if fmt not in FORMATS:
        raise AtlasError(f"export format {fmt!r} unknown; valid: {', '.join(FORMATS)}")
    atlas = load_atlas(run_dir)
    root = Path(out) if out else Path(run_dir) / "export"
    written = []
    for layer in atlas.layers:
        units = [u for u in atlas.units if u.layer == layer]
        if not units:
            continue
        if fmt == "csv":
            path = root / f"{units[0].lslug}.csv"
            atomic_write_bytes(path, csv_text([layer_row(atlas, u) for u in units]).encode())
            written.append(path)
            continue
        for u in units:
            rec = {"media_relative_to": str(Path(run_dir).resolve()),
                   **unit_record(atlas, u, _run_relative)}
            path = root / "units" / u.lslug / f"{u.unit}.json"
            atomic_write_bytes(path, json_text(rec).encode("utf-8"))
            written.append(path)
    written += export_decisions(atlas, root, fmt, _run_relative)
    return root, written


def _run_relative(media: str | None) -> str | None:
    return media or None
