"""What a rendered site's index costs a browser: bytes before images, first paint, search time.

    python -m benchmarks.site_browser SITE

Measured in Chromium (Debian's when installed, else Playwright's), from ``file:`` URLs:
- bytes: index.html plus every script, style sheet and data file it loads (not images);
- first contentful paint, median of 5 fresh loads (a new page each, cache off);
- search: the time from typing a query into the search box to the end of its input handler,
  and to the next painted frame (two animation frames later), median of 10 queries.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
from pathlib import Path

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
QUERIES = ["fish", "tools", "12", "monuments", "layer4", "windmill", "zzz", "3", "solar", ""]

SEARCH_JS = """async (q) => {
  const box = document.querySelector('input[type=search]');
  const t0 = performance.now();
  box.value = q;
  box.dispatchEvent(new Event('input', {bubbles: true}));
  const handled = performance.now() - t0;
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  const shown = [...document.querySelectorAll('[data-unit], .card')]
      .filter(e => e.getClientRects().length).length;
  return {handled, painted: performance.now() - t0, shown};
}"""


def measure(site: Path, queries: list[str] = QUERIES) -> dict:
    from playwright.sync_api import sync_playwright

    index = site / "index.html"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=ARGS)
        loaded: list[str] = []
        paints = []
        for i in range(5):
            ctx = browser.new_context(viewport={"width": 1280, "height": 900})
            page = ctx.new_page()
            if i == 0:
                page.on("requestfinished", lambda r: loaded.append(r.url))
            page.goto(index.as_uri(), wait_until="load")
            paints.append(page.evaluate(
                "performance.getEntriesByName('first-contentful-paint')[0].startTime"))
            if i < 4:
                ctx.close()
        results = [page.evaluate(SEARCH_JS, q) for q in queries]
        ctx.close()
        browser.close()
    data = [u for u in loaded if u.startswith("file:") and not u.endswith(
        (".webp", ".png", ".jpg", ".jpeg", ".svg", ".gif"))]
    files = {index.resolve(), *(Path(u[len("file://"):]).resolve() for u in data)}
    return {"index_bytes": sum(f.stat().st_size for f in files if f.is_file()),
            "index_files": sorted(str(f.relative_to(site.resolve())) for f in files
                                  if f.is_relative_to(site.resolve())),
            "first_paint_ms": round(statistics.median(paints), 1),
            "search_handler_ms": round(statistics.median(r["handled"] for r in results), 2),
            "search_painted_ms": round(statistics.median(r["painted"] for r in results), 2),
            "search_shown": {q: r["shown"] for q, r in zip(queries, results, strict=True)}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("site", type=Path)
    args = ap.parse_args()
    if not (args.site / "index.html").is_file():
        sys.exit(f"no index.html in {args.site}")
    print(json.dumps(measure(args.site), indent=1))


if __name__ == "__main__":
    main()
