"""The build's stages, listed once and in order, and the entry points that run some of them.

``atlas build`` runs :data:`PIPELINE` from the top (:mod:`atlas.pipeline.build`); ``atlas mine``
and ``atlas accentuate`` run the stages their target needs (its inputs, transitively) in the
same order. :data:`RENDER` marks where a build shows its site while it works: after mining and
seed selection (every unit with its natural images), and once the maps of natural images
exist. Visualization runs before accentuation: one optimization per unit against one per seed
(four or more), it gives every page a picture of what its unit likes early on.

A new stage is one entry here: a :class:`~atlas.pipeline.stage.Stage` placed after the stages
it reads (before the first ``RENDER`` if the first site should show it).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

from atlas.config.reglayer import reg_layer_for
from atlas.models.distributed import setup, teardown
from atlas.pipeline.accentuate import ACCENTUATE
from atlas.pipeline.describe import DESCRIBE
from atlas.pipeline.embed import EMBED, EMBED_NATURAL
from atlas.pipeline.inputs import model_of, record_inputs, source_of
from atlas.pipeline.mine import MINE
from atlas.pipeline.rundir import RunDir
from atlas.pipeline.runlock import RunLock
from atlas.pipeline.select import SELECT
from atlas.pipeline.stage import Context, Outcome, Stage, run_stage
from atlas.pipeline.vis import VIS

if TYPE_CHECKING:
    from atlas.config.tree import BuildConfig

RENDER = "render"
PIPELINE: tuple[Stage | str, ...] = (
    MINE, DESCRIBE, SELECT, RENDER, EMBED_NATURAL, RENDER, VIS, ACCENTUATE, EMBED,
)
__all__ = ["PIPELINE", "RENDER", "model_of", "needed", "run_accentuate", "run_mine", "session"]


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


@contextmanager
def session(cfg: BuildConfig, progress: bool = True) -> Iterator[Context]:
    """The context stages run in: ranks joined (under torchrun), the run directory locked
    (rank 0; a second build fails at once), the model and images opened and recorded."""
    d = setup()
    run = RunDir(cfg.out)
    with RunLock(run.root) if d.main else nullcontext():
        model = model_of(cfg, d)
        # the model's rule resolved here, not only by the CLI's preflight: library callers' hashes,
        # manifest and accents table then name the layer used, never ""
        cfg.accent.reg_layer = reg_layer_for(model, cfg.mine.layers[0], cfg.accent.reg_layer)
        ctx = Context(run, cfg, d, progress, model, source_of(cfg))
        if d.main:
            record_inputs(run, cfg, ctx.model, ctx.source)
        d.barrier()
        yield ctx
    teardown(d)


def run_until(ctx: Context, target: str) -> dict[str, Outcome]:
    return {s.name: run_stage(s, ctx) for s in needed(target)}


def run_mine(cfg: BuildConfig, progress: bool = True) -> dict[str, Any]:
    """``atlas mine``: mining, then the describe pass (maps, labels, feature vectors)."""
    with session(cfg, progress) as ctx:
        done = run_until(ctx, DESCRIBE.name)
    return {"cached": done[MINE.name].cached, "stage": ctx.run.stage(MINE.name)}


def run_accentuate(cfg: BuildConfig, progress: bool = True) -> dict[str, Any]:
    """``atlas accentuate``: what accentuation needs (mine, describe, select), then it."""
    with session(cfg, progress) as ctx:
        run_until(ctx, ACCENTUATE.name)
    return {"pairs": int(ctx.run.stage(ACCENTUATE.name).get("pairs", 0))}
