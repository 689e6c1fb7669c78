"""Validation of one target layer: accentuate and visualize its units, then compare.

Per unit: its ``naturals`` top images N, accentuations A of the first ``seeds`` of them,
as many noise-seeded visualizations V, and ``randoms`` other photos R. Gain and closeness come
from the accentuation itself; pathway similarity from attribution vectors of N, A, V and R.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace

import numpy as np
import torch

from atlas.accent.loop import (
    AccentResult,
    accentuate,
    to_input,
    visualize,
)
from atlas.accent.objectives import Target, relative_distance
from atlas.config.accent import AccentConfig
from atlas.config.resolved import Resolved
from atlas.config.validate import ValidateConfig
from atlas.data.loader import load_images
from atlas.data.sources import ImageSource
from atlas.evaluation.data import UnitImages
from atlas.evaluation.pathway import attributions, summarize, unit_summary
from atlas.evaluation.shortcut import shortcut_result, stream_layers
from atlas.models.hooks import Probe
from atlas.models.zoo import LoadedModel
from atlas.pipeline.results import (
    Claims,
    Closeness,
    Distribution,
    LayerResult,
    PathwayStats,
    Shortcut,
    UnitRow,
)

CLAIM_MARGIN, CLAIM_GAP = 0.02, 0.2  # the thresholds, reported, never tuned toward


def batched_accents(model: LoadedModel, seeds: torch.Tensor | None, layer: str,
                    units: torch.Tensor, accent: AccentConfig,
                    resolved: Resolved) -> Iterator[AccentResult]:
    """Accentuate (or, with ``seeds`` None, visualize from noise) in batches of the resolved
    size. Each visualization batch gets its own noise seed, so two visualizations of one unit
    never start from the same noise."""
    bs = resolved.accent_batch
    run = {"reg_layer": resolved.reg_layer, "view_px": resolved.view_px}
    for i in range(0, units.shape[0], bs):
        target = Target(layer, units[i:i + bs], kind=accent.target)
        if seeds is None:
            yield visualize(model, target, replace(accent, seed=accent.seed + 7919 * (i + 1),
                                                   frames=0), **run)
        else:
            yield accentuate(model, seeds[i:i + bs], target, replace(accent, frames=0), **run)


def _cat(results: list[AccentResult], name: str) -> torch.Tensor:
    return torch.cat([getattr(r, name) for r in results])


@torch.no_grad()
def _reg_acts(model: LoadedModel, images: torch.Tensor, layer: str) -> torch.Tensor:
    probe = Probe(model, [layer])
    return torch.cat([probe(to_input(images[i:i + 32], model.input_size).to(model.device))[layer]
                      .float().cpu() for i in range(0, images.shape[0], 32)])


def claims(all_: PathwayStats) -> Claims:
    """The issue's two expectations, evaluated on the means over units (layer-averaged)."""
    an, nn_, vn = (all_.accent_natural.mean, all_.natural_natural.mean, all_.vis_natural.mean)
    return Claims(accent_ge_natural=bool(an >= nn_ - CLAIM_MARGIN),
                  accent_beats_vis=bool(an - vn >= CLAIM_GAP), margin=CLAIM_MARGIN, gap=CLAIM_GAP)


def layer_results(model: LoadedModel, source: ImageSource, ui: UnitImages,
                  attr_layers: list[str], cfg: ValidateConfig, resolved: Resolved,
                  say: Callable[[str], None]) -> LayerResult:
    """Everything validate reports for one layer (see the module docstring)."""
    k, s, acc_cfg = cfg.naturals, cfg.seeds, cfg.accent
    imgs = load_images(source, [p for t in ui.top + ui.random for p in t], acc_cfg.canvas)
    missing = [p for t in ui.top + ui.random for p in t if p not in imgs]
    if missing:
        raise RuntimeError(f"images at positions {missing[:5]} failed to decode")
    units = torch.tensor([u for u in ui.units for _ in range(s)])
    seeds = torch.stack([imgs[t[j]] for t in ui.top for j in range(s)])
    say(f"accentuating {len(units)} (unit, seed) pairs, {acc_cfg.steps} steps")
    acc = list(batched_accents(model, seeds, ui.layer, units, acc_cfg, resolved))
    say(f"visualizing {len(units)} from noise")
    vis = list(batched_accents(model, None, ui.layer, units, acc_cfg, resolved))
    acc_img, vis_img = _cat(acc, "images"), _cat(vis, "images")
    seed_act, acc_act = _cat(acc, "seed_activation"), _cat(acc, "final_activation")
    vis_act = _cat(vis, "final_activation")
    reg = resolved.reg_layer
    vis_dist = relative_distance(_reg_acts(model, vis_img, reg), _reg_acts(model, seeds, reg))

    say(f"attribution vectors at {', '.join(attr_layers)}")
    blocks, owner = [], []  # per unit: naturals, accents, vis, randoms
    for j, u in enumerate(ui.units):
        rows = [imgs[p] for p in ui.top[j][:k]] + list(acc_img[j * s:(j + 1) * s])
        rows += list(vis_img[j * s:(j + 1) * s]) + [imgs[p] for p in ui.random[j]]
        blocks += rows
        owner += [u] * len(rows)
    vec = attributions(model, torch.stack(blocks), torch.tensor(owner), ui.layer, attr_layers)
    per_unit: list[UnitRow] = []
    vectors, n = [], k + 2 * s + cfg.randoms
    cuts = {"natural": (0, k), "accent": (k, k + s), "vis": (k + s, k + 2 * s),
            "random": (k + 2 * s, n)}
    for j, u in enumerate(ui.units):
        v = {kind: {a: vec[a][j * n + lo:j * n + hi].numpy() for a in attr_layers}
             for kind, (lo, hi) in cuts.items()}
        vectors.append(v)
        sl = slice(j * s, (j + 1) * s)
        per_unit.append(UnitRow(unit=int(u), correlations=unit_summary(v, attr_layers),
                                gain=float((acc_act[sl] / seed_act[sl]).mean()),
                                latent_distance=float(_cat(acc, "latent_distance")[sl].mean())))
    pathway = summarize([p.correlations for p in per_unit], attr_layers, cfg.bootstrap,
                        cfg.seed)
    shortcut = _shortcut(model, ui, attr_layers, vectors, per_unit, cfg)
    closeness = Closeness(
        seed_activation=Distribution.of(seed_act.tolist()),
        accent_activation=Distribution.of(acc_act.tolist()),
        vis_activation=Distribution.of(vis_act.tolist()),
        accent_gain=Distribution.of((acc_act / seed_act).tolist()),
        vis_gain=Distribution.of((vis_act / seed_act).tolist()),
        accent_distance=Distribution.of(_cat(acc, "latent_distance").tolist()),
        vis_distance=Distribution.of(vis_dist.tolist()),
        accent_pixel_rmse=Distribution.of(_cat(acc, "pixel_rmse").tolist()),
        reg_layer=reg,
    )
    return LayerResult(units=[int(u) for u in ui.units], attr_layers=list(attr_layers),
                       closeness=closeness, pathway=pathway, shortcut=shortcut,
                       per_unit=per_unit, claims=claims(pathway["all"]))


def _shortcut(model: LoadedModel, ui: UnitImages, attr_layers: list[str],
              vectors: list[dict[str, dict[str, np.ndarray]]], per_unit: list[UnitRow],
              cfg: ValidateConfig) -> Shortcut:
    """The shortcut-removed variant (atlas.evaluation.shortcut); adds each unit's correlations
    to ``per_unit`` as ``correlations_no_shortcut``."""
    stream = stream_layers(model, ui.layer, attr_layers)
    section, rows = shortcut_result(ui.units, vectors, attr_layers, stream, cfg.bootstrap,
                                    cfg.seed)
    if rows is not None and section.pathway is not None:
        section.claims = claims(section.pathway["all"])
    for p, r in zip(per_unit, rows or [], strict=False):
        p.correlations_no_shortcut = r
    return section
