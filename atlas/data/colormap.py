"""The heat colours every map of the atlas is drawn in: a unit's activation map over its top
images (:mod:`atlas.site.heat`) and an accentuation's attribution mask over the accentuation
(:func:`atlas.data.media.overlay`), so both read the same way: the plain image where the unit is
quiet, red to yellow where it fires.
"""

from __future__ import annotations

import numpy as np

# matplotlib's inferno at 0, 0.1, ..., 1 (perceptually uniform, readable in grey)
INFERNO = np.array([
    (0, 0, 4), (22, 11, 57), (66, 10, 104), (106, 23, 110), (147, 38, 103), (188, 55, 84),
    (221, 81, 58), (243, 120, 25), (252, 165, 10), (246, 215, 70), (252, 255, 164)], np.float64)
# Heat below QUIET leaves the image as it is, so the eye goes to where the unit fires; above it
# the colour runs from inferno's red (its middle) to yellow and covers up to MAX_ALPHA. A tint
# everywhere (alpha 0.3 at no heat) turned whole photos purple and hid the hot spots.
QUIET, MAX_ALPHA = 0.25, 0.85


def heat_rgba(t: np.ndarray) -> np.ndarray:
    """Heat in [0, 1] -> RGBA uint8: clear below QUIET, then inferno's upper half, alpha rising."""
    t = np.clip(np.nan_to_num(t, nan=0.0), 0.0, 1.0)
    pos = (0.5 + 0.5 * t) * (len(INFERNO) - 1)
    lo = np.minimum(pos.astype(int), len(INFERNO) - 2)
    frac = (pos - lo)[..., None]
    rgb = INFERNO[lo] * (1 - frac) + INFERNO[lo + 1] * frac
    alpha = 255 * MAX_ALPHA * np.clip((t - QUIET) / (1 - QUIET), 0.0, 1.0)
    return np.concatenate([rgb, alpha[..., None]], -1).round().astype(np.uint8)
