"""The build's stages as functions of a config: mine (+ features), select, accentuate.

Each stage reads the run directory and writes its own part of it. A stage whose inputs and
settings hash to what the manifest records as done is skipped; an unfinished one resumes.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from dataclasses import asdict
from functools import cache
from typing import Any

import torch

from atlas import __version__
from atlas.accent.loop import auto_batch
from atlas.config.tree import BuildConfig, parse_units
from atlas.data.sources import ImageSource, open_source
from atlas.errors import AtlasError
from atlas.models.distributed import Dist
from atlas.models.runtime import pick_device
from atlas.models.zoo import LoadedModel, load_model
from atlas.pipeline.accent_parts import AccentParts
from atlas.pipeline.features import natural_features
from atlas.pipeline.mine import mine, mine_hash
from atlas.pipeline.rundir import RunDir, stable_hash


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


@cache
def _model(name: str, weights: str, size: int, device: str) -> LoadedModel:
    return load_model(name, weights, size or None).to(device)


def model_of(cfg: BuildConfig, d: Dist | None = None) -> LoadedModel:
    dev = str(pick_device(cfg.device, d.local_rank if d else 0))
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


def planned_units(cfg: BuildConfig, run: RunDir) -> tuple[str, list[int]]:
    """The layer and units this build accentuates and visualizes (``cfg.units`` of the first
    mined layer; the mine stage must be done, it knows the layer's size)."""
    layer = cfg.mine.layers[0]
    n = run.stage("mine").get("units", {}).get(layer)
    if n is None:
        raise AtlasError(f"the mine stage has not recorded layer {layer!r}; run it first")
    return layer, parse_units(cfg.units, int(n))


def chosen_seeds(cfg: BuildConfig, run: RunDir):
    """Seeds of the units to accentuate: from select (diverse) restricted to ``cfg.units``."""
    from atlas.pipeline.select import run_select

    seeds = run_select(run, cfg.select)
    layer, units = planned_units(cfg, run)
    return seeds[(seeds["layer"] == layer) & seeds["unit"].isin(units)]


def accent_plan(cfg: BuildConfig, run: RunDir, device: torch.device,
                d: Dist | None = None) -> AccentParts:
    """The accentuation stage's batches and part files (runs select where needed)."""
    d = d or Dist()
    seeds = d.broadcast(chosen_seeds(cfg, run) if d.main else None)
    key = stable_hash([run.stage("mine")["hash"], asdict(cfg.accent),
                       seeds[["layer", "unit", "rank", "image_id"]].to_dict("list")])
    return AccentParts(run, seeds, key, auto_batch(cfg.accent.batch_size, device))


def run_accentuate(cfg: BuildConfig, progress: bool = True, d: Dist | None = None,
                   parts: AccentParts | None = None,
                   on_batch: Callable[[], object] | None = None) -> dict[str, Any]:
    """The accentuation stage; ``on_batch`` runs after each newly finished batch (rank 0)."""
    from atlas.pipeline.accentuate import run_accents

    d = d or Dist()
    run, model, source = RunDir(cfg.out), model_of(cfg, d), source_of(cfg)
    if "hash" not in run.stage("mine"):
        run_mine(cfg, progress, d)
    parts = parts or accent_plan(cfg, run, model.device, d)
    if not (run.stage_done("accentuate", parts.key) and run.has("accents")):
        d.barrier()
        if d.main:
            run.start_stage("accentuate", parts.key)
        t0 = time.perf_counter()
        acc = run_accents(run, model, source, parts, cfg.accent, progress and d.main, d,
                          on_batch if d.main else None)
        if d.main:
            secs = time.perf_counter() - t0
            run.finish_stage("accentuate", parts.key, pairs=len(acc),
                             seconds_per_accent=round(secs * d.world / max(len(acc), 1), 3))
        d.barrier()
    return {"pairs": int(run.stage("accentuate").get("pairs", 0))}
