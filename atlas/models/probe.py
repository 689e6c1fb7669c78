"""What one small forward pass says about a model: its layers' shapes and order, and its sizes.

Checks that must run before long work (does the layer exist, how many units, does the
regularization layer run before the target, does the model take smaller views) all ask the
same question of one random image; this module asks it once per use.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from atlas.models.hooks import LayerHooks, hooked
from atlas.models.zoo import LoadedModel


def unit_count(shape: Sequence[int]) -> int:
    """Units of a layer whose output (without the batch) has ``shape``: channels of a (C, H, W)
    map, the last dimension otherwise (a ViT's (tokens, width) gives its width)."""
    if not shape:
        return 0
    return int(shape[0] if len(shape) == 3 else shape[-1])


def layer_shapes(model: LoadedModel, names: Sequence[str] | None = None
                 ) -> dict[str, tuple[int, ...]]:
    """{layer: output shape without the batch} for ``names`` (default: every layer), in the
    order the forward pass runs them, for one random image. Layers whose output is not a
    tensor, or that the forward never runs, are absent."""
    layers, transforms = (model.layers, {}) if names is None else hooked(model, list(
        dict.fromkeys(names)))
    x = torch.rand(1, 3, model.input_size, model.input_size, device=model.device)
    with torch.no_grad(), LayerHooks(layers, stop=names is not None, strict=False,
                                     transforms=transforms) as hooks:
        hooks.run(model.module, model.normalize(x))
    return {n: tuple(t.shape[1:]) for n, t in hooks.outputs.items()}


def unit_counts(model: LoadedModel, names: Sequence[str]) -> dict[str, int]:
    """{layer: units} in execution order (as mining counts them)."""
    return {n: unit_count(s) for n, s in layer_shapes(model, names).items()}


def takes_size(model: LoadedModel, side: int) -> bool:
    """Whether the model runs on ``side``-pixel inputs (a ViT with fixed position embeddings
    refuses any size but its own)."""
    try:
        with torch.inference_mode():
            model.module(model.normalize(torch.zeros(1, 3, side, side, device=model.device)))
    except Exception:  # any refusal of the size: shape assertions, reshape errors
        return False
    return True


def view_side(model: LoadedModel, scale: float) -> int:
    """Side of the random views fed to the model: ``scale`` times its input size, unless the
    model refuses that size: then its own input size."""
    side = max(16, round(model.input_size * scale))
    return side if side == model.input_size or takes_size(model, side) else model.input_size


def describe_layers(model: LoadedModel) -> list[tuple[str, str, tuple[int, ...], int]]:
    """(name, module type, output shape, units) of every addressable layer at input size."""
    shapes = layer_shapes(model)
    return [(name, type(module).__name__, shapes.get(name, ()), unit_count(shapes.get(name, ())))
            for name, module in model.layers.items()]
