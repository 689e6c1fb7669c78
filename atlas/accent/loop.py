"""The feature-accentuation loop, batched over many (unit, seed) pairs at once.

One forward pass per step runs the random views of every pair through the model up to the
target layer. The graph is cut at the regularization layer (its output is replaced by a detached
leaf), so one backward pass through the deep part yields d target / d A_l. From there the
shallow part is traversed once per step for the loss -target + lam * beta * dist(A_l(x),
A_l(x0)); on attribution steps (pixel-gradient masks, and step 0, whose passes balance the
terms) twice instead, once per term, and the two pixel gradients are combined at the canvas
(|d target / d pixels| is then the attribution). The default mask needs no such step: it is
|d target / d A_l| from the deep pass, pasted back onto the canvas through each view's box.
The seed's views only need the shallow part, computed without grad (in bfloat16 where the
hardware does it natively), many at a time (:mod:`atlas.accent.stream`).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from torch.profiler import record_function

from atlas.accent.masks import BoxMaps, count_views, finish_masks
from atlas.accent.objectives import LatentDistance, Target, relative_distance
from atlas.accent.param import Parameterization, noise_params
from atlas.accent.split import split_forward
from atlas.accent.stream import ViewStream
from atlas.config.accent import AccentConfig
from atlas.config.fields import check
from atlas.errors import AtlasError
from atlas.models.hooks import Probe
from atlas.models.runtime import cpu_has_bf16, tune_cuda
from atlas.models.zoo import LoadedModel


@dataclass
class AccentResult:
    """Per pair: images, raw attribution maps and the numbers the atlas reports."""

    images: torch.Tensor  # (N, 3, canvas, canvas) in [0, 1]
    masks: torch.Tensor  # (N, canvas, canvas) attribution (accent.mask), not yet normalized
    seed_activation: torch.Tensor  # (N,) on the un-augmented image at model input size
    final_activation: torch.Tensor
    latent_distance: torch.Tensor  # relative, at the regularization layer
    pixel_rmse: torch.Tensor
    trajectory: torch.Tensor  # (N, steps) target (mean over views) per step
    frames: list[torch.Tensor] = field(default_factory=list)  # each (N, 3, s, s)


def parameterization(cfg: AccentConfig) -> Parameterization:
    return Parameterization(kind=cfg.param, size=cfg.canvas, decay=cfg.decay)


def concat_results(parts: list[AccentResult]) -> AccentResult:
    """One result from the results of consecutive chunks of pairs."""
    if len(parts) == 1:
        return parts[0]
    cat = {f: torch.cat([getattr(p, f) for p in parts]) for f in (
        "images", "masks", "seed_activation", "final_activation", "latent_distance",
        "pixel_rmse", "trajectory")}
    frames = [torch.cat([p.frames[i] for p in parts]) for i in range(len(parts[0].frames))]
    return AccentResult(**cat, frames=frames)


def to_input(x: torch.Tensor, size: int) -> torch.Tensor:
    """Resize canvas images to the model input (antialiased, never nearest)."""
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True,
                         align_corners=False)


@torch.inference_mode()
def measure(model: LoadedModel, images: torch.Tensor, target: Target, reg_layer: str):
    """Target value and regularization-layer activations on un-augmented images."""
    acts = Probe(model, [*target.layers, reg_layer])(to_input(images, model.input_size))
    return target(acts), acts[reg_layer]


def measure_pair(model: LoadedModel, seeds: torch.Tensor, images: torch.Tensor,
                 target: Target, reg_layer: str):
    """:func:`measure` of the seeds and of their accentuations in one pass: nothing in the
    steps reads the seed's numbers, and one pass of 2N images costs less than two of N (at
    batch 1 on the 2-core CPU 14.4 ms against 18.4: ``python -m benchmarks.engine measure``)."""
    both = replace(target, units=target.units.repeat(2))
    value, a = measure(model, torch.cat([seeds, images]), both, reg_layer)
    n = seeds.shape[0]
    return value[:n], value[n:], a[:n], a[n:]


def _part(name: str) -> contextlib.AbstractContextManager:
    """A named span of a step, for ``torch.profiler`` (benchmarks read the share of each);
    nothing while no profiler runs (a span costs a few microseconds, a step has a dozen)."""
    if torch._C._autograd._profiler_enabled():
        return record_function(f"accent.{name}")
    return contextlib.nullcontext()


def _row_norms(grads: list[torch.Tensor | None], n: int) -> torch.Tensor:
    total = torch.zeros(n)
    for g in grads:
        if g is not None:
            total = total + g.detach().reshape(n, -1).float().pow(2).sum(1).cpu()
    return total.sqrt()


def _autocast(on: bool, device: torch.device):
    return (torch.autocast(device.type, dtype=torch.bfloat16) if on
            else contextlib.nullcontext())


def run_loop(model: LoadedModel, params: dict, seeds: torch.Tensor | None, target: Target,
             cfg: AccentConfig, *, reg_layer: str, view_px: int) -> AccentResult:
    """Optimize ``params`` to raise ``target``; regularize toward ``seeds`` unless None.

    ``reg_layer`` and ``view_px`` are what the command resolved (:mod:`atlas.pipeline.resolve`):
    the layer the image is kept close to its seed at, and the side of the views."""
    check(cfg)
    p, dev = parameterization(cfg), model.device
    if dev.type == "cuda":
        tune_cuda()  # every step runs the same shapes
    n = next(iter(params.values())).shape[0]
    lam = cfg.lam if seeds is not None else 0.0
    trainable = p.trainable(params)
    # fused: one kernel per step where torch has it (about half the optimizer's time at batch 1)
    opt = torch.optim.Adam(trainable, lr=cfg.lr, fused=dev.type in ("cpu", "cuda") or None)
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.steps)
             if cfg.schedule == "cosine" else None)
    gen = torch.Generator().manual_seed(cfg.seed)
    noise_gen = gen if dev.type == "cpu" else torch.Generator(dev).manual_seed(cfg.seed)
    reg, reg_probe = LatentDistance(reg_layer), Probe(model, [reg_layer])
    x0 = seeds if seeds is not None else p.decode(params).detach()
    masks = torch.zeros(n, cfg.canvas, cfg.canvas, device=dev)
    seen = torch.zeros(n, cfg.canvas, cfg.canvas)  # how many views covered each pixel
    traj = torch.zeros(n, cfg.steps, device=dev)
    frame_at = set(torch.linspace(0, cfg.steps - 1, cfg.frames).round().long().tolist())
    frames, beta = [], torch.ones(n, device=dev)
    # attribution steps feed the gradient mask; step 0 always takes one (it balances the terms)
    every = cfg.mask_every if cfg.mask == "gradient" else cfg.steps + 1
    amp = _autocast(cfg.amp and dev.type == "cuda", dev)
    ref_amp = _autocast(reference_precision(cfg, dev) == "bfloat16", dev)
    with _part("seed_pass"):
        stream = ViewStream(cfg.augment, cfg.steps, n, view_px, gen, noise_gen,
                            (lambda views: _seed_references(reg_probe, x0, views, reg_layer,
                                                            ref_amp)) if lam > 0 else None)
    layer_maps = BoxMaps(stream.rows, n)
    for step in range(cfg.steps):
        with _part("decode"):
            x = p.decode(params)
        if step in frame_at:
            frames.append(to_input(x.detach(), 128).cpu())
        with _part("seed_pass"):
            now = stream.next()
        views, a0 = now.views, now.reference
        with _part("forward"), amp:
            a, leaf, acts = split_forward(model, views.apply(x), reg_layer, target.layers)
            value = target.objective(acts, cfg.focus if seeds is not None else "all").float()
        traj[:, step] = value.detach()
        with _part("deep_backward"):
            (g_leaf,) = torch.autograd.grad(value.sum(), leaf, allow_unused=True)
        if g_leaf is None:
            raise AtlasError(f"reg_layer {reg_layer!r} must come before the target layer "
                             f"{target.layer!r} in the model")
        if cfg.mask == "layer":
            with _part("layer_mask"):
                layer_maps.add(now.rows, g_leaf.detach().abs().sum(1).float())
        g_reg = None
        if lam > 0:
            with _part("reg_grad"):
                g_reg = reg.grad(a.detach(), a0, n)
        opt.zero_grad(set_to_none=True)
        if step % every == 0:
            with _part("attribution_backward"):
                g_x, beta = _pixel_backward(x, a, g_leaf, g_reg, lam, beta, trainable,
                                            step == 0)
                if cfg.mask == "gradient":
                    masks += g_x.detach().abs().sum(1)
                if cfg.mask == "gradient" and cfg.mask_coverage:
                    count_views(seen, views.boxes(cfg.canvas, cfg.canvas))
        else:
            with _part("shallow_backward"):
                _layer_backward(a, g_leaf, g_reg, lam * beta)
        with _part("optimizer"):
            opt.step()
            if sched is not None:
                sched.step()
    # the count only serves the coverage mean
    layer_maps.paste(masks, seen if cfg.mask_coverage else None,
                     stream.boxes(cfg.canvas, cfg.canvas))
    with torch.no_grad():
        final = p.decode(params)
        seed_act, final_act, a_seed, a_final = measure_pair(model, x0, final, target,
                                                            reg_layer)
        rmse = (final - x0).pow(2).flatten(1).mean(1).sqrt()
        dist = relative_distance(a_final, a_seed)
        change = (final - x0).abs().sum(1)
        masks = finish_masks(masks, seen, change, cfg, acts[target.layer])
    return AccentResult(final.cpu(), masks.cpu(), seed_act.cpu(), final_act.cpu(),
                        dist.cpu(), rmse.cpu(), traj.cpu(), frames)


def _seed_references(probe: Probe, x0: torch.Tensor, views: list, layer: str,
                     amp) -> list[torch.Tensor]:
    """The seed's activations at the regularization layer on several steps' views (same
    crops as the image, other noise: :class:`~atlas.accent.views.NoiseBank`), in one pass."""
    with torch.inference_mode(), amp:
        batch = torch.cat([v.apply(x0, v.seed_noise) for v in views])
        return list(probe(batch)[layer].chunk(len(views)))


def _pixel_backward(x: torch.Tensor, a: torch.Tensor, g_leaf: torch.Tensor,
                    g_reg: torch.Tensor | None, lam: float, beta: torch.Tensor,
                    trainable: list, first: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """An attribution step: the two terms go back to the canvas in two shallow passes and are
    combined there, so the first is the attribution (returned) and the pair's weight
    ``lam * beta`` applies per canvas row. On the first step beta balances the terms by their
    parameter-gradient norms. Returns the attribution and beta."""
    n = x.shape[0]
    (g_x,) = torch.autograd.grad(a, x, g_leaf, retain_graph=g_reg is not None)
    g_total = -g_x
    if g_reg is not None:
        (g_xr,) = torch.autograd.grad(a, x, g_reg)
        if first:
            gt = torch.autograd.grad(x, trainable, g_x, retain_graph=True)
            gr = torch.autograd.grad(x, trainable, g_xr)
            beta = (_row_norms(gt, n) / _row_norms(gr, n).clamp_min(1e-12)).to(beta.device)
            # the parameters' gradient from the two terms' (the decode is linear in its
            # output gradient): no third pass back through the decode
            for p, t, r in zip(trainable, gt, gr, strict=True):
                w = (lam * beta).view(-1, *[1] * (t.dim() - 1)).to(t)
                p.grad = r * w - t
            return g_x, beta
        g_total = g_total + (lam * beta).view(-1, 1, 1, 1).to(g_xr) * g_xr
    x.backward(g_total)
    return g_x, beta


def _layer_backward(a: torch.Tensor, g_leaf: torch.Tensor, g_reg: torch.Tensor | None,
                    weight: torch.Tensor) -> None:
    """Other steps: both terms combine at the regularization layer (one deep pass less);
    ``weight`` (lam * beta, one per pair) repeats over each pair's views."""
    g_a = -g_leaf
    if g_reg is not None:
        w = weight.repeat_interleave(a.shape[0] // weight.shape[0]).to(a.dtype)
        g_a = g_a + w.view(-1, *[1] * (a.dim() - 1)) * g_reg
    a.backward(g_a)


def reference_precision(cfg: AccentConfig, device: torch.device) -> str:
    """Precision of the seed's no-grad reference pass at the regularization layer.

    bfloat16 where it is native (CUDA; CPUs with AVX512-BF16/AMX) and ``amp`` is on: it nearly
    halves the pass's cost (docs/benchmarks.md), and its relative error (~1e-2) is
    far below the distances the regularizer works at (~0.4). Gradients and the reported
    numbers stay float32 on CPU.
    """
    native = device.type == "cuda" or (device.type == "cpu" and cpu_has_bf16())
    return "bfloat16" if cfg.amp and native else "float32"


def accentuate(model: LoadedModel, seeds: torch.Tensor, target: Target, cfg: AccentConfig,
               *, reg_layer: str, view_px: int) -> AccentResult:
    """Accentuate ``seeds`` (N, 3, canvas, canvas) in [0, 1], starting exactly at them."""
    p = parameterization(cfg)
    seeds = to_input(seeds, cfg.canvas).to(model.device)
    return run_loop(model, p.encode(seeds), seeds, target, cfg, reg_layer=reg_layer,
                    view_px=view_px)


def visualize(model: LoadedModel, target: Target, cfg: AccentConfig, *, reg_layer: str,
              view_px: int) -> AccentResult:
    """Noise-seeded feature visualization of the same targets (no regularizer), for contrast."""
    n = target.units.shape[0]
    params = noise_params(parameterization(cfg), n, seed=cfg.seed)
    params = {k: v.detach().to(model.device).requires_grad_(v.requires_grad)
              for k, v in params.items()}
    return run_loop(model, params, None, target, cfg, reg_layer=reg_layer, view_px=view_px)


