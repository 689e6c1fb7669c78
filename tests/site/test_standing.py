"""Activations placed among a unit's natural ones (atlas.site.standing), as the site uses them."""

from __future__ import annotations

import json
import math
import re
from html import unescape
from pathlib import Path

import pandas as pd
import pytest

from atlas.pipeline.rundir import RunDir
from atlas.site.load import load_atlas
from atlas.site.render import render_site
from atlas.site.standing import ordinal, percentile, standing
from tests.helpers.fakerun import FakeRunConfig, make_fake_run

COUNTS, EDGES = [1, 2, 3, 4], [0.0, 1.0, 2.0, 3.0, 4.0]  # 10 images over [0, 4]
STATS = {"hist_counts": COUNTS, "hist_edges": EDGES, "min": 0.0, "count": 10}


def test_percentile_reads_the_histogram() -> None:
    assert percentile(2.0, COUNTS, EDGES) == pytest.approx(30.0)  # 1 + 2 of 10 below
    assert percentile(2.5, COUNTS, EDGES) == pytest.approx(45.0)  # half of the third bin too
    assert percentile(0.5, COUNTS, EDGES) == pytest.approx(5.0)
    assert percentile(-3.0, COUNTS, EDGES) == 0.0 and percentile(0.0, COUNTS, EDGES) == 0.0
    assert percentile(9.0, COUNTS, EDGES) == 100.0
    assert percentile(-1.5, [2, 2], [-2.0, -1.0, 0.0]) == pytest.approx(25.0)  # negative range


def test_percentile_refuses_unusable_histograms() -> None:
    assert percentile(1.0, [], [0.0]) is None
    assert percentile(1.0, [1, 2], [0.0, 1.0]) is None  # edges do not match the counts
    assert percentile(1.0, [0, 0], [0.0, 1.0, 2.0]) is None  # no images
    assert percentile(1.0, [1, 1], [0.0, 2.0, 2.0]) is None  # edges not increasing


def test_ordinals() -> None:
    got = [ordinal(p) for p in (97, 21.2, 2, 3, 11, 12, 13, 1.4, 99.62, 0.4, 99.0, 52.5)]
    assert got == ["97th", "21st", "2nd", "3rd", "11th", "12th", "13th", "1st", "99.6th",
                   "0.4th", "99.0th", "52nd"]


def test_above_the_best_image_is_a_multiple_of_it() -> None:
    s = standing(6.4, STATS, best=4.0)
    assert s is not None and s.times_best == pytest.approx(1.6)
    assert s.text == "1.6× the best photo" and "4" in s.note
    assert standing(40.0, STATS, best=4.0).text == "10× the best photo"
    assert standing(4.0, STATS, best=4.0).text == "1.0× the best photo"  # the top image itself


def test_below_the_best_image_is_a_percentile() -> None:
    s = standing(2.5, STATS, best=4.0)
    assert s is not None and s.times_best is None and s.percentile == pytest.approx(45.0)
    assert s.text == "45th percentile" and "45% of its 10 natural images" in s.note
    # the sample's histogram may end below the best image: never "100th" under the best
    assert standing(3.99, {**STATS, "hist_edges": [0.0, 1.0, 2.0, 3.0, 3.5]}, 4.0).text \
        == "99.9th percentile"


@pytest.mark.parametrize("seed", [-0.35, -217.0, 0.0, 0.004, 1e-9])
def test_weak_seeds_get_no_ratio(seed: float) -> None:
    """A negative, zero or tiny seed is placed, never divided by: no sign flip, no explosion."""
    s = standing(seed, STATS, best=4.0)
    assert s is not None and s.times_best is None and "×" not in s.text
    assert s.percentile is not None and 0.0 <= s.percentile < 1.0
    assert s.text in ("below every natural image", f"{ordinal(s.percentile)} percentile")
    assert standing(-0.35, STATS, best=4.0).text == "below every natural image"


@pytest.mark.parametrize("best", [0.0, -1.0])
def test_no_multiple_of_a_best_at_or_below_zero(best: float) -> None:
    stats = {"hist_counts": [5, 5], "hist_edges": [-3.0, -2.0, best], "min": -3.0, "count": 10}
    s = standing(2.0, stats, best)
    assert s is not None and s.times_best is None and s.text == "above every natural image"
    assert standing(best, stats, best).text == "as high as the best photo"
    assert standing(-2.5, stats, best).text == "25th percentile"


def test_no_multiple_of_a_best_barely_above_zero() -> None:
    """Natural range −10 … 0.1: 0.1 is noise around zero for this unit, not a unit of measure."""
    stats = {"hist_counts": [5, 5], "hist_edges": [-10.0, -5.0, 0.1], "min": -10.0, "count": 10}
    assert standing(3.0, stats, best=0.1).text == "above every natural image"
    ok = {"hist_counts": [5, 5], "hist_edges": [-1.0, 0.0, 2.0], "min": -1.0, "count": 10}
    assert standing(3.0, ok, best=2.0).text == "1.5× the best photo"


def test_nothing_to_say() -> None:
    assert standing(None, STATS, 4.0) is None and standing(math.nan, STATS, 4.0) is None
    assert standing(2.0, None, None) is None  # no histogram, no best image
    assert standing(5.0, None, 4.0).text == "1.2× the best photo"  # the best alone suffices


def test_site_shows_standings_and_never_the_gain(fake_run: Path, fake_site: Path) -> None:
    acc = RunDir(fake_run).read_table("accents")
    weak = acc[acc.seed_activation < 0.01]
    assert len(weak) == 4 and (weak.gain.abs() > 100).any() and (weak.gain < 0).any()
    atlas = load_atlas(fake_run)
    for u in atlas.units:
        for a in u.accents:
            assert a.seed_standing is not None and a.final_standing is not None
            if a.seed_activation < 0.01:
                assert a.seed_standing.times_best is None
    site = fake_site
    for page in [*(site / "units").rglob("*.html"), *(site / "reports").rglob("*.html"),
                 site / "index.html"]:
        text = unescape(re.sub(r"<[^>]+>", " ", page.read_text()))
        assert not re.search(r"×\s*[-−]", text), page
        for g in acc.gain:
            assert f"×{g:.3g}" not in text, (page, g)
    unit = (site / "units" / "_blocks.10" / "1.html").read_text()
    assert "below every natural image" in unit and "× the best photo" in unit
    assert unit.count('class="change"') == 3 and "change ×4" in unit
    assert "× the best photo" in (site / "index.html").read_text()


def test_old_runs_without_the_change_view_still_render(fake_run: Path, tmp_path: Path) -> None:
    old = tmp_path / "old"
    make_fake_run(old, FakeRunConfig(units=2))
    acc = pd.read_parquet(old / "accents.parquet").drop(columns=["change_media", "change_gain"])
    acc.to_parquet(old / "accents.parquet", index=False)  # as a run written before the column
    html = (render_site(old, tmp_path / "site") / "units" / "_blocks.10" / "1.html").read_text()
    assert 'class="accent"' in html and 'class="change"' not in html
    assert 'class="flip"' in html


def test_no_standings_when_mining_and_target_reduce_differently(tmp_path: Path) -> None:
    run = make_fake_run(tmp_path / "run", FakeRunConfig(units=1))
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["config"].update(mine={"reduce": "max"}, accent={"target": "mean"})
    (run / "manifest.json").write_text(json.dumps(manifest))
    assert all(a.final_standing is None for u in load_atlas(run).units for a in u.accents)
    manifest["config"]["mine"]["reduce"] = "mean"
    (run / "manifest.json").write_text(json.dumps(manifest))
    assert all(a.final_standing is not None for u in load_atlas(run).units for a in u.accents)
