"""The build pipeline: mine -> features -> select -> accentuate -> vis -> embed -> render.

Each stage reads the run directory and writes its own part of it. A stage whose inputs and
settings hash to what the manifest records as done is skipped; an unfinished one resumes.
"""

from __future__ import annotations

import platform
import time
from dataclasses import asdict
from functools import cache
from typing import Any

import torch

from atlas import __version__
from atlas.config import BuildConfig, parse_units
from atlas.distributed import Dist, setup, teardown
from atlas.errors import AtlasError
from atlas.features import natural_features
from atlas.mine import mine, mine_hash
from atlas.models import LoadedModel, load_model
from atlas.runs import RunDir, stable_hash
from atlas.sources import ImageSource, open_source


class Limited(ImageSource):
    """The first ``n`` images of another source (``data.limit``)."""

    def __init__(self, inner: ImageSource, n: int):
        self.inner, self.n, self.key = inner, min(n, len(inner)), inner.key

    def __len__(self) -> int:
        return self.n

    def open(self, index: int):
        return self.inner.open(index)

    def _describe(self, index: int):
        return self.inner._describe(index)

    def fingerprint(self) -> str:
        return stable_hash([self.inner.fingerprint(), self.n])


def pick_device(name: str, d: Dist | None = None) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device(f"cuda:{d.local_rank if d else 0}")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise AtlasError(f"device {name!r} requested but CUDA is not available; valid: cpu, auto")
    return torch.device(name)


@cache
def _model(name: str, weights: str, size: int, device: str) -> LoadedModel:
    return load_model(name, weights, size or None).to(device)


def model_of(cfg: BuildConfig, d: Dist | None = None) -> LoadedModel:
    dev = str(pick_device(cfg.device, d))
    return _model(cfg.model.name, cfg.model.weights, cfg.model.input_size, dev)


def source_of(cfg: BuildConfig) -> ImageSource:
    d = cfg.data
    hf = {k: v for k, v in (("split", d.split), ("image_column", d.image_column),
                            ("label_column", d.label_column)) if v}
    src = open_source(d.images, **hf)
    return Limited(src, cfg.data.limit) if cfg.data.limit else src


def versions() -> dict[str, str]:
    import numpy
    import pandas

    return {"atlas": __version__, "torch": torch.__version__, "numpy": numpy.__version__,
            "pandas": pandas.__version__, "python": platform.python_version()}


def open_run(cfg: BuildConfig) -> RunDir:
    run = RunDir(cfg.out)
    run.root.mkdir(parents=True, exist_ok=True)
    run.update_manifest(config=cfg.to_dict(), versions=versions(), name=cfg.name)
    return run


def run_mine(cfg: BuildConfig, progress: bool = True, d: Dist | None = None) -> dict[str, Any]:
    d = d or Dist()
    run, model, source = RunDir(cfg.out), model_of(cfg, d), source_of(cfg)
    if d.main:
        open_run(cfg)
        run.update_manifest(fingerprints={"model": model.fingerprint(),
                                          "data": source.fingerprint(), "images": len(source)})
    d.barrier()
    info = mine(run, model, source, cfg.mine, progress=progress, dist=d)
    key = stable_hash([mine_hash(model, source, cfg.mine), "features-v1"])
    if d.main and not run.stage_done("features", key):
        run.start_stage("features", key)
        natural_features(run, model, source, cfg.mine.layers, cfg.mine.batch_size)
        run.finish_stage("features", key)
    d.barrier()
    return {"cached": info["cached"], "stage": run.stage("mine")}


def chosen_seeds(cfg: BuildConfig, run: RunDir):
    """Seeds of the units to accentuate: from select (diverse) restricted to ``cfg.units``."""
    from atlas.select import run_select

    seeds = run_select(run, cfg.select)
    layer = cfg.mine.layers[0]
    n = int(run.stage("mine").get("units", {}).get(layer, seeds["unit"].max() + 1))
    units = parse_units(cfg.units, n)
    return seeds[(seeds["layer"] == layer) & seeds["unit"].isin(units)]


def run_accentuate(cfg: BuildConfig, progress: bool = True,
                   d: Dist | None = None) -> dict[str, Any]:
    from atlas.accent_stage import run_accents

    d = d or Dist()
    run, model, source = RunDir(cfg.out), model_of(cfg, d), source_of(cfg)
    if "hash" not in run.stage("mine"):
        run_mine(cfg, progress, d)
    seeds = d.broadcast(chosen_seeds(cfg, run) if d.main else None)
    key = stable_hash([run.stage("mine")["hash"], asdict(cfg.accent),
                       seeds[["layer", "unit", "rank", "image_id"]].to_dict("list")])
    if not (run.stage_done("accentuate", key) and run.has("accents")):
        d.barrier()
        if d.main:
            run.start_stage("accentuate", key)
        t0 = time.perf_counter()
        acc = run_accents(run, model, source, seeds, cfg.accent, key, progress and d.main, d)
        if d.main:
            secs = time.perf_counter() - t0
            run.finish_stage("accentuate", key, pairs=len(acc),
                             seconds_per_accent=round(secs * d.world / max(len(acc), 1), 3))
        d.barrier()
    return {"pairs": int(run.stage("accentuate").get("pairs", 0))}


def build(cfg: BuildConfig, progress: bool = True) -> dict[str, Any]:
    """Every stage in order (sharded over ranks under torchrun); prints one summary line."""
    from atlas.embed import run_embed
    from atlas.vis_stage import run_vis

    d = setup()
    t0 = time.perf_counter()
    run_mine(cfg, progress, d)
    acc = run_accentuate(cfg, progress, d)
    run = RunDir(cfg.out)
    run_vis(cfg, run, model_of(cfg, d), progress and d.main, d)
    site = ""
    if d.main:
        run_embed(run, cfg.embed)
        site = render(run, cfg)
        mine_st = run.stage("mine")
        units = sum(mine_st.get("units", {}).values())
        where = f"site {site}/index.html" if site else f"run {run.root}"
        print(f"atlas build: {units} units, {mine_st.get('images', 0)} images "
              f"({mine_st.get('skipped', 0)} skipped), {acc['pairs']} accentuations, "
              f"{time.perf_counter() - t0:.0f} s -> {where}")
    teardown(d)
    return {"site": site, "run": str(run.root)}


def render(run: RunDir, cfg: BuildConfig) -> str:
    from atlas.site import SiteConfig, render_site

    site_cfg = SiteConfig(title=cfg.site.title, thumb_px=cfg.site.thumb)
    return str(render_site(run.root, cfg.site.out, site_cfg))
