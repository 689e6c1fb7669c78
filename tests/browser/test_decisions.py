"""Connections, class pages, class search and the Failures page in a real browser (Chromium via
Playwright, from file://). Like the other browser tests these fail, never skip, when Chromium
cannot start; screenshots go to test-output/ for people to look at."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from atlas.site.render import render_site
from tests.helpers.browser import SHOTS, open_page
from tests.helpers.fakedecisions import CLASS_NAMES
from tests.helpers.fakerun import FakeRunConfig, make_fake_run

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_fake_run(tmp_path_factory.mktemp("run"), FakeRunConfig(units=3))
    return render_site(root, tmp_path_factory.mktemp("site") / "out")


def test_unit_to_its_input_and_back(browser, site: Path) -> None:
    page, log = open_page(browser, (site / "units" / "_blocks.10" / "0.html").as_uri())
    up = page.locator("#u-_blocks\\.10-0-in-up .link")
    expect(up.first).to_contain_text("shortcut")  # the residual channel: marked, strongest
    up.nth(1).locator("a").click()  # unit 1 of _blocks.4
    expect(page.locator("h1")).to_contain_text("Unit 1")
    assert page.url.endswith("units/_blocks.4/1.html")
    feeds = page.locator("#u-_blocks\\.4-1-out-up a[href$='_blocks.10/0.html']")
    expect(feeds).to_have_count(1)
    feeds.click()
    expect(page.locator("h1")).to_contain_text("Unit 0")
    assert page.url.endswith("units/_blocks.10/0.html")
    log.check()


def test_unit_to_class_and_class_to_unit(browser, site: Path) -> None:
    page, log = open_page(browser, (site / "units" / "_blocks.10" / "0.html").as_uri())
    chip = page.locator(".class-links a").first
    name = chip.inner_text()
    chip.click()
    expect(page.locator("h1")).to_have_text(name)
    driver = page.locator(".drivers a[href$='_blocks.10/0.html']")
    expect(driver).to_have_count(1)  # the unit we came from drives it
    page.locator(".drivers a").last.click()
    expect(page.locator(".unit-head h1")).to_contain_text("Unit")
    assert "/units/" in page.url
    log.check()


def test_search_finds_a_class(browser, site: Path) -> None:
    page, log = open_page(browser, (site / "index.html").as_uri())
    items = page.locator("#class-list li")
    expect(items).to_have_count(len(CLASS_NAMES))
    page.fill("#q", "lightho")
    expect(page.locator("#class-list li:visible")).to_have_count(1)
    expect(page.locator("#class-count")).to_have_text(f"1 of {len(CLASS_NAMES)} classes")
    page.locator("#class-list li:visible a").click()
    expect(page.locator("h1")).to_have_text("lighthouse")
    page.go_back()
    page.fill("#q", "no such class")
    expect(page.locator("#class-empty")).to_be_visible()
    log.check()


def test_a_failure_side_by_side(browser, site: Path) -> None:
    page, log = open_page(browser, (site / "failures.html").as_uri())
    f = page.locator("#f-0")
    expect(f.locator(".sbs > figure img, .sbs-side > figure img")).to_have_count(3)
    page.wait_for_function("() => [...document.querySelectorAll('#f-0 .sbs img')]"
                           ".every(i => i.complete && i.naturalWidth > 0)")
    boxes = [f.locator(s).bounding_box() for s in (".sbs-photo", ".sbs-side.predicted",
                                                   ".sbs-side.true")]
    assert boxes[0]["x"] < boxes[1]["x"] < boxes[2]["x"]  # side by side on a desktop
    assert abs(boxes[0]["y"] - boxes[1]["y"]) < 2
    expect(f.locator(".sbs-side.predicted .sbs-num")).to_contain_text("→")
    expect(f.locator(".sbs-side.true .sbs-num")).to_contain_text("→")
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "failures-desktop.png"), full_page=True)
    log.check()
