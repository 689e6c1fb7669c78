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
from atlas.site.content import Atlas, Pic, Unit
from atlas.site.heat import heat_uri
from atlas.site.heat import place as heat_place
from atlas.site.safe import slug


def _templates() -> Path:
    """Installed, the templates ship as ``atlas/templates``; in a checkout, its top level."""
    here = Path(__file__).resolve().parents[1]
    for root in (here / "templates", here.parent / "templates"):
        if (root / "base.html").is_file():
            return root
    raise FileNotFoundError(f"atlas's templates are missing (looked in {here / 'templates'})")


TEMPLATES = _templates()


KINDS = {"data": "data", "ablation": "ablation", "accent": "accentuation"}  # Unit.names kinds


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
        return f"{int(f):,}" if abs(f) >= 10_000 else str(int(f))  # 202,272 reads at a glance
    return f"{f:.{digits}g}"


def pct(share: float | None) -> str:
    """A share (0-1) as a percentage people read: "11%", "<1%", "–"."""
    if share is None:
        return "–"
    if 0 < share < 0.01:
        return "<1%"
    return f"{share * 100:.0f}%"


def signed(v: float | None, digits: int = 2) -> str:
    """A signed change with a real minus sign: "+2.1", "−1.2" ("–" when missing)."""
    if v is None:
        return "–"
    text = f"{abs(v):.{digits}g}"
    return ("−" if v < 0 else "+") + text


def shown_pics(u: Unit, limit: int | None = None) -> list[Pic]:
    """The natural images a unit's page shows, each once, in page order (for its credits);
    ``limit``: only that many of the top and bottom lists (the report's cut)."""
    seen: dict[str, Pic] = {}
    tops = u.top if limit is None else u.strong[:limit]
    for p in [a.pic for a in u.accents] + [s.pic for s in tops + u.bottom[:limit]]:
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
    env.globals.update(num=num, charts=site_charts, version=__version__, pct=pct, signed=signed,
                       heat_uri=heat_uri, heat_place=heat_place, slug=slug,
                       kind_short=KINDS)
    env.filters["shown_pics"] = shown_pics
    return env


def read_static(name: str) -> str:
    return (TEMPLATES / "static" / name).read_text(encoding="utf-8")
