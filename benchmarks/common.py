"""What several benchmarks share: settings resolved as a command resolves them, and a mining
pass over the bundled photos into a scratch run directory."""

from __future__ import annotations

import tempfile
from dataclasses import asdict
from typing import Any

import pandas as pd

from atlas.config.accent import AccentConfig
from atlas.config.resolved import Resolved
from atlas.config.tree import build_config
from atlas.data.sources import bundled
from atlas.models.zoo import LoadedModel
from atlas.pipeline.mine.stage import MINE
from atlas.pipeline.resolve import resolve
from atlas.pipeline.rundir import RunDir
from atlas.pipeline.stage import Context, run_alone


def resolved_for(model: LoadedModel, layer: str, accent: AccentConfig | None = None,
                 **overrides: Any) -> Resolved:
    """What ``atlas build`` resolves for ``model`` accentuating ``layer`` with the accentuation
    settings ``accent`` (its regularization layer, view side, pairs per batch); ``overrides``
    as build_config takes them (``mine__k=8``)."""
    if accent is not None:
        overrides["accent"] = asdict(accent)
    return resolve(build_config(mine__layers=[layer], **overrides), model, layer)


def loop_args(model: LoadedModel, layer: str, accent: AccentConfig) -> dict[str, Any]:
    """The keyword arguments :func:`atlas.accent.loop.accentuate` takes from the resolved
    settings."""
    r = resolved_for(model, layer, accent)
    return {"reg_layer": r.reg_layer, "view_px": r.view_px}


def mine_bundled(model: LoadedModel, layers: list[str], k: int, bottom_k: int = 1,
                 batch: int = 32, workers: int = 0) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The mine stage alone over the bundled photos: its top-k table and what it recorded."""
    cfg = build_config(mine__layers=layers, mine__k=k, mine__bottom_k=bottom_k,
                       mine__batch_size=batch, mine__workers=workers)
    with tempfile.TemporaryDirectory() as tmp:
        ctx = Context(RunDir(tmp), cfg, model, bundled(), resolve(cfg, model), progress=False)
        out = run_alone(MINE, ctx)
        return ctx.run.read_table("topk"), out.info
