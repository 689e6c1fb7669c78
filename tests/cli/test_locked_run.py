"""A second command into a run that another holds fails at once, in one line, and writes
nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from atlas.io.lock import RunLock

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
pytestmark = pytest.mark.slow  # a command in a subprocess


def test_second_build_into_a_locked_run_fails_at_once(tmp_path: Path) -> None:
    run = tmp_path / "run"
    with RunLock(run):
        done = subprocess.run([sys.executable, "-m", "atlas", "mine", "--images", "bundled",
                               "--limit", "8", "--out", str(run), "-q", "--device", "cpu"],
                              env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"PID {os.getpid()}" in lines[0], done.stderr[-2000:]
    assert not (run / "topk.parquet").exists() and not (run / "checkpoints").exists()
