"""The validation charts: any number of series cycling through the one palette, every label
escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from atlas.evaluation.charts import bar_chart, line_chart, strip_chart
from atlas.io.svg import PALETTE, colour
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


def test_every_label_is_escaped() -> None:
    evil = '<script>alert(1)</script>" onload="x'
    text = bar_chart(evil, evil, [evil], [evil], [[1.0]], [[0.5]], [[1.5]])
    assert "<script" not in text and 'onload="' not in text
    assert ET.fromstring(text).find(f"{NS}text").text == evil  # shown as text, unchanged
