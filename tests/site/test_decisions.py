"""Class pages, the Failures page, unit connections and their exports, rendered from fake runs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from atlas.pipeline.rundir import RunDir
from atlas.site.export import export_run
from atlas.site.load import load_atlas
from atlas.site.render import SiteConfig, render_site
from atlas.site.render_decisions import mapping_counts
from tests.helpers.fakedecisions import CLASS_NAMES, PAYLOAD_CLASS, fake_decisions
from tests.helpers.fakerun import PAYLOADS, FakeRunConfig, make_fake_run


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = make_fake_run(tmp_path_factory.mktemp("run"), FakeRunConfig())
    return root, fake_decisions(root)


@pytest.fixture(scope="module")
def site(run, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render_site(run[0], tmp_path_factory.mktemp("site") / "out",
                       SiteConfig(reports_max_units=-1))


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def test_every_predicted_class_has_a_page_with_its_images_and_drivers(run, site: Path) -> None:
    root, fake = run
    preds = fake["preds"]
    for cls in fake["classes"]:
        html = _text(site / "classes" / f"{cls}.html")
        mine = preds[preds["class_index"] == cls]
        assert html.count('class="pred') == len(mine)
        best = mine.sort_values("prob", ascending=False).iloc[0]
        assert f"{100 * best.prob:.1f}%" in html
    causal = RunDir(root).read_table("causal")
    for cls in fake["classes"]:
        drivers = causal[causal["class_index"] == cls]
        html = _text(site / "classes" / f"{cls}.html")
        for r in drivers.itertuples():  # fewer than 5 per layer here: every one is listed
            assert f'href="../units/{r.layer}/{r.unit}.html"' in html
    accented = _text(site / "classes" / "100.html")
    assert "Accentuation toward tench" in accented and "classes/100/class-2/acc.webp" in accented
    other = _text(site / "classes" / "101.html")
    assert "Not accentuated: this build accentuates 1 classes" in other


def test_unit_pages_link_inputs_feeds_and_classes(site: Path) -> None:
    late = _text(site / "units" / "_blocks.10" / "0.html")
    inputs = re.findall(r'<ul class="links" id="u-_blocks.10-0-in-(up|down)">(.*?)</ul>', late,
                        re.S)
    up, down = dict(inputs)["up"], dict(inputs)["down"]
    assert up.index('href="../../units/_blocks.4/0.html"') < up.index(
        'href="../../units/_blocks.4/1.html"')  # strongest first
    assert 'href="../../units/_blocks.4/2.html"' in down and "−0.3" in down
    assert up.count(">shortcut</span>") == 1 and 'class="link shortcut"' in up
    early = _text(site / "units" / "_blocks.4" / "1.html")
    assert "Feeds _blocks.10" in early
    assert 'href="../../units/_blocks.10/0.html"' in early  # unit 0 lists it (+0.5)
    assert 'href="../../units/_blocks.10/1.html"' in early  # its shortcut
    assert "Inputs from" not in early
    # classes it drives: the causal classes that have pages, linked
    assert 'href="../../classes/100.html"' in _text(site / "units" / "_blocks.10" / "0.html")


def test_failures_page_states_the_mapping_and_shows_the_pair(run, site: Path) -> None:
    root, fake = run
    html = _text(site / "failures.html")
    labels = RunDir(root).read_table("label_map")
    mapped = int((labels["class_index"] >= 0).sum())
    assert f"{mapped} of {len(labels)} labels</strong> map to a model class" in html
    first = fake["wrong"].iloc[0]
    section = html[html.index('id="f-0"'):html.index("</section>", html.index('id="f-0"'))]
    assert "classes/" in section and section.count("/acc.webp") == 2
    assert "toward the predicted class" in section and "toward the true class" in section
    assert f"predicted <a href=\"classes/{first.class_index}.html\">" in section
    rest = fake["wrong"].iloc[1:]
    assert html.count('<tr id="f-') == len(rest)


def test_mapping_counts_name_each_way_once() -> None:
    from atlas.site.decisions import Decisions, LabelRow

    d = Decisions(labels=[LabelRow("a", 1, 3, "x", "exact", []), LabelRow("b", 2, -1, "", "none",
                                                                        []),
                          LabelRow("c", 1, 4, "y", "exact", []),
                          LabelRow("d", 1, -1, "", "ambiguous", ["x", "y"])])
    assert mapping_counts(d) == [("exact", 2), ("ambiguous", 1), ("not matched", 1)]
    assert d.mapped_labels == 2


def test_index_lists_classes_and_nav_links(run, site: Path) -> None:
    html = _text(site / "index.html")
    for cls, name in CLASS_NAMES.items():
        assert f'<a href="classes/{cls}.html">{name}</a>' in html
    assert 'href="failures.html"' in html and "static/classes.js" in html
    assert (site / "static" / "classes.js").is_file()
    assert (site / "static" / "decisions.css").is_file()


def test_class_json_and_reports(run, site: Path) -> None:
    rec = json.loads(_text(site / "classes" / "100.json"))
    assert rec["class"] == "tench" and rec["accentuation"]["prob_after"] == 0.97
    media = rec["accentuation"]["accent_media"]
    assert media.startswith("../media/") and (site / "classes" / media).resolve().is_file()
    report = _text(site / "reports" / "classes" / "100.html")
    assert "http" not in re.sub(r'href="[^"]*"', "", report).replace("http-equiv", "")
    assert 'src="data:image/webp;base64,' in report and "<script" not in report
    unit = json.loads(_text(site / "units" / "_blocks.10" / "0.json"))
    assert [i["unit"] for i in unit["inputs"]] == [0, 1, 2] and unit["inputs"][0]["shortcut"]
    assert {c["class_index"] for c in unit["class_pages"]} <= set(CLASS_NAMES)


def test_export_writes_decision_tables(run, tmp_path: Path) -> None:
    root, fake = run
    out, written = export_run(root, "csv", tmp_path / "csv")
    conn = pd.read_csv(out / "connections.csv")
    assert len(conn) == len(RunDir(root).read_table("connections"))
    classes = pd.read_csv(out / "classes.csv")
    assert sorted(classes["class_index"]) == fake["classes"]
    assert len(pd.read_csv(out / "failures.csv")) == len(fake["wrong"])
    out, written = export_run(root, "json", tmp_path / "json")
    assert {p.name for p in (out / "classes").iterdir()} == {f"{c}.json" for c in fake["classes"]}


def test_user_text_in_class_names_and_labels_is_escaped(tmp_path: Path) -> None:
    root = make_fake_run(tmp_path / "evil", FakeRunConfig(payload=True, units=2))
    site = render_site(root, tmp_path / "site")
    for page in (site / "classes" / f"{PAYLOAD_CLASS}.html", site / "failures.html",
                 site / "index.html"):
        html = _text(page)
        for p in PAYLOADS:
            assert p not in html, (page, p)
        assert "&lt;script&gt;" in html or "&lt;img" in html or "&#34;onerror" in html


def test_a_run_without_decision_tables_has_no_class_pages(tmp_path: Path) -> None:
    root = make_fake_run(tmp_path / "run", FakeRunConfig())
    out = tmp_path / "site"
    render_site(root, out)
    assert (out / "failures.html").is_file() and (out / "classes").is_dir()
    for t in ("predictions", "label_map", "class_accents", "connections"):
        RunDir(root).table_path(t).unlink()
    render_site(root, out)  # a re-render drops the pages whose data is gone
    assert not (out / "failures.html").exists() and not list(out.glob("classes/*"))
    html = _text(out / "index.html")
    assert 'id="classes"' not in html and "failures.html" not in html
    assert "Connections" not in _text(out / "units" / "_blocks.10" / "0.html")
    assert load_atlas(root).decisions.classes == []


def test_labels_without_a_mapped_class_say_so(tmp_path: Path) -> None:
    root = make_fake_run(tmp_path / "run", FakeRunConfig())
    run = RunDir(root)
    lm = run.read_table("label_map")
    lm["class_index"], lm["class_name"], lm["how"] = -1, "", "none"
    run.write_table("label_map", lm)
    p = run.read_table("predictions")
    p["true_index"], p["correct"], p["true_prob"] = -1, -1, float("nan")
    run.write_table("predictions", p)
    site = render_site(root, tmp_path / "site")
    html = _text(site / "failures.html")
    assert f"0 of {len(lm)} labels</strong>" in html
    assert "No failures can be told: no image's label maps to a model class." in html


def test_report_command_makes_a_class_report(run, tmp_path: Path) -> None:
    from atlas.cli.main import main

    out = tmp_path / "tench.html"
    assert main(["report", str(run[0]), "--class", "Tench", "--out", str(out)]) == 0
    html = _text(out)
    assert "<h1>tench</h1>" in html and 'src="data:image/webp;base64,' in html
    assert main(["report", str(run[0]), "--class", "100", "--out", str(out)]) == 0


@pytest.mark.parametrize(("args", "message"), [
    (["--class", "tenhc"], "unknown class with a page 'tenhc'; closest: tench"),
    ([], "give --units LAYER:UNIT[,...] or --class NAME"),
    (["--class", "tench", "--units", "_blocks.10:0"], "give --units"),
])
def test_report_command_faults_are_one_line(run, tmp_path: Path, capsys, args, message) -> None:
    from atlas.cli.main import main

    assert main(["report", str(run[0]), *args, "--out", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("atlas: error:") and message in err and "\n" not in err
