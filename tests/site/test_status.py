"""The site during a build: pending and not-chosen notes, and the build record read safely.

The end-to-end check (a build killed at its first render, then resumed) is in
tests/pipeline/test_build.py."""

from __future__ import annotations

from pathlib import Path

from atlas.pipeline.progressive import mark_build
from atlas.pipeline.rundir import RunDir
from atlas.site.render import render_site
from atlas.site.status import PENDING, BuildStatus
from tests.helpers.fakerun import MINE_TABLES, FakeRunConfig, make_fake_run


def _atlas_status(tmp_path: Path, state: str, tables: frozenset[str] | None = MINE_TABLES
                  ) -> Path:
    run = make_fake_run(tmp_path / "run", FakeRunConfig(units=3, tables=tables))
    mark_build(RunDir(run), state, planned={"_blocks.10": [0, 1]}, units="0:2")
    return render_site(run, tmp_path / f"site-{state}")


def test_pages_mark_pending_units_while_the_build_runs(tmp_path: Path) -> None:
    site = _atlas_status(tmp_path, "running")
    index = (site / "index.html").read_text()
    assert "Build in progress: 2 units still pending" in index
    assert index.count("accentuation pending</span>") == 2
    assert index.count(">not accentuated</span>") == 4  # unit 2 and the other layer
    page = (site / "units/_blocks.10/0.html").read_text()
    assert "Accentuation pending" in page and "Feature visualization pending" in page
    assert "asked for units 0:2 only" in (site / "units/_blocks.10/2.html").read_text()
    assert "accentuates units of _blocks.10 only" in (site / "units/_blocks.4/0.html").read_text()


def test_finished_build_says_why_a_unit_has_no_accentuation(tmp_path: Path) -> None:
    site = _atlas_status(tmp_path, "done")
    index = (site / "index.html").read_text()
    assert "pending" not in index.replace('class="pending', "") and "Build in progress" not in index
    assert "finished without one" in (site / "units/_blocks.10/1.html").read_text()


def test_accentuated_units_have_no_note(tmp_path: Path) -> None:
    site = _atlas_status(tmp_path, "running", tables=None)  # every table
    index = (site / "index.html").read_text()
    assert "Build in progress: 0 units" in index and "accentuation pending</span>" not in index


def test_build_status_reads_damaged_records_safely() -> None:
    assert BuildStatus.of({}).state == "" and BuildStatus.of({"build": "x"}).planned == {}
    odd = BuildStatus.of({"build": {"state": "weird", "planned": {"L": [1, "2", None]}}})
    assert odd.state == "" and odd.planned == {"L": frozenset({1})}
    assert PENDING.startswith("Accentuation pending")
