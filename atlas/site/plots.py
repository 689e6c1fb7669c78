"""Hand-written SVG charts (no plotting library): bars with error bars, lines, strips.

SVG is text, so charts are small, sharp at any zoom, open from the file system and embed in
the static site as-is. Every label is XML-escaped. Colours follow one fixed palette so the same
comparison has the same colour in every chart.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape

PALETTE = ["#2f6fb0", "#e08a1e", "#7a52a8", "#8c8c8c", "#3a9a5b", "#c0392b"]
W, H, L, R, T, B = 640, 320, 60, 150, 34, 44  # size and margins (left, right, top, bottom)


def _text(x: float, y: float, s: str, size: int = 12, anchor: str = "start",
          extra: str = "") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
            f'font-family="sans-serif"{extra}>{escape(str(s))}</text>')


def _frame(title: str, ylabel: str, lo: float,
           hi: float) -> tuple[list[str], Callable[[float], float]]:
    """SVG header, title, y axis with ticks; returns (parts, y-to-pixel function)."""
    span = (hi - lo) or 1.0
    ypx = lambda v: T + (H - T - B) * (1 - (v - lo) / span)  # noqa: E731
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
             f'viewBox="0 0 {W} {H}">', '<rect width="100%" height="100%" fill="white"/>',
             _text(W / 2 - R / 2 + L / 2, 20, title, 14, "middle", ' font-weight="bold"')]
    for v in nice_ticks(lo, hi):
        y = ypx(v)
        parts.append(f'<line x1="{L}" x2="{W - R}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e4e4e4"/>')
        parts.append(_text(L - 6, y + 4, f"{v:g}", 11, "end"))
    parts.append(f'<line x1="{L}" x2="{L}" y1="{T}" y2="{H - B}" stroke="#444"/>')
    parts.append(_text(14, (T + H - B) / 2, ylabel, 12, "middle",
                       f' transform="rotate(-90 14 {(T + H - B) / 2:.1f})"'))
    return parts, ypx


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """At most about ``n`` round tick values (1, 2 or 5 times a power of ten) in [lo, hi]."""
    step = 10 ** math.floor(math.log10(max((hi - lo) / n, 1e-12)))
    for m in (1, 2, 5, 10):
        if (hi - lo) / (step * m) <= n:
            step *= m
            break
    start = math.ceil(lo / step) * step
    return [round(start + i * step, 10) for i in range(int((hi - start) / step) + 1)]


def _legend(names: Sequence[str]) -> list[str]:
    out = []
    for i, name in enumerate(names):
        y = T + 8 + 18 * i
        out.append(f'<rect x="{W - R + 12}" y="{y - 9}" width="12" height="12" '
                   f'fill="{PALETTE[i % len(PALETTE)]}"/>')
        out.append(_text(W - R + 30, y + 1, name, 11))
    return out


def _range(values: Sequence[float], zero: bool = True) -> tuple[float, float]:
    vals = [v for v in values if v is not None and math.isfinite(v)] or [0.0]
    lo, hi = min(vals + ([0.0] if zero else [])), max(vals + ([0.0] if zero else []))
    pad = 0.06 * ((hi - lo) or 1.0)
    return lo - (pad if lo < 0 or not zero else 0), hi + pad


def bar_chart(title: str, ylabel: str, groups: Sequence[str], series: Sequence[str],
              means: Sequence[Sequence[float]], los: Sequence[Sequence[float]],
              his: Sequence[Sequence[float]]) -> str:
    """Grouped bars ``means[g][s]`` with error bars [lo, hi] (e.g. bootstrap CIs)."""
    lo, hi = _range([v for row in [*los, *his, *means] for v in row])
    parts, ypx = _frame(title, ylabel, lo, hi)
    gw = (W - R - L) / max(len(groups), 1)
    bw = gw * 0.8 / max(len(series), 1)
    for g, name in enumerate(groups):
        x0 = L + g * gw + gw * 0.1
        for s in range(len(series)):
            x, m = x0 + s * bw, means[g][s]
            top, base = ypx(max(m, 0)), ypx(min(m, 0))
            parts.append(f'<rect x="{x:.1f}" y="{top:.1f}" width="{bw * 0.9:.1f}" '
                         f'height="{max(base - top, 0.5):.1f}" fill="{PALETTE[s]}"/>')
            cx = x + bw * 0.45
            parts.append(f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{ypx(los[g][s]):.1f}" '
                         f'y2="{ypx(his[g][s]):.1f}" stroke="#222" stroke-width="1.3"/>')
        parts.append(_text(L + g * gw + gw / 2, H - B + 16, name, 11, "middle"))
    parts.append(f'<line x1="{L}" x2="{W - R}" y1="{ypx(0):.1f}" y2="{ypx(0):.1f}" '
                 'stroke="#444"/>')
    return "\n".join([*parts, *_legend(series), "</svg>"])


def line_chart(title: str, ylabel: str, xs: Sequence[float], series: dict[str, Sequence[float]],
               shade: Sequence[float] | None = None, mark: float | None = None,
               xlabel: str = "lambda (log scale)") -> str:
    """Lines over a log-scaled x axis; ``shade`` an [x0, x1] band, ``mark`` a vertical line."""
    lo, hi = _range([v for ys in series.values() for v in ys])
    parts, ypx = _frame(title, ylabel, lo, hi)
    lx = [math.log10(x) for x in xs]
    xpx = lambda v: L + (W - R - L) * (math.log10(v) - lx[0]) / ((lx[-1] - lx[0]) or 1)  # noqa: E731
    if shade:
        a, b = sorted(xpx(v) for v in shade)
        parts.append(f'<rect x="{a:.1f}" y="{T}" width="{max(b - a, 1):.1f}" '
                     f'height="{H - T - B}" fill="#f3e3b5" opacity="0.7"/>')
    if mark:
        parts.append(f'<line x1="{xpx(mark):.1f}" x2="{xpx(mark):.1f}" y1="{T}" y2="{H - B}" '
                     'stroke="#c0392b" stroke-dasharray="4 3"/>')
        parts.append(_text(xpx(mark) + 4, T + 12, f"lambda={mark:g}", 11, extra=' fill="#c0392b"'))
    for x in xs:
        parts.append(_text(xpx(x), H - B + 16, f"{x:g}", 10, "middle"))
    parts.append(_text((L + W - R) / 2, H - 8, xlabel, 11, "middle"))
    for i, ys in enumerate(series.values()):
        pts = " ".join(f"{xpx(x):.1f},{ypx(y):.1f}" for x, y in zip(xs, ys, strict=True))
        col = PALETTE[i % len(PALETTE)]
        parts.append(f'<polyline points="{pts}" fill="none" stroke="{col}" stroke-width="2"/>')
    return "\n".join([*parts, *_legend(list(series)), "</svg>"])


def strip_chart(title: str, ylabel: str, groups: dict[str, Sequence[float]]) -> str:
    """One column of points per group (deterministic jitter) with its mean as a bar."""
    lo, hi = _range([v for vs in groups.values() for v in vs])
    parts, ypx = _frame(title, ylabel, lo, hi)
    gw = (W - R - L) / max(len(groups), 1)
    for g, (name, vals) in enumerate(groups.items()):
        cx, col = L + g * gw + gw / 2, PALETTE[g % len(PALETTE)]
        for i, v in enumerate(vals):
            jx = cx + gw * 0.3 * (((i * 0.618034) % 1.0) - 0.5)
            parts.append(f'<circle cx="{jx:.1f}" cy="{ypx(v):.1f}" r="2.6" fill="{col}" '
                         'fill-opacity="0.6"/>')
        if vals:
            m = ypx(sum(vals) / len(vals))
            parts.append(f'<line x1="{cx - gw * 0.25:.1f}" x2="{cx + gw * 0.25:.1f}" '
                         f'y1="{m:.1f}" y2="{m:.1f}" stroke="#111" stroke-width="2"/>')
        parts.append(_text(cx, H - B + 16, name, 11, "middle"))
    return "\n".join([*parts, *_legend(list(groups)), "</svg>"])
