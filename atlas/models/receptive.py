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
from dataclasses import dataclass, replace

import torch

from atlas.models.hooks import Probe
from atlas.models.zoo import LoadedModel


@dataclass(frozen=True)
class Field:
    """A layer's receptive field, both ways a person may mean it (sides in model-input pixels).

    ``theoretical``: every input pixel that can affect one position. In deep layers it exceeds
    the input, so a crop at that size is the whole photo and says nothing about where.
    ``effective``: the smallest square around the position that holds ``share`` (3/4) of the
    input gradient's magnitude (Luo et al. 2016: it falls off like a Gaussian well inside the
    theoretical field); the crop that shows what the position mostly looks at.
    """

    theoretical: int
    effective: int


def receptive_field(model: LoadedModel, layer: str, size: int | None = None,
                    tries: int = 3, share: float = 0.75) -> Field:
    """The field of the centre position of ``layer``'s map at input side ``size`` (default: the
    model's). Fields are clipped to the input's side (that is all of it any image can show);
    token layers (ViT) and pooled vectors see the whole input by construction."""
    size = size or model.input_size
    grad = _centre_gradient(model, layer, size, tries)
    if grad is None:
        return Field(size, size)
    seen = grad > 0
    rows = torch.nonzero(seen.any(1)).flatten()
    cols = torch.nonzero(seen.any(0)).flatten()
    if len(rows) == 0:
        return Field(1, 1)  # nothing reaches the input (a constant layer): the smallest field
    side = max(int(rows[-1] - rows[0]) + 1, int(cols[-1] - cols[0]) + 1)
    cy, cx = (int(rows[0] + rows[-1]) // 2, int(cols[0] + cols[-1]) // 2)
    return Field(min(side, size), min(_mass_side(grad, cy, cx, share), size))


def _centre_gradient(model: LoadedModel, layer: str, size: int, tries: int) -> torch.Tensor | None:
    """|d centre position / d input| summed over channels and random inputs, (size, size);
    None for layers without a spatial map. A model that cannot be copied to float64 (an
    exported program's graph is typed and holds symbolic shapes) is probed as it is."""
    try:
        module, dtype = copy.deepcopy(model.module).double().eval(), torch.float64
        for m in module.modules():  # deepcopy copies hooks too: none of them expects this probe
            m._forward_hooks.clear()
            m._forward_pre_hooks.clear()
    except (RuntimeError, TypeError):
        module, dtype = model.module, torch.float32
    probe_model = replace(model, module=module, channels_last=False)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(tries, 3, size, size, generator=gen, dtype=torch.float64)
    x = x.to(device=model.device, dtype=dtype).requires_grad_()
    out = Probe(probe_model, [layer])(x)[layer]
    if out.dim() != 4:  # (B, T, D) tokens or (B, D) vectors: every position sees every pixel
        return None
    h, w = out.shape[2] // 2, out.shape[3] // 2
    out[:, :, h, w].sum().backward()  # one backward covers every try
    return x.grad.abs().sum(dim=(0, 1)).cpu()  # abs, so tries cannot cancel


def _mass_side(grad: torch.Tensor, cy: int, cx: int, share: float) -> int:
    """Smallest odd side of a square centred at (cy, cx) holding ``share`` of ``grad``'s sum."""
    total = float(grad.sum())
    if total <= 0:
        return 1
    n = max(grad.shape)
    for half in range(n):
        y0, x0 = max(cy - half, 0), max(cx - half, 0)
        if float(grad[y0:cy + half + 1, x0:cx + half + 1].sum()) >= share * total:
            return 2 * half + 1
    return n
