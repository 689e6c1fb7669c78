"""Pages and exports a script or a reader meets: the random-weights note on every page, numeric
export columns with their unit in the header, one unit for causal effects everywhere."""

from __future__ import annotations

import csv
import json

import pytest

from atlas.pipeline.rundir import RunDir
from atlas.site.export import export_run
from atlas.site.render import render_site
from tests.helpers.fakerun import FakeRunConfig, make_fake_run


def test_every_page_of_a_random_weights_atlas_says_so(tmp_path):
    run = make_fake_run(tmp_path / "run", FakeRunConfig(units=2, weights="none"))
    classes = RunDir(run).read_table("classes")
    RunDir(run).write_table("classes", classes[classes.unit != 0])  # a unit without classes
    site = render_site(run, tmp_path / "site")
    pages = list(site.rglob("*.html"))
    assert len(pages) > 4
    for page in pages:
        assert "model has random weights (model.weights = none)" in page.read_text(), page
    bare = (site / "units" / "_blocks.10" / "0.html").read_text()
    assert "Dataset classes" not in bare and "random weights" in bare


def test_export_columns_are_numbers_with_their_unit(tmp_path):
    run = make_fake_run(tmp_path / "run", FakeRunConfig(units=2))
    _, files = export_run(run, "csv", tmp_path / "csv")
    rows = list(csv.DictReader(files[0].open()))
    head = list(rows[0])
    assert "strongest_accentuation" not in head
    for col in ("strongest_accentuation_activation", "strongest_accentuation_percentile_pct",
                "strongest_accentuation_x_best_photo"):
        assert col in head
    assert any(r["strongest_accentuation_x_best_photo"] for r in rows)
    for r in rows:  # numbers a script reads as numbers, never "1.7× the best photo"
        for col in head:
            if col.startswith("strongest_accentuation") and r[col]:
                float(r[col])
    causal = RunDir(run).read_table("causal")
    first = causal[(causal.layer == rows[0]["layer"]) & (causal.unit == int(rows[0]["unit"]))]
    top = first.sort_values("rank").iloc[0]
    # one unit everywhere: percentage points of probability, as the pages say "−N pts"
    assert rows[0]["causal_effect_pts"].startswith(f"{top['class_name']} {-100 * top['drop']:+.3g}")
    _, units = export_run(run, "json", tmp_path / "json")
    rec = json.loads(next(p for p in units if p.parent.name == rows[0]["layer"]
                          and p.stem == rows[0]["unit"]).read_text())
    assert rec["causal_effect"][0]["probability_drop_pts"] == pytest.approx(100 * top['drop'])
    site = render_site(run, tmp_path / "site")
    page = (site / "units" / rows[0]["layer"] / f"{rows[0]['unit']}.html").read_text()
    assert f"−{100 * top['drop']:.1f} pts" in page
