"""The build's stages, listed once and in order, and the entry points that run some of them.

``atlas build`` runs :data:`PIPELINE` from the top (:mod:`atlas.pipeline.build`); ``atlas mine``
and ``atlas accentuate`` run the stages their target needs (its inputs, transitively) in the
same order. :data:`RENDER` marks where a build shows its site while it works: after mining and
seed selection (every unit with its natural images), and once the maps of natural images
exist. Visualization runs before accentuation: one optimization per unit against one per seed
(four or more), it gives every page a picture of what its unit likes early on. The decisions
(predictions, connections) and the causal labels (an ablation pass, the slowest part of
describing a unit) come right after the first render, so they do not delay it, and the class
accentuations after the unit accentuations.

A new stage is one entry here: a :class:`~atlas.pipeline.stage.Stage` placed after the stages
it reads (before the first ``RENDER`` if the first site should show it).
"""

from __future__ import annotations

from typing import Any

from atlas.config.resolved import Resolved
from atlas.config.tree import BuildConfig
from atlas.pipeline.accentuate.stage import ACCENTUATE
from atlas.pipeline.basis.stage import BASIS
from atlas.pipeline.connect.stage import CONNECT
from atlas.pipeline.decisions.accent import CLASS_ACCENTUATE
from atlas.pipeline.decisions.predict import PREDICT
from atlas.pipeline.describe.causal_stage import CAUSAL
from atlas.pipeline.describe.stage import DESCRIBE
from atlas.pipeline.embed.stage import EMBED, EMBED_NATURAL
from atlas.pipeline.mine.stage import MINE
from atlas.pipeline.select.stage import SELECT
from atlas.pipeline.session import session
from atlas.pipeline.stage import Context, Outcome, Stage, run_stage
from atlas.pipeline.vis import VIS

RENDER = "render"
PIPELINE: tuple[Stage | str, ...] = (
    BASIS, MINE, DESCRIBE, SELECT, RENDER, PREDICT, CONNECT, CAUSAL, EMBED_NATURAL, RENDER, VIS,
    ACCENTUATE, CLASS_ACCENTUATE, EMBED,
)


def stages() -> list[Stage]:
    return [s for s in PIPELINE if isinstance(s, Stage)]


def needed(target: str) -> list[Stage]:
    """``target`` and the stages it reads, transitively, in pipeline order."""
    by_name = {s.name: s for s in stages()}
    want: set[str] = set()
    todo = [target]
    while todo:
        name = todo.pop()
        if name not in want:
            want.add(name)
            todo += by_name[name].inputs
    return [s for s in stages() if s.name in want]


def run_until(ctx: Context, target: str) -> dict[str, Outcome]:
    return {s.name: run_stage(s, ctx) for s in needed(target)}


def run_mine(cfg: BuildConfig, progress: bool = True, resolved: Resolved | None = None,
             **given: Any) -> dict[str, Any]:
    """``atlas mine``: mining, then the describe pass (maps, labels, pooled vectors) and the
    causal labels. ``given``: ``model`` and ``source`` given in Python (see :func:`session`)."""
    with session(cfg, progress, resolved, **given) as ctx:
        done = {**run_until(ctx, DESCRIBE.name), **run_until(ctx, CAUSAL.name)}
    return {"cached": done[MINE.name].cached, "stage": ctx.run.stage(MINE.name)}


def run_accentuate(cfg: BuildConfig, progress: bool = True,
                   resolved: Resolved | None = None, **given: Any) -> dict[str, Any]:
    """``atlas accentuate``: what accentuation needs (mine, describe, select), then it."""
    with session(cfg, progress, resolved, **given) as ctx:
        run_until(ctx, ACCENTUATE.name)
    return {"pairs": int(ctx.run.stage(ACCENTUATE.name).get("pairs", 0))}
