"""A forward pass cut in two at one layer, for accentuation's single deep backward pass.

The output of ``split`` is replaced by a detached leaf tensor, so gradients of deeper quantities
stop at the cut; the caller then pushes them through the shallow part as often as it needs
(attribution and loss) without repeating the expensive deep backward pass. ``split="pixels"``
cuts at the input; ``"logits"`` in ``layers`` names the model's final output (whole forward).
"""

from __future__ import annotations

import torch
from torch import nn

from atlas.models.hooks import LOGITS, _first_tensor
from atlas.models.zoo import LoadedModel


class _Done(Exception):
    pass


def split_forward(model: LoadedModel, images: torch.Tensor, split: str, layers: list[str]):
    """Run ``images`` (in [0, 1]) to the deepest of ``layers``, cut at ``split``.

    Returns (A, leaf, acts): A the split layer's output (attached to ``images``), leaf its
    detached stand-in that the rest of the network consumed, acts the requested layers.
    """
    acts: dict[str, torch.Tensor] = {}
    hooked = [n for n in layers if n != LOGITS]  # logits: the model's output, run to the end
    cut: dict[str, torch.Tensor] = {}
    x = model.normalize(images)
    if split == "pixels":
        cut["a"], cut["leaf"] = images, images.detach().requires_grad_()
        x = model.normalize(cut["leaf"])

    def on_split(_m: nn.Module, _i: object, out: object) -> torch.Tensor:
        a = _first_tensor(out)
        cut["a"], cut["leaf"] = a, a.detach().requires_grad_()
        return cut["leaf"]

    def on_layer(name: str):
        def fn(_m: nn.Module, _i: object, out: object) -> None:
            acts[name] = _first_tensor(out)
            if len(acts) == len(layers):  # never true while logits are wanted
                raise _Done

        return fn

    handles = [] if split == "pixels" else [model.layer(split).register_forward_hook(on_split)]
    handles += [model.layer(n).register_forward_hook(on_layer(n)) for n in hooked]
    try:
        result = model.module(x)
        if LOGITS in layers:
            acts[LOGITS] = _first_tensor(result)
    except _Done:
        pass
    finally:
        for h in handles:
            h.remove()
    if "a" not in cut:
        raise RuntimeError(f"split layer {split!r} was not reached before {layers}")
    return cut["a"], cut["leaf"], acts
