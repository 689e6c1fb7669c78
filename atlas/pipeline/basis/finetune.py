"""A dictionary tuned to what the model does with its reconstruction (KL fine-tune).

A dictionary learned for reconstruction alone spends its few features per position on what has
the most variance, which is not always what the rest of the network reads: splice its
reconstruction in and the model's predictions change more than its explained variance suggests.
The field's remedy (end-to-end SAEs, Braun et al. 2024; KL fine-tuning, Karvonen 2024) is to tune
the dictionary so that the model's output with the reconstruction spliced in stays close to its
output on the layer itself: here the KL divergence of the spliced logits from the original ones,
over whole activation maps of the training images, plus the reconstruction term of learning (so
the features keep explaining the layer). The activation is the one the basis is read with (its
TopK, or BatchTopK's calibrated threshold, and its refinement if any), so what is tuned is what
mining reads; decoder rows stay unit-norm. ``Tune.encoder = False`` tunes the decoder alone, so
which features fire stays what the encoder learned from many positions (the fine-tune sees
whole maps of a few images a step, and moving the encoder cost held-out explained variance).
Deterministic (one seeded generator) and resumable from its checkpoint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from atlas.models.basis import Basis, code_of
from atlas.models.tail import Tail
from atlas.pipeline.basis.resume import Resumable

KEYS = ("encoder", "encoder_bias", "decoder", "decoder_bias")


@dataclass(frozen=True)
class Tune:
    steps: int
    maps: int = 16  # activation maps (images) per step
    lr: float = 1e-3
    mse: float = 1.0  # weight of the reconstruction term beside the KL divergence
    seed: int = 0
    checkpoint_every: int = 50
    encoder: bool = True  # tune the encoder too (else only the decoder: which features fire stays)


@torch.no_grad()
def targets_of(tail: Tail, maps: torch.Tensor, device: torch.device | str = "cpu",
               chunk: int = 64) -> torch.Tensor:
    """The model's log-probabilities on the original maps (on the CPU)."""
    return torch.cat([F.log_softmax(tail(maps[i:i + chunk].to(device).contiguous(
        memory_format=torch.channels_last)).float(), -1).cpu()
        for i in range(0, len(maps), chunk)])


def _spliced(params: dict[str, torch.Tensor], basis: Basis, x: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """(reconstruction in input units, its relative squared error in the normalized space)."""
    xn = basis.normalized(x)
    t = xn - params["decoder_bias"]
    # tuned as it is read: with a refined basis, the magnitudes refined on the code's support
    z = code_of(t, params["encoder"], params["encoder_bias"], params["decoder"], basis)
    rn = z @ params["decoder"] + params["decoder_bias"]
    rel = (xn - rn).pow(2).sum(1).mean() / xn.pow(2).sum(1).mean().clamp_min(1e-12)
    r = rn * basis.scale
    return (r + basis.mean if basis.mean is not None else r), rel


def kl_of(basis: Basis, tail: Tail, maps: torch.Tensor, targets: torch.Tensor,
          device: torch.device | str = "cpu", chunk: int = 64) -> float:
    """Mean KL divergence of the model's output with ``basis``'s reconstruction spliced in,
    from ``targets`` (the log-probabilities on ``maps`` as they are)."""
    b = basis.to(torch.device(device))
    params = {k: getattr(b, k) for k in KEYS}
    total = 0.0
    with torch.no_grad():
        for i in range(0, len(maps), chunk):
            logp = _logits(params, b, tail, maps[i:i + chunk].to(device))[0]
            total += float(F.kl_div(logp, targets[i:i + chunk].to(device), log_target=True,
                                    reduction="sum"))
    return total / max(len(maps), 1)


def _logits(params: dict[str, torch.Tensor], basis: Basis, tail: Tail, maps: torch.Tensor
            ) -> tuple[torch.Tensor, torch.Tensor]:
    b, c, h, w = maps.shape
    x = maps.permute(0, 2, 3, 1).reshape(-1, c)
    r, rel = _spliced(params, basis, x)
    spliced = r.view(b, h, w, c).permute(0, 3, 1, 2)
    return F.log_softmax(tail(spliced).float(), -1), rel


def finetune(basis: Basis, maps: torch.Tensor, tail: Tail, tune: Tune, checkpoint: Path,
             progress: bool = True, modules: list[torch.nn.Module] | None = None,
             device: torch.device | str = "cpu") -> Basis:
    """``basis`` tuned on the activation maps ``maps`` (N, C, H, W, on the CPU) so the model's
    logits with its reconstruction spliced in stay close to the original ones; resumes from
    ``checkpoint``. ``modules`` (the network's, on ``device``) are frozen meanwhile: only the
    basis learns. The result is on the CPU."""
    frozen = [(p, p.requires_grad) for m in modules or [] for p in m.parameters()]
    for p, _ in frozen:
        p.requires_grad_(False)
    try:
        return _run(basis, maps, tail, tune, checkpoint, progress, torch.device(device))
    finally:
        for p, was in frozen:
            p.requires_grad_(was)


def _run(basis: Basis, maps: torch.Tensor, tail: Tail, tune: Tune, checkpoint: Path,
         progress: bool, device: torch.device) -> Basis:
    targets = targets_of(tail, maps, device)
    gen = torch.Generator().manual_seed(tune.seed)
    basis = basis.to(device)
    params = {k: getattr(basis, k).detach().clone().requires_grad_() for k in KEYS}
    opt = torch.optim.Adam([v for k, v in params.items() if tune.encoder or k.startswith(
        "decoder")], lr=tune.lr)
    state = Resumable(checkpoint, params, opt, gen)
    step = state.restore().get("step", 0)
    bar = tqdm(total=tune.steps, initial=step, desc="basis fine-tune", disable=not progress,
               dynamic_ncols=True)
    while step < tune.steps:
        for g in opt.param_groups:
            g["lr"] = tune.lr * 0.5 * (1 + math.cos(math.pi * step / tune.steps))
        idx = torch.randint(0, len(maps), (min(tune.maps, len(maps)),), generator=gen)
        logp, rel = _logits(params, basis, tail, maps[idx].to(device))
        loss = F.kl_div(logp, targets[idx].to(device), log_target=True, reduction="batchmean")
        loss = loss + tune.mse * rel
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            params["decoder"] /= params["decoder"].norm(dim=1, keepdim=True).clamp_min(1e-12)
        step += 1
        bar.update(1)
        if step % tune.checkpoint_every == 0 or step == tune.steps:
            state.save(step=step)
    bar.close()
    return replace(basis, **{k: v.detach() for k, v in params.items()}).to(torch.device("cpu"))
