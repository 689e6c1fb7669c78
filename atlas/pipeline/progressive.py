"""The site during a build: rendered early, re-rendered as units finish, rendered at the end.

``atlas build`` renders at the ``RENDER`` points of its stage list (:mod:`atlas.pipeline.stages`):
right after mining and seed selection (every unit with its natural images, marked "accentuation
pending") and again when the maps exist, then as visualizations and accentuations finish, and a
last time at the end. The manifest's ``build`` record says what the
pages need to tell pending from not chosen: the state (``running`` or ``done``) and the units
planned per layer (:mod:`atlas.site.status` reads it).

A re-render is a whole render without the shareable reports (they inline every image; the final
render makes them). A render is written into a staged copy of the site that replaces it whole
(:mod:`atlas.io.swap`), so a reader, or a kill in the middle of a re-render, finds a
complete site.

Throttle: after a finished batch the site is re-rendered when at least ``every`` seconds have
passed since the last render ended *and* at least ``(1 - share) / share`` times that render's
own duration, so re-rendering takes at most about ``share`` of the build whatever a render
costs (it grows with units and accentuations) and however fast accentuation is.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from atlas.pipeline.rundir import RunDir


class Refresher:
    """Calls ``render`` now, or when enough time has passed (see the module note)."""

    def __init__(self, render: Callable[[], object], every: float, share: float = 0.1,
                 clock: Callable[[], float] = time.monotonic):
        self.render, self.every, self.share, self.clock = render, every, share, clock
        self.last_end: float | None = None
        self.last_cost = 0.0
        self.count, self.seconds = 0, 0.0

    def due(self) -> bool:
        if self.every <= 0:
            return False  # progressive rendering off: only the final render
        if self.last_end is None:
            return True
        wait = max(self.every, self.last_cost * (1 - self.share) / self.share)
        return self.clock() - self.last_end >= wait

    def now(self, before: Callable[[], object] | None = None) -> None:
        """Render now; ``before`` (publishing a stage's partial tables) counts as render time."""
        start = self.clock()
        if before is not None:
            before()
        self.render()
        self.last_end = self.clock()
        self.last_cost = self.last_end - start
        self.count += 1
        self.seconds += self.last_cost

    def maybe(self, before: Callable[[], object] | None = None) -> bool:
        """Render (after ``before``) if due; True when it did."""
        if not self.due():
            return False
        self.now(before)
        return True


def mark_build(run: RunDir, state: str, **info: Any) -> None:
    """Record the build's state (``running`` or ``done``) and ``info`` in the manifest.

    ``planned``: ``{layer: [units]}`` to accentuate and visualize; ``units``: the spec they came
    from (``""`` for all), which the pages quote to say why a unit was left out.
    """
    m = run.manifest()
    rec = dict(m.get("build") or {}) if state == "done" else {"started": time.time()}
    rec.update(state=state, **info)
    if state == "done":
        rec["finished"] = time.time()
    run.update_manifest(build=rec)
