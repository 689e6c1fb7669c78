"""Accentuation toward a class: the photo optimized to raise the class's logit (the paper's
objective for explaining a decision), with the probabilities before and after.

``atlas explain`` uses it for one photo and two classes; a build uses it for every class page
(the class on its most confident photo) and every explained failure (the photo toward the
predicted and toward the true class, side by side).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch

from atlas.accent.loop import AccentResult, accentuate, to_input
from atlas.accent.objectives import Target
from atlas.config.accent import AccentConfig
from atlas.errors import unknown
from atlas.models.hooks import LOGITS, Probe
from atlas.models.zoo import LoadedModel


def resolve_class(names: list[str], text: str) -> int:
    """A class index from its name (exact, then case-insensitive) or its number."""
    if text in names:
        return names.index(text)
    lower = [n.lower() for n in names]
    if text.strip().lower() in lower:
        return lower.index(text.strip().lower())
    if text.strip().isdigit() and int(text) < len(names):
        return int(text)
    raise unknown("class", text, names)


@torch.no_grad()
def class_logits(model: LoadedModel, x: torch.Tensor) -> torch.Tensor:
    """The logits (N, classes) of images ``x`` in [0, 1] at any size, float32 on the CPU."""
    out = Probe(model, [LOGITS])(to_input(x, model.input_size).to(model.device))[LOGITS]
    return out.float().cpu()


def class_entry(names: list[str], cls: int, before: torch.Tensor, after: torch.Tensor) -> dict:
    """Class ``cls``'s logit and probability before and after (one image's logits), and the
    top-1 class after."""
    pb, pa = before.softmax(-1), after.softmax(-1)
    return {"index": cls, "name": names[cls], "logit_before": float(before[cls]),
            "logit_after": float(after[cls]), "prob_before": float(pb[cls]),
            "prob_after": float(pa[cls]), "top_after": names[int(after.argmax())],
            "top_after_prob": float(pa.max())}


def class_config(cfg: AccentConfig) -> AccentConfig:
    """The accentuation settings toward a logit: the plain value as objective (a logit has no
    positions to focus on) and no animation frames."""
    return replace(cfg, target="mean", frames=0)


@dataclass
class ClassAccents:
    """Accentuations toward classes and each image's logits before and after."""

    result: AccentResult
    before: torch.Tensor  # (N, classes)
    after: torch.Tensor


def accentuate_classes(model: LoadedModel, seeds: torch.Tensor, classes: Sequence[int],
                       cfg: AccentConfig, *, reg_layer: str, view_px: int) -> ClassAccents:
    """Accentuate ``seeds[i]`` (N, 3, H, W in [0, 1]) toward class ``classes[i]``'s logit.
    ``reg_layer`` and ``view_px``: the settings resolved for the logits as target."""
    cfg = class_config(cfg)
    seeds = to_input(seeds, cfg.canvas)
    target = Target(LOGITS, torch.tensor(list(classes), dtype=torch.long))
    res = accentuate(model, seeds, target, cfg, reg_layer=reg_layer, view_px=view_px)
    return ClassAccents(res, class_logits(model, seeds), class_logits(model, res.images))
