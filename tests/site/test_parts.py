"""The site's parts: safe names and data, charts, the report, the preview server."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import urllib.request
from html import unescape
from pathlib import Path

import pytest

from atlas.config.units import parse_layer_units
from atlas.errors import AtlasError
from atlas.site.charts import histogram, manifestation_map, sparkline
from atlas.site.load import load_atlas
from atlas.site.render import render_site
from atlas.site.report import render_report
from atlas.site.safe import http_url, js_data, safe_relpath, slug
from atlas.site.serve import make_server
from tests.helpers.fakerun import PAYLOADS


def test_slug_keeps_plain_names_and_separates_others() -> None:
    assert slug("_blocks.10") == "_blocks.10"
    odd = ["a/b", "a_b?", "a b", "..", ".hidden", PAYLOADS[2], "é"]
    slugs = [slug(x) for x in odd]
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", s) and not s.startswith(".") for s in slugs)
    assert len(set(slugs + ["a_b"])) == len(odd) + 1  # no collisions, even with 'a_b' itself
    assert safe_relpath("../../etc/passwd") == "etc/passwd"


def test_js_data_cannot_break_out_of_a_script() -> None:
    text = js_data({"x": "</script><!-- \u2028 & <b>"})
    assert not re.search(r"[<>&\u2028\u2029]", text)
    assert json.loads(text) == {"x": "</script><!-- \u2028 & <b>"}


def test_only_http_credit_urls_become_links() -> None:
    assert http_url("https://commons.wikimedia.org/x") == "https://commons.wikimedia.org/x"
    for bad in ("javascript:alert(1)", "data:text/html,x", " JAVASCRIPT:x", "", None,
                'https://x" onerror="y'):
        assert http_url(bad) is None


def test_charts_follow_the_data(evil_run: Path) -> None:
    atlas = load_atlas(evil_run)
    u = atlas.units[0]
    h = histogram(u)
    assert h is not None and len(h.bars) == len(u.stats["hist_counts"])
    xs = [m[0] for m in h.marks]
    assert all(0 <= x <= h.width for x in xs)
    finals = [m for m in h.marks if m[1] == "mark-acc"]
    tops = [m for m in h.marks if m[1] == "mark-top"]
    assert min(f[0] for f in finals) > max(t[0] for t in tops)  # accents beat natural images
    m = manifestation_map(u)
    assert m is not None and len(m.points) == len(u.points)
    assert len(m.links) == len(u.accents)  # each accentuation joined to its seed
    assert sum(n + a for _, _, n, a in m.legend) == len(u.points)
    pts = sparkline([1.0, 2.0, 4.0])
    assert pts is not None and len(pts.split()) == 3 and sparkline([1.0]) is None


def test_diversity_is_defined_from_the_maps(evil_run: Path) -> None:
    atlas = load_atlas(evil_run)
    for u in atlas.units:
        assert u.clusters == len({p["cluster"] for p in u.points if p["kind"] == "natural"})
        assert u.spread is not None and 0 <= u.spread <= 1


def test_report_is_one_self_contained_file(evil_run: Path, tmp_path: Path) -> None:
    out = render_report(evil_run, "_blocks.10:1,_blocks.4:0", tmp_path / "r.html")
    html = out.read_text()
    assert html.count('class="unit"') == 2
    srcs = re.findall(r'\ssrc="([^"]*)"', html)
    assert srcs and all(s.startswith("data:image/") for s in srcs)
    assert "<script" not in html and "<link rel=\"stylesheet\"" not in html
    assert not re.search(r"url\(|@import", html)
    style = re.search(r"<style>(.*?)</style>", html, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', html).group(1)
    csp = unescape(csp)
    assert f"style-src 'sha256-{digest}'" in csp and "script-src" not in csp
    assert csp.startswith("default-src 'none'; img-src data:;")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert" not in html
    anim = [s for s in srcs if s.startswith("data:image/webp")]
    assert anim  # animated frames kept as WebP


def test_report_rejects_bad_units(evil_run: Path, tmp_path: Path) -> None:
    with pytest.raises(AtlasError, match="closest: _blocks.10"):
        render_report(evil_run, "_blocks.1O:1", tmp_path / "x.html")
    with pytest.raises(AtlasError, match="no unit 99 .* units: 0–1"):
        render_report(evil_run, "_blocks.10:99", tmp_path / "x.html")
    with pytest.raises(AtlasError, match="expected LAYER:UNIT"):
        parse_layer_units("_blocks.10")
    assert parse_layer_units(" a:1,b.c:2 ") == [("a", 1), ("b.c", 2)]
    assert not (tmp_path / "x.html").exists()


def test_preview_server_is_local_and_strict(evil_run: Path, tmp_path: Path) -> None:
    site = render_site(evil_run, tmp_path / "site")
    server = make_server(site, 0)
    host, port = server.server_address[:2]
    assert host == "127.0.0.1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=5) as r:
            body, csp = r.read().decode(), r.headers["Content-Security-Policy"]
        assert "ATLAS_INDEX" not in body and 'src="data/index.js"' in body
        assert "default-src 'none'" in csp
    finally:
        server.shutdown()
        server.server_close()
    with pytest.raises(AtlasError, match="index.html missing"):
        make_server(tmp_path, 0)
