"""The one SVG writer: titles, links and attributes escaped, numbers written as given."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from atlas.io.svg import Figure, svg


def test_every_title_and_attribute_is_escaped() -> None:
    evil = '<script>alert(1)</script>" onload="x'
    fig = Figure(10, 10, evil)
    fig.add("circle", title=evil, href="#a\"b", cls="pt", cx=1.0, cy=2, r=3)
    inline = str(svg(fig))
    assert "<script" not in inline and 'href="#a&#34;b"' in inline and 'cx="1.0"' in inline
    assert ET.fromstring(inline).get("aria-label") == evil
