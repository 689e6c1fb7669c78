"""Making untrusted run data safe for the site: file names, URLs, embedded JSON and the CSP.

Everything a run carries (layer names, labels, image ids, credits, config text) may come from a
user's folder or a dataset on the hub, so none of it is trusted. Templates autoescape text; this
module covers the places autoescaping cannot: path components, links and script data.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from atlas.names import slug  # the one slug; the site's modules import it from here too

# The site loads only its own files (scripts, styles, images) and data: URIs; nothing inline may
# run. Chromium treats 'self' on a file:// page as "files of the file: scheme", which is exactly
# what a site opened from disk needs (tested in tests/test_site_browser.py).
SITE_CSP = (
    "default-src 'none'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "base-uri 'none'; form-action 'none'"
)

_JS_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028",
               "\u2029": "\\u2029"}


def safe_relpath(rel: str) -> str:
    """A run-relative media path made safe to mirror under the site (no '..', no absolute)."""
    parts = [p for p in str(rel).replace("\\", "/").split("/") if p not in ("", ".", "..")]
    return "/".join(slug(p) for p in parts) or "x"


def js_data(obj: Any) -> str:
    """JSON that is also safe inside HTML ``<script>`` and in old JS engines (U+2028/9)."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.translate(str.maketrans(_JS_ESCAPES))


def js_assign(name: str, obj: Any) -> str:
    """A plain script that sets ``window[name]``: how pages get data without fetch() on file://."""
    if not re.fullmatch(r"[A-Z_][A-Z0-9_]*", name):
        raise ValueError(f"bad global name {name!r}")
    return f"window.{name}={js_data(obj)};\n"


def js_register(table: str, key: str, obj: Any) -> str:
    """A plain script that adds ``obj`` under ``key`` to ``window[table]``: data split over
    files that a page loads one by one, when it needs them."""
    if not re.fullmatch(r"[A-Z_][A-Z0-9_]*", table):
        raise ValueError(f"bad global name {table!r}")
    return f"(window.{table}=window.{table}||{{}})[{js_data(key)}]={js_data(obj)};\n"


def natural_key(name: str) -> list[object]:
    """Sort key that puts ``_blocks.4`` before ``_blocks.10``."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def http_url(url: object) -> str | None:
    """``url`` if it is an http(s) link, else None: javascript: or data: credits are never links."""
    text = str(url or "").strip()
    if re.match(r"^https?://[^\s\"'<>]+$", text, flags=re.IGNORECASE):
        return text
    return None


def finite(x: object, default: float | None = None) -> float | None:
    """``x`` as a float, or ``default`` when missing/NaN/inf (tables can hold NaN)."""
    try:
        v = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default
    return v if v == v and abs(v) != float("inf") else default


_SVG_ACTIVE = re.compile(
    rb"<\s*(script|foreignobject|iframe|embed|object|image|use|a|animate|set|style)[\s>/]"
    rb"|\son[a-z]+\s*=|javascript:|href\s*=|url\s*\(|<!entity|@import", re.IGNORECASE)


def plain_svg(path: Path, max_bytes: int = 2_000_000) -> bool:
    """Is the file a plain SVG drawing: no script, handler, link, reference or foreign content?

    Charts are written by our own code and shown only through ``<img>`` (where nothing in them
    runs), but a copied file can also be opened on its own; refusing anything active keeps
    that harmless too. Shapes, text, transforms and presentation attributes pass.
    """
    try:
        if path.stat().st_size > max_bytes:
            return False
        data = path.read_bytes()
    except OSError:
        return False
    head = data[:512].lstrip().lower()
    return (head.startswith((b"<svg", b"<?xml")) and b"<svg" in data[:2048].lower()
            and not _SVG_ACTIVE.search(data))
