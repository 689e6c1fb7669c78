"""Run a model only as far as the deepest layer a stage needs, and read those layers.

Hooks are registered for the duration of one call and always removed, so a model is never left
with stray hooks (a pitfall of earlier feature-visualization tools). Once every requested layer
has produced its output the forward pass is aborted, so mining ``_blocks.10`` never computes the
head. ``"logits"`` names the model's final output.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import torch
from torch import nn

from atlas.models.zoo import LoadedModel

LOGITS = "logits"


class _Done(Exception):
    """Raised from a hook to stop the forward pass once all layers are captured."""


def _first_tensor(out: object) -> torch.Tensor:
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    if hasattr(out, "logits"):  # torchvision InceptionOutputs / GoogLeNetOutputs
        return out.logits
    raise TypeError(f"layer output of type {type(out).__name__} is not a tensor")


class Probe:
    """Callable returning ``{layer: activation}`` for images in [0, 1]; stops at the deepest."""

    def __init__(self, model: LoadedModel, layers: Sequence[str]):
        self.model = model
        self.names = list(dict.fromkeys(layers))
        self.modules = {n: model.layer(n) for n in self.names if n != LOGITS}

    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        want = len(self.modules)
        stop_early = LOGITS not in self.names

        def hook(name: str):
            def fn(_m: nn.Module, _i: object, o: object) -> None:
                out[name] = _first_tensor(o)
                if stop_early and len(out) == want:
                    raise _Done

            return fn

        handles = [m.register_forward_hook(hook(n)) for n, m in self.modules.items()]
        try:
            result = self.model.module(self.model.normalize(images))
            if LOGITS in self.names:
                out[LOGITS] = _first_tensor(result)
        except _Done:
            pass
        finally:
            for h in handles:
                h.remove()
        missing = [n for n in self.names if n not in out]
        if missing:
            raise RuntimeError(f"layers {missing} were not run by {self.model.name}'s forward")
        return out


def describe_layers(model: LoadedModel) -> list[tuple[str, str, tuple[int, ...], int]]:
    """(name, module type, output shape, channels) of every addressable layer at input size."""
    shapes: dict[str, tuple[int, ...]] = {}

    def hook(name: str):
        def fn(_m: nn.Module, _i: object, o: object) -> None:
            with contextlib.suppress(TypeError):
                shapes.setdefault(name, tuple(_first_tensor(o).shape[1:]))

        return fn

    handles = [m.register_forward_hook(hook(n)) for n, m in model.layers.items()]
    try:
        x = torch.rand(1, 3, model.input_size, model.input_size, device=model.device)
        with torch.no_grad():
            model.module(model.normalize(x))
    finally:
        for h in handles:
            h.remove()
    rows = []
    for name, module in model.layers.items():
        shape = shapes.get(name, ())
        rows.append((name, type(module).__name__, shape, shape[0] if shape else 0))
    return rows
