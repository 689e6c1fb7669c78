"""One stage run alone over a run directory, and the settings a command resolves, for tests
that call the pipeline's parts directly instead of through a command."""

from __future__ import annotations

from pathlib import Path

from atlas.config.accent import AccentConfig
from atlas.config.resolved import Resolved
from atlas.data.sources import ImageSource
from atlas.models.zoo import LoadedModel
from atlas.pipeline.stage import Context, Stage


def run_args(model: LoadedModel, cfg: AccentConfig, layer: str) -> dict:
    """What a command resolves for the accentuation loop (atlas.pipeline.resolve), for tests
    that call the loop directly: the regularization layer and the side of the views."""
    from atlas.models.probe import view_side
    from atlas.models.reglayer import reg_layer_for

    return {"reg_layer": reg_layer_for(model, layer, cfg.reg_layer),
            "view_px": view_side(model, cfg.view_scale)}


def stage_context(root: Path, model: LoadedModel | None = None,
                  source: ImageSource | None = None, **overrides) -> Context:
    """A stage context over run directory ``root`` with a config built from ``overrides``
    (``mine__k=8``) and, when a model is given, the settings resolved for it."""
    from atlas.config.tree import build_config
    from atlas.pipeline.resolve import resolve
    from atlas.pipeline.rundir import RunDir

    cfg = build_config(**overrides)
    resolved = resolve(cfg, model) if model is not None else None
    return Context(RunDir(root), cfg, model, source, resolved, progress=False)


def run_alone(stage: Stage, root: Path, model: LoadedModel | None = None,
              source: ImageSource | None = None, **overrides) -> dict:
    """Run one stage over ``root`` (skipped when done under the same key): what the manifest
    records of it, and whether it was cached."""
    from atlas.pipeline.stage import run_alone as run

    out = run(stage, stage_context(root, model, source, **overrides))
    return {"cached": out.cached, **out.info}


def resolved_for(model: LoadedModel, target: str | None = None, **overrides) -> Resolved:
    """The settings a command resolves for ``model`` and ``target`` under the default config
    (with ``overrides``, ``accent__batch_size=2``)."""
    from atlas.config.tree import build_config
    from atlas.pipeline.resolve import resolve

    return resolve(build_config(**overrides), model, target)
