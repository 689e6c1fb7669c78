"""Each step's random views, and the seed's activations the regularizer compares them with.

The seed's references (its activations at the regularization layer, read through the same boxes
as the image, with other noise) are computed without grad, many at a time, before the steps that
use them. Two ways to draw the boxes (``accent.augment.boxes``):

- a pool of ``boxes`` boxes per pair, drawn once: the seed is read once per box in one batched
  pass, and each step scores ``crops`` of its pair's boxes with fresh noise on the image. The
  seed's reads per view were a tenth of an accentuation's CPU time (docs/benchmarks.md,
  "Accentuation speed against the floor"). Feature visualization has no seed to read, so it
  always draws new boxes;
- 0: new boxes for every view of every step, drawn several steps ahead so that the seed's views
  of those steps take one pass of at most :data:`SEED_VIEWS` views.

Every box drawn has a row number (in drawing order), which per-box sums of the views' maps
(:class:`~atlas.accent.masks.BoxMaps`) are indexed by.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from atlas.accent.views import BoxPool, NoiseBank, Views, draw_views, pixel_boxes
from atlas.config.accent import AugmentConfig

# The seed's reference pass takes the views of as many steps as fit in this many views: the
# views are drawn ahead (the same draws, in the same order), and a CPU runs one batch of 64
# far more efficiently than several of 3 or 12; on a GPU a step's views already exceed it.
SEED_VIEWS = 64

Reader = Callable[[list[Views]], list[torch.Tensor]]  # the seed's references, per Views


@dataclass
class Step:
    views: Views
    reference: torch.Tensor | None  # the seed on the same boxes (float32), None: no regularizer
    rows: torch.Tensor  # (N*T,) the boxes' row numbers


class ViewStream:
    """Yields each step's :class:`Step`; ``read`` (None when nothing is regularized toward a
    seed) reads the seed through a list of Views in one pass."""

    def __init__(self, cfg: AugmentConfig, steps: int, n: int, size: int,
                 generator: torch.Generator, noise_generator: torch.Generator,
                 read: Reader | None) -> None:
        self.cfg, self.steps, self.n, self.size = cfg, steps, n, size
        self.gen, self.read = generator, read
        self.bank = NoiseBank(n * cfg.crops, size, cfg.noise, noise_generator)
        self.theta: list[torch.Tensor] = []  # every box drawn, in row order
        self.ahead: list[tuple[Views, torch.Tensor | None, torch.Tensor]] = []
        self.pool, self.pooled, self.step = None, None, 0
        if cfg.boxes and read is not None:  # without a seed, a pool would only cut variety
            per = max(cfg.boxes, cfg.crops)  # a step's boxes are distinct
            self.pool = BoxPool.draw(cfg, n, per, size, generator, noise_generator)
            self.theta.append(self.pool.theta)
            self.pooled = read([self.pool.seed_views()])[0]

    @property
    def rows(self) -> int:
        """How many boxes a run draws in all."""
        return self.n * (self.pool.per if self.pool else self.steps * self.cfg.crops)

    def boxes(self, h: int, w: int) -> list[tuple[int, int, int, int]]:
        """Pixel boxes of every row drawn so far, on an h x w canvas."""
        return pixel_boxes(torch.cat(self.theta), h, w)

    def next(self) -> Step:
        """The next step's views and references (call before the step's graph exists: the
        references' temporaries then reuse memory the graph frees)."""
        self.step += 1
        if self.pool is not None:
            views, rows = self.pool.pick(self.cfg.crops, self.gen, self.bank.windows(self.gen)[0])
            return Step(views, self.pooled[rows.to(self.pooled.device)].float(), rows)
        if not self.ahead:
            m = self.n * self.cfg.crops
            k = min(max(1, SEED_VIEWS // m), self.steps - self.step + 1)
            drawn = [draw_views(self.cfg, self.n, self.size, self.gen, self.bank)
                     for _ in range(k)]
            refs = self.read(drawn) if self.read else [None] * k
            start = sum(len(t) for t in self.theta)
            self.theta += [v.theta for v in drawn]
            self.ahead = [(v, r, torch.arange(start + i * m, start + (i + 1) * m))
                          for i, (v, r) in enumerate(zip(drawn, refs, strict=True))]
        views, ref, rows = self.ahead.pop(0)
        return Step(views, None if ref is None else ref.float(), rows)
