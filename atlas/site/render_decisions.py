"""The decision pages of a site: one page (with its JSON and, like units, a shareable report) per
predicted class, and the Failures page when the data has labels.

Called once per render by :mod:`atlas.site.render`, which owns the writer, the media and the
shared template context.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from jinja2 import Environment

from atlas.errors import AtlasError, unknown
from atlas.io.files import atomic_write_bytes
from atlas.site.content import Atlas
from atlas.site.decisions import ClassPage, Decisions
from atlas.site.env import make_env, model_name
from atlas.site.export_decisions import class_record
from atlas.site.load import load_atlas
from atlas.site.media import InlineMedia
from atlas.site.report import inline_style
from atlas.site.tabular import json_text

Write = Callable[[str, str], None]
Src = Callable[[str], Callable[[str | None], str | None]]  # root -> (media -> URL)
FAILURES = "failures.html"
HOW = (("exact", "exact"), ("case", "ignoring case"), ("loose", "loosely"),
       ("file", "by the mapping file"), ("ambiguous", "ambiguous"),
       ("unmapped", "left unmapped by the file"), ("none", "not matched"))


def mapping_counts(d: Decisions) -> list[tuple[str, int]]:
    """How many labels mapped each way, in a fixed order, only the ways that occur."""
    n = {how: sum(1 for r in d.labels if r.how == how) for how, _ in HOW}
    return [(text, n[how]) for how, text in HOW if n[how]]


def class_report_html(atlas: Atlas, c: ClassPage, inline: InlineMedia, env: Environment,
                      model: str) -> str:
    """A self-contained report of one class page (images inlined, no script)."""
    css, csp = inline_style()
    return env.get_template("class_report.html").render(
        atlas=atlas, c=c, title=f"class {c.name}", csp=csp, css=css, site=False,
        src=inline.place, model=model)


def render_class_report(run_dir: str | Path, spec: str, out: str | Path,
                        max_px: int = 256) -> Path:
    """Write a self-contained report of the class page ``spec`` (a class name, exact or any
    case, or its index); AtlasError naming the closest classes that have a page."""
    if not 32 <= max_px <= 2048:
        raise AtlasError(f"report image size {max_px} out of range; valid: 32–2048 px")
    atlas = load_atlas(run_dir)
    d: Decisions | None = atlas.decisions
    pages = d.classes if d is not None else []
    if not pages:
        raise AtlasError(f"run {str(run_dir)!r} has no class pages (no predictions)")
    by_name = {c.name.lower(): c for c in pages}
    by_index = {str(c.index): c for c in pages}
    c = by_name.get(spec.strip().lower()) or by_index.get(spec.strip())
    if c is None:
        raise unknown("class with a page", spec, [p.name for p in pages])
    html = class_report_html(atlas, c, InlineMedia(Path(run_dir), max_px), make_env(),
                             model_name(atlas))
    atomic_write_bytes(Path(out), html.encode("utf-8"))
    return Path(out)


def write_decisions(write: Write, env: Environment, atlas: Atlas, common: dict[str, Any],
                    src: Src, reports: bool, inline: InlineMedia) -> set[str]:
    """Write the class pages, their JSON and reports, and the Failures page; return the
    root-level pages written (the caller removes a previous render's others)."""
    d: Decisions | None = atlas.decisions
    if d is None or not d.classes:
        return set()
    page = env.get_template("class.html")
    for i, c in enumerate(d.classes):
        prev = d.classes[i - 1] if i > 0 else None
        nxt = d.classes[i + 1] if i + 1 < len(d.classes) else None
        write(c.href, page.render(**common, c=c, root="../", prev=prev, next=nxt,
                                  report=reports, src=src("../")))
        write(c.json_href, json_text(class_record(atlas, c, src("../"))))
        if reports:
            write(c.report_href, class_report_html(atlas, c, inline, env, common["model"]))
    if not d.labels:
        return set()
    write(FAILURES, env.get_template("failures.html").render(
        **common, root="", src=src(""), mapping_counts=mapping_counts(d)))
    return {FAILURES}
