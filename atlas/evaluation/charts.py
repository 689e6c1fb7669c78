"""The validation study's charts (bars with CIs, lambda curves, strips), as standalone SVG files.

Drawn through the site's one writer and palette (:mod:`atlas.io.svg`) with presentation
attributes, since a file shown through ``<img>`` gets no page styles. Every label is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from atlas.io.svg import Figure, colour, nice_ticks, svg

W, H, L, R, T, B = 640, 320, 60, 150, 34, 44  # size and margins (left, right, top, bottom)
FONT = "sans-serif"


def _text(fig: Figure, x: float, y: float, s: object, size: int = 12, anchor: str = "start",
          **extra: object) -> None:
    fig.add("text", s, x=x, y=y, font_size=size, text_anchor=anchor, font_family=FONT, **extra)


def _frame(title: str, ylabel: str, lo: float,
           hi: float) -> tuple[Figure, Callable[[float], float]]:
    """A study chart's figure with title and y axis; returns (figure, y-to-pixel function)."""
    span = (hi - lo) or 1.0
    ypx = lambda v: T + (H - T - B) * (1 - (v - lo) / span)  # noqa: E731
    fig = Figure(W, H, title)
    _text(fig, W / 2 - R / 2 + L / 2, 20, title, 14, "middle", font_weight="bold")
    for v in nice_ticks(lo, hi):
        fig.add("line", x1=L, x2=W - R, y1=ypx(v), y2=ypx(v), stroke="#e4e4e4")
        _text(fig, L - 6, ypx(v) + 4, f"{v:g}", 11, "end")
    fig.add("line", x1=L, x2=L, y1=T, y2=H - B, stroke="#444")
    mid = (T + H - B) / 2
    _text(fig, 14, mid, ylabel, 12, "middle", transform=f"rotate(-90 14 {mid:.1f})")
    return fig, ypx


def _legend(fig: Figure, names: Sequence[str]) -> str:
    for i, name in enumerate(names):
        y = T + 8 + 18 * i
        fig.add("rect", x=W - R + 12, y=y - 9, width=12, height=12, fill=colour(i))
        _text(fig, W - R + 30, y + 1, name, 11)
    return svg(fig, standalone=True)


def _range(values: Sequence[float], zero: bool = True) -> tuple[float, float]:
    vals = [v for v in values if v is not None and math.isfinite(v)] or [0.0]
    lo, hi = min(vals + ([0.0] if zero else [])), max(vals + ([0.0] if zero else []))
    pad = 0.06 * ((hi - lo) or 1.0)
    return lo - (pad if lo < 0 or not zero else 0), hi + pad


def bar_chart(title: str, ylabel: str, groups: Sequence[str], series: Sequence[str],
              means: Sequence[Sequence[float]], los: Sequence[Sequence[float]],
              his: Sequence[Sequence[float]]) -> str:
    """Grouped bars ``means[g][s]`` with error bars [lo, hi] (e.g. bootstrap CIs)."""
    fig, ypx = _frame(title, ylabel, *_range([v for row in [*los, *his, *means] for v in row]))
    gw = (W - R - L) / max(len(groups), 1)
    bw = gw * 0.8 / max(len(series), 1)
    for g, name in enumerate(groups):
        x0 = L + g * gw + gw * 0.1
        for s in range(len(series)):
            x, m = x0 + s * bw, means[g][s]
            top, base = ypx(max(m, 0)), ypx(min(m, 0))
            fig.add("rect", x=x, y=top, width=bw * 0.9, height=max(base - top, 0.5),
                    fill=colour(s))
            cx = x + bw * 0.45
            fig.add("line", x1=cx, x2=cx, y1=ypx(los[g][s]), y2=ypx(his[g][s]), stroke="#222",
                    stroke_width=1.3)
        _text(fig, L + g * gw + gw / 2, H - B + 16, name, 11, "middle")
    fig.add("line", x1=L, x2=W - R, y1=ypx(0), y2=ypx(0), stroke="#444")
    return _legend(fig, series)


def line_chart(title: str, ylabel: str, xs: Sequence[float], series: dict[str, Sequence[float]],
               shade: Sequence[float] | None = None, mark: float | None = None,
               xlabel: str = "lambda (log scale)") -> str:
    """Lines over a log-scaled x axis; ``shade`` an [x0, x1] band, ``mark`` a vertical line."""
    fig, ypx = _frame(title, ylabel, *_range([v for ys in series.values() for v in ys]))
    lx = [math.log10(x) for x in xs]
    xpx = lambda v: L + (W - R - L) * (math.log10(v) - lx[0]) / ((lx[-1] - lx[0]) or 1)  # noqa: E731
    if shade:
        a, b = sorted(xpx(v) for v in shade)
        fig.add("rect", x=a, y=T, width=max(b - a, 1), height=H - T - B, fill="#f3e3b5",
                opacity=0.7)
    if mark:
        fig.add("line", x1=xpx(mark), x2=xpx(mark), y1=T, y2=H - B, stroke="#c0392b",
                stroke_dasharray="4 3")
        _text(fig, xpx(mark) + 4, T + 12, f"lambda={mark:g}", 11, fill="#c0392b")
    for x in xs:
        _text(fig, xpx(x), H - B + 16, f"{x:g}", 10, "middle")
    _text(fig, (L + W - R) / 2, H - 8, xlabel, 11, "middle")
    for i, ys in enumerate(series.values()):
        pts = " ".join(f"{xpx(x):.1f},{ypx(y):.1f}" for x, y in zip(xs, ys, strict=True))
        fig.add("polyline", points=pts, fill="none", stroke=colour(i), stroke_width=2)
    return _legend(fig, list(series))


def strip_chart(title: str, ylabel: str, groups: dict[str, Sequence[float]]) -> str:
    """One column of points per group (deterministic jitter) with its mean as a bar."""
    fig, ypx = _frame(title, ylabel, *_range([v for vs in groups.values() for v in vs]))
    gw = (W - R - L) / max(len(groups), 1)
    for g, (name, vals) in enumerate(groups.items()):
        cx = L + g * gw + gw / 2
        for i, v in enumerate(vals):
            jx = cx + gw * 0.3 * (((i * 0.618034) % 1.0) - 0.5)
            fig.add("circle", cx=jx, cy=ypx(v), r=2.6, fill=colour(g), fill_opacity=0.6)
        if vals:
            m = ypx(sum(vals) / len(vals))
            fig.add("line", x1=cx - gw * 0.25, x2=cx + gw * 0.25, y1=m, y2=m, stroke="#111",
                    stroke_width=2)
        _text(fig, cx, H - B + 16, name, 11, "middle")
    return _legend(fig, list(groups))
