"""``atlas build``: every stage of :data:`~atlas.pipeline.stages.PIPELINE` in order, with the
site rendered early and kept current.

At each ``RENDER`` point the site is rendered when the build shows its site early
(``site.refresh`` > 0) and some later stage still has work; ``early`` stages (the maps of
natural images) run only then. While vis and accentuation run, each finished part is published
to the run's tables and the site is re-rendered, throttled (:mod:`atlas.pipeline.progressive`).
Under torchrun every rank runs the stages and rank 0 renders.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from atlas.config.resolved import Resolved
from atlas.config.tree import BuildConfig
from atlas.data.sources import ImageSource
from atlas.models.zoo import LoadedModel
from atlas.pipeline.progressive import Refresher, mark_build
from atlas.pipeline.rundir import RunDir
from atlas.pipeline.session import planned_units, session
from atlas.pipeline.stage import Context, Stage, pending, run_stage
from atlas.pipeline.stages import PIPELINE, RENDER

Render = Callable[[RunDir, bool], str]  # (run, final) -> the site folder


def _show(ctx: Context, live: Refresher, rest: tuple[Stage | str, ...], first: bool,
          t0: float) -> bool:
    """A ``RENDER`` point (rank 0): render now if the site is shown early and work remains."""
    run, cfg = ctx.run, ctx.cfg
    if first:
        mark_build(run, "running", planned=planned_units(cfg, run), units=cfg.units)
    todo = live.every > 0 and any(pending(s, ctx) for s in rest
                                  if isinstance(s, Stage) and not s.early)
    if todo:
        live.now()
        rec = run.manifest()["build"]
        if "first_site_seconds" not in rec:
            run.update_manifest(build={**rec, "first_site_seconds":
                                       round(time.perf_counter() - t0, 1)})
    return todo


def build(cfg: BuildConfig, render: Render | None, progress: bool = True,
          resolved: Resolved | None = None, model: LoadedModel | None = None,
          source: ImageSource | None = None) -> dict[str, Any]:
    """Every stage in order (sharded over ranks under torchrun); prints one summary line.

    ``render`` draws the site (the command line passes :func:`atlas.site.render.render_run`;
    None: no site). ``resolved``: the settings the command's checks resolved (else resolved
    here, once). ``model``, ``source``: given in Python instead of named by the config."""
    t0 = time.perf_counter()
    with session(cfg, progress, resolved, model, source) as ctx:
        d, run = ctx.dist, ctx.run
        live = Refresher(lambda: render(run, False), cfg.site.refresh) \
            if d.main and render is not None else None
        ctx.on_progress = live.maybe if live is not None else None
        early, shown = False, 0
        for i, step in enumerate(PIPELINE):
            if step == RENDER:
                early = d.broadcast(_show(ctx, live, PIPELINE[i + 1:], shown == 0, t0)
                                    if live is not None else None)
                shown += 1
            elif isinstance(step, Stage) and (early or not step.early):
                run_stage(step, ctx)
        site = ""
        if d.main:
            if live is not None:
                mark_build(run, "done", renders=live.count,
                           render_seconds=round(live.seconds, 2))
                site = render(run, True)
            _summary(run, time.perf_counter() - t0, site)
    return {"site": site, "run": str(run.root)}


def _summary(run: RunDir, seconds: float, site: str) -> None:
    mine_st, rec = run.stage("mine"), run.manifest().get("build", {})
    pairs = int(run.stage("accentuate").get("pairs", 0))
    units = sum(mine_st.get("units", {}).values())
    where = f"site {site}/index.html" if site else f"run {run.root}"
    early = (f"; site first rendered after {rec['first_site_seconds']:.0f} s, "
             f"re-rendered {rec.get('renders', 0)} times ({rec.get('render_seconds', 0):.0f} s)"
             if "first_site_seconds" in rec else "")
    print(f"atlas build: {units} units, {mine_st.get('images', 0)} images "
          f"({mine_st.get('skipped', 0)} skipped), {pairs} accentuations, "
          f"{seconds:.0f} s -> {where}{early}")
