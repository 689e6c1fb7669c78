"""One Chromium per browser-test module. The tests fail, never skip, when Chromium cannot
start: a site nobody checked in a browser is not checked."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.browser import ARGS, CHROMIUM


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        try:
            b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        except Exception as e:
            pytest.fail(f"Chromium could not be launched: {e}")
        yield b
        b.close()
