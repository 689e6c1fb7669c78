"""The λ sweep: how gain and closeness trade off, where the trade turns, which λ to use.

Small λ lets the image drift toward an unregularized feature visualization (large latent
distance, large gain); large λ pins it to the seed (distance and gain near their seed values).
In between lies a *sensitive region* where the image turns from seed-like to feature-like; the
paper recommends working there. We locate it on the mean distance curve of a few units and
recommend its centre.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import torch

from atlas.accent.loop import accentuate
from atlas.accent.objectives import Target
from atlas.config.accent import AccentConfig
from atlas.config.resolved import Resolved
from atlas.models.zoo import LoadedModel
from atlas.pipeline.results import Region, Sweep

RULE = ("recommended lambda = the lambda at which the mean latent distance is halfway between "
        "its values at the largest and the smallest lambda of the grid (linear in distance, "
        "interpolated linearly in log10 lambda, first crossing coming from the seed-like end): "
        "the centre of the sensitive region, where the image turns from seed-like to "
        "feature-like; the sensitive region spans 20% to 80% of that way")


def _crossing(x: np.ndarray, y: np.ndarray, level: float) -> float | None:
    """log10-λ where ``y`` first reaches ``level``, scanning from the largest λ down."""
    for i in range(len(x) - 1, 0, -1):
        a, b = y[i], y[i - 1]
        if (a - level) * (b - level) <= 0 and a != b:
            t = (level - a) / (b - a)
            return float(x[i] + t * (x[i - 1] - x[i]))
    return None


def sensitive_region(lams: Sequence[float], dist: Sequence[float]) -> Region:
    """Locate the sensitive region of a distance-vs-λ curve (λ ascending).

    Two views: the halfway crossing (with the 20%-80% span around it) and the grid interval
    of steepest change per log10 λ (max finite-difference slope). Returns λ values.
    """
    x = np.log10(np.asarray(lams, dtype=float))
    y = np.asarray(dist, dtype=float)
    if len(x) < 3 or np.any(np.diff(x) <= 0):
        raise ValueError("need at least 3 ascending lambdas")
    far, near = y[0], y[-1]  # smallest λ: feature-like; largest λ: seed-like
    slopes = np.abs(np.diff(y)) / np.diff(x)
    k = int(np.argmax(slopes))
    levels = {name: near + f * (far - near) for name, f in
              (("mid", 0.5), ("seed_side", 0.2), ("feature_side", 0.8))}
    cross = {name: _crossing(x, y, lv) for name, lv in levels.items()}
    lo, hi = cross["feature_side"], cross["seed_side"]
    return Region(steepest=(float(10 ** x[k]), float(10 ** x[k + 1])),
                  max_slope_per_decade=float(slopes[k]), distance_smallest_lambda=float(far),
                  distance_largest_lambda=float(near),
                  mid=None if cross["mid"] is None else float(10 ** cross["mid"]),
                  region=None if lo is None or hi is None else (float(10 ** lo), float(10 ** hi)))


def recommend(region: Region) -> float | None:
    """The recommended λ (see RULE), rounded to two significant digits."""
    return None if region.mid is None else float(f"{region.mid:.2g}")


def run_sweep(model: LoadedModel, seeds: torch.Tensor, layer: str, units: Sequence[int],
              lams: Sequence[float], accent: AccentConfig, resolved: Resolved) -> Sweep:
    """Accentuate each (unit, seed) at every λ; gain and latent distance per unit and λ.

    One batch per λ holding all units (β is balanced per row, so batching units is exact).
    """
    target = Target(layer, torch.tensor(list(units)), kind=accent.target)
    gain, dist, act = [], [], []
    for lam in lams:
        res = accentuate(model, seeds, target, replace(accent, lam=float(lam), frames=0),
                         reg_layer=resolved.reg_layer, view_px=resolved.view_px)
        gain.append((res.final_activation / res.seed_activation).tolist())
        dist.append(res.latent_distance.tolist())
        act.append(res.final_activation.tolist())
    gain_a, dist_a = np.array(gain).T, np.array(dist).T  # (units, lambdas)
    mean_dist = dist_a.mean(0)
    region = sensitive_region(lams, mean_dist)
    return Sweep(
        layer=layer, units=[int(u) for u in units], lambdas=[float(v) for v in lams],
        gain=gain_a.tolist(), distance=dist_a.tolist(),
        final_activation=np.array(act).T.tolist(), seed_activation=res.seed_activation.tolist(),
        mean_gain=gain_a.mean(0).tolist(), mean_distance=mean_dist.tolist(), region=region,
        unit_mid=[sensitive_region(lams, d).mid for d in dist_a],
        recommended_lambda=recommend(region), rule=RULE)
