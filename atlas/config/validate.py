"""The ``[validate]`` section: what ``atlas validate`` measures (:mod:`atlas.evaluation`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from atlas.config.accent import AccentConfig
from atlas.config.checks import check_int
from atlas.config.fields import MAX_SEED, floats, names, num
from atlas.errors import AtlasError

LAMBDAS = (0.01, 0.0316, 0.1, 0.316, 1.0, 3.16, 10.0, 31.6, 100.0)  # 9 points, log-spaced


@dataclass
class ValidateConfig:
    """What to measure. Defaults fit a CPU in minutes; raise ``units``/``seeds`` on a GPU."""

    SECTION: ClassVar[str] = "validate"
    layers: list[str] = names("_blocks.10")
    units: int = num(16, 2, 100_000)  # per layer, spread evenly over its channels
    naturals: int = num(6, 2, 1000)  # natural top images per unit (the reference set)
    seeds: int = num(1, 1, 1000)  # of those, how many (the top ones) are accentuated
    randoms: int = num(6, 1, 1000)  # random other photos per unit (the chance baseline)
    attr_layers: list[str] = names("_blocks.4", "_blocks.6", "_blocks.8")
    images: int = num(512, 2)  # at most this many source images are read to find top images
    natural_pairs: int = num(64, 1, 100_000)  # random photo pairs: the natural-distance yardstick
    sweep_units: int = num(2, 0, 100_000)  # units of the first layer swept over λ (0: no sweep)
    lambdas: list[float] = floats(*LAMBDAS)
    bootstrap: int = num(2000, 100, 1_000_000)
    seed: int = num(0, 0, MAX_SEED)
    # the accentuation settings are the tree's [accent] (the command line passes them in), not
    # keys of [validate]: one home per setting
    accent: AccentConfig = dataclasses.field(default_factory=AccentConfig,
                                             metadata={"tree": False})

    def rules(self, dot: str) -> None:
        check_int(f"{dot}seeds", self.seeds, 1, self.naturals)
        check_int(f"{dot}sweep_units", self.sweep_units, 0, self.units)
        lams = list(self.lambdas)
        if self.sweep_units and (len(lams) < 3 or any(v <= 0 for v in lams)
                                 or lams != sorted(set(lams))):
            raise AtlasError(f"{dot}lambdas must be >= 3 distinct positive values in "
                             f"ascending order, got {lams}")
