"""Tiny networks wrapped as atlas models, for tests whose answers are known by construction."""

from __future__ import annotations

from torch import nn

from atlas.models.zoo import LoadedModel


def tiny_model(module: nn.Module, size: int = 32) -> LoadedModel:
    """``module`` (in eval mode) as a model taking ``size``-px inputs in [0, 1] unchanged."""
    return LoadedModel("tiny", module.eval(), size, (0.0,) * 3, (1.0,) * 3, channels_last=False)
