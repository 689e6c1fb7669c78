"""What a rendered site's index costs a browser: bytes before images, first paint, search time.

    python -m benchmarks.site_browser SITE [SITE ...]
    python -m benchmarks.site_browser --make CHANNELS FEATURES WORK   # a fake run, rendered

Measured in Chromium (Debian's when installed, else Playwright's), from ``file:`` URLs, the
sites interleaved (one load or query of each in turn, so a busy machine slows all alike):
- bytes: index.html plus every script, style sheet and data file it loads (not images),
  including data scripts the page adds by itself once loaded (the first layer map's points);
- first contentful paint and the load event, median of 5 fresh loads (a new page each);
- search: the time from typing a query into the search box to the end of its input handler,
  and to the next painted frame (two animation frames later), median of 10 queries;
- where the page has a basis selector on its map: switching the map to the features' layer,
  until its data has loaded and the next frame painted.

``--make`` writes a fake run (tests/helpers/fakerun.py) of one layer ``layer4`` with CHANNELS
channels and, when FEATURES > 0, a basis ``layer4/sae`` of FEATURES features, every unit with two
accentuations and labels of every kind; renders it with this checkout into WORK/site and
measures it. Render the same run with another checkout to compare:
``PYTHONPATH=OTHER python -m atlas render WORK/run --out WORK/site-other``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
QUERIES = ["fish", "tools", "12", "monuments", "layer4", "windmill", "zzz", "3", "solar", ""]
LOADS = 5

SEARCH_JS = """async (q) => {
  const box = document.querySelector('input[type=search]');
  const t0 = performance.now();
  box.value = q;
  box.dispatchEvent(new Event('input', {bubbles: true}));
  const handled = performance.now() - t0;
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  const painted = performance.now() - t0;
  const shown = [...document.querySelectorAll('[data-unit], .card')]
      .filter(e => e.getClientRects().length).length;
  return {handled, painted, shown};
}"""

MAP_SWITCH_JS = """async () => {
  const pick = document.getElementById('map-basis'), canvas = document.getElementById('map-canvas');
  const target = [...pick.options].find(o => o.value !== pick.value && !o.disabled);
  if (!target) return null;
  const before = canvas.getAttribute('data-group');
  const t0 = performance.now();
  pick.value = target.value;
  pick.dispatchEvent(new Event('change', {bubbles: true}));
  while (canvas.getAttribute('data-group') === before) await new Promise(r => setTimeout(r, 1));
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  return performance.now() - t0;
}"""


def _load(browser, index: Path, record: list[str] | None = None):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    if record is not None:
        page.on("requestfinished", lambda r: record.append(r.url))
    page.goto(index.as_uri(), wait_until="networkidle" if record is not None else "load")
    timing = page.evaluate("""() => ({
        fcp: performance.getEntriesByName('first-contentful-paint')[0].startTime,
        load: performance.getEntriesByType('navigation')[0].loadEventEnd})""")
    return ctx, page, timing


def _bytes(site: Path, loaded: list[str]) -> dict:
    index = site / "index.html"
    data = [u for u in loaded if u.startswith("file:") and not u.endswith(
        (".webp", ".png", ".jpg", ".jpeg", ".svg", ".gif"))]
    files = {index.resolve(), *(Path(u[len("file://"):]).resolve() for u in data)}
    root = site.resolve()
    return {"index_bytes": sum(f.stat().st_size for f in files if f.is_file()),
            "index_files": {str(f.relative_to(root)): f.stat().st_size for f in sorted(files)
                            if f.is_relative_to(root) and f.is_file()}}


def measure_all(sites: list[Path], queries: list[str] = QUERIES) -> dict[str, dict]:
    """Every measure of every site, the sites interleaved."""
    from playwright.sync_api import sync_playwright

    out: dict[str, dict] = {str(s): {"paints": [], "loads": []} for s in sites}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=ARGS)
        pages = {}
        for i in range(LOADS):
            for site in sites:
                loaded: list[str] | None = [] if i == 0 else None
                ctx, page, t = _load(browser, site / "index.html", loaded)
                r = out[str(site)]
                r["paints"].append(t["fcp"])
                r["loads"].append(t["load"])
                if loaded is not None:
                    r.update(_bytes(site, loaded))
                if i == LOADS - 1:
                    pages[str(site)] = (ctx, page)
                else:
                    ctx.close()
        results: dict[str, list[dict]] = {str(s): [] for s in sites}
        for q in queries:
            for site in sites:
                results[str(site)].append(pages[str(site)][1].evaluate(SEARCH_JS, q))
        for site in sites:
            ctx, page = pages[str(site)]
            r, res = out[str(site)], results[str(site)]
            r["first_paint_ms"] = round(statistics.median(r.pop("paints")), 1)
            r["load_event_ms"] = round(statistics.median(r.pop("loads")), 1)
            r["search_handler_ms"] = round(statistics.median(x["handled"] for x in res), 2)
            r["search_painted_ms"] = round(statistics.median(x["painted"] for x in res), 2)
            r["search_shown"] = {q: x["shown"] for q, x in zip(queries, res, strict=True)}
            if page.locator("#map-basis").count():
                page.fill("input[type=search]", "")
                page.wait_for_timeout(100)
                ms = page.evaluate(MAP_SWITCH_JS)
                r["map_switch_ms"] = None if ms is None else round(ms, 1)
            ctx.close()
        browser.close()
    return out


def measure(site: Path, queries: list[str] = QUERIES) -> dict:
    return measure_all([site], queries)[str(site)]


def make(channels: int, features: int, work: Path) -> Path:
    """A fake run of ``channels`` + ``features`` units under ``work``, rendered into
    ``work/site``; returns the site."""
    from atlas.config.sections import SiteConfig
    from atlas.site.render import render_site
    from tests.helpers.fakerun import FakeBasis, FakeRunConfig, make_fake_run

    t0 = time.perf_counter()
    run = make_fake_run(work / "run", FakeRunConfig(
        layers=("layer4",), units=channels,
        bases=(FakeBasis(layer="layer4", name="sae", features=features),) if features else (),
        topk=8, bottomk=4, accents=2, frames=2, images=300, image_size=48, pool=16))
    t1 = time.perf_counter()
    site = render_site(run, work / "site", SiteConfig(reports_max_units=0))
    print(f"fake run {t1 - t0:.0f} s, render {time.perf_counter() - t1:.0f} s", file=sys.stderr)
    return site


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sites", type=Path, nargs="*")
    ap.add_argument("--make", nargs=3, metavar=("CHANNELS", "FEATURES", "WORK"))
    args = ap.parse_args()
    sites = list(args.sites)
    if args.make:
        sites.append(make(int(args.make[0]), int(args.make[1]), Path(args.make[2])))
    for site in sites:
        if not (site / "index.html").is_file():
            sys.exit(f"no index.html in {site}")
    if not sites:
        sys.exit("give a SITE or --make")
    print(json.dumps(measure_all(sites), indent=1))


if __name__ == "__main__":
    main()
