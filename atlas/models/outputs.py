"""What a module's output stands for: the tensor inside tuples and model-output records.

Layers return tensors, tuples (a transformer block's ``(hidden, attention)``) or records
(torchvision's ``InceptionOutputs``, transformers' ``ModelOutput``); every reader takes the one
tensor a layer's output stands for, and a writer that replaces it keeps the rest.
"""

from __future__ import annotations

import torch


def first_tensor(out: object) -> torch.Tensor:
    """The tensor a layer's output stands for (tuples and Inception's named outputs unwrapped)."""
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    # torchvision's InceptionOutputs, transformers' ModelOutputs: the field a model's result
    # stands for (a classifier's logits, a CLIP tower's embedding, else its pooled output)
    for field in ("logits", "image_embeds", "pooler_output", "last_hidden_state"):
        value = getattr(out, field, None)
        if isinstance(value, torch.Tensor):
            return value
    raise TypeError(f"layer output of type {type(out).__name__} is not a tensor")


def with_first(out: object, new: torch.Tensor) -> object:
    """``out`` with the tensor it stands for replaced by ``new``, its structure kept (a
    transformer block returning ``(hidden, attention)`` still returns a tuple)."""
    if isinstance(out, tuple) and out and isinstance(out[0], torch.Tensor):
        return (new, *out[1:])
    if isinstance(out, list) and out and isinstance(out[0], torch.Tensor):
        return [new, *out[1:]]
    return new
