"""The unit pages' charts: drawn by the one SVG writer with classes only, and the page's script
gets the same palette as the SVGs."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from atlas.io.svg import PALETTE, svg
from atlas.site.charts import histogram, manifestation_map, spark, sparkline
from atlas.site.load import load_atlas


def test_unit_charts_are_drawn_by_the_writer_with_classes_only(fake_run: Path) -> None:
    u = load_atlas(fake_run).units[0]
    h, m = histogram(u), manifestation_map(u)
    assert h is not None and m is not None
    hist = ET.fromstring(str(svg(h.figure())))
    assert len([r for r in hist.iter("rect") if r.get("class") == "bar"]) == len(h.bars)
    drawn = str(svg(m.figure("u-x", linked=True)))
    assert drawn.count('<a href="#u-x-acc-') == len(u.accents)
    assert "style=" not in drawn and "#u-x-acc-" not in str(svg(m.figure("u-x", False)))
    points = sparkline([1.0, 3.0, 2.0])
    assert points and ET.fromstring(str(svg(spark(points)))).find("polyline") is not None


def test_the_javascript_gets_the_same_palette(fake_site: Path) -> None:
    site = fake_site
    index = (site / "index.html").read_text()
    assert f'data-palette="{" ".join(PALETTE)}"' in index
    js = (site / "static" / "index.js").read_text()
    assert "data-palette" in js and not re.search(r"hsla?\(", js)
    assert not [c for c in PALETTE if c in js]  # not written twice
    unit = next((site / "units").rglob("*.html")).read_text()
    assert 'class="chart hist"' in unit and "style=" not in unit.split("<body", 1)[1]
