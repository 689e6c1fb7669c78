"""The ``[accent]`` section: how one accentuation runs (the engine is :mod:`atlas.accent`).

Defaults are chosen by what a person sees, measured by ``benchmarks/quality.py``
(docs/benchmarks.md has the curve over these levers and docs/method.md the reasons).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from atlas.config.checks import check_float
from atlas.config.fields import MAX_SEED, flag, num, one_of, section, text

TARGETS = ("mean", "max", "neuron")
FOCUS = ("all", "active")
PARAMS = ("fourier", "maco", "pixel")
SCHEDULES = ("constant", "cosine")
MASKS = ("gradient", "change", "layer")  # atlas.accent.masks.finish_masks


@dataclass
class AugmentConfig:
    """The random views scored at each step, applied alike to the image and its seed."""

    SECTION: ClassVar[str] = "accent.augment"
    # crops per image per step: two, with 20 steps at lr 0.2, keep every quality target at
    # 0.4x the CPU time of four crops and 30 steps (docs/benchmarks.md, "Engine")
    crops: int = num(2, 1, 256)
    min_side: float = num(0.5, 0.0, 1.0, open_lo=True)  # crop side / canvas, uniform in
    max_side: float = num(1.0, 0.0, 1.0, open_lo=True)  # [min_side, max_side]
    noise: float = num(0.02, 0.0, 1.0)  # std of additive pixel noise
    # crop boxes per pair for the whole run (at least ``crops``), each step taking ``crops`` of
    # them: the seed is read once per box, not once per view (0: new boxes every step)
    boxes: int = num(12, 0, 100_000)

    def rules(self, dot: str) -> None:
        check_float(f"{dot}max_side", self.max_side, self.min_side, 1.0)



@dataclass
class AccentConfig:
    """Settings of one accentuation."""

    SECTION: ClassVar[str] = "accent"
    steps: int = num(20, 1, 100_000)
    lr: float = num(0.2, 0.0, 10.0, open_lo=True)
    lam: float = num(0.3, 0.0, 1e6)
    canvas: int = num(224, 16, 4096)
    # side of the random views / the model's input size (224 -> 160 px): half the cost, and
    # coarser edits that survive a blur; models that take one input size only get that size
    view_scale: float = num(0.715, 0.1, 4.0)
    param: str = one_of("fourier", PARAMS)
    decay: float = num(1.5, 0.0, 4.0)  # spectrum 1/f^decay (RMS-normalized): smooth changes
    reg_layer: str = text("")  # "": the model's rule (atlas.models.reglayer)
    target: str = one_of("mean", TARGETS)
    focus: str = one_of("active", FOCUS)  # raise the unit where it fires, or "all" of it
    schedule: str = one_of("cosine", SCHEDULES)
    batch_size: int = num(0, 0, 4096)  # pairs optimized together; 0: by the device
    frames: int = num(0, 0, 256)  # snapshots for the seed-to-accentuation animation
    # bfloat16 autocast: on CUDA the whole model; on CPUs with native bf16 only the seed's
    # no-grad reference pass (atlas.accent.loop.reference_precision)
    amp: bool = flag(True)
    # the attribution mask, averaged over the views that saw each canvas pixel:
    # "layer": |d target / d A| at the regularization layer, summed over its channels, every
    # step (the deep backward pass computes it anyway: no extra pass); "gradient":
    # |d target / d pixels| on every mask_every-th step (a second shallow backward pass each);
    # "change": |accentuation - seed| (also marks where the image drifted). "layer" agrees
    # best with where the unit fires (docs/benchmarks.md, "Which mask")
    mask: str = one_of("layer", MASKS)
    # gradient masks: attribution every k-th step, each a backward pass through the shallow
    # part; every 2nd keeps as many samples over 20 steps as every 3rd did over 30
    mask_every: int = num(2, 1, 100_000)
    mask_coverage: bool = flag(True)  # average the attribution over the views that saw a pixel
    # Gaussian sigma of the mask in cells of the target layer's grid (0: raw |gradient|): a
    # quarter cell reads as regions, not grain, and blurs less of what the grid resolves
    # than half a cell (docs/benchmarks.md, "Which mask")
    mask_smooth: float = num(0.25, 0.0, 16.0)
    seed: int = num(0, 0, MAX_SEED)
    augment: AugmentConfig = section(AugmentConfig)
