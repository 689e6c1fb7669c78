"""Atomic files: a full disk is one line and leaves the previous file as it was."""

from __future__ import annotations

import errno
from pathlib import Path

import pandas as pd
import pytest

from atlas.errors import AtlasError
from atlas.io import files
from atlas.io.files import atomic_write_bytes
from atlas.pipeline.rundir import RunDir


def test_full_disk_is_one_line_and_keeps_the_previous_file(tmp_path: Path, monkeypatch) -> None:
    run = RunDir(tmp_path)
    old = pd.DataFrame({"layer": ["L"], "unit": [0], "rank": [0], "image_id": ["a"],
                        "cluster": [0], "activation": [1.0]})
    run.write_table("seeds", old)
    before = sorted(p.name for p in tmp_path.iterdir())

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", full)
    with pytest.raises(AtlasError, match=r"^disk full writing .*seeds\.parquet"):
        run.write_table("seeds", old.assign(unit=[5]))
    with pytest.raises(AtlasError, match="disk full"):
        atomic_write_bytes(tmp_path / "note.txt", b"x")
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no partial or temp file
    assert run.read_table("seeds")["unit"].tolist() == [0]
