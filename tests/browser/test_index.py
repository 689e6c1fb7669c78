"""The index of channels and features in a real browser (Chromium via Playwright, file://):
the layer and basis selectors, search by a feature's labels, the map's basis switch, cards
drawn a page at a time, the page without JavaScript. Screenshots go to test-output/."""

from __future__ import annotations

from pathlib import Path

import pytest

from atlas.pipeline.rundir import RunDir
from atlas.site.index_data import FIRST, PAGE
from atlas.site.render import SiteConfig, render_site
from tests.helpers.browser import DESKTOP, PHONE, SHOTS, load_all, open_page
from tests.helpers.fakerun import FakeBasis, FakeRunConfig, make_fake_run

pytestmark = pytest.mark.browser
CARDS = "#cards .card:visible"


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """More units than the page draws at once: 8 channels and FIRST + 12 features."""
    run = make_fake_run(tmp_path_factory.mktemp("bigrun"), FakeRunConfig(
        units=8, layers=("_blocks.10",), topk=3, bottomk=0, accents=1, frames=0, images=8,
        pool=2, accented=3, bases=(FakeBasis(features=FIRST + 12),)))
    return render_site(run, tmp_path_factory.mktemp("bigsite") / "out",
                       SiteConfig(reports_max_units=0))


def names(page) -> list[str]:
    """The names on the cards shown (their text: a card off screen skips its layout, so its
    rendered text would be empty)."""
    return page.locator(CARDS + " .name").all_text_contents()


def test_layer_and_basis_filter_together(browser, features_site: Path) -> None:
    page, log = open_page(browser, (features_site / "index.html").as_uri())
    assert page.locator(CARDS).count() == 4 + 4 + 3 + 6
    page.select_option("#basis", label="sae")
    assert names(page) == [f"feature {f} · _blocks.10/sae" for f in range(6)]
    assert page.locator("#count").inner_text() == "6 of 17 units"
    page.select_option("#layer", label="_blocks.4")  # no basis over _blocks.4
    assert page.locator(CARDS).count() == 0 and page.locator("#empty").is_visible()
    page.select_option("#basis", label="channels")
    assert names(page) == [f"unit {u} · _blocks.4" for u in range(4)]
    page.select_option("#layer", label="_blocks.10")
    page.select_option("#basis", "")  # channels and features of _blocks.10
    got = names(page)
    assert len(got) == 4 + 3 + 6 and got[4:7] == [
        "fish · _blocks.10/concepts", "stripes · _blocks.10/concepts",
        "concept 2 · _blocks.10/concepts"]
    page.select_option("#basis", label="concepts")
    page.select_option("#sort", "act")  # the filter holds across a sort
    assert sorted(names(page)) == sorted(got[4:7])
    log.check()


def test_search_finds_features_by_their_labels(browser, features_site: Path,
                                               features_run: Path) -> None:
    page, log = open_page(browser, (features_site / "index.html").as_uri())
    page.keyboard.press("/")
    page.keyboard.type("stripes")  # a direction's name
    assert names(page) == ["stripes · _blocks.10/concepts"]
    causal = RunDir(features_run).read_table("causal")
    want = causal[causal.class_name == "volcano"][["layer", "unit"]].drop_duplicates()
    assert 0 < (want.layer == "_blocks.10/sae").sum() < 6
    page.fill("#q", "volcano")  # a causal label, over channels and features alike
    hrefs = page.locator(CARDS).evaluate_all("cs => cs.map(c => c.getAttribute('href'))")
    assert len(hrefs) == len(want)
    page.select_option("#basis", label="sae")
    assert page.locator(CARDS).count() == (want.layer == "_blocks.10/sae").sum()
    page.select_option("#basis", "")
    page.fill("#q", "sae:3")  # layer:unit reaches a feature
    assert names(page) == ["feature 3 · _blocks.10/sae"]
    page.fill("#q", "feature")  # the kind of unit
    assert page.locator(CARDS).count() == 6
    page.fill("#q", "direction")
    assert page.locator(CARDS).count() == 3
    log.check()


def test_map_switches_to_a_basis(browser, features_site: Path) -> None:
    page, log = open_page(browser, (features_site / "index.html").as_uri())
    canvas = page.locator("#map-canvas")
    canvas.scroll_into_view_if_needed()
    page.wait_for_function("() => document.getElementById('map-canvas').dataset.group")
    assert canvas.get_attribute("data-group") == "_blocks.4"
    layer4 = page.locator("#map-basis option:disabled").all_inner_texts()
    assert layer4 == ["concepts", "sae"]  # only channels were mapped on _blocks.4
    page.select_option("#map-layer", label="_blocks.10")
    page.select_option("#map-basis", label="sae")
    page.wait_for_function(
        "() => document.getElementById('map-canvas').dataset.group === '_blocks.10/sae'")
    slug = page.evaluate("ATLAS_INDEX.groups[3].slug")
    pos = page.evaluate("""(slug) => {
        const c = document.getElementById('map-canvas').getBoundingClientRect();
        const p = window.ATLAS_MAPS[slug];
        let i = 0;
        while (p[i + 3] < 0) i += 4;  // an accentuation
        return [c.left + 14 + p[i] / 1000 * (c.width - 28),
                c.top + 14 + (1 - p[i + 1] / 1000) * (c.height - 28)];
    }""", slug)
    page.mouse.move(pos[0], pos[1])
    tip = page.locator("#map-tip")
    assert tip.is_visible() and "_blocks.10/sae · feature" in tip.inner_text()
    page.wait_for_function("() => document.getElementById('map-tip-img').naturalWidth > 0")
    with page.expect_navigation():
        page.mouse.click(pos[0], pos[1])
    assert f"/units/{slug}/" in page.url and "-acc-" in page.url
    log.check()


def test_cards_come_a_page_at_a_time_and_match_the_html(browser, big: Path) -> None:
    page, log = open_page(browser, (big / "index.html").as_uri())
    total = 8 + FIRST + 12
    first = page.locator("#cards .card").evaluate_all("cs => cs.map(c => c.outerHTML)")
    assert len(first) == FIRST  # the HTML's own cards, kept
    more = page.locator("#more")
    assert more.is_visible() and f"({total - FIRST} not shown)" in more.inner_text()
    page.select_option("#sort", "act")
    page.select_option("#sort", "order")  # drawn again, by the script: a page of cards
    again = page.locator("#cards .card").evaluate_all("cs => cs.map(c => c.outerHTML)")
    assert again == first[:PAGE]  # one card, whoever draws it
    more.dispatch_event("click")  # where it is (scrolling there would show more by itself)
    assert page.locator("#cards .card").count() == 2 * PAGE
    more.dispatch_event("click")
    assert page.locator("#cards .card").count() == total and more.is_hidden()
    assert page.locator("#cards .card").last.locator(".name").text_content() == \
        f"feature {FIRST + 11} · _blocks.10/sae"
    page.fill("#q", "sae")
    assert page.locator("#cards .card").count() == PAGE and more.is_visible()
    page.wait_for_function("""(n) => {  // scrolling to the last card shows more, page by page
        const cards = document.querySelectorAll('#cards .card');
        cards[cards.length - 1].scrollIntoView();
        return cards.length === n;
    }""", arg=FIRST + 12)
    assert page.locator("#count").inner_text() == f"{FIRST + 12} of {total} units"
    log.check()


NUMBERS = [0.000123456, 1234567.0, 12.3456, -0.5, 100.0, 999.7, 1e-7, 2.0, 0.1 + 0.2, -31.25]


def test_numbers_read_the_same_in_the_html_and_the_script(browser, tmp_path: Path) -> None:
    """The script formats numbers as the templates do (3 significant digits, Python's rules):
    top activations of every size, drawn by both, read alike."""
    run = make_fake_run(tmp_path / "run", FakeRunConfig(
        units=len(NUMBERS), layers=("_blocks.10",), topk=2, bottomk=0, accents=1, frames=0,
        images=8, pool=2))
    rd = RunDir(run)
    top = rd.read_table("topk")
    first = (top.kind == "top") & (top["rank"] == 0)
    top.loc[first, "activation"] = [NUMBERS[u] for u in top[first].unit]
    rd.write_table("topk", top)
    site = render_site(run, tmp_path / "site", SiteConfig(reports_max_units=0))
    page, log = open_page(browser, (site / "index.html").as_uri())
    html = page.locator("#cards .card .meta").all_text_contents()
    page.select_option("#sort", "act")
    page.select_option("#sort", "order")
    assert page.locator("#cards .card .meta").all_text_contents() == html
    assert [m.split(" · ")[0] for m in html] == [
        "act 0.000123", "act 1.23e+06", "act 12.3", "act -0.5", "act 100", "act 1000",
        "act 1e-07", "act 2", "act 0.3", "act -31.2"]
    log.check()


def test_without_javascript_the_first_cards_and_every_list(browser, big: Path) -> None:
    ctx = browser.new_context(java_script_enabled=False, viewport=DESKTOP)
    page = ctx.new_page()
    page.goto((big / "index.html").as_uri())
    assert page.locator("#cards .card").count() == FIRST
    assert f"the first {FIRST} of {8 + FIRST + 12} units" in page.locator("body").inner_text()
    with page.expect_navigation():
        page.get_by_role("link", name="_blocks.10/sae", exact=True).click()
    assert page.locator("table.unit-list tbody tr").count() == FIRST + 12
    with page.expect_navigation():
        page.get_by_role("link", name=f"feature {FIRST + 11}", exact=True).click()
    assert page.url.endswith(f"/{FIRST + 11}.html") and "Feature" in page.locator("h1").inner_text()
    ctx.close()


@pytest.mark.parametrize("name,viewport", [("desktop", DESKTOP), ("phone", PHONE)])
def test_screenshots_of_channels_and_features(browser, features_site: Path, name: str,
                                              viewport: dict) -> None:
    SHOTS.mkdir(exist_ok=True)
    page, log = open_page(browser, (features_site / "index.html").as_uri(), viewport)
    page.select_option("#layer", label="_blocks.10")
    page.select_option("#map-layer", label="_blocks.10")
    page.select_option("#map-basis", label="sae")
    page.wait_for_function(
        "() => document.getElementById('map-canvas').dataset.group === '_blocks.10/sae'")
    load_all(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    page.evaluate("""() => document.querySelectorAll('.card').forEach(
        c => { c.style.contentVisibility = 'visible'; })""")  # a full-page shot scrolls not
    page.screenshot(path=str(SHOTS / f"site-index-features-{name}.png"), full_page=True)
    log.check()
