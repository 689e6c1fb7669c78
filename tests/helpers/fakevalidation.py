"""A small, schema-valid ``validation/validation.json`` (as ``atlas validate`` writes it) + one SVG.

Numbers are random but chosen so each verdict occurs: on the first layer accentuations match
natural images but not beat visualizations by the gap; on the second the reverse. The first
layer also has a shortcut-removed variant (both claims hold there); the second has none. With
``payload`` the layer names and the rule carry script-injection strings, and the chart list
names files the site must refuse (a script-carrying SVG, a path outside ``validation/``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from atlas.io.files import atomic_write_bytes, atomic_write_json
from atlas.names import slug  # the producer's own file naming

KINDS = ("accent_natural", "natural_natural", "vis_natural", "random_natural", "accent_own_seed")
MEANS = ({"accent_natural": 0.60, "natural_natural": 0.55, "vis_natural": 0.50},
         {"accent_natural": 0.40, "natural_natural": 0.50, "vis_natural": 0.10})
SHORTCUT_MEANS = {"accent_natural": 0.58, "natural_natural": 0.54, "vis_natural": 0.20}
SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="640" height="320" viewBox="0 0 640 320">'
       '<rect width="100%" height="100%" fill="white"/><rect x="60" y="80" width="40" '
       'height="200" fill="#2f6fb0"/><text x="320" y="20" font-size="14" text-anchor="middle">'
       'Pathway similarity</text></svg>\n')
EVIL_SVG = '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>\n'


def _ci(rng: np.random.Generator, mean: float, n: int) -> dict[str, float]:
    half = float(rng.uniform(0.01, 0.05))
    return {"mean": mean, "lo": mean - half, "hi": mean + half, "n": n}


def _describe(values: np.ndarray) -> dict[str, object]:
    return {"mean": float(values.mean()), "median": float(np.median(values)),
            "min": float(values.min()), "max": float(values.max()), "n": int(values.size),
            "values": values.tolist()}


def _pathway(rng: np.random.Generator, groups: list[str], base: dict[str, float],
             units: int) -> dict[str, dict]:
    pathway = {}
    for g in groups:
        means = {k: base.get(k, float(rng.uniform(0.1, 0.9))) for k in KINDS}
        if g != "all":
            means = {k: v + float(rng.uniform(-0.03, 0.03)) for k, v in means.items()}
        p = {k: _ci(rng, v, units) for k, v in means.items()}
        p["accent_minus_natural"] = _ci(rng, means["accent_natural"] - means["natural_natural"],
                                        units)
        p["accent_minus_vis"] = _ci(rng, means["accent_natural"] - means["vis_natural"], units)
        pathway[g] = p
    return pathway


def _claims(a: dict[str, dict]) -> dict[str, object]:
    return {"accent_ge_natural": a["accent_minus_natural"]["mean"] >= -0.02,
            "accent_beats_vis": a["accent_minus_vis"]["mean"] >= 0.2, "margin": 0.02, "gap": 0.2}


def _shortcut(rng: np.random.Generator, li: int, units: int) -> dict[str, object]:
    """The first layer has _blocks.2 on its residual stream (both claims hold without it);
    the second has none, as for a target whose stream starts above every attribution layer."""
    out: dict[str, object] = {"rule": "same channels and grid", "layers": [], "pathway": None,
                              "own_channel": {}, "claims": None}
    if li % 2:
        return out
    pathway = _pathway(rng, ["_blocks.2", "all"], SHORTCUT_MEANS, units)
    share = {k: _ci(rng, v, units) for k, v in (("natural", 0.2), ("accent", 0.25),
                                                 ("vis", 0.4), ("random", 0.1))}
    out.update(layers=["_blocks.2"], pathway=pathway, claims=_claims(pathway["all"]),
               own_channel={"_blocks.2": {"chance": 0.025, "channels": 40, "share": share,
                                          "top": {k: 0.5 for k in share}}})
    return out


def _layer(rng: np.random.Generator, li: int, units: int) -> dict[str, object]:
    attr = ["_blocks.1", "_blocks.2"]
    pathway = _pathway(rng, [*attr, "all"], MEANS[li % 2], units)
    claims = _claims(pathway["all"])
    closeness: dict[str, object] = {k: _describe(rng.uniform(lo, hi, units)) for k, lo, hi in (
        ("seed_activation", 2, 6), ("accent_activation", 8, 14), ("vis_activation", 20, 30),
        ("accent_gain", 1.5, 3), ("vis_gain", 4, 8), ("accent_distance", 0.2, 0.5),
        ("vis_distance", 1.2, 1.5), ("accent_pixel_rmse", 0.03, 0.06))}
    closeness["reg_layer"] = "_blocks.2"
    return {"units": list(range(units)), "attr_layers": attr, "closeness": closeness,
            "pathway": pathway, "shortcut": _shortcut(rng, li, units), "per_unit": [],
            "claims": claims}


def write_fake_validation(root: Path, layers: list[str], units: int, seed: int = 0,
                          payload: bool = False) -> dict[str, object]:
    """Write ``root/validation/`` and return the JSON written."""
    rng = np.random.default_rng(seed + 1)  # its own stream: the run's tables stay as they were
    lams = [0.1, 1.0, 10.0]
    gain = [[4.0, 2.5, 1.2], [3.6, 2.0, 1.1]]
    dist = [[0.9, 0.5, 0.3], [0.8, 0.45, 0.35]]
    sweep = {"layer": layers[0], "units": [0, 1], "lambdas": lams, "gain": gain,
             "distance": dist, "mean_gain": np.mean(gain, 0).tolist(),
             "mean_distance": np.mean(dist, 0).tolist(),
             "region": {"mid": 1.07, "region": [0.4, 2.9], "steepest": [0.1, 1.0]},
             "unit_mid": [1.0, 1.2], "recommended_lambda": 1.1,
             "rule": "recommended lambda = the halfway crossing" + (
                 " <script>alert(1)</script>" if payload else "")}
    first = f"validation/pathway-{slug(layers[0])}.svg"
    charts = [first] + (["validation/evil.svg", "../outside.svg"] if payload else [])
    atomic_write_bytes(root / first, SVG.encode())
    if payload:
        atomic_write_bytes(root / "validation" / "evil.svg", EVIL_SVG.encode())
    res = {"format": 1, "key": "fake", "model": "fake-net", "source": "fake photos",
           "config": {"layers": layers, "units": units, "note": "<b>config</b>"},
           "seconds": {"total": 12.5},
           "natural_pairs": {"layer": "_blocks.2",
                             "distance": rng.uniform(1.0, 1.6, 9).tolist()},
           "layers": {name: _layer(rng, i, units) for i, name in enumerate(layers)},
           "sweep": sweep, "charts": charts}
    atomic_write_json(root / "validation" / "validation.json", res)
    return res
