"""Which attribution mask points where the unit fires: candidates scored by one instrument.

X
    python -m benchmarks.masks --per-layer 4 --sheet test-output
    python -m benchmarks.masks --run runs/demo        # a build's own masks, as the site shows

Each pair is accentuated once at the default settings with an attribution at every step
(recorded per step; attribution steps do not change the optimization), and every candidate
mask is made from that one run:

- ``gradient``: |d target / d pixels| averaged over the views of every 3rd step (the loop's
  ``mask_every``); ``every step``, ``2nd half /3`` (every 3rd step of the second half),
  ``last 3``: other subsets of steps; ``final 8 views``: on the finished image only;
- ``change``: |accentuation - seed|, summed over colour channels;
- ``change*gradient``: the two multiplied;
- ``ig+`` / ``|ig|``: integrated gradients of the unit's mean along seed -> accentuation
  (:func:`integrated_gradients`), channel-summed, positive part / absolute;
- ``ig-grey+``: the same along grey (the model's zero input) -> accentuation;
- ``grad*input+``: (accentuation - grey) times d target / d pixels at the accentuation;

each smoothed by one cell of the target layer's grid (``s2``: two cells) and normalized by
:func:`atlas.accent.masks.normalize_masks`. The instrument is ``benchmarks.quality``'s: the mask,
written as the site writes it (WebP) and read back, average-pooled to the layer's grid, rank
correlated (Spearman) with the unit's activation map on the accentuation in the *reference*
``efficientnet-lite-pytorch`` model. Printed: median, q25 and q10 over pairs per candidate.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from atlas.accent import loop
from atlas.accent.loop import accentuate, to_input
from atlas.accent.masks import count_views as count_views_orig
from atlas.accent.masks import coverage_mean, gaussian_blur, normalize_masks
from atlas.accent.objectives import Target
from atlas.accent.views import draw_views
from atlas.config.accent import AccentConfig
from atlas.data.media import overlay, save_webp, sheet, to_pil
from atlas.models.hooks import Probe
from atlas.models.maps import grid_width
from atlas.models.probe import view_side
from atlas.models.runtime import tune_allocator
from atlas.models.zoo import load_model
from benchmarks.quality import (
    REG,
    Scorer,
    parse_set,
    pil_tensor,
    spearman,
    top_pairs,
    with_overrides,
)


def gradient_at(model, images: torch.Tensor, target: Target, size: int) -> torch.Tensor:
    """d target / d pixels at ``images`` (seen whole at ``size`` px), (N, 3, H, W)."""
    x = images.detach().clone().requires_grad_(True)
    v = target(Probe(model, target.layers)(F.interpolate(x, size=(size, size), mode="bilinear",
                                                          antialias=True, align_corners=False)))
    (g,) = torch.autograd.grad(v.sum(), x)
    return g


def integrated_gradients(model, seeds: torch.Tensor, images: torch.Tensor, target,
                         size: int, steps: int = 8) -> torch.Tensor:
    """Integrated gradients of each pair's target along the straight path seed -> image,
    (N, 3, H, W): (image - seed) times the target's gradient averaged over ``steps`` midpoints
    of the path, the images seen whole at ``size`` px. Its sum is the change of the target
    (completeness), so each pixel's share says how much its change raised the unit."""
    n = seeds.shape[0]
    alphas = (torch.arange(steps, device=seeds.device, dtype=seeds.dtype) + 0.5) / steps
    delta = (images - seeds).detach()
    path = (seeds[:, None] + alphas.view(1, -1, 1, 1, 1) * delta[:, None]).flatten(0, 1)
    path.requires_grad_(True)
    x = F.interpolate(path, size=(size, size), mode="bilinear", antialias=True,
                      align_corners=False) if path.shape[-1] != size else path
    value = target(Probe(model, target.layers)(x))  # rows i*steps..: pair i's path points
    (g,) = torch.autograd.grad(value.sum(), path)
    return delta * g.view(n, steps, *g.shape[1:]).sum(1)


class Recorder:
    """Per attribution step of the loop: |d target / d pixels| summed over colours, and the
    count of views that covered each pixel (wraps the loop's own functions)."""

    def __init__(self) -> None:
        self.grads: list[torch.Tensor] = []
        self.totals: list[torch.Tensor] = []
        self.seen: list[torch.Tensor] = []
        self._pixel, self._count = loop._pixel_backward, loop.count_views

    def __enter__(self) -> Recorder:
        def pixel(x, a, g_leaf, g_reg, lam, beta, trainable, first):
            # the loop's _pixel_backward, also keeping the combined gradient at the canvas
            # (what every step's single shallow pass computes on its way to the parameters)
            (g_x,) = torch.autograd.grad(a, x, g_leaf, retain_graph=True)
            (g_xr,) = torch.autograd.grad(a, x, g_reg, retain_graph=True)
            if first:
                beta = self._pixel(x, a, g_leaf, g_reg, lam, beta, trainable, first)[1]
            total = -g_x + (lam * beta).view(-1, 1, 1, 1).to(g_xr) * g_xr
            if not first:
                x.backward(total)
            self.grads.append(g_x.detach().abs().sum(1)[0].clone())
            self.totals.append(total.detach().abs().sum(1)[0].clone())
            return g_x, beta

        def count(seen, boxes):
            one = torch.zeros_like(seen)
            self._count(one, boxes)
            self.seen.append(one[0])
            seen += one

        loop._pixel_backward, loop.count_views = pixel, count
        return self

    def __exit__(self, *exc) -> None:
        loop._pixel_backward, loop.count_views = self._pixel, self._count

    def mean(self, steps, total: bool = False) -> torch.Tensor:
        """The loop's gradient mask (view-coverage mean) from the attribution ``steps`` only;
        ``total``: of the combined (target and regularizer) gradient at the canvas instead."""
        grads = self.totals if total else self.grads
        return coverage_mean(sum(grads[i] for i in steps)[None],
                             sum(self.seen[i] for i in steps)[None])[0]


def final_gradient(model, img: torch.Tensor, target: Target, cfg: AccentConfig, size: int,
                   views: int) -> torch.Tensor:
    """|d target / d pixels| of the loop's objective (active focus) on the finished image,
    averaged over ``views`` random views: attribution of the accentuation itself."""
    x = img[None].detach().clone().requires_grad_(True)
    aug = replace(cfg.augment, crops=views)
    v = draw_views(aug, 1, size, torch.Generator().manual_seed(1))
    acts = Probe(model, target.layers)(v.apply(x))
    (g,) = torch.autograd.grad(target.objective(acts, cfg.focus).sum(), x)
    seen = torch.zeros(1, *img.shape[-2:])
    count_views_orig(seen, v.boxes(*img.shape[-2:]))
    return coverage_mean(g.abs().sum(1), seen)[0]


def candidates(model, seed: torch.Tensor, res, rec: Recorder, unit: int, layer: str,
               cfg: AccentConfig, ig_steps: int, full: bool) -> dict[str, torch.Tensor]:
    """Every candidate's raw (unnormalized, smoothed) mask for one pair, (H, W) each."""
    img = res.images[0]
    steps = len(rec.grads)
    grad = rec.mean(range(0, steps, 3))  # the loop's default: every 3rd step
    change = (img - seed).abs().sum(0)
    target = Target(layer, torch.tensor([unit]))
    size = view_side(model, cfg.view_scale)

    def ig_fn():
        return integrated_gradients(model, seed[None], img[None], target, size,
                                    ig_steps)[0].sum(0)

    with torch.inference_mode():
        width = grid_width(Probe(model, [layer])(to_input(img[None], size))[layer])
    sigma = cfg.canvas / width
    smooth = {"s0.5": 0.5 * sigma, "s0.25": 0.25 * sigma, "s1": sigma}
    raw = {"gradient": grad, "change": change, "change*gradient": change * grad,
           "first half /3 gradient": rec.mean(range(0, steps // 2, 3)),
           "every 2nd gradient": rec.mean(range(0, steps, 2)),
           "first 3 gradient": rec.mean(range(3)),
           "total every 3rd": rec.mean(range(0, steps, 3), total=True),
           "total every step": rec.mean(range(steps), total=True)}
    if full:
        raw.update({"ig+": ig_fn().clamp_min(0),
                    "2nd half /3 gradient": rec.mean(range(steps // 2, steps, 3)),
                    "final 8 views gradient": final_gradient(model, img, target, cfg, size, 8)})
    out = {f"{k} s0": v for k, v in raw.items() if k in ("gradient", "change*gradient")}
    for k, v in raw.items():
        for label, sg in smooth.items():
            if label == "s0.5" or k in ("gradient", "change*gradient", "change",
                                         "total every step"):
                out[f"{k} {label}"] = gaussian_blur(v[None], sg)[0]
    return out


def agreement(scorer: Scorer, mask: torch.Tensor, accent: torch.Tensor, layer: str, unit: int,
              tmp: Path) -> float:
    """The instrument: WebP round trip, pooled to the grid, Spearman with the unit's map."""
    path = tmp / "mask.webp"
    save_webp(path, to_pil(mask))
    m = torch.from_numpy(np.asarray(Image.open(path).convert("L"), dtype="float32")) / 255
    amap = scorer.acts(accent[None], [layer])[layer][0, unit]
    return spearman(F.adaptive_avg_pool2d(m[None, None], amap.shape)[0, 0], amap)


def score_run(scorer: Scorer, run: Path) -> None:
    """The instrument on a finished run's own media: every accentuation's mask as the site
    shows it (normalized per unit), against the unit's map on the saved accentuation."""
    import pandas as pd

    acc = pd.read_parquet(run / "accents.parquet")
    scores = []
    for r in acc.itertuples():
        m = torch.from_numpy(np.asarray(Image.open(run / r.mask_media).convert("L"),
                                        dtype="float32")) / 255
        a = pil_tensor(Image.open(run / r.accent_media))
        amap = scorer.acts(a[None], [r.layer])[r.layer][0, r.unit]
        scores.append(spearman(F.adaptive_avg_pool2d(m[None, None], amap.shape)[0, 0], amap))
    q = statistics.quantiles(scores, n=20)
    print(f"{run}: {len(scores)} accentuations of {acc.unit.nunique()} units; mask agreement "
          f"median {statistics.median(scores):.3f}, q25 {q[4]:.3f}, q10 {q[1]:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-layer", type=int, default=16)
    ap.add_argument("--ig-steps", type=int, default=8)
    ap.add_argument("--all", action="store_true",
                    help="also integrated gradients, late and final-image gradients")
    ap.add_argument("--set", action="append", default=[], help="KEY=VALUE accent overrides")
    ap.add_argument("--sheet", default="", help="folder for a contact sheet")
    ap.add_argument("--heat", action="store_true", help="sheet: heat overlays, not grey masks")
    ap.add_argument("--only", default="", help="score only these candidates (comma list)")
    ap.add_argument("--floors", default="0.5",
                    help="normalize_masks floor quantiles to try (comma list; 0.5: the site's)")
    ap.add_argument("--run", default="", help="score a finished run's masks instead")
    args = ap.parse_args()
    if args.run:
        score_run(Scorer(), Path(args.run))
        return
    tune_allocator()
    torch.manual_seed(0)
    model, scorer = load_model("efficientnet-lite0"), Scorer()
    # attribution at every step (recorded per step; it does not change the optimization)
    base = replace(AccentConfig(), reg_layer=REG, mask="gradient", mask_smooth=0.0, mask_every=1)
    cfg = with_overrides(base, parse_set(args.set))
    pairs = top_pairs(model, args.per_layer)
    scores: dict[str, list[float]] = {}
    only = set(args.only.split(",")) if args.only else set()
    floors = [float(f) for f in args.floors.split(",")]
    panels, captions = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for layer, unit, _, seed in pairs:
            with Recorder() as rec:
                res = accentuate(model, seed[None], Target(layer, torch.tensor([unit]),
                                                           kind=cfg.target), cfg,
                                 reg_layer=REG, view_px=view_side(model, cfg.view_scale))
            cands = candidates(model, seed, res, rec, unit, layer, cfg, args.ig_steps,
                               args.all)
            row = []
            for base_name, raw in cands.items():
                for floor in floors:
                    name = base_name if floor == 0.5 else f"{base_name} floor{floor:g}"
                    if only and name not in only:
                        continue
                    mask = normalize_masks(raw[None], floor=floor)[0]
                    s = agreement(scorer, mask, res.images[0], layer, unit, Path(tmp))
                    scores.setdefault(name, []).append(s)
                    row.append((name, mask, s))
            print(f"{layer}:{unit:<4} " + " ".join(f"{n} {s:+.2f}" for n, _, s in row),
                  flush=True)
            if args.sheet and len(captions) < 12 * (len(row) + 3):
                amap = scorer.acts(res.images[:1], [layer])[layer][0, unit]
                amap = F.interpolate(amap[None, None], size=seed.shape[-2:], mode="bilinear")
                panels += [to_pil(seed), to_pil(res.images[0]),
                           to_pil(normalize_masks(amap[0], floor=0.0)[0])]
                captions += [[f"{layer}:{unit} seed"], ["accentuation"],
                             ["unit's map (reference)"]]
                for name, mask, s in row:
                    panels.append(overlay(res.images[0], mask) if args.heat else to_pil(mask))
                    captions.append([f"{name} {s:.2f}"])
    print(f"\n{len(pairs)} pairs; Spearman of mask (pooled to the layer grid) with the unit's "
          "map on the accentuation, reference model")
    print(f"{'candidate':<18} {'median':>7} {'q25':>7} {'q10':>7} {'mean':>7}")
    for name, s in scores.items():
        q = statistics.quantiles(s, n=20)
        print(f"{name:<18} {statistics.median(s):>7.3f} {q[4]:>7.3f} {q[1]:>7.3f} "
              f"{statistics.mean(s):>7.3f}")
    if args.sheet:
        out = Path(args.sheet) / "masks-candidates.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        sheet(panels, captions, columns=len(scores) + 3).save(out)
        print(f"sheet: {out}")


if __name__ == "__main__":
    main()
