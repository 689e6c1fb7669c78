"""How good a dictionary is, measured on the held-out images' positions and in the model.

- ``explained_variance``: 1 - residual / variance of the held-out positions, centred per
  channel (the reconstruction's share of what varies, not of the mean).
- ``l0``: features firing per position, on average.
- ``dead_fraction``: features that fire on no sampled position; ``dense_fraction``: features
  that fire on more than half of them (a feature on everywhere describes nothing).
- ``splice_top1_agreement``: the share of images whose top-1 class stays the same when the
  layer's output is replaced by its reconstruction at every position (does the model still
  work on what the dictionary keeps?), on every image of the sample (the learned ones too);
  ``splice_top1_agreement_held_out`` on the held-out images alone.
"""

from __future__ import annotations

import torch

from atlas.data.base import ImageSource
from atlas.data.loader import make_loader
from atlas.models.basis import Basis, on_channels
from atlas.models.hooks import LayerHooks, first_tensor
from atlas.models.zoo import LoadedModel

DENSE = 0.5


def reconstruction(basis: Basis, x: torch.Tensor, chunk: int = 16384) -> dict[str, float]:
    """Explained variance and L0 over the rows of ``x`` (N, C)."""
    resid = var = fired = 0.0
    mean = x.mean(0)
    for i in range(0, len(x), chunk):
        part = x[i:i + chunk]
        z = basis.codes(part)
        resid += float((part - basis.decode(z)).pow(2).sum())
        var += float((part - mean).pow(2).sum())
        fired += float((z > 0).sum())
    return {"explained_variance": 1 - resid / max(var, 1e-12), "l0": fired / max(len(x), 1)}


def firing(basis: Basis, x: torch.Tensor, chunk: int = 16384) -> torch.Tensor:
    """Per feature, the share of the rows of ``x`` it fires on."""
    count = torch.zeros(basis.size)
    for i in range(0, len(x), chunk):
        count += (basis.codes(x[i:i + chunk]) > 0).float().sum(0)
    return count / max(len(x), 1)


@torch.inference_mode()
def splice_agreement(model: LoadedModel, basis: Basis, source: ImageSource,
                     positions: list[int], batch: int = 32) -> float:
    """Top-1 agreement of the model with and without the reconstruction spliced in."""
    module, same, total = model.layer(basis.layer), 0, 0
    b = basis.to(model.device)

    def splice(a: torch.Tensor) -> torch.Tensor:
        return on_channels(a, lambda x: b.decode(b.codes(x)))

    for batch_ in make_loader(source, model.input_size, batch, 0, positions):
        if not len(batch_.positions):
            continue
        x = model.normalize(batch_.images.to(model.device))
        with LayerHooks({}, stop=False) as hooks:
            plain = first_tensor(hooks.run(model.module, x))
        with LayerHooks({}, stop=False, swap=(module, splice)) as hooks:
            spliced = first_tensor(hooks.run(model.module, x))
        same += int((plain.argmax(1) == spliced.argmax(1)).sum())
        total += len(batch_.positions)
    return same / max(total, 1)


def metrics(model: LoadedModel, basis: Basis, train: torch.Tensor, held: torch.Tensor,
            source: ImageSource, splice_images: list[int],
            held_images: list[int] | None = None) -> dict[str, float]:
    """Every figure the manifest records of a learned basis (see the module docstring)."""
    both = torch.cat([train, held]) if len(held) else train
    rate = firing(basis, both)
    out = reconstruction(basis, held if len(held) else train)
    out.update(dead_fraction=float((rate == 0).float().mean()),
               dense_fraction=float((rate > DENSE).float().mean()),
               splice_top1_agreement=splice_agreement(model, basis, source, splice_images))
    if held_images:
        out["splice_top1_agreement_held_out"] = splice_agreement(model, basis, source,
                                                                 held_images)
    return {k: round(v, 4) for k, v in out.items()}
