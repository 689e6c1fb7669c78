"""A forward pass cut in two at one layer, for accentuation's single deep backward pass.

The output of ``split`` is replaced by a detached leaf tensor, so gradients of deeper quantities
stop at the cut; the caller then pushes them through the shallow part as often as it needs
(attribution and loss) without repeating the expensive deep backward pass. ``split="pixels"``
cuts at the input; ``"logits"`` in ``layers`` names the model's final output (whole forward).
"""

from __future__ import annotations

import torch

from atlas.errors import AtlasError
from atlas.models.hooks import LOGITS, LayerHooks, first_tensor, hooked
from atlas.models.zoo import LoadedModel


def split_forward(model: LoadedModel, images: torch.Tensor, split: str, layers: list[str]):
    """Run ``images`` (in [0, 1]) to the deepest of ``layers``, cut at ``split``.

    Returns (A, leaf, acts): A the split layer's output (attached to ``images``), leaf its
    detached stand-in that the rest of the network consumed, acts the requested layers.
    """
    cut: dict[str, torch.Tensor] = {}
    x = model.normalize(images)
    if split == "pixels":
        cut["a"], cut["leaf"] = images, images.detach().requires_grad_()
        x = model.normalize(cut["leaf"])

    def detach(a: torch.Tensor) -> torch.Tensor:
        cut["a"], cut["leaf"] = a, a.detach().requires_grad_()
        return cut["leaf"]

    swap = None if split == "pixels" else (model.layer(split), detach)
    modules, transforms = hooked(model, layers)  # logits: run to the end
    with LayerHooks(modules, stop=LOGITS not in layers, swap=swap,
                    transforms=transforms) as hooks:
        result = hooks.run(model.module, x)
    acts = hooks.outputs
    if LOGITS in layers:
        acts[LOGITS] = first_tensor(result)
    if "a" not in cut:
        raise AtlasError(f"layer {split!r} does not run before {layers} in {model.name}, so "
                         "the pass cannot be cut there: the regularization layer must come "
                         "before the target")
    return cut["a"], cut["leaf"], acts
