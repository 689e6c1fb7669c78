"""A page in Chromium that records what it must not do: script errors, dialogs, requests that
leave the site (the site makes no network request), shared by every browser test."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

SHOTS = Path(__file__).resolve().parents[2] / "test-output"  # screenshots for people to look at
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
CHROMIUM = shutil.which("chromium")  # Debian's; None: Playwright's own (make browser)
DESKTOP, PHONE = {"width": 1280, "height": 900}, {"width": 390, "height": 844}
SHOWN = "[...document.images].filter(i => i.getClientRects().length)"  # rendered images only


@dataclass
class Log:
    """What a page did that it must not: errors, dialogs, requests leaving the site."""

    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def check(self) -> None:
        assert self.errors == [], self.errors
        assert self.dialogs == [], self.dialogs
        outside = [u for u in self.requests if not u.startswith(("file://", "data:"))]
        assert outside == [], outside


def open_page(browser, url: str, viewport: dict | None = None):
    """``url`` loaded in a new page of ``browser``; the page and its :class:`Log`."""
    page = browser.new_page(viewport=viewport or DESKTOP)
    log = Log()
    page.on("console", lambda m: m.type == "error" and log.errors.append(m.text))
    page.on("pageerror", lambda e: log.errors.append(str(e)))
    page.on("request", lambda r: log.requests.append(r.url))

    def on_dialog(d) -> None:
        log.dialogs.append(d.message)
        d.dismiss()

    page.on("dialog", on_dialog)
    page.goto(url)
    page.wait_for_load_state("load")
    return page, log


def load_all(page) -> None:
    """Scroll through the page so every lazy image loads, then wait for them all."""
    page.evaluate("""async () => {
        for (let y = 0; y < document.body.scrollHeight; y += window.innerHeight / 2) {
            window.scrollTo(0, y);
            await new Promise(r => setTimeout(r, 20));
        }
    }""")
    page.wait_for_function(f"() => {SHOWN}.every(i => i.complete)")
    page.evaluate("() => window.scrollTo(0, 0)")
