"""Feature visualization's plan: chunks of one layer each, published as they finish."""

from __future__ import annotations

from pathlib import Path

from atlas.pipeline.rundir import RunDir
from atlas.pipeline.vis import VisPlan


def test_vis_chunks_hold_one_layer_and_publish_partially(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    from atlas.config.accent import AccentConfig

    plan = VisPlan.make(run, [("B", 0), ("A", 2), ("A", 1)], AccentConfig(steps=5), "m", 2)
    assert plan.chunks() == [[("A", 1), ("A", 2)], [("B", 0)]]
    assert plan.cfg.frames == 0 and plan.cfg.mask_every == 6  # attribution on step 0 only
    assert len(plan.publish()) == 0
