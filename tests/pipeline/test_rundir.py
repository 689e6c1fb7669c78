"""The run directory's checkpoints: removed when a stage ends, the folder with them."""

from __future__ import annotations

from pathlib import Path

from atlas.pipeline.rundir import RunDir


def test_clear_checkpoints_removes_matches_and_the_empty_folder(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    ck = tmp_path / "checkpoints"
    (ck / "vis-abc").mkdir(parents=True)
    (ck / "vis-abc" / "L-000001.json").write_text("[]")
    (ck / "mine-r0.pt").write_bytes(b"x")
    run.clear_checkpoints(("vis-*",))
    assert sorted(p.name for p in ck.iterdir()) == ["mine-r0.pt"]
    run.clear_checkpoints(("mine-*",))
    assert not ck.exists()
