"""Pathway similarity: do accentuations reach a unit the way its natural top images do?

For an image x and a target unit t, the attribution vector at a lower layer l is
``sum over positions of A_l(x) * d t(x) / d A_l(x)``, one number per channel of l: how much
each channel of l contributed to the unit's activation (activation x gradient, the paper's
choice). Two images processed along the same pathway have correlated vectors. The paper's
claim (Hamblin et al. 2024, sec. "processed along the natural pathway"): accentuations
correlate with natural top images at least as well as natural top images with each other,
while noise-seeded feature visualizations fall far below.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from atlas.accentuate import to_input
from atlas.models import LoadedModel
from atlas.objectives import Target, as_map
from atlas.probe import Probe

KINDS = ("accent_natural", "natural_natural", "vis_natural", "random_natural")


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
                      rand: np.ndarray) -> dict[str, float]:
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
    return {
        "accent_natural": float(an[off_seed].mean()),
        "natural_natural": float(nn_.mean()),
        "vis_natural": float(pearson(vis, nat).mean()),
        "random_natural": float(pearson(rand, nat).mean()),
        "accent_own_seed": float(np.diag(an[:, :s]).mean()),
    }


def bootstrap_ci(values: np.ndarray, n_boot: int = 2000, seed: int = 0,
                 level: float = 0.95) -> dict[str, float]:
    """Mean over units with a percentile bootstrap CI (units resampled with replacement)."""
    values = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(values), size=(n_boot, len(values)))
    means = values[idx].mean(1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return {"mean": float(values.mean()), "lo": float(lo), "hi": float(hi), "n": len(values)}


def summarize(per_unit: list[dict[str, dict[str, float]]], attr_layers: Sequence[str],
              n_boot: int, seed: int) -> dict:
    """Across units: per attribution layer and their average ("all"), each comparison's mean
    with a 95% CI, plus the paired differences the claims are about."""
    out: dict[str, dict] = {}
    for name in [*attr_layers, "all"]:
        rows = [u["all"] if name == "all" else u[name] for u in per_unit]
        cols = {k: np.array([r[k] for r in rows]) for k in rows[0]}
        cols["accent_minus_natural"] = cols["accent_natural"] - cols["natural_natural"]
        cols["accent_minus_vis"] = cols["accent_natural"] - cols["vis_natural"]
        out[name] = {k: bootstrap_ci(v, n_boot, seed) for k, v in cols.items()}
    return out


def unit_summary(vectors: dict[str, dict[str, np.ndarray]],
                 attr_layers: Sequence[str]) -> dict[str, dict[str, float]]:
    """One unit's correlations per attribution layer and averaged over layers ("all").

    ``vectors[kind][attr_layer]`` holds the rows of kind natural/accent/vis/random.
    """
    per = {n: unit_correlations(vectors["natural"][n], vectors["accent"][n],
                                vectors["vis"][n], vectors["random"][n]) for n in attr_layers}
    keys = per[attr_layers[0]].keys()
    per["all"] = {k: float(np.mean([per[n][k] for n in attr_layers])) for k in keys}
    return per
