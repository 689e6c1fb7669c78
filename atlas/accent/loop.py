"""The feature-accentuation loop, batched over many (unit, seed) pairs at once.

One forward pass per step runs the random views of every pair through the model up to the
target layer. The graph is cut at the regularization layer (its output is replaced by a detached
leaf), so one backward pass through the deep part yields d target / d A_l. From there the
shallow part is traversed once per step for the loss -target + lam * beta * dist(A_l(x),
A_l(x0)); on attribution steps twice instead, once per term, and the two pixel gradients are
combined at the canvas (|d target / d pixels| is the attribution). The seed's views only need
the shallow part, computed without grad (in bfloat16 where the hardware does it natively).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F

from atlas.accent.objectives import FOCUS, TARGETS, LatentDistance, Target, relative_distance
from atlas.accent.param import Parameterization, noise_params
from atlas.accent.split import split_forward
from atlas.accent.views import AugmentConfig, NoiseBank, draw_views
from atlas.config.checks import check_choice, check_float, check_int
from atlas.config.reglayer import reg_layer_for
from atlas.errors import AtlasError
from atlas.models.hooks import Probe
from atlas.models.runtime import cpu_has_bf16
from atlas.models.zoo import LoadedModel


@dataclass
class AccentConfig:
    """Settings of one accentuation; defaults chosen by what a person sees: the quality
    benchmark (tests/bench_quality.py) and its curve over these levers in the README."""

    steps: int = 30
    lr: float = 0.15
    lam: float = 0.3
    canvas: int = 224
    view_scale: float = 0.715  # side of the random views / the model's input size (224 ->
    #                             160 px): half the cost, and coarser edits that survive a
    #                             blur; models that take one input size only get that size
    param: str = "fourier"
    decay: float = 1.5  # spectrum 1/f^decay (RMS-normalized): 1.5 keeps the change smooth
    reg_layer: str = ""  # "": the model's stage at half the depth before the target
    #                      (the rule and its choices: atlas.config.reglayer)
    target: str = "mean"
    focus: str = "active"  # raise the unit where it fires (see Target.objective); or "all"
    schedule: str = "cosine"
    batch_size: int = 0  # (unit, seed) pairs optimized together; 0: auto (see auto_batch)
    frames: int = 0  # snapshots for the seed-to-accentuation animation
    amp: bool = True  # bfloat16 autocast: on CUDA the whole model; on CPUs with native bf16
    #                   only the seed's no-grad reference pass (see reference_precision)
    mask_every: int = 3  # attribution every k-th step: each costs a backward pass through the
    #                      shallow part; k=3 keeps floor/actual >= 0.6 on CPU (README)
    mask_coverage: bool = True  # average the attribution over the views that saw a pixel
    mask_smooth: float = 1.0  # Gaussian sigma of the mask, in cells of the target layer's grid
    #                           (0: raw per-pixel |gradient|, which reads as grain)
    seed: int = 0
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def validate(self) -> None:
        check_int("accent.steps", self.steps, 1, 100_000)
        check_float("accent.lr", self.lr, 0.0, 10.0, open_lo=True)
        check_float("accent.lam", self.lam, 0.0, 1e6)
        check_int("accent.canvas", self.canvas, 16, 4096)
        check_float("accent.view_scale", self.view_scale, 0.1, 4.0)
        check_choice("accent.param", self.param, ["fourier", "maco", "pixel"])
        check_float("accent.decay", self.decay, 0.0, 4.0)
        check_choice("accent.target", self.target, TARGETS)
        check_choice("accent.focus", self.focus, FOCUS)
        check_choice("accent.schedule", self.schedule, ["constant", "cosine"])
        check_int("accent.batch_size", self.batch_size, 0, 4096)
        check_int("accent.frames", self.frames, 0, 256)
        check_int("accent.mask_every", self.mask_every, 1, 100_000)
        check_float("accent.mask_smooth", self.mask_smooth, 0.0, 16.0)
        self.augment.validate()

    def parameterization(self) -> Parameterization:
        return Parameterization(kind=self.param, size=self.canvas, decay=self.decay)


@dataclass
class AccentResult:
    """Per pair: images, raw attribution maps and the numbers the atlas reports."""

    images: torch.Tensor  # (N, 3, canvas, canvas) in [0, 1]
    masks: torch.Tensor  # (N, canvas, canvas) accumulated |d target / d pixels|
    seed_activation: torch.Tensor  # (N,) on the un-augmented image at model input size
    final_activation: torch.Tensor
    latent_distance: torch.Tensor  # relative, at the regularization layer
    pixel_rmse: torch.Tensor
    trajectory: torch.Tensor  # (N, steps) target (mean over views) per step
    frames: list[torch.Tensor] = field(default_factory=list)  # each (N, 3, s, s)


def auto_batch(batch_size: int, device: torch.device) -> int:
    """Pairs per optimization batch for ``batch_size=0``. On the reference CPU the cost per
    accentuation is flat in the batch while memory grows with it (README, "Speed against the
    floor"), so CPUs get 1, which also makes every pair its own resume point; a GPU needs
    large batches to be busy (64)."""
    if batch_size > 0:
        return batch_size
    return 64 if device.type == "cuda" else 1


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
             cfg: AccentConfig) -> AccentResult:
    """Optimize ``params`` to raise ``target``; regularize toward ``seeds`` unless None."""
    cfg.validate()
    cfg = replace(cfg, reg_layer=reg_layer_for(model, target.layer, cfg.reg_layer))
    p, dev = cfg.parameterization(), model.device
    n = next(iter(params.values())).shape[0]
    lam = cfg.lam if seeds is not None else 0.0
    trainable = p.trainable(params)
    opt = torch.optim.Adam(trainable, lr=cfg.lr)
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.steps)
             if cfg.schedule == "cosine" else None)
    gen = torch.Generator().manual_seed(cfg.seed)
    noise_gen = gen if dev.type == "cpu" else torch.Generator(dev).manual_seed(cfg.seed)
    size = view_side(model, cfg.view_scale)
    bank = NoiseBank(n * cfg.augment.crops, size, cfg.augment.noise, noise_gen)
    reg, reg_probe = LatentDistance(cfg.reg_layer), Probe(model, [cfg.reg_layer])
    start = p.decode(params).detach()
    x0 = seeds if seeds is not None else start
    seed_act, a_seed = measure(model, x0, target, cfg.reg_layer)
    masks = torch.zeros(n, cfg.canvas, cfg.canvas, device=dev)
    seen = torch.zeros(n, cfg.canvas, cfg.canvas)  # how many views covered each pixel
    traj = torch.zeros(n, cfg.steps, device=dev)
    frame_at = set(torch.linspace(0, cfg.steps - 1, cfg.frames).round().long().tolist())
    frames, beta = [], torch.ones(n, device=dev)
    amp = _autocast(cfg.amp and dev.type == "cuda", dev)
    ref_amp = _autocast(reference_precision(cfg, dev) == "bfloat16", dev)
    for step in range(cfg.steps):
        x = p.decode(params)
        if step in frame_at:
            frames.append(to_input(x.detach(), 128).cpu())
        views = draw_views(cfg.augment, n, size, gen, bank)
        if lam > 0:  # before the graph exists: its temporaries then reuse freed memory
            with torch.inference_mode(), ref_amp:  # same crops, other noise (NoiseBank)
                a0 = reg_probe(views.apply(x0, views.seed_noise))[cfg.reg_layer].float()
        with amp:
            a, leaf, acts = split_forward(model, views.apply(x), cfg.reg_layer, target.layers)
            value = target.objective(acts, cfg.focus if seeds is not None else "all").float()
        traj[:, step] = value.detach()
        (g_leaf,) = torch.autograd.grad(value.sum(), leaf, allow_unused=True)
        if g_leaf is None:
            raise AtlasError(f"reg_layer {cfg.reg_layer!r} must come before the target layer "
                             f"{target.layer!r} in the model")
        g_reg = None
        if lam > 0:
            dist = reg(a.float(), a0, n)
            (g_reg,) = torch.autograd.grad(dist.sum(), a, retain_graph=True)
        opt.zero_grad(set_to_none=True)
        if step % cfg.mask_every == 0:
            g_x, beta = _pixel_backward(x, a, g_leaf, g_reg, lam, beta, trainable, step == 0)
            masks += g_x.detach().abs().sum(1)
            if cfg.mask_coverage:
                _count_views(seen, views.boxes(cfg.canvas, cfg.canvas))
        else:
            _layer_backward(a, g_leaf, g_reg, lam * beta)
        opt.step()
        if sched is not None:
            sched.step()
    with torch.no_grad():
        final = p.decode(params)
        final_act, a_final = measure(model, final, target, cfg.reg_layer)
        rmse = (final - x0).pow(2).flatten(1).mean(1).sqrt()
        dist = relative_distance(a_final, a_seed)
        masks = _finish_masks(masks, seen, cfg, acts[target.layer])
    return AccentResult(final.cpu(), masks.cpu(), seed_act.cpu(), final_act.cpu(),
                        dist.cpu(), rmse.cpu(), traj.cpu(), frames)


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
            gr = torch.autograd.grad(x, trainable, g_xr, retain_graph=True)
            beta = (_row_norms(gt, n) / _row_norms(gr, n).clamp_min(1e-12)).to(beta.device)
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


def _finish_masks(masks: torch.Tensor, seen: torch.Tensor, cfg: AccentConfig,
                  last: torch.Tensor) -> torch.Tensor:
    """Summed attributions -> the mask: averaged over the views that saw each pixel, then
    smoothed by one cell of the target layer's grid (``last``: its output on the last views)."""
    if cfg.mask_coverage:
        masks = coverage_mean(masks, seen.to(masks))
    if cfg.mask_smooth > 0:
        masks = gaussian_blur(masks, cfg.mask_smooth * cfg.canvas / grid_width(last))
    return masks


_VIEW_OK: dict[tuple[int, int], bool] = {}


def view_side(model: LoadedModel, scale: float) -> int:
    """Side of the views fed to the model: ``scale`` times its input size, unless the model
    refuses that size (a ViT with fixed position embeddings): then its own input size. The
    answer is cached per model and size (one batch-1 forward pass to find out)."""
    side = max(16, round(model.input_size * scale))
    if side == model.input_size:
        return side
    key = (id(model.module), side)
    if key not in _VIEW_OK:
        try:
            with torch.inference_mode():
                model.module(model.normalize(torch.zeros(1, 3, side, side, device=model.device)))
            _VIEW_OK[key] = True
        except Exception:  # any refusal of the size: shape assertions, reshape errors
            _VIEW_OK[key] = False
    return side if _VIEW_OK[key] else model.input_size


def _count_views(seen: torch.Tensor, boxes: list[tuple[int, int, int, int]]) -> None:
    """Add 1 to every canvas pixel inside each view's box (image i owns boxes i*T..i*T+T-1).

    Random crops inside the canvas cover its centre more often than its border, so a summed
    gradient map is brighter in the middle whatever the unit: a vignette on every mask.
    Dividing by this count turns the sum into a mean over the views that saw the pixel.
    """
    t = len(boxes) // seen.shape[0]
    for k, (top, left, bottom, right) in enumerate(boxes):
        seen[k // t, top:bottom, left:right] += 1


def coverage_mean(sums: torch.Tensor, seen: torch.Tensor, prior: float = 0.5) -> torch.Tensor:
    """Per-pixel mean attribution over the views that saw each pixel, shrunk toward the
    image's overall mean where few views did.

    Corner pixels are inside a random crop only when the crop nearly fills the canvas, so a
    plain mean there rests on a handful of samples and lit up corners at random. Adding
    ``prior`` times the average count of pseudo-samples at the image's mean keeps well-seen
    pixels at their own mean and pulls rarely seen ones toward the image's typical value.
    """
    c = prior * seen.mean((1, 2), keepdim=True)
    mu = sums.sum((1, 2), keepdim=True) / seen.sum((1, 2), keepdim=True).clamp_min(1e-12)
    return (sums + c * mu) / (seen + c).clamp_min(1e-12)


def grid_width(a: torch.Tensor) -> int:
    """Width of a layer's spatial grid: W of a (B, C, H, W) map, sqrt of a token count."""
    return a.shape[-1] if a.dim() == 4 else max(1, round(a.shape[1] ** 0.5))


def gaussian_blur(maps: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (N, H, W) maps, reflect-padded, sigma in pixels.

    An attribution map is per-pixel |gradient|: it peaks on edges and fine texture inside the
    region the unit reads, so at page size it looks like grain. The unit itself only sees the
    image at the resolution of its layer's grid; blurring at that scale shows that region.
    """
    r = min(int(3 * sigma + 0.5), min(maps.shape[-2:]) - 1)
    if r < 1:
        return maps
    t = torch.arange(-r, r + 1, dtype=maps.dtype, device=maps.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    x = F.pad(maps[:, None], (r, r, r, r), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1))
    return F.conv2d(x, k.view(1, 1, -1, 1))[:, 0]


def reference_precision(cfg: AccentConfig, device: torch.device) -> str:
    """Precision of the seed's no-grad reference pass at the regularization layer.

    bfloat16 where it is native (CUDA; CPUs with AVX512-BF16/AMX) and ``amp`` is on: it nearly
    halves the pass's cost (README, "Seed reference pass"), and its relative error (~1e-2) is
    far below the distances the regularizer works at (~0.4). Gradients and the reported
    numbers stay float32 on CPU.
    """
    native = device.type == "cuda" or (device.type == "cpu" and cpu_has_bf16())
    return "bfloat16" if cfg.amp and native else "float32"


def accentuate(model: LoadedModel, seeds: torch.Tensor, target: Target,
               cfg: AccentConfig) -> AccentResult:
    """Accentuate ``seeds`` (N, 3, canvas, canvas) in [0, 1], starting exactly at them."""
    p = cfg.parameterization()
    seeds = to_input(seeds, cfg.canvas).to(model.device)
    return run_loop(model, p.encode(seeds), seeds, target, cfg)


def visualize(model: LoadedModel, target: Target, cfg: AccentConfig) -> AccentResult:
    """Noise-seeded feature visualization of the same targets (no regularizer), for contrast."""
    n = target.units.shape[0]
    params = noise_params(cfg.parameterization(), n, seed=cfg.seed)
    params = {k: v.detach().to(model.device).requires_grad_(v.requires_grad)
              for k, v in params.items()}
    return run_loop(model, params, None, target, cfg)


def normalize_masks(masks: torch.Tensor, q: float = 0.995, floor: float = 0.5) -> torch.Tensor:
    """Map a set of masks to [0, 1]: each from its own ``floor`` quantile (0), all by one
    shared scale (the set's ``q`` quantile above those floors), so relative relevance across
    the images shown together stays visible.

    Averaged over the views that saw each pixel and smoothed, an attribution map has little
    dynamic range: scaled from 0 it made an overlay that showed nearly the whole image. A
    floor shared by the set made the weaker images' masks black; each image's own median
    shows where in it the unit looked, and the shared scale how strongly.
    """
    lo = torch.tensor([_quantile(m, floor) for m in masks], dtype=masks.dtype,
                      device=masks.device).view(-1, *[1] * (masks.dim() - 1))
    above = masks - lo
    hi = _quantile(above, q)
    return (above / max(hi, 1e-12)).clamp(0, 1)


def _quantile(x: torch.Tensor, q: float) -> float:
    """``q`` quantile of a tensor's values (a fixed random subset above a million values)."""
    flat = x.flatten().float()
    if flat.numel() > 1_000_000:
        flat = flat[torch.randperm(flat.numel(), generator=torch.Generator().manual_seed(0))
                    [:1_000_000]]
    return float(torch.quantile(flat, q))
