"""Objectives name the layers they need, so only those are hooked and the model stops early.

Every objective is batched over (unit, seed) pairs: row i of a batch has its own unit, and the T
random views of row i are rows i*T .. i*T+T-1 of the activations. Values are per pair, averaged
over views.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from atlas.config.accent import FOCUS, TARGETS
from atlas.config.checks import check_choice
from atlas.models.basis import PRE, split_name
from atlas.models.maps import as_map


@dataclass
class Target:
    """A unit's activation: spatial mean (default), spatial max, or one position.

    ``units`` holds one channel per pair; ``position`` is (y, x) in the layer's map for kind
    "neuron" (default: centre).
    """

    layer: str
    units: torch.Tensor
    kind: str = "mean"
    position: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        check_choice("target kind", self.kind, TARGETS)

    @property
    def objective_layer(self) -> str:
        """What the optimization raises: the unit layer itself, or for a feature of a basis its
        pre-activation (a TopK code that is off has no gradient; :mod:`atlas.models.basis`)."""
        return self.layer + PRE if split_name(self.layer)[1] else self.layer

    @property
    def layers(self) -> list[str]:
        return list(dict.fromkeys([self.layer, self.objective_layer]))

    def __call__(self, acts: dict[str, torch.Tensor], layer: str | None = None) -> torch.Tensor:
        """The units' values (per pair, mean over views) at ``layer`` (default: the unit
        layer, the number reported)."""
        a = as_map(acts[layer or self.layer])
        n = self.units.shape[0]
        views = a.shape[0] // n
        m = self._unit_maps(a, views)
        if self.kind == "mean":
            per_view = m.flatten(1).mean(1)
        elif self.kind == "max":
            per_view = m.flatten(1).amax(1)
        else:
            y, x = self.position or (m.shape[1] // 2, m.shape[2] // 2)
            per_view = m[:, y, x]
        return per_view.view(n, views).mean(1)

    def _unit_maps(self, a: torch.Tensor, views: int) -> torch.Tensor:
        """Each row's own unit's map, (B, H, W): row i*views+v reads ``units[i]``."""
        idx = self.units.to(a.device).repeat_interleave(views)
        return a[torch.arange(a.shape[0], device=a.device), idx]

    def objective(self, acts: dict[str, torch.Tensor], focus: str = "all") -> torch.Tensor:
        """What the optimizer raises: the reported value (``focus="all"``), or, for
        ``"active"``, the unit's map averaged with weights proportional to its positive part
        (detached), so the gradient flows only from the positions where the unit fires.

        Raising the mean everywhere also pushes positions where the unit is silent, which on
        a photo means repainting the background; ``"active"`` accentuates what is already
        there, keeps the change where the unit responds, and makes the attribution (the
        gradient) point at those positions. A view where the unit does not fire on average
        (mean <= 0) has nothing to accentuate and falls back to uniform weights: raising a
        few positive positions there let the mean fall on weak seeds.
        """
        check_choice("focus", focus, FOCUS)
        if focus == "all" or self.kind != "mean":
            return self(acts, self.objective_layer)
        a = as_map(acts[self.objective_layer])
        n = self.units.shape[0]
        views = a.shape[0] // n
        m = self._unit_maps(a, views).flatten(1)  # (B, HW)
        w = m.detach().float().clamp_min(0)
        total = w.sum(1, keepdim=True)
        fires = (total > 0) & (m.detach().float().mean(1, keepdim=True) > 0)
        w = torch.where(fires, w / total.clamp_min(1e-12), torch.full_like(w, 1 / w.shape[1]))
        return (m * w.to(m.dtype)).sum(1).view(n, views).mean(1)


@dataclass
class LatentDistance:
    """Mean over positions of the (non-squared) L2 distance of channel vectors at ``layer``.

    Non-squared, so its gradient stays finite near the seed and the step-0 balance of the two
    loss terms is well defined.
    """

    layer: str

    @property
    def layers(self) -> list[str]:
        return [self.layer]

    def __call__(self, a: torch.Tensor, a0: torch.Tensor, pairs: int) -> torch.Tensor:
        d = (as_map(a) - as_map(a0)).pow(2).sum(1).add(1e-12).sqrt()  # (B, H, W)
        return d.flatten(1).mean(1).view(pairs, -1).mean(1)

    def grad(self, a: torch.Tensor, a0: torch.Tensor, pairs: int) -> torch.Tensor:
        """d (sum over pairs of the distance) / d ``a``, in closed form: each position's
        (a - a0) / its distance, over the positions and views averaged. The loop takes it
        every step, and autograd's graph of this tiny function cost three times as much."""
        dim = 2 if a.dim() == 3 else 1  # the channel: (B, T, C) tokens, else (B, C, ...)
        wide = torch.promote_types(a.dtype, torch.float32)  # bfloat16 up, float64 kept
        diff = a.to(wide) - a0.to(wide)
        d = diff.pow(2).sum(dim, keepdim=True).add_(1e-12).sqrt_()
        per_pair = d.numel() // pairs  # positions times views
        return diff.div_(d.mul_(per_pair)).to(a.dtype)


def relative_distance(a: torch.Tensor, a0: torch.Tensor) -> torch.Tensor:
    """||A(x) - A(x0)|| / ||A(x0)|| per image (whole-tensor norms), the closeness we report."""
    diff = (a - a0).flatten(1).norm(dim=1)
    return diff / a0.flatten(1).norm(dim=1).clamp_min(1e-12)
