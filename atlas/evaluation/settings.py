"""What ``atlas validate`` measures: the ``[validate]`` section of the config tree.

Its own module, so the validation's parts (:mod:`atlas.evaluation.layer`) read it without
importing the command that runs them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from atlas.accent.loop import AccentConfig
from atlas.config.checks import check_int
from atlas.errors import AtlasError


@dataclass
class ValidateConfig:
    """What to measure. Defaults fit a CPU in minutes; raise ``units``/``seeds`` on a GPU."""

    layers: list[str] = field(default_factory=lambda: ["_blocks.10"])
    units: int = 16  # per layer, spread evenly over its channels
    naturals: int = 6  # natural top images per unit (the reference set)
    seeds: int = 1  # of those, how many (the top ones) are accentuated and visualized
    randoms: int = 6  # random other photos per unit (the chance baseline)
    attr_layers: list[str] = field(
        default_factory=lambda: ["_blocks.4", "_blocks.6", "_blocks.8"])
    images: int = 512  # at most this many source images are read to find top images
    natural_pairs: int = 64  # random photo pairs for the natural-distance yardstick
    sweep_units: int = 2  # units of the first layer swept over λ (0: no sweep)
    lambdas: list[float] = field(
        default_factory=lambda: [float(f"{v:.3g}") for v in np.logspace(-2, 2, 9)])
    bootstrap: int = 2000
    seed: int = 0
    # the accentuation settings are the tree's [accent] (the command line passes them in), not
    # keys of [validate]: one home per setting
    accent: AccentConfig = field(default_factory=AccentConfig, metadata={"tree": False})

    def validate(self) -> None:
        if not self.layers or not all(isinstance(x, str) and x for x in self.layers):
            raise AtlasError("validate.layers must be a non-empty list of layer names")
        if not self.attr_layers:
            raise AtlasError("validate.attr_layers must name at least one layer below the target")
        check_int("validate.units", self.units, 2, 100_000)
        check_int("validate.naturals", self.naturals, 2, 1000)
        check_int("validate.seeds", self.seeds, 1, self.naturals)
        check_int("validate.randoms", self.randoms, 1, 1000)
        check_int("validate.images", self.images, 2)
        check_int("validate.natural_pairs", self.natural_pairs, 1, 100_000)
        check_int("validate.sweep_units", self.sweep_units, 0, self.units)
        check_int("validate.bootstrap", self.bootstrap, 100, 1_000_000)
        lams = list(self.lambdas)
        if self.sweep_units and (len(lams) < 3 or any(v <= 0 for v in lams)
                                 or lams != sorted(set(lams))):
            raise AtlasError(f"validate.lambdas must be >= 3 distinct positive values in "
                             f"ascending order, got {lams}")
        self.accent.validate()
