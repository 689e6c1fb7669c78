"""The jinja2 environment shared by the site and the report: autoescaping, helpers, filters.

Autoescape is always on and undefined names raise, so a template can neither inject run data as
markup nor silently render a blank where a field was misspelt.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from atlas import __version__
from atlas.site import charts as site_charts
from atlas.site.model import Atlas, Pic, Unit


def _templates() -> Path:
    """Installed, the templates ship as ``atlas/templates``; in a checkout they are its top level."""
    here = Path(__file__).resolve().parents[1]
    for root in (here / "templates", here.parent / "templates"):
        if (root / "base.html").is_file():
            return root
    raise FileNotFoundError(f"atlas's templates are missing (looked in {here / 'templates'})")


TEMPLATES = _templates()


def num(v: object, digits: int = 3) -> str:
    """A number for people: 3 significant digits, '–' when missing."""
    if v is None:
        return "–"
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(v)
    if f != f:
        return "–"
    if f == int(f) and abs(f) < 1e6:
        return str(int(f))
    return f"{f:.{digits}g}"


def shown_pics(u: Unit, limit: int | None = None) -> list[Pic]:
    """The natural images a unit's page shows, each once, in page order (for its credits);
    ``limit``: only that many of the top and bottom lists (the report's cut)."""
    seen: dict[str, Pic] = {}
    for p in [a.pic for a in u.accents] + [s.pic for s in u.top[:limit] + u.bottom[:limit]]:
        seen.setdefault(p.image_id, p)
    return list(seen.values())


def pretty(obj: Any) -> str:
    """Indented JSON for people (escaped by the template, like any text)."""
    return json.dumps(obj, indent=2, sort_keys=True, default=str, ensure_ascii=False)


def model_name(atlas: Atlas) -> str:
    """The model's name from the manifest, wherever the pipeline put it."""
    m = atlas.manifest
    model = m.get("model")
    if isinstance(model, dict):
        model = model.get("name")
    if not model and isinstance(m.get("config"), dict):
        model = m["config"].get("model")
        if isinstance(model, dict):
            model = model.get("name")
    return str(model) if model else ""


def make_env() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.globals.update(num=num, charts=site_charts, version=__version__)
    env.filters["shown_pics"] = shown_pics
    return env


def read_static(name: str) -> str:
    return (TEMPLATES / "static" / name).read_text(encoding="utf-8")
