"""The session stages run in: ranks joined, the run directory locked, the inputs opened and
recorded, and what the build plans to accentuate."""

from __future__ import annotations

import platform
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

import torch

from atlas import __version__
from atlas.config.resolved import Resolved
from atlas.config.tree import BuildConfig
from atlas.config.units import parse_units
from atlas.data.sources import ImageSource
from atlas.errors import AtlasError
from atlas.io.lock import RunLock
from atlas.models.distributed import setup, teardown
from atlas.models.zoo import LoadedModel
from atlas.pipeline.resolve import model_of, resolve, source_of
from atlas.pipeline.rundir import RunDir
from atlas.pipeline.stage import Context


def versions() -> dict[str, str]:
    import numpy
    import pandas

    return {"atlas": __version__, "torch": torch.__version__, "numpy": numpy.__version__,
            "pandas": pandas.__version__, "python": platform.python_version()}


def record_inputs(run: RunDir, cfg: BuildConfig, model: LoadedModel, source: ImageSource,
                  resolved: Resolved) -> None:
    """Write what this run is made of into the manifest: the config as given, what it resolved
    to, versions and fingerprints."""
    run.root.mkdir(parents=True, exist_ok=True)
    run.update_manifest(config=cfg.to_dict(), resolved=resolved.to_dict(), versions=versions(),
                        name=cfg.name,
                        fingerprints={"model": model.fingerprint(), "data": source.fingerprint(),
                                      "images": len(source)})


def planned_units(cfg: BuildConfig, run: RunDir) -> tuple[str, list[int]]:
    """The layer and units this build accentuates and visualizes (``cfg.units`` of
    ``cfg.planned_layer``; the mine stage must be done, it knows the layer's size)."""
    layer = cfg.planned_layer
    n = run.stage("mine").get("units", {}).get(layer)
    if n is None:
        raise AtlasError(f"the mine stage has not recorded layer {layer!r}; run it first")
    return layer, parse_units(cfg.units, int(n), layer)


@contextmanager
def session(cfg: BuildConfig, progress: bool = True,
            resolved: Resolved | None = None) -> Iterator[Context]:
    """The context stages run in: ranks joined (under torchrun), the run directory locked
    (rank 0; a second build fails at once), the model and images opened, the settings resolved
    (``resolved``: already, by the command's checks) and all of it recorded."""
    d = setup()
    run = RunDir(cfg.run_dir)
    with RunLock(run.root) if d.main else nullcontext():
        model = model_of(cfg, d)
        resolved = resolved or resolve(cfg, model)
        ctx = Context(run, cfg, model, source_of(cfg), resolved, d, progress)
        if d.main:
            record_inputs(run, cfg, model, ctx.source, resolved)
        d.barrier()
        yield ctx
    teardown(d)
