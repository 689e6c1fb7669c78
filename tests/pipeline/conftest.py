"""Fixtures the stage tests of several folders share: a run mined at two layers."""

from __future__ import annotations

from pathlib import Path

import pytest

from atlas.pipeline.mine.stage import MINE
from tests.helpers.mined import TWO_LAYERS, first
from tests.helpers.stages import run_alone


@pytest.fixture(scope="session")
def mined_two(lite0_112, tmp_path_factory) -> Path:
    """The first 24 bundled photos mined at ``_blocks.10`` and ``_blocks.8`` (112 px)."""
    root = tmp_path_factory.mktemp("decisions") / "mined"
    run_alone(MINE, root, lite0_112, first(), mine__layers=TWO_LAYERS, mine__k=6,
              mine__bottom_k=2, mine__batch_size=8, mine__workers=0)
    return root
