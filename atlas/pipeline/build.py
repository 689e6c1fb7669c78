"""``atlas build``: every stage in order, with the site rendered early and kept current.

Order: mine (+ features) -> select -> **site opens** -> embed (natural maps) -> vis ->
accentuate -> embed -> **final site**. Visualization runs before accentuation: it costs one
optimization per unit where accentuation costs one per seed (four or more), and gives every page
a picture of what its unit likes early on. The first embed maps natural images only, so every
unit is on the layer map before any accentuation exists. While vis and accentuation run,
finished parts are published to the run's tables and the site is re-rendered, throttled
(:mod:`atlas.pipeline.progressive`). Under torchrun every rank runs the stages and rank 0 renders.
"""

from __future__ import annotations

import time
from typing import Any

from atlas.config.tree import BuildConfig
from atlas.models.distributed import setup, teardown
from atlas.pipeline.accent_parts import AccentParts
from atlas.pipeline.embed import run_embed
from atlas.pipeline.progressive import Refresher, mark_build
from atlas.pipeline.rundir import RunDir
from atlas.pipeline.stages import accent_plan, model_of, planned_units, run_accentuate, run_mine
from atlas.pipeline.vis import VisPlan, run_vis


def render(run: RunDir, cfg: BuildConfig, final: bool = True) -> str:
    """Render the site; a re-render during the build (``final=False``) skips the reports."""
    from dataclasses import replace

    from atlas.site.render import render_site

    site = cfg.site if final else replace(cfg.site, reports_max_units=0)
    return str(render_site(run.root, cfg.site.out, site))


def live_site(run: RunDir, cfg: BuildConfig, parts: AccentParts, vis: VisPlan) -> Refresher:
    """A refresher that publishes what is finished, then re-renders the site."""

    def refresh() -> None:
        parts.publish(final=False)
        vis.publish()
        render(run, cfg, final=False)

    return Refresher(refresh, cfg.site.refresh)


def _open_site(run: RunDir, cfg: BuildConfig, live: Refresher, t0: float) -> None:
    """The first renders: natural images and pending markers, then the natural maps."""
    live.now()
    run.update_manifest(build={**run.manifest()["build"],
                               "first_site_seconds": round(time.perf_counter() - t0, 1)})
    run_embed(run, cfg.embed, with_accents=False)
    live.now()


def build(cfg: BuildConfig, progress: bool = True) -> dict[str, Any]:
    """Every stage in order (sharded over ranks under torchrun); prints one summary line."""
    d = setup()
    t0 = time.perf_counter()
    run_mine(cfg, progress, d)
    run, model = RunDir(cfg.out), model_of(cfg, d)
    parts = accent_plan(cfg, run, model.device, d)
    layer, units = planned_units(cfg, run)
    vis = VisPlan.make(run, [(layer, u) for u in units], cfg.accent, run.stage("mine")["hash"],
                       model.device)
    live = live_site(run, cfg, parts, vis) if d.main else None
    if live is not None:
        mark_build(run, "running", planned={layer: units}, units=cfg.units)
        done = run.stage_done("vis", vis.key) and run.stage_done("accentuate", parts.key)
        if live.every > 0 and not done:
            _open_site(run, cfg, live, t0)
    d.barrier()
    hook = live.maybe if live is not None else None
    run_vis(vis, model, progress and d.main, d, on_chunk=hook)
    acc = run_accentuate(cfg, progress, d, parts=parts, on_batch=hook)
    site = ""
    if live is not None:
        run_embed(run, cfg.embed)
        mark_build(run, "done", renders=live.count, render_seconds=round(live.seconds, 2))
        site = render(run, cfg)
        _summary(run, acc["pairs"], time.perf_counter() - t0, site)
    teardown(d)
    return {"site": site, "run": str(run.root)}


def _summary(run: RunDir, pairs: int, seconds: float, site: str) -> None:
    mine_st, rec = run.stage("mine"), run.manifest().get("build", {})
    units = sum(mine_st.get("units", {}).values())
    where = f"site {site}/index.html" if site else f"run {run.root}"
    early = (f"; site first rendered after {rec['first_site_seconds']:.0f} s, "
             f"re-rendered {rec.get('renders', 0)} times ({rec.get('render_seconds', 0):.0f} s)"
             if "first_site_seconds" in rec else "")
    print(f"atlas build: {units} units, {mine_st.get('images', 0)} images "
          f"({mine_st.get('skipped', 0)} skipped), {pairs} accentuations, "
          f"{seconds:.0f} s -> {where}{early}")
