"""``atlas validate``: reproduce the paper's three claims on the user's own model.

Hamblin et al. (2024) claim that feature accentuations (1) raise the target while staying close
to the seed, (2) are processed along the model's natural pathway, unlike noise-seeded feature
visualizations, and (3) turn from seed-like to feature-like in a narrow band of λ. Users of an
atlas should not have to take that on trust for *their* model and layer, so this stage measures
all three with the atlas's own accentuation settings and writes ``validation/validation.json``
plus SVG charts. It never tunes anything toward the claims; it reports what the model shows.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from atlas.config.fields import check
from atlas.config.resolved import Resolved
from atlas.config.validate import ValidateConfig
from atlas.data.loader import load_images
from atlas.data.sources import ImageSource
from atlas.errors import AtlasError
from atlas.evaluation.data import natural_pair_distances, unit_images
from atlas.evaluation.layer import layer_results
from atlas.evaluation.summary import load_result, write_result
from atlas.evaluation.sweep import run_sweep
from atlas.io.hashing import stable_hash
from atlas.models.probe import layer_shapes
from atlas.models.zoo import LoadedModel
from atlas.pipeline.results import FORMAT, NaturalPairs, ResultError, ValidationResult
from atlas.pipeline.rundir import RunDir

# Part of the cache key only: bump when what is measured changes, so an older result is not
# returned as current. 2: the shortcut-removed pathway variant (layout only grew: FORMAT 1).
REVISION = 2


def first_target(model: LoadedModel, cfg: ValidateConfig) -> str:
    """The target layer that runs first: the model's rule picks the regularization layer for
    it, so that layer runs before every target (:func:`atlas.pipeline.resolve.resolve`)."""
    return next(iter(layer_shapes(model, cfg.layers)), cfg.layers[0])


def _mined_by(run: RunDir | None, model: LoadedModel) -> RunDir | None:
    """``run`` when its top images (if any) were mined with this model, else None (mine
    again): a run directory of another model must not lend its top images."""
    if run is None:
        return None
    mined = run.manifest().get("fingerprints", {}).get("model")
    return run if mined in (None, model.fingerprint()) else None


def check_layers(model: LoadedModel, cfg: ValidateConfig, reg: str) -> dict[str, list[str]]:
    """Per target layer, the attribution layers that run before it, and the regularization
    layer ``reg`` runs before every target; errors name the order."""
    order = list(layer_shapes(model, [*cfg.layers, *cfg.attr_layers, reg]))
    out = {}
    for layer in cfg.layers:
        below = [a for a in cfg.attr_layers if order.index(a) < order.index(layer)]
        if not below:
            raise AtlasError(f"no attribution layer runs before {layer!r}; give layers below it "
                             f"(got {', '.join(cfg.attr_layers)})")
        if order.index(reg) >= order.index(layer):
            raise AtlasError(f"accent.reg_layer {reg!r} must run before the "
                             f"target layer {layer!r}")
        out[layer] = below
    return out


def _say(progress: bool, msg: str) -> None:
    if progress:
        print(f"validate: {msg}", file=sys.stderr, flush=True)


def _cached(run: RunDir, progress: bool) -> ValidationResult | None:
    """The run's earlier result, or None; one that cannot be read is measured again (and
    replaced), saying why."""
    try:
        return load_result(run)
    except ResultError as e:
        _say(progress, f"{e.detail}; measuring again")
        return None


def validate(run: RunDir | str | Path | None, model: LoadedModel, source: ImageSource,
             cfg: ValidateConfig, resolved: Resolved,
             progress: bool = False) -> ValidationResult:
    """Measure gain/closeness, pathway similarity and the λ sweep; write ``validation/``.

    ``resolved``: what the command resolved for the first target (:func:`first_target`).
    ``run`` None: measure and return only. A run directory with a ``validation.json`` of the
    same model, images and settings is returned as is (a finished part is not recomputed).
    """
    check(cfg)
    check(cfg.accent)
    reg = resolved.reg_layer
    # the settings as run: the accentuation with the layer it was regularized at
    used = {**asdict(cfg), "accent": asdict(replace(cfg.accent, reg_layer=reg))}
    run = RunDir(run) if run is not None and not isinstance(run, RunDir) else run
    key = stable_hash([model.fingerprint(), model.input_size, source.fingerprint(), used,
                       resolved.view_px, FORMAT, REVISION])
    if run is not None:
        old = _cached(run, progress)
        if old is not None and old.key == key:
            return old
    attr = check_layers(model, cfg, reg)
    t0 = time.perf_counter()
    _say(progress, f"natural pair distances at {reg}")
    d = natural_pair_distances(model, source, reg, cfg.natural_pairs, cfg.images, cfg.seed)
    out = ValidationResult(key=key, model=model.name, source=source.key, config=used,
                           natural_pairs=NaturalPairs(layer=reg, distance=d), layers={},
                           sweep=None, seconds={})
    sweep_data, mined = None, _mined_by(run, model)
    for layer in cfg.layers:
        t = time.perf_counter()
        ui = unit_images(model, source, mined, layer, cfg.units, cfg.naturals, cfg.randoms,
                         cfg.images, cfg.seed)
        out.layers[layer] = layer_results(model, source, ui, attr[layer], cfg, resolved,
                                          lambda m, lay=layer: _say(progress, f"{lay}: {m}"))
        out.seconds[layer] = round(time.perf_counter() - t, 1)
        if sweep_data is None:
            sweep_data = ui
    if cfg.sweep_units and sweep_data is not None:
        t = time.perf_counter()
        pick = np.linspace(0, len(sweep_data.units) - 1, cfg.sweep_units).round().astype(int)
        units = [sweep_data.units[i] for i in dict.fromkeys(pick.tolist())]
        tops = [sweep_data.top[sweep_data.units.index(u)][0] for u in units]
        imgs = load_images(source, tops, cfg.accent.canvas)
        _say(progress, f"lambda sweep: {len(units)} units x {len(cfg.lambdas)} lambdas")
        out.sweep = run_sweep(model, torch.stack([imgs[p] for p in tops]), sweep_data.layer,
                              units, cfg.lambdas, cfg.accent, resolved)
        out.seconds["sweep"] = round(time.perf_counter() - t, 1)
    out.seconds["total"] = round(time.perf_counter() - t0, 1)
    if run is not None:
        write_result(run, out)
    return out
