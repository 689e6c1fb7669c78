"""The rendered site in a real browser (Debian's Chromium via Playwright), from file://.

These tests fail, never skip, when Chromium cannot start: a site nobody checked in a browser is
not checked. Screenshots (desktop and phone) go to test-output/ for people to look at.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect

from atlas.pipeline.rundir import RunDir
from tests.helpers.browser import DESKTOP, PHONE, SHOTS, SHOWN, load_all, open_page
from tests.helpers.fakerun import PAYLOADS

pytestmark = pytest.mark.browser


def visible_cards(page) -> int:
    return page.locator("#cards .card:visible").count()


def test_index_search_filter_sort(browser, fake_site: Path, fake_run: Path) -> None:
    page, log = open_page(browser, (fake_site / "index.html").as_uri())
    total = len(RunDir(fake_run).read_table("stats"))
    assert visible_cards(page) == total
    labels = RunDir(fake_run).read_table("labels")
    goldfish = labels[labels.class_name == "goldfish"][["layer", "unit"]].drop_duplicates()
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.type("goldfish")
    assert 0 < visible_cards(page) == len(goldfish) < total
    assert "of" in page.locator("#count").inner_text()
    page.fill("#q", "2")  # a unit number: unit 2 of every layer
    assert visible_cards(page) == 2
    page.fill("#q", "")
    page.select_option("#layer", index=2)  # the second layer
    assert visible_cards(page) == total // 2
    page.select_option("#layer", "")
    page.select_option("#sort", "act")
    stats = RunDir(fake_run).read_table("topk").query("kind == 'top' and rank == 0")
    best = stats.sort_values("activation", ascending=False).iloc[0]
    first = page.locator("#cards .card").first.get_attribute("href")
    assert first == f"units/{best.layer}/{best.unit}.html"
    page.select_option("#sort", "div")
    emb = RunDir(fake_run).read_table("embed").query("unit >= 0 and kind == 'natural'")
    most = emb.groupby(["layer", "unit"]).cluster.nunique().max()
    first = page.locator("#cards .card").first
    expect(first).to_contain_text(f"{most} clusters")  # waits for the re-sorted cards to paint
    page.focus("#sort")
    for _ in range(10):  # past the hint's glossary links, to the first card
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.className") == "card":
            break
    assert page.evaluate("document.activeElement.className") == "card"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
    log.check()


def test_card_click_opens_unit_page(browser, fake_site: Path) -> None:
    page, log = open_page(browser, (fake_site / "index.html").as_uri())
    href = "units/_blocks.10/1.html"  # a unit with a next one in its layer
    with page.expect_navigation():
        page.locator(f'#cards .card[href="{href}"]').click()
    assert page.url.endswith(href)
    assert page.locator("h1").inner_text().startswith("Unit")
    with page.expect_navigation():
        page.keyboard.press("ArrowRight")  # next unit by keyboard
    assert page.url.endswith("units/_blocks.10/2.html")
    log.check()


def test_map_hover_shows_thumbnail_and_click_opens_unit(browser, fake_site: Path) -> None:
    page, log = open_page(browser, (fake_site / "index.html").as_uri())
    page.locator("#map-canvas").scroll_into_view_if_needed()
    page.wait_for_function("() => (window.ATLAS_MAPS || {})['_blocks.4']")  # the map's data
    pos = page.evaluate("""() => {
        const c = document.getElementById('map-canvas').getBoundingClientRect();
        const p = window.ATLAS_MAPS['_blocks.4'];
        let i = 0;
        while (p[i + 3] < 0) i += 4;  // the first accentuation (a unit's own point has -1)
        const x = p[i] / 1000, y = p[i + 1] / 1000;
        return [c.left + 14 + x * (c.width - 28), c.top + 14 + (1 - y) * (c.height - 28)];
    }""")
    assert page.locator("#map-tip").is_hidden()
    page.mouse.move(pos[0], pos[1])
    tip = page.locator("#map-tip")
    assert tip.is_visible() and "unit" in tip.inner_text()
    page.wait_for_function("() => document.getElementById('map-tip-img').naturalWidth > 0")
    with page.expect_navigation():
        page.mouse.click(pos[0], pos[1])
    assert "/units/" in page.url and "-acc-" in page.url
    log.check()


def test_map_works_from_the_keyboard(browser, fake_site: Path) -> None:
    page, log = open_page(browser, (fake_site / "index.html").as_uri())
    page.focus("#map-canvas")
    page.keyboard.press("ArrowRight")
    assert page.locator("#map-tip").is_visible()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "/units/" in page.url
    log.check()


def test_unit_page_images_load_and_player_runs(browser, fake_site: Path) -> None:
    page, log = open_page(browser, (fake_site / "units" / "_blocks.4" / "0.html").as_uri())
    load_all(page)
    broken = page.evaluate(f"{SHOWN}.filter(i => !i.naturalWidth).map(i => i.src)")
    assert broken == []
    assert page.locator(".player input[type=range]").count() == 1
    assert page.locator(".frames").first.is_hidden()  # the strip gave way to the player
    before = page.locator(".player img").get_attribute("src")
    page.wait_for_function(
        "s => document.querySelector('.player img').getAttribute('src') !== s", arg=before)
    log.check()


def test_validation_page_loads_its_chart(browser, fake_site: Path) -> None:
    page, log = open_page(browser, (fake_site / "index.html").as_uri())
    with page.expect_navigation():
        page.get_by_role("link", name="Validation").click()  # the nav link
    load_all(page)
    chart = page.locator("figure.vchart img")
    assert chart.count() == 1 and chart.evaluate("i => i.naturalWidth") == 640
    assert page.locator(".verdict.yes").count() >= 1 and page.locator(".verdict.no").count() >= 1
    assert page.evaluate("document.documentElement.scrollWidth") <= DESKTOP["width"]
    log.check()


def test_report_opens_on_its_own(browser, fake_site: Path, tmp_path: Path) -> None:
    alone = tmp_path / "shared-report.html"
    shutil.copyfile(fake_site / "reports" / "_blocks.10" / "1.html", alone)
    page, log = open_page(browser, alone.as_uri())
    assert page.locator("article.unit").count() == 1
    assert page.evaluate("getComputedStyle(document.querySelector('.block')).borderRadius") \
        == "10px"  # the inline stylesheet applied under its CSP hash
    broken = page.evaluate("[...document.images].filter(i => !i.naturalWidth).length")
    assert broken == 0 and page.evaluate("document.images.length") > 5
    assert [u for u in log.requests if not u.startswith("data:")] == [alone.as_uri()]
    log.check()


def test_payloads_show_as_text_and_never_run(browser, evil_run: Path, evil_site: Path) -> None:
    units = len(RunDir(evil_run).read_table("stats")) // 3  # per layer; the third is a payload
    pages = ["index.html", "about.html"] + [
        p.relative_to(evil_site).as_posix() for p in (evil_site / "units").rglob("*.html")][:3]
    for rel in pages:
        page, log = open_page(browser, (evil_site / rel).as_uri())
        load_all(page)  # every lazy image (an injected onerror would fire on one) is loaded
        text = page.locator("body").inner_text()
        assert PAYLOADS[0] in text, rel  # the label, literally
        if rel == "about.html":
            page.locator("details summary").last.click()
            text = page.locator("body").inner_text()
            assert PAYLOADS[1] + ".png" in text and "</script><script>alert(1)" in text
        if rel == "index.html":
            assert PAYLOADS[2] in text  # the layer name
            page.fill("#q", PAYLOADS[2])  # as a search: the payload layer's cards only
            expect(page.locator("#count")).to_have_text(f"{units} of {3 * units} units")
        log.check()
        page.close()


@pytest.mark.parametrize("name,viewport", [("desktop", DESKTOP), ("phone", PHONE)])
def test_screenshots(browser, fake_site: Path, name: str, viewport: dict) -> None:
    SHOTS.mkdir(exist_ok=True)
    for rel, shot in (("index.html", "index"), ("units/_blocks.10/1.html", "unit"),
                      ("about.html", "about")):
        page, log = open_page(browser, (fake_site / rel).as_uri(), viewport)
        load_all(page)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= viewport["width"], f"{rel} scrolls sideways at {name} width"
        page.screenshot(path=str(SHOTS / f"site-{shot}-{name}.png"), full_page=True)
        log.check()
        page.close()


SHOWN_AT_CENTRE = """el => { const r = el.getBoundingClientRect();
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    return hit && hit.tagName === 'IMG' && hit.naturalWidth > 0 ? hit.className : null; }"""


def test_flip_between_seed_and_accentuation(browser, fake_site: Path) -> None:
    """The large image flips in place: by mouse (hover peeks, a click on the button pins) and
    by keyboard (Tab to the button, Space / Enter); what is hit at its centre is what shows."""
    page, log = open_page(browser, (fake_site / "units" / "_blocks.10" / "1.html").as_uri())
    load_all(page)
    flip = page.locator(".flip").first
    stage, button = flip.locator(".flip-stage"), flip.locator("button.flip-btn")
    stage.scroll_into_view_if_needed()
    assert stage.bounding_box()["width"] >= 300  # big enough to see a change
    assert stage.evaluate(SHOWN_AT_CENTRE) == "flip-accent"
    stage.hover()
    assert stage.evaluate(SHOWN_AT_CENTRE) == "flip-seed"
    assert flip.locator(".b-seed").is_visible() and not flip.locator(".b-accent").is_visible()
    page.mouse.move(1, 1)
    assert stage.evaluate(SHOWN_AT_CENTRE) == "flip-accent"
    button.click()
    assert button.get_attribute("aria-pressed") == "true"
    page.mouse.move(1, 1)
    assert stage.evaluate(SHOWN_AT_CENTRE) == "flip-seed"  # pinned, the pointer gone
    button.click()
    assert stage.evaluate(SHOWN_AT_CENTRE) == "flip-accent"
    page.focus(".pager .permalink")
    for _ in range(30):  # tab to the first flip button, as a keyboard user would
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('flip-btn')"):
            break
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
    page.keyboard.press("Space")
    assert stage.evaluate(SHOWN_AT_CENTRE) == "flip-seed"
    page.keyboard.press("Enter")
    assert stage.evaluate(SHOWN_AT_CENTRE) == "flip-accent"
    log.check()


def test_flip_by_tap_on_a_phone(browser, fake_site: Path) -> None:
    ctx = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True)
    page = ctx.new_page()
    page.goto((fake_site / "units" / "_blocks.10" / "1.html").as_uri())
    load_all(page)
    stage = page.locator(".flip-stage").first
    stage.scroll_into_view_if_needed()
    assert stage.bounding_box()["width"] >= PHONE["width"] - 80  # full width, less the margins
    stage.tap()
    assert stage.evaluate(SHOWN_AT_CENTRE) == "flip-seed"
    stage.tap()
    assert stage.evaluate(SHOWN_AT_CENTRE) == "flip-accent"
    ctx.close()


def test_change_view_and_activation_scale(browser, fake_site: Path, fake_run: Path) -> None:
    """Every row shows its amplified change with the factor; activations are percentiles or
    multiples of the best photo, explained on the page; the negative seed gets no ratio."""
    page, log = open_page(browser, (fake_site / "units" / "_blocks.10" / "1.html").as_uri())
    load_all(page)
    rows = page.locator(".accent")
    changes = page.locator("figure.change")
    assert changes.count() == rows.count() == 3
    assert changes.first.locator("img").evaluate("i => i.naturalWidth") > 0
    assert changes.first.locator("figcaption").inner_text() == "change ×4"
    assert "mid-grey is unchanged" in changes.first.locator("figcaption").get_attribute("title")
    note = page.locator(".scale-note")
    assert note.is_visible() and "percentile" in note.inner_text()
    assert "multiple" in note.inner_text()
    results = page.locator(".standing .result dd").all_inner_texts()
    assert len(results) == 3 and all(t.endswith("× the best photo") for t in results)
    seeds = page.locator(".standing div:first-child dd")
    assert "below every natural image" in seeds.all_inner_texts()  # the negative seed
    assert all(seeds.nth(i).get_attribute("title") for i in range(seeds.count()))
    body = page.locator("body").inner_text()
    acc = RunDir(fake_run).read_table("accents").query("layer == '_blocks.10' and unit == 1")
    assert (acc.gain < 0).any()
    assert "×-" not in body and "×−" not in body
    assert all(f"{g:.3g}" not in body for g in acc.gain if g < 0)
    log.check()
    index, log = open_page(browser, (fake_site / "index.html").as_uri())
    strength = index.locator("#cards .card .strength")
    assert strength.count() == index.locator("#cards .card").count()
    assert "× the best photo" in strength.first.inner_text()
    assert "strongest accentuation" in strength.first.get_attribute("title")
    assert index.locator(".scale-note").is_visible()
    log.check()


def test_report_flips_on_hover_without_script(browser, fake_site: Path) -> None:
    report = fake_site / "reports" / "_blocks.10" / "1.html"
    page, log = open_page(browser, report.as_uri())
    assert page.locator("button.flip-btn").count() == 0  # no script there, so no dead button
    stage = page.locator(".flip-stage").first
    stage.scroll_into_view_if_needed()
    assert stage.evaluate(SHOWN_AT_CENTRE) == "flip-accent"
    stage.hover()
    assert stage.evaluate(SHOWN_AT_CENTRE) == "flip-seed"
    assert page.locator("figure.change").count() >= 1
    log.check()


# ---- issue 12: heatmaps, label search, export, glossary ------------------------------------

HEAT_SHOWN = "el => getComputedStyle(el).display !== 'none' && el.getBoundingClientRect().width > 0"


def test_heatmap_toggle_changes_what_is_shown(browser, fake_site: Path) -> None:
    page, log = open_page(browser, (fake_site / "units" / "_blocks.10" / "1.html").as_uri())
    load_all(page)
    heat, crop = page.locator(".pic .heat").first, page.locator(".pic .crop").first
    heat.scroll_into_view_if_needed()
    assert heat.evaluate(HEAT_SHOWN) and not crop.evaluate(HEAT_SHOWN)  # heatmap by default
    assert heat.locator("image").evaluate("i => i.getBBox().width") > 0
    page.locator(".viewbar label", has_text="photo").click()
    assert not heat.evaluate(HEAT_SHOWN) and not crop.evaluate(HEAT_SHOWN)
    page.focus(".vw:checked")
    page.keyboard.press("ArrowRight")  # keyboard: the radio group moves on to "crop"
    assert page.evaluate("document.querySelector('.vw:checked').value") == "crop"
    assert crop.evaluate(HEAT_SHOWN) and not heat.evaluate(HEAT_SHOWN)
    assert page.evaluate("getComputedStyle(document.activeElement.nextElementSibling)"
                         ".outlineStyle") == "solid"  # the focused choice is visible
    with page.expect_navigation():
        page.keyboard.press("Escape")
        page.locator('a[rel="next"]').click()  # the next unit remembers the view
    assert page.evaluate("document.querySelector('.vw:checked').value") == "crop"
    log.check()


def _units_with(run: Path, table: str, column: str, name: str) -> set[tuple[str, int]]:
    df = RunDir(run).read_table(table)
    return {(str(r.layer), int(r.unit)) for r in df[df[column] == name].itertuples()}


@pytest.mark.parametrize("table,column,name", [("classes", "name", "monuments"),
                                               ("causal", "class_name", "volcano")])
def test_search_by_dataset_class_and_causal_label(browser, fake_site: Path, fake_run: Path,
                                                  table: str, column: str, name: str) -> None:
    want = _units_with(fake_run, table, column, name)
    total = len(RunDir(fake_run).read_table("stats"))
    assert 0 < len(want) < total
    page, log = open_page(browser, (fake_site / "index.html").as_uri())
    page.fill("#q", name)
    hrefs = page.locator("#cards .card:visible").evaluate_all(
        "cs => cs.map(c => c.getAttribute('href'))")
    assert sorted(hrefs) == sorted(f"units/{layer}/{unit}.html" for layer, unit in want)
    log.check()


def test_export_links_download_valid_json(browser, fake_site: Path) -> None:
    import json

    page, log = open_page(browser, (fake_site / "units" / "_blocks.4" / "2.html").as_uri())
    link = page.locator(".pager a.dl", has_text="JSON")
    try:
        with page.expect_download(timeout=5000) as dl:
            link.click()
        text = Path(dl.value.path()).read_text()
    except Exception:
        text = page.locator("body").inner_text()
    rec = json.loads(text)
    assert (rec["layer"], rec["unit"]) == ("_blocks.4", 2) and rec["top"]
    log.check()


def test_glossary_reached_by_keyboard(browser, fake_site: Path) -> None:
    page, log = open_page(browser, (fake_site / "units" / "_blocks.10" / "1.html").as_uri())
    page.focus(".pager .permalink")
    for _ in range(12):  # Tab to the first number's glossary link
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('gl')"):
            break
    href = page.evaluate("document.activeElement.getAttribute('href')")
    assert href == "../../about.html#g-top-activation"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith("about.html#g-top-activation")
    target = page.locator(":target")
    assert target.get_attribute("id") == "g-top-activation" and target.is_visible()
    assert target.evaluate("e => { const r = e.getBoundingClientRect(); "
                           "return r.top >= 0 && r.bottom <= window.innerHeight; }")
    page.keyboard.press("Tab")  # reading on from the entry, by keyboard
    assert page.evaluate("document.activeElement.tagName") != "BODY"
    log.check()
