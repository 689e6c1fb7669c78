"""Learning a TopK sparse autoencoder over a layer's position vectors (Gao et al. 2024).

Per position the input is centred and scaled (mean squared norm = channels), encoded, and the
k largest pre-activations are kept (then ReLU); the decoder's rows stay unit-norm, so a code is
how much of its direction the position holds. The encoder starts as the decoder's transpose.
Features that have not fired for a while are revived by the auxiliary loss (AuxK): the dead
features' top ``aux_k`` pre-activations must explain what the live ones leave unexplained.
Adam with a cosine-decayed learning rate; batches are drawn from one seeded generator, so the
result is the same on every run, and a killed run resumes from its last checkpoint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from tqdm import tqdm

from atlas.models.basis import Basis, activate
from atlas.pipeline.basis.resume import Resumable

AUX_WEIGHT = 1 / 32  # the auxiliary loss's weight (Gao et al.)
DEAD_AFTER = 2_000_000  # positions without firing after which a feature counts as dead


@dataclass(frozen=True)
class Recipe:
    features: int
    k: int
    steps: int
    batch_size: int
    lr: float
    aux_k: int
    seed: int
    batch_topk: bool = False  # BatchTopK: k per position on average over the batch
    checkpoint_every: int = 250


def _normalizer(x: torch.Tensor) -> tuple[torch.Tensor, float]:
    mean = x.mean(0)
    scale = float((x - mean).pow(2).sum(1).mean().div(x.shape[1]).sqrt().clamp_min(1e-12))
    return mean, scale


def _init(c: int, f: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
    dec = torch.randn(f, c, generator=gen)
    dec = dec / dec.norm(dim=1, keepdim=True)
    return {"encoder": dec.clone(), "encoder_bias": torch.zeros(f), "decoder": dec,
            "decoder_bias": torch.zeros(c)}


def learn(x: torch.Tensor, recipe: Recipe, checkpoint: Path, progress: bool = True,
          name: str = "sae", layer: str = "", calibrate: torch.Tensor | None = None) -> Basis:
    """A TopK dictionary over the rows of ``x`` (N, C); resumes from ``checkpoint``."""
    mean, scale = _normalizer(x)
    xn = (x - mean) / scale
    n, c = xn.shape
    gen = torch.Generator().manual_seed(recipe.seed)
    params = {k: v.requires_grad_() for k, v in _init(c, recipe.features, gen).items()}
    opt = torch.optim.Adam(params.values(), lr=recipe.lr)
    since = torch.zeros(recipe.features, dtype=torch.long)  # positions since last firing
    state = Resumable(checkpoint, params, opt, gen)
    saved = state.restore()
    since, step = saved.get("since", since), saved.get("step", 0)

    bar = tqdm(total=recipe.steps, initial=step, desc="basis learn", disable=not progress,
               dynamic_ncols=True)
    while step < recipe.steps:
        for g in opt.param_groups:
            g["lr"] = recipe.lr * 0.5 * (1 + math.cos(math.pi * step / recipe.steps))
        batch = xn[torch.randint(0, n, (recipe.batch_size,), generator=gen)]
        loss, fired = _loss(params, batch, recipe, since >= DEAD_AFTER)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            params["decoder"] /= params["decoder"].norm(dim=1, keepdim=True).clamp_min(1e-12)
        since = torch.where(fired, torch.zeros_like(since), since + recipe.batch_size)
        step += 1
        bar.update(1)
        if step % recipe.checkpoint_every == 0 or step == recipe.steps:
            state.save(since=since, step=step)
    bar.close()
    p = {k: v.detach() for k, v in params.items()}
    basis = Basis(name=name, kind="sae", layer=layer, encoder=p["encoder"],
                  encoder_bias=p["encoder_bias"], decoder=p["decoder"],
                  decoder_bias=p["decoder_bias"], k=recipe.k, mean=mean, scale=scale)
    if not recipe.batch_topk:
        return basis
    # BatchTopK is read with one threshold, calibrated on the rows the basis will be read on
    # (``calibrate``: the caller's choice of positions not learned from) when given
    return calibrated(basis, x if calibrate is None else calibrate, recipe.k)


@torch.no_grad()
def calibrated(basis: Basis, rows: torch.Tensor, k: float, most: int = 65536) -> Basis:
    """``basis`` read with BatchTopK's inference threshold: the value above which ``k``
    features per position fire on average over ``rows`` (at most ``most`` of them, evenly
    strided, so the choice needs no random draw)."""
    on = rows[:: max(1, -(-len(rows) // most))]
    pre = basis.pre(on).flatten()
    n = min(pre.numel(), max(1, round(k * len(on))))
    thr = pre.topk(n).values[-1].clamp_min(0)
    return replace(basis, activation="jumprelu", threshold=thr.expand(basis.size).clone())


@torch.no_grad()
def calibrated_under(basis: Basis, rows: torch.Tensor, k: int, per: int,
                     z: float = 2.0) -> tuple[Basis, float]:
    """BatchTopK's threshold for images the dictionary has not seen, and the L0 it aims at.
    ``rows`` are whole maps (``per`` positions each) of images it did not learn from; the
    threshold fires ``k`` less ``z`` standard errors of their per-image L0 on them, so another
    set of unseen images of the same kind fires at most ``k`` per position on average, unless
    the calibration images happened to be unusually quiet (about 1 in 40 for z = 2)."""
    first = calibrated(basis, rows, k)
    l0 = (first.codes(rows) > 0).float().sum(1).view(-1, per).mean(1)
    if len(l0) < 2:
        return first, float(k)
    target = max(1.0, k - z * float(l0.std()) / math.sqrt(len(l0)))
    return calibrated(basis, rows, target), target


def _codes(pre: torch.Tensor, recipe: Recipe) -> torch.Tensor:
    """TopK per row, or BatchTopK: the k x rows largest of the whole batch, so a position
    holding more takes more features and one holding less fewer (k on average)."""
    if not recipe.batch_topk:
        return activate(pre, "topk", recipe.k)
    return (pre * (pre >= batch_threshold(pre, recipe.k))).clamp_min(0)


def batch_threshold(pre: torch.Tensor, k: int) -> torch.Tensor:
    """The (k x rows)-th largest value of ``pre``: exact, found among the values above a
    quantile of a strided subsample (a full top-k of a batch's F x rows values is the
    slowest part of a step)."""
    flat, n = pre.detach().flatten(), k * pre.shape[0]
    if n >= flat.numel():
        return flat.min()
    lo = torch.quantile(flat[:: max(1, flat.numel() // 65536)], max(0.0, 1 - 2 * n / flat.numel()))
    cand = flat[flat >= lo]
    if len(cand) < n:  # the subsample put the bound too high: search everything
        cand = flat
    return cand.kthvalue(len(cand) - n + 1).values


def _loss(params: dict[str, torch.Tensor], x: torch.Tensor, recipe: Recipe,
          dead: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Reconstruction MSE (plus AuxK over ``dead`` features); which features fired."""
    pre = (x - params["decoder_bias"]) @ params["encoder"].T + params["encoder_bias"]
    z = _codes(pre, recipe)
    recon = z @ params["decoder"] + params["decoder_bias"]
    err = x - recon
    loss = err.pow(2).sum(1).mean() / x.pow(2).sum(1).mean().clamp_min(1e-12)
    n_dead = int(dead.sum())
    if recipe.aux_k and n_dead:
        masked = pre.masked_fill(~dead, float("-inf"))
        za = activate(masked, "topk", min(recipe.aux_k, n_dead)).nan_to_num(0.0)
        aux = za @ params["decoder"]
        target = err.detach()
        loss = loss + AUX_WEIGHT * (target - aux).pow(2).sum(1).mean() / target.pow(2).sum(
            1).mean().clamp_min(1e-12)
    return loss, (z > 0).any(0)
