"""Benchmark: render a 1,000-unit synthetic run; print render time and index size.

    python -m benchmarks.site [--units 1000] [--layers 2] [--reports 50]

Targets (see the site issue): render in <= 60 s on the 2-core dev box, index HTML plus its
scripts, style and data <= 1 MB before images. Also measures a rebuild in place and the cost of
per-unit reports, to choose SiteConfig.reports_max_units.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from atlas.site.env import make_env
from atlas.site.load import load_atlas
from atlas.site.media import InlineMedia
from atlas.site.render import SiteConfig, render_site
from atlas.site.report import report_html
from tests.helpers.fakerun import FakeRunConfig, make_fake_run


def _mb(n: float) -> str:
    return f"{n / 1e6:.2f} MB"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--units", type=int, default=1000, help="units in total")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--reports", type=int, default=50, help="units to time reports on")
    args = ap.parse_args()
    per_layer = max(1, args.units // args.layers)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run = make_fake_run(Path(tmp) / "run", FakeRunConfig(
            layers=tuple(f"_blocks.{4 + 3 * i}" for i in range(args.layers)), units=per_layer,
            topk=16, bottomk=8, accents=8, frames=6, images=200, image_size=96, pool=32))
        print(f"fake run: {per_layer * args.layers} units in {time.perf_counter() - t0:.1f} s")
        out = Path(tmp) / "site"
        t0 = time.perf_counter()
        render_site(run, out, SiteConfig(reports_max_units=0))
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        render_site(run, out, SiteConfig(reports_max_units=0))
        again = time.perf_counter() - t0
        index = {p: (out / p).stat().st_size for p in (
            "index.html", "data/index.js", "static/index.js", "static/atlas.css",
            "data/map/_blocks.4.js")}  # what the index loads: the first layer's map at once
        files = [p for p in out.rglob("*") if p.is_file()]
        total = sum(p.stat().st_size for p in files)
        atlas = load_atlas(run)
        inline = InlineMedia(run, SiteConfig().report_px)
        t0 = time.perf_counter()
        env = make_env()
        sizes = [len(report_html(atlas, [u], inline, env)) for u in atlas.units[:args.reports]]
        per_report = (time.perf_counter() - t0) / max(1, len(sizes))
    ok_time, ok_size = first <= 60, sum(index.values()) <= 1_000_000
    print(f"render: {first:.1f} s ({'ok' if ok_time else 'OVER'} <= 60 s), "
          f"rebuild in place: {again:.1f} s")
    print("index: " + ", ".join(f"{k} {_mb(v)}" for k, v in index.items())
          + f"; total {_mb(sum(index.values()))} ({'ok' if ok_size else 'OVER'} <= 1 MB)")
    print(f"site: {len(files)} files, {_mb(total)}")
    print(f"reports: {per_report * 1000:.0f} ms and {_mb(sum(sizes) / max(1, len(sizes)))} "
          f"per unit (first {len(sizes)} units; media cache shared)")
    return 0 if ok_time and ok_size else 1


if __name__ == "__main__":
    raise SystemExit(main())
