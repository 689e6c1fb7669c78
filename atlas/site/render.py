"""Render a run directory into a static, offline site (``atlas render``).

The site is plain files: ``index.html`` (unit cards + the layer map, its data from
:mod:`atlas.site.index_data`), ``units/<layer>/<unit>.html`` (stable permalinks),
``lists/<layer>.html`` (every unit of a layer as a plain list), ``reports/...``
(self-contained per-unit reports), ``about.html`` (method, run, credits), ``validation.html``
(when ``atlas validate`` has run), ``data/...js`` (page data as plain scripts: file:// forbids
fetch), ``static/``, ``media/`` and ``thumbs/``. It never references a file outside its folder,
loads nothing from the network and is safe to rebuild in place: unchanged media are not copied
again and files of a previous build that no longer belong are removed (only in a folder marked
as an atlas site).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from jinja2 import Environment

from atlas.config.sections import SiteConfig
from atlas.errors import AtlasError
from atlas.io.files import atomic_write_bytes
from atlas.io.swap import staged_folder
from atlas.pipeline.rundir import RunDir
from atlas.site.content import Atlas, Pic
from atlas.site.downloads import write_tables
from atlas.site.env import TEMPLATES, make_env, model_name, pretty
from atlas.site.export import layer_row, unit_record
from atlas.site.index_data import FIRST, card, groups, index_data, map_points, map_tips, thumb_path
from atlas.site.load import load_atlas
from atlas.site.media import InlineMedia, SiteMedia
from atlas.site.render_decisions import FAILURES, write_decisions
from atlas.site.report import report_html
from atlas.site.safe import SITE_CSP, js_assign, js_register, slug
from atlas.site.tabular import csv_text, json_text
from atlas.site.title import RULE
from atlas.site.validation import PAIRS, fix, load_validation

MARKER = ".atlas-site"
CSV = "units.csv"  # each layer's table of units, beside its pages (atlas.site.export)
_MANAGED = ("units", "lists", "reports", "media", "thumbs", "data", "static", "tables",
            "classes")


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
    thumbs = media.unit_thumbs({thumb_path(u): u.face for u in atlas.units})
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
    _write_index(atlas, env, w, common, thumbs, _src(media, ""))
    tables = write_tables(Path(run_dir), out, atlas.tables, w.written)
    w.write("about.html", env.get_template("about.html").render(
        **common, root="", tables=tables, **_about(atlas)))
    if validation is not None:
        w.write("validation.html", env.get_template("validation.html").render(
            **common, root="", v=validation, pairs=PAIRS, fix=fix, src=_src(media, ""),
            config_text=pretty(validation.config) if validation.config else ""))
    else:  # a previous build's page would outlive the result it showed
        (out / "validation.html").unlink(missing_ok=True)
    _remove_stale(out, w.written | media.written)


def _src(media: SiteMedia, root: str) -> Callable[[str | None], str | None]:
    """The templates' ``src()``: media path -> URL relative to the page (copied on first use)."""

    def src(m: str | None) -> str | None:
        rel = media.place(m)
        return root + rel if rel else None

    return src


def _write_index(atlas: Atlas, env: Environment, w: _Writer, common: dict,
                 thumbs: set[str], place: Callable[[str | None], str | None]) -> None:
    """The index page, its data, each layer's map and hover images (loaded as the map shows
    them) and each layer's plain list of units (the index without JavaScript)."""
    gs = groups(atlas)
    data = index_data(atlas, gs, thumbs)
    w.write("data/index.js", js_assign("ATLAS_INDEX", data))
    lists = env.get_template("units_list.html")
    counts: dict[str, int] = {}  # units of each kind: {"channel": 2048, "feature": 16384}
    for g in gs:
        counts[g.kind] = counts.get(g.kind, 0) + len(g.units)
        if atlas.global_map.get(g.name):
            w.write(f"data/map/{g.slug}.js", js_register("ATLAS_MAPS", g.slug,
                                                         map_points(atlas, g)))
            w.write(f"data/tips/{g.slug}.js", js_register("ATLAS_TIPS", g.slug,
                                                          map_tips(atlas, g, place)))
        w.write(f"lists/{g.slug}.html", lists.render(
            **common, root="../", g=g, units=atlas.units[g.start:g.start + len(g.units)]))
    n = len(atlas.units)
    w.write("index.html", env.get_template("index.html").render(
        **common, root="", cards=[card(data, i) for i in range(min(FIRST, n))], groups=gs,
        data=data, n_accents=sum(len(u.accents) for u in atlas.units), counts=counts))


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
