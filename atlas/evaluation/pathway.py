"""Pathway similarity: do accentuations reach a unit the way its natural top images do?

For an image x and a target unit t, the attribution vector at a lower layer l is
``sum over positions of A_l(x) * d t(x) / d A_l(x)``, one number per channel of l: how much
each channel of l contributed to the unit's activation (activation x gradient, the paper's
choice). Two images processed along the same pathway have correlated vectors. The paper's
claim (Hamblin et al. 2024, sec. "processed along the natural pathway"): accentuations
correlate with natural top images at least as well as natural top images with each other,
while noise-seeded feature visualizations fall far below.

Residual shortcuts bias that measure. When an attribution layer lies on the target's residual
stream (EfficientNet blocks with an identity skip, a torchvision ResNet stage after its first
block, ViT encoder blocks), channel u of that layer reaches unit u through identity additions
with no learned weight, so channel u carries a large share of the attribution of *anything*
that drives the unit, noise-seeded visualizations included, and every pair correlates through
that one coordinate. The *shortcut-removed* variant drops the target's own channel from the
vectors at such layers before correlating (see :data:`SHORTCUT_RULE`); both are reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, fields

import numpy as np
import torch

from atlas.accent.loop import to_input
from atlas.accent.objectives import Target, as_map
from atlas.models.hooks import Probe
from atlas.models.zoo import LoadedModel
from atlas.pipeline.results import Correlations, Interval, Pathway, PathwayStats

VECTOR_KINDS = ("natural", "accent", "vis", "random")
SHORTCUT_RULE = (
    "an attribution layer whose output has the target layer's channel count and spatial grid "
    "is taken to lie on the target's residual stream (identity shortcuts keep both unchanged, "
    "so channel u reaches unit u without a learned weight); at such layers the target's own "
    "channel u is dropped from every attribution vector before correlating. Other attribution "
    "layers are unchanged, and the averages ('all') mix them in as they are. Where a layer "
    "matches in shape without a shortcut (e.g. consecutive VGG convolutions), dropping one of "
    "C channels changes little; own_channel reports the dropped channel's share of |attribution|"
    " (chance 1/C) so the shortcut's weight can be read off")


def on_residual_stream(attr_shape: Sequence[int], target_shape: Sequence[int]) -> bool:
    """SHORTCUT_RULE on (C, H, W) map shapes: same channel count and the same spatial grid."""
    return tuple(attr_shape) == tuple(target_shape)


def drop_channel(vectors: np.ndarray, channel: int) -> np.ndarray:
    """``vectors`` (n, C) without column ``channel``: the shortcut-removed attribution."""
    return np.delete(vectors, channel, axis=1)


def own_channel(vectors: np.ndarray, channel: int) -> dict[str, float]:
    """How much ``channel`` dominates the rows of ``vectors`` (n, C): its mean share of the
    total |attribution| and the fraction of rows in which it is the largest. Chance: 1/C."""
    mag = np.abs(vectors)
    share = mag[:, channel] / np.maximum(mag.sum(1), 1e-12)
    return {"share": float(share.mean()), "top": float((mag.argmax(1) == channel).mean())}


def attributions(model: LoadedModel, images: torch.Tensor, units: torch.Tensor, layer: str,
                 attr_layers: Sequence[str], batch_size: int = 32) -> dict[str, torch.Tensor]:
    """Attribution vectors ``{attr_layer: (N, C_l)}`` of each image's own unit at ``layer``.

    One forward and one backward per batch: the target is a per-image scalar (row i's own
    unit), so the gradient of the batch sum is every image's own gradient. The forward stops
    at ``layer``; only the input needs ``requires_grad`` (the weights are frozen).
    """
    probe = Probe(model, [*attr_layers, layer])
    out: dict[str, list[torch.Tensor]] = {n: [] for n in attr_layers}
    for i in range(0, images.shape[0], batch_size):
        x = to_input(images[i:i + batch_size], model.input_size).to(model.device)
        x = x.detach().requires_grad_(True)
        acts = probe(x)
        value = Target(layer, units[i:i + batch_size])(acts)
        grads = torch.autograd.grad(value.sum(), [acts[n] for n in attr_layers])
        for n, g in zip(attr_layers, grads, strict=True):
            out[n].append((as_map(acts[n]) * as_map(g)).sum((2, 3)).detach().float().cpu())
    return {n: torch.cat(v) for n, v in out.items()}


def pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of every row of ``a`` (n, d) with every row of ``b`` (m, d)."""
    a = a - a.mean(1, keepdims=True)
    b = b - b.mean(1, keepdims=True)
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return a @ b.T


def unit_correlations(nat: np.ndarray, acc: np.ndarray, vis: np.ndarray,
                      rand: np.ndarray) -> Correlations:
    """Mean correlations of one unit at one layer; ``acc[s]`` was seeded by ``nat[s]``.

    accent_natural pairs each accentuation with the natural top images *other than its own
    seed*: an accentuation starts at its seed and stays close to it, so including that pair
    would inflate the score by construction; excluding it puts accent_natural on the same
    footing as natural_natural, which also never pairs an image with itself. The own-seed
    correlation is reported separately (accent_own_seed) to show how large that effect is.
    """
    k, s = nat.shape[0], acc.shape[0]
    nn_ = pearson(nat, nat)[np.triu_indices(k, 1)]
    an = pearson(acc, nat)
    off_seed = ~np.eye(s, k, dtype=bool)
    return Correlations(
        accent_natural=float(an[off_seed].mean()),
        natural_natural=float(nn_.mean()),
        vis_natural=float(pearson(vis, nat).mean()),
        random_natural=float(pearson(rand, nat).mean()),
        accent_own_seed=float(np.diag(an[:, :s]).mean()),
    )


def bootstrap_ci(values: np.ndarray, n_boot: int = 2000, seed: int = 0,
                 level: float = 0.95) -> Interval:
    """Mean over units with a percentile bootstrap CI (units resampled with replacement)."""
    values = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(values), size=(n_boot, len(values)))
    means = values[idx].mean(1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return Interval(mean=float(values.mean()), lo=float(lo), hi=float(hi), n=len(values))


def summarize(per_unit: list[dict[str, Correlations]], attr_layers: Sequence[str],
              n_boot: int, seed: int) -> Pathway:
    """Across units: per attribution layer and their average ("all"), each comparison's mean
    with a 95% CI, plus the paired differences the claims are about."""
    out: Pathway = {}
    for name in [*attr_layers, "all"]:
        rows = [asdict(u[name]) for u in per_unit]
        cols = {k: np.array([r[k] for r in rows]) for k in rows[0]}
        cols["accent_minus_natural"] = cols["accent_natural"] - cols["natural_natural"]
        cols["accent_minus_vis"] = cols["accent_natural"] - cols["vis_natural"]
        out[name] = PathwayStats(**{k: bootstrap_ci(v, n_boot, seed) for k, v in cols.items()})
    return out


def unit_summary(vectors: dict[str, dict[str, np.ndarray]], attr_layers: Sequence[str],
                 drop: dict[str, int] | None = None) -> dict[str, Correlations]:
    """One unit's correlations per attribution layer and averaged over layers ("all").

    ``vectors[kind][attr_layer]`` holds the rows of kind natural/accent/vis/random.
    ``drop`` ({attr_layer: channel}) removes that channel from every row at that layer first
    (the shortcut-removed variant); layers it does not name are used as they are.
    """
    drop = drop or {}

    def rows(kind: str, n: str) -> np.ndarray:
        v = vectors[kind][n]
        return drop_channel(v, drop[n]) if n in drop else v

    per = {n: unit_correlations(*(rows(kind, n) for kind in VECTOR_KINDS)) for n in attr_layers}
    per["all"] = Correlations(**{f.name: float(np.mean([getattr(per[n], f.name)
                                                        for n in attr_layers]))
                                 for f in fields(Correlations)})
    return per
