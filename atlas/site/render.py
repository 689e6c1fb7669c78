"""Render a run directory into a static, offline site (``atlas render``).

The site is plain files: ``index.html`` (unit cards + the layer map), ``units/<layer>/<unit>.html``
(stable permalinks), ``reports/...`` (self-contained per-unit reports), ``about.html`` (method,
run, credits), ``validation.html`` (when ``atlas validate`` has run), ``data/*.js`` (page data
as plain scripts: file:// forbids fetch), ``static/``, ``media/`` and ``thumbs/``. It never
references a file outside its folder, loads nothing from the network and is safe to rebuild in
place: unchanged media are not copied again and files of a previous build that no longer belong
are removed (only in a folder marked as an atlas site).
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from atlas.config.sections import SiteConfig
from atlas.errors import AtlasError
from atlas.io.files import atomic_write_bytes
from atlas.io.swap import staged_folder
from atlas.pipeline.rundir import RunDir
from atlas.site.content import Atlas, Pic, Unit
from atlas.site.downloads import write_tables
from atlas.site.env import TEMPLATES, make_env, model_name, pretty
from atlas.site.export import csv_text, json_text, layer_row, unit_record
from atlas.site.load import load_atlas
from atlas.site.media import InlineMedia, SiteMedia
from atlas.site.render_decisions import FAILURES, write_decisions
from atlas.site.report import report_html
from atlas.site.safe import SITE_CSP, js_assign, slug
from atlas.site.title import RULE
from atlas.site.validation import PAIRS, fix, load_validation

MARKER = ".atlas-site"
CSV = "units.csv"  # each layer's table of units, beside its pages (atlas.site.export)
_MANAGED = ("units", "reports", "media", "thumbs", "data", "static", "tables", "classes")


def _prepare(out: Path) -> None:
    """Refuse to write into a non-empty folder that is not an atlas site (it may be precious).
    Hidden files alone (the repository's ``site/.gitkeep``) do not count: nothing is ever
    deleted outside the site's own sub-folders."""
    if out.exists() and not out.is_dir():
        raise AtlasError(f"site output {str(out)!r} is a file; give a folder")
    visible = out.is_dir() and any(not p.name.startswith(".") for p in out.iterdir())
    if visible and not (out / MARKER).exists():
        raise AtlasError(f"site output {str(out)!r} is not empty and not an atlas site; "
                         "choose an empty or new folder")
    out.mkdir(parents=True, exist_ok=True)


class _Writer:
    def __init__(self, out: Path):
        self.out, self.written = out, set()

    def write(self, rel: str, text: str) -> None:
        self.written.add(rel)
        atomic_write_bytes(self.out / rel, text.encode("utf-8"))  # world-readable (0644)


def render_site(run_dir: str | Path, out_dir: str | Path, cfg: SiteConfig | None = None) -> Path:
    """Render the run at ``run_dir`` into ``out_dir`` and return ``out_dir`` (open its
    ``index.html``). It is written into a staged copy of the site that then replaces it whole
    (:mod:`atlas.io.swap`), so a kill mid-render leaves the previous complete site."""
    _prepare(Path(out_dir))
    with staged_folder(out_dir) as out:
        _render_into(Path(run_dir), str(out_dir), out, cfg or SiteConfig())
    return Path(out_dir)


def build_renderer(cfg: SiteConfig) -> Callable[[RunDir, bool], str]:
    """The site renderer a build calls while it works (``final=False``: without the shareable
    reports, which inline every image) and at its end."""

    def render(run: RunDir, final: bool) -> str:
        site = cfg if final else replace(cfg, reports_max_units=0)
        return str(render_site(run.root, cfg.out, site))

    return render


def _render_into(run_dir: Path, out_dir: str, out: Path, cfg: SiteConfig) -> None:
    atlas = load_atlas(run_dir)
    validation = load_validation(run_dir)
    atlas.validated = validation is not None
    if cfg.title:
        atlas.name, atlas.title_rule = cfg.title, "set explicitly"
    env, w = make_env(), _Writer(out)
    w.write(MARKER, json.dumps({"generator": "atlas", "run": str(Path(run_dir).resolve())}))
    media = SiteMedia(Path(run_dir), out, thumb_px=cfg.thumb_px)
    thumbs = media.make_thumbs([u.face for u in atlas.units])
    for f in sorted((TEMPLATES / "static").iterdir()):
        if f.is_file():
            w.write(f"static/{f.name}", f.read_text(encoding="utf-8"))
    limit = cfg.reports_max_units
    with_reports = limit == -1 or 0 < len(atlas.units) <= limit
    inline = InlineMedia(Path(run_dir), cfg.report_px)
    model = model_name(atlas)
    common = dict(atlas=atlas, csp=SITE_CSP, model=model, site=True, title_rule=RULE,
                  **_commands(atlas, str(out_dir)))
    page = env.get_template("unit.html")
    for u in atlas.units:
        root = "../../"
        prev = atlas.units[u.index - 1] if u.index > 0 else None
        nxt = atlas.units[u.index + 1] if u.index + 1 < len(atlas.units) else None
        w.write(u.href, page.render(**common, u=u, root=root, prev=prev, next=nxt, top_limit=24,
                                    report=with_reports, src=_src(media, root)))
        w.write(u.json_href, json_text(unit_record(atlas, u, _src(media, root))))
        if with_reports:
            w.write(u.report_href, report_html(atlas, [u], inline, env))
    for layer in atlas.layers:
        rows = [layer_row(atlas, u) for u in atlas.units if u.layer == layer]
        if rows:
            w.write(f"units/{slug(layer)}/{CSV}", csv_text(rows))
    pages = write_decisions(w.write, env, atlas, common, lambda root: _src(media, root),
                            with_reports, inline)
    if FAILURES not in pages:  # a previous render's page would outlive its data
        (out / FAILURES).unlink(missing_ok=True)
    w.write("data/index.js", js_assign("ATLAS_INDEX", _index_data(atlas)))
    w.write("data/map.js", js_assign("ATLAS_MAP", _map_data(atlas, media)))
    n_acc = sum(len(u.accents) for u in atlas.units)
    w.write("index.html", env.get_template("index.html").render(
        **common, root="", thumbs=thumbs, n_accents=n_acc))
    tables = write_tables(Path(run_dir), out, atlas.tables, w.written)
    w.write("about.html", env.get_template("about.html").render(
        **common, root="", tables=tables, **_about(atlas)))
    if validation is not None:
        w.write("validation.html", env.get_template("validation.html").render(
            **common, root="", v=validation, pairs=PAIRS, fix=fix, src=_src(media, ""),
            config_text=pretty(validation.config) if validation.config else ""))
    else:  # a previous build's page would outlive the result it showed
        (out / "validation.html").unlink(missing_ok=True)
    _remove_stale(out, w.written | media.written | set(thumbs.values()))


def _src(media: SiteMedia, root: str) -> Callable[[str | None], str | None]:
    """The templates' ``src()``: media path -> URL relative to the page (copied on first use)."""

    def src(m: str | None) -> str | None:
        rel = media.place(m)
        return root + rel if rel else None

    return src


def _index_data(atlas: Atlas) -> dict:
    li = {name: i for i, name in enumerate(atlas.layers)}
    slugs = {u.layer: u.lslug for u in atlas.units}

    def r(v: float | None) -> float | None:
        return None if v is None else round(v, 4)

    return {
        "layers": atlas.layers,
        "slugs": [slugs.get(name, "") for name in atlas.layers],
        "units": [[li[u.layer], u.unit, r(u.top_activation), u.clusters, r(u.spread),
                   _search_text(u, not atlas.random_weights)] for u in atlas.units],
    }


def _search_text(u: Unit, model_classes: bool, n: int = 3) -> str:
    """A unit's label names for search and the map's tip, a few per kind, kinds in a fixed
    order split by "|" ("fish, goldfish|tench|hay": data|ablation|accentuation; index.js names
    them): the index stays under 1 MB at 2,048 units."""
    names = u.names(model_classes)
    return "|".join(", ".join(names.get(k, [])[:n]) for k in ("data", "ablation", "accent"))


def _map_data(atlas: Atlas, media: SiteMedia) -> dict:
    """Layer-map points as flat [x, y, unit index, accent rank (-1: the unit's own point), ...]
    with x, y in 0..1000 and, per unit index, the hover thumbnails (its accentuations, and its
    top image under -1) as [prefix, suffix, {rank: middle}]: both kept compact so 1,000 units
    x 8 accents stay well under 1 MB."""
    index = {(u.layer, u.unit): u.index for u in atlas.units}
    layers, pics = {}, {}
    for i, name in enumerate(atlas.layers):
        flat: list[int] = []
        for x, y, unit, rank in atlas.global_map.get(name, []):
            if (name, unit) in index:
                flat += [round(x * 1000), round(y * 1000), index[(name, unit)], rank]
        if flat:
            layers[str(i)] = flat
    for u in atlas.units:
        placed = {str(a.rank): p for a in u.accents if (p := media.place(a.accent_media))}
        top = next((s.pic.media for s in u.top[:1] if s.pic.media), None)
        if top_site := media.place(top):  # the unit's own point (rank -1): its top image
            placed["-1"] = top_site
        if placed:
            pics[str(u.index)] = _affixes(placed)
    return {"layers": layers, "media": pics}


def _affixes(paths: dict[str, str]) -> list[object]:
    """``{k: path}`` as ``[prefix, suffix, {k: middle}]`` (``prefix + middle + suffix``)."""
    values = list(paths.values())
    pre = os.path.commonprefix(values)
    rest = [v[len(pre):] for v in values]
    suf = os.path.commonprefix([r[::-1] for r in rest])[::-1] if len(values) > 1 else ""
    return [pre, suf, {k: v[len(pre):len(v) - len(suf)] for k, v in paths.items()}]


def _about(atlas: Atlas) -> dict:
    m = atlas.manifest
    shown: dict[str, Pic] = {}
    for u in atlas.units:
        for p in [a.pic for a in u.accents] + [s.pic for s in u.top + u.bottom]:
            shown.setdefault(p.image_id, p)
    stages = m.get("stages") if isinstance(m.get("stages"), dict) else {}
    skipped = m.get("skipped") if isinstance(m.get("skipped"), list) else []
    return dict(
        credits=sorted(shown.values(), key=lambda p: (p.credit.source, p.image_id)),
        stages=sorted(stages.items()), skipped=skipped,
        config_text=pretty(m["config"]) if m.get("config") else "",
        versions_text=pretty(m["versions"]) if m.get("versions") else "",
        manifest_text=pretty(m), bundled=any(p.origin == "bundled" for p in shown.values()))


def _commands(atlas: Atlas, site: str) -> dict[str, str]:
    """The exact commands that add a Validation page to this site (About and index say them)."""
    cfg = atlas.manifest.get("config") if isinstance(atlas.manifest.get("config"), dict) else {}
    model = cfg.get("model") if isinstance(cfg.get("model"), dict) else {}
    data = cfg.get("data") if isinstance(cfg.get("data"), dict) else {}
    mine = cfg.get("mine") if isinstance(cfg.get("mine"), dict) else {}
    run = atlas.run_path or "RUN"
    parts = ["atlas", "validate"]
    if model.get("name"):
        parts += ["--model", str(model["name"])]
    if model.get("weights") not in (None, "", "default"):
        parts += ["--weights", str(model["weights"])]
    if data.get("images") not in (None, "", "bundled"):
        parts += ["--images", str(data["images"])]
    for layer in mine.get("layers") or [] if isinstance(mine.get("layers"), list) else []:
        parts += ["--layer", str(layer)]
    parts += ["--out", run]
    return {"validate_cmd": shlex.join(parts),
            "render_cmd": shlex.join(["atlas", "render", run, "--out", site])}


def _remove_stale(out: Path, keep: set[str]) -> None:
    """Delete files a previous build left in the managed folders that this build did not write."""
    for top in _MANAGED:
        base = out / top
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*"), reverse=True):
            rel = path.relative_to(out).as_posix()
            if path.is_file() and rel not in keep:
                path.unlink()
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()
