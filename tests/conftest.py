"""Shared fixtures: the bundled model (loaded once) and a few real bundled photos."""

from __future__ import annotations

import pytest
import torch

from atlas.data.sources import bundled
from atlas.models.zoo import load_model


@pytest.fixture(scope="session")
def lite0():
    torch.manual_seed(0)
    return load_model("efficientnet-lite0")


@pytest.fixture(scope="session")
def photos():
    """Eight real bundled photos at 224 px, as the model sees them."""
    from atlas.data.loader import make_loader

    src = bundled()
    batch = next(iter(make_loader(src, 224, 8, 0, list(range(0, 80, 10)))))
    return batch.images
