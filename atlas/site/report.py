"""A single self-contained HTML report of one or a few units, for sharing.

Everything is inside the one file: images as data: URIs (downscaled WebP), the stylesheet inline
and allowed by its hash in the CSP, no script at all. It opens anywhere, from a mail attachment
or a chat, and makes no request.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from pathlib import Path

from jinja2 import Environment
from markupsafe import Markup

from atlas.config.units import LayerUnit, parse_layer_units
from atlas.errors import AtlasError, unknown
from atlas.io.files import atomic_write_bytes
from atlas.site.content import Atlas, Unit
from atlas.site.env import make_env, model_name, pretty, read_static
from atlas.site.load import load_atlas
from atlas.site.media import InlineMedia

UnitSpec = str | LayerUnit
_EXTRA_CSS = """
.page-report main { max-width: 1100px; }
.page-report .unit { border-top: 3px solid var(--accent); margin-top: 28px; padding-top: 4px; }
.page-report .top { position: static; }
"""


def pick_units(atlas: Atlas, spec: str | Sequence[UnitSpec]) -> list[Unit]:
    """The chosen units, in the order given; AtlasError naming the closest valid choices."""
    index = {(u.layer, u.unit): u for u in atlas.units}
    chosen = []
    for layer, unit in parse_layer_units(spec):
        if layer not in atlas.layers:
            raise unknown("layer", layer, atlas.layers)
        if (layer, unit) not in index:
            have = sorted(u.unit for u in atlas.units if u.layer == layer)
            span = f"{have[0]}–{have[-1]}" if have else "none"
            raise AtlasError(f"layer {layer!r} has no unit {unit} in this run; units: {span}")
        if index[(layer, unit)] not in chosen:
            chosen.append(index[(layer, unit)])
    return chosen


def inline_style() -> tuple[Markup, str]:
    """The report's stylesheet (inlined) and the CSP that allows exactly it and data: images."""
    css = read_static("atlas.css") + read_static("decisions.css") + _EXTRA_CSS
    digest = base64.b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode()
    csp = (f"default-src 'none'; img-src data:; style-src 'sha256-{digest}'; "
           "base-uri 'none'; form-action 'none'")
    return Markup(css), csp


def report_html(atlas: Atlas, units: list[Unit], inline: InlineMedia,
                env: Environment | None = None) -> str:
    """The report's HTML for ``units`` (``inline`` turns media into data: URIs, cached; pass
    ``env`` when rendering many reports so templates compile once)."""
    css, csp = inline_style()
    if len(units) == 1:
        title = f"{units[0].layer} · unit {units[0].unit}"
    else:
        title = f"{len(units)} units of {model_name(atlas) or atlas.name}"
    config = atlas.manifest.get("config")
    return (env or make_env()).get_template("report.html").render(
        atlas=atlas, units=units, title=title, csp=csp, css=css, site=False, top_limit=12,
        src=inline.place, model=model_name(atlas), config_text=pretty(config) if config else "")


def render_report(run_dir: str | Path, units: str | Sequence[UnitSpec], out: str | Path,
                  max_px: int = 256) -> Path:
    """Write a self-contained report of ``units`` (e.g. ``"_blocks.10:3,_blocks.10:7"``)."""
    if not 32 <= max_px <= 2048:
        raise AtlasError(f"report image size {max_px} out of range; valid: 32–2048 px")
    atlas = load_atlas(run_dir)
    chosen = pick_units(atlas, units)
    out = Path(out)
    html = report_html(atlas, chosen, InlineMedia(Path(run_dir), max_px))
    atomic_write_bytes(out, html.encode("utf-8"))
    return out
