"""A run mined at two layers, shared by the stage tests that read connections between them."""

from __future__ import annotations

import shutil
from pathlib import Path

from atlas.data.sources import Limited, bundled
from atlas.pipeline.rundir import RunDir

TWO_LAYERS = ["_blocks.10", "_blocks.8"]  # config order: the later one first
N_MINED = 24


def first(n: int = N_MINED) -> Limited:
    return Limited(bundled(), n)


def copy_run(root: Path, tmp_path: Path, name: str = "run") -> RunDir:
    """A copy of a shared run, for a test that runs a stage on it."""
    shutil.copytree(root, tmp_path / name)
    return RunDir(tmp_path / name)
