"""The static site renderer on fake runs: files, links, data, escaping, partial runs, rebuilds."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from atlas.errors import AtlasError
from atlas.pipeline.rundir import RunDir
from atlas.site.render import render_site
from atlas.site.safe import SITE_CSP
from tests.helpers.fakerun import MINE_TABLES, FakeRunConfig, make_fake_run
from tests.helpers.pages import refs


def units_of(run: Path) -> list[tuple[str, int]]:
    top = RunDir(run).read_table("topk")
    return sorted({(str(r.layer), int(r.unit)) for r in top.itertuples()})


def test_expected_files(fake_run: Path, fake_site: Path) -> None:
    for rel in ("index.html", "about.html", "validation.html", "data/index.js",
                "data/map/_blocks.4.js", "data/tips/_blocks.4.js", "lists/_blocks.4.html",
                "static/atlas.css", "static/index.js", "static/unit.js", ".atlas-site"):
        assert (fake_site / rel).is_file(), rel
    for layer, unit in units_of(fake_run):
        assert (fake_site / "units" / layer / f"{unit}.html").is_file()
        assert (fake_site / "reports" / layer / f"{unit}.html").is_file()
    for rel in ("index.html", "data/index.js", "static/atlas.css"):
        assert (fake_site / rel).stat().st_mode & 0o044 == 0o044  # publishable: not owner-only
    thumbs = list((fake_site / "thumbs").rglob("*.webp"))
    assert len(thumbs) == len(units_of(fake_run))  # one card face per unit, all distinct
    with Image.open(thumbs[0]) as im:
        assert im.format == "WEBP" and max(im.size) <= 128


def test_every_page_is_self_contained_and_strict(fake_site: Path) -> None:
    pages = [p for p in fake_site.rglob("*.html") if "reports" not in p.parts]
    assert len(pages) > 5
    for page in pages:
        r = refs(page)
        assert r.csp == [SITE_CSP], page
        assert r.inline_scripts == 0 and r.style_attrs == 0, page
        for url in r.loads:
            if url.startswith("data:"):
                continue
            assert not re.match(r"^[a-z]+:", url), (page, url)
            target = (page.parent / url.split("#")[0]).resolve()
            assert target.is_file() and target.is_relative_to(fake_site.resolve()), (page, url)
        for url, attrs in r.links:
            if url.startswith("http"):
                assert "noreferrer" in (attrs.get("rel") or ""), url
            elif not url.startswith("#"):
                target = (page.parent / url.split("#")[0]).resolve()
                assert target.is_file() and target.is_relative_to(fake_site.resolve()), (page, url)


def test_full_images_are_lazy(fake_site: Path) -> None:
    html = (fake_site / "units" / "_blocks.10" / "1.html").read_text()
    imgs = re.findall(r"<img [^>]*>", html)
    assert imgs and all('loading="lazy"' in i for i in imgs)


def test_unit_page_content(fake_run: Path, fake_site: Path) -> None:
    rd = RunDir(fake_run)
    html = (fake_site / "units" / "_blocks.10" / "1.html").read_text()
    acc = rd.read_table("accents").query("layer == '_blocks.10' and unit == 1")
    stats = rd.read_table("stats").query("layer == '_blocks.10' and unit == 1").iloc[0]
    emb = rd.read_table("embed").query("layer == '_blocks.10' and unit == 1")
    bottom = rd.read_table("topk").query("layer == '_blocks.10' and unit == 1 and kind == 'bottom'")
    assert html.count('class="accent"') == len(acc)
    for v in acc.final_activation:
        assert f"{v:.3g}" in html
    assert html.count('class="bar"') == len(stats.hist_counts)
    assert html.count('class="mark-acc"') == len(acc)
    assert html.count('class="pt nat"') == (emb.kind == "natural").sum()
    assert html.count('class="pt acc"') == (emb.kind == "accent").sum()
    assert html.count("cluster ") >= emb.cluster.nunique()
    assert 'rel="prev" href="../../units/_blocks.10/0.html"' in html
    assert 'rel="next" href="../../units/_blocks.10/2.html"' in html
    assert 'class="permalink" href="1.html"' in html
    assert 'href="../../reports/_blocks.10/1.html"' in html
    shots = html.split("Least activating")[1].split("</section>")[0]
    assert shots.count("<figure>") == len(bottom)
    assert "Feature visualization" in html and "Author " in html  # credits shown


def test_frames_both_forms(fake_site: Path) -> None:
    html = (fake_site / "units" / "_blocks.4" / "0.html").read_text()
    assert 'class="frames"' in html  # rank 0: one file per step -> strip + player
    assert 'class="anim"' in html  # pool ranks: one animated WebP -> a tile


def _data(site: Path, rel: str = "data/index.js") -> object:
    """A data script's value (``window.X=...;`` or ``(window.X=...)[key]=...;``)."""
    text = (site / rel).read_text().rstrip(";\n")
    return json.loads(text.split("=", 1)[1] if text.startswith("window.") else
                      text.split(")[", 1)[1].split("]=", 1)[1])


def _labels(data: dict, i: int) -> list[list[str]]:
    """Unit ``i``'s label names per kind (data, ablation, accentuation, then a name)."""
    return [[data["words"][int(x, 36)] for x in part.split(",") if x]
            for part in data["labels"][i].split("|")]


def test_index_data_matches_cards(fake_run: Path, fake_site: Path) -> None:
    html = (fake_site / "index.html").read_text()
    assert html.count('class="card"') == len(units_of(fake_run))
    data = _data(fake_site)
    assert len(data["act"]) == len(data["labels"]) == len(data["flags"]) == len(units_of(fake_run))
    rd = RunDir(fake_run)
    first = {t: rd.read_table(t).query("layer == '_blocks.4' and unit == 0").sort_values("rank")
             for t in ("labels", "classes", "causal")}
    assert _labels(data, 0) == [list(first["classes"].name), list(first["causal"].class_name),
                                list(first["labels"].class_name)]
    points = RunDir(fake_run).read_table("layer_map")
    flat = [_data(fake_site, f"data/map/{g['slug']}.js") for g in data["groups"]]
    assert sum(len(v) for v in flat) == 4 * len(points)
    for g in data["groups"]:
        pre, suf, mids = _data(fake_site, f"data/tips/{g['slug']}.js")
        assert mids and all((fake_site / (pre + mid + suf)).is_file()
                            for ranks in mids.values() for mid in ranks.values())


def test_payloads_are_escaped(evil_site: Path) -> None:
    pages = list(evil_site.rglob("*.html"))
    assert len(pages) > 5
    for page in pages:
        html = page.read_text()
        assert "<script>alert" not in html and "<img src=x" not in html, page
        assert "javascript:" not in html, page
        r = refs(page)
        assert r.handlers == [] and all(src != "x" for src in r.loads), page
    index = (evil_site / "index.html").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in index
    about = (evil_site / "about.html").read_text()
    assert "&lt;/script&gt;&lt;script&gt;alert(1)" in about  # config text
    assert "&#34;onerror=alert(1).png" in about  # file name in the credits
    for js in (evil_site / "data").glob("*.js"):
        body = js.read_text().split("=", 1)[1]
        assert "<" not in body and ">" not in body, js
    assert "\\u003cscript\\u003e" in (evil_site / "data" / "index.js").read_text()
    layer_dirs = [p.name for p in (evil_site / "units").iterdir()]
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", d) for d in layer_dirs)
    assert len(layer_dirs) == 3


def test_mine_only_run_renders(tmp_path: Path) -> None:
    run = make_fake_run(tmp_path / "run", FakeRunConfig(tables=MINE_TABLES, units=2))
    site = render_site(run, tmp_path / "site")
    html = (site / "units" / "_blocks.4" / "1.html").read_text()
    assert "Top images" in html and "Activation distribution" in html
    assert "Accentuations" not in html and "Manifestation map" not in html
    index = (site / "index.html").read_text()
    assert index.count('class="card"') == 4 and 'id="map-canvas"' not in index
    assert len(list((site / "thumbs").rglob("*.webp"))) == 4  # faces: top natural images


def test_rebuild_removes_stale_and_keeps_foreign_dirs_safe(tmp_path: Path) -> None:
    big = make_fake_run(tmp_path / "big", FakeRunConfig(units=3, layers=("a", "b")))
    small = make_fake_run(tmp_path / "small", FakeRunConfig(units=1, layers=("a",)))
    out = render_site(big, tmp_path / "site")
    assert (out / "units" / "b" / "2.html").is_file()
    render_site(small, out)
    assert not (out / "units" / "b").exists() and not (out / "units" / "a" / "2.html").exists()
    assert (out / "units" / "a" / "0.html").is_file()
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / ".gitkeep").write_text("")
    render_site(small, kept)  # hidden files alone do not make a folder precious
    assert (kept / ".gitkeep").is_file() and (kept / "index.html").is_file()
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("x")
    with pytest.raises(AtlasError, match="not empty and not an atlas site"):
        render_site(small, precious)
    with pytest.raises(AtlasError, match="not a run directory"):
        render_site(precious, tmp_path / "site2")




def test_long_top_lists_fold_on_the_page_and_stop_in_the_report(tmp_path: Path) -> None:
    """30 top images, 27 of them above the unit's 90th percentile: 24 shown, 3 more folded,
    3 weak ones apart; the report keeps 12."""
    run = make_fake_run(tmp_path / "run", FakeRunConfig(layers=("a",), units=1, topk=30,
                                                         accents=1, images=40, pool=1))
    rd = RunDir(run)
    acts = rd.read_table("topk").query("kind == 'top'").sort_values("rank").activation
    stats = rd.read_table("stats")
    stats.loc[0, "q90"] = float(acts.iloc[26]) - 1e-6
    rd.write_table("stats", stats)
    site = render_site(run, tmp_path / "site")
    page = (site / "units" / "a" / "0.html").read_text()
    top = page.split("<h2>Top images</h2>")[1].split("</section>")[0]
    more = top.split('<details class="more">')[1].split("</details>")[0]
    weak = top.split('<details class="more weak">')[1]
    assert "27 images above the 90th percentile" in top
    assert top.count("<figure>") == 30 and more.count("<figure>") == 3
    assert weak.count("<figure>") == 3
    report = (site / "reports" / "a" / "0.html").read_text()
    top = report.split("<h2>Top images</h2>")[1].split("</section>")[0]
    assert top.count("<figure>") == 12 and "15 next top images" in top
    assert "3 weak images" in top


# ---- issue 12: where, labels by kind, the top threshold, glossary, export, title ----------

def _unit_html(site: Path, layer: str = "_blocks.10", unit: int = 1) -> str:
    return (site / "units" / layer / f"{unit}.html").read_text()


def test_every_shot_has_a_tiny_heatmap_and_a_crop(fake_run: Path, fake_site: Path) -> None:
    import base64
    import io

    where = RunDir(fake_run).read_table("where").query("layer == '_blocks.10' and unit == 1")
    html = _unit_html(fake_site)
    heats = re.findall(r'<svg class="heat"[^>]*><image href="data:image/png;base64,([^"]+)"', html)
    assert len(heats) == len(where) == html.count('<svg class="crop"')
    with Image.open(io.BytesIO(base64.b64decode(heats[0]))) as im:
        assert im.mode == "RGBA" and im.size == (int(where.map_w.iloc[0]), int(where.map_h.iloc[0]))
    assert max(len(h) for h in heats) < 1200  # a few hundred bytes each: 72 per page stay light
    top0 = where.query("kind == 'top' and rank == 0").iloc[0]
    b = [float(v) for v in top0.box]
    w = h = 64  # the fake photos' size
    want = " ".join(f"{v:.2f}".rstrip("0").rstrip(".") for v in (
        b[0] * w, b[1] * h, (b[2] - b[0]) * w, (b[3] - b[1]) * h))
    assert f'<svg class="crop" viewBox="{want}"' in html  # the receptive-field box of rank 0
    assert html.count('class="vw"') == 3 and 'value="heat" checked' in html
    report = (fake_site / "reports" / "_blocks.10" / "1.html").read_text()
    assert report.count('<svg class="heat"') >= 1 and report.count('<svg class="crop"') >= 1
    assert 'href="../../units/_blocks.10/1.html"' in report  # back to its page in the site


def test_heat_colours_follow_the_shared_scale() -> None:
    from atlas.site.heat import colour

    c = colour(np.array([0.0, 0.2, 0.5, 1.0, 2.0, float("nan")]))
    alpha = list(c[:5, 3])
    assert alpha[0] == alpha[1] == 0 and c[5, 3] == 0  # quiet (and unknown): the plain photo
    assert alpha[1] < alpha[2] < alpha[3] == alpha[4]  # rises with heat, clips at the top
    assert c[2, 0] > 150 and c[2, 2] < 120 and c[3, :3].sum() > 600  # red, then yellow-white


def test_labels_are_named_by_kind_and_searchable(fake_run: Path, fake_site: Path) -> None:
    rd = RunDir(fake_run)
    html = _unit_html(fake_site)
    classes = rd.read_table("classes").query("layer == '_blocks.10' and unit == 1")
    causal = rd.read_table("causal").query("layer == '_blocks.10' and unit == 1")
    for c in classes.itertuples():
        assert (f"<b>{c.name}</b>" in html
                and f"{c.count} of {c.top_n} top images, "
                    f"{round(100 * c.data_count / c.data_total)}% of the data" in html)
    first = causal.sort_values("rank").iloc[0]
    drop = f"−{100 * first['drop']:.1f} pts" if first["drop"] >= 0.0005 else "−<0.1 pts"
    assert f"ablating this unit lowers: <b>{first.class_name}</b> {drop}" in html
    for kind in ("Dataset classes", "Causal effect", "Accentuation effect"):
        assert kind in html
    assert "mean logit increase" in html and 'href="../../about.html#g-causal"' in html
    about = (fake_site / "about.html").read_text()
    for key in ("dataset-classes", "causal", "accentuation-effect", "heatmap", "top", "weak"):
        assert f'<dt id="g-{key}" tabindex="-1">' in about


def test_model_class_labels_hidden_for_random_weights(tmp_path: Path) -> None:
    run = make_fake_run(tmp_path / "run", FakeRunConfig(units=2, weights="none"))
    site = render_site(run, tmp_path / "site")
    html = _unit_html(site)
    assert "Dataset classes" in html and "random weights" in html
    assert "ablating this unit lowers" not in html and 'class="chips accent-effect"' not in html
    assert "mean logit increase" not in html
    data = _data(site)
    classes = RunDir(run).read_table("classes").query("layer == '_blocks.4' and unit == 0")
    assert _labels(data, 0) == [list(classes.sort_values("rank").name)]  # no model classes
    rec = json.loads((site / "units" / "_blocks.10" / "1.json").read_text())
    assert rec["dataset_classes"] and rec["causal_effect"].startswith("hidden")
    assert rec["accentuation_effect"].startswith("hidden")


def test_new_label_strings_are_escaped(evil_site: Path) -> None:
    layer = next(p.name for p in (evil_site / "units").iterdir() if p.name == "_blocks.10")
    html = _unit_html(evil_site, layer, 0)
    assert "<b>&lt;script&gt;alert(1)&lt;/script&gt;</b>" in html  # a dataset class name
    assert "<b>&#34;onerror=alert(1)</b>" in html  # a causal class name
    assert "<script>alert" not in html and refs(evil_site / "units" / layer / "0.html"
                                               ).handlers == []
    rows = (evil_site / "units" / layer / "units.csv").read_text()
    assert "<script>alert(1)</script>" in rows  # CSV is data: text as it is, never markup
    from atlas.site.tabular import cell

    assert cell("=HYPERLINK(1)") == "'=HYPERLINK(1)" and cell("-1.5") == "'-1.5"
    assert cell(-1.5) == -1.5 and cell("tench") == "tench"


def test_top_means_above_the_90th_percentile(tmp_path: Path) -> None:
    """k = 12 of 16 images: most are ordinary for the unit, so only those above q90 are top."""
    run = make_fake_run(tmp_path / "run", FakeRunConfig(units=1, layers=("a",), topk=12,
                                                         images=16, accents=1, pool=1))
    rd = RunDir(run)
    top = rd.read_table("topk").query("kind == 'top'").sort_values("rank")
    stats = rd.read_table("stats")
    stats.loc[0, "q90"] = float(top.activation.iloc[8]) - 1e-6  # nine images above it
    stats.to_parquet(run / "stats.parquet", index=False)
    site = render_site(run, tmp_path / "site")
    html = _unit_html(site, "a", 0)
    section = html.split("<h2>Top images</h2>")[1].split("</section>")[0]
    assert "9 images above the 90th percentile" in section and "3 more of the 12 kept" in section
    grid, weak = section.split('<details class="more weak">')
    assert grid.count("<figure>") == 9 and weak.count("<figure>") == 3
    for v in top.activation.iloc[9:]:
        assert f'<span class="act">{float(v):.3g}</span>' not in grid  # weak: never shown as top
    rec = json.loads((site / "units" / "a" / "0.json").read_text())
    assert len(rec["top"]) == 9 and len(rec["weak"]) == 3 and rec["top_rule"]["above"] == 9


def test_export_json_and_csv_beside_the_pages_and_from_the_cli(fake_run: Path, fake_site: Path,
                                                               tmp_path: Path) -> None:
    import csv as csvlib

    from atlas.site.export import export_run

    page = fake_site / "units" / "_blocks.10" / "1.html"
    rec = json.loads(page.with_suffix(".json").read_text())
    assert (rec["layer"], rec["unit"]) == ("_blocks.10", 1)
    shots = rec["top"] + rec["weak"] + rec["bottom"]
    assert shots and all((page.parent / s["media"]).is_file() for s in shots)
    assert all(len(s["where"]["map"]) == s["where"]["map_h"] * s["where"]["map_w"]
               for s in shots)
    assert 'href="1.json" download=' in page.read_text()
    rows = list(csvlib.DictReader((fake_site / "units" / "_blocks.10" / "units.csv").open()))
    assert [int(r["unit"]) for r in rows] == sorted({u for layer, u in units_of(fake_run)
                                                     if layer == "_blocks.10"})
    assert 'href="units/_blocks.10/units.csv"' in (fake_site / "index.html").read_text()
    about = (fake_site / "about.html").read_text()
    assert 'href="tables/topk.csv"' in about and 'href="tables/where.parquet"' in about
    assert (fake_site / "tables" / "classes.csv").is_file()
    root, files = export_run(fake_run, "json", tmp_path / "exp")
    units = [f for f in files if f.parent.parent == root / "units"]  # beside them: classes/
    assert len(units) == len(units_of(fake_run)) and root == tmp_path / "exp"
    again = json.loads((root / "units" / "_blocks.10" / "1.json").read_text())
    assert again["top"][0]["media"].startswith("media/")  # run-relative from the CLI
    _, csvs = export_run(fake_run, "csv", tmp_path / "exp")
    assert sorted(p.name for p in csvs) == ["_blocks.10.csv", "_blocks.4.csv", "classes.csv",
                                            "connections.csv", "failures.csv"]
    with pytest.raises(AtlasError, match="valid: json, csv"):
        export_run(fake_run, "xml")


def test_title_defaults_to_model_layer_data() -> None:
    from atlas.site.title import site_title

    cfg = {"model": {"name": "efficientnet-lite0"}, "mine": {"layers": ["_blocks.10"]},
           "data": {"images": "bundled"}, "site": {"title": ""}}
    assert site_title({"name": "demo", "config": cfg}, "x")[0] == \
        "efficientnet-lite0 · _blocks.10 · bundled"
    folder = {**cfg, "data": {"images": "imagefolder:/data/photos/"}}
    assert site_title({"name": "demo", "config": folder}, "x")[0].endswith("· photos")
    assert site_title({"name": "birds", "config": cfg}, "x")[0] == "birds"
    titled = {**cfg, "site": {"title": "My atlas"}}
    assert site_title({"name": "birds", "config": titled}, "x")[0] == "My atlas"
    assert site_title({"name": "birds", "config": cfg}, "x", given="Given")[0] == "Given"
    assert site_title({}, "folder")[0] == "folder"


def test_missing_validation_page_is_linked_with_its_command(tmp_path: Path) -> None:
    run = make_fake_run(tmp_path / "run", FakeRunConfig(units=1))
    site = render_site(run, tmp_path / "site")
    about = (site / "about.html").read_text()
    assert 'id="validation-missing"' in about
    assert f"atlas validate --model fake-net --images folder:/data/photos --layer _blocks.4 " \
           f"--layer _blocks.10 --out {run}" in about
    assert 'href="about.html#validation-missing"' in (site / "index.html").read_text()


def test_runs_without_the_describe_tables_still_render(tmp_path: Path) -> None:
    run = make_fake_run(tmp_path / "run", FakeRunConfig(units=1))
    for t in ("where", "classes", "causal"):
        (run / f"{t}.parquet").unlink()
    html = _unit_html(render_site(run, tmp_path / "site"), "_blocks.10", 0)
    assert "Top images" in html and '<svg class="heat"' not in html and 'class="vw"' not in html
    assert "Dataset classes" not in html and "Accentuation effect" in html
