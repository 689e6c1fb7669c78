"""How every chart of atlas is drawn: geometry in Python, one SVG writer, one palette.

A chart is a :class:`Figure` of :class:`Mark` elements. :func:`svg` writes it, escaping every
attribute and text, either inline in a page (styled by ``atlas.css`` through classes, so it
follows the theme and needs no script or style attribute under the site's CSP) or as a
standalone file with its colours as presentation attributes (the validation charts, shown
through ``<img>``, drawn by :mod:`atlas.evaluation.charts`). ``PALETTE`` is the only list of
series colours: the SVG charts index it with :func:`colour`, and ``base.html`` hands it to the
JavaScript as ``data-palette``. The unit page's charts are in :mod:`atlas.site.charts`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from markupsafe import Markup, escape

# Tableau 10: distinct, colour-blind-friendly, readable on light and dark backgrounds.
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
           "#ff9da7", "#9c755f", "#bab0ac")
NONE_COLOUR = "#888888"  # points of no series (unclustered)


def colour(i: int) -> str:
    """Series ``i``'s colour; the palette repeats, so any number of series can be drawn."""
    return PALETTE[i % len(PALETTE)] if i >= 0 else NONE_COLOUR


@dataclass
class Mark:
    """One SVG element: ``attrs`` as written (names with '-'), ``text`` its content, ``title`` a
    tooltip child, ``href`` a link around it."""

    tag: str
    attrs: dict[str, object]
    text: str = ""
    title: str = ""
    href: str = ""


@dataclass
class Figure:
    width: float
    height: float
    label: str  # what a screen reader says
    cls: str = "chart"
    marks: list[Mark] = field(default_factory=list)

    def add(self, tag: str, text: object = "", title: str = "", href: str = "",
            **attrs: object) -> None:
        """Append an element; ``cls`` becomes ``class`` and ``_`` in names becomes ``-``."""
        names = {k: ("class" if k == "cls" else k.replace("_", "-")) for k in attrs}
        self.marks.append(Mark(tag, {names[k]: v for k, v in attrs.items()}, str(text), title,
                               href))


def _attrs(attrs: dict[str, object]) -> str:
    out = []
    for k, v in attrs.items():
        out.append(f' {k}="{escape(f"{v:.1f}" if isinstance(v, float) else str(v))}"')
    return "".join(out)


def _mark(m: Mark) -> str:
    inner = str(escape(m.text)) + (f"<title>{escape(m.title)}</title>" if m.title else "")
    el = f"<{m.tag}{_attrs(m.attrs)}>{inner}</{m.tag}>" if inner else f"<{m.tag}{_attrs(m.attrs)}/>"
    return f'<a href="{escape(m.href)}">{el}</a>' if m.href else el


def svg(fig: Figure, standalone: bool = False) -> Markup:
    """The figure as SVG markup; ``standalone``: a file of its own, on a white background."""
    w, h = (f"{v:g}" for v in (fig.width, fig.height))
    head: dict[str, object] = {"class": fig.cls, "viewBox": f"0 0 {w} {h}", "role": "img",
                               "aria-label": fig.label}
    if standalone:
        head = {"xmlns": "http://www.w3.org/2000/svg", "width": w, "height": h, **head}
    body = ['<rect width="100%" height="100%" fill="white"/>'] if standalone else []
    body += [_mark(m) for m in fig.marks]
    return Markup(f"<svg{_attrs(head)}>" + "".join(body) + "</svg>")


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """At most about ``n`` round tick values (1, 2 or 5 times a power of ten) in [lo, hi]."""
    step = 10 ** math.floor(math.log10(max((hi - lo) / n, 1e-12)))
    for m in (1, 2, 5, 10):
        if (hi - lo) / (step * m) <= n:
            step *= m
            break
    start = math.ceil(lo / step) * step
    return [round(start + i * step, 10) for i in range(int((hi - start) / step) + 1)]


