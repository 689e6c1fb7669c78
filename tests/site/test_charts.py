"""One chart writer and one palette: any number of series, everything escaped, JS in step."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from fakerun import FakeRunConfig, make_fake_run

from atlas.evaluation.charts import bar_chart, line_chart, strip_chart
from atlas.io.svg import PALETTE, Figure, colour, svg
from atlas.site.charts import histogram, manifestation_map, spark, sparkline
from atlas.site.load import load_atlas
from atlas.site.render import render_site
from atlas.site.safe import plain_svg

NS = "{http://www.w3.org/2000/svg}"
NINE = [f"series {i}" for i in range(9)]


def _legend_fills(text: str) -> list[str]:
    root = ET.fromstring(text)
    return [r.get("fill") for r in root.iter(f"{NS}rect") if r.get("width") == "12"]


def test_nine_series_cycle_through_the_palette(tmp_path: Path) -> None:
    want = [colour(i) for i in range(9)]
    assert len(PALETTE) < 12 and colour(len(PALETTE)) == colour(0) == PALETTE[0]
    means = [[0.1 * s for s in range(9)] for _ in range(2)]
    bars = bar_chart("t", "y", ["a", "b"], NINE, means, means, means)
    lines = line_chart("t", "y", [0.1, 1.0, 10.0], {n: [1.0, 2.0, 3.0] for n in NINE})
    strips = strip_chart("t", "y", {n: [float(i), 1.0] for i, n in enumerate(NINE)})
    for i, text in enumerate((bars, lines, strips)):
        assert _legend_fills(text) == want
        (tmp_path / f"{i}.svg").write_text(text)
        assert plain_svg(tmp_path / f"{i}.svg")
    fills = [r.get("fill") for r in ET.fromstring(bars).iter(f"{NS}rect")][1:]  # not the page
    assert fills[:9] == want  # group a's bars, one colour per series


def test_every_label_and_attribute_is_escaped() -> None:
    evil = '<script>alert(1)</script>" onload="x'
    text = bar_chart(evil, evil, [evil], [evil], [[1.0]], [[0.5]], [[1.5]])
    assert "<script" not in text and 'onload="' not in text
    assert ET.fromstring(text).find(f"{NS}text").text == evil  # shown as text, unchanged
    fig = Figure(10, 10, evil)
    fig.add("circle", title=evil, href="#a\"b", cls="pt", cx=1.0, cy=2, r=3)
    inline = str(svg(fig))
    assert "<script" not in inline and 'href="#a&#34;b"' in inline and 'cx="1.0"' in inline
    assert ET.fromstring(inline).get("aria-label") == evil


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_fake_run(tmp_path_factory.mktemp("run"), FakeRunConfig(units=2))


def test_unit_charts_are_drawn_by_the_writer_with_classes_only(run: Path) -> None:
    u = load_atlas(run).units[0]
    h, m = histogram(u), manifestation_map(u)
    assert h is not None and m is not None
    hist = ET.fromstring(str(svg(h.figure())))
    assert len([r for r in hist.iter("rect") if r.get("class") == "bar"]) == len(h.bars)
    drawn = str(svg(m.figure("u-x", linked=True)))
    assert drawn.count('<a href="#u-x-acc-') == len(u.accents)
    assert "style=" not in drawn and "#u-x-acc-" not in str(svg(m.figure("u-x", False)))
    points = sparkline([1.0, 3.0, 2.0])
    assert points and ET.fromstring(str(svg(spark(points)))).find("polyline") is not None


def test_the_javascript_gets_the_same_palette(run: Path, tmp_path: Path) -> None:
    site = render_site(run, tmp_path / "site")
    index = (site / "index.html").read_text()
    assert f'data-palette="{" ".join(PALETTE)}"' in index
    js = (site / "static" / "index.js").read_text()
    assert "data-palette" in js and not re.search(r"hsla?\(", js)
    assert not [c for c in PALETTE if c in js]  # not written twice
    unit = next((site / "units").rglob("*.html")).read_text()
    assert 'class="chart hist"' in unit and "style=" not in unit.split("<body", 1)[1]
