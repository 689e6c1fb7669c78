"""What a unit does to the model's decision: ablate it on its top images, see which logits drop.

One forward per batch of images: the prefix runs once to the cut layer, whose output is then
expanded into one row per (image, ablated unit) plus one unchanged baseline row per image, and
only the rest of the network runs on the expanded batch. Where the rest re-uses an earlier
tensor of the original batch size (a skip connection around the cut), the expanded batch no
longer matches it; PyTorch refuses the shapes and we fall back to repeating the inputs, which
recomputes the prefix per row but is exact for any wiring. Ablation sets the unit's channel, at
every position, to its data-set mean (``stats.parquet``), the usual "mean ablation".
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import torch

from atlas.models.basis import ablate
from atlas.models.hooks import LOGITS, LayerHooks, Probe, first_tensor
from atlas.models.zoo import LoadedModel

BASELINE = -1  # the unit of a row that runs the image unchanged


class CutForward:
    """Layer activations of a batch plus the logits of its ablation rows, in one forward."""

    def __init__(self, model: LoadedModel, layer: str, means: torch.Tensor):
        self.model, self.layer, self.means = model, layer, means
        self.module, self.read = model.reader(layer)  # a basis's features: read its codes
        self.basis = model.bases.get(layer)
        self.expand = True  # False once the rest of the network refused an expanded batch

    def _edit(self, x: torch.Tensor, rows: Sequence[tuple[int, int]]) -> torch.Tensor:
        """Set each ablation row's unit to its mean (rows align with ``x``'s batch): a channel
        directly, a basis's feature by moving along its decoder row (``basis.ablate``)."""
        ab = [(r, u) for r, (_, u) in enumerate(rows) if u != BASELINE]
        if not ab:
            return x
        x = x.clone()
        r = torch.tensor([a for a, _ in ab], device=x.device)
        u = torch.tensor([b for _, b in ab], device=x.device)
        m = self.means.to(x.device, x.dtype)[u]
        if self.basis is not None:
            x[r] = ablate(self.basis, x[r], u, m)
        elif x.dim() == 4:
            x[r, u] = m[:, None, None].expand(-1, *x.shape[2:])
        else:  # (B, T, C) tokens: the channel is last
            x[r, :, u] = m[:, None].expand(-1, x.shape[1])
        return x

    def _run(self, images: torch.Tensor, rows: Sequence[tuple[int, int]], expand: bool):
        cut: dict[str, torch.Tensor] = {}
        idx = [i for i, _ in rows]
        if expand and len(idx) == len(images) and idx != list(range(len(images))):
            rows = [*rows, rows[0]]  # a batch the same size as the input could silently
            idx.append(idx[0])       # broadcast with a skip tensor: make the sizes differ

        def swap(a: torch.Tensor) -> torch.Tensor:
            cut["a"] = (self.read(a) if self.read is not None else a).detach()
            if not rows:
                return a
            x = a[torch.tensor(idx, device=a.device)] if expand else a
            return self._edit(x, rows)

        module = self.module
        x = images if expand else images[idx]
        with LayerHooks({self.layer: module}, stop=not rows, swap=(module, swap)) as hooks:
            out = hooks.run(self.model.module, self.model.normalize(x))
        return cut["a"], None if out is None else first_tensor(out)

    def __call__(self, images: torch.Tensor, rows: Sequence[tuple[int, int]]
                 ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``rows``: (image index, unit or BASELINE). Returns the layer's output for every
        image and the logits of every row, in order (None when there are no rows)."""
        with torch.inference_mode():
            if self.expand:
                try:
                    acts, logits = self._run(images, rows, True)
                    return acts, None if logits is None else logits[:len(rows)]
                except RuntimeError:
                    if not rows:
                        raise
                    self.expand = False
            acts = Probe(self.model, [self.layer])(images)[self.layer].detach()
            return acts, self._run(images, rows, False)[1]


def class_head(model: LoadedModel) -> int:
    """The number of classes of the model's output, or 0 when it is not a (B, classes) head."""
    x = torch.rand(1, 3, model.input_size, model.input_size, device=model.device)
    with torch.inference_mode():
        out = Probe(model, [LOGITS])(x)[LOGITS]
    return int(out.shape[1]) if out.dim() == 2 else 0


def class_names(model: LoadedModel, n: int) -> list[str]:
    names = model.class_names
    return list(names) if names and len(names) == n else [f"class {i}" for i in range(n)]


class Drops:
    """Per (layer, unit): the summed drop of each class's probability (baseline - ablated) and
    how many images. Probabilities, not logits or log-probabilities: those rank first the
    classes the model gives almost no chance on these images, whose logits move most (on the
    bundled atlas: loupe and spotlight for a tools unit); a probability can only fall where
    the model predicts the class, so the labels name the decisions that depend on the unit."""

    def __init__(self) -> None:
        self.sum: dict[tuple[str, int], torch.Tensor] = {}
        self.count: dict[tuple[str, int], int] = {}
        self.classes = 0

    def add(self, layer: str, rows: Sequence[tuple[int, int]], logits: torch.Tensor) -> None:
        """``logits`` of ``rows`` (image, unit or BASELINE); each image's baseline is among them."""
        self.classes = logits.shape[1]
        p = logits.double().softmax(-1)  # once per row, baselines included
        base = {i: r for r, (i, u) in enumerate(rows) if u == BASELINE}
        abl = [r for r, (_, u) in enumerate(rows) if u != BASELINE]
        drops = p[[base[rows[r][0]] for r in abl]] - p[abl]
        for d, r in zip(drops, abl, strict=True):
            k = (layer, int(rows[r][1]))
            self.sum[k] = self.sum[k] + d if k in self.sum else d
            self.count[k] = self.count.get(k, 0) + 1

    def frame(self, names: list[str], top: int = 5) -> pd.DataFrame:
        """The ``top`` classes whose mean probability drops most, per unit (only real drops,
        > 0)."""
        rows = []
        for (layer, unit), total in sorted(self.sum.items()):
            n = self.count[(layer, unit)]
            vals, cls = (total / n).topk(min(top, len(total)))
            rows += [(layer, unit, r, int(c), names[int(c)], float(v), n)
                     for r, (v, c) in enumerate(zip(vals, cls, strict=True)) if v > 0]
        return pd.DataFrame(rows, columns=["layer", "unit", "rank", "class_index", "class_name",
                                           "drop", "images"])
