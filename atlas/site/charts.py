"""The unit page's charts: activation histogram, manifestation map, trajectory sparkline.

Computed here as numbers (so they stay testable as numbers) and drawn inline by
:func:`atlas.io.svg.svg` through ``templates/_charts.html``, so they need no script and work
in the self-contained report and under a strict CSP. Templates reach this module as ``charts``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from atlas.io.svg import PALETTE, Figure, colour, nice_ticks, svg
from atlas.site.content import Unit

__all__ = ["PALETTE", "histogram", "manifestation_map", "spark", "sparkline", "svg"]
HIST_LABEL = "Activation histogram (log scale) with the top images and accentuations marked"
MAP_LABEL = "Manifestation map: top images and accentuations coloured by cluster"


@dataclass
class Histogram:
    width: float
    height: float
    bars: list[tuple[float, float, float, float, str]] = field(default_factory=list)
    marks: list[tuple[float, str, str]] = field(default_factory=list)  # x, css class, title
    ticks: list[tuple[float, str]] = field(default_factory=list)

    def figure(self) -> Figure:
        fig, base = Figure(self.width, self.height, HIST_LABEL, "chart hist"), self.height - 18
        for x, y, w, bh, title in self.bars:
            fig.add("rect", title=title, cls="bar", x=x, y=y, width=w, height=bh)
        fig.add("line", cls="axis", x1=0, x2=self.width, y1=base, y2=base)
        for x, cls, title in self.marks:
            fig.add("line", title=title, cls=cls, x1=x, x2=x, y1=4, y2=base)
        for x, label in self.ticks:
            fig.add("text", label, cls="tick", x=x, y=self.height - 4)
        return fig


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

    def figure(self, anchor: str, linked: bool) -> Figure:
        """Accentuations link to their place on the page (``#{anchor}-acc-{rank}``)."""
        fig = Figure(self.size, self.size, MAP_LABEL, "chart map")
        fig.add("rect", cls="frame", x=0.5, y=0.5, width=self.size - 1, height=self.size - 1)
        for x1, y1, x2, y2 in self.links:
            fig.add("line", cls="link", x1=x1, y1=y1, x2=x2, y2=y2)
        for p in self.points:
            if p.kind == "accent":
                href = f"#{anchor}-acc-{p.rank}" if linked else ""
                fig.add("path", title=p.title, href=href, cls="pt acc", fill=p.colour,
                        d=f"M{p.x:.1f} {p.y - 7:.1f}l7 7l-7 7l-7 -7z")
            else:
                fig.add("circle", title=p.title, cls="pt nat", cx=p.x, cy=p.y, r=4.5,
                        fill=p.colour)
        return fig


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


def spark(points: str, width: float = 120, height: float = 28) -> Figure:
    """The sparkline's figure from :func:`sparkline`'s points."""
    fig = Figure(width, height, "activation per optimization step", "spark")
    fig.add("polyline", points=points)
    return fig
