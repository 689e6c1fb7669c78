"""What a command derives from its config, the machine and the model, resolved once.

The device, the accentuation's regularization layer (the model's rule when ``accent.reg_layer``
is empty), batch sizes, decoding workers and the side of the random views all depend on more
than the config: the GPU at hand, the core count, what sizes the model takes. One function at
the start of a command computes them (:func:`atlas.pipeline.resolve.resolve`), the manifest
records them, and every stage reads them from here; none derives them again and the user's
config is never changed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Resolved:
    device: str  # "cpu", "cuda:0", ...
    reg_layer: str  # where accentuations are kept close to their seed
    accent_batch: int  # (unit, seed) pairs optimized together
    vis_batch: int  # units per feature-visualization call
    workers: int  # image-decoding worker processes (0: in-process)
    view_px: int  # side of the random views fed to the model
    class_reg_layer: str = ""  # the same as reg_layer, for accentuations toward a class's logit
    reg_layers: dict[str, str] = field(default_factory=dict)  # per unit layer, when they differ

    def reg_for(self, layer: str) -> str:
        """The regularization layer of accentuations that target ``layer``."""
        return self.reg_layers.get(layer, self.reg_layer)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
