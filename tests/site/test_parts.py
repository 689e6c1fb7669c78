"""The site's parts: safe names and data, charts, the report, the preview server."""

from __future__ import annotations

import base64
import hashlib
import http.client
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
from atlas.site.safe import SITE_CSP, http_url, js_data, safe_relpath, slug
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


@pytest.fixture
def served(tmp_path: Path):
    """A site folder with what a preview must not show beside it (hidden files, a marker with
    the run's path, symlinks out of it), served on 127.0.0.1 at a free port; a GET/HEAD
    function (status, headers, body), and the server stopped after the test."""
    site = tmp_path / "site"
    for rel, text in {"index.html": "<p>atlas index</p>", "units/_blocks.10/5.html": "<p>unit</p>",
                      "media/a.webp": "RIFFwebp", "static/app.js": "let a = 1;",
                      ".atlas-site": json.dumps({"run": str(tmp_path / "secret-run")}),
                      ".hidden/secret.txt": "hidden", "units/.x": "hidden",
                      "../outside.txt": "outside", "../outdir/x.txt": "outside"}.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_text(text)
    (site / "media" / "out.txt").symlink_to(tmp_path / "outside.txt")
    (site / "dir-out").symlink_to(tmp_path / "outdir", target_is_directory=True)
    (site / "media" / "same.html").symlink_to(site / "index.html")  # inside: still the site
    (site / "media" / "hidden.txt").symlink_to(site / ".hidden" / "secret.txt")
    server = make_server(site, 0)
    assert server.server_address[0] == "127.0.0.1"
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()

    def get(path: str, method: str = "GET") -> tuple[int, dict[str, str], str]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request(method, path)  # sent as written: no client-side normalizing
            r = conn.getresponse()
            return r.status, dict(r.getheaders()), r.read().decode("utf-8", "replace")
        finally:
            conn.close()

    try:
        yield get
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert not thread.is_alive()


def test_preview_serves_the_site_files_with_its_csp(served) -> None:
    index = "<p>atlas index</p>"
    for path, body in [("/", index), ("/index.html", index), ("/units/_blocks.10/5.html",
                       "<p>unit</p>"), ("/media/a.webp", "RIFFwebp"), ("/static/app.js",
                       "let a = 1;"), ("/index.html?x=1#y", index), ("/media/same.html", index)]:
        status, headers, text = served(path)
        assert (status, text) == (200, body), path
        assert headers["Content-Security-Policy"] == SITE_CSP
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Server"] == "atlas"  # no Python version
    assert served("/index.html", "HEAD")[0] == 200


@pytest.mark.parametrize("path", [
    "/units/", "/media/", "/units/_blocks.10/", "/static/",  # folders: no listing
    "/.atlas-site", "/%2eatlas-site", "/.hidden/secret.txt", "/.hidden/", "/units/.x",
    "/.git/config", "/../outside.txt", "/%2e%2e/outside.txt", "/units/..%2f..%2foutside.txt",
    "/units/../../outside.txt", "/media/out.txt", "/dir-out/x.txt", "/dir-out/",
    "/media/hidden.txt", "/nope.html", "/index.html/",
])
def test_preview_shows_nothing_but_the_site(served, path: str) -> None:
    for method in ("GET", "HEAD"):
        status, headers, text = served(path, method)
        assert status == 404, (method, path, status, text)
        assert headers["Content-Security-Policy"] == SITE_CSP
        for secret in ("secret-run", "hidden", "outside", "a.webp", "5.html", "Python"):
            assert secret not in text, (path, secret)


def test_preview_redirects_a_folder_only_to_its_slash(served) -> None:
    status, headers, _ = served("/units")
    assert status == 301 and headers["Location"] == "/units/"
    assert served("/units/")[0] == 404
