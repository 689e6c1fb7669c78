"""Read a run directory into the site's model (:mod:`atlas.site.model`).

Only the run directory is read (tables per :mod:`atlas.pipeline.schema`, ``manifest.json``,
media), so a site can be rendered from any run however it was made. Any table may be missing
— a run with only ``mine`` done renders its natural images and histograms — and any number may
be NaN.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

from atlas.errors import AtlasError
from atlas.pipeline.rundir import RunDir
from atlas.pipeline.schema import TABLES
from atlas.site import describe
from atlas.site.media import PHOTOS, find_natural
from atlas.site.model import Accent, Atlas, Credit, Pic, Shot, Unit
from atlas.site.safe import finite, http_url, natural_key, slug
from atlas.site.scale import standing
from atlas.site.status import BuildStatus, apply_status
from atlas.site.title import site_title
from atlas.site.validation import FILE as VALIDATION

Key = tuple[str, int]


def _records(run: RunDir, table: str) -> list[dict[str, Any]]:
    if not run.has(table):
        return []
    df = run.read_table(table)
    return df.to_dict("records") if len(df) else []


def _group(rows: list[dict[str, Any]]) -> dict[Key, list[dict[str, Any]]]:
    out: dict[Key, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        out[(str(r["layer"]), int(r["unit"]))].append(r)
    for v in out.values():
        v.sort(key=lambda r: int(r.get("rank", 0)))
    return out


def _s(x: object) -> str:
    """A table cell as text ('' for missing/NaN)."""
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else str(x)


def _list(r: dict[str, Any], key: str) -> list[Any]:
    """A list cell (parquet gives numpy arrays, or None when missing) as a plain list."""
    v = r.get(key)
    return [] if v is None else list(v)


def _bundled_credits() -> dict[str, dict[str, str]]:
    """CREDITS.csv of the bundled photos, by file name: fills credits a run left empty."""
    path = PHOTOS / "CREDITS.csv"
    if not path.is_file():
        return {}
    with path.open(newline="", encoding="utf-8") as f:
        return {row["file"]: row for row in csv.DictReader(f)}


def _pics(run: RunDir, rows: list[dict[str, Any]], seed_media: dict[str, str]) -> dict[str, Pic]:
    pics = {}
    bundled = _bundled_credits() if any(r.get("source") == "bundled" for r in rows) else {}
    for r in rows:
        image_id, origin = _s(r["image_id"]), _s(r.get("source"))
        known = bundled.get(_s(r.get("path")), {}) if origin == "bundled" else {}
        credit = Credit(author=_s(r.get("author")) or known.get("author", ""),
                        license=_s(r.get("license")) or known.get("license", ""),
                        url=http_url(r.get("credit_url") or known.get("source")),
                        source=_s(r.get("path")) or f"{origin}#{_s(r.get('index'))}")
        media = find_natural(run.root, image_id, r, seed_media.get(image_id))
        pics[image_id] = Pic(image_id=image_id, label=_s(r.get("label")), media=media,
                             credit=credit, origin=origin,
                             width=int(finite(r.get("width"), 0) or 0),
                             height=int(finite(r.get("height"), 0) or 0))
    return pics


def _pic(pics: dict[str, Pic], run: RunDir, image_id: str, seed: str | None = None) -> Pic:
    """The image's Pic; one is made up for ids missing from images.parquet (still shown)."""
    if image_id not in pics:
        pics[image_id] = Pic(image_id=image_id, media=find_natural(run.root, image_id, {}, seed))
    return pics[image_id]


def _accent(r: dict[str, Any], pic: Pic) -> Accent:
    f = finite
    return Accent(
        rank=int(r["rank"]), pic=pic, seed_media=_s(r.get("seed_media")) or pic.media,
        accent_media=_s(r.get("accent_media")) or None, mask_media=_s(r.get("mask_media")) or None,
        overlay_media=_s(r.get("overlay_media")) or None,
        frames=[str(x) for x in _list(r, "frames_media")],
        seed_activation=f(r.get("seed_activation")), final_activation=f(r.get("final_activation")),
        gain=f(r.get("gain")), latent_distance=f(r.get("latent_distance")),
        pixel_rmse=f(r.get("pixel_rmse")), steps=int(f(r.get("steps"), 0) or 0) or None,
        lam=f(r.get("lam")), param=_s(r.get("param")), reg_layer=_s(r.get("reg_layer")),
        trajectory=[v for v in (f(x) for x in _list(r, "trajectory")) if v is not None],
        change_media=_s(r.get("change_media")) or None, change_gain=f(r.get("change_gain")))


def _stats(r: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: finite(r.get(k)) for k in TABLES["stats"] if k not in
                           ("layer", "unit", "hist_counts", "hist_edges")}
    out["hist_counts"] = [finite(x, 0.0) for x in _list(r, "hist_counts")]
    out["hist_edges"] = [finite(x, 0.0) for x in _list(r, "hist_edges")]
    return out


def _spread(pts: list[tuple[float, float, int, int]]) -> float | None:
    """RMS distance of a unit's accentuations from their centroid in the layer-wide map: units
    whose accentuations land in many places of the shared map respond to many kinds of input."""
    if len(pts) < 2:
        return None
    cx = sum(p[0] for p in pts) / len(pts)
    cy = sum(p[1] for p in pts) / len(pts)
    return math.sqrt(sum((p[0] - cx) ** 2 + (p[1] - cy) ** 2 for p in pts) / len(pts))


def load_atlas(run_dir: str | Path) -> Atlas:
    """Read everything the site shows from ``run_dir``; AtlasError when it holds no run."""
    run = RunDir(run_dir)
    if not run.root.is_dir():
        raise AtlasError(f"run directory {str(run.root)!r} does not exist")
    present = [t for t in TABLES if run.has(t)]
    if not present and not run.manifest_path.exists() and not (run.root / VALIDATION).is_file():
        raise AtlasError(f"{str(run.root)!r} is not a run directory: no manifest.json, no "
                         f"{VALIDATION} and no tables "
                         f"({', '.join(t + '.parquet' for t in TABLES)})")
    rows = {t: _records(run, t) for t in ("topk", "stats", "seeds", "accents", "vis", "labels",
                                          "embed")}
    seed_media = {_s(r["image_id"]): _s(r.get("seed_media")) for r in rows["accents"]}
    pics = _pics(run, _records(run, "images"), seed_media)
    g = {t: _group([r for r in v if int(r["unit"]) >= 0]) for t, v in rows.items()}
    gmap: dict[str, list[tuple[float, float, int, int]]] = defaultdict(list)
    for r in rows["embed"]:
        if int(r["unit"]) < 0 and _s(r.get("kind")) in ("accent", "unit"):  # unit: rank -1
            x, y = finite(r.get("x")), finite(r.get("y"))
            if x is not None and y is not None:
                gmap[str(r["layer"])].append((x, y, int(r["cluster"]), int(r["rank"])))
    keys = sorted(set().union(*[set(v) for v in g.values()]))
    manifest = run.manifest()
    order = {name: i for i, name in enumerate(_config_layers(manifest))}
    layers = sorted({k[0] for k in keys} | set(gmap),
                    key=lambda n: (order.get(n, len(order)), natural_key(n)))
    rank = {name: i for i, name in enumerate(layers)}
    keys.sort(key=lambda k: (rank[k[0]], k[1]))
    slugs = {name: slug(name) for name in layers}
    owned: dict[Key, list[tuple[float, float, int, int]]] = defaultdict(list)
    for layer, pts in gmap.items():
        for p in pts:
            if p[3] >= 0:  # accentuations only: a unit's own point says nothing of its spread
                owned[(layer, p[2])].append(p)
    units = [_unit(run, pics, g, owned.get(k, []), k, slugs[k[0]]) for k in keys]
    same_scale = _same_reduction(manifest)
    for i, u in enumerate(units):
        u.index = i
        if same_scale:
            _place_accents(u)
    status = BuildStatus.of(manifest)
    apply_status(units, status)
    describe.attach(run, units)
    name, rule = site_title(manifest, run.root.resolve().name)
    return Atlas(name=name, manifest=manifest, layers=layers, units=units, pics=pics,
                 global_map=dict(gmap), tables=present, building=status.running,
                 random_weights=describe.random_weights(manifest), run_path=str(run_dir),
                 title_rule=rule)


def _config_layers(manifest: dict[str, Any]) -> list[str]:
    cfg = manifest.get("config")
    mine = cfg.get("mine") if isinstance(cfg, dict) else None
    layers = mine.get("layers") if isinstance(mine, dict) else None
    return [str(x) for x in layers] if isinstance(layers, list) else []


def _same_reduction(manifest: dict[str, Any]) -> bool:
    """Whether accentuation activations can be placed among the mined ones: both must reduce
    the unit's map alike (mining by spatial mean or max, the accentuation target likewise)."""
    cfg = manifest.get("config") if isinstance(manifest.get("config"), dict) else {}
    mine, accent = cfg.get("mine"), cfg.get("accent")
    reduce = mine.get("reduce") if isinstance(mine, dict) else None
    target = accent.get("target") if isinstance(accent, dict) else None
    return reduce is None or target is None or reduce == target


def _place_accents(u: Unit) -> None:
    """Seed and result of each accentuation against the unit's natural activations."""
    best = u.top_activation
    for a in u.accents:
        a.seed_standing = standing(a.seed_activation, u.stats, best)
        a.final_standing = standing(a.final_activation, u.stats, best)


def _unit(run: RunDir, pics: dict[str, Pic], g: dict[str, dict[Key, list[dict[str, Any]]]],
          owned: list[tuple[float, float, int, int]], k: Key, lslug: str) -> Unit:
    u = Unit(layer=k[0], unit=k[1], lslug=lslug)
    for r in g["topk"].get(k, []):
        shot = Shot(rank=int(r["rank"]), activation=finite(r.get("activation")),
                    pic=_pic(pics, run, _s(r["image_id"])))
        (u.bottom if _s(r.get("kind")) == "bottom" else u.top).append(shot)
    u.accents = [_accent(r, _pic(pics, run, _s(r["image_id"]), _s(r.get("seed_media"))))
                 for r in g["accents"].get(k, [])]
    if g["vis"].get(k):
        v = g["vis"][k][0]
        u.vis_media, u.vis_activation = _s(v.get("vis_media")) or None, finite(
            v.get("final_activation"))
    u.labels = [(_s(r.get("class_name")), finite(r.get("score"))) for r in g["labels"].get(k, [])]
    if g["stats"].get(k):
        u.stats = _stats(g["stats"][k][0])
    u.points = [{"x": finite(r.get("x"), 0.5), "y": finite(r.get("y"), 0.5),
                 "kind": _s(r.get("kind")), "rank": int(r["rank"]), "cluster": int(r["cluster"]),
                 "pic": _pic(pics, run, _s(r["image_id"]))} for r in g["embed"].get(k, [])]
    clusters = {p["cluster"] for p in u.points if p["kind"] == "natural" and p["cluster"] >= 0}
    if not clusters:
        clusters = {int(r["cluster"]) for r in g["seeds"].get(k, []) if int(r["cluster"]) >= 0}
    u.clusters = len(clusters) or None
    u.spread = _spread(owned)
    return u

