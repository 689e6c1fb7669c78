"""Geometry of the unit page's charts (histogram, manifestation map, trajectory sparkline).

Computed here and drawn as inline SVG by ``templates/_charts.html``, so the charts need no script
(they work in the self-contained report and under a strict CSP) and stay testable as numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from atlas.site.plots import nice_ticks
from atlas.site.model import Unit

# Tableau 10: distinct, colour-blind-friendly, readable on light and dark backgrounds.
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
           "#ff9da7", "#9c755f", "#bab0ac")


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)] if i >= 0 else "#888888"


@dataclass
class Histogram:
    width: float
    height: float
    bars: list[tuple[float, float, float, float, str]] = field(default_factory=list)
    marks: list[tuple[float, str, str]] = field(default_factory=list)  # x, css class, title
    ticks: list[tuple[float, str]] = field(default_factory=list)


def _fmt(v: float) -> str:
    return f"{v:.3g}"


def histogram(u: Unit, width: float = 600, height: float = 150) -> Histogram | None:
    """Bars on a log scale (the top images sit in a thin tail), with the activations of the top
    images and of the accentuations marked, so one sees how far accentuation pushes the unit."""
    if not u.stats or len(u.stats["hist_edges"]) != len(u.stats["hist_counts"]) + 1:
        return None
    counts, edges = u.stats["hist_counts"], u.stats["hist_edges"]
    if not counts:
        return None
    tops = [s.activation for s in u.top if s.activation is not None]
    finals = [a.final_activation for a in u.accents if a.final_activation is not None]
    lo, hi = min([edges[0], *tops]), max([edges[-1], *tops, *finals])
    if hi <= lo:
        hi = lo + 1.0
    pad, base = 4.0, height - 18.0
    sx = (width - 2 * pad) / (hi - lo)
    top_count = max(math.log1p(max(c, 0.0)) for c in counts) or 1.0
    h = Histogram(width=width, height=height)
    for c, e0, e1 in zip(counts, edges[:-1], edges[1:], strict=True):
        bh = (base - 6) * math.log1p(max(c, 0.0)) / top_count
        h.bars.append((pad + (e0 - lo) * sx, base - bh, max(0.5, (e1 - e0) * sx - 0.5), bh,
                       f"{_fmt(e0)} to {_fmt(e1)}: {int(c)} images"))
    h.marks += [(pad + (v - lo) * sx, "mark-top", f"top image #{s.rank}: {_fmt(v)}")
                for s in u.top if (v := s.activation) is not None]
    h.marks += [(pad + (v - lo) * sx, "mark-acc", f"accentuation #{a.rank}: {_fmt(v)}")
                for a in u.accents if (v := a.final_activation) is not None]
    h.ticks = [(pad + (v - lo) * sx, _fmt(v)) for v in nice_ticks(lo, hi)]
    return h


@dataclass
class MapPoint:
    x: float
    y: float
    kind: str
    rank: int
    cluster: int
    colour: str
    title: str


@dataclass
class ManifestationMap:
    size: float
    points: list[MapPoint]
    links: list[tuple[float, float, float, float]]  # seed -> its accentuation
    legend: list[tuple[str, int, int, int]]  # colour, cluster, naturals, accents


def manifestation_map(u: Unit, size: float = 320) -> ManifestationMap | None:
    """The unit's per-unit map: natural top images (dots) and accentuations (diamonds) coloured
    by manifestation cluster; a line joins each accentuation to its seed, showing how far it
    moved in feature space."""
    if not u.points:
        return None
    pad = 12.0

    def at(p: dict) -> tuple[float, float]:
        return pad + p["x"] * (size - 2 * pad), pad + (1 - p["y"]) * (size - 2 * pad)

    pts, natural_at, legend = [], {}, {}
    for p in u.points:
        x, y = at(p)
        pic = p["pic"]
        what = "accentuation" if p["kind"] == "accent" else "top image"
        title = f"{what} #{p['rank']} · {pic.label or pic.image_id} · cluster {p['cluster']}"
        pts.append(MapPoint(x, y, p["kind"], p["rank"], p["cluster"], colour(p["cluster"]), title))
        if p["kind"] == "natural":
            natural_at[pic.image_id] = (x, y)
        n = legend.setdefault(p["cluster"], [0, 0])
        n[p["kind"] == "accent"] += 1
    links = [(*natural_at[p["pic"].image_id], *at(p)) for p in u.points
             if p["kind"] == "accent" and p["pic"].image_id in natural_at]
    pts.sort(key=lambda q: q.kind == "accent")  # accentuations drawn on top
    return ManifestationMap(size=size, points=pts, links=links,
                            legend=[(colour(c), c, n[0], n[1]) for c, n in sorted(legend.items())])


def sparkline(values: list[float], width: float = 120, height: float = 28) -> str | None:
    """SVG polyline points of an activation trajectory (seed to accentuation, per step)."""
    if len(values) < 2:
        return None
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    step = width / (len(values) - 1)
    return " ".join(f"{i * step:.1f},{height - 2 - (v - lo) / span * (height - 4):.1f}"
                    for i, v in enumerate(values))
