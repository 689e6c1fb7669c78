"""The fake run the site tests render stands for a real one: every table of the schema, written
through the run directory's own checks, with the tables of the stages that ran."""

from __future__ import annotations

from pathlib import Path

import pytest

from atlas.pipeline import schema
from atlas.pipeline.rundir import RunDir
from atlas.pipeline.stages import stages
from tests.helpers.fakerun import MINE_TABLES, FakeBasis, FakeRunConfig, make_fake_run


def test_the_fake_run_has_every_table_of_the_schema(fake_run: Path) -> None:
    run = RunDir(fake_run)
    assert {p.stem for p in fake_run.glob("*.parquet")} == set(schema.TABLES)
    for name, columns in schema.TABLES.items():
        table = run.read_table(name)
        # without a basis the basis stage writes its table empty (channels only)
        assert list(table.columns) == list(columns) and (len(table) > 0) == (name != "basis"), name
    recorded = set(run.manifest()["stages"])
    assert recorded == {s.name for s in stages()}  # every stage that writes a table ran


def test_a_fake_run_with_a_basis_holds_its_features(tmp_path: Path) -> None:
    basis = FakeBasis(features=5)
    run = RunDir(make_fake_run(tmp_path, FakeRunConfig(units=2, bases=(basis,))))
    table = run.read_table("basis")
    assert sorted(table.unit) == list(range(5)) and set(table.layer) == {basis.unit_layer}
    assert set(run.read_table("topk").layer) == {"_blocks.4", "_blocks.10", basis.unit_layer}


def test_a_partial_fake_run_holds_what_its_stages_write(tmp_path: Path) -> None:
    run = RunDir(make_fake_run(tmp_path, FakeRunConfig(units=1, tables=MINE_TABLES)))
    assert {p.stem for p in run.root.glob("*.parquet")} == {"images", "topk", "stats"}
    assert set(run.manifest()["stages"]) == {"mine"}


def test_a_schema_the_fake_does_not_follow_fails_loudly(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A column the schema gains (or loses) stops the fake instead of being filled or
    dropped: a site test must never pass on a run no stage could write."""
    more = {**schema.TABLES, "topk": {**schema.TABLES["topk"], "score": "float"}}
    monkeypatch.setattr(schema, "TABLES", more)
    with pytest.raises(ValueError, match=r"table topk .* misses \['score'\]"):
        make_fake_run(tmp_path / "more", FakeRunConfig(units=1))
    fewer = {**schema.TABLES, "stats": {k: v for k, v in schema.TABLES["stats"].items()
                                        if k != "q01"}}
    monkeypatch.setattr(schema, "TABLES", fewer)
    with pytest.raises(ValueError, match=r"table stats has columns the schema lacks \['q01'\]"):
        make_fake_run(tmp_path / "fewer", FakeRunConfig(units=1))
    monkeypatch.setattr(schema, "TABLES", {**schema.TABLES, "novel": {"layer": "str"}})
    with pytest.raises(ValueError, match="no rows for table novel"):
        make_fake_run(tmp_path / "novel", FakeRunConfig(units=1))
    with pytest.raises(ValueError, match="no table"):
        make_fake_run(tmp_path / "odd", FakeRunConfig(tables=frozenset({"topk", "nosuch"})))
