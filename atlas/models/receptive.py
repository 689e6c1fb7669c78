"""A layer's receptive field, measured by a gradient probe instead of derived from its modules.

Deriving it from kernel sizes and strides needs a walk of every architecture (residual branches,
dilations, attention); backpropagating from one map position to the input works for any model
whose forward we can run. The probe runs a float64 copy of the model, so small gradients do not
underflow, on a few random inputs summed in absolute value, so a unit that happens to be
saturated (ReLU, ReLU6) on one input does not hide part of the field. Random weights are fine:
the field is a property of the wiring, and any non-zero weight path shows up.
"""

from __future__ import annotations

import copy
from dataclasses import replace

import torch

from atlas.models.hooks import Probe
from atlas.models.zoo import LoadedModel


def receptive_field(model: LoadedModel, layer: str, size: int | None = None,
                    tries: int = 3) -> int:
    """Side, in model-input pixels, of the input region that can affect the centre position of
    ``layer``'s map at input side ``size`` (default: the model's). A field larger than the input
    is reported as the input's side (that is all of it any image can show); token layers (ViT)
    and pooled vectors see the whole input by construction."""
    size = size or model.input_size
    module = copy.deepcopy(model.module).double().eval()
    for m in module.modules():  # deepcopy copies hooks too: none of them expects this probe
        m._forward_hooks.clear()
        m._forward_pre_hooks.clear()
    probe_model = replace(model, module=module, channels_last=False)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(tries, 3, size, size, generator=gen, dtype=torch.float64,
                   device=model.device).requires_grad_()
    out = Probe(probe_model, [layer])(x)[layer]
    if out.dim() != 4:  # (B, T, D) tokens or (B, D) vectors: every position sees every pixel
        return size
    h, w = out.shape[2] // 2, out.shape[3] // 2
    out[:, :, h, w].sum().backward()  # one backward covers every try
    seen = x.grad.abs().sum(dim=(0, 1)) > 0  # (size, size): abs, so tries cannot cancel
    rows = torch.nonzero(seen.any(1)).flatten()
    cols = torch.nonzero(seen.any(0)).flatten()
    if len(rows) == 0:
        return 1  # nothing reaches the input (a constant layer): the smallest honest field
    side = max(int(rows[-1] - rows[0]) + 1, int(cols[-1] - cols[0]) + 1)
    return min(side, size)
