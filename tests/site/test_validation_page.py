"""The site's Validation page: numbers and verdicts as written, charts as <img>, absent -> none,
unreadable -> a page that says why."""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from pathlib import Path

import pytest

from atlas.names import slug
from atlas.pipeline.results import FILE, Distribution, Interval, ValidationResult, read_result
from atlas.site.render import render_site
from atlas.site.safe import SITE_CSP, plain_svg
from tests.helpers.fakerun import FakeRunConfig, make_fake_run
from tests.helpers.fakevalidation import SVG, fake_result, write_fake_validation
from tests.helpers.pages import refs

KINDS = ("accent_natural", "natural_natural", "vis_natural", "random_natural")


@pytest.fixture(scope="module")
def built(fake_run: Path, fake_site: Path) -> tuple[Path, Path, ValidationResult]:
    return fake_run, fake_site, read_result(fake_run / FILE)


def _block(html: str, layer: str) -> str:
    return html.split(f"Target layer {layer}</h2>")[1].split("</section>")[0]


def test_page_shows_the_numbers_and_verdicts(built: tuple[Path, Path, ValidationResult]) -> None:
    _, site, res = built
    html = (site / "validation.html").read_text()
    assert refs(site / "validation.html").csp == [SITE_CSP]
    for layer, r in res.layers.items():
        block = _block(html, layer)
        for group, p in r.pathway.items():
            for k in KINDS:
                c = getattr(p, k)
                assert f"{c.mean:.3f}" in block and f"[{c.lo:.3f}, {c.hi:.3f}]" in block
            d = p.accent_minus_natural
            assert f"{d.mean:+.3f}" in block and f"{d.lo:+.3f}" in block, group
        verdicts = block.split('class="verdicts"')[1].split("</ul>")[0]
        holds = re.findall(r'class="verdict (yes|no)"', verdicts)
        want = [r.claims.accent_ge_natural, r.claims.accent_beats_vis]
        assert holds[:2] == ["yes" if w else "no" for w in want] and want[0] != want[1]
        assert want[0] == (layer == "_blocks.4")  # each verdict really occurs in the fixture
        for k in ("accent_gain", "accent_distance", "vis_distance"):
            assert f"{getattr(r.closeness, k).median:.3g}" in block
    assert html.index("Target layer _blocks.4<") < html.index("Target layer _blocks.10<")
    photo = sorted(res.natural_pairs.distance)[len(res.natural_pairs.distance) // 2]
    assert f"{photo:.3g}" in html and "photo ↔ photo distance" in html
    sweep = html.split('id="sweep"')[1]
    assert "recommended λ</dt><dd>1.1</dd>" in sweep and "0.4 – 2.9" in sweep
    assert sweep.count('class="in-region"') == 1  # only λ=1 lies in [0.4, 2.9]
    assert res.sweep.rule in sweep


def test_shortcut_removed_rows_and_verdicts_follow_the_plain_ones(
        built: tuple[Path, Path, ValidationResult]) -> None:
    """A layer with an attribution layer on its residual stream gets the variant's rows and
    its own two verdicts; a layer without one gets neither (the plain table is the whole
    story there)."""
    _, site, res = built
    html = (site / "validation.html").read_text()
    first, second = (res.layers[n] for n in ("_blocks.4", "_blocks.10"))
    block = _block(html, "_blocks.4")
    sc = first.shortcut
    table = block.split("<tbody>")[1].split("</tbody>")[0]
    plain_end = table.index("all (average)</th>")
    own = sc.own_channel["_blocks.2"]
    label = (f"_blocks.2, target&#39;s own channel removed (identity shortcut); it carried "
             f"{100 * own.share.natural.mean:.1f}% of natural images&#39; and "
             f"{100 * own.share.vis.mean:.1f}% of visualizations&#39; |attribution| "
             "(chance 2.5%)")
    assert plain_end < table.index(label)
    assert "all (average), own channel removed at _blocks.2</th>" in table
    for g in ("_blocks.2", "all"):
        for k in KINDS:
            c = getattr(sc.pathway[g], k)
            assert f"{c.mean:.3f}" in table and f"[{c.lo:.3f}, {c.hi:.3f}]" in table
    verdicts = block.split('class="verdicts"')[1].split("</ul>")[0]
    assert re.findall(r'class="verdict (yes|no)"', verdicts)[2:] == ["yes", "yes"]
    assert verdicts.count("Shortcut removed (the target&#39;s own channel dropped at "
                          "_blocks.2") == 2
    assert not second.shortcut.layers
    other = _block(html, "_blocks.10")
    assert "own channel removed" not in other and "Shortcut removed" not in other
    assert len(re.findall(r'class="verdict (yes|no)"', other)) == 2


def test_chart_is_an_img_copied_into_the_site(built: tuple[Path, Path, ValidationResult]) -> None:
    run, site, res = built
    html = (site / "validation.html").read_text()
    assert "<svg" not in html  # never inlined
    srcs = [s for s in refs(site / "validation.html").loads if s.endswith(".svg")]
    assert len(srcs) == len(res.charts) == 1
    copied = site / srcs[0]
    assert copied.is_file() and copied.read_text() == SVG
    assert copied.resolve().is_relative_to(site.resolve())
    assert res.charts[0].rsplit("/", 1)[1] in srcs[0]


def test_every_page_links_the_validation_page(built: tuple[Path, Path, ValidationResult]) -> None:
    _, site, _ = built
    assert 'href="validation.html">Validation</a>' in (site / "index.html").read_text()
    assert 'href="validation.html">Validation</a>' in (site / "about.html").read_text()
    unit = next((site / "units").rglob("*.html")).read_text()
    assert 'href="../../validation.html">Validation</a>' in unit


def test_no_result_no_page_no_link_and_rebuild_drops_it(tmp_path: Path) -> None:
    run = make_fake_run(tmp_path / "run", FakeRunConfig(units=1, layers=("a",)))
    site = render_site(run, tmp_path / "site")
    assert not (site / "validation.html").exists()
    assert all("validation.html" not in p.read_text() for p in site.rglob("*.html"))
    write_fake_validation(run, ["a"], 1)
    render_site(run, site)
    assert (site / "validation.html").is_file() and (site / "media" / "validation").is_dir()
    (run / "validation" / "validation.json").unlink()
    render_site(run, site)
    assert not (site / "validation.html").exists() and not (site / "media" / "validation").exists()
    assert "validation.html" not in (site / "index.html").read_text()


def test_payloads_escaped_and_unsafe_charts_refused(tmp_path: Path) -> None:
    run = make_fake_run(tmp_path / "run", FakeRunConfig(units=1, payload=True, validation=True))
    site = render_site(run, tmp_path / "site")
    html = (site / "validation.html").read_text()
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html  # the payload layer name, as text
    r = refs(site / "validation.html")
    assert r.handlers == [] and r.inline_scripts == 0 and r.style_attrs == 0
    assert [s for s in r.loads if s.endswith(".svg")] == [
        f"media/validation/pathway-{slug('_blocks.4')}.svg"]
    assert sorted(p.name for p in (site / "media" / "validation").iterdir()) == [
        "pathway-_blocks.4.svg"]  # neither evil.svg nor ../outside.svg came along
    assert "not a plain SVG drawing" in html and "not an SVG file in validation/" in html


def test_validation_only_run_renders(tmp_path: Path) -> None:
    write_fake_validation(tmp_path / "run", ["_blocks.10"], 4)
    site = render_site(tmp_path / "run", tmp_path / "site")
    assert "Target layer _blocks.10" in (site / "validation.html").read_text()


def _page_of(tmp_path: Path, text: str) -> str:
    """The Validation page of a run whose only result file holds ``text``."""
    path = tmp_path / "run" / FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return (render_site(tmp_path / "run", tmp_path / "site") / "validation.html").read_text()


def _broken(text: str) -> str:
    """A fake result broken in one way a hand edit, a crash or an old version does, or
    ``text`` itself."""
    res = fake_result(["a"], 2).to_dict()
    if text == "claims":
        del res["layers"]["a"]["claims"]
    elif text == "shortcut":
        del res["layers"]["a"]["shortcut"]["pathway"]["all"]
    elif text == "number":
        res["layers"]["a"]["pathway"]["all"]["accent_natural"]["mean"] = "x"
    else:
        return text
    return json.dumps(res)


@pytest.mark.parametrize("text,match", [
    ("{not json", "is not readable JSON"), ('{"format": 99}', "has format 99; this atlas reads "
                                            "format 1"),
    ("[1, 2]", "is not a validation result (a JSON array)"),
    ('{"format": 1, "key": "k"', "is not readable JSON"),
    ("claims", "layers[&#39;a&#39;].claims is missing"),
    ("shortcut", "layers[&#39;a&#39;].shortcut: pathway lacks &#39;all&#39;"),
    ("number", "accent_natural.mean: expected a number, got &#34;x&#34;")])
def test_an_unreadable_result_is_a_page_that_says_why(tmp_path: Path, text: str,
                                                       match: str) -> None:
    """The rest of the site builds; the page names the file and the field, and what to do."""
    html = _page_of(tmp_path, _broken(text))
    note = html.split('id="validation-unreadable">')[1].split("</p>")[0]
    assert match in note and "</span> &#39;validation/validation.json&#39;" in note
    assert str(tmp_path) not in html
    assert note.endswith("re-run `atlas validate` (it replaces the file).")
    assert "Target layer" not in html
    assert 'href="validation.html">Validation</a>' in (tmp_path / "site" / "index.html").read_text()


def test_nan_and_infinite_numbers_show_as_dashes(tmp_path: Path) -> None:
    res = write_fake_validation(tmp_path / "run", ["a"], 2)
    lay = res.layers["a"]
    lay.closeness.accent_gain = Distribution.of([math.nan, 2.0])  # all but n are NaN
    lay.closeness.vis_gain = Distribution.of([math.inf, 2.0])  # min 2, the others inf
    lay.pathway["all"] = replace(lay.pathway["all"],
                                 accent_natural=Interval(math.nan, -math.inf, math.inf, 2))
    (tmp_path / "run" / FILE).write_text(res.to_json())
    html = (render_site(tmp_path / "run", tmp_path / "site") / "validation.html").read_text()

    def row(label: str) -> str:
        return html.split(f"{label}</th>")[1].split("</tr>")[0]

    assert row("accentuation gain (final / seed)") == "<td>–</td>" * 4 + "<td>2</td>"
    assert row("visualization gain (final / seed)") == (
        "<td>–</td><td>–</td><td>2</td><td>–</td><td>2</td>")
    assert row("all (average)").startswith('<td>–<span class="ci">[–, –]</span></td>')
    cells = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", html)
    assert cells and not [c for c in cells if re.search(r"nan|inf", c, re.IGNORECASE)]


def test_plain_svg_screen(tmp_path: Path) -> None:
    ok = tmp_path / "ok.svg"
    ok.write_text(SVG)
    assert plain_svg(ok)
    bad = ['<svg><script>alert(1)</script></svg>', '<svg onload="alert(1)"></svg>',
           '<svg><a href="https://x.org"><text>x</text></a></svg>',
           '<svg><foreignObject><div/></foreignObject></svg>',
           '<svg><image href="file:///etc/passwd"/></svg>',
           '<svg><rect fill="url(https://x.org/a)"/></svg>', "<html><p>not svg</p></html>"]
    for i, text in enumerate(bad):
        (tmp_path / f"{i}.svg").write_text(text)
        assert not plain_svg(tmp_path / f"{i}.svg"), text
