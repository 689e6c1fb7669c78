"""One contract for every stage of a build, and the one runner that carries it out.

A :class:`Stage` declares what it reads (the stages upstream), what it writes (tables), the
settings its result depends on and how to compute it. :func:`run_stage` does the rest, the same
way for every stage: the resume key, skipping a stage already done under that key (its tables
present), the manifest's running/done records and timings, the barriers under torch.distributed,
and removing the stage's checkpoints once it is done.

The key hashes the stage's name, version and settings and, per input stage, the key it finished
under and when it finished. So an upstream stage that ran again (even with the same key, because
one of its tables was lost) makes the stages below it run again, and a stage computed while an
input was still running is not mistaken for done once that input finishes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from atlas.config.resolved import Resolved
from atlas.config.tree import BuildConfig
from atlas.data.sources import ImageSource
from atlas.errors import AtlasError
from atlas.io.hashing import stable_hash
from atlas.io.lock import RunLock
from atlas.models.distributed import Dist
from atlas.models.zoo import LoadedModel
from atlas.pipeline.rundir import RunDir

Publish = Callable[[], object]


@dataclass
class Context:
    """What stages compute from: the run directory, the build's config and, for the stages
    that run the model, the model, the images and the settings resolved for this command
    (:mod:`atlas.pipeline.resolve`). ``on_progress`` (rank 0) is called by a long stage after
    each finished part with a function that publishes the partial tables: the build uses it to
    re-render the site."""

    run: RunDir
    cfg: BuildConfig
    model: LoadedModel | None = None
    source: ImageSource | None = None
    resolved: Resolved | None = None
    dist: Dist = field(default_factory=Dist)
    progress: bool = True
    on_progress: Callable[[Publish], object] | None = None
    _with_bases: tuple[tuple, LoadedModel] | None = field(default=None, init=False, repr=False)

    @property
    def bar(self) -> bool:
        """Whether this process shows progress bars (rank 0 only)."""
        return self.progress and self.dist.main

    def progressed(self, publish: Publish) -> None:
        if self.on_progress is not None and self.dist.main:
            self.on_progress(publish)

    def inputs(self) -> tuple[LoadedModel, ImageSource, Resolved]:
        """The model (reading the run's basis, once the basis stage wrote it), images and
        resolved settings, for a stage that runs the model."""
        if self.model is None or self.source is None or self.resolved is None:
            raise AtlasError("this stage runs the model: open it with atlas.pipeline.session")
        return self._model_with_bases(self.model), self.source, self.resolved

    def _model_with_bases(self, model: LoadedModel) -> LoadedModel:
        found = sorted(self.run.basis_dir.glob("*.json")) if self.run.basis_dir.is_dir() else []
        key = tuple((p.name, p.stat().st_mtime_ns) for p in found)
        if self._with_bases is None or self._with_bases[0] != key:
            self._with_bases = (key, model.with_bases(self.run.bases()))
        return self._with_bases[1]


@dataclass(frozen=True)
class Stage:
    """A stage: ``compute(ctx, key)`` writes ``outputs`` and returns what the manifest records
    about it (rank 0's answer counts). ``sharded`` stages run on every rank, each taking a share,
    others on rank 0 alone. ``checkpoints`` are globs under ``checkpoints/`` that hold its
    resumable parts. ``early`` stages only serve the site shown during a build: ``atlas build``
    runs them only while it shows one (see :mod:`atlas.pipeline.stages`)."""

    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    settings: Callable[[Context], Any]
    compute: Callable[[Context, str], dict[str, Any] | None]
    version: str = "1"
    sharded: bool = False
    checkpoints: tuple[str, ...] = ()
    early: bool = False


@dataclass(frozen=True)
class Outcome:
    key: str
    cached: bool
    info: dict[str, Any]


def stage_key(stage: Stage, ctx: Context) -> str:
    done = {n: ctx.run.stage(n) for n in stage.inputs}
    ups = {n: [st.get("hash"), st.get("finished")] for n, st in done.items()}
    return stable_hash([stage.name, stage.version, stage.settings(ctx), ups])


def is_done(stage: Stage, ctx: Context, key: str) -> bool:
    run = ctx.run
    return run.stage_done(stage.name, key) and all(run.has(t) for t in stage.outputs)


def pending(stage: Stage, ctx: Context) -> bool:
    """True when running ``stage`` now would compute something."""
    return not is_done(stage, ctx, stage_key(stage, ctx))


def _decide(stage: Stage, ctx: Context) -> tuple[str, bool]:
    key = stage_key(stage, ctx)
    return key, is_done(stage, ctx, key)


def run_alone(stage: Stage, ctx: Context) -> Outcome:
    """One stage outside a build (``atlas embed``, tests): the run directory locked for it."""
    with RunLock(ctx.run.root):
        return run_stage(stage, ctx)


def run_stage(stage: Stage, ctx: Context) -> Outcome:
    """Run ``stage`` unless it is done under its key; every rank calls this for every stage.

    Rank 0 decides (key, done) and tells the others, so all ranks take the same branch and meet
    at the same barriers whatever they read from the run directory meanwhile.
    """
    d, run = ctx.dist, ctx.run
    key, done = d.broadcast(_decide(stage, ctx) if d.main else None)
    if done:
        return Outcome(key, True, run.stage(stage.name))
    if d.main:
        run.start_stage(stage.name, key)
    t0 = time.perf_counter()
    with run.writing(stage.outputs):
        info = (stage.compute(ctx, key) if stage.sharded or d.main else None) or {}
    d.barrier()
    if d.main:
        run.finish_stage(stage.name, key, compute_seconds=round(time.perf_counter() - t0, 3),
                         **info)
    run.clear_checkpoints(stage.checkpoints)
    d.barrier()
    return Outcome(key, False, info)
