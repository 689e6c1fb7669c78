"""The one stage runner: resume keys, skipping, recomputing when an input changes, timings and
checkpoints; and the pipeline's one stage list."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from atlas.config.tree import build_config
from atlas.pipeline.rundir import RunDir
from atlas.pipeline.stage import Context, Stage, pending, run_stage
from atlas.pipeline.stages import PIPELINE, RENDER, needed


def _toy(calls: list[str]) -> tuple[Stage, Stage]:
    def up(ctx: Context, key: str) -> dict:
        calls.append("up")
        (ctx.run.root / "checkpoints").mkdir(exist_ok=True)
        (ctx.run.root / "checkpoints" / "up-part.bin").write_bytes(b"x")
        ctx.run.write_table("seeds", pd.DataFrame({"layer": ["L"], "unit": [ctx.cfg.mine.k],
                                                   "rank": [0], "image_id": ["a"],
                                                   "cluster": [0], "activation": [1.0]}))
        return {"rows": 1}

    def down(ctx: Context, key: str) -> dict:
        calls.append("down")
        ctx.run.write_table("vis", pd.DataFrame({"layer": ["L"], "unit": [0],
                                                 "final_activation": [1.0], "vis_media": ["m"]}))
        return {}

    return (Stage("up", (), ("seeds",), lambda c: {"n": c.cfg.mine.k}, up, checkpoints=("up-*",)),
            Stage("down", ("up",), ("vis",), lambda c: [], down))


def test_runner_skips_done_stages_and_reruns_what_changed(tmp_path: Path) -> None:
    calls: list[str] = []
    up, down = _toy(calls)
    ctx = Context(RunDir(tmp_path), build_config(mine__k=1))
    first = [run_stage(s, ctx) for s in (up, down)]
    assert calls == ["up", "down"] and not any(o.cached for o in first)
    st = ctx.run.stage("up")
    assert st["status"] == "done" and st["rows"] == 1 and st["compute_seconds"] >= 0
    assert "seconds" in st and not (tmp_path / "checkpoints").exists()

    again = [run_stage(s, ctx) for s in (up, down)]
    assert calls == ["up", "down"] and all(o.cached for o in again)
    assert not pending(up, ctx) and not pending(down, ctx)

    ctx.run.table_path("seeds").unlink()  # an output lost: the stage and those below rerun
    assert pending(up, ctx)
    [run_stage(s, ctx) for s in (up, down)]
    assert calls == ["up", "down", "up", "down"]

    ctx.cfg.mine.k = 2  # a setting changed
    assert pending(up, ctx)
    [run_stage(s, ctx) for s in (up, down)]
    assert calls[-2:] == ["up", "down"] and ctx.run.read_table("seeds")["unit"].tolist() == [2]


def test_a_stage_computed_while_its_input_ran_is_not_done_once_that_input_finishes(
        tmp_path: Path) -> None:
    calls: list[str] = []
    up, down = _toy(calls)
    ctx = Context(RunDir(tmp_path), build_config(mine__k=1))
    ctx.run.start_stage("up", "k")  # running, not finished
    run_stage(down, ctx)
    run_stage(up, ctx)
    assert pending(down, ctx)


def test_pipeline_lists_each_stage_once_after_what_it_reads() -> None:
    stages = [s for s in PIPELINE if s != RENDER]
    names = [s.name for s in stages]
    assert len(names) == len(set(names))
    for i, s in enumerate(stages):
        assert set(s.inputs) <= set(names[:i]), s.name
    at = {getattr(s, "name", ""): i for i, s in enumerate(PIPELINE)}
    assert at["select"] < PIPELINE.index(RENDER) < at["vis"]  # the site opens before vis
    assert [s.name for s in needed("accentuate")] == ["basis", "mine", "describe", "select",
                                                      "accentuate"]


def test_a_stage_writes_only_the_tables_it_declares(tmp_path: Path) -> None:
    """One writer per table: a stage that writes a table it does not declare fails, and the
    table is not written."""
    def sneaky(ctx: Context, key: str) -> dict:
        ctx.run.write_table("vis", pd.DataFrame({"layer": ["L"], "unit": [0],
                                                 "final_activation": [1.0],
                                                 "vis_media": ["m"]}))
        return {}

    ctx = Context(RunDir(tmp_path), build_config())
    with pytest.raises(RuntimeError, match="table 'vis' written by a stage that declares only "
                                           "seeds"):
        run_stage(Stage("sneaky", (), ("seeds",), lambda c: [], sneaky), ctx)
    assert not ctx.run.has("vis")
    ctx.run.write_table("vis", pd.DataFrame({"layer": ["L"], "unit": [0],  # outside a stage
                                             "final_activation": [1.0], "vis_media": ["m"]}))


def test_every_pipeline_table_has_one_writer() -> None:
    """Each table of the schema is declared by exactly one stage of the pipeline (the two embed
    stages are one stage in two modes: the natural maps first, then with accentuations)."""
    writers: dict[str, set[str]] = {}
    for s in PIPELINE:
        if s != RENDER:
            for table in s.outputs:
                writers.setdefault(table, set()).add(s.name.removesuffix("-natural"))
    from atlas.pipeline.schema import TABLES

    assert set(writers) == set(TABLES)
    assert all(len(w) == 1 for w in writers.values()), writers
