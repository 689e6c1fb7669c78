"""The Validation page's content, read from ``validation/validation.json`` (``atlas validate``).

The result is read and checked by :mod:`atlas.pipeline.results`, the module its writer uses; a
file that does not pass becomes a page that says so (``problem``), not a failed build. The
template reads the typed result directly; this module adds only what the page shows beyond
it: labels, the rows of the shortcut-removed variant, what the 95% intervals say about the
verdicts (which stay the ones ``atlas validate`` computed, so the page can neither invent nor
hide a failure), the sweep's highlighted rows, and which charts may be shown. Charts are
accepted only as plain SVG files inside ``validation/`` (:func:`atlas.site.safe.plain_svg`)
and shown through ``<img>``, never inline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from math import isclose
from pathlib import Path
from typing import Any

from atlas.pipeline.results import (
    FILE,
    FOLDER,
    Claims,
    Distribution,
    Interval,
    LayerResult,
    Pathway,
    PathwayStats,
    ResultError,
    Shortcut,
    Sweep,
    ValidationResult,
    chart_path,
    read_result,
)
from atlas.site.env import num
from atlas.site.safe import finite, natural_key, plain_svg, slug

PAIRS = (("accent_natural", "accentuation ↔ natural"), ("natural_natural", "natural ↔ natural"),
         ("vis_natural", "visualization ↔ natural"), ("random_natural", "random photo ↔ natural"),
         ("accent_own_seed", "accentuation ↔ its seed"))
CLOSENESS = (("seed_activation", "seed activation"),
             ("accent_activation", "accentuation activation"),
             ("vis_activation", "visualization activation"),
             ("accent_gain", "accentuation gain (final / seed)"),
             ("vis_gain", "visualization gain (final / seed)"),
             ("accent_distance", "accentuation ↔ seed distance"),
             ("vis_distance", "visualization ↔ seed distance"),
             ("accent_pixel_rmse", "accentuation ↔ seed pixel RMSE"))
LAYER_CHARTS = ("pathway", "closeness", "gain")
SWEEP_CHARTS = ("lambda-distance", "lambda-gain")
_ALT = {"pathway": "Pathway similarity per attribution layer: means with 95% intervals",
        "closeness": "Latent distance to the seed: accentuations, visualizations, photo pairs",
        "gain": "Activation gain over the seed: accentuations and visualizations",
        "lambda": "Lambda sweep: mean and per-unit curves, sensitive region shaded"}


def fix(v: float | None, spec: str | None = None) -> str:
    """A number for the page: '–' when missing, NaN or infinite; ``spec`` a format spec
    (default: :func:`atlas.site.env.num`'s three significant digits)."""
    f = finite(v)
    return "–" if f is None else num(v) if spec is None else format(f, spec)


@dataclass
class Chart:
    path: str | None  # run-relative, only when the file passed the checks
    alt: str
    problem: str = ""


@dataclass
class Verdict:
    """One claim of the paper on one layer: what ``atlas validate`` found, and how firmly."""

    claim: str
    holds: bool
    diff: Interval
    firm: bool | None  # does the whole 95% interval agree with the verdict? (None: unknown)


@dataclass
class PathwayRow:
    group: str  # an attribution layer, "all" (their average), or either + the variant's name
    stats: PathwayStats
    ok_natural: bool | None  # the claims' thresholds applied to this row's means
    ok_vis: bool | None

    @property
    def cells(self) -> list[Interval]:
        return [getattr(self.stats, k) for k, _ in PAIRS]


@dataclass
class LayerView:
    name: str
    anchor: str
    result: LayerResult
    pathway: list[PathwayRow]
    verdicts: list[Verdict]
    closeness: list[tuple[str, Distribution]]
    ratio: float | None  # median accentuation distance / median photo distance
    charts: list[Chart] = field(default_factory=list)


@dataclass
class SweepRow:
    lam: float
    gain: float  # mean over the swept units
    distance: float
    per_unit: list[tuple[float, float]]  # (gain, distance) per swept unit
    in_region: bool  # inside the sensitive region
    steepest: bool  # an end of the steepest interval


@dataclass
class SweepView:
    result: Sweep
    rows: list[SweepRow]
    unit_mid: list[tuple[int, float | None]]
    charts: list[Chart] = field(default_factory=list)


@dataclass
class ValidationView:
    result: ValidationResult | None  # None: the file could not be read (see problem)
    problem: str = ""
    photo: Distribution | None = None  # photo-to-photo distances
    layers: list[LayerView] = field(default_factory=list)
    sweep: SweepView | None = None
    other_charts: list[Chart] = field(default_factory=list)

    @property
    def config(self) -> dict[str, Any]:
        return self.result.config if self.result else {}


def load_validation(run_root: str | Path) -> ValidationView | None:
    """The page's content, or None when the run has no validation result (no page, no link)."""
    root = Path(run_root)
    if not (root / FILE).is_file():
        return None
    try:
        res = read_result(root / FILE, FILE)  # the page names no folder of this machine
    except ResultError as e:
        return ValidationView(None, problem=str(e))
    photo = Distribution.of(res.natural_pairs.distance)
    charts = {c: _chart(root, c) for c in res.charts}
    order = res.config.get("layers")
    order = order if isinstance(order, list) else []  # JSON keys come sorted: _blocks.10 first
    names = sorted(res.layers, key=lambda n: (order.index(n) if n in order else len(order),
                                              natural_key(n)))
    layers = [_layer(n, res.layers[n], res, photo, charts) for n in names]
    sweep = _sweep(res.sweep, charts) if res.sweep else None
    return ValidationView(res, photo=photo, layers=layers, sweep=sweep,
                          other_charts=list(charts.values()))


def _chart(root: Path, name: str) -> Chart:
    chart = Chart(None, _ALT.get(re.split(r"[-.]", name.rsplit("/", 1)[-1])[0],
                                 "Validation chart"))
    src = root / name
    if not name.lower().endswith(".svg") or not src.resolve().is_relative_to(
            (root / FOLDER).resolve()):
        chart.problem = "not an SVG file in validation/"
    elif not src.is_file():
        chart.problem = "file missing"
    elif not plain_svg(src):
        chart.problem = "not shown: not a plain SVG drawing"
    else:
        chart.path = name
    return chart


def _take(charts: dict[str, Chart], paths: list[str]) -> list[Chart]:
    """Remove and return one section's charts."""
    return [charts.pop(p) for p in paths if p in charts]


def _at_least(v: float, threshold: float) -> bool | None:
    f = finite(v)
    return None if f is None else f >= threshold


def _verdict(claim: str, holds: bool, diff: Interval, threshold: float) -> Verdict:
    """``firm``: the whole 95% interval of the difference sits on the verdict's side."""
    lo, hi = finite(diff.lo), finite(diff.hi)
    firm = None if lo is None or hi is None else lo >= threshold if holds else hi < threshold
    return Verdict(claim, holds, diff, firm)


def _layer(name: str, r: LayerResult, res: ValidationResult, photo: Distribution,
           charts: dict[str, Chart]) -> LayerView:
    rows = _rows(r.pathway, [*r.attr_layers, "all"], r.claims)
    verdicts = _verdicts(r.pathway["all"], r.claims)
    if r.shortcut and r.shortcut.pathway and r.shortcut.claims:
        rows += _shortcut_rows(r.shortcut, r.shortcut.pathway, r.shortcut.claims)
        variant = (f"Shortcut removed (the target's own channel dropped at "
                   f"{', '.join(r.shortcut.layers)}, which reaches the target through identity "
                   "shortcuts): ")
        verdicts += _verdicts(r.shortcut.pathway["all"], r.shortcut.claims, variant)
    c = r.closeness
    close = [(label, getattr(c, k)) for k, label in CLOSENESS]
    ratio = None
    if res.natural_pairs.layer == c.reg_layer:  # only comparable when measured at one layer
        ratio = finite(c.accent_distance.median / photo.median) if photo.median else None
    return LayerView(name=name, anchor="v-" + slug(name), result=r, pathway=rows,
                     verdicts=verdicts, closeness=close, ratio=ratio,
                     charts=_take(charts, [chart_path(k, name) for k in LAYER_CHARTS]))


def _rows(pw: Pathway, groups: list[str], cl: Claims, label: str = "") -> list[PathwayRow]:
    """Table rows of one pathway table; ``label`` names the variant after the group."""
    return [PathwayRow(g + label, pw[g], _at_least(pw[g].accent_minus_natural.mean, -cl.margin),
                       _at_least(pw[g].accent_minus_vis.mean, cl.gap)) for g in groups]


def _verdicts(a: PathwayStats, cl: Claims, variant: str = "") -> list[Verdict]:
    """The two claims on a layer-averaged row; ``variant`` says which measure it is."""
    return [
        _verdict(f"{variant}Accentuations are processed along the natural pathway: "
                 f"accentuation ↔ natural is at least natural ↔ natural (difference ≥ "
                 f"{_g(-cl.margin)})", cl.accent_ge_natural, a.accent_minus_natural,
                 -cl.margin),
        _verdict(f"{variant}Noise-seeded visualizations are not: accentuation ↔ natural "
                 f"exceeds visualization ↔ natural by at least {_g(cl.gap)}",
                 cl.accent_beats_vis, a.accent_minus_vis, cl.gap)]


def _shortcut_rows(sc: Shortcut, pw: Pathway, cl: Claims) -> list[PathwayRow]:
    """Rows of the shortcut-removed variant, after the plain ones, each saying so in its label
    (the page's table has one label column)."""
    rows = []
    for g in sc.layers:
        own, note = sc.own_channel.get(g), ""
        if own is not None:  # what the dropped channel weighed, against chance
            note = (f"; it carried {fix(100 * own.share.natural.mean, '.1f')}% of natural "
                    f"images' and {fix(100 * own.share.vis.mean, '.1f')}% of visualizations' "
                    f"|attribution| (chance {fix(100 * own.chance, '.1f')}%)")
        rows += _rows(pw, [g], cl, f", target's own channel removed (identity shortcut){note}")
    return rows + _rows(pw, ["all"], cl, " (average), own channel removed at "
                        + ", ".join(sc.layers))


def _g(v: float) -> str:
    return fix(v, "g").replace("-", "−")


def _sweep(sw: Sweep, charts: dict[str, Chart]) -> SweepView:
    region, steepest = sw.region.region, sw.region.steepest
    rows = []
    for i, lam in enumerate(sw.lambdas):
        inside = bool(region and region[0] <= lam <= region[1])
        ends = any(isclose(lam, e, rel_tol=1e-6) for e in steepest)
        rows.append(SweepRow(lam, sw.mean_gain[i], sw.mean_distance[i],
                             [(g[i], d[i]) for g, d in zip(sw.gain, sw.distance, strict=True)],
                             inside, ends))
    return SweepView(sw, rows, list(zip(sw.units, sw.unit_mid, strict=True)),
                     charts=_take(charts, [chart_path(k) for k in SWEEP_CHARTS]))
