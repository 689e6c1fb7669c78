"""Read a run directory into the site's model (:mod:`atlas.site.content`).

Only the run directory is read (tables per :mod:`atlas.pipeline.schema`, ``manifest.json``,
media), so a site can be rendered from any run however it was made. Any table may be missing
— a run with only ``mine`` done renders its natural images and histograms — and any number may
be NaN.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

from atlas.data.sources import read_credits
from atlas.errors import AtlasError
from atlas.pipeline.rundir import RunDir
from atlas.pipeline.schema import TABLES
from atlas.site import load_basis
from atlas.site import load_describe as describe
from atlas.site.content import Accent, Atlas, Credit, Pic, Shot, Unit
from atlas.site.load_decisions import load_decisions
from atlas.site.media import PHOTOS, find_natural
from atlas.site.read import Key, by_unit, cells, records, text
from atlas.site.safe import finite, http_url, natural_key, slug
from atlas.site.standing import standing
from atlas.site.status import BuildStatus, apply_status
from atlas.site.title import site_title
from atlas.site.validation import FILE as VALIDATION


def _pics(run: RunDir, rows: list[dict[str, Any]], seed_media: dict[str, str]) -> dict[str, Pic]:
    pics = {}
    bundled = read_credits(PHOTOS) if any(r.get("source") == "bundled" for r in rows) else {}
    for r in rows:
        image_id, origin = text(r["image_id"]), text(r.get("source"))
        known = bundled.get(text(r.get("path")), {}) if origin == "bundled" else {}
        credit = Credit(author=text(r.get("author")) or known.get("author", ""),
                        license=text(r.get("license")) or known.get("license", ""),
                        url=http_url(r.get("credit_url") or known.get("credit_url")),
                        source=text(r.get("path")) or f"{origin}#{text(r.get('index'))}")
        media = find_natural(run.root, image_id, r, seed_media.get(image_id))
        pics[image_id] = Pic(image_id=image_id, label=text(r.get("label")), media=media,
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
        rank=int(r["rank"]), pic=pic, seed_media=text(r.get("seed_media")) or pic.media,
        accent_media=text(r.get("accent_media")) or None,
        mask_media=text(r.get("mask_media")) or None,
        overlay_media=text(r.get("overlay_media")) or None,
        frames=[str(x) for x in cells(r, "frames_media")],
        seed_activation=f(r.get("seed_activation")), final_activation=f(r.get("final_activation")),
        gain=f(r.get("gain")), latent_distance=f(r.get("latent_distance")),
        pixel_rmse=f(r.get("pixel_rmse")), steps=int(f(r.get("steps"), 0) or 0) or None,
        lam=f(r.get("lam")), param=text(r.get("param")), reg_layer=text(r.get("reg_layer")),
        trajectory=[v for v in (f(x) for x in cells(r, "trajectory")) if v is not None],
        change_media=text(r.get("change_media")) or None, change_gain=f(r.get("change_gain")))


def _stats(r: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: finite(r.get(k)) for k in TABLES["stats"] if k not in
                           ("layer", "unit", "hist_counts", "hist_edges")}
    out["hist_counts"] = [finite(x, 0.0) for x in cells(r, "hist_counts")]
    out["hist_edges"] = [finite(x, 0.0) for x in cells(r, "hist_edges")]
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
    rows = {t: records(run, t) for t in ("topk", "stats", "seeds", "accents", "vis", "labels",
                                          "embed")}
    seed_media = {text(r["image_id"]): text(r.get("seed_media")) for r in rows["accents"]}
    pics = _pics(run, records(run, "images"), seed_media)
    g = {t: by_unit(v) for t, v in rows.items()}
    gmap: dict[str, list[tuple[float, float, int, int]]] = defaultdict(list)
    for r in records(run, "layer_map"):  # a unit's own point has rank -1
        x, y = finite(r.get("x")), finite(r.get("y"))
        if x is not None and y is not None:
            gmap[str(r["layer"])].append((x, y, int(r["unit"]), int(r["rank"])))
    keys = sorted(set().union(*[set(v) for v in g.values()]))
    manifest = run.manifest()
    order = {name: i for i, name in enumerate(_config_layers(manifest))}
    base = {name: b.layer for name, b in load_basis.bases(run).items()}  # features: their layer
    layers = sorted({k[0] for k in keys} | set(gmap), key=lambda n: (
        order.get(base.get(n, n), len(order)), natural_key(base.get(n, n)), n in base,
        natural_key(n)))
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
    found_bases = load_basis.attach(run, units)
    decisions = load_decisions(run, units, pics, manifest)
    name, rule = site_title(manifest, run.root.resolve().name)
    return Atlas(name=name, manifest=manifest, layers=layers, units=units, pics=pics,
                 global_map=dict(gmap), tables=present, building=status.running,
                 random_weights=describe.random_weights(manifest), run_path=str(run_dir),
                 title_rule=rule, bases=found_bases, decisions=decisions)


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
                    pic=_pic(pics, run, text(r["image_id"])))
        (u.bottom if text(r.get("kind")) == "bottom" else u.top).append(shot)
    u.accents = [_accent(r, _pic(pics, run, text(r["image_id"]), text(r.get("seed_media"))))
                 for r in g["accents"].get(k, [])]
    if g["vis"].get(k):
        v = g["vis"][k][0]
        u.vis_media, u.vis_activation = text(v.get("vis_media")) or None, finite(
            v.get("final_activation"))
    u.labels = [(text(r.get("class_name")), finite(r.get("score"))) for r in g["labels"].get(k, [])]
    if g["stats"].get(k):
        u.stats = _stats(g["stats"][k][0])
    u.points = [{"x": finite(r.get("x"), 0.5), "y": finite(r.get("y"), 0.5),
                 "kind": text(r.get("kind")), "rank": int(r["rank"]), "cluster": int(r["cluster"]),
                 "pic": _pic(pics, run, text(r["image_id"]))} for r in g["embed"].get(k, [])]
    clusters = {p["cluster"] for p in u.points if p["kind"] == "natural" and p["cluster"] >= 0}
    if not clusters:
        clusters = {int(r["cluster"]) for r in g["seeds"].get(k, []) if int(r["cluster"]) >= 0}
    u.clusters = len(clusters) or None
    u.spread = _spread(owned)
    return u

