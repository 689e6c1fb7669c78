"""A small ``validation/`` result as ``atlas validate`` writes it, built from the typed result
(:mod:`atlas.pipeline.results`), so it cannot drift from the real layout, plus one SVG chart.

Numbers are random but chosen so each verdict occurs: on the first layer accentuations match
natural images but not beat visualizations by the gap; on the second the reverse. The first
layer also has a shortcut-removed variant (both claims hold there); the second has none. With
``payload`` the layer names and the rule carry script-injection strings, and the chart list
names files the site must refuse (a script-carrying SVG, a path outside ``validation/``).
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import numpy as np

from atlas.io.files import atomic_write_bytes
from atlas.pipeline.results import (
    FILE,
    Claims,
    Closeness,
    Correlations,
    Distribution,
    Interval,
    KindShares,
    KindTops,
    LayerResult,
    NaturalPairs,
    OwnChannel,
    PathwayStats,
    Region,
    Shortcut,
    Sweep,
    UnitRow,
    ValidationResult,
    chart_path,
)

KINDS = [f.name for f in fields(Correlations)]
MEANS = ({"accent_natural": 0.60, "natural_natural": 0.55, "vis_natural": 0.50},
         {"accent_natural": 0.40, "natural_natural": 0.50, "vis_natural": 0.10})
SHORTCUT_MEANS = {"accent_natural": 0.58, "natural_natural": 0.54, "vis_natural": 0.20}
SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="640" height="320" viewBox="0 0 640 320">'
       '<rect width="100%" height="100%" fill="white"/><rect x="60" y="80" width="40" '
       'height="200" fill="#2f6fb0"/><text x="320" y="20" font-size="14" text-anchor="middle">'
       'Pathway similarity</text></svg>\n')
EVIL_SVG = '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>\n'


def _ci(rng: np.random.Generator, mean: float, n: int) -> Interval:
    half = float(rng.uniform(0.01, 0.05))
    return Interval(mean=mean, lo=mean - half, hi=mean + half, n=n)


def _pathway(rng: np.random.Generator, groups: list[str], base: dict[str, float],
             units: int) -> dict[str, PathwayStats]:
    pathway = {}
    for g in groups:
        means = {k: base.get(k, float(rng.uniform(0.1, 0.9))) for k in KINDS}
        if g != "all":
            means = {k: v + float(rng.uniform(-0.03, 0.03)) for k, v in means.items()}
        p = {k: _ci(rng, v, units) for k, v in means.items()}
        p["accent_minus_natural"] = _ci(rng, means["accent_natural"] - means["natural_natural"],
                                        units)
        p["accent_minus_vis"] = _ci(rng, means["accent_natural"] - means["vis_natural"], units)
        pathway[g] = PathwayStats(**p)
    return pathway


def _claims(a: PathwayStats) -> Claims:
    return Claims(accent_ge_natural=a.accent_minus_natural.mean >= -0.02,
                  accent_beats_vis=a.accent_minus_vis.mean >= 0.2, margin=0.02, gap=0.2)


def _shortcut(rng: np.random.Generator, li: int, units: int) -> Shortcut:
    """The first layer has _blocks.2 on its residual stream (both claims hold without it);
    the second has none, as for a target whose stream starts above every attribution layer."""
    if li % 2:
        return Shortcut(rule="same channels and grid", layers=[], pathway=None, own_channel={},
                        claims=None)
    pathway = _pathway(rng, ["_blocks.2", "all"], SHORTCUT_MEANS, units)
    share = KindShares(**{k: _ci(rng, v, units) for k, v in (
        ("natural", 0.2), ("accent", 0.25), ("vis", 0.4), ("random", 0.1))})
    own = OwnChannel(chance=0.025, channels=40, share=share,
                     top=KindTops(natural=0.5, accent=0.5, vis=0.5, random=0.5))
    return Shortcut(rule="same channels and grid", layers=["_blocks.2"], pathway=pathway,
                    own_channel={"_blocks.2": own}, claims=_claims(pathway["all"]))


def _layer(rng: np.random.Generator, li: int, units: int) -> LayerResult:
    attr = ["_blocks.1", "_blocks.2"]
    pathway = _pathway(rng, [*attr, "all"], MEANS[li % 2], units)
    closeness = Closeness(**{k: Distribution.of(rng.uniform(lo, hi, units)) for k, lo, hi in (
        ("seed_activation", 2, 6), ("accent_activation", 8, 14), ("vis_activation", 20, 30),
        ("accent_gain", 1.5, 3), ("vis_gain", 4, 8), ("accent_distance", 0.2, 0.5),
        ("vis_distance", 1.2, 1.5), ("accent_pixel_rmse", 0.03, 0.06))}, reg_layer="_blocks.2")
    shortcut = _shortcut(rng, li, units)
    per_unit = [UnitRow(unit=u, correlations={g: Correlations(**{
        k: getattr(s, k).mean for k in KINDS}) for g, s in pathway.items()},
        gain=closeness.accent_gain.values[u], latent_distance=closeness.accent_distance.values[u])
        for u in range(units)]
    return LayerResult(units=list(range(units)), attr_layers=attr, closeness=closeness,
                       pathway=pathway, per_unit=per_unit, claims=_claims(pathway["all"]),
                       shortcut=shortcut)


def fake_result(layers: list[str], units: int, seed: int = 0,
                payload: bool = False) -> ValidationResult:
    """The result ``write_fake_validation`` writes (charts: the file names it lists)."""
    rng = np.random.default_rng(seed + 1)  # its own stream: the run's tables stay as they were
    lams = [0.1, 1.0, 10.0]
    gain = [[4.0, 2.5, 1.2], [3.6, 2.0, 1.1]]
    dist = [[0.9, 0.5, 0.3], [0.8, 0.45, 0.35]]
    sweep = Sweep(layer=layers[0], units=[0, 1], lambdas=lams, gain=gain, distance=dist,
                  final_activation=[[5 * g for g in row] for row in gain],
                  seed_activation=[5.0, 5.0], mean_gain=np.mean(gain, 0).tolist(),
                  mean_distance=np.mean(dist, 0).tolist(),
                  region=Region(steepest=(0.1, 1.0), max_slope_per_decade=0.375,
                                distance_smallest_lambda=0.85, distance_largest_lambda=0.325,
                                mid=1.07, region=(0.4, 2.9)),
                  unit_mid=[1.0, 1.2], recommended_lambda=1.1,
                  rule="recommended lambda = the halfway crossing" + (
                      " <script>alert(1)</script>" if payload else ""))
    first = chart_path("pathway", layers[0])
    return ValidationResult(
        key="fake", model="fake-net", source="fake photos",
        config={"layers": layers, "units": units, "note": "<b>config</b>"},
        natural_pairs=NaturalPairs(layer="_blocks.2",
                                   distance=rng.uniform(1.0, 1.6, 9).tolist()),
        layers={name: _layer(rng, i, units) for i, name in enumerate(layers)},
        sweep=sweep, seconds={"total": 12.5},
        charts=[first] + (["validation/evil.svg", "../outside.svg"] if payload else []))


def write_fake_validation(root: Path, layers: list[str], units: int, seed: int = 0,
                          payload: bool = False) -> ValidationResult:
    """Write ``root/validation/`` and return the result written."""
    res = fake_result(layers, units, seed, payload)
    atomic_write_bytes(root / res.charts[0], SVG.encode())
    if payload:
        atomic_write_bytes(root / "validation" / "evil.svg", EVIL_SVG.encode())
    atomic_write_bytes(root / FILE, res.to_json().encode())
    return res
