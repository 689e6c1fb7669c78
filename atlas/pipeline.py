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


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise AtlasError(f"device {name!r} requested but CUDA is not available; valid: cpu, auto")
    return torch.device(name)


@cache
def _model(name: str, weights: str, size: int, device: str) -> LoadedModel:
    return load_model(name, weights, size or None).to(device)


def model_of(cfg: BuildConfig) -> LoadedModel:
    dev = str(pick_device(cfg.device))
    return _model(cfg.model.name, cfg.model.weights, cfg.model.input_size, dev)


def source_of(cfg: BuildConfig) -> ImageSource:
    src = open_source(cfg.data.images)
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


def run_mine(cfg: BuildConfig, progress: bool = True) -> dict[str, Any]:
    run, model, source = open_run(cfg), model_of(cfg), source_of(cfg)
    run.update_manifest(fingerprints={"model": model.fingerprint(), "data": source.fingerprint(),
                                      "images": len(source)})
    info = mine(run, model, source, cfg.mine, progress=progress)
    key = stable_hash([mine_hash(model, source, cfg.mine), "features-v1"])
    if not run.stage_done("features", key):
        run.start_stage("features", key)
        natural_features(run, model, source, cfg.mine.layers, cfg.mine.batch_size)
        run.finish_stage("features", key)
    return {"cached": info["cached"], "stage": run.stage("mine")}


def chosen_seeds(cfg: BuildConfig, run: RunDir):
    """Seeds of the units to accentuate: from select (diverse) restricted to ``cfg.units``."""
    from atlas.select import run_select

    seeds = run_select(run, cfg.select)
    layer = cfg.mine.layers[0]
    n = int(run.stage("mine").get("units", {}).get(layer, seeds["unit"].max() + 1))
    units = parse_units(cfg.units, n)
    return seeds[(seeds["layer"] == layer) & seeds["unit"].isin(units)]


def run_accentuate(cfg: BuildConfig, progress: bool = True) -> dict[str, Any]:
    from atlas.accent_stage import run_accents

    run, model, source = open_run(cfg), model_of(cfg), source_of(cfg)
    if not run.stage_done("mine", run.stage("mine").get("hash", "-")):
        run_mine(cfg, progress)
    seeds = chosen_seeds(cfg, run)
    key = stable_hash([run.stage("mine")["hash"], asdict(cfg.accent),
                       seeds[["layer", "unit", "rank", "image_id"]].to_dict("list")])
    if not (run.stage_done("accentuate", key) and run.has("accents")):
        run.start_stage("accentuate", key)
        t0 = time.perf_counter()
        acc = run_accents(run, model, source, seeds, cfg.accent, key, progress)
        secs = time.perf_counter() - t0
        run.finish_stage("accentuate", key, pairs=len(acc),
                         seconds_per_accent=round(secs / max(len(acc), 1), 3))
    return {"pairs": int(run.stage("accentuate").get("pairs", 0))}


def build(cfg: BuildConfig, progress: bool = True) -> dict[str, Any]:
    """Every stage in order; prints one summary line."""
    from atlas.embed import run_embed

    t0 = time.perf_counter()
    run_mine(cfg, progress)
    acc = run_accentuate(cfg, progress)
    run = RunDir(cfg.out)
    from atlas.vis_stage import run_vis

    run_vis(cfg, run, model_of(cfg), progress)
    run_embed(run, cfg.embed)
    site = ""
    try:
        from atlas.site import render_site
    except ImportError:  # pragma: no cover - the site stage is optional at build time
        render_site = None
    if render_site is not None:
        site = str(render_site(run.root, cfg.site.out))
    mine_st = run.stage("mine")
    units = sum(mine_st.get("units", {}).values())
    where = f"site {site}/index.html" if site else f"run {run.root}"
    print(f"atlas build: {units} units, {mine_st.get('images', 0)} images "
          f"({mine_st.get('skipped', 0)} skipped), {acc['pairs']} accentuations, "
          f"{time.perf_counter() - t0:.0f} s -> {where}")
    return {"site": site, "run": str(run.root)}
