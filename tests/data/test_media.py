"""Pictures made from tensors: the mask drawn over an accentuation."""

import numpy as np
import torch

from atlas.data.colormap import MAX_ALPHA, QUIET
from atlas.data.media import overlay


def test_mask_overlay_is_heat_over_the_accentuation():
    """The mask is drawn in the heatmaps' colours over the accentuation: the plain image where
    it is cold (below the colours' quiet threshold), red to yellow where it is hot."""
    img = torch.full((3, 8, 8), 0.5)
    mask = torch.zeros(8, 8)
    mask[:, 2:4], mask[:, 4:6], mask[:, 6:] = QUIET / 2, 0.6, 1.0
    out = overlay(img, mask)
    assert out.mode == "RGB" and out.size == (8, 8)
    a = np.asarray(out).astype(int)
    assert (a[:, :4] == 128).all()  # cold and quiet: the image as it is
    hot, warm = a[0, 7], a[0, 5]
    assert hot[0] > hot[2] + 50 and hot[1] > hot[2] + 50  # yellow over grey
    assert warm[0] > warm[1] > warm[2]  # orange-red at mid heat
    yellow = np.array([252, 255, 164])
    assert np.allclose(hot, 128 * (1 - MAX_ALPHA) + yellow * MAX_ALPHA, atol=2)
