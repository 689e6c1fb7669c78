"""How much each unit of an earlier layer drives a unit of a later one, on one image.

The drive of input channel c on unit u is its activation times the gradient of u's objective
(its map reduced as mining reduced it: spatial mean or max), summed over positions: a
first-order share of the objective carried by channel c (for a linear path the shares add up
to the objective, less the biases).

One pass per batch: the prefix runs once per image up to the earlier layer, whose output is
then expanded into one row per (image, later unit), made a leaf that needs its gradient, and
only the part between the two layers runs on the rows; one backward gives every row's
gradient. Where the part between re-uses a tensor from before the cut (a skip around it), the
expanded rows no longer match it; PyTorch refuses the shapes and the rows repeat the images
instead (the prefix then runs per row: slower, exact for any wiring).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from atlas.errors import AtlasError
from atlas.models.hooks import LayerHooks
from atlas.models.maps import as_map
from atlas.models.zoo import LoadedModel


class NoPath(AtlasError):
    """The later layer does not depend on the earlier one (parallel branches)."""


class DriveForward:
    """Drives of ``early``'s channels on units of ``late`` (``reduce``: "mean" or "max")."""

    def __init__(self, model: LoadedModel, early: str, late: str, reduce: str = "mean"):
        self.model, self.early, self.late, self.reduce = model, early, late, reduce
        self.expand = True  # False once the part between refused an expanded batch

    def _run(self, images: torch.Tensor, rows: Sequence[tuple[int, int]],
             expand: bool) -> torch.Tensor:
        n = len(rows)
        idx = [i for i, _ in rows]
        if expand and len(idx) == len(images) and idx != list(range(len(images))):
            idx.append(idx[0])  # same size as the input could broadcast silently with a skip
        pick = torch.tensor(idx, device=images.device)
        cut: dict[str, torch.Tensor] = {}

        def swap(a: torch.Tensor) -> torch.Tensor:
            x = a.detach()[pick] if expand else a.detach()
            cut["leaf"] = x.requires_grad_()
            return cut["leaf"]

        m = self.model
        x = images if expand else images[pick]
        with torch.enable_grad(), LayerHooks({self.late: m.layer(self.late)}, stop=True,
                                             swap=(m.layer(self.early), swap)) as hooks:
            hooks.run(m.module, m.normalize(x))
            if "leaf" not in cut or self.late not in hooks.outputs:
                raise NoPath(f"layer {self.late!r} does not run after {self.early!r}")
            late = as_map(hooks.outputs[self.late])[:n]
            units = torch.tensor([u for _, u in rows], device=late.device)
            own = late[torch.arange(n, device=late.device), units].flatten(1)
            obj = own.amax(1) if self.reduce == "max" else own.mean(1)
            (grad,) = torch.autograd.grad(obj.float().sum(), cut["leaf"], allow_unused=True)
        if grad is None:
            raise NoPath(f"layer {self.late!r} does not depend on {self.early!r}")
        act = as_map(cut["leaf"].detach())[:n].float()
        return (act * as_map(grad)[:n].float()).flatten(2).sum(2).cpu()

    def __call__(self, images: torch.Tensor, rows: Sequence[tuple[int, int]]) -> torch.Tensor:
        """``rows``: (image index, later unit). Returns (rows, early channels) drives."""
        if not rows:
            return torch.zeros(0, 0)
        if self.expand:
            try:
                return self._run(images, rows, True)
            except RuntimeError:
                self.expand = False
        return self._run(images, rows, False)
