"""The ``basis`` stage: the features of a layer, before mining reads them.

- ``sae``: learns a TopK dictionary over a sample of the layer's position vectors
  (:mod:`~atlas.pipeline.basis.sample`, :mod:`~atlas.pipeline.basis.learn`), tunes it so the
  model's output with the reconstruction spliced in stays close
  (:mod:`~atlas.pipeline.basis.finetune`, ``finetune_steps``), and measures it
  (:mod:`~atlas.pipeline.basis.metrics`; the manifest records the figures). A BatchTopK
  dictionary's threshold is calibrated on a share of the training images it did not learn
  from (:data:`CALIBRATION`), to an L0 a little under ``k``
  (:func:`~atlas.pipeline.basis.learn.calibrated_under`): the dictionary fires less on the
  images it learned from than on new ones, and the held-out images that measure it must not
  choose it (``margin``: how many standard errors under). ``refine`` reads the codes refined
  on their support (:mod:`atlas.models.refine`), in the fine-tune too;
- ``file`` / ``directions``: reads the user's file, checks it fits the layer, copies it in.

Either way the basis lands in ``basis/NAME.json`` + ``.safetensors`` inside the run (the run is
self-contained: a site or a resumed build reads the basis it was mined with), and the table
``basis.parquet`` says what each feature is made of: the channels its decoder row weighs most
and its nearest features. A build that reads channels only writes an empty table. Mining reads
this stage, so a changed basis re-mines.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, replace

import pandas as pd
import torch

from atlas.config.tree import BuildConfig
from atlas.data.base import ImageSource
from atlas.errors import AtlasError
from atlas.models import basis as bases
from atlas.models.basis import Basis
from atlas.models.probe import unit_counts
from atlas.models.tail import tail
from atlas.models.zoo import LoadedModel
from atlas.pipeline import schema
from atlas.pipeline.basis.finetune import Tune, finetune
from atlas.pipeline.basis.learn import Recipe, calibrated_under, learn
from atlas.pipeline.basis.metrics import firing, metrics
from atlas.pipeline.basis.sample import gather
from atlas.pipeline.mine.topk import priority
from atlas.pipeline.stage import Context, Stage

TOP = 8  # channels and nearest features listed per feature
CALIBRATION = 0.1  # share of the training images BatchTopK's threshold is calibrated on


def from_file(cfg: BuildConfig, model: LoadedModel) -> Basis:
    """The configured basis file, checked against the layer it is read at (one line if it does
    not fit): before any long work, so the preflight calls it too."""
    b = cfg.basis
    if not b.file:
        raise AtlasError(f"basis.file must name the basis file for basis.kind {b.kind!r}")
    layer = b.layer or cfg.mine.layers[0]
    basis = bases.load(b.file, name=b.name or b.kind, layer=layer)
    if b.kind == "directions" and basis.kind != "directions":
        raise AtlasError(f"basis.file {b.file!r} holds a dictionary, not directions; use "
                         "basis.kind = \"file\"")
    channels = unit_counts(model, [layer]).get(layer)
    if channels != basis.width:
        raise AtlasError(f"basis.file {b.file!r} has {basis.width} input channels, but layer "
                         f"{layer!r} of {model.name} has {channels}; a basis must be made for "
                         "this layer")
    return basis


def feature_count(cfg: BuildConfig, model: LoadedModel) -> int:
    """How many features the configured basis has (reading and checking its file, if any)."""
    b = cfg.basis
    if b.kind == "sae":
        layer = b.layer or cfg.mine.layers[0]
        return b.features or 8 * unit_counts(model, [layer])[layer]
    return from_file(cfg, model).size


def describe_features(basis: Basis) -> pd.DataFrame:
    """Rows of ``basis.parquet``: per feature its strongest channels and nearest features."""
    dec = basis.decoder.float()
    unit = dec / dec.norm(dim=1, keepdim=True).clamp_min(1e-12)
    top_w, top_c = dec.abs().topk(min(TOP, dec.shape[1]), dim=1)
    sim = unit @ unit.T
    sim.fill_diagonal_(-2.0)
    near_s, near_i = sim.topk(min(TOP, max(dec.shape[0] - 1, 0)), dim=1)
    signed = dec.gather(1, top_c)
    return pd.DataFrame({
        "layer": basis.unit_layer, "unit": range(basis.size),
        "name": list(basis.names) if basis.names else "",
        "channels": [r.tolist() for r in top_c], "weights": [r.tolist() for r in signed],
        "nearest": [r.tolist() for r in near_i], "similarity": [r.tolist() for r in near_s],
    }) if basis.size else schema.empty("basis")


def by_frequency(basis: Basis, x: torch.Tensor) -> Basis:
    """The learned features renumbered by how often they fire on the training positions, most
    often first (ties: the order they were learned in): feature numbers, and a ``units``
    range such as ``0:64``, then mean something rather than an initialization's draw."""
    rate = firing(basis, x)
    order = torch.tensor(sorted(range(basis.size), key=lambda f: (-float(rate[f]), f)))
    moved = {k: getattr(basis, k)[order] for k in ("encoder", "encoder_bias", "decoder")}
    if basis.threshold is not None:
        moved["threshold"] = basis.threshold[order]
    return replace(basis, **moved)


def _settings(ctx: Context) -> list:
    cfg = ctx.cfg.basis
    if not cfg.active:
        return ["channels"]
    model, source, _ = ctx.inputs()
    made = [asdict(cfg), ctx.cfg.basis_layer, model.fingerprint(), model.input_size]
    if cfg.kind == "sae":
        return [*made, source.fingerprint()]
    return [*made, bases.fingerprint(cfg.file)]


def _recipe(ctx: Context, channels: int) -> Recipe:
    b = ctx.cfg.basis
    return Recipe(features=b.features or 8 * channels, k=b.k, steps=b.steps,
                  batch_size=b.batch_size, lr=b.lr, aux_k=b.aux_k, seed=b.seed,
                  batch_topk=b.batch_topk, checkpoint_every=max(1, min(250, b.steps // 8)))


def aside(source: ImageSource, images: list[int], share: float = CALIBRATION) -> set[int]:
    """The training images set aside to calibrate BatchTopK's threshold: the lowest
    priorities (as mining samples), so the choice depends on the images, not their order."""
    if len(images) < 2:
        return set()
    prio = priority([source.records[i].image_id for i in images]).tolist()
    ranked = sorted(zip(prio, images, strict=True))
    return {i for _, i in ranked[:max(1, round(share * len(images)))]}


def _learned(ctx: Context, key: str, model: LoadedModel, source: ImageSource, workers: int,
             layer: str) -> tuple[Basis, dict]:
    """Sample, learn, fine-tune, calibrate and measure a dictionary (see the module note)."""
    run, b = ctx.run, ctx.cfg.basis
    ck = run.root / "checkpoints"
    sample = gather(model, source, layer, b.sample, b.holdout, ctx.cfg.mine.batch_size,
                    workers, ck / f"basis-{key}-sample.pt", ctx.bar, b.views)
    calib = aside(source, sample.train_images) if b.batch_topk else set()
    taken = sample.rows_of(calib)
    x = sample.train[~taken]
    on = sample.train[taken & sample.plain] if calib else sample.as_mined
    recipe = _recipe(ctx, sample.train.shape[1])
    basis = replace(learn(x, recipe, ck / f"basis-{key}-train.pt", ctx.bar,
                          name=b.name or b.kind, layer=layer, calibrate=on), refine=b.refine)
    per, target = sample.grid[0] * sample.grid[1], float(recipe.k)
    if recipe.batch_topk and calib:  # the fine-tune then tunes the code as it will be read
        basis, target = calibrated_under(basis, on, recipe.k, per, b.margin)
    tune = Tune(steps=b.finetune_steps, mse=b.finetune_mse, seed=b.seed,
                checkpoint_every=max(1, min(50, b.finetune_steps // 4)),
                encoder=b.finetune_encoder)
    if tune.steps:
        basis = finetune(basis, sample.maps(x), tail(model, layer), tune,
                         ck / f"basis-{key}-finetune.pt", ctx.bar, modules=[model.module],
                         device=model.device)
        if recipe.batch_topk and calib:  # the tuned pre-activations need their own threshold
            basis, target = calibrated_under(basis, on, recipe.k, per, b.margin)
    basis = by_frequency(basis, sample.train)
    images = sorted(sample.train_images + sample.held_images)
    figures = metrics(model, basis, sample.train, sample.held, source, images,
                      sample.held_images)
    basis = replace(basis, meta={
        "model": model.name, "data": source.fingerprint(), "learned": asdict(recipe),
        "finetuned": asdict(tune),
        "positions": {"train": len(x), "held_out": len(sample.held),
                      "calibration": int((taken & sample.plain).sum())},
        "threshold_l0": round(target, 3) if recipe.batch_topk else None,
        "images": {"train": len(sample.train_images) - len(calib),
                   "held_out": len(sample.held_images), "calibration": len(calib)},
        "metrics": figures})
    return basis, figures


def _compute(ctx: Context, key: str) -> dict:
    run, cfg = ctx.run, ctx.cfg
    folder = run.basis_dir
    shutil.rmtree(folder, ignore_errors=True)  # another basis's files must not be read
    if not cfg.basis.active:
        run.write_table("basis", schema.empty("basis"))
        return {"kind": "channels"}
    model, source, resolved = ctx.inputs()
    b, layer = cfg.basis, cfg.basis.layer or cfg.mine.layers[0]
    info: dict = {"kind": b.kind, "unit_layer": cfg.basis_layer}
    if b.kind == "sae":
        basis, figures = _learned(ctx, key, model, source, resolved.workers, layer)
        info.update(figures, features=basis.size, k=basis.k)
    else:
        basis = from_file(cfg, model)
        info.update(features=basis.size, source=b.file)
    bases.save(basis, folder)
    run.write_table("basis", describe_features(basis))
    return info


BASIS = Stage("basis", inputs=(), outputs=("basis",), settings=_settings, compute=_compute,
              version="2", checkpoints=("basis-*",))
