"""The index of channels and features (atlas.site.index_data): its compact data, its size at
scale, its plain lists (the index without JavaScript) and its derived thumbnails."""

from __future__ import annotations

import json
import re
from pathlib import Path

from atlas.pipeline.rundir import RunDir
from atlas.pipeline.schema import TABLES
from atlas.site.index_data import FIRST, card
from atlas.site.media import THUMB_TAGS
from atlas.site.render import SiteConfig, render_site
from tests.helpers.fakerun import BASES, PAYLOADS, FakeBasis, FakeRunConfig, make_fake_run

SCALE_LIMIT = 2_000_000  # bytes: the index of 2,048 channels and 16,384 features (issue 17)


def script_value(path: Path) -> object:
    """The value a data script assigns (``window.X=...;`` or ``(window.X=...)[key]=...;``)."""
    text = path.read_text().rstrip(";\n")
    if text.startswith("window."):
        return json.loads(text.split("=", 1)[1])
    return json.loads(text.split(")[", 1)[1].split("]=", 1)[1])


def label_names(data: dict, i: int) -> list[list[str]]:
    """Unit ``i``'s label names per kind (data, ablation, accentuation), then its name."""
    return [[data["words"][int(x, 36)] for x in part.split(",") if x]
            for part in data["labels"][i].split("|")]


def test_groups_are_a_layer_and_a_basis(features_site: Path) -> None:
    data = script_value(features_site / "data" / "index.js")
    assert data["layers"] == ["_blocks.4", "_blocks.10"]  # base layers only
    assert data["bases"] == ["channels", "concepts", "sae"]
    got = [(g["name"], data["layers"][g["layer"]], data["bases"][g["basis"]], g["kind"], g["n"])
           for g in data["groups"]]
    assert got == [("_blocks.4", "_blocks.4", "channels", "channel", 4),
                   ("_blocks.10", "_blocks.10", "channels", "channel", 4),
                   ("_blocks.10/concepts", "_blocks.10", "concepts", "direction", 3),
                   ("_blocks.10/sae", "_blocks.10", "sae", "feature", 6)]
    assert all(g["map"] == 1 and "units" not in g for g in data["groups"])  # units 0..n-1
    n = sum(g["n"] for g in data["groups"])
    assert len(data["act"]) == len(data["clusters"]) == len(data["spread"]) == n
    assert len(data["labels"]) == len(data["strength"]) == len(data["flags"]) == n
    assert len(set(data["words"])) == len(data["words"])  # each name once


def test_features_are_searchable_by_their_labels_and_names(features_site: Path,
                                                           features_run: Path) -> None:
    data = script_value(features_site / "data" / "index.js")
    rd = RunDir(features_run)
    classes, causal, labels = (rd.read_table(t) for t in ("classes", "causal", "labels"))
    start = sum(g["n"] for g in data["groups"][:3])  # the sae features
    for f in range(6):
        key = "layer == '_blocks.10/sae' and unit == @f"
        want = [list(classes.query(key).sort_values("rank").name),
                list(causal.query(key).sort_values("rank").class_name),
                list(labels.query(key).sort_values("rank").class_name)]
        assert label_names(data, start + f) == want
    directions = [label_names(data, i)[3] for i in range(start - 3, start)]
    assert directions == [["fish"], ["stripes"], ["concept 2"]]


def test_cards_say_feature_or_the_directions_name(features_site: Path) -> None:
    html = (features_site / "index.html").read_text()
    cards = re.findall(r'<a class="card".*?</a>', html)
    assert len(cards) == 17
    names = [re.search(r'<span class="name">(.*?)</span>', c).group(1) for c in cards]
    assert names[0] == "unit <b>0</b> · _blocks.4"  # a channel
    assert names[8] == "<b>fish</b> · _blocks.10/concepts"  # a direction: its name
    assert names[11] == "feature <b>0</b> · _blocks.10/sae"
    data = script_value(features_site / "data" / "index.js")
    c = card(data, 11)
    assert c["href"] == f"units/{data['groups'][3]['slug']}/0.html" and c["kind"] == "feature"
    assert (features_site / c["href"]).is_file() and (features_site / c["thumb"]).is_file()
    selects = re.search(r'<select id="basis".*?</select>', html).group(0)
    assert re.findall(r"<option[^>]*>([^<]*)</option>", selects) == [
        "Channels and features", "channels", "concepts", "sae"]
    page = (features_site / c["href"]).read_text()
    assert "_blocks.10/sae · feature 1 →" in page  # the next feature, named so


def test_plain_lists_hold_every_unit(features_site: Path, features_run: Path) -> None:
    """Without JavaScript the index shows its first cards; each layer's list shows all."""
    html = (features_site / "index.html").read_text()
    data = script_value(features_site / "data" / "index.js")
    for g in data["groups"]:
        rel = f"lists/{g['slug']}.html"
        assert f'href="{rel}"' in html
        page = (features_site / rel).read_text()
        links = re.findall(r'<td><a href="\.\./(units/[^"]+)">', page)
        assert len(links) == g["n"] and all((features_site / link).is_file() for link in links)
    sae = (features_site / f"lists/{data['groups'][3]['slug']}.html").read_text()
    assert ">feature 5</a>" in sae and "basis sae over the channels of _blocks.10" in sae
    assert ">stripes</a>" in (features_site / f"lists/{data['groups'][2]['slug']}.html").read_text()


def test_first_cards_in_the_html_and_the_rest_said(tmp_path: Path) -> None:
    run = make_fake_run(tmp_path / "run", FakeRunConfig(
        units=3, layers=("_blocks.10",), topk=3, bottomk=0, accents=1, frames=0, images=8,
        pool=2, accented=2, bases=(FakeBasis(features=FIRST),)))
    site = render_site(run, tmp_path / "site", SiteConfig(reports_max_units=0))
    html = (site / "index.html").read_text()
    assert html.count('class="card"') == FIRST < FIRST + 3
    assert f"the first {FIRST} of {FIRST + 3} units" in html  # in <noscript>
    assert html.count("not accentuated</span>") == FIRST - 2 - 2  # 2 per layer accentuated


def test_data_scripts_are_escaped(tmp_path: Path) -> None:
    run = make_fake_run(tmp_path / "run", FakeRunConfig(payload=True, units=2, bases=BASES))
    site = render_site(run, tmp_path / "site", SiteConfig(reports_max_units=0))
    scripts = list((site / "data").rglob("*.js"))
    assert len(scripts) == 1 + 2 * 5  # the index, and points and tips of 5 unit layers
    for js in scripts:
        body = js.read_text().split("=", 1)[1]
        assert "<" not in body and ">" not in body, js
    data = script_value(site / "data" / "index.js")
    assert PAYLOADS[0] in data["words"] and PAYLOADS[2] in data["layers"]
    for page in (site / "lists").glob("*.html"):
        assert "<script>alert" not in page.read_text()


def test_thumbnails_follow_a_changed_face(features_run: Path, tmp_path: Path) -> None:
    """A unit's thumbnail lives at a path derived from the unit, so when its face turns to
    another (older) file, the thumbnail is made again: a time check alone would keep it."""
    local = tmp_path / "run"
    make_fake_run(local, FakeRunConfig(units=2, layers=("_blocks.10",)))
    site = render_site(local, tmp_path / "site", SiteConfig(reports_max_units=0))
    thumb = site / "thumbs" / "_blocks.10" / "0.webp"
    before = thumb.read_bytes()
    tags = json.loads((site / THUMB_TAGS).read_text())
    assert set(tags) == {f"thumbs/_blocks.10/{u}.webp" for u in range(2)}
    assert all(re.fullmatch(r"[0-9a-f]{12}", t) for t in tags.values())  # no run paths shown
    rd = RunDir(local)
    acc = rd.read_table("accents")
    rd.write_table("accents", acc[acc.unit != 0])  # unit 0 loses its accentuations
    top = rd.read_table("topk")
    render_site(local, site, SiteConfig(reports_max_units=0))
    after = thumb.read_bytes()
    assert after != before  # now its top natural image
    first = top.query("unit == 0 and kind == 'top' and rank == 0").image_id.iloc[0]
    twin = render_site(local, tmp_path / "fresh", SiteConfig(reports_max_units=0))
    assert (twin / "thumbs" / "_blocks.10" / "0.webp").read_bytes() == after
    assert f"media/images/{first}.webp" not in (site / THUMB_TAGS).read_text()


def _index_bytes(site: Path) -> int:
    """What the index loads before images: the page, its style, scripts and data, with every
    layer's map points (only the first loads at once; the others as the map shows them)."""
    files = [site / p for p in ("index.html", "static/index.js", "static/atlas.css",
                                "data/index.js")]
    return sum(f.stat().st_size for f in [*files, *(site / "data" / "map").glob("*.js")])


def test_index_of_16k_features_stays_under_2_mb(tmp_path: Path) -> None:
    """Measured at two sizes past the cards the HTML holds, the index grows by a fixed amount
    per unit; extrapolated to 2,048 channels and 16,384 features it stays under 2 MB. Every
    unit here has accentuations and labels of each kind (the most a unit's data can say)."""
    sizes = {}
    for features in (FIRST + 20, FIRST + 220):
        run = make_fake_run(tmp_path / f"r{features}", FakeRunConfig(
            units=8, layers=("layer4",), topk=3, bottomk=0, accents=2, frames=0, images=8,
            image_size=16, pool=2, bases=(FakeBasis(layer="layer4", features=features),)))
        site = render_site(run, tmp_path / f"s{features}", SiteConfig(reports_max_units=0))
        sizes[8 + features] = _index_bytes(site)
    (n0, b0), (n1, b1) = sizes.items()
    per_unit = (b1 - b0) / (n1 - n0)
    assert 10 < per_unit < 100, per_unit  # the data grows, and little
    at_scale = b0 + per_unit * (2048 + 16384 - n0)
    print(f"index: {per_unit:.1f} B per unit, {at_scale / 1e6:.2f} MB at 18,432 units")
    assert at_scale < SCALE_LIMIT, (per_unit, sizes, at_scale)


def test_units_missing_from_a_group_are_listed(tmp_path: Path) -> None:
    """A group whose units are not 0..n-1 (``--units`` chose some) says which they are."""
    run = make_fake_run(tmp_path / "run", FakeRunConfig(units=3, layers=("_blocks.10",)))
    rd = RunDir(run)
    for table in TABLES:
        if rd.has(table) and "unit" in TABLES[table]:
            df = rd.read_table(table)
            rd.write_table(table, df[df.unit != 1])
    site = render_site(run, tmp_path / "site", SiteConfig(reports_max_units=0))
    data = script_value(site / "data" / "index.js")
    assert data["groups"][0]["units"] == [0, 2] and data["groups"][0]["n"] == 2
    assert card(data, 1)["href"] == "units/_blocks.10/2.html"
    points = script_value(site / "data" / "map" / "_blocks.10.js")
    assert set(points[2::4]) == {0, 1}  # positions in the group, not unit numbers


def test_a_learned_feature_page_says_how_its_codes_are_read(features_site: Path) -> None:
    """The fake learned basis refines its codes (3 steps) and fine-tuned its decoder alone:
    the page says both, so a reader knows what a feature's value is."""
    page = next(p for p in (features_site / "units").glob("*/0.html") if "sae" in p.parent.name)
    text = " ".join(page.read_text(encoding="utf-8").split())
    assert "then its decoder tuned for 60 steps" in text
    assert "3 steps of least squares on their decoder directions" in text


def test_large_counts_read_with_thousands_separators() -> None:
    from atlas.site.env import num

    assert num(202272) == "202,272" and num(9999) == "9999" and num(254) == "254"
    assert num(0.903) == "0.903" and num(None) == "–"
