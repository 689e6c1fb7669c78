"""Activations a person can read: placed among the unit's own activations on natural images.

``final / seed`` is a poor headline number: it explodes when the seed barely excites the unit
and flips sign when the seed's activation is negative (the demo pages showed x203 and x-217).
So the site never divides by the seed. It says where an activation sits in the unit's natural
distribution instead: its percentile among the mined images (read from the stats histogram),
and, beyond the best natural image, a multiple of that image's activation. A multiple is given
only when the best activation is clearly above zero for this unit (at least ``NEAR_ZERO`` of the
natural range); otherwise it would be one more ratio to a near-zero number.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

NEAR_ZERO = 0.2  # the best natural activation must sit this share of the natural range above 0
BEST = "the best photo"  # what the multiples are of (the unit's top natural image)


@dataclass(frozen=True)
class Standing:
    """Where one activation sits for its unit. ``text`` is the short form a card or a row shows
    ("97th percentile", "1.6× the best photo"); ``note`` the sentence a title tooltip explains
    it with."""

    value: float
    percentile: float | None  # share (0-100) of the natural images with a lower activation
    times_best: float | None  # value / best natural activation; only above the best, best > 0
    text: str
    note: str


def percentile(value: float, counts: Sequence[float], edges: Sequence[float]) -> float | None:
    """Percent of the histogram's mass below ``value`` (linear within a bin), or None when the
    histogram is unusable (empty, mismatched, edges not increasing)."""
    if len(counts) == 0 or len(edges) != len(counts) + 1:
        return None
    total = float(sum(max(c, 0.0) for c in counts))
    if total <= 0 or any(not b > a for a, b in zip(edges[:-1], edges[1:], strict=True)):
        return None
    if value <= edges[0]:
        return 0.0
    if value >= edges[-1]:
        return 100.0
    below = 0.0
    for c, lo, hi in zip(counts, edges[:-1], edges[1:], strict=True):
        if value >= hi:
            below += max(c, 0.0)
        else:
            below += max(c, 0.0) * (value - lo) / (hi - lo)
            break
    return 100.0 * below / total


def ordinal(pct: float) -> str:
    """``97`` -> ``97th``, ``21.2`` -> ``21st``, ``99.62`` -> ``99.6th``: whole numbers where
    that is precise enough, one decimal in the tails where the top images crowd together."""
    if 1.0 <= pct < 99.0:
        n = int(round(pct))
        suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
        return f"{n}{suffix}"
    return f"{pct:.1f}th"


def _times(m: float) -> str:
    return f"{m:.1f}" if m < 10 else f"{m:.0f}"


def _g(v: float) -> str:
    return f"{v:.3g}"


def standing(value: float | None, stats: dict[str, Any] | None,
             best: float | None) -> Standing | None:
    """Place ``value`` for a unit with natural statistics ``stats`` (the stats table's row:
    hist_counts, hist_edges, min, count) and best natural activation ``best`` (its top-1 image).
    None when there is nothing honest to say (no value, or neither a histogram nor a best)."""
    if value is None or not math.isfinite(value):
        return None
    stats = stats or {}
    n = stats.get("count")
    pool = f"its {int(n)} natural images" if n else "its natural images"
    low = stats.get("min")
    if low is None and stats.get("hist_edges"):
        low = stats["hist_edges"][0]
    if best is not None and value >= best:
        clear = best > 0 and (low is None or best >= NEAR_ZERO * (best - low))
        if clear:
            m = value / best
            return Standing(value, 100.0, m, f"{_times(m)}× {BEST}",
                            f"activation {_g(value)} = {_times(m)} × {_g(best)}, the unit's "
                            f"activation on its best natural image")
        text = "above every natural image" if value > best else "as high as the best photo"
        return Standing(value, 100.0, None, text,
                        f"activation {_g(value)}; the best of {pool} reaches {_g(best)} (too "
                        f"close to zero for this unit to serve as a unit of measure)")
    pct = percentile(value, stats.get("hist_counts") or [], stats.get("hist_edges") or [])
    if pct is None:
        return None
    if best is not None:
        pct = min(pct, 99.9)  # below the best image: never "100th"
    if value < (low if low is not None else stats["hist_edges"][0]):
        return Standing(value, 0.0, None, "below every natural image",
                        f"activation {_g(value)}, lower than on any of {pool}")
    return Standing(value, pct, None, f"{ordinal(pct)} percentile",
                    f"activation {_g(value)}: higher than on {pct:.3g}% of {pool}")
