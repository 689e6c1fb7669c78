"""The decisions as data: per-class JSON, the connections, classes and failures as CSV, and
each unit's links (``atlas export``, and the site's downloads beside its pages).

One function builds each record, so the site and the command line never disagree. Media paths
go through ``place``, like the unit records (:mod:`atlas.site.export`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from atlas.io.files import atomic_write_bytes
from atlas.site.content import Atlas, Pic, Unit
from atlas.site.decisions import ClassAccent, ClassPage, Decisions, Failure, Link
from atlas.site.tabular import csv_text, json_text

Place = Callable[[str | None], str | None]


def _r(v: float | None, digits: int = 6) -> float | None:
    return None if v is None or not math.isfinite(v) else float(f"{v:.{digits}g}")


def _link(k: Link) -> dict[str, Any]:
    return {"layer": k.layer, "unit": k.unit, "drive": _r(k.drive), "share": _r(k.share),
            "shortcut": k.shortcut, "images": k.images}


def unit_links(atlas: Atlas, u: Unit) -> dict[str, Any]:
    """A unit's connections and the classes it drives, as keys of its record (none when it
    has neither)."""
    d: Decisions | None = atlas.decisions
    if d is None:
        return {}
    key, out = (u.layer, u.unit), {}
    if d.inputs.get(key):
        out["inputs"] = [_link(k) for k in d.inputs[key]]
    if d.feeds.get(key):
        out["feeds"] = [_link(k) for k in d.feeds[key]]
    if d.drives.get(key):
        out["class_pages"] = [{"class": c.name, "class_index": c.index, "page": c.href}
                              for c in d.drives[key]]
    return out


def _pic(p: Pic, place: Place) -> dict[str, Any]:
    return {"image_id": p.image_id, "label": p.label, "media": place(p.media),
            "credit": {"author": p.credit.author, "license": p.credit.license,
                       "url": p.credit.url, "source": p.credit.source}}


def _accent(a: ClassAccent | None, place: Place) -> dict[str, Any] | None:
    if a is None:
        return None
    return {"class": a.class_name, "class_index": a.class_index, "photo": _pic(a.pic, place),
            **{k: _r(getattr(a, k)) for k in ("logit_before", "logit_after", "prob_before",
                                              "prob_after", "top_after_prob",
                                              "latent_distance", "pixel_rmse", "lam",
                                              "change_gain")},
            "top_after": a.top_after, "steps": a.steps, "reg_layer": a.reg_layer,
            **{k: place(getattr(a, k)) for k in ("seed_media", "accent_media", "mask_media",
                                                 "overlay_media", "change_media")}}


def failure_record(f: Failure, place: Place) -> dict[str, Any]:
    return {"rank": f.rank, "photo": _pic(f.pic, place), "label": f.label,
            "predicted": f.pred_name, "predicted_index": f.pred_index, "prob": _r(f.prob),
            "true": f.true_name, "true_index": f.true_index, "true_prob": _r(f.true_prob),
            "toward_predicted": _accent(f.predicted, place),
            "toward_true": _accent(f.true, place)}


def class_record(atlas: Atlas, c: ClassPage, place: Place) -> dict[str, Any]:
    """Everything a class page shows, as numbers and media paths."""
    d: Decisions = atlas.decisions
    return {
        "class": c.name, "class_index": c.index,
        "images": [{**_pic(p.pic, place), "prob": _r(p.prob), "correct": p.correct,
                    "label_class": p.true_name} for p in c.images],
        "accentuation": _accent(c.accent, place), "accentuation_note": c.accent_note,
        "units": {layer: [{"unit": x.unit, "mean_probability_drop": _r(x.drop),
                           "images": x.images} for x in rows]
                  for layer, rows in c.drivers.items()},
        "failures": [failure_record(d.failures[i], place) for i in c.failures],
    }


def connection_rows(atlas: Atlas) -> list[dict[str, Any]]:
    d: Decisions | None = atlas.decisions
    if d is None:
        return []
    return [{"layer": late[0], "unit": late[1], "input_layer": k.layer, "input_unit": k.unit,
             "drive": _r(k.drive), "share": _r(k.share), "shortcut": int(k.shortcut),
             "images": k.images} for late, links in sorted(d.inputs.items()) for k in links]


def class_rows(atlas: Atlas) -> list[dict[str, Any]]:
    d: Decisions | None = atlas.decisions
    if d is None:
        return []
    return [{"class_index": c.index, "class": c.name, "page": c.href,
             "images": len(c.images), "best_prob": _r(c.best.prob) if c.best else None,
             "wrong": sum(p.correct == 0 for p in c.images),
             "accentuated": int(c.accent is not None),
             "prob_after": _r(c.accent.prob_after) if c.accent else None,
             "units": "; ".join(f"{layer}:{x.unit}" for layer, rows in c.drivers.items()
                                for x in rows)} for c in d.classes]


def failure_rows(atlas: Atlas) -> list[dict[str, Any]]:
    d: Decisions | None = atlas.decisions
    if d is None:
        return []
    return [{"rank": f.rank, "image_id": f.pic.image_id, "label": f.label,
             "predicted": f.pred_name, "prob": _r(f.prob), "true": f.true_name,
             "true_prob": _r(f.true_prob), "accentuated": int(f.predicted is not None),
             "predicted_prob_after": _r(f.predicted.prob_after) if f.predicted else None,
             "true_prob_after": _r(f.true.prob_after) if f.true else None}
            for f in d.failures]


def export_decisions(atlas: Atlas, root: Path, fmt: str, place: Place) -> list[Path]:
    """``atlas export``'s files of the decisions under ``root``: CSV ``connections.csv``,
    ``classes.csv`` and ``failures.csv``; JSON ``classes/<index>.json`` (those that have
    rows)."""
    written: list[Path] = []

    def put(rel: str, text: str) -> None:
        atomic_write_bytes(root / rel, text.encode("utf-8"))
        written.append(root / rel)

    if fmt == "csv":
        for name, rows in (("connections", connection_rows(atlas)),
                           ("classes", class_rows(atlas)), ("failures", failure_rows(atlas))):
            if rows:
                put(f"{name}.csv", csv_text(rows))
        return written
    d: Decisions | None = atlas.decisions
    for c in d.classes if d is not None else []:
        put(f"classes/{c.index}.json", json_text(class_record(atlas, c, place)))
    return written
