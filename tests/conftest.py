"""Shared fixtures: the bundled model (loaded once) and a few real bundled photos."""

from __future__ import annotations

import pytest
import torch

from atlas.data.sources import bundled
from atlas.models.zoo import load_model


@pytest.fixture(scope="session")
def lite0():
    torch.manual_seed(0)
    return load_model("efficientnet-lite0")


@pytest.fixture(scope="session")
def photos():
    """Eight real bundled photos at 224 px, as the model sees them."""
    from atlas.data.loader import make_loader

    src = bundled()
    batch = next(iter(make_loader(src, 224, 8, 0, list(range(0, 80, 10)))))
    return batch.images


def run_args(model, cfg, layer: str) -> dict:
    """What a command resolves for the accentuation loop (atlas.pipeline.resolve), for tests
    that call the loop directly: the regularization layer and the side of the views."""
    from atlas.models.probe import view_side
    from atlas.models.reglayer import reg_layer_for

    return {"reg_layer": reg_layer_for(model, layer, cfg.reg_layer),
            "view_px": view_side(model, cfg.view_scale)}


def stage_context(root, model=None, source=None, **overrides):
    """A stage context over run directory ``root`` with a config built from ``overrides``
    (``mine__k=8``) and, when a model is given, the settings resolved for it."""
    from atlas.config.tree import build_config
    from atlas.pipeline.resolve import resolve
    from atlas.pipeline.rundir import RunDir
    from atlas.pipeline.stage import Context

    cfg = build_config(**overrides)
    resolved = resolve(cfg, model) if model is not None else None
    return Context(RunDir(root), cfg, model, source, resolved, progress=False)


def run_alone(stage, root, model=None, source=None, **overrides) -> dict:
    """Run one stage over ``root`` (skipped when done under the same key): what the manifest
    records of it, and whether it was cached."""
    from atlas.pipeline.stage import run_alone as run

    out = run(stage, stage_context(root, model, source, **overrides))
    return {"cached": out.cached, **out.info}


def resolved_for(model, target: str | None = None, **overrides):
    """The settings a command resolves for ``model`` and ``target`` under the default config
    (with ``overrides``, ``accent__batch_size=2``)."""
    from atlas.config.tree import build_config
    from atlas.pipeline.resolve import resolve

    return resolve(build_config(**overrides), model, target)
